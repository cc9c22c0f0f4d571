//! `request-reset`: the request form, its submission, the JSON request, and the assets.

use super::incoming::Incoming;
use super::pages::{self, MailSentDetails};
use super::respond::{page_context, Reply};
use super::routes;
use super::{assets, serve, unmatched};
use crate::app::App;
use crate::domain::{Username, UsernameInput};
use crate::error::AppError;
use crate::service::request_reset;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct RequestForm {
    #[serde(default)]
    username: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestJson {
    username: String,
}

pub async fn handle(app: &App, request: Request) -> Result<Response<Body>, std::convert::Infallible> {
    serve(app, request, "request-reset", |app, incoming| async move {
        let result = route(app, &incoming).await;
        (incoming, result)
    })
    .await
}

async fn route(app: &App, incoming: &Incoming) -> Result<Reply, AppError> {
    if incoming.method != Method::POST {
        return route_inner(app, incoming).await;
    }
    // Every submission takes at least the configured time, whatever happened inside (mail sent,
    // unknown user, disabled, rate-limited, refused input), so timing tells nothing.
    let floor = tokio::time::Instant::now() + app.settings.request_min_response;
    let result = route_inner(app, incoming).await;
    tokio::time::sleep_until(floor).await;
    result
}

async fn route_inner(app: &App, incoming: &Incoming) -> Result<Reply, AppError> {
    let path = incoming.path.as_str();
    match (&incoming.method, path) {
        (&Method::GET, routes::REQUEST_PAGE) => Ok(Reply::page(
            pages::request_form(&page_context(app, incoming), None, None),
            "form",
        )),
        (&Method::POST, routes::REQUEST_PAGE) => {
            incoming.ensure_same_origin(&app.settings.public_base_url)?;
            let form: RequestForm = incoming.read_form()?;
            let input = parse_username(&form.username)?;
            submit(app, incoming, &input).await?;
            let details = MailSentDetails {
                username: input.username.as_str(),
                was_folded: input.was_folded,
                sender_address: app.settings.sender_address.as_str(),
                token_lifetime_minutes: app.settings.token_ttl.as_secs() / 60,
                support_contact: &app.settings.support_contact,
            };
            Ok(Reply::page(
                pages::mail_sent(&page_context(app, incoming), &details),
                "accepted",
            ))
        }
        (&Method::POST, routes::REQUEST_API) => {
            incoming.ensure_same_origin(&app.settings.public_base_url)?;
            let body: RequestJson = incoming.read_json()?;
            let input = parse_username(&body.username)?;
            submit(app, incoming, &input).await?;
            let message = crate::lang::words(incoming.language).pages.accepted_message;
            Ok(Reply::json(
                StatusCode::ACCEPTED,
                json!({ "status": "accepted", "username": input.username.as_str(), "message": message }),
                "accepted",
            ))
        }
        (&Method::GET, _) if path.starts_with(routes::ASSETS) => assets::asset(path.trim_start_matches(routes::ASSETS)),
        _ => Err(unmatched(matches!(path, routes::REQUEST_PAGE | routes::REQUEST_API))),
    }
}

fn parse_username(typed: &str) -> Result<UsernameInput, AppError> {
    Username::from_typed(typed).map_err(|reason| AppError::InvalidUsername {
        typed: typed.chars().take(64).collect(),
        reason,
    })
}

async fn submit(app: &App, incoming: &Incoming, input: &UsernameInput) -> Result<(), AppError> {
    let client = incoming.client_key(app.settings.client_ip_source);
    let outcome = request_reset(app.into(), &input.username, &client).await?;
    // Only the log knows which case this was; the answer is the same for all of them.
    tracing::info!(reset_outcome = outcome.code(), "reset requested");
    Ok(())
}
