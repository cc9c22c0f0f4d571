//! The JSON API under /api/…: the same rules and errors as the pages, as JSON bodies.

use anyhow::{anyhow, Result};
use password_reset_tests::reset_core::domain::Language;
use password_reset_tests::*;
use serde_json::json;

#[tokio::test]
async fn request_verify_complete_as_json() -> Result<()> {
    let app = local_app().await?;
    let user = create_user(&app, Language::Ja).await?;

    let accepted = invoke(
        &app,
        Function::RequestReset,
        EventBuilder::json(
            "/api/password-reset/request",
            json!({ "username": user.username.as_str() }),
        ),
    )
    .await?;
    assert_eq!(accepted.status, 202);
    assert_eq!(accepted.header("content-type"), Some("application/json"));
    assert_eq!(accepted.json()?["status"], "accepted");
    let unknown = invoke(
        &app,
        Function::RequestReset,
        EventBuilder::json(
            "/api/password-reset/request",
            json!({ "username": random_username().as_str() }),
        ),
    )
    .await?;
    assert_eq!(unknown.status, 202);
    assert_eq!(unknown.json()?["status"], "accepted");

    let mails = wait_for_mails(user.email.as_str(), 1).await?;
    let token = mails[0].token().ok_or_else(|| anyhow!("no token"))?;

    let verified = invoke(
        &app,
        Function::VerifyToken,
        EventBuilder::json("/api/password-reset/verify", json!({ "token": token })),
    )
    .await?;
    assert_eq!(verified.status, 200);
    let body = verified.json()?;
    assert_eq!(body["valid"], true);
    assert_eq!(body["username"], user.username.as_str());

    let rejected = invoke(
        &app,
        Function::ChangePassword,
        EventBuilder::json(
            "/api/password-reset/complete",
            json!({ "token": token, "new_password": "short", "new_password_confirmation": "shorter" }),
        ),
    )
    .await?;
    assert_eq!(rejected.status, 400);
    let body = rejected.json()?;
    assert_eq!(body["error"], "password_rejected");
    let rules: Vec<&str> = body["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["rule"].as_str())
        .collect();
    assert_eq!(
        rules,
        ["min_length", "uppercase", "digit", "not_common", "confirmation_matches"]
    );

    let changed = invoke(
        &app,
        Function::ChangePassword,
        EventBuilder::json(
            "/api/password-reset/complete",
            json!({ "token": token, "new_password": "Kanagawa2026x", "new_password_confirmation": "Kanagawa2026x" }),
        ),
    )
    .await?;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.json()?["status"], "password_changed");

    let reused = invoke(
        &app,
        Function::VerifyToken,
        EventBuilder::json("/api/password-reset/verify", json!({ "token": token })),
    )
    .await?;
    assert_eq!(reused.status, 400);
    assert_eq!(reused.json()?["error"], "invalid_or_expired_link");
    Ok(())
}

#[tokio::test]
async fn malformed_requests_get_clear_json_errors() -> Result<()> {
    let app = local_app().await?;
    let cases = [
        (
            EventBuilder::new("POST", "/api/password-reset/request")
                .header("content-type", "application/json")
                .body("{\"username\":"),
            400,
            "bad_request",
        ),
        (
            EventBuilder::new("POST", "/api/password-reset/request")
                .header("content-type", "text/plain")
                .body("ex000000"),
            415,
            "unsupported_media_type",
        ),
        (
            EventBuilder::json(
                "/api/password-reset/request",
                json!({ "username": "ex000000", "extra": 1 }),
            ),
            400,
            "bad_request",
        ),
        (
            EventBuilder::json("/api/password-reset/request", json!({ "username": "abc" })),
            400,
            "invalid_username",
        ),
        (
            EventBuilder::json("/api/password-reset/request", json!({ "username": "x".repeat(20_000) })),
            413,
            "payload_too_large",
        ),
        (
            EventBuilder::new("GET", "/api/password-reset/request"),
            405,
            "method_not_allowed",
        ),
        (
            EventBuilder::json("/api/password-reset/request", json!({ "username": "ex000000" }))
                .header("origin", "https://evil.example"),
            403,
            "cross_origin",
        ),
    ];
    for (event, status, code) in cases {
        let answer = invoke(&app, Function::RequestReset, event).await?;
        assert_eq!(answer.status, status, "{code}: {}", answer.body);
        let body = answer.json()?;
        assert_eq!(body["error"], code);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let garbage = invoke(
        &app,
        Function::VerifyToken,
        EventBuilder::json("/api/password-reset/verify", json!({ "token": "not-a-token" })),
    )
    .await?;
    assert_eq!(garbage.status, 400);
    assert_eq!(garbage.json()?["error"], "invalid_or_expired_link");
    Ok(())
}
