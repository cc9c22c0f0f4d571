//! `verify-token`: 「パスワードをリセットしますか？」 (GET, never consumes the link), the
//! new-password form after 「パスワードのリセット」, and the JSON check.

use super::incoming::Incoming;
use super::pages;
use super::respond::{page_context, Reply};
use super::routes;
use super::{serve, unmatched};
use crate::app::App;
use crate::domain::token::TokenRejection;
use crate::domain::ResetToken;
use crate::error::AppError;
use crate::service::verify_link;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenJson {
    token: String,
}

pub async fn handle(app: &App, request: Request) -> Result<Response<Body>, std::convert::Infallible> {
    serve(app, request, "verify-token", |app, incoming| async move {
        let result = route(app, &incoming).await;
        (incoming, result)
    })
    .await
}

/// A malformed token is refused here, before any database call.
pub(crate) fn parse_token(value: &str) -> Result<ResetToken, AppError> {
    ResetToken::parse(value).map_err(|_| AppError::InvalidLink(TokenRejection::Unknown))
}

async fn route(app: &App, incoming: &Incoming) -> Result<Reply, AppError> {
    match (&incoming.method, incoming.path.as_str()) {
        (&Method::GET, routes::CONFIRM_PAGE) => {
            let token = parse_token(incoming.query("token").unwrap_or_default())?;
            let link = verify_link(app.into(), &token).await?;
            let expires = crate::lang::words(incoming.language).jst(link.expires_at());
            Ok(Reply::page(
                pages::confirm(&page_context(app, incoming), &token.to_url_safe(), &expires),
                "link_valid",
            ))
        }
        (&Method::POST, routes::CONFIRM_PAGE) => {
            incoming.ensure_same_origin(&app.settings.public_base_url)?;
            let form: TokenForm = incoming.read_form()?;
            let token = parse_token(&form.token)?;
            let link = verify_link(app.into(), &token).await?;
            let ctx = page_context(app, incoming);
            Ok(Reply::page(
                pages::password_form(&ctx, &token.to_url_safe(), Some(link.user.username.as_str()), &[]),
                "password_form",
            ))
        }
        (&Method::POST, routes::VERIFY_API) => {
            incoming.ensure_same_origin(&app.settings.public_base_url)?;
            let body: TokenJson = incoming.read_json()?;
            let token = parse_token(&body.token)?;
            let link = verify_link(app.into(), &token).await?;
            Ok(Reply::json(
                StatusCode::OK,
                json!({
                    "valid": true,
                    "username": link.user.username.as_str(),
                    "expires_at": link.record.expires_at,
                    "expires_at_jst": crate::lang::words(incoming.language).jst(link.expires_at()),
                }),
                "link_valid",
            ))
        }
        (_, path) => Err(unmatched(matches!(path, routes::CONFIRM_PAGE | routes::VERIFY_API))),
    }
}
