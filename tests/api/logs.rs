//! Logs: one structured JSON line per request with request id, route, outcome and
//! latency, and never a token, a password or a full mail address, whatever happens.

use anyhow::{anyhow, Context, Result};
use password_reset_tests::reset_core::domain::Language;
use password_reset_tests::reset_core::telemetry;
use password_reset_tests::*;
use serde_json::{json, Value};

fn assert_no_secrets(lines: &[String], secrets: &[String], source: &str) {
    for line in lines {
        for secret in secrets {
            assert!(!line.contains(secret.as_str()), "{source} leaks {secret:.12}…: {line}");
        }
    }
}

/// The functions' log format, captured for this test alone: the subscriber is the default of
/// this thread only, and a `#[tokio::test]` runs the handlers it invokes on its own thread.
/// Lines of tests running in parallel cannot satisfy (or spoil) its assertions.
fn capture_own_lines() -> (telemetry::CapturedLines, tracing::subscriber::DefaultGuard) {
    // A callsite's interest is cached process-wide by the first thread that hits it; a sibling
    // test's thread without a subscriber would cache "never" and blind this capture
    // (tokio-rs/tracing#3611). A global subscriber of the same level, writing nowhere, gives
    // every thread an interested answer.
    static GLOBAL_SINK: std::sync::Once = std::sync::Once::new();
    GLOBAL_SINK.call_once(|| {
        let _ = tracing::subscriber::set_global_default(telemetry::json_subscriber(std::io::sink));
    });
    let capture = telemetry::CapturedLines::default();
    let guard = tracing::subscriber::set_default(telemetry::json_subscriber(capture.clone()));
    // Callsites first hit before the global one existed may have cached "never": ask again.
    tracing::callsite::rebuild_interest_cache();
    (capture, guard)
}

#[tokio::test]
async fn the_whole_flow_logs_outcomes_and_no_secrets() -> Result<()> {
    let (capture, _guard) = capture_own_lines();

    let app = local_app().await?;
    let user = create_user(&app, Language::Ja).await?;
    let token = request_link(&app, &user).await?;
    let bad = "Short1";
    let good = "Kanagawa2026x";
    let events = [
        (
            Function::VerifyToken,
            EventBuilder::get(&format!("/password-reset/confirm?token={token}")),
        ),
        (
            Function::VerifyToken,
            EventBuilder::form("/password-reset/confirm", &[("token", &token)]),
        ),
        (
            Function::ChangePassword,
            EventBuilder::form(
                "/password-reset/complete",
                &[
                    ("token", &token),
                    ("new_password", bad),
                    ("new_password_confirmation", "Mismatch2026x"),
                ],
            ),
        ),
        (
            Function::ChangePassword,
            EventBuilder::json(
                "/api/password-reset/complete",
                json!({ "token": token, "new_password": good, "new_password_confirmation": good }),
            ),
        ),
        (
            Function::VerifyToken,
            EventBuilder::get(&format!("/password-reset/confirm?token={token}")),
        ),
    ];
    for (function, event) in events {
        invoke(&app, function, event).await?;
    }
    wait_for_mails(user.email.as_str(), 2).await?;

    let lines = capture.lines();
    let requests: Vec<Value> = lines
        .iter()
        .map(|line| serde_json::from_str::<Value>(line).map_err(|e| anyhow!("not JSON ({e}): {line}")))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|entry| entry["fields"]["message"] == "request")
        .collect();
    assert!(requests.len() >= 6, "one line per request, got {}", requests.len());
    for entry in &requests {
        let fields = &entry["fields"];
        for key in ["request_id", "function", "route", "status", "outcome", "latency_ms"] {
            assert!(!fields[key].is_null(), "request line lacks {key}: {entry}");
        }
    }
    for entry in &requests {
        let (span, fields) = (&entry["span"], &entry["fields"]);
        assert_eq!(
            span["name"], "request",
            "the access line is inside the request span: {entry}"
        );
        for key in ["request_id", "function", "route"] {
            assert_eq!(
                span[key], fields[key],
                "the span and the access line agree on {key}: {entry}"
            );
        }
    }
    let outcomes: Vec<&str> = requests
        .iter()
        .filter_map(|e| e["fields"]["outcome"].as_str())
        .collect();
    for expected in [
        "accepted",
        "link_valid",
        "password_form",
        "password_rejected",
        "password_changed",
        "invalid_or_expired_link",
    ] {
        assert!(outcomes.contains(&expected), "no {expected} in {outcomes:?}");
    }
    let secrets = vec![
        token.clone(),
        good.to_owned(),
        bad.to_owned(),
        "Mismatch2026x".to_owned(),
        user.email.as_str().to_owned(),
    ];
    assert_no_secrets(&lines, &secrets, "in-process log");
    Ok(())
}

