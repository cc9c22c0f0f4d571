//! Breached passwords refused (ASVS 2.1.7, NIST SP 800-63B 5.1.1.2): change-password asks a
//! range API — here a real local HTTP server serving range files — with only the first five
//! hex digits of the new password's SHA-1, and refuses a password listed with a count. When
//! the API cannot answer, the change goes on and `BreachCheckUnavailable` counts it.

use anyhow::{anyhow, Context, Result};
use password_reset_tests::reset_core::app::sdk_config;
use password_reset_tests::reset_core::domain::Language;
use password_reset_tests::reset_core::{App, Settings, Wiring};
use password_reset_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

/// Passes every local rule (length, classes, not common, not guessable): only the corpus
/// refuses it.
const BREACHED: &str = "Tsubame7Lantern2026";
/// Listed too, but with a count of 0: a padding line, which means "not seen".
const CLEAN: &str = "Kanagawa2026x";

fn ranges() -> Result<std::path::PathBuf> {
    RangeFiles::new()?.list(BREACHED, 42).list(CLEAN, 0).write()
}

/// The functions as production wires them, with the check on and pointed at `api_url`.
async fn app_checking(api_url: &str) -> Result<App> {
    let settings = Settings::from_lookup(|name| match name {
        "BREACHED_PASSWORD_CHECK" => Some("on".to_owned()),
        "BREACHED_PASSWORD_API_URL" => Some(api_url.to_owned()),
        other => std::env::var(other).ok(),
    })?;
    Ok(Wiring::new(settings, sdk_config().await).app().await?)
}

fn complete_form(token: &str, password: &str, language: Language) -> EventBuilder {
    EventBuilder::form(
        &format!("/password-reset/complete?lang={}", language.code()),
        &[
            ("token", token),
            ("new_password", password),
            ("new_password_confirmation", password),
        ],
    )
}

fn complete_json(token: &str, password: &str) -> EventBuilder {
    EventBuilder::json(
        "/api/password-reset/complete",
        json!({ "token": token, "new_password": password, "new_password_confirmation": password }),
    )
}

fn violated_rules(body: &Value) -> Vec<String> {
    body["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["rule"].as_str().map(str::to_owned))
        .collect()
}

/// What the page says, per language, when the corpus lists the password.
fn breached_reason(language: Language) -> &'static str {
    match language {
        Language::Ja => "過去に漏えいしたパスワードではない",
        Language::En => "Has not appeared in a data breach",
    }
}

