//! The checks of a new release before any traffic reaches it.
//!
//! Each check invokes one function's new version directly, with the event its trigger would
//! send (an API Gateway HTTP API payload 2.0 event, or an SQS batch), and reads the answer the
//! way a person or the queue would: the request form, the "mail sent" page for an unknown
//! username no sooner than the response floor, the invalid-link page for a malformed link on
//! both steps that take one, the address-change form, and a queued reset job that send-mail
//! takes without a batch-item failure.
//!
//! This module knows nothing of CodeDeploy: it answers a [`Verdict`]. How the functions are
//! reached is the [`FunctionInvoker`] port (the Lambda Invoke API in the cloud and against
//! `cargo lambda watch` locally, a scripted fake in the unit tests).
//!
//! What a check leaves behind is what any stranger's request leaves: one request counted under a
//! random client address from the documentation range (2001:db8::/32), so no real client's
//! budget is spent, and one reset job for a random unknown username, which send-mail drops
//! without mail (a ledger item and counters with TTL).

use async_trait::async_trait;
use base64::Engine;
use reset_core::config::{ConfigError, Settings, Variables};
use reset_core::domain::{ClientIpSource, Clock, Language, MailJob, SystemClock, Username};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The variables naming what the hook invokes, one per function it checks: in the cloud each is
/// the new version's ARN (`!Ref <Function>.Version`), locally the function's name under
/// `cargo lambda watch`.
pub const TARGET_VARIABLES: [&str; 5] = [
    "REQUEST_RESET_VERSION",
    "VERIFY_TOKEN_VERSION",
    "CHANGE_PASSWORD_VERSION",
    "ADDRESS_CHANGE_VERSION",
    "SEND_MAIL_VERSION",
];

/// What the hook invokes: a function name, or a version-qualified ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    pub request_reset: String,
    pub verify_token: String,
    pub change_password: String,
    pub address_change: String,
    pub send_mail: String,
}

impl Targets {
    /// Reads [`TARGET_VARIABLES`] through the workspace's one settings reader; each is required
    /// (the template names every new version the hook checks).
    pub fn read(vars: &Variables<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            request_reset: vars.required(TARGET_VARIABLES[0])?,
            verify_token: vars.required(TARGET_VARIABLES[1])?,
            change_password: vars.required(TARGET_VARIABLES[2])?,
            address_change: vars.required(TARGET_VARIABLES[3])?,
            send_mail: vars.required(TARGET_VARIABLES[4])?,
        })
    }

    /// The functions under the names `cargo lambda watch` serves them by.
    pub fn local() -> Self {
        Self {
            request_reset: "request-reset".into(),
            verify_token: "verify-token".into(),
            change_password: "change-password".into(),
            address_change: "address-change".into(),
            send_mail: "send-mail".into(),
        }
    }
}

/// Why an invocation gave no answer to read.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The Invoke call itself failed: no such function or version, no permission, the endpoint
    /// unreachable, a timeout.
    #[error("the invoke call failed: {0}")]
    Call(String),
    /// The function ran and failed (Lambda's `X-Amz-Function-Error`): a panic that escaped, a
    /// runtime error, a timeout inside the function.
    #[error("the function failed ({kind}): {detail}")]
    Function { kind: String, detail: String },
}

/// How the checks reach a function: one synchronous invocation, its answer's payload.
#[async_trait]
pub trait FunctionInvoker: Send + Sync {
    async fn invoke(&self, function: &str, payload: Vec<u8>) -> Result<Vec<u8>, InvokeError>;
}

/// What a request of the checks looks like from outside: the settings the functions themselves
/// read, so the hook's requests pass the same origin, client-address and secret rules as a
/// browser's behind the real front door.
#[derive(Clone)]
pub struct Probe {
    pub public_base_url: String,
    pub floor: Duration,
    pub client_ip_source: ClientIpSource,
    /// Sent as `X-Origin-Verify`, never logged.
    pub origin_secret: Option<String>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("public_base_url", &self.public_base_url)
            .field("floor", &self.floor)
            .field("client_ip_source", &self.client_ip_source)
            .field("origin_secret", &self.origin_secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Probe {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            public_base_url: settings.public_base_url.trim_end_matches('/').to_owned(),
            floor: settings.request_min_response,
            client_ip_source: settings.client_ip_source,
            origin_secret: settings.origin_verify_secret.clone(),
        }
    }

