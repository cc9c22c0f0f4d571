//! Placeholders for tests of this crate and of the crates built on it: a complete configuration
//! that no deployment uses. (Plain code rather than `cfg(test)`, so that other crates' tests can
//! use it; nothing in the functions calls it, and the release build drops it.)

use crate::config::{ConfigError, Settings};
use std::collections::HashMap;

/// Every required environment variable, with a placeholder value.
pub const SAMPLE_ENVIRONMENT: [(&str, &str); 12] = [
    ("USERS_TABLE", "users"),
    ("RESET_TOKENS_TABLE", "tokens"),
    ("RATE_LIMITS_TABLE", "limits"),
    ("MAIL_JOBS_TABLE", "mail-jobs"),
    ("ADDRESS_REQUESTS_TABLE", "address-requests"),
    (
        "MAIL_QUEUE_URL",
        "https://sqs.ap-northeast-1.amazonaws.com/123456789012/mail",
    ),
    (
        "MAIL_DEAD_LETTER_QUEUE_URL",
        "https://sqs.ap-northeast-1.amazonaws.com/123456789012/mail-dlq",
    ),
    ("SENDER_ADDRESS", "no-reply@example.jp"),
    ("PUBLIC_BASE_URL", "https://id.example.jp/"),
    ("SERVICE_NAME", "医療機関等ID"),
    ("SUPPORT_CONTACT", "ヘルプデスク 0120-000-000"),
    ("SIGN_IN_URL", "https://id.example.jp/sign-in"),
];

/// `SAMPLE_ENVIRONMENT` with `overrides` set on top, read as the functions read theirs.
pub fn sample_settings_with(overrides: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let mut environment: HashMap<&str, &str> = SAMPLE_ENVIRONMENT.into_iter().collect();
    environment.extend(overrides.iter().copied());
    Settings::from_lookup(|name| environment.get(name).map(|value| value.to_string()))
}
