//! The single place where results become HTTP responses: statuses, security headers, the
//! error-to-page/JSON mapping, and the one access-log line per request.

use super::incoming::{Incoming, Mode};
use super::pages::{self, PageContext};
use super::routes;
use crate::app::App;
use crate::error::AppError;
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use maud::Markup;
use serde_json::{json, Value};
use std::time::Instant;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// How long a client should wait after a 503 before trying again.
const UNAVAILABLE_RETRY_AFTER_SECS: i64 = 30;

pub enum ReplyBody {
    Page(Markup),
    Json(Value),
    Asset {
        content_type: &'static str,
        content: &'static str,
    },
}

/// A successful answer, plus the outcome label for the access log.
pub struct Reply {
    pub status: StatusCode,
    pub body: ReplyBody,
    pub outcome: &'static str,
}

impl Reply {
    pub fn page(markup: Markup, outcome: &'static str) -> Self {
        Self {
            status: StatusCode::OK,
            body: ReplyBody::Page(markup),
            outcome,
        }
    }

    pub fn json(status: StatusCode, value: Value, outcome: &'static str) -> Self {
        Self {
            status,
            body: ReplyBody::Json(value),
            outcome,
        }
    }

    pub fn asset(content_type: &'static str, content: &'static str) -> Self {
        Self {
            status: StatusCode::OK,
            body: ReplyBody::Asset { content_type, content },
            outcome: "asset",
        }
    }
}

/// The page context for this request: language, service name, and the language switch link.
pub fn page_context<'a>(app: &'a App, incoming: &Incoming) -> PageContext<'a> {
    // The switch keeps the token on the confirm page (GET) so the link still works in another
    // language; any other query is dropped.
    let token = incoming
        .query("token")
        .filter(|_| incoming.method == lambda_http::http::Method::GET);
    // Built from route constants only, never from the request path: a path such as
    // `//evil.example/x` must not become a link off the site.
    let is_get = incoming.method == lambda_http::http::Method::GET;
    let switch_base = match (incoming.path.as_str(), token) {
        (routes::CONFIRM_PAGE, Some(token)) => format!("{}?token={}", routes::CONFIRM_PAGE, urlencode(token)),
        (routes::CONFIRM_PAGE, None) if is_get => routes::CONFIRM_PAGE.to_owned(),
        _ => routes::REQUEST_PAGE.to_owned(),
    };
    PageContext {
        language: incoming.language,
        service_name: app.settings.service_name_in(incoming.language),
        min_password_chars: app.settings.password_min_chars,
        password_requires_symbol: app.settings.password_requires_symbol,
        breach_check: app.settings.breach_check.is_some(),
        sign_in_url: &app.settings.sign_in_url,
        switch_base,
    }
}