#[tokio::test]
async fn a_breached_password_is_refused_with_its_reason_and_only_five_hex_digits_leave() -> Result<()> {
    let server = RangeServer::serve(ranges()?, 0).await?;
    let app = app_checking(&server.url).await?;
    for language in languages() {
        let user = create_user(&app, language).await?;
        let token = request_link(&app, &user).await?;

        // The page, in the account's language: refused, the reason named, the link still alive.
        let page = invoke(
            &app,
            Function::ChangePassword,
            complete_form(&token, BREACHED, language),
        )
        .await?;
        assert_eq!(page.status, 400, "{}", page.body);
        assert!(
            page.body.contains(breached_reason(language)),
            "{language:?}: {}",
            page.body
        );
        assert!(
            page.body
                .contains(r#"class="rule-note unmet" data-rule="not_breached""#),
            "{}",
            page.body
        );
        assert_password_unchanged(&app, &user.username).await?;

        // The JSON API: the rule and its words.
        let api = invoke(&app, Function::ChangePassword, complete_json(&token, BREACHED)).await?;
        assert_eq!(api.status, 400, "{}", api.body);
        let body = api.json()?;
        assert_eq!(body["error"], "password_rejected");
        assert_eq!(violated_rules(&body), ["not_breached"]);

        // A password listed only as padding (count 0) is not breached: the change goes through.
        let done = invoke(&app, Function::ChangePassword, complete_json(&token, CLEAN)).await?;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(signs_in(&app, &user.username, CLEAN).await?);
    }

    let requests = server.requests();
    assert_eq!(requests.len(), 6, "one question per checked password: {requests:?}");
    let (breached_prefix, breached_suffix) = sha1_prefix_and_suffix(BREACHED);
    let (clean_prefix, clean_suffix) = sha1_prefix_and_suffix(CLEAN);
    for request in &requests {
        let prefix = request
            .path
            .strip_prefix("/range/")
            .ok_or_else(|| anyhow!("not a range request: {}", request.path))?;
        assert!(
            prefix.len() == 5 && prefix.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
            "only five upper-case hex digits leave the function: {}",
            request.path
        );
        assert!(prefix == breached_prefix || prefix == clean_prefix, "{}", request.path);
        assert_eq!(request.add_padding.as_deref(), Some("true"));
        for secret in [&breached_suffix, &clean_suffix] {
            assert!(!request.path.contains(secret.as_str()));
        }
    }
    server.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_password_the_local_rules_refuse_costs_no_question() -> Result<()> {
    let server = RangeServer::serve(ranges()?, 0).await?;
    let app = app_checking(&server.url).await?;
    let user = create_user(&app, Language::Ja).await?;
    let token = request_link(&app, &user).await?;
    let answer = invoke(&app, Function::ChangePassword, complete_json(&token, "short")).await?;
    assert_eq!(answer.status, 400);
    assert!(!violated_rules(&answer.json()?).contains(&"not_breached".to_owned()));
    assert!(server.requests().is_empty(), "{:?}", server.requests());
    server.stop().await;
    Ok(())
}

/// Over HTTP through `cargo lambda watch`, whose change-password is pointed (scripts/test-env.sh)
/// at a range server on `BREACH_RANGE_PORT`: refused while the server answers; with the server
/// down the change goes on and the function's log carries the fail-open metric. Only this test
/// listens on that port.
#[tokio::test]
async fn over_http_breached_refused_and_with_the_range_server_down_the_change_goes_on_and_is_counted() -> Result<()> {
    let port: u16 = std::env::var("BREACH_RANGE_PORT")
        .context("BREACH_RANGE_PORT is not set: run through make test or scripts/dev-test.sh")?
        .parse()?;
    let watch_log = std::env::var("WATCH_LOG").context("WATCH_LOG is not set")?;
    let app = local_app().await?;
    let base = watch_url()?;
    let client = http()?;
    let origin = app.settings.public_base_url.clone();
    let user = create_user(&app, Language::Ja).await?;
    let token = request_link(&app, &user).await?;
    let complete = |password: &'static str| {
        client
            .post(format!("{base}/api/password-reset/complete"))
            .header("origin", &origin)
            .json(&json!({ "token": token, "new_password": password, "new_password_confirmation": password }))
            .send()
    };

    let server = RangeServer::serve(ranges()?, port).await?;
    let refused = complete(BREACHED).await?;
    assert_eq!(refused.status(), 400);
    assert_eq!(violated_rules(&refused.json().await?), ["not_breached"]);
    assert_eq!(server.requests().len(), 1, "{:?}", server.requests());
    server.stop().await;

    let lines_before = std::fs::read_to_string(&watch_log)?.lines().count();
    let done = complete(BREACHED).await?;
    assert_eq!(done.status(), 200, "fail open: the change goes on");
    assert!(signs_in(&app, &user.username, BREACHED).await?);
    // Both lines are written before the answer; the log pipe may lag a moment. The warning
    // names this test's account (other tests' changes fail open too while no server listens);
    // the metric line follows it from the same invocation.
    let (mut warned, mut counted) = (false, false);
    for _ in 0..50 {
        let log = std::fs::read_to_string(&watch_log)?;
        let entries: Vec<Value> = log
            .lines()
            .skip(lines_before)
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        warned = entries.iter().any(|entry| {
            entry["fields"]["username"] == user.username.as_str()
                && entry["fields"]["reason"] == "unreachable"
                && entry["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("breached-password check unavailable"))
        });
        counted = entries
            .iter()
            .any(|doc| doc["BreachCheckUnavailable"].as_u64() == Some(1));
        if warned && counted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(warned, "no fail-open warning for {} in {watch_log}", user.username);
    assert!(counted, "no BreachCheckUnavailable=1 metric line in {watch_log}");
    Ok(())
}