    fn host(&self) -> &str {
        let without_scheme = self
            .public_base_url
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or(&self.public_base_url);
        without_scheme.split('/').next().unwrap_or(without_scheme)
    }
}

/// One check's result.
#[derive(Debug)]
pub struct CheckOutcome {
    pub check: &'static str,
    /// The target the check invoked (a function name or a version ARN).
    pub target: String,
    pub took: Duration,
    pub result: Result<(), CheckFailure>,
}

/// Why a check failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckFailure {
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    #[error("the answer is not an API Gateway v2 response: {0}")]
    UnreadableAnswer(String),
    #[error("answered {got}, expected {expected}")]
    Status { expected: u16, got: u16 },
    #[error("answered content-type {got:?}, expected {expected}")]
    ContentType { expected: &'static str, got: String },
    #[error("the page lacks {0:?}")]
    MissingText(String),
    #[error("answered in {took_ms} ms, under the {floor_ms} ms floor: the floor is not applied")]
    UnderFloor { floor_ms: u128, took_ms: u128 },
    #[error("send-mail reported {0} batch-item failure(s)")]
    BatchItemFailures(usize),
    #[error("the check could not be prepared: {0}")]
    Preparation(String),
}

/// Every check's outcome, in a fixed order.
#[derive(Debug)]
pub struct Verdict {
    pub outcomes: Vec<CheckOutcome>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        !self.outcomes.is_empty() && self.outcomes.iter().all(|o| o.result.is_ok())
    }

    pub fn failures(&self) -> impl Iterator<Item = &CheckOutcome> {
        self.outcomes.iter().filter(|o| o.result.is_err())
    }
}

/// The names of the checks, as they appear in the log and in [`CheckOutcome::check`].
pub const CHECKS: [&str; 6] = [
    "request form",
    "unknown username gets the mail-sent page at the floor",
    "malformed link gets the invalid-link page",
    "change with a malformed link gets the invalid-link page",
    "address-change form",
    "queued reset job is accepted",
];

/// Runs every check at once (each function is its own Lambda, so they do not queue behind each
/// other) and answers their outcomes.
pub async fn run_checks(invoker: &dyn FunctionInvoker, targets: &Targets, probe: &Probe) -> Verdict {
    let run = match RunIdentity::generate() {
        Ok(run) => run,
        Err(error) => {
            return Verdict {
                outcomes: CHECKS
                    .iter()
                    .map(|check| CheckOutcome {
                        check,
                        target: String::new(),
                        took: Duration::ZERO,
                        result: Err(CheckFailure::Preparation(error.clone())),
                    })
                    .collect(),
            }
        }
    };
    let requests = Requests { probe, run: &run };
    let (form, unknown, link, change, address, job) = tokio::join!(
        timed(
            CHECKS[0],
            &targets.request_reset,
            request_form(invoker, &targets.request_reset, &requests)
        ),
        timed(
            CHECKS[1],
            &targets.request_reset,
            unknown_username(invoker, &targets.request_reset, &requests)
        ),
        timed(
            CHECKS[2],
            &targets.verify_token,
            malformed_link(invoker, &targets.verify_token, &requests)
        ),
        timed(
            CHECKS[3],
            &targets.change_password,
            change_with_malformed_link(invoker, &targets.change_password, &requests)
        ),
        timed(
            CHECKS[4],
            &targets.address_change,
            address_form(invoker, &targets.address_change, &requests)
        ),
        timed(
            CHECKS[5],
            &targets.send_mail,
            queued_job(invoker, &targets.send_mail, &run)
        ),
    );
    Verdict {
        outcomes: vec![form, unknown, link, change, address, job],
    }
}

async fn timed(
    check: &'static str,
    target: &str,
    future: impl std::future::Future<Output = Result<(), CheckFailure>>,
) -> CheckOutcome {
    let started = Instant::now();
    let result = future.await;
    CheckOutcome {
        check,
        target: target.to_owned(),
        took: started.elapsed(),
        result,
    }
}

/// Random per run: an unknown username and a client address of the documentation range.
struct RunIdentity {
    username: Username,
    client_ip: String,
}

