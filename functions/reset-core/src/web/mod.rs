//! The HTTP edge: one module per function with its routes, and the shared request reading,
//! page rendering and response mapping.

pub mod assets;
pub mod change_password;
pub mod incoming;
pub mod pages;
pub mod request_reset;
pub mod respond;
pub mod texts;
pub mod verify_token;

use crate::app::App;
use crate::error::AppError;
use incoming::Incoming;
use lambda_http::{Body, Request, Response};
use respond::{respond, Reply};
use std::future::Future;
use std::time::Instant;

/// Reads the request, runs the function's router, and maps the result. Never fails: every
/// error has become a response by the time it returns.
pub(crate) async fn serve<'a, F, Fut>(
    app: &'a App,
    request: Request,
    function: &'static str,
    route: F,
) -> Result<Response<Body>, std::convert::Infallible>
where
    F: FnOnce(&'a App, Incoming) -> Fut,
    Fut: Future<Output = (Incoming, Result<Reply, AppError>)>,
{
    let started = Instant::now();
    let incoming = Incoming::from_request(request);
    let (incoming, result) = route(app, incoming).await;
    Ok(respond(app, &incoming, function, started, result))
}

/// 405 for a known path with the wrong method, 404 otherwise.
pub(crate) fn unmatched(known_path: bool) -> AppError {
    if known_path {
        AppError::MethodNotAllowed
    } else {
        AppError::NotFound
    }
}
