//! The dependencies of a function, built once per container.

use crate::config::{ConfigError, Settings};
use crate::domain::{Clock, SystemClock};
use crate::mail::{Mailer, SesMailer};
use crate::store::{DynamoStore, ResetStore};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use std::sync::Arc;
use std::time::Duration;

/// SDK call bounds. Two attempts (one retry) and a 2 s ceiling per attempt keep the worst
/// case of a DynamoDB or SES outage inside the functions' timeouts, so the user gets a
/// clear 503 instead of an API Gateway timeout.
pub const SDK_MAX_ATTEMPTS: u32 = 2;
pub const SDK_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
pub const SDK_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
pub const SDK_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// The shared SDK configuration with the bounded retries and timeouts above.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(SDK_MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(SDK_CONNECT_TIMEOUT)
                .operation_attempt_timeout(SDK_ATTEMPT_TIMEOUT)
                .operation_timeout(SDK_OPERATION_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

pub struct App {
    pub settings: Settings,
    pub store: Arc<dyn ResetStore>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
}

impl App {
    pub fn new(settings: Settings, store: Arc<dyn ResetStore>, mailer: Arc<dyn Mailer>, clock: Arc<dyn Clock>) -> Self {
        Self {
            settings,
            store,
            mailer,
            clock,
        }
    }

    /// Reads the environment and builds the DynamoDB and SES clients. Touches no network:
    /// credentials and endpoints resolve lazily on the first call.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let sdk_config = sdk_config().await;
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk_config),
            settings.users_table.clone(),
            settings.reset_tokens_table.clone(),
            settings.rate_limits_table.clone(),
        );
        let mailer = SesMailer::new(
            aws_sdk_sesv2::Client::new(&sdk_config),
            settings.sender_address.clone(),
            settings.ses_configuration_set.clone(),
        );
        Ok(Self::new(
            settings,
            Arc::new(store),
            Arc::new(mailer),
            Arc::new(SystemClock),
        ))
    }
}
