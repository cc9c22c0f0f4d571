//! `send-mail`: delivers batches of the mail queue.
//!
//! Each record is one `MailJob`. The use case (`reset_core::service::deliver`) sends it at most
//! once; this layer speaks SQS: it reports the records to retry (partial batch response, so one
//! failure never re-sends the rest), pushes a failed record's next attempt out with growing
//! backoff, moves malformed records straight to the dead-letter queue, and stops starting new
//! sends when the invocation's deadline is near.

mod pace;
mod queue_control;

pub use pace::{Pace, PacedMailer, MAIL_SEND_CONCURRENCY, MAX_INTERVAL, SES_MAX_SEND_RATE, THROTTLE_HOLD};
pub use queue_control::{QueueControl, SqsQueueControl, MAX_DELAY_SECS};

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use reset_core::app::SdkBounds;
use reset_core::config::{ConfigError, Variables};
use reset_core::domain::MailJob;
use reset_core::mail::MailError;
use reset_core::metrics;
use reset_core::service::{deliver, Delivery, DeliveryError, MailSender};
use reset_core::Wiring;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::Instrument;

/// The queue's redrive policy moves a message to the dead-letter queue after this many
/// receives (`maxReceiveCount` of `MailQueue` in infra/template.yaml; a drift test keeps them
/// equal).
pub const MAX_RECEIVE_COUNT: u32 = 20;
/// Backoff of a failed job: 5 s, doubling per receive, at most 5 minutes; with
/// `MAX_RECEIVE_COUNT` that is about 80 minutes of retries, past a reset link's lifetime.
pub const FIRST_RETRY_SECS: u32 = 5;
pub const MAX_RETRY_SECS: u32 = 300;
/// Longest one job may take (an SES call that times out, plus the store calls around it): no
/// job starts with less than this left before the invocation's deadline.
const JOB_TIME_BUDGET: Duration = Duration::from_secs(24);
/// A job SES throttled waits this long (plus up to as much again, spread) before it comes back.
pub const THROTTLED_WAIT_SECS: u32 = 2;

/// SES gets one attempt of up to 20 s: retries go through the queue, with backoff, so a slow
/// SES is waited for rather than sent to twice.
pub const SEND_BOUNDS: SdkBounds = SdkBounds {
    max_attempts: 1,
    connect_timeout: Duration::from_secs(2),
    attempt_timeout: Duration::from_secs(20),
    operation_timeout: Duration::from_secs(20),
};

pub struct SendMail {
    pub sender: MailSender,
    pub queue: Arc<dyn QueueControl>,
    pub metrics_namespace: String,
}

impl SendMail {
    /// send-mail's adapters from the process's wiring, its mailer paced (`SES_MAX_SEND_RATE`,
    /// `MAIL_SEND_CONCURRENCY`), and the wiring's SQS client to put jobs back or aside. Touches
    /// no network.
    pub async fn new(wiring: &Wiring) -> Result<Self, ConfigError> {
        let pace = Pace::read(&Variables::from_env())?;
        let mut sender = wiring.mail_sender().await?;
        sender.mailer = Arc::new(PacedMailer::new(sender.mailer, pace));
        let queue = SqsQueueControl::new(
            wiring.sqs(),
            wiring.settings.mail_queue_url.clone(),
            wiring.settings.mail_dead_letter_queue_url.clone(),
        );
        Ok(Self {
            metrics_namespace: wiring.settings.metrics_namespace.clone(),
            sender,
            queue: Arc::new(queue),
        })
    }
}

/// What one invocation did; the source of its metrics line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub sent: u64,
    pub failed: u64,
    pub expired: u64,
    pub dead_lettered: u64,
    pub duplicates: u64,
    pub without_mail: u64,
    pub deferred: u64,
    pub refused: u64,
    /// Jobs put back to wait for the next window of a service-wide cap.
    pub over_cap: u64,
    /// Sends SES throttled: the job waits in the queue again, not a failure.
    pub throttled: u64,
}

/// Delivers one batch and answers which records to retry. `deadline_ms` is the invocation's
/// deadline (epoch ms, from the Lambda context); 0 means none.
pub async fn handle(deps: &SendMail, event: SqsEvent, deadline_ms: u64) -> SqsBatchResponse {
    handle_counted(deps, event, deadline_ms).await.0
}

