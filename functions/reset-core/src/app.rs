//! The dependencies of a function, built once per container.

use crate::breach::BreachCorpus;
use crate::config::Settings;
use crate::domain::Clock;
use crate::mail::MailQueue;
use crate::store::{AccountStore, RateCounters, TokenStore};
use aws_config::environment::{EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider};
use aws_config::retry::RetryConfig;
use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use std::sync::Arc;
use std::time::Duration;

/// SDK call bounds on the request path. Two attempts (one retry) and a 2 s ceiling per attempt
/// keep the worst case of a DynamoDB or SQS outage inside the functions' 10 s timeout, so the
/// user gets a clear 503 instead of an API Gateway timeout. No request waits for SES: mail
/// goes through the queue (`send-mail` has bounds of its own).
pub const SDK_MAX_ATTEMPTS: u32 = 2;
pub const SDK_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
pub const SDK_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
pub const SDK_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// Retries and timeouts of every SDK call a function makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdkBounds {
    pub max_attempts: u32,
    pub connect_timeout: Duration,
    pub attempt_timeout: Duration,
    pub operation_timeout: Duration,
}

/// The request path's bounds (above).
pub const REQUEST_PATH_BOUNDS: SdkBounds = SdkBounds {
    max_attempts: SDK_MAX_ATTEMPTS,
    connect_timeout: SDK_CONNECT_TIMEOUT,
    attempt_timeout: SDK_ATTEMPT_TIMEOUT,
    operation_timeout: SDK_OPERATION_TIMEOUT,
};

/// The roots AWS service endpoints chain to: Amazon Root CA 1–4 and Starfield Services Root
/// Certificate Authority – G2, which cross-signs them (Amazon Trust Services; copied from
/// Debian's ca-certificates, SHA-256 fingerprints listed in docs/performance.md).
const AMAZON_TRUST_SERVICES_ROOTS: &[u8] = include_bytes!("amazon-trust-services-roots.pem");

/// Escape hatch: `system` trusts the system's root certificates instead of the compiled-in
/// Amazon roots (for an endpoint behind a TLS-inspecting proxy or a private CA, say). The
/// template does not set it.
pub const TRUST_STORE_VARIABLE: &str = "SDK_TRUST_STORE";

/// Which roots the SDK's TLS trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// The compiled-in Amazon Trust Services roots (the default).
    Amazon,
    /// The system's root certificates (the bundle and folder rustls-native-certs reads).
    System,
}

impl Roots {
    /// From the value of `SDK_TRUST_STORE` (unset or empty: Amazon).
    pub fn from_setting(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("system") => Self::System,
            Some(v) if !v.is_empty() && !v.eq_ignore_ascii_case("amazon") => {
                tracing::warn!(
                    variable = TRUST_STORE_VARIABLE,
                    value = v,
                    "unknown trust store; using the Amazon roots (set `system` for the system's)"
                );
                Self::Amazon
            }
            _ => Self::Amazon,
        }
    }
}

/// The one HTTP client every SDK client of a function shares. Each SDK client used to build
/// its own, and each of those parsed the system's whole CA folder into a root store at
/// construction: most of a cold start (docs/performance.md). Plain `http://` endpoints (the
/// local stack's, through `AWS_ENDPOINT_URL_*`) still work: the connector speaks both.
pub fn http_client(roots: Roots) -> SharedHttpClient {
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
    let store = match roots {
        Roots::Amazon => TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS),
        Roots::System => TrustStore::default(),
    };
    match TlsContext::builder().with_trust_store(store).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        // Building a context from a trust store cannot fail today (the builder validates
        // nothing); should it ever, the SDK's default context still verifies every peer.
        Err(error) => {
            tracing::warn!(error = %error, "TLS context refused; using the SDK's default trust store");
            builder.build_https()
        }
    }
}

/// The shared SDK configuration with the request path's bounded retries and timeouts.
pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk_config_with(REQUEST_PATH_BOUNDS).await
}

