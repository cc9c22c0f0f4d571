//! The checks against a scripted invoker: what a healthy release answers passes, and each way a
//! release can be wrong fails the check that looks at it (and only that one).

use super::*;
use std::sync::Mutex;

pub(crate) const FLOOR: Duration = Duration::from_millis(30);

pub(crate) fn probe() -> Probe {
    Probe {
        public_base_url: "https://id.example.jp".into(),
        floor: FLOOR,
        client_ip_source: ClientIpSource::SourceIp,
        origin_secret: None,
    }
}

/// What one scripted function answers; the default is a healthy release.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Fault {
    None,
    /// The invoke call fails (no such version, unreachable).
    Unreachable,
    /// The function fails (Lambda's function error).
    FunctionError,
    /// A 503 page (a dependency down).
    ServiceUnavailable,
    /// The request answers at once, without the floor.
    NoFloor,
    /// The page answers 200 where an invalid link should be refused.
    AcceptsGarbage,
    /// send-mail reports the job as failed.
    BatchFailure,
}

/// A release scripted per target; records every event it was sent.
pub(crate) struct ScriptedRelease {
    pub faults: HashMap<String, Fault>,
    pub seen: Mutex<Vec<(String, Value)>>,
}

impl ScriptedRelease {
    pub(crate) fn healthy() -> Self {
        Self {
            faults: HashMap::new(),
            seen: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn with(target: &str, fault: Fault) -> Self {
        let mut release = Self::healthy();
        release.faults.insert(target.to_owned(), fault);
        release
    }
}

fn page(status: u16, text: &str) -> Vec<u8> {
    json!({
        "statusCode": status,
        "headers": { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
        "body": format!("<html><body><h1>{text}</h1><input name=\"username\"></body></html>"),
        "isBase64Encoded": false,
    })
    .to_string()
    .into_bytes()
}

#[async_trait]
impl FunctionInvoker for ScriptedRelease {
    async fn invoke(&self, function: &str, payload: Vec<u8>) -> Result<Vec<u8>, InvokeError> {
        let event: Value = serde_json::from_slice(&payload).map_err(|e| InvokeError::Call(e.to_string()))?;
        if let Ok(mut seen) = self.seen.lock() {
            seen.push((function.to_owned(), event.clone()));
        }
        let fault = self.faults.get(function).copied().unwrap_or(Fault::None);
        match fault {
            Fault::Unreachable => return Err(InvokeError::Call("connection refused".into())),
            Fault::FunctionError => {
                return Err(InvokeError::Function {
                    kind: "Unhandled".into(),
                    detail: "{\"errorType\":\"panic\"}".into(),
                })
            }
            Fault::ServiceUnavailable => return Ok(page(503, "一時的に利用できません")),
            _ => {}
        }
        if event.get("Records").is_some() {
            let failures = if fault == Fault::BatchFailure {
                json!([{ "itemIdentifier": "m1" }])
            } else {
                json!([])
            };
            return Ok(json!({ "batchItemFailures": failures }).to_string().into_bytes());
        }
        let words = reset_core::lang::words(Language::Ja);
        let answer = match event["routeKey"].as_str().unwrap_or_default() {
            "GET /password-reset" => page(200, words.pages.request_title),
            "POST /password-reset" => {
                if fault != Fault::NoFloor {
                    tokio::time::sleep(FLOOR + Duration::from_millis(5)).await;
                }
                page(200, words.pages.sent_title)
            }
            "GET /password-reset/confirm" | "POST /password-reset/complete" => {
                if fault == Fault::AcceptsGarbage {
                    page(200, "パスワードをリセットしますか？")
                } else {
                    page(400, words.pages.invalid_title)
                }
            }
            "GET /password-reset/address-change" => page(200, words.address_pages.form_title),
            other => page(404, other),
        };
        Ok(answer)
    }
}

fn outcome<'a>(verdict: &'a Verdict, check: &str) -> &'a CheckOutcome {
    verdict
        .outcomes
        .iter()
        .find(|o| o.check == check)
        .unwrap_or_else(|| panic!("no outcome for {check}"))
}

fn failed_checks(verdict: &Verdict) -> Vec<&'static str> {
    verdict.failures().map(|o| o.check).collect()
}

#[tokio::test]
async fn a_healthy_release_passes_every_check() {
    let release = ScriptedRelease::healthy();
    let verdict = run_checks(&release, &Targets::local(), &probe()).await;
    assert!(verdict.passed(), "{verdict:?}");
    assert_eq!(verdict.outcomes.len(), CHECKS.len());
    let seen = release.seen.lock().map(|s| s.len()).unwrap_or(0);
    assert_eq!(seen, CHECKS.len(), "one invocation per check");
}

#[tokio::test]
async fn an_unreachable_function_fails_its_checks_only() {
    let release = ScriptedRelease::with("verify-token", Fault::Unreachable);
    let verdict = run_checks(&release, &Targets::local(), &probe()).await;
    assert!(!verdict.passed());
    assert_eq!(failed_checks(&verdict), vec![CHECKS[2]]);
    assert!(matches!(
        outcome(&verdict, CHECKS[2]).result,
        Err(CheckFailure::Invoke(InvokeError::Call(_)))
    ));
}

#[tokio::test]
async fn a_function_error_fails() {
    let release = ScriptedRelease::with("address-change", Fault::FunctionError);
    let verdict = run_checks(&release, &Targets::local(), &probe()).await;
    assert_eq!(failed_checks(&verdict), vec![CHECKS[4]]);
}

