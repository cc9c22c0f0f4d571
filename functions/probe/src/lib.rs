//! `probe`: the synthetic probe. EventBridge Scheduler invokes it every 5 minutes; it walks the
//! public reset flow for a probe account (see [`walk`]) and writes one EMF line: `ProbeSuccess`
//! (1 or 0), each passed step's latency (`ProbeRequestMs`, `ProbeMailMs`, `ProbeLinkMs`) and the
//! oldest verified address-change request's age (`OldestPendingAddressRequestAge`). The alarms
//! fire when success is missing (a failed walk, or no walk at all) and when a request waits too
//! long (docs/operations.md, "The synthetic probe").
//!
//! Layout: `walk` (the steps; no HTTP client, no DynamoDB) · `site` (the public endpoint over
//! hyper) · `tables` (the probe's reads and writes on DynamoDB) · this file (settings, wiring,
//! one run's log lines and metrics) · `main.rs` (builds it once per container).

pub mod site;
pub mod tables;
pub mod walk;

use reset_core::app::{sdk_config_with, SdkBounds};
use reset_core::config::{ConfigError, Settings, Variables};
use reset_core::domain::{Clock, SystemClock, Username};
use reset_core::metrics;
use reset_core::store::{DynamoAddressRequests, DynamoStore, TableNames};
use std::sync::Arc;
use std::time::Duration;
use walk::{walk, Pacing, ProbeAccounts, ProbeStore, PublicSite, Report};

/// The probe accounts, comma-separated; they take turns by 5-minute slot.
pub const PROBE_USERNAMES: &str = "PROBE_USERNAMES";
/// How long the mail step waits for SES to accept the mail (seconds).
pub const PROBE_MAIL_WAIT_SECONDS: &str = "PROBE_MAIL_WAIT_SECONDS";

/// Every DynamoDB call may take its time once: one retry, inside the run's own budget.
const TABLE_BOUNDS: SdkBounds = SdkBounds {
    max_attempts: 2,
    connect_timeout: Duration::from_secs(1),
    attempt_timeout: Duration::from_secs(3),
    operation_timeout: Duration::from_secs(7),
};

/// One request to the public endpoint: the reset request answers at its floor (400 ms), a cold
/// start adds a second or two.
pub const SITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the probe could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProbeSetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] site::TlsUnavailable),
}

/// The probe's own settings.
#[derive(Debug, Clone)]
pub struct ProbeSettings {
    pub accounts: ProbeAccounts,
    pub mail_wait: Duration,
}

impl ProbeSettings {
    pub fn read(vars: &Variables<'_>) -> Result<Self, ConfigError> {
        let accounts = vars
            .parsed(PROBE_USERNAMES, parse_usernames)?
            .and_then(ProbeAccounts::new)
            .ok_or(ConfigError::Missing(PROBE_USERNAMES))?;
        let wait: u64 = vars.number(PROBE_MAIL_WAIT_SECONDS, 60, 5..=240)?;
        Ok(Self {
            accounts,
            mail_wait: Duration::from_secs(wait),
        })
    }
}

fn parse_usernames(text: &str) -> Result<Vec<Username>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| Username::parse(name).map_err(|e| format!("{name:?}: {e}")))
        .collect()
}

/// The probe's dependencies, built once per container.
pub struct Probe {
    pub site: Arc<dyn PublicSite>,
    pub store: Arc<dyn ProbeStore>,
    pub settings: ProbeSettings,
    pub pacing: Pacing,
    pub clock: Arc<dyn Clock>,
    pub metrics_namespace: String,
}

impl Probe {
    /// Reads the functions' settings (the template gives the probe the same globals) and its
    /// own, and builds the DynamoDB client and the HTTP client. Touches no network.
    pub async fn from_env() -> Result<Self, ProbeSetupError> {
        let vars = Variables::from_env();
        let settings = Settings::read(&vars)?;
        let own = ProbeSettings::read(&vars)?;
        let site = site::HttpSite::new(&settings.public_base_url, SITE_TIMEOUT)?;
        Ok(Self::new(&settings, own, Arc::new(site)).await)
    }

    /// The probe over `site` and the tables `settings` name, with their link lifetime and
    /// metrics namespace (the tests build it over the local stack's settings).
    pub async fn new(settings: &Settings, own: ProbeSettings, site: Arc<dyn PublicSite>) -> Self {
        let client = aws_sdk_dynamodb::Client::new(&sdk_config_with(TABLE_BOUNDS).await);
        let tokens = Arc::new(DynamoStore::new(client.clone(), TableNames::from(settings)));
        let address_requests = Arc::new(DynamoAddressRequests::new(
            client.clone(),
            settings.address.requests_table.clone(),
        ));
        let store = tables::DynamoProbeStore::new(
            client,
            settings.users_table.clone(),
            settings.rate_limits_table.clone(),
            tokens,
            address_requests,
        );
        Self {
            site,
            store: Arc::new(store),
            pacing: Pacing {
                mail_wait: own.mail_wait,
                mail_poll: Duration::from_secs(1),
                link_lifetime_secs: settings.token_ttl_secs(),
            },
            settings: own,
            clock: Arc::new(SystemClock),
            metrics_namespace: settings.metrics_namespace.clone(),
        }
    }
}

/// One scheduled run: the walk, one log line per step, one EMF line. The report is the
/// invocation's answer; a failed walk is not the invocation's error (the metric says it, and a
/// retried run would only repeat the request).
pub async fn run(probe: &Probe) -> Report {
    let started = probe.clock.now();
    let username = probe.settings.accounts.of_run(started);
    let report = walk(
        probe.site.as_ref(),
        probe.store.as_ref(),
        username,
        &probe.pacing,
        probe.clock.as_ref(),
    )
    .await;
    log_report(&report);
    metrics::emit(&probe.metrics_namespace, probe.clock.now(), &metric_counts(&report));
    report
}

/// The run's metrics: success always; a step's latency only when it passed; the queue's age
/// when it could be read (missing, not 0, when it could not: the age alarm must not calm down
/// on a failed read).
pub fn metric_counts(report: &Report) -> Vec<(&'static str, u64)> {
    let mut counts = vec![(metrics::PROBE_SUCCESS, u64::from(report.passed()))];
    let latencies = [
        (walk::STEPS[0], metrics::PROBE_REQUEST_MS),
        (walk::STEPS[1], metrics::PROBE_MAIL_MS),
        (walk::STEPS[2], metrics::PROBE_LINK_MS),
    ];
    for (step, metric) in latencies {
        if let Some(took) = report.took(step) {
            counts.push((metric, u64::try_from(took.as_millis()).unwrap_or(u64::MAX)));
        }
    }
    if let Some(age) = report.oldest_pending_address_request_secs {
        counts.push((metrics::OLDEST_PENDING_ADDRESS_REQUEST_AGE, age));
    }
    counts
}

fn log_report(report: &Report) {
    for step in &report.steps {
        let took_ms = u64::try_from(step.took.as_millis()).unwrap_or(u64::MAX);
        match &step.result {
            Ok(()) => tracing::info!(step = step.step, username = %report.username, took_ms, "probe step passed"),
            Err(failure) => tracing::error!(
                step = step.step,
                username = %report.username,
                took_ms,
                failure = %failure,
                "probe step failed"
            ),
        }
    }
    tracing::info!(
        passed = report.passed(),
        username = %report.username,
        oldest_pending_address_request_secs = report.oldest_pending_address_request_secs,
        "probe run"
    );
}