/// `handle`, and what the batch came to (the invocation's metrics line).
pub async fn handle_counted(deps: &SendMail, event: SqsEvent, deadline_ms: u64) -> (SqsBatchResponse, Tally) {
    let mut response = SqsBatchResponse::default();
    let mut tally = Tally::default();
    // Lambda never starts an invocation past its deadline: one already past when the batch
    // begins carries no information (cargo lambda watch sends such), and the batch runs whole.
    let deadline_ms = if time_left(deadline_ms).is_zero() {
        0
    } else {
        deadline_ms
    };
    for (index, record) in event.records.into_iter().enumerate() {
        let message_id = record.message_id.clone().unwrap_or_default();
        let left = time_left(deadline_ms);
        // The first record always runs: the function's timeout is sized for one job at least.
        if index > 0 && left < JOB_TIME_BUDGET {
            // Back on the queue at once, without a backoff: nothing was tried.
            tracing::info!(
                message_id,
                left_ms = left.as_millis() as u64,
                "deadline near; job deferred"
            );
            tally.deferred += 1;
            retry_after(deps, &record, 0).await;
            response.add_failure(message_id);
            continue;
        }
        if !deliver_record(deps, &record, &mut tally)
            .instrument(job_span(&message_id))
            .await
        {
            response.add_failure(message_id);
        }
    }
    metrics::emit(
        &deps.metrics_namespace,
        deps.sender.clock.now(),
        &[
            (metrics::MAILS_SENT, tally.sent),
            (metrics::MAIL_SEND_FAILURES, tally.failed),
            (metrics::MAILS_EXPIRED_BEFORE_SENDING, tally.expired),
            (metrics::MAILS_DEAD_LETTERED, tally.dead_lettered),
            (metrics::MAIL_DUPLICATES_SUPPRESSED, tally.duplicates),
            (metrics::RESET_JOBS_WITHOUT_MAIL, tally.without_mail),
            (metrics::MAIL_JOBS_REFUSED, tally.refused),
            (metrics::ADDRESS_CONFIRMATIONS_OVER_CAP, tally.over_cap),
            (metrics::MAIL_SENDS_THROTTLED, tally.throttled),
        ],
    );
    (response, tally)
}

/// The span of one job: every line its delivery logs (the use case's and the stores' too) carries
/// the queue's message id and, once the body is read, the job's id and kind (never an address).
fn job_span(message_id: &str) -> tracing::Span {
    tracing::info_span!(
        "job",
        message_id,
        job_id = tracing::field::Empty,
        kind = tracing::field::Empty
    )
}

/// True when the record is done with (sent, skipped or dead-lettered), false to retry it.
async fn deliver_record(deps: &SendMail, record: &SqsMessage, tally: &mut Tally) -> bool {
    let message_id = record.message_id.as_deref().unwrap_or_default();
    let body = record.body.as_deref().unwrap_or_default();
    let job = match MailJob::from_message(body) {
        Ok(job) => job,
        Err(error) => {
            // Retrying cannot fix it: straight to the dead-letter queue, for a person to read.
            tracing::error!(message_id, error = %error, "malformed mail job; moving it to the dead-letter queue");
            return dead_letter_malformed(deps, body, tally).await;
        }
    };
    let span = tracing::Span::current();
    span.record("job_id", tracing::field::display(&job.job_id));
    span.record("kind", job.mail.kind());
    match deliver(&deps.sender, &job).await {
        Ok(Delivery::Deferred { until_secs }) => {
            let wait = until_secs - deps.sender.clock.now().as_secs();
            let delay = u32::try_from(wait.max(0)).unwrap_or(MAX_DELAY_SECS).min(MAX_DELAY_SECS);
            let requeued = requeue(deps, record, &job, delay, "over the cap; the job waits in the queue").await;
            tally.over_cap += u64::from(requeued);
            requeued
        }
        Ok(delivery) => {
            count_done(&job, &delivery, tally);
            true
        }
        Err(DeliveryError::Mail(MailError::Throttled(code))) => {
            // SES paces the account: not a failure, and no retry spent. The job goes back as a
            // new message (a fresh receive count) after a short, spread wait; the pacer holds
            // this instance back meanwhile.
            tally.throttled += 1;
            tracing::info!(job_id = %job.job_id, error = %code, "SES throttled the send");
            let delay = THROTTLED_WAIT_SECS + jitter_percent() * THROTTLED_WAIT_SECS / 40;
            requeue(deps, record, &job, delay, "the throttled job waits in the queue").await
        }
        Err(error) => {
            count_failure(&job, record, &error, tally);
            retry_after(deps, record, backoff_secs(receive_count(record), jitter_percent())).await;
            false
        }
    }
}