impl RunIdentity {
    fn generate() -> Result<Self, String> {
        let mut bytes = [0u8; 12];
        getrandom::fill(&mut bytes).map_err(|e| format!("the OS random source failed: {e}"))?;
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let name: String = bytes[..8]
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
            .collect();
        // 36^8 names: a real account drawn by chance would get one reset mail, nothing more.
        let username = Username::parse(&name).map_err(|e| format!("generated username refused: {e}"))?;
        let client_ip = format!(
            "2001:db8:{:x}:{:x}::1",
            u16::from_be_bytes([bytes[8], bytes[9]]),
            u16::from_be_bytes([bytes[10], bytes[11]])
        );
        Ok(Self { username, client_ip })
    }
}

/// Builds the HTTP API events of one run.
struct Requests<'a> {
    probe: &'a Probe,
    run: &'a RunIdentity,
}

impl Requests<'_> {
    /// An API Gateway HTTP API (payload 2.0) event, as the API would send it for `route`.
    fn event(&self, route: &str, query: &str, form_body: Option<&str>) -> Value {
        let (method, path) = route.split_once(' ').unwrap_or(("GET", route));
        let host = self.probe.host();
        let mut headers = json!({
            "accept": "text/html",
            "accept-language": "ja",
            "host": host,
            "user-agent": "password-reset-pre-traffic-hook",
            "x-forwarded-for": self.run.client_ip,
            "x-forwarded-proto": "https",
        });
        if form_body.is_some() {
            headers["content-type"] = json!("application/x-www-form-urlencoded");
            headers["origin"] = json!(self.probe.public_base_url);
            headers["sec-fetch-site"] = json!("same-origin");
        }
        if self.probe.client_ip_source == ClientIpSource::CloudFrontViewerAddress {
            headers["cloudfront-viewer-address"] = json!(format!("[{}]:443", self.run.client_ip));
        }
        if let Some(secret) = &self.probe.origin_secret {
            headers["x-origin-verify"] = json!(secret);
        }
        let now_ms = SystemClock.now().as_millis();
        let query_parameters: serde_json::Map<String, Value> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), json!(v)))
            .collect();
        let mut event = json!({
            "version": "2.0",
            "routeKey": route,
            "rawPath": path,
            "rawQueryString": query,
            "headers": headers,
            "requestContext": {
                "accountId": "anonymous",
                "apiId": "pre-traffic",
                "domainName": host,
                "http": {
                    "method": method,
                    "path": path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": self.run.client_ip,
                    "userAgent": "password-reset-pre-traffic-hook",
                },
                "requestId": format!("pre-traffic-{}", self.run.username),
                "routeKey": route,
                "stage": "$default",
                "timeEpoch": now_ms,
            },
            "isBase64Encoded": false,
        });
        if !query_parameters.is_empty() {
            event["queryStringParameters"] = Value::Object(query_parameters);
        }
        if let Some(body) = form_body {
            event["body"] = json!(body);
        }
        event
    }
}

/// What a lambda_http function answers (API Gateway v2 response).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpAnswer {
    status_code: u16,
    #[serde(default)]
    headers: HashMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: bool,
}

impl HttpAnswer {
    fn body(&self) -> Result<String, CheckFailure> {
        let body = self.body.clone().unwrap_or_default();
        if !self.is_base64_encoded {
            return Ok(body);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| CheckFailure::UnreadableAnswer(format!("body not base64: {e}")))?;
        String::from_utf8(bytes).map_err(|e| CheckFailure::UnreadableAnswer(format!("body not UTF-8: {e}")))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The answer is a page with this status that says `text`.
    fn expect_page(&self, status: u16, text: &str) -> Result<(), CheckFailure> {
        if self.status_code != status {
            return Err(CheckFailure::Status {
                expected: status,
                got: self.status_code,
            });
        }
        let content_type = self.header("content-type").unwrap_or_default();
        if !content_type.starts_with("text/html") {
            return Err(CheckFailure::ContentType {
                expected: "text/html",
                got: content_type.to_owned(),
            });
        }
        if !self.body()?.contains(text) {
            return Err(CheckFailure::MissingText(text.to_owned()));
        }
        Ok(())
    }
}

async fn invoke_http(invoker: &dyn FunctionInvoker, target: &str, event: &Value) -> Result<HttpAnswer, CheckFailure> {
    let payload = serde_json::to_vec(event).map_err(|e| CheckFailure::Preparation(e.to_string()))?;
    let answer = invoker.invoke(target, payload).await?;
    serde_json::from_slice(&answer).map_err(|e| CheckFailure::UnreadableAnswer(e.to_string()))
}

fn words() -> &'static reset_core::lang::Words {
    reset_core::lang::words(Language::Ja)
}

