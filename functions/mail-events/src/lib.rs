//! `mail-events`: SES publishes an event for every reset mail it bounces, delivers, rejects or
//! draws a complaint for (configuration set → SNS topic → this function). Each one is recorded
//! on the account whose latest reset mail it is about, so `reset-admin mail-problems` can list
//! the accounts whose registered address no longer works, newest first.
//!
//! The handler is a plain async fn over the [`MailEventStore`] port; `main.rs` only wires it.

use aws_lambda_events::event::sns::{SnsEvent, SnsRecord};
use reset_core::app::SdkBounds;
use reset_core::domain::Clock;
use reset_core::metrics;
use reset_core::store::{MailEventKind, MailEventRecord, MailEventStore, StoreError};
use reset_core::Wiring;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

mod notification;

pub use notification::{parse_notification, parse_notification_at, NotificationError};

/// SNS invokes asynchronously and Lambda retries a failed event twice, so a call may take longer
/// than on the request path (the SDK's three attempts); it must still end well inside the
/// timeout.
pub const EVENT_BOUNDS: SdkBounds = SdkBounds {
    max_attempts: 3,
    connect_timeout: Duration::from_secs(1),
    attempt_timeout: Duration::from_secs(4),
    operation_timeout: Duration::from_secs(4),
};

/// The function's dependencies, built once per container.
pub struct MailEvents {
    pub store: Arc<dyn MailEventStore>,
    pub clock: Arc<dyn Clock>,
    pub metrics_namespace: String,
    /// The one SNS topic SES publishes this stack's events to; anything else is refused.
    pub topic_arn: String,
}

/// The variable the template sets to the stack's mail-events topic.
pub const TOPIC_ARN_VARIABLE: &str = "MAIL_EVENTS_TOPIC_ARN";

impl MailEvents {
    /// The function's adapters from the process's wiring; `topic_arn` from
    /// `TOPIC_ARN_VARIABLE`. Touches no network.
    pub fn new(wiring: &Wiring, topic_arn: String) -> Self {
        Self {
            store: wiring.mail_events(),
            clock: wiring.clock(),
            metrics_namespace: wiring.settings.metrics_namespace.clone(),
            topic_arn,
        }
    }
}

/// What one invocation did, by kind; also the function's response (handy with
/// `cargo lambda invoke`) and the source of its metrics line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub deliveries: u64,
    pub bounces: u64,
    pub complaints: u64,
    pub rejects: u64,
    /// Recorded on an account.
    pub recorded: u64,
    /// About an account, but a newer mail or address change stands.
    pub stale: u64,
    /// No account's latest reset mail has the message id.
    pub unmatched: u64,
    /// SES DeliveryDelay events: counted (alarmed), not recorded on the account.
    pub delivery_delays: u64,
    /// SES event types this function does not record (Send, Open, …).
    pub ignored: u64,
    /// Not an SES event notification at all.
    pub malformed: u64,
    /// From another topic than the stack's own: refused, whatever it says.
    pub foreign: u64,
    /// Event times outside [the mail's sending, now + 5 min], brought back inside.
    pub clamped: u64,
}

impl Summary {
    fn count(&mut self, kind: MailEventKind) {
        match kind {
            MailEventKind::Delivery => self.deliveries += 1,
            MailEventKind::Bounce => self.bounces += 1,
            MailEventKind::Complaint => self.complaints += 1,
            MailEventKind::Reject => self.rejects += 1,
        }
    }

