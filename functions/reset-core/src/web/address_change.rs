//! `address-change`: the address-change request form, its submission, and the verification
//! link's two steps (GET shows, POST confirms). Pages only; no JSON API.

use super::address_pages;
use super::incoming::Incoming;
use super::respond::{page_context, Reply};
use super::routes::{ADDRESS_FORM, ADDRESS_VERIFY};
use super::{serve, unmatched};
use crate::domain::address_request::{AddressRequestForm, VerificationRejection};
use crate::domain::{AddressRequestId, ResetToken};
use crate::error::AppError;
use crate::service::{confirm_verification, open_verification, request_address_change, AddressDesk};
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

#[derive(Deserialize)]
struct VerifyForm {
    #[serde(default)]
    id: String,
    #[serde(default)]
    token: String,
}

pub async fn handle(desk: &AddressDesk, request: Request) -> Result<Response<Body>, std::convert::Infallible> {
    serve(&desk.app, request, "address-change", |_, incoming| async move {
        let result = route(desk, &incoming).await;
        (incoming, result)
    })
    .await
}

async fn route(desk: &AddressDesk, incoming: &Incoming) -> Result<Reply, AppError> {
    if !(incoming.method == Method::POST && incoming.path == ADDRESS_FORM) {
        return route_inner(desk, incoming).await;
    }
    // Like the reset request: every submission takes at least the configured time, whatever
    // happened inside, so timing tells nothing about the username.
    let floor = tokio::time::Instant::now() + desk.app.settings.request_min_response;
    let result = route_inner(desk, incoming).await;
    tokio::time::sleep_until(floor).await;
    result
}

/// Both parts of the link, checked before any database call.
fn parse_link(id: &str, token: &str) -> Result<(AddressRequestId, ResetToken), AppError> {
    let id =
        AddressRequestId::parse(id).map_err(|_| AppError::InvalidAddressLink(VerificationRejection::UnknownRequest))?;
    let token =
        ResetToken::parse(token).map_err(|_| AppError::InvalidAddressLink(VerificationRejection::WrongToken))?;
    Ok((id, token))
}

async fn route_inner(desk: &AddressDesk, incoming: &Incoming) -> Result<Reply, AppError> {
    let app = &desk.app;
    match (&incoming.method, incoming.path.as_str()) {
        (&Method::GET, ADDRESS_FORM) => Ok(Reply::page(
            address_pages::request_form(&page_context(app, incoming), &AddressRequestForm::default(), &[]),
            "address_form",
        )),
        (&Method::POST, ADDRESS_FORM) => {
            incoming.ensure_same_origin(&app.settings.public_base_url)?;
            let form: AddressRequestForm = incoming.read_form()?;
            let input = form.parse().map_err(|errors| AppError::InvalidAddressRequest {
                form: Box::new(form.clone()),
                errors,
            })?;
            let new_email = input.new_email.as_str().to_owned();
            let client = incoming.client_key(app.settings.client_ip_source);
            let outcome = request_address_change(desk.into(), input, incoming.language, &client).await?;
            // Only the log knows which case this was; the answer is the same for all of them.
            tracing::info!(address_request_outcome = outcome.code(), "address change requested");
            let hours = app.settings.address.verification_ttl.as_secs() / 3600;
            Ok(Reply::page(
                address_pages::accepted(
                    &page_context(app, incoming),
                    &new_email,
                    app.settings.sender_address.as_str(),
                    hours,
                ),
                "address_request_accepted",
            ))
        }
        (&Method::GET, ADDRESS_VERIFY) => {
            let (id, token) = parse_link(
                incoming.query("id").unwrap_or_default(),
                incoming.query("token").unwrap_or_default(),
            )?;
            let request = open_verification(desk.into(), &id, &token).await?;
            let mut ctx = page_context(app, incoming);
            // The language switch keeps both parts of the link, so it still works.
            ctx.switch_base = format!("{ADDRESS_VERIFY}?id={}&token={}", id.as_str(), token.to_url_safe());
            Ok(Reply::page(
                address_pages::verify(&ctx, id.as_str(), &token.to_url_safe(), &request),
                "address_link_valid",
            ))
        }
        (&Method::POST, ADDRESS_VERIFY) => {
            incoming.ensure_same_origin(&app.settings.public_base_url)?;
            let form: VerifyForm = incoming.read_form()?;
            let (id, token) = parse_link(&form.id, &form.token)?;
            confirm_verification(desk.into(), &id, &token).await?;
            Ok(Reply::page(
                address_pages::verified(&page_context(app, incoming)),
                "address_request_verified",
            ))
        }
        (_, path) => Err(unmatched(matches!(path, ADDRESS_FORM | ADDRESS_VERIFY))),
    }
}
