//! The dependencies of a function, built once per container.

use crate::config::{ConfigError, Settings};
use crate::domain::{Clock, SystemClock};
use crate::mail::{MailQueue, SqsMailQueue};
use crate::store::{DynamoStore, ResetStore, TableNames};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
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

/// The shared SDK configuration with the request path's bounded retries and timeouts.
pub async fn sdk_config() -> aws_config::SdkConfig {
    sdk_config_with(REQUEST_PATH_BOUNDS).await
}

/// The shared SDK configuration with the given bounds.
pub async fn sdk_config_with(bounds: SdkBounds) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(bounds.max_attempts))
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

/// What the HTTP functions work with: the settings, the store, the mail queue and the clock.
pub struct App {
    pub settings: Settings,
    pub store: Arc<dyn ResetStore>,
    pub mail_queue: Arc<dyn MailQueue>,
    pub clock: Arc<dyn Clock>,
}

impl App {
    pub fn new(
        settings: Settings,
        store: Arc<dyn ResetStore>,
        mail_queue: Arc<dyn MailQueue>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            settings,
            store,
            mail_queue,
            clock,
        }
    }

    /// Reads the environment and builds the DynamoDB and SQS clients. Touches no network:
    /// credentials and endpoints resolve lazily on the first call.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let sdk_config = sdk_config().await;
        Ok(Self::from_sdk_config(settings, &sdk_config))
    }

    /// The production wiring on a given SDK configuration.
    pub fn from_sdk_config(settings: Settings, sdk_config: &aws_config::SdkConfig) -> Self {
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk_config), TableNames::from(&settings));
        let mail_queue = SqsMailQueue::new(aws_sdk_sqs::Client::new(sdk_config), settings.mail_queue_url.clone());
        Self::new(settings, Arc::new(store), Arc::new(mail_queue), Arc::new(SystemClock))
    }
}
