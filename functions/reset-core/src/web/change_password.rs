//! `change-password`: the new password and its confirmation, as a form or JSON.

use super::incoming::Incoming;
use super::pages;
use super::respond::{page_context, Reply};
use super::routes;
use super::verify_token::parse_token;
use super::{serve, unmatched};
use crate::app::App;
use crate::error::AppError;
use crate::service::change_password;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct ChangeForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_confirmation: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeJson {
    token: String,
    new_password: String,
    new_password_confirmation: String,
}

pub async fn handle(app: &App, request: Request) -> Result<Response<Body>, std::convert::Infallible> {
    serve(app, request, "change-password", |app, incoming| async move {
        let result = route(app, &incoming).await;
        (incoming, result)
    })
    .await
}

async fn route(app: &App, incoming: &Incoming) -> Result<Reply, AppError> {
    match (&incoming.method, incoming.path.as_str()) {
        (&Method::POST, routes::COMPLETE) => {
            incoming.ensure_same_origin(&app.settings.public_base_url)?;
            let form: ChangeForm = incoming.read_form()?;
            let token = parse_token(&form.token)?;
            change_password(app.into(), token, &form.new_password, &form.new_password_confirmation).await?;
            Ok(Reply::page(
                pages::completed(&page_context(app, incoming)),
                "password_changed",
            ))
        }
        (&Method::POST, routes::COMPLETE_API) => {
            incoming.ensure_same_origin(&app.settings.public_base_url)?;
            let body: ChangeJson = incoming.read_json()?;
            let token = parse_token(&body.token)?;
            change_password(app.into(), token, &body.new_password, &body.new_password_confirmation).await?;
            let message = crate::lang::words(incoming.language).pages.done_lead;
            Ok(Reply::json(
                StatusCode::OK,
                json!({ "status": "password_changed", "message": message, "sign_in_url": app.settings.sign_in_url }),
                "password_changed",
            ))
        }
        (_, path) => Err(unmatched(matches!(path, routes::COMPLETE | routes::COMPLETE_API))),
    }
}