#[tokio::test]
async fn a_503_from_request_reset_fails_both_of_its_checks() {
    let release = ScriptedRelease::with("request-reset", Fault::ServiceUnavailable);
    let verdict = run_checks(&release, &Targets::local(), &probe()).await;
    assert_eq!(failed_checks(&verdict), vec![CHECKS[0], CHECKS[1]]);
    assert!(matches!(
        outcome(&verdict, CHECKS[1]).result,
        Err(CheckFailure::Status {
            expected: 200,
            got: 503
        })
    ));
}

#[tokio::test]
async fn an_answer_under_the_floor_fails() {
    let release = ScriptedRelease::with("request-reset", Fault::NoFloor);
    let verdict = run_checks(&release, &Targets::local(), &probe()).await;
    assert_eq!(failed_checks(&verdict), vec![CHECKS[1]]);
    assert!(matches!(
        outcome(&verdict, CHECKS[1]).result,
        Err(CheckFailure::UnderFloor { .. })
    ));
}

#[tokio::test]
async fn accepting_a_malformed_link_fails() {
    let release = ScriptedRelease::with("change-password", Fault::AcceptsGarbage);
    let verdict = run_checks(&release, &Targets::local(), &probe()).await;
    assert_eq!(failed_checks(&verdict), vec![CHECKS[3]]);
}

#[tokio::test]
async fn a_batch_item_failure_fails() {
    let release = ScriptedRelease::with("send-mail", Fault::BatchFailure);
    let verdict = run_checks(&release, &Targets::local(), &probe()).await;
    assert_eq!(failed_checks(&verdict), vec![CHECKS[5]]);
    assert!(matches!(
        outcome(&verdict, CHECKS[5]).result,
        Err(CheckFailure::BatchItemFailures(1))
    ));
}

#[tokio::test]
async fn the_events_pass_the_front_door_rules_and_carry_no_known_account() {
    let release = ScriptedRelease::healthy();
    let probe = Probe {
        client_ip_source: ClientIpSource::CloudFrontViewerAddress,
        origin_secret: Some("origin-secret-42".into()),
        ..probe()
    };
    run_checks(&release, &Targets::local(), &probe).await;
    let seen = release.seen.lock().map(|s| s.clone()).unwrap_or_default();
    let post = seen
        .iter()
        .find(|(_, e)| e["routeKey"] == json!("POST /password-reset"))
        .map(|(_, e)| e.clone())
        .unwrap_or_default();
    assert_eq!(post["headers"]["origin"], json!("https://id.example.jp"));
    assert_eq!(post["headers"]["host"], json!("id.example.jp"));
    assert_eq!(post["headers"]["x-origin-verify"], json!("origin-secret-42"));
    let viewer = post["headers"]["cloudfront-viewer-address"]
        .as_str()
        .unwrap_or_default();
    assert!(
        viewer.starts_with("[2001:db8:") && viewer.ends_with("]:443"),
        "{viewer}"
    );
    let source_ip = post["requestContext"]["http"]["sourceIp"].as_str().unwrap_or_default();
    assert!(source_ip.starts_with("2001:db8:"), "documentation range: {source_ip}");
    let username = post["body"]
        .as_str()
        .and_then(|b| b.strip_prefix("username="))
        .unwrap_or_default();
    assert!(Username::parse(username).is_ok(), "{username}");

    // The queued job is for the same unknown username, and a reset-link job.
    let job = seen
        .iter()
        .find(|(f, _)| f == "send-mail")
        .and_then(|(_, e)| e["Records"][0]["body"].as_str().map(MailJob::from_message))
        .and_then(Result::ok);
    let job = job.unwrap_or_else(|| panic!("no readable job sent to send-mail"));
    assert_eq!(job.mail.kind(), "reset_link");
    assert_eq!(job.mail.username().as_str(), username);

    // Two runs draw different usernames and addresses.
    let again = ScriptedRelease::healthy();
    run_checks(&again, &Targets::local(), &probe).await;
    let other = again
        .seen
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default()
        .into_iter()
        .find(|(_, e)| e["routeKey"] == json!("POST /password-reset"))
        .map(|(_, e)| e)
        .unwrap_or_default();
    assert_ne!(other["body"], post["body"]);
    assert_ne!(other["requestContext"]["http"]["sourceIp"], json!(source_ip));
}

#[test]
fn the_secret_stays_out_of_debug() {
    let probe = Probe {
        origin_secret: Some("origin-secret-42".into()),
        ..probe()
    };
    let debug = format!("{probe:?}");
    assert!(!debug.contains("origin-secret-42"), "{debug}");
    assert!(debug.contains("<redacted>"));
}

#[test]
fn targets_come_from_their_variables_and_each_is_required() {
    let values: HashMap<&str, &str> = TARGET_VARIABLES
        .iter()
        .map(|v| (*v, "arn:aws:lambda:ap-northeast-1:123456789012:function:f:7"))
        .collect();
    let targets = Targets::read(&Variables::new(|name| values.get(name).map(|v| v.to_string())));
    assert!(
        matches!(targets, Ok(ref t) if t.send_mail.ends_with(":7")),
        "{targets:?}"
    );
    for missing in TARGET_VARIABLES {
        let result = Targets::read(&Variables::new(|name| {
            (name != missing)
                .then(|| values.get(name).map(|v| v.to_string()))
                .flatten()
        }));
        assert!(matches!(result, Err(ConfigError::Missing(name)) if name == missing));
    }
}

#[test]
fn a_base64_answer_is_read() {
    let answer = HttpAnswer {
        status_code: 200,
        headers: HashMap::from([("Content-Type".to_owned(), "text/html".to_owned())]),
        body: Some(base64::engine::general_purpose::STANDARD.encode("<h1>ok</h1>")),
        is_base64_encoded: true,
    };
    assert!(answer.expect_page(200, "<h1>ok</h1>").is_ok());
    assert!(matches!(
        answer.expect_page(200, "missing"),
        Err(CheckFailure::MissingText(_))
    ));
}