fn urlencode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// Turns the handler's result into the response and writes the access-log line.
pub fn respond(
    app: &App,
    incoming: &Incoming,
    function: &'static str,
    started: Instant,
    result: Result<Reply, AppError>,
) -> Response<Body> {
    let (reply, error_code, retry_after) = match result {
        Ok(reply) => (reply, None, None),
        Err(error) => {
            let code = error.code();
            match &error {
                AppError::Unavailable(detail) | AppError::Internal(detail) => {
                    tracing::error!(error = code, detail = %detail, "request failed");
                }
                AppError::InvalidLink(reason) => {
                    tracing::info!(reason = reason.code(), "link rejected");
                }
                AppError::InvalidAddressLink(reason) => {
                    tracing::info!(reason = reason.code(), "address-request link rejected");
                }
                _ => {}
            }
            let retry_after = match &error {
                AppError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
                AppError::Unavailable(_) => Some(UNAVAILABLE_RETRY_AFTER_SECS),
                _ => None,
            };
            (error_reply(app, incoming, &error), Some(code), retry_after)
        }
    };
    let status = reply.status;
    if status.is_server_error() {
        crate::metrics::emit_server_error(&app.settings.metrics_namespace, app.clock.now(), function);
    }
    let outcome = error_code.unwrap_or(reply.outcome);
    let response = build_response(reply, retry_after);
    tracing::info!(
        request_id = %incoming.request_id,
        function,
        method = %incoming.method,
        route = %incoming.path,
        status = status.as_u16(),
        outcome,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    response
}

fn error_reply(app: &App, incoming: &Incoming, error: &AppError) -> Reply {
    let language = incoming.language;
    let words = crate::lang::words(language);
    let t = &words.pages;
    let (status, title, lead) = match error {
        AppError::InvalidUsername { .. } | AppError::PasswordRejected { .. } => {
            (StatusCode::BAD_REQUEST, t.errors_title, "")
        }
        AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, t.bad_request_title, t.bad_request_lead),
        AppError::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, t.bad_request_title, t.too_large_lead),
        AppError::UnsupportedMediaType { .. } => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            t.bad_request_title,
            t.media_type_lead,
        ),
        AppError::InvalidLink(_) => (StatusCode::BAD_REQUEST, t.invalid_title, t.invalid_lead),
        AppError::InvalidAddressRequest { .. } => (StatusCode::BAD_REQUEST, t.errors_title, ""),
        AppError::InvalidAddressLink(_) => {
            let a = &words.address_pages;
            (StatusCode::BAD_REQUEST, a.invalid_title, a.invalid_lead)
        }
        AppError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, t.rate_limited_title, t.rate_limited_lead),
        AppError::CrossOrigin => (StatusCode::FORBIDDEN, t.bad_request_title, t.cross_origin_lead),
        AppError::NotFound => (StatusCode::NOT_FOUND, t.not_found_title, t.not_found_lead),
        AppError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, t.not_found_title, t.not_found_lead),
        AppError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, t.unavailable_title, t.unavailable_lead),
        AppError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, t.internal_title, t.internal_lead),
    };
    let body = match incoming.mode {
        Mode::Json => {
            let mut value = json!({ "error": error.code(), "message": if lead.is_empty() { title } else { lead } });
            match error {
                AppError::InvalidUsername { reason, .. } => {
                    value["message"] = json!(words.username_error(reason));
                }
                AppError::PasswordRejected { rules, .. } => {
                    value["violations"] = rules
                        .iter()
                        .map(|rule| {
                            json!({ "rule": rule.code(), "message": words.password_rule(*rule, app.settings.password_min_chars) })
                        })
                        .collect();
                }
                AppError::RateLimited { retry_after_secs } => value["retry_after_seconds"] = json!(retry_after_secs),
                AppError::InvalidAddressRequest { errors, .. } => {
                    value["violations"] = errors
                        .iter()
                        .map(|e| json!({ "field": e.field().code(), "message": super::address_pages::error_text(e, language) }))
                        .collect();
                }
                _ => {}
            }
            ReplyBody::Json(value)
        }
        Mode::Page => {
            let ctx = page_context(app, incoming);
            ReplyBody::Page(match error {
                AppError::InvalidUsername { typed, reason } => pages::request_form(&ctx, Some(typed), Some(reason)),
                AppError::PasswordRejected { token, username, rules } => {
                    pages::password_form(&ctx, &token.to_url_safe(), username.as_deref(), rules)
                }
                AppError::InvalidLink(_) => pages::invalid_link(&ctx),
                AppError::InvalidAddressRequest { form, errors } => {
                    super::address_pages::request_form(&ctx, form, errors)
                }
                AppError::InvalidAddressLink(_) => super::address_pages::invalid_link(&ctx),
                _ => pages::message(&ctx, title, lead),
            })
        }
    };
    Reply {
        status,
        body,
        outcome: error.code(),
    }
}

fn build_response(reply: Reply, retry_after: Option<i64>) -> Response<Body> {
    let (content_type, cache_control, body) = match reply.body {
        ReplyBody::Page(markup) => ("text/html; charset=utf-8", "no-store", markup.into_string()),
        ReplyBody::Json(value) => ("application/json", "no-store", value.to_string()),
        ReplyBody::Asset { content_type, content } => (content_type, "public, max-age=3600", content.to_owned()),
    };
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = reply.status;
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(header::CONTENT_TYPE, content_type);
    set(header::CACHE_CONTROL, cache_control);
    set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::STRICT_TRANSPORT_SECURITY, "max-age=63072000; includeSubDomains");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    set(header::VARY, "Accept-Language");
    if let Some(secs) = retry_after {
        if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
    }
    response
}
