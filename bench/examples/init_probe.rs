//! Where a function's init goes: the steps of `reset_core::Wiring::from_env(..).app()` timed one by one in
//! a fresh process, and the alternatives docs/performance.md discusses.
//!
//! ```sh
//! set -a; . scripts/local.env; set +a
//! cargo build --release -p reset-bench --example init_probe
//! for v in app steps env-credentials amazon-roots; do target/release/examples/init_probe $v; done
//! ```
//!
//! Variants: `app` (the wiring as the functions call it), `steps` (the same work split up),
//! `env-credentials` (credentials from the environment only, as Lambda provides them, and one
//! HTTP client shared by both SDK clients), `amazon-roots` (that, plus a TLS trust store of the
//! Amazon Trust Services roots instead of the system's whole CA folder). Each prints the time
//! since `main` started, per step, and the CPU time of the process.

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use reset_core::app::{SDK_ATTEMPT_TIMEOUT, SDK_CONNECT_TIMEOUT, SDK_MAX_ATTEMPTS, SDK_OPERATION_TIMEOUT};
use std::time::{Duration, Instant};

/// The roots AWS service endpoints chain to (Amazon Trust Services), as found in Debian's
/// ca-certificates; a function would compile these in.
const AMAZON_ROOTS: [&str; 4] = [
    "/etc/ssl/certs/Amazon_Root_CA_1.pem",
    "/etc/ssl/certs/Amazon_Root_CA_2.pem",
    "/etc/ssl/certs/Amazon_Root_CA_3.pem",
    "/etc/ssl/certs/Amazon_Root_CA_4.pem",
];

fn cpu_now() -> Duration {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid out-pointer for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(now.tv_sec).unwrap_or(0),
        u32::try_from(now.tv_nsec).unwrap_or(0),
    )
}

struct Laps {
    start: Instant,
    last: Instant,
}

impl Laps {
    fn lap(&mut self, label: &str) {
        let now = Instant::now();
        eprintln!(
            "  {label:<34} {:>7.3} ms  (total {:>7.3} ms, process CPU {:>7.3} ms)",
            (now - self.last).as_secs_f64() * 1e3,
            (now - self.start).as_secs_f64() * 1e3,
            cpu_now().as_secs_f64() * 1e3
        );
        self.last = now;
    }
}

fn loader() -> aws_config::ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(SDK_MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(SDK_CONNECT_TIMEOUT)
                .operation_attempt_timeout(SDK_ATTEMPT_TIMEOUT)
                .operation_timeout(SDK_OPERATION_TIMEOUT)
                .build(),
        )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let variant = std::env::args().nth(1).unwrap_or_else(|| "app".to_owned());
    eprintln!("init_probe {variant}:");
    let start = Instant::now();
    let mut laps = Laps { start, last: start };
    reset_core::telemetry::init();
    laps.lap("telemetry::init");
    match variant.as_str() {
        "app" => {
            let _app = reset_core::Wiring::from_env(reset_core::app::REQUEST_PATH_BOUNDS)
                .await?
                .app()
                .await?;
            laps.lap("Wiring::from_env + app");
        }
        "steps" => {
            let _settings = reset_core::Settings::from_env()?;
            laps.lap("Settings::from_env");
            let conf = loader().load().await;
            laps.lap("aws_config load (default chain)");
            let _dynamodb = aws_sdk_dynamodb::Client::new(&conf);
            laps.lap("DynamoDB Client::new");
            let _ses = aws_sdk_sesv2::Client::new(&conf);
            laps.lap("SES v2 Client::new");
        }
        "env-credentials" | "amazon-roots" => {
            let _settings = reset_core::Settings::from_env()?;
            laps.lap("Settings::from_env");
            let mut builder =
                aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
            if variant == "amazon-roots" {
                let mut store = TrustStore::empty().with_native_roots(false);
                for path in AMAZON_ROOTS {
                    store.add_pem_certificate(std::fs::read(path)?);
                }
                builder = builder.tls_context(TlsContext::builder().with_trust_store(store).build()?);
            }
            let http_client = builder.build_https();
            laps.lap("one HTTP client");
            let conf = loader()
                .credentials_provider(EnvironmentVariableCredentialsProvider::new())
                .http_client(http_client)
                .load()
                .await;
            laps.lap("aws_config load (env credentials)");
            let _dynamodb = aws_sdk_dynamodb::Client::new(&conf);
            laps.lap("DynamoDB Client::new");
            let _ses = aws_sdk_sesv2::Client::new(&conf);
            laps.lap("SES v2 Client::new");
        }
        other => anyhow::bail!("unknown variant {other}: app, steps, env-credentials, amazon-roots"),
    }
    Ok(())
}
