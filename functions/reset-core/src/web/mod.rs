//! The HTTP edge: one module per function with its routes, and the shared request reading,
//! page rendering and response mapping.

pub mod address_change;
pub mod address_pages;
pub mod assets;
pub mod change_password;
pub mod incoming;
pub mod pages;
pub mod request_reset;
pub mod respond;
pub mod routes;
pub mod verify_token;

use crate::app::App;
use crate::error::AppError;
use incoming::Incoming;
use lambda_http::{Body, Request, Response};
use respond::{respond, Reply};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::task::Poll;
use std::time::Instant;
use tracing::Instrument;

/// Reads the request, runs the function's router, and maps the result. Never fails: every
/// error has become a response by the time it returns, a panic in the router included (a 500,
/// logged; the instance keeps serving the next request, which needs `panic = "unwind"`).
///
/// Everything the request does runs inside one `request` span carrying the request id, the
/// function and the route, so every log line of the request (the services' and the stores'
/// included, which know nothing of HTTP) can be found by the request id.
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
    let span = request_span(&incoming, function);
    serve_in_span(app, incoming, function, started, route)
        .instrument(span)
        .await
}

/// The span of one request. The route is the path without its query (tokens travel in queries
/// and bodies, never in paths).
fn request_span(incoming: &Incoming, function: &'static str) -> tracing::Span {
    tracing::info_span!(
        "request",
        request_id = %incoming.request_id,
        function,
        route = %incoming.path,
    )
}

async fn serve_in_span<'a, F, Fut>(
    app: &'a App,
    incoming: Incoming,
    function: &'static str,
    started: Instant,
    route: F,
) -> Result<Response<Body>, std::convert::Infallible>
where
    F: FnOnce(&'a App, Incoming) -> Fut,
    Fut: Future<Output = (Incoming, Result<Reply, AppError>)>,
{
    if let Some(secret) = &app.settings.origin_verify_secret {
        if !incoming.carries_origin_secret(secret) {
            return Ok(respond(app, &incoming, function, started, Err(AppError::CrossOrigin)));
        }
    }
    // The router owns the request; if it panics, the answer is built from this copy of its
    // metadata (language, page or JSON, request id).
    let metadata = incoming.metadata();
    let (incoming, result) = match catch_unwind(route(app, incoming)).await {
        Ok(answer) => answer,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let error = AppError::Internal(format!("handler panicked: {message}"));
            (metadata, Err(error))
        }
    };
    Ok(respond(app, &incoming, function, started, result))
}

/// Runs `future`, turning a panic in any of its polls into `Err` (futures' `catch_unwind`
/// without the dependency). The state a panic leaves behind is per request (the router's own
/// future, dropped here): the routers only read `App`, and the DynamoDB store and SES mailer
/// hold no locks a panic could poison.
async fn catch_unwind<F: Future>(future: F) -> Result<F::Output, Box<dyn std::any::Any + Send>> {
    let mut future = Box::pin(future);
    std::future::poll_fn(
        |cx| match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(panic) => Poll::Ready(Err(panic)),
        },
    )
    .await
}

/// 405 for a known path with the wrong method, 404 otherwise.
pub(crate) fn unmatched(known_path: bool) -> AppError {
    if known_path {
        AppError::MethodNotAllowed
    } else {
        AppError::NotFound
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::sample_settings;
    use crate::domain::{FixedClock, Timestamp};
    use crate::mail::RecordingQueue;
    use crate::store::MemoryStore;
    use crate::telemetry::{json_subscriber, CapturedLines};
    use crate::App;
    use lambda_http::{Body, Context, RequestExt};
    use serde_json::Value;
    use std::sync::Arc;

    #[tokio::test(flavor = "current_thread")]
    async fn every_line_of_a_request_carries_its_id_function_and_route() {
        let capture = CapturedLines::default();
        let _logging = tracing::subscriber::set_default(json_subscriber(capture.clone()));
        let app = App::new(
            sample_settings(),
            Arc::new(MemoryStore::default()),
            Arc::new(RecordingQueue::default()),
            Arc::new(FixedClock::at(Timestamp::from_millis(1_795_608_000_000))),
        );
        let mut context = Context::default();
        context.request_id = "4f7c2a90-request".to_owned();
        let request = lambda_http::http::Request::builder()
            .method("POST")
            .uri("https://id.example.jp/password-reset")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", "https://id.example.jp")
            .body(Body::Text("username=ex000000".to_owned()))
            .unwrap_or_else(|e| panic!("{e}"))
            .with_lambda_context(context);

        let Ok(answer) = super::request_reset::handle(&app, request).await;

        assert_eq!(answer.status(), 200);
        let entries: Vec<Value> = capture
            .lines()
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
            .collect();
        let messages: Vec<&str> = entries.iter().filter_map(|e| e["fields"]["message"].as_str()).collect();
        assert!(messages.contains(&"reset requested"), "{messages:?}");
        assert!(messages.contains(&"request"), "{messages:?}");
        for entry in &entries {
            let span = &entry["span"];
            assert_eq!(span["name"], "request", "{entry}");
            assert_eq!(span["request_id"], "4f7c2a90-request", "{entry}");
            assert_eq!(span["function"], "request-reset", "{entry}");
            assert_eq!(span["route"], "/password-reset", "{entry}");
        }
    }
}