async fn request_form(
    invoker: &dyn FunctionInvoker,
    target: &str,
    requests: &Requests<'_>,
) -> Result<(), CheckFailure> {
    let answer = invoke_http(invoker, target, &requests.event("GET /password-reset", "", None)).await?;
    answer.expect_page(200, words().pages.request_title)?;
    answer.expect_page(200, "name=\"username\"")
}

async fn unknown_username(
    invoker: &dyn FunctionInvoker,
    target: &str,
    requests: &Requests<'_>,
) -> Result<(), CheckFailure> {
    let body = format!("username={}", requests.run.username);
    let event = requests.event("POST /password-reset", "", Some(&body));
    let started = Instant::now();
    let answer = invoke_http(invoker, target, &event).await?;
    let took = started.elapsed();
    answer.expect_page(200, words().pages.sent_title)?;
    if took < requests.probe.floor {
        return Err(CheckFailure::UnderFloor {
            floor_ms: requests.probe.floor.as_millis(),
            took_ms: took.as_millis(),
        });
    }
    Ok(())
}

/// Not a token at all: the link check refuses it before reading any table.
const MALFORMED_TOKEN: &str = "not-a-token";

async fn malformed_link(
    invoker: &dyn FunctionInvoker,
    target: &str,
    requests: &Requests<'_>,
) -> Result<(), CheckFailure> {
    let query = format!("token={MALFORMED_TOKEN}");
    let event = requests.event("GET /password-reset/confirm", &query, None);
    let answer = invoke_http(invoker, target, &event).await?;
    answer.expect_page(400, words().pages.invalid_title)
}

async fn change_with_malformed_link(
    invoker: &dyn FunctionInvoker,
    target: &str,
    requests: &Requests<'_>,
) -> Result<(), CheckFailure> {
    let body =
        format!("token={MALFORMED_TOKEN}&new_password=Pretraffic2026x&new_password_confirmation=Pretraffic2026x");
    let event = requests.event("POST /password-reset/complete", "", Some(&body));
    let answer = invoke_http(invoker, target, &event).await?;
    answer.expect_page(400, words().pages.invalid_title)
}

async fn address_form(
    invoker: &dyn FunctionInvoker,
    target: &str,
    requests: &Requests<'_>,
) -> Result<(), CheckFailure> {
    let event = requests.event("GET /password-reset/address-change", "", None);
    let answer = invoke_http(invoker, target, &event).await?;
    answer.expect_page(200, words().address_pages.form_title)
}

/// send-mail's partial batch response.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchResponse {
    #[serde(default)]
    batch_item_failures: Vec<Value>,
}

/// A reset job for the run's unknown username, as the queue would deliver it: send-mail looks
/// the account up, finds none, records the job as done and sends nothing.
async fn queued_job(invoker: &dyn FunctionInvoker, target: &str, run: &RunIdentity) -> Result<(), CheckFailure> {
    let now = SystemClock.now();
    let job =
        MailJob::reset_link(run.username.clone(), now, 600).map_err(|e| CheckFailure::Preparation(e.to_string()))?;
    let body = job.to_message().map_err(|e| CheckFailure::Preparation(e.to_string()))?;
    let event = json!({
        "Records": [{
            "messageId": format!("pre-traffic-{}", job.job_id),
            "body": body,
            "attributes": { "ApproximateReceiveCount": "1" },
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "awsRegion": "",
            "eventSourceARN": "",
        }]
    });
    let payload = serde_json::to_vec(&event).map_err(|e| CheckFailure::Preparation(e.to_string()))?;
    let answer = invoker.invoke(target, payload).await?;
    let response: BatchResponse =
        serde_json::from_slice(&answer).map_err(|e| CheckFailure::UnreadableAnswer(e.to_string()))?;
    if !response.batch_item_failures.is_empty() {
        return Err(CheckFailure::BatchItemFailures(response.batch_item_failures.len()));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests;