/// A body that is no job: to the dead-letter queue; true once it is there.
async fn dead_letter_malformed(deps: &SendMail, body: &str, tally: &mut Tally) -> bool {
    match deps.queue.dead_letter(body).await {
        Ok(()) => {
            tally.dead_lettered += 1;
            true
        }
        Err(error) => {
            tracing::error!(error = %error, "the dead-letter queue refused the malformed job");
            false
        }
    }
}

/// The job back on the queue as a new message after `delay` seconds; true when it is there.
/// Otherwise the record itself comes back after the delay (which spends one receive).
async fn requeue(deps: &SendMail, record: &SqsMessage, job: &MailJob, delay: u32, waits: &'static str) -> bool {
    let body = record.body.as_deref().unwrap_or_default();
    match deps.queue.requeue(body, delay).await {
        Ok(()) => {
            tracing::info!(job_id = %job.job_id, kind = job.mail.kind(), delay_secs = delay, "{waits}");
            true
        }
        Err(error) => {
            tracing::warn!(job_id = %job.job_id, error = %error, "the job could not be requeued ({waits})");
            retry_after(deps, record, delay).await;
            false
        }
    }
}

/// A job done with (sent, duplicate, expired, without mail, refused): counted and logged.
fn count_done(job: &MailJob, delivery: &Delivery, tally: &mut Tally) {
    match delivery {
        Delivery::Sent { .. } => tally.sent += 1,
        Delivery::Duplicate => tally.duplicates += 1,
        Delivery::Expired => tally.expired += 1,
        Delivery::Skipped(_) => tally.without_mail += 1,
        Delivery::Refused(_) => tally.refused += 1,
        Delivery::Deferred { .. } => tally.over_cap += 1,
    }
    let kind = job.mail.kind();
    if let Delivery::Refused(_) = delivery {
        // Retrying cannot make it one of ours: dropped, and the alarm tells a person.
        tracing::error!(job_id = %job.job_id, kind, outcome = delivery.code(), "mail job refused; dropped");
    } else {
        tracing::info!(job_id = %job.job_id, kind, outcome = delivery.code(), "mail job done");
    }
}

/// A failed delivery: counted (and as dead-lettered on its last receive), logged.
fn count_failure(job: &MailJob, record: &SqsMessage, error: &DeliveryError, tally: &mut Tally) {
    tally.failed += 1;
    let receives = receive_count(record);
    let last_try = receives >= MAX_RECEIVE_COUNT;
    if last_try {
        tally.dead_lettered += 1;
    }
    tracing::warn!(
        job_id = %job.job_id,
        kind = job.mail.kind(),
        reason = error.code(),
        error = %error,
        receives,
        last_try,
        "mail job failed; it will be retried"
    );
}

async fn retry_after(deps: &SendMail, record: &SqsMessage, delay_secs: u32) {
    let Some(receipt) = record.receipt_handle.as_deref() else {
        return;
    };
    // Without it the record simply comes back after the queue's visibility timeout.
    if let Err(error) = deps.queue.retry_after(receipt, delay_secs).await {
        tracing::warn!(error = %error, "the retry delay could not be set");
    }
}

fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// The delay before the next attempt of a job received `receives` times: exponential, capped,
/// and spread by ±20 % so that jobs failed together do not come back together.
pub fn backoff_secs(receives: u32, jitter_percent: u32) -> u32 {
    let exponent = receives.saturating_sub(1).min(16);
    let base = FIRST_RETRY_SECS.saturating_mul(1 << exponent).min(MAX_RETRY_SECS);
    let spread = 80 + jitter_percent.min(40);
    (base * spread / 100).max(1)
}

fn jitter_percent() -> u32 {
    let mut byte = [0u8; 1];
    match getrandom::fill(&mut byte) {
        Ok(()) => u32::from(byte[0]) % 41,
        Err(_) => 20,
    }
}

fn time_left(deadline_ms: u64) -> Duration {
    if deadline_ms == 0 {
        return Duration::MAX;
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

#[cfg(test)]
mod tests;