#[tokio::test]
async fn the_functions_under_cargo_lambda_watch_log_no_secrets() -> Result<()> {
    let Ok(watch_log) = std::env::var("WATCH_LOG") else {
        return Err(anyhow!("WATCH_LOG is not set: run through `make test`"));
    };
    let app = local_app().await?;
    let base = watch_url()?;
    let client = http()?;
    let origin = app.settings.public_base_url.clone();
    let user = create_user(&app, Language::Ja).await?;
    client
        .post(format!("{base}/password-reset"))
        .header("origin", &origin)
        .form(&[("username", user.username.as_str())])
        .send()
        .await?;
    let token = wait_for_mails(user.email.as_str(), 1).await?[0]
        .token()
        .ok_or_else(|| anyhow!("no token"))?;
    let good = "Shizuoka2026x";
    client
        .get(format!("{base}/password-reset/confirm?token={token}"))
        .send()
        .await?;
    let done = client
        .post(format!("{base}/password-reset/complete"))
        .header("origin", &origin)
        .form(&[
            ("token", token.as_str()),
            ("new_password", good),
            ("new_password_confirmation", good),
        ])
        .send()
        .await?;
    assert_eq!(done.status(), 200);
    // The change notice goes through the queue: send-mail's lines are in the log once it settled.
    mail_queue_settled().await?;
    let lines: Vec<String> = std::fs::read_to_string(&watch_log)?
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("password_changed")),
        "the watch log holds the functions' lines"
    );
    assert_no_secrets(
        &lines,
        &[token, good.to_owned(), user.email.as_str().to_owned()],
        "cargo lambda watch log",
    );
    // Lines logged inside a request (not only the access line) carry the request's id, function
    // and route through its span; under cargo lambda watch the id is the invocation's.
    let entries: Vec<Value> = lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .collect();
    let access_ids: Vec<&Value> = entries
        .iter()
        .filter(|e| e["fields"]["message"] == "request")
        .map(|e| &e["fields"]["request_id"])
        .collect();
    let inner: Vec<&Value> = entries
        .iter()
        .filter(|e| e["fields"]["message"] == "reset requested")
        .collect();
    assert!(!inner.is_empty(), "the request-reset function logged its outcome");
    for entry in inner {
        let span = &entry["span"];
        assert_eq!(span["function"], "request-reset", "{entry}");
        assert_eq!(span["route"], "/password-reset", "{entry}");
        let id = &span["request_id"];
        assert!(id.as_str().is_some_and(|id| id.len() > 1), "a real request id: {entry}");
        assert!(
            access_ids.contains(&id),
            "the same id as a request's access line: {entry}"
        );
    }
    Ok(())
}

