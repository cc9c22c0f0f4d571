//! The runtime part of `make bench`: cold starts and a warm run of each function process
//! against the local stack, with real API Gateway v2 events and reset links minted through the
//! real request path.

use crate::runtime_api::{FunctionSpec, Instance, Invoked, FUNCTION_TIMEOUT};
use crate::sqs::{self, Queue};
use crate::stats::Summary;
use crate::wave::{self, Wave, WaveResult};
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Passed to the functions besides the variables named in the config file (`scripts/local.env`):
/// the SDK's standard endpoint variables of a local run, the queue URLs the scripts derive from
/// moto's address, and settings a newer function may read before local.env names them.
const ALSO_PASSED: [&str; 8] = [
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SESV2",
    "AWS_ENDPOINT_URL_SQS",
    "MAIL_QUEUE_URL",
    "MAIL_DEAD_LETTER_QUEUE_URL",
    "MAIL_JOBS_TABLE",
    "AUDIT_LOG_TABLE",
    "METRICS_NAMESPACE",
];
/// Names in the config file that are for the scripts, not the functions, or that Lambda sets
/// itself (the execution role's credentials). (`MAIL_SEND_CONCURRENCY` once was a script's; since
/// the pacer, send-mail requires it as the template sets it.)
const NOT_PASSED: [&str; 9] = [
    "DYNAMODB_PORT",
    "SES_PORT",
    "MOTO_PORT",
    "WATCH_PORT",
    "MAIL_QUEUE_NAME",
    "MAIL_DEAD_LETTER_QUEUE_NAME",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_EC2_METADATA_DISABLED",
];
/// send-mail's timeout in the template (its invocations get this deadline).
const SEND_MAIL_TIMEOUT: Duration = Duration::from_secs(30);
/// The response-time floor of reset requests (`reset_core::config`): the main run sets it to 0
/// so durations show the work; a separate check runs with the configured floor.
const FLOOR_VARIABLE: &str = "REQUEST_MIN_RESPONSE_MS";
/// send-mail's pace (`SES_MAX_SEND_RATE`, mails per second shared by `MAIL_SEND_CONCURRENCY`
/// instances). The main run measures what a job costs, so it sets a rate whose slots (20 µs
/// apart) never hold a job back; the wave sets the rate it is asked for.
pub const RATE_VARIABLE: &str = "SES_MAX_SEND_RATE";
const UNPACED_RATE: &str = "100000";

