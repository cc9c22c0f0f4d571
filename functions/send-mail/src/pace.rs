//! Pacing to SES: the account's sending rate (`SesMaxSendRate`, mails per second) is shared by
//! at most `MailSendConcurrency` send-mail instances (the event source's maximum concurrency),
//! so each instance leaves `concurrency / rate` seconds between the starts of its sends. The
//! bound holds whatever the batch size: concurrency × (one send per interval) = the rate.
//!
//! When SES throttles anyway (a quota shared with other senders of the account, a lowered
//! rate), the instance holds back for `THROTTLE_HOLD` before its next send; the job itself goes
//! back to the queue (see `lib.rs`), neither a failure nor a spent retry.

use async_trait::async_trait;
use reset_core::config::{ConfigError, Variables};
use reset_core::mail::{MailError, Mailer, OutgoingMail};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The SES account's maximum send rate the stack may use (mails per second).
pub const SES_MAX_SEND_RATE: &str = "SES_MAX_SEND_RATE";
/// The event source's maximum concurrency: how many instances share that rate.
pub const MAIL_SEND_CONCURRENCY: &str = "MAIL_SEND_CONCURRENCY";
/// Longest wait between two sends of one instance: a job must still fit in the invocation
/// after it (the function runs 30 s; one job may take 24 s).
pub const MAX_INTERVAL: Duration = Duration::from_secs(5);
/// How long an instance holds back after SES throttled it.
pub const THROTTLE_HOLD: Duration = Duration::from_secs(1);

/// The interval between the sends of one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    interval: Duration,
}

impl Pace {
    /// `max_rate` mails per second shared by `concurrency` instances.
    pub fn new(max_rate: u32, concurrency: u32) -> Result<Self, ConfigError> {
        if max_rate == 0 {
            return Err(ConfigError::Invalid {
                name: SES_MAX_SEND_RATE,
                reason: "must be at least 1 mail per second".into(),
            });
        }
        if concurrency == 0 {
            return Err(ConfigError::Invalid {
                name: MAIL_SEND_CONCURRENCY,
                reason: "must be at least 1".into(),
            });
        }
        let interval = Duration::from_secs(u64::from(concurrency)) / max_rate;
        if interval > MAX_INTERVAL {
            return Err(ConfigError::Invalid {
                name: SES_MAX_SEND_RATE,
                reason: format!(
                    "{max_rate}/s shared by {concurrency} instances leaves {interval:?} between sends, more than \
                     {MAX_INTERVAL:?}: lower MailSendConcurrency or raise the rate"
                ),
            });
        }
        Ok(Self { interval })
    }

    /// Reads both variables (required: the template sets them for send-mail).
    pub fn read(vars: &Variables<'_>) -> Result<Self, ConfigError> {
        let number = |name: &'static str| -> Result<u32, ConfigError> {
            vars.parsed(name, |text| {
                text.parse::<u32>()
                    .map_err(|_| format!("{text:?} is not a whole number"))
            })?
            .ok_or(ConfigError::Missing(name))
        };
        Self::new(number(SES_MAX_SEND_RATE)?, number(MAIL_SEND_CONCURRENCY)?)
    }

    pub fn interval(self) -> Duration {
        self.interval
    }
}

/// A mailer that starts at most one send per interval (per instance: one per container).
pub struct PacedMailer {
    inner: Arc<dyn Mailer>,
    pace: Pace,
    /// When this instance may start its next send.
    next: Mutex<Option<Instant>>,
}

impl PacedMailer {
    pub fn new(inner: Arc<dyn Mailer>, pace: Pace) -> Self {
        Self {
            inner,
            pace,
            next: Mutex::new(None),
        }
    }
}

#[async_trait]
impl Mailer for PacedMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        // Each send reserves the next free slot, one interval after the previous one, then
        // waits for it: sends of one instance start at least one interval apart.
        let start = {
            let mut next = self.next.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            let start = next.map_or(now, |at| at.max(now));
            *next = Some(start + self.pace.interval);
            start
        };
        tokio::time::sleep_until(start).await;
        let result = self.inner.send(mail).await;
        if let Err(MailError::Throttled(_)) = &result {
            let mut next = self.next.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let hold = Instant::now() + THROTTLE_HOLD.max(self.pace.interval);
            *next = Some(next.map_or(hold, |at| at.max(hold)));
        }
        result
    }
}