/// The shared SDK configuration with the given bounds: region and credentials from the
/// environment only (Lambda puts the execution role's credentials there; the default chain
/// would also set up profile, SSO, web-identity and IMDS providers a function never uses) and
/// one HTTP client for every SDK client built from it.
///
/// Stalled-stream protection is off: it guards long downloads and uploads against a peer that
/// stops sending, while every call here moves a few hundred bytes and is already bounded by the
/// attempt and operation timeouts. (Its throughput logs were 0.1–0.4 % of a function's CPU in
/// the profile: the point is one layer less per call, not speed.)
pub async fn sdk_config_with(bounds: SdkBounds) -> aws_config::SdkConfig {
    let roots = Roots::from_setting(
        crate::config::Variables::from_env()
            .optional(TRUST_STORE_VARIABLE)
            .as_deref(),
    );
    aws_config::defaults(BehaviorVersion::latest())
        .region(EnvironmentVariableRegionProvider::new())
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .http_client(http_client(roots))
        .retry_config(RetryConfig::standard().with_max_attempts(bounds.max_attempts))
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(bounds.connect_timeout)
                .operation_attempt_timeout(bounds.attempt_timeout)
                .operation_timeout(bounds.operation_timeout)
                .build(),
        )
        .load()
        .await
}

/// What the HTTP functions work with: the settings, the accounts, links and counters, the mail
/// queue and the clock. Built by `wiring::Wiring::app`; each router hands a use case only the
/// ports it uses (`service::ports`).
pub struct App {
    pub settings: Settings,
    pub accounts: Arc<dyn AccountStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub counters: Arc<dyn RateCounters>,
    pub mail_queue: Arc<dyn MailQueue>,
    pub clock: Arc<dyn Clock>,
    /// Breached passwords, asked by change-password; `None` when the check is off.
    pub breach_corpus: Option<Arc<dyn BreachCorpus>>,
}

impl App {
    /// One store for accounts, links and counters (the DynamoDB tables, or a fake).
    pub fn new<S>(settings: Settings, store: Arc<S>, mail_queue: Arc<dyn MailQueue>, clock: Arc<dyn Clock>) -> Self
    where
        S: AccountStore + TokenStore + RateCounters + 'static,
    {
        Self {
            settings,
            accounts: store.clone(),
            tokens: store.clone(),
            counters: store,
            mail_queue,
            clock,
            breach_corpus: None,
        }
    }

    /// The breached-password check (change-password); the settings say whether it is on.
    pub fn with_breach_corpus(self, breach_corpus: Arc<dyn BreachCorpus>) -> Self {
        Self {
            breach_corpus: Some(breach_corpus),
            ..self
        }
    }

    /// The same with the accounts somewhere else (a Cognito user pool).
    pub fn with_accounts(self, accounts: Arc<dyn AccountStore>) -> Self {
        Self { accounts, ..self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_trust_store_setting() {
        assert_eq!(Roots::from_setting(None), Roots::Amazon);
        assert_eq!(Roots::from_setting(Some("")), Roots::Amazon);
        assert_eq!(Roots::from_setting(Some("amazon")), Roots::Amazon);
        assert_eq!(Roots::from_setting(Some(" System ")), Roots::System);
        assert_eq!(Roots::from_setting(Some("nonsense")), Roots::Amazon);
    }

    #[test]
    fn compiles_in_the_five_amazon_trust_services_roots() {
        let text = String::from_utf8_lossy(AMAZON_TRUST_SERVICES_ROOTS);
        assert_eq!(text.matches("-----BEGIN CERTIFICATE-----").count(), 5);
        assert_eq!(text.matches("-----END CERTIFICATE-----").count(), 5);
    }

    // Building an SDK client builds its HTTP connector, which parses the roots (and panics
    // inside the SDK on a malformed PEM): both trust stores must get through it.
    #[tokio::test]
    async fn both_trust_stores_build_a_client() {
        for roots in [Roots::Amazon, Roots::System] {
            let config = aws_sdk_dynamodb::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(aws_config::Region::new("ap-northeast-1"))
                .http_client(http_client(roots))
                .build();
            let _client = aws_sdk_dynamodb::Client::from_conf(config);
        }
    }
}