/// Issue 23, point 7: the address-change flow, in-process and through send-mail under
/// `cargo lambda watch`, logs no token, no address and none of the typed text, whatever
/// happens (a good link, a wrong token, a malformed form).
#[tokio::test]
async fn the_address_change_flow_logs_no_token_address_or_typed_text() -> Result<()> {
    let (capture, _guard) = capture_own_lines();
    let app = local_app().await?;
    let desk = local_desk().await?;
    let user = create_user(&app, Language::Ja).await?;
    let new_email = format!("logs-{}@clinic.example.jp", random_username());
    let (institution, location, contact) = ("ひまわり眼科医院", "札幌市中央区北1条西2丁目", "佐藤 一郎");
    let form = |email: &str| {
        EventBuilder::form(
            "/password-reset/address-change",
            &[
                ("username", user.username.as_str()),
                ("institution", institution),
                ("location", location),
                ("contact_person", contact),
                ("new_email", email),
            ],
        )
        .source_ip(&random_client_ip())
    };
    assert_eq!(invoke_address(&desk, form(&new_email)).await?.status, 200);
    // A malformed address beside the typed text: refused, and still not logged.
    assert_eq!(
        invoke_address(&desk, form("not-an-address-but-typed")).await?.status,
        400
    );
    let (_, id, token) = wait_for_mails(&new_email, 1)
        .await?
        .last()
        .and_then(Mail::address_link)
        .ok_or_else(|| anyhow!("no verification link"))?;
    let verify = "/password-reset/address-change/verify";
    for event in [
        EventBuilder::get(&format!("{verify}?id={id}&token={token}")),
        EventBuilder::form(verify, &[("id", id.as_str()), ("token", "A".repeat(43).as_str())]),
        EventBuilder::form(verify, &[("id", id.as_str()), ("token", token.as_str())]),
    ] {
        invoke_address(&desk, event).await?;
    }
    // The notice to the registered address goes through send-mail.
    wait_for_mails(user.email.as_str(), 1).await?;
    mail_queue_settled().await?;

    let mut lines = capture.lines();
    assert!(
        lines.iter().any(|l| l.contains("address request verified")),
        "the flow logged its outcome"
    );
    if let Ok(watch_log) = std::env::var("WATCH_LOG") {
        lines.extend(std::fs::read_to_string(watch_log)?.lines().map(str::to_owned));
    }
    let secrets = vec![
        token,
        new_email.clone(),
        new_email.split('@').next().unwrap_or_default().to_owned(),
        user.email.as_str().to_owned(),
        "not-an-address-but-typed".to_owned(),
        institution.to_owned(),
        location.to_owned(),
        contact.to_owned(),
        // As a form body or a query carries them.
        "%E3%81%B2%E3%81%BE%E3%82%8F%E3%82%8A".to_owned(),
    ];
    assert_no_secrets(&lines, &secrets, "address-change flow log");
    Ok(())
}

/// README: tokens travel in query strings, so no log line holds one. The request line and
/// span name the path alone.
#[tokio::test]
async fn request_lines_leave_out_the_query_string() -> Result<()> {
    let (capture, _guard) = capture_own_lines();
    let app = local_app().await?;
    let user = create_user(&app, Language::Ja).await?;
    let token = request_link(&app, &user).await?;
    let probe = random_username();
    let path = format!("/password-reset/confirm?token={token}&probe={probe}");
    let opened = invoke(&app, Function::VerifyToken, EventBuilder::get(&path)).await?;
    assert_eq!(opened.status, 200);
    let lines = capture.lines();
    let requests: Vec<Value> = lines
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| entry["fields"]["message"] == "request" && entry["fields"]["function"] == "verify-token")
        .collect();
    assert_eq!(requests.len(), 1, "{lines:?}");
    assert_eq!(requests[0]["fields"]["route"], "/password-reset/confirm");
    assert_no_secrets(&lines, &[token, probe.to_string(), "?".to_owned()], "in-process log");
    Ok(())
}

/// API Gateway's access log: its format (infra/template.yaml) names only `$context` variables
/// that hold no query string. The allowed list is AWS's HTTP API variables without the query.
#[test]
fn the_api_access_log_format_holds_no_query_string() -> Result<()> {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/infra/template.yaml"))?;
    let settings = template
        .split("AccessLogSettings:")
        .nth(1)
        .ok_or_else(|| anyhow!("no AccessLogSettings in the template"))?;
    let format: String = settings
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("Format:"))
        .skip(1)
        .take_while(|line| line.starts_with("          "))
        .map(str::trim)
        .collect();
    let variables: Vec<&str> = format
        .split("$context.")
        .skip(1)
        .map(|rest| {
            rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
                .next()
                .unwrap_or_default()
        })
        .collect();
    assert!(variables.contains(&"path"), "the format was not read: {format}");
    const WITHOUT_QUERY: &[&str] = &[
        "requestId",
        "requestTime",
        "requestTimeEpoch",
        "identity.sourceIp",
        "identity.userAgent",
        "httpMethod",
        "routeKey",
        "path",
        "protocol",
        "domainName",
        "status",
        "responseLength",
        "responseLatency",
        "integrationStatus",
        "integrationLatency",
        "awsEndpointRequestId",
        "error.messageString",
        "integrationErrorMessage",
    ];
    for variable in variables {
        assert!(
            WITHOUT_QUERY.contains(&variable),
            "$context.{variable} may carry a query string"
        );
    }
    // Filled in, the format is one JSON object per request.
    let sample = format.replace("$context.error.messageString", "\"x\"");
    let sample = regex::Regex::new(r"\$context\.[A-Za-z.]+")?.replace_all(&sample, "x");
    serde_json::from_str::<Value>(&sample).with_context(|| format!("not JSON: {sample}"))?;
    Ok(())
}