    /// The metrics line of this invocation (bounces etc. counted whether or not they matched
    /// an account: SES's own bounce rate counts them all).
    pub fn metric_counts(&self) -> [(&'static str, u64); 8] {
        [
            (metrics::MAIL_DELIVERY_DELAYS, self.delivery_delays),
            (metrics::MAIL_EVENTS_FOREIGN, self.foreign),
            (metrics::MAIL_DELIVERIES, self.deliveries),
            (metrics::MAIL_BOUNCES, self.bounces),
            (metrics::MAIL_COMPLAINTS, self.complaints),
            (metrics::MAIL_REJECTS, self.rejects),
            (metrics::MAIL_EVENTS_UNMATCHED, self.unmatched),
            (metrics::MAIL_EVENTS_MALFORMED, self.malformed),
        ]
    }
}

/// Records every SES event in `event`. A store failure fails the invocation, so Lambda retries
/// it (then the dead-letter queue keeps it); recording is idempotent, so retries are safe. A
/// message that is not an SES event is logged and skipped: retrying cannot fix it.
pub async fn handle(deps: &MailEvents, event: SnsEvent) -> Result<Summary, StoreError> {
    let mut summary = Summary::default();
    for record in &event.records {
        handle_record(deps, record, &mut summary)
            .instrument(record_span(record))
            .await?;
    }
    metrics::emit(&deps.metrics_namespace, deps.clock.now(), &summary.metric_counts());
    tracing::info!(
        recorded = summary.recorded,
        stale = summary.stale,
        unmatched = summary.unmatched,
        foreign = summary.foreign,
        clamped = summary.clamped,
        delivery_delays = summary.delivery_delays,
        ignored = summary.ignored,
        malformed = summary.malformed,
        "mail events handled"
    );
    Ok(summary)
}

/// The span of one SNS record: every line it logs carries the SNS message id and, once the
/// notification is read, the event's kind and the SES message id it is about.
fn record_span(record: &SnsRecord) -> tracing::Span {
    tracing::info_span!(
        "record",
        sns_message_id = %record.sns.message_id,
        kind = tracing::field::Empty,
        message_id = tracing::field::Empty
    )
}

async fn handle_record(deps: &MailEvents, record: &SnsRecord, summary: &mut Summary) -> Result<(), StoreError> {
    let sns_message_id = record.sns.message_id.as_str();
    // Lambda's SNS trigger can be subscribed to any topic, and anyone allowed to publish to one
    // could forge an SES complaint: only the stack's own topic speaks for SES.
    if record.sns.topic_arn != deps.topic_arn {
        tracing::warn!(sns_message_id, topic_arn = %record.sns.topic_arn, "SNS message from a foreign topic refused");
        summary.foreign += 1;
        return Ok(());
    }
    let now = deps.clock.now();
    let mail_event = match parse_notification_at(&record.sns.message, now) {
        Ok(Some((mail_event, clamped))) => {
            if clamped {
                tracing::warn!(sns_message_id, "event time outside the mail's sending and now; clamped");
                summary.clamped += 1;
            }
            mail_event
        }
        Ok(None) => {
            match notification::delivery_delay(&record.sns.message) {
                Some(delay) => {
                    // The delay type and SMTP status only: the recipient's address is never logged.
                    tracing::warn!(sns_message_id, delay_type = %delay.delay_type, status = %delay.status, "mail delivery delayed");
                    summary.delivery_delays += 1;
                }
                None => summary.ignored += 1,
            }
            return Ok(());
        }
        Err(error) => {
            tracing::warn!(sns_message_id, error = %error, "SNS message skipped");
            summary.malformed += 1;
            return Ok(());
        }
    };
    summary.count(mail_event.kind);
    let kind = mail_event.kind.code();
    let span = tracing::Span::current();
    span.record("kind", kind);
    span.record("message_id", mail_event.message_id.as_str());
    match deps.store.record_mail_event(&mail_event).await? {
        MailEventRecord::Recorded(username) => {
            summary.recorded += 1;
            tracing::info!(sns_message_id, kind, username = %username, "mail event recorded");
        }
        MailEventRecord::Stale(username) => {
            summary.stale += 1;
            tracing::info!(sns_message_id, kind, username = %username, "mail event superseded");
        }
        MailEventRecord::Unmatched => {
            summary.unmatched += 1;
            tracing::info!(sns_message_id, kind, "mail event for no account's latest reset mail");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
