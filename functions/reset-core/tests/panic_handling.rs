//! A panic inside a handler becomes a 500 answer (page or JSON, with the usual headers) and the
//! same process keeps serving. The panic comes from a store fake that panics once when armed,
//! driven through the real `web::verify_token::handle` in-process: nothing in the shipped code
//! can be made to panic on purpose.

use async_trait::async_trait;
use lambda_http::{Body, Request};
use reset_core::domain::{FixedClock, Timestamp, TokenHash, TokenRecord};
use reset_core::mail::RecordingQueue;
use reset_core::store::{MemoryStore, StoreError, TokenStore};
use reset_core::{web, App};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The in-memory links, except that the next lookup panics while `armed` is set.
#[derive(Default)]
struct PanickingTokens {
    inner: MemoryStore,
    armed: AtomicBool,
}

#[async_trait]
impl TokenStore for PanickingTokens {
    async fn save_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.inner.save_token(token).await
    }
    async fn find_token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            panic!("store fake armed to panic");
        }
        self.inner.find_token(hash).await
    }
}

fn app(tokens: Arc<PanickingTokens>) -> App {
    let settings = reset_core::testing::sample_settings_with(&[]).unwrap_or_else(|e| panic!("{e}"));
    let mut app = App::new(
        settings,
        Arc::new(MemoryStore::default()),
        Arc::new(RecordingQueue::default()),
        Arc::new(FixedClock::at(Timestamp::from_millis(1_795_608_000_000))),
    );
    app.tokens = tokens;
    app
}

/// A well-formed token (43 base64url characters) that no store holds.
const TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn get_confirm() -> Request {
    lambda_http::http::Request::builder()
        .method("GET")
        .uri(format!("https://id.example.jp/password-reset/confirm?token={TOKEN}"))
        .body(Body::Empty)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn post_api_verify() -> Request {
    lambda_http::http::Request::builder()
        .method("POST")
        .uri("https://id.example.jp/api/password-reset/verify")
        .header("content-type", "application/json")
        .body(Body::Text(format!(r#"{{"token":"{TOKEN}"}}"#)))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn body_text(body: &Body) -> String {
    match body {
        Body::Text(text) => text.clone(),
        Body::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        _ => String::new(),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_panicking_handler_answers_500_and_the_process_keeps_serving() {
    let store = Arc::new(PanickingTokens::default());
    let app = app(store.clone());

    // Page route: the panic becomes the internal-error page, with the security headers.
    store.armed.store(true, Ordering::SeqCst);
    let Ok(answer) = web::verify_token::handle(&app, get_confirm()).await;
    assert_eq!(answer.status(), 500);
    assert_eq!(
        answer.headers().get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert!(answer.headers().contains_key("content-security-policy"));
    assert!(
        !body_text(answer.body()).contains("store fake armed"),
        "no panic text to the client"
    );

    // The same App, the same route, right after: an ordinary answer (the token is unknown).
    let Ok(answer) = web::verify_token::handle(&app, get_confirm()).await;
    assert_eq!(answer.status(), 400, "{}", body_text(answer.body()));

    // JSON route: the panic becomes the JSON internal error.
    store.armed.store(true, Ordering::SeqCst);
    let Ok(answer) = web::verify_token::handle(&app, post_api_verify()).await;
    assert_eq!(answer.status(), 500);
    let json: serde_json::Value = serde_json::from_str(&body_text(answer.body())).unwrap_or_default();
    assert_eq!(json["error"], "internal_error", "{json}");

    let Ok(answer) = web::verify_token::handle(&app, post_api_verify()).await;
    assert_eq!(answer.status(), 400);
}

/// The shipped build must unwind for the catch above to work: cargo-lambda turns panics into
/// aborts unless the release profile says otherwise.
#[test]
fn the_release_profile_unwinds() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let release = manifest
        .split("[profile.release]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .unwrap_or_default();
    assert!(
        release.lines().any(|l| l.trim().replace(' ', "") == "panic=\"unwind\""),
        "[profile.release] must set panic = \"unwind\""
    );
}