/// The names a `KEY=value` env file sets.
fn names_in(env_file: &str) -> Vec<String> {
    env_file
        .lines()
        .filter_map(|line| line.trim().split_once('='))
        .map(|(name, _)| name.trim().to_owned())
        .filter(|name| {
            !name.is_empty()
                && !name.starts_with('#')
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect()
}

/// What the run is pointed at.
#[derive(Debug, Clone)]
pub struct Options {
    /// The env file whose variables (values from this process's environment) configure the
    /// functions, as for `make run`.
    pub config_env: PathBuf,
    /// Requests per kind of the check with the configured response-time floor.
    pub floor_check_requests: usize,
    /// Folder of the release binaries (`target/release`).
    pub bin_dir: PathBuf,
    /// The hello-world floor's binary.
    pub floor_binary: PathBuf,
    pub events_dir: PathBuf,
    /// The admin CLI that creates the users (`reset-admin`).
    pub admin: PathBuf,
    /// The SES v2 emulator (`http://127.0.0.1:<port>`).
    pub ses_url: String,
    /// The mail queue (moto's SQS) that request-reset and change-password write and send-mail
    /// is fed from.
    pub queue_url: String,
    pub logs_dir: PathBuf,
    pub cold_starts: usize,
    /// Users (and so reset links, confirmations and password changes) of the warm run.
    pub users: usize,
    pub hello_requests: usize,
    /// Extra `NAME=value` settings for the functions (experiments, e.g. allocator tunables).
    pub function_env: Vec<(String, String)>,
    /// The wave's size (0: no wave), rate and request-reset instances.
    pub wave: wave::Settings,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KindResult {
    pub count: usize,
    pub statuses: BTreeMap<u16, usize>,
    /// Function duration: event handed over → response received.
    pub latency_ms: Summary,
    /// CPU time of the process per request (all threads), `GET /next` to `GET /next`.
    pub cpu_ms: Summary,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ColdResult {
    pub runs: usize,
    /// Spawn → first `GET /next` (Lambda's "Init Duration").
    pub init_ms: Summary,
    /// CPU time used by the process during init.
    pub init_cpu_ms: Summary,
    /// `VmHWM` when the first `GET /next` arrived.
    pub init_peak_rss_mb: Summary,
    /// Duration of the first request after init (SDK clients connect lazily, here).
    pub first_request_ms: Summary,
    pub first_request_kind: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WarmResult {
    /// All requests the process served, warm-up included.
    pub requests: usize,
    /// `VmHWM` after the last request.
    pub peak_rss_mb: f64,
    /// `VmRSS` after the last request.
    pub rss_mb: f64,
    /// CPU time of the whole process (init included): scheduler clock and `utime + stime`.
    pub cpu_total_ms: f64,
    pub cpu_total_ms_from_stat: f64,
    /// `VmHWM` after the 1st, 10th, 100th, … request, to show growth.
    pub peak_rss_mb_after: BTreeMap<usize, f64>,
    /// Threads of the process after the last request.
    pub threads: usize,
    pub kinds: BTreeMap<String, KindResult>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FunctionResult {
    pub name: String,
    pub memory_mb: u32,
    pub binary_bytes: u64,
    pub cold: ColdResult,
    pub warm: WarmResult,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RuntimeReport {
    pub cold_starts: usize,
    pub users: usize,
    pub load_average_before: String,
    pub load_average_after: String,
    pub wall_seconds: f64,
    pub functions: Vec<FunctionResult>,
    /// request-reset with the configured response-time floor (the main run has none).
    pub floor_check: Option<FloorCheck>,
    /// 1,000 requests at once, mail at a set pace (absent from older reports).
    #[serde(default)]
    pub wave: Option<WaveResult>,
}

/// Known and unknown usernames as a client sees them, with the configured floor.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FloorCheck {
    /// `REQUEST_MIN_RESPONSE_MS` as configured (empty: the function's default).
    pub floor_ms: String,
    pub known: KindResult,
    pub unknown: KindResult,
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Tells apart the request ids of events made in the same millisecond (the wave's are).
static EVENT_SEQ: AtomicU64 = AtomicU64::new(0);

fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// The events of `events/`, made fresh for each request.
#[derive(Clone)]
pub struct Events {
    form_get: Value,
    submit: Value,
    confirm_open: Value,
    confirm_continue: Value,
    complete: Value,
    public_base_url: String,
}

fn set(value: &mut Value, path: &[&str], new: Value) {
    let mut here = value;
    for key in &path[..path.len() - 1] {
        let Some(next) = here.get_mut(*key) else { return };
        here = next;
    }
    if let (Some(map), Some(last)) = (here.as_object_mut(), path.last()) {
        map.insert((*last).to_owned(), new);
    }
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Events {
    fn load(dir: &Path, public_base_url: String) -> Result<Self> {
        let read = |name: &str| -> Result<Value> {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
        };
        Ok(Self {
            form_get: read("request-form-get.json")?,
            submit: read("request-submit.json")?,
            confirm_open: read("confirm-open.json")?,
            confirm_continue: read("confirm-continue.json")?,
            complete: read("complete-submit.json")?,
            public_base_url,
        })
    }

    /// A fresh copy: unique request id, current time, and an `Origin` (where the browser sends
    /// one) equal to the configured public base URL, as a same-origin form post has.
    fn fresh(&self, template: &Value) -> Value {
        let mut event = template.clone();
        set(
            &mut event,
            &["requestContext", "requestId"],
            json!(format!(
                "bench{}-{}",
                epoch_ms(),
                EVENT_SEQ.fetch_add(1, Ordering::Relaxed)
            )),
        );
        set(&mut event, &["requestContext", "timeEpoch"], json!(epoch_ms() as u64));
        if event.pointer("/headers/origin").is_some() {
            set(&mut event, &["headers", "origin"], json!(self.public_base_url));
        }
        event
    }

    fn with_form(&self, template: &Value, fields: &[(&str, &str)]) -> Value {
        let mut event = self.fresh(template);
        let body = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        set(
            &mut event,
            &["headers", "content-length"],
            json!(body.len().to_string()),
        );
        set(&mut event, &["body"], json!(body));
        event
    }

    fn form_get(&self) -> Value {
        self.fresh(&self.form_get)
    }

    pub fn submit(&self, username: &str) -> Value {
        self.with_form(&self.submit, &[("username", username)])
    }

    fn confirm_open(&self, token: &str) -> Value {
        let mut event = self.fresh(&self.confirm_open);
        set(&mut event, &["rawQueryString"], json!(format!("token={token}")));
        set(&mut event, &["queryStringParameters"], json!({ "token": token }));
        event
    }

    fn confirm_continue(&self, token: &str) -> Value {
        self.with_form(&self.confirm_continue, &[("token", token)])
    }

    fn complete(&self, token: &str, password: &str) -> Value {
        self.with_form(
            &self.complete,
            &[
                ("token", token),
                ("new_password", password),
                ("new_password_confirmation", password),
            ],
        )
    }
}

/// A token that has the shape of a real one but whose hash no table holds.
const UNKNOWN_TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn known_user(i: usize) -> String {
    format!("bk{i:06}")
}

fn unknown_user(i: usize) -> String {
    format!("bx{i:06}")
}

fn cold_user(i: usize) -> String {
    format!("bc{i:06}")
}

/// One warm process: every request, by kind.
struct Warm {
    instance: Instance,
    samples: BTreeMap<String, Vec<Invoked>>,
    requests: usize,
    hwm_after: BTreeMap<usize, f64>,
}

const HWM_CHECKPOINTS: [usize; 6] = [1, 2, 5, 10, 100, 300];

impl Warm {
    async fn start(spec: &FunctionSpec) -> Result<Self> {
        Ok(Self {
            instance: Instance::start(spec).await?,
            samples: BTreeMap::new(),
            requests: 0,
            hwm_after: BTreeMap::new(),
        })
    }

    /// Sends `event`, checks the status, and files the sample under `kind` (`None`: warm-up).
    async fn send(&mut self, kind: Option<&str>, event: &Value, expected: u16) -> Result<Invoked> {
        let invoked = self.instance.invoke(event).await?;
        self.requests += 1;
        if HWM_CHECKPOINTS.contains(&self.requests) {
            let (_, memory) = self.instance.stats()?;
            self.hwm_after.insert(self.requests, memory.hwm_kib as f64 / 1024.0);
        }
        if invoked.status != expected {
            let body: String = invoked
                .response
                .get("body")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .chars()
                .take(400)
                .collect();
            bail!(
                "{} answered {} instead of {expected}: {body}",
                kind.unwrap_or("warm-up request"),
                invoked.status
            );
        }
        if let Some(kind) = kind {
            let sample = Invoked {
                status: invoked.status,
                response: Value::Null,
                duration: invoked.duration,
                cpu: invoked.cpu,
            };
            self.samples.entry(kind.to_owned()).or_default().push(sample);
        }
        Ok(invoked)
    }

    /// Hands one queued job to send-mail as a batch of one (so each job is one measured
    /// invocation), checks it was done with, and deletes it from the queue as the event source
    /// mapping would.
    async fn deliver(&mut self, kind: Option<&str>, queue: &Queue, message: &sqs::Message) -> Result<()> {
        let invoked = self.instance.invoke(&sqs::event(std::slice::from_ref(message))).await?;
        self.requests += 1;
        if HWM_CHECKPOINTS.contains(&self.requests) {
            let (_, memory) = self.instance.stats()?;
            self.hwm_after.insert(self.requests, memory.hwm_kib as f64 / 1024.0);
        }
        if !sqs::batch_item_failures(&invoked.response).is_empty() {
            bail!(
                "send-mail did not finish a {} job (its log has why)",
                kind.unwrap_or("warm-up")
            );
        }
        queue.delete(message).await?;
        if let Some(kind) = kind {
            let sample = Invoked {
                status: invoked.status,
                response: Value::Null,
                duration: invoked.duration,
                cpu: invoked.cpu,
            };
            self.samples.entry(kind.to_owned()).or_default().push(sample);
        }
        Ok(())
    }

    fn finish(self) -> Result<WarmResult> {
        let (cpu, memory) = self.instance.stats()?;
        let threads = std::fs::read_dir(format!("/proc/{}/task", self.instance.pid))
            .map(|d| d.count())
            .unwrap_or(0);
        self.instance.stop();
        let kinds = self
            .samples
            .into_iter()
            .map(|(kind, samples)| {
                let mut statuses = BTreeMap::new();
                for s in &samples {
                    *statuses.entry(s.status).or_insert(0) += 1;
                }
                let latency: Vec<Duration> = samples.iter().map(|s| s.duration).collect();
                let cpu: Vec<Duration> = samples.iter().map(|s| s.cpu).collect();
                let result = KindResult {
                    count: samples.len(),
                    statuses,
                    latency_ms: Summary::of_durations_ms(&latency),
                    cpu_ms: Summary::of_durations_ms(&cpu),
                };
                (kind, result)
            })
            .collect();
        Ok(WarmResult {
            requests: self.requests,
            peak_rss_mb: memory.hwm_kib as f64 / 1024.0,
            rss_mb: memory.rss_kib as f64 / 1024.0,
            cpu_total_ms: cpu.precise.as_secs_f64() * 1e3,
            cpu_total_ms_from_stat: cpu.ticks.as_secs_f64() * 1e3,
            peak_rss_mb_after: self.hwm_after,
            threads,
            kinds,
        })
    }
}

/// The cold starts of one function.
#[derive(Default)]
struct ColdSamples {
    init: Vec<Duration>,
    init_cpu: Vec<Duration>,
    init_rss: Vec<f64>,
    first_request: Vec<Duration>,
}

impl ColdSamples {
    /// One cold start of `spec` followed by `first`, which must answer `expected`.
    async fn sample(&mut self, spec: &FunctionSpec, first: &Value, expected: u16) -> Result<()> {
        let invoked = self.sample_any(spec, first).await?;
        if invoked.status != expected {
            bail!(
                "{}: the first request after a cold start answered {} instead of {expected}",
                spec.name,
                invoked.status
            );
        }
        Ok(())
    }

    /// One cold start of send-mail with one message of the queue, which must be done with.
    async fn sample_job(&mut self, spec: &FunctionSpec, queue: &Queue) -> Result<()> {
        let message = receive_one(queue).await?;
        let invoked = self
            .sample_any(spec, &sqs::event(std::slice::from_ref(&message)))
            .await?;
        let failures = sqs::batch_item_failures(&invoked.response);
        if !failures.is_empty() {
            bail!("{}: the first job after a cold start was not done with", spec.name);
        }
        queue.delete(&message).await
    }

    async fn sample_any(&mut self, spec: &FunctionSpec, first: &Value) -> Result<Invoked> {
        let mut instance = Instance::start(spec).await?;
        self.init.push(instance.init);
        self.init_cpu.push(instance.init_cpu.precise);
        self.init_rss.push(instance.init_hwm_kib as f64 / 1024.0);
        let invoked = instance.invoke(first).await;
        instance.stop();
        let invoked = invoked?;
        self.first_request.push(invoked.duration);
        // Let the exit settle so the next start does not compete with the teardown.
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(invoked)
    }

    fn result(&self, kind: &str) -> ColdResult {
        ColdResult {
            runs: self.init.len(),
            init_ms: Summary::of_durations_ms(&self.init),
            init_cpu_ms: Summary::of_durations_ms(&self.init_cpu),
            init_peak_rss_mb: Summary::of(&self.init_rss),
            first_request_ms: Summary::of_durations_ms(&self.first_request),
            first_request_kind: kind.to_owned(),
        }
    }
}

fn function_spec(options: &Options, config: &BTreeMap<String, String>, name: &str, memory_mb: u32) -> FunctionSpec {
    FunctionSpec {
        name: name.to_owned(),
        binary: options.bin_dir.join(name),
        memory_mb,
        timeout: FUNCTION_TIMEOUT,
        config: config.clone(),
        log_file: options.logs_dir.join(format!("{name}.log")),
    }
}

/// Creates the warm run's users with the admin CLI, a few at a time.
fn create_users(admin: &Path, count: usize) -> Result<()> {
    const PARALLEL: usize = 4;
    let names: Vec<String> = (0..count).map(known_user).collect();
    for chunk in names.chunks(PARALLEL) {
        let children = chunk
            .iter()
            .map(|name| {
                Command::new(admin)
                    .args([
                        "user",
                        "create",
                        name,
                        "--email",
                        &format!("{name}@example.jp"),
                        "--if-missing",
                    ])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .with_context(|| format!("starting {}", admin.display()))
            })
            .collect::<Result<Vec<_>>>()?;
        for (child, name) in children.into_iter().zip(chunk) {
            let output = child.wait_with_output()?;
            if !output.status.success() {
                bail!(
                    "creating user {name} failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
            }
        }
    }
    Ok(())
}

/// One message of the queue, waiting a few seconds for it.
async fn receive_one(queue: &Queue) -> Result<sqs::Message> {
    for _ in 0..5 {
        if let Some(message) = queue.receive(1, 2).await?.pop() {
            return Ok(message);
        }
    }
    bail!("the mail queue stayed empty: request-reset queued nothing?")
}

/// What a queued job is for send-mail: a reset link for an account the bench created, one for a
/// username that does not exist, or a password-changed notice; `None` for the warm-up jobs.
fn job_kind(message: &sqs::Message) -> Option<&'static str> {
    match message.mail_kind().as_str() {
        "password_changed" => Some("notice_sent"),
        "reset_link" => {
            let user = message.username();
            if user.starts_with("bk") {
                Some("reset_link_sent")
            } else if user.starts_with("bx") {
                Some("reset_no_account")
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Feeds `expected` queued jobs to the warm send-mail, one per invocation.
async fn drain(warm: &mut Warm, queue: &Queue, expected: usize) -> Result<()> {
    let mut done = 0;
    let mut idle = 0;
    while done < expected {
        let batch = queue.receive(10, 1).await?;
        if batch.is_empty() {
            idle += 1;
            if idle >= 10 {
                bail!("the mail queue ran dry after {done} of {expected} jobs");
            }
            continue;
        }
        idle = 0;
        for message in &batch {
            warm.deliver(job_kind(message), queue, message).await?;
            done += 1;
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct Store {
    emails: Vec<StoredMail>,
}

/// One mail the SES emulator took.
#[derive(Deserialize)]
pub struct StoredMail {
    #[serde(rename = "messageId", default)]
    pub message_id: String,
    destination: Destination,
    #[serde(default)]
    body: MailBody,
}

impl StoredMail {
    /// The usernames of the recipients (the bench's addresses are `<username>@example.jp`).
    pub fn recipients(&self) -> impl Iterator<Item = &str> {
        self.destination.to.iter().filter_map(|to| {
            let address = to
                .rsplit_once('<')
                .map_or(to.as_str(), |(_, a)| a.trim_end_matches('>'));
            address.split_once('@').map(|(user, _)| user)
        })
    }
}

#[derive(Deserialize)]
struct Destination {
    #[serde(default)]
    to: Vec<String>,
}

#[derive(Deserialize, Default)]
struct MailBody {
    #[serde(default)]
    text: Option<String>,
}

/// The reset token in a mail's text: what follows `confirm?token=` up to the first character
/// that is not base64url.
fn token_in(text: &str) -> Option<String> {
    let start = text.find("confirm?token=")? + "confirm?token=".len();
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (token.len() == 43).then_some(token)
}

/// The newest reset link of every recipient in the SES emulator's store, by username.
async fn minted_tokens(client: &reqwest::Client, ses_url: &str) -> Result<BTreeMap<String, String>> {
    let mut tokens = BTreeMap::new();
    for mail in stored_mails(client, ses_url).await? {
        let Some(token) = mail.body.text.as_deref().and_then(token_in) else {
            continue;
        };
        for user in mail.recipients() {
            tokens.insert(user.to_owned(), token.clone());
        }
    }
    Ok(tokens)
}

/// Every mail in the SES emulator's store, oldest first.
pub async fn stored_mails(client: &reqwest::Client, ses_url: &str) -> Result<Vec<StoredMail>> {
    let store: Store = client
        .get(format!("{ses_url}/store"))
        .send()
        .await
        .context("reading the SES emulator's store")?
        .error_for_status()?
        .json()
        .await
        .context("parsing the SES emulator's store")?;
    Ok(store.emails)
}

/// Empties the SES emulator's store.
pub async fn clear_store(client: &reqwest::Client, ses_url: &str) -> Result<()> {
    client
        .post(format!("{ses_url}/clear-store"))
        .send()
        .await
        .context("clearing the SES emulator's store")?
        .error_for_status()?;
    Ok(())
}

/// The functions' environment: the variables the config file names (and [`ALSO_PASSED`], less
/// [`NOT_PASSED`]) with this process's values, then `--function-env`; the response-time floor
/// set to 0, its configured value returned beside.
fn function_config(options: &Options) -> Result<(BTreeMap<String, String>, Option<String>)> {
    let env_file = std::fs::read_to_string(&options.config_env)
        .with_context(|| format!("reading {}", options.config_env.display()))?;
    let mut config: BTreeMap<String, String> = names_in(&env_file)
        .into_iter()
        .chain(ALSO_PASSED.iter().map(|n| (*n).to_owned()))
        .filter(|name| !NOT_PASSED.contains(&name.as_str()))
        .filter_map(|name| std::env::var(&name).ok().map(|v| (name, v)))
        .collect();
    config.extend(options.function_env.iter().cloned());
    let configured_floor = config.remove(FLOOR_VARIABLE);
    config.insert(FLOOR_VARIABLE.to_owned(), "0".to_owned());
    Ok((config, configured_floor))
}

/// The five functions of the run: the floor, the three HTTP functions and send-mail.
struct Specs {
    hello: FunctionSpec,
    request_reset: FunctionSpec,
    verify_token: FunctionSpec,
    change_password: FunctionSpec,
    send_mail: FunctionSpec,
}

impl Specs {
    fn new(options: &Options, config: &BTreeMap<String, String>) -> Self {
        Self {
            hello: FunctionSpec {
                binary: options.floor_binary.clone(),
                ..function_spec(options, &BTreeMap::new(), "hello-lambda", 128)
            },
            request_reset: function_spec(options, config, "request-reset", 128),
            verify_token: function_spec(options, config, "verify-token", 128),
            change_password: function_spec(options, config, "change-password", 1024),
            send_mail: send_mail_spec(options, &with(config, RATE_VARIABLE, UNPACED_RATE), "send-mail.log"),
        }
    }
}

/// send-mail with `config`, its template timeout, logging to `log_name`.
fn send_mail_spec(options: &Options, config: &BTreeMap<String, String>, log_name: &str) -> FunctionSpec {
    FunctionSpec {
        timeout: SEND_MAIL_TIMEOUT,
        log_file: options.logs_dir.join(log_name),
        ..function_spec(options, config, "send-mail", 128)
    }
}

/// `config` with `name` set to `value`.
fn with(config: &BTreeMap<String, String>, name: &str, value: &str) -> BTreeMap<String, String> {
    let mut changed = config.clone();
    changed.insert(name.to_owned(), value.to_owned());
    changed
}

/// What every step of the run works with.
struct Scenario<'a> {
    options: &'a Options,
    config: BTreeMap<String, String>,
    /// `REQUEST_MIN_RESPONSE_MS` as configured (the main run sets it to 0).
    configured_floor: Option<String>,
    events: Events,
    client: reqwest::Client,
    specs: Specs,
    queue: Arc<Queue>,
}

impl<'a> Scenario<'a> {
    /// The functions' settings and events, an empty SES store, the warm run's users, the queue.
    async fn prepare(options: &'a Options) -> Result<Self> {
        std::fs::create_dir_all(&options.logs_dir)?;
        let (config, configured_floor) = function_config(options)?;
        let public_base_url = config
            .get("PUBLIC_BASE_URL")
            .cloned()
            .ok_or_else(|| anyhow!("PUBLIC_BASE_URL is not set (source scripts/local.env)"))?;
        let events = Events::load(&options.events_dir, public_base_url.trim_end_matches('/').to_owned())?;
        let client = reqwest::Client::new();
        clear_store(&client, &options.ses_url).await?;

        eprintln!("==> creating {} users with {}", options.users, options.admin.display());
        create_users(&options.admin, options.users)?;

        let specs = Specs::new(options, &config);
        let region = config
            .get("AWS_REGION")
            .cloned()
            .unwrap_or_else(|| "ap-northeast-1".to_owned());
        let queue = Arc::new(Queue::open(client.clone(), &options.queue_url, &region).await?);
        Ok(Self {
            options,
            config,
            configured_floor,
            events,
            client,
            specs,
            queue,
        })
    }

    /// Cold starts, round-robin over the functions so that a burst of load from elsewhere on
    /// the machine lands on all of them alike. The first request after each start needs no
    /// state: an unknown username, a token no table holds; send-mail's is the job request-reset
    /// has just queued (for that unknown username).
    async fn cold_starts(&self) -> Result<[ColdSamples; 5]> {
        let (specs, events) = (&self.specs, &self.events);
        let runs = self.options.cold_starts;
        eprintln!("==> {runs} cold starts of each function, round-robin");
        let mut cold: [ColdSamples; 5] = Default::default();
        for i in 0..runs {
            cold[0].sample(&specs.hello, &events.form_get(), 200).await?;
            cold[1]
                .sample(&specs.request_reset, &events.submit(&cold_user(i)), 200)
                .await?;
            cold[2]
                .sample(&specs.verify_token, &events.confirm_open(UNKNOWN_TOKEN), 400)
                .await?;
            cold[3]
                .sample(
                    &specs.change_password,
                    &events.complete(UNKNOWN_TOKEN, "Bench2026Kx"),
                    400,
                )
                .await?;
            cold[4].sample_job(&specs.send_mail, &self.queue).await?;
        }
        Ok(cold)
    }

    /// The floor.
    async fn warm_hello(&self) -> Result<WarmResult> {
        eprintln!("==> hello-lambda: {} requests", self.options.hello_requests);
        let mut warm = Warm::start(&self.specs.hello).await?;
        for _ in 0..self.options.hello_requests {
            warm.send(Some("hello"), &self.events.form_get(), 200).await?;
        }
        warm.finish()
    }

    /// request-reset: the submit of a known and of an unknown username, alternating.
    async fn warm_request_reset(&self) -> Result<WarmResult> {
        let (events, runs, users) = (&self.events, self.options.cold_starts, self.options.users);
        eprintln!("==> request-reset: {} requests", 2 * users + 4);
        let mut warm = Warm::start(&self.specs.request_reset).await?;
        warm.send(None, &events.form_get(), 200).await?;
        warm.send(None, &events.form_get(), 200).await?;
        warm.send(None, &events.submit(&cold_user(runs)), 200).await?;
        warm.send(None, &events.submit(&cold_user(runs + 1)), 200).await?;
        for i in 0..users {
            warm.send(Some("submit_known"), &events.submit(&known_user(i)), 200)
                .await?;
            warm.send(Some("submit_unknown"), &events.submit(&unknown_user(i)), 200)
                .await?;
        }
        warm.finish()
    }

    /// send-mail: the jobs request-reset queued (two warm-ups, then one per known and one per
    /// unknown username), one job per invocation, as a warm instance of the event source
    /// mapping would get them at low traffic. It mints the links. The instance stays up for
    /// the notices of [`Self::send_notices`].
    async fn send_reset_jobs(&self) -> Result<Warm> {
        let jobs = 2 * self.options.users + 2;
        eprintln!("==> send-mail: {jobs} queued reset jobs");
        let mut sender = Warm::start(&self.specs.send_mail).await?;
        drain(&mut sender, &self.queue, jobs).await?;
        Ok(sender)
    }

    /// The reset link minted for each known user, in order.
    async fn reset_tokens(&self) -> Result<Vec<String>> {
        let tokens = minted_tokens(&self.client, &self.options.ses_url).await?;
        (0..self.options.users)
            .map(|i| {
                tokens
                    .get(&known_user(i))
                    .cloned()
                    .ok_or_else(|| anyhow!("no reset mail for {} in the SES emulator", known_user(i)))
            })
            .collect()
    }

    /// verify-token: open the link (GET) and continue (POST) for each minted token.
    async fn warm_verify_token(&self, tokens: &[String]) -> Result<WarmResult> {
        let events = &self.events;
        eprintln!("==> verify-token: {} requests", 2 * tokens.len() + 2);
        let mut warm = Warm::start(&self.specs.verify_token).await?;
        warm.send(None, &events.confirm_open(UNKNOWN_TOKEN), 400).await?;
        warm.send(None, &events.confirm_open(UNKNOWN_TOKEN), 400).await?;
        for token in tokens {
            warm.send(Some("confirm_open"), &events.confirm_open(token), 200)
                .await?;
            warm.send(Some("confirm_continue"), &events.confirm_continue(token), 200)
                .await?;
        }
        warm.finish()
    }

    /// change-password: one successful change per token.
    async fn warm_change_password(&self, tokens: &[String]) -> Result<WarmResult> {
        let events = &self.events;
        eprintln!("==> change-password: {} requests", tokens.len() + 2);
        let mut warm = Warm::start(&self.specs.change_password).await?;
        warm.send(None, &events.complete(UNKNOWN_TOKEN, "Bench2026Kx"), 400)
            .await?;
        warm.send(None, &events.complete(UNKNOWN_TOKEN, "Bench2026Kx"), 400)
            .await?;
        for (i, token) in tokens.iter().enumerate() {
            let password = format!("Bench{i:04}Kx");
            warm.send(Some("change"), &events.complete(token, &password), 200)
                .await?;
        }
        warm.finish()
    }

    /// send-mail again: the password-changed notices change-password queued.
    async fn send_notices(&self, mut sender: Warm, notices: usize) -> Result<WarmResult> {
        eprintln!("==> send-mail: {notices} queued notices");
        drain(&mut sender, &self.queue, notices).await?;
        sender.finish()
    }

    /// request-reset as deployed: with the response-time floor that hides which usernames
    /// exist (`None` when `--floor-check-requests` is 0).
    async fn floor_check(&self) -> Result<Option<FloorCheck>> {
        if self.options.floor_check_requests == 0 {
            return Ok(None);
        }
        let spec = self.floored_request_reset("request-reset-floor.log");
        let n = self.options.floor_check_requests.min(self.options.users);
        eprintln!(
            "==> request-reset with the configured floor ({}={}): {} requests",
            FLOOR_VARIABLE,
            self.configured_floor.as_deref().unwrap_or("default"),
            2 * n + 1
        );
        let mut kinds = self.floored_requests(&spec, n).await?.kinds;
        Ok(Some(FloorCheck {
            floor_ms: self.configured_floor.clone().unwrap_or_default(),
            known: kinds.remove("submit_known").unwrap_or_default(),
            unknown: kinds.remove("submit_unknown").unwrap_or_default(),
        }))
    }

    /// request-reset with the response-time floor as configured, logging to `log_name`.
    fn floored_request_reset(&self, log_name: &str) -> FunctionSpec {
        let mut floored = self.config.clone();
        match &self.configured_floor {
            Some(value) => floored.insert(FLOOR_VARIABLE.to_owned(), value.clone()),
            None => floored.remove(FLOOR_VARIABLE),
        };
        FunctionSpec {
            log_file: self.options.logs_dir.join(log_name),
            ..function_spec(self.options, &floored, "request-reset", 128)
        }
    }

    /// The wave (`None` when `--wave-requests` is 0): request-reset as deployed (with its
    /// floor), send-mail at the wave's rate, on a queue emptied of what the floor check queued.
    async fn wave(&self) -> Result<Option<WaveResult>> {
        if self.options.wave.requests == 0 {
            return Ok(None);
        }
        let rate = self.options.wave.rate.to_string();
        let wave = Wave {
            settings: self.options.wave.clone(),
            request_reset: self.floored_request_reset("request-reset-wave.log"),
            send_mail: send_mail_spec(
                self.options,
                &with(&self.config, RATE_VARIABLE, &rate),
                "send-mail-wave.log",
            ),
            floor_ms: self.configured_floor.clone().unwrap_or_default(),
            events: Arc::new(self.events.clone()),
            queue: self.queue.clone(),
            client: self.client.clone(),
            ses_url: self.options.ses_url.clone(),
            admin: self.options.admin.clone(),
            users_csv: self.options.logs_dir.join("wave-users.csv"),
        };
        wave::run(wave).await.map(Some)
    }

    /// One warm-up, then `n` known and `n` unknown submits, alternating (unknown usernames the
    /// main run did not submit).
    async fn floored_requests(&self, spec: &FunctionSpec, n: usize) -> Result<WarmResult> {
        let (events, users) = (&self.events, self.options.users);
        let mut warm = Warm::start(spec).await?;
        warm.send(None, &events.submit(&cold_user(self.options.cold_starts + 2)), 200)
            .await?;
        for i in 0..n {
            warm.send(Some("submit_known"), &events.submit(&known_user(i)), 200)
                .await?;
            warm.send(Some("submit_unknown"), &events.submit(&unknown_user(users + i)), 200)
                .await?;
        }
        warm.finish()
    }
}

pub async fn run(options: &Options) -> Result<RuntimeReport> {
    let started = std::time::Instant::now();
    let load_average_before = load_average();
    let scenario = Scenario::prepare(options).await?;
    let specs = &scenario.specs;
    let cold = scenario.cold_starts().await?;
    let mut functions = Vec::new();

    let hello = scenario.warm_hello().await?;
    functions.push(result(&specs.hello, cold[0].result("hello"), hello));
    let request_reset = scenario.warm_request_reset().await?;
    functions.push(result(
        &specs.request_reset,
        cold[1].result("submit_unknown"),
        request_reset,
    ));
    let sender = scenario.send_reset_jobs().await?;
    let tokens = scenario.reset_tokens().await?;
    let verify_token = scenario.warm_verify_token(&tokens).await?;
    functions.push(result(
        &specs.verify_token,
        cold[2].result("confirm_open_unknown_token"),
        verify_token,
    ));
    let change_password = scenario.warm_change_password(&tokens).await?;
    functions.push(result(
        &specs.change_password,
        cold[3].result("change_unknown_token"),
        change_password,
    ));
    let send_mail = scenario.send_notices(sender, tokens.len()).await?;
    functions.push(result(&specs.send_mail, cold[4].result("reset_no_account"), send_mail));
    let floor_check = scenario.floor_check().await?;
    let wave = scenario.wave().await?;

    Ok(RuntimeReport {
        cold_starts: options.cold_starts,
        users: options.users,
        load_average_before,
        load_average_after: load_average(),
        wall_seconds: started.elapsed().as_secs_f64(),
        functions,
        floor_check,
        wave,
    })
}

fn result(spec: &FunctionSpec, cold: ColdResult, warm: WarmResult) -> FunctionResult {
    FunctionResult {
        name: spec.name.clone(),
        memory_mb: spec.memory_mb,
        binary_bytes: std::fs::metadata(&spec.binary).map(|m| m.len()).unwrap_or(0),
        cold,
        warm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_token_in_a_mail() {
        let text = "下記のURLを開いてください。\nhttp://127.0.0.1:9000/password-reset/confirm?token=abcdefghijABCDEFGHIJ0123456789-_abcdefghijk\n以上";
        assert_eq!(
            token_in(text).as_deref(),
            Some("abcdefghijABCDEFGHIJ0123456789-_abcdefghijk")
        );
        assert_eq!(token_in("no link"), None);
    }

    #[test]
    fn encodes_form_values() {
        assert_eq!(percent_encode("Ab1-_.~"), "Ab1-_.~");
        assert_eq!(percent_encode("a b&c"), "a%20b%26c");
    }
}
