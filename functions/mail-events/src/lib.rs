//! `mail-events`: SES publishes an event for every reset mail it bounces, delivers, rejects or
//! draws a complaint for (configuration set → SNS topic → this function). Each one is recorded
//! on the account whose latest reset mail it is about, so `reset-admin mail-problems` can list
//! the accounts whose registered address no longer works, newest first.
//!
//! The handler is a plain async fn over the [`MailEventStore`] port; `main.rs` only wires it.

use aws_lambda_events::event::sns::{SnsEvent, SnsRecord};
use chrono::{DateTime, Utc};
use reset_core::config::{ConfigError, Settings};
use reset_core::domain::{Clock, SystemClock, Timestamp};
use reset_core::metrics;
use reset_core::store::{
    DynamoStore, MailEvent, MailEventKind, MailEventRecord, MailEventStore, StoreError, TableNames,
};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

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

/// How far in the future an event may say it happened (clock skew between SES and Lambda).
const FUTURE_TOLERANCE_SECS: i64 = 5 * 60;

impl MailEvents {
    /// Reads the same settings as the other functions and builds the DynamoDB client.
    /// Touches no network.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        // SNS invokes asynchronously and Lambda retries a failed event twice, so a call may
        // take longer than on the request path; it must still end well inside the timeout.
        let sdk_config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(1))
                    .operation_timeout(Duration::from_secs(4))
                    .build(),
            )
            .load()
            .await;
        let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk_config), TableNames::from(&settings));
        let topic_arn = std::env::var(TOPIC_ARN_VARIABLE)
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or(ConfigError::Missing(TOPIC_ARN_VARIABLE))?;
        Ok(Self {
            store: Arc::new(store),
            clock: Arc::new(SystemClock),
            metrics_namespace: settings.metrics_namespace,
            topic_arn,
        })
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
    /// SES event types this function does not record (Send, Open, DeliveryDelay, …).
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
    pub fn metric_counts(&self) -> [(&'static str, u64); 7] {
        [
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

/// Why an SNS message could not be read as an SES event.
#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("not an SES event notification: {0}")]
    NotJson(#[from] serde_json::Error),
    #[error("{0} event without its `{1}` object")]
    MissingDetails(&'static str, &'static str),
    #[error("the mail object has no message id")]
    NoMessageId,
}

/// Records every SES event in `event`. A store failure fails the invocation, so Lambda retries
/// it (then the dead-letter queue keeps it); recording is idempotent, so retries are safe. A
/// message that is not an SES event is logged and skipped: retrying cannot fix it.
pub async fn handle(deps: &MailEvents, event: SnsEvent) -> Result<Summary, StoreError> {
    let mut summary = Summary::default();
    for record in &event.records {
        handle_record(deps, record, &mut summary).await?;
    }
    metrics::emit(&deps.metrics_namespace, deps.clock.now(), &summary.metric_counts());
    tracing::info!(
        recorded = summary.recorded,
        stale = summary.stale,
        unmatched = summary.unmatched,
        foreign = summary.foreign,
        clamped = summary.clamped,
        ignored = summary.ignored,
        malformed = summary.malformed,
        "mail events handled"
    );
    Ok(summary)
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
            summary.ignored += 1;
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

/// An SES event record (event publishing; `notificationType` in the older identity
/// notifications). Only what is recorded is read; addresses are never kept.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesNotification {
    #[serde(alias = "notificationType")]
    event_type: String,
    mail: SesMail,
    bounce: Option<SesBounce>,
    complaint: Option<SesComplaint>,
    delivery: Option<SesDelivery>,
    reject: Option<SesReject>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesMail {
    #[serde(default)]
    message_id: String,
    timestamp: DateTime<Utc>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesBounce {
    bounce_type: String,
    #[serde(default)]
    bounce_sub_type: String,
    #[serde(default)]
    bounced_recipients: Vec<SesBouncedRecipient>,
    timestamp: DateTime<Utc>,
}

#[derive(Deserialize)]
struct SesBouncedRecipient {
    /// The SMTP enhanced status code, e.g. `5.1.1`. (`diagnosticCode` is not read: it often
    /// repeats the address.)
    status: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesComplaint {
    timestamp: DateTime<Utc>,
    complaint_feedback_type: Option<String>,
    complaint_sub_type: Option<String>,
}

#[derive(Deserialize)]
struct SesDelivery {
    timestamp: DateTime<Utc>,
}

#[derive(Deserialize)]
struct SesReject {
    reason: Option<String>,
}

/// Longest detail kept on the account.
const MAX_DETAIL_CHARS: usize = 100;

fn millis(time: DateTime<Utc>) -> Timestamp {
    Timestamp::from_millis(time.timestamp_millis())
}

/// Keeps printable ASCII only and bounds the length: the detail ends up in an admin's terminal.
fn clean_detail(parts: &[Option<&str>]) -> Option<String> {
    let joined = parts
        .iter()
        .flatten()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let cleaned: String = joined
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(MAX_DETAIL_CHARS)
        .collect();
    (!cleaned.is_empty()).then_some(cleaned)
}

/// Reads one SNS message at `now`, with the event's time clamped to [the mail's sending time,
/// now + 5 min] (a forged or skewed time must not sort to the top of `mail-problems`); the flag
/// says whether it had to be. `Ok(None)` for SES event types that are not recorded.
pub fn parse_notification_at(message: &str, now: Timestamp) -> Result<Option<(MailEvent, bool)>, NotificationError> {
    let Some(mut event) = parse_notification(message)? else {
        return Ok(None);
    };
    let sent_at = serde_json::from_str::<SesNotification>(message)
        .map(|n| millis(n.mail.timestamp))
        .unwrap_or(event.occurred_at);
    let latest = now.plus_secs(FUTURE_TOLERANCE_SECS);
    let clamped = event.occurred_at.max(sent_at.min(latest)).min(latest);
    let changed = clamped != event.occurred_at;
    event.occurred_at = clamped;
    Ok(Some((event, changed)))
}

/// Reads one SNS message, times as SES wrote them. `Ok(None)` for SES event types that are
/// not recorded.
pub fn parse_notification(message: &str) -> Result<Option<MailEvent>, NotificationError> {
    let notification: SesNotification = serde_json::from_str(message)?;
    if notification.mail.message_id.is_empty() {
        return Err(NotificationError::NoMessageId);
    }
    let message_id = notification.mail.message_id;
    let (kind, occurred_at, detail) = match notification.event_type.as_str() {
        "Bounce" => {
            let bounce = notification
                .bounce
                .ok_or(NotificationError::MissingDetails("Bounce", "bounce"))?;
            let kind_of_bounce = format!("{}/{}", bounce.bounce_type, bounce.bounce_sub_type);
            let status = bounce.bounced_recipients.first().and_then(|r| r.status.as_deref());
            (
                MailEventKind::Bounce,
                millis(bounce.timestamp),
                clean_detail(&[Some(kind_of_bounce.trim_end_matches('/')), status]),
            )
        }
        "Complaint" => {
            let complaint = notification
                .complaint
                .ok_or(NotificationError::MissingDetails("Complaint", "complaint"))?;
            (
                MailEventKind::Complaint,
                millis(complaint.timestamp),
                clean_detail(&[
                    complaint.complaint_feedback_type.as_deref(),
                    complaint.complaint_sub_type.as_deref(),
                ]),
            )
        }
        "Delivery" => {
            let delivery = notification
                .delivery
                .ok_or(NotificationError::MissingDetails("Delivery", "delivery"))?;
            (MailEventKind::Delivery, millis(delivery.timestamp), None)
        }
        // A reject happens at send time and carries no time of its own.
        "Reject" => {
            let reason = notification.reject.and_then(|r| r.reason);
            (
                MailEventKind::Reject,
                millis(notification.mail.timestamp),
                clean_detail(&[reason.as_deref()]),
            )
        }
        _ => return Ok(None),
    };
    Ok(Some(MailEvent {
        message_id,
        kind,
        occurred_at,
        detail,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reset_core::domain::{Email, FixedClock, Language, User, Username};
    use reset_core::store::{AccountStore, MemoryStore, UserDirectory};
    use serde_json::json;

    const STACK_TOPIC: &str = "arn:aws:sns:ap-northeast-1:123456789012:password-reset-mail-events";

    #[tokio::test]
    async fn events_from_a_foreign_topic_are_refused() -> Result<(), String> {
        let (deps, store, username) = deps_with_sent_mail("m-1").await?;
        let mut event = sns(&[notification("Complaint", complaint(), "m-1")]).map_err(|e| e.to_string())?;
        event.records[0].sns.topic_arn = "arn:aws:sns:ap-northeast-1:999999999999:anyone".into();
        let summary = handle(&deps, event).await.map_err(|e| e.to_string())?;
        assert_eq!((summary.foreign, summary.recorded), (1, 0));
        assert_eq!(store.mail_state(&username).problem, None);
        Ok(())
    }

    #[tokio::test]
    async fn a_complaint_dated_2099_is_clamped_to_now() -> Result<(), String> {
        let (deps, store, username) = deps_with_sent_mail("m-1").await?;
        let forged =
            json!({ "complaint": { "timestamp": "2099-01-01T00:00:00.000Z", "complaintFeedbackType": "abuse" } });
        let summary = handle(
            &deps,
            sns(&[notification("Complaint", forged, "m-1")]).map_err(|e| e.to_string())?,
        )
        .await
        .map_err(|e| e.to_string())?;
        assert_eq!((summary.recorded, summary.clamped), (1, 1));
        let at = store.mail_state(&username).problem.map(|p| p.at);
        assert_eq!(at, Some(deps.clock.now().plus_secs(FUTURE_TOLERANCE_SECS)));

        // Nor can an event claim to predate the mail it is about.
        let early = json!({ "complaint": { "timestamp": "2001-01-01T00:00:00.000Z" } });
        let parsed = parse_notification_at(&notification("Complaint", early, "m-1"), deps.clock.now())
            .map_err(|e| e.to_string())?
            .map(|(event, clamped)| (event.occurred_at, clamped));
        assert_eq!(parsed, Some((Timestamp::from_millis(1_775_005_200_000), true)));
        Ok(())
    }

    fn notification(event_type: &str, details: serde_json::Value, message_id: &str) -> String {
        let mut value = json!({
            "eventType": event_type,
            "mail": {
                "timestamp": "2026-04-01T01:00:00.000Z",
                "source": "no-reply@id.example.jp",
                "messageId": message_id,
                "destination": ["ex000001@example.jp"],
            }
        });
        if let (Some(object), Some(details)) = (value.as_object_mut(), details.as_object()) {
            object.extend(details.clone());
        }
        value.to_string()
    }

    fn sns(messages: &[String]) -> Result<SnsEvent, serde_json::Error> {
        let records: Vec<serde_json::Value> = messages
            .iter()
            .enumerate()
            .map(|(i, message)| {
                json!({
                    "EventSource": "aws:sns",
                    "EventVersion": "1.0",
                    "EventSubscriptionArn": "arn:aws:sns:ap-northeast-1:123456789012:password-reset-mail-events:sub",
                    "Sns": {
                        "Type": "Notification",
                        "MessageId": format!("00000000-0000-0000-0000-00000000000{i}"),
                        "TopicArn": STACK_TOPIC,
                        "Subject": null,
                        "Message": message,
                        "Timestamp": "2026-04-01T01:00:05.000Z",
                        "SignatureVersion": "1",
                        "Signature": "c2lnbmF0dXJl",
                        "SigningCertUrl": "https://sns.ap-northeast-1.amazonaws.com/cert.pem",
                        "UnsubscribeUrl": "https://sns.ap-northeast-1.amazonaws.com/?Action=Unsubscribe",
                        "MessageAttributes": {}
                    }
                })
            })
            .collect();
        serde_json::from_value(json!({ "Records": records }))
    }

    fn bounce() -> serde_json::Value {
        json!({ "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{ "emailAddress": "ex000001@example.jp", "action": "failed",
                                    "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 <ex000001@example.jp> unknown" }],
            "timestamp": "2026-04-01T01:00:03.250Z",
            "feedbackId": "f-1"
        }})
    }

    fn delivery() -> serde_json::Value {
        json!({ "delivery": { "timestamp": "2026-04-01T01:00:02.000Z", "recipients": ["ex000001@example.jp"],
                              "smtpResponse": "250 ok", "processingTimeMillis": 900 } })
    }

    fn complaint() -> serde_json::Value {
        json!({ "complaint": { "timestamp": "2026-04-01T02:00:00.000Z", "complaintFeedbackType": "abuse",
                               "complainedRecipients": [{ "emailAddress": "ex000001@example.jp" }] } })
    }

    #[test]
    fn reads_every_recorded_event_type_without_addresses() -> Result<(), NotificationError> {
        let bounce = parse_notification(&notification("Bounce", bounce(), "m-1"))?;
        assert_eq!(
            bounce,
            Some(MailEvent {
                message_id: "m-1".into(),
                kind: MailEventKind::Bounce,
                occurred_at: Timestamp::from_millis(1_775_005_203_250),
                detail: Some("Permanent/General 5.1.1".into()),
            })
        );
        let complaint = parse_notification(&notification("Complaint", complaint(), "m-2"))?;
        assert_eq!(complaint.as_ref().map(|e| e.kind), Some(MailEventKind::Complaint));
        assert_eq!(complaint.and_then(|e| e.detail).as_deref(), Some("abuse"));
        let delivered = parse_notification(&notification("Delivery", delivery(), "m-3"))?;
        assert_eq!(
            delivered.as_ref().map(|e| (e.kind, e.detail.clone())),
            Some((MailEventKind::Delivery, None))
        );
        let rejected = parse_notification(&notification(
            "Reject",
            json!({ "reject": { "reason": "Bad content" } }),
            "m-4",
        ))?;
        assert_eq!(
            rejected.map(|e| (e.kind, e.occurred_at, e.detail)),
            Some((
                MailEventKind::Reject,
                Timestamp::from_millis(1_775_005_200_000),
                Some("Bad content".into())
            ))
        );
        Ok(())
    }

    /// The samples in events/ are real Lambda SNS events carrying what the code expects.
    #[test]
    fn the_event_samples_parse_as_sns_events_with_ses_records() -> Result<(), String> {
        let events = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
        let expected = [
            (
                "mail-bounce.json",
                MailEventKind::Bounce,
                Some("Permanent/General 5.1.1"),
            ),
            ("mail-complaint.json", MailEventKind::Complaint, Some("abuse")),
            ("mail-delivery.json", MailEventKind::Delivery, None),
            ("mail-reject.json", MailEventKind::Reject, Some("Bad content")),
        ];
        for (file, kind, detail) in expected {
            let text = std::fs::read_to_string(events.join(file)).map_err(|e| format!("{file}: {e}"))?;
            let event: SnsEvent = serde_json::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
            assert_eq!(event.records.len(), 1, "{file}");
            let parsed = parse_notification(&event.records[0].sns.message).map_err(|e| format!("{file}: {e}"))?;
            let parsed = parsed.ok_or_else(|| format!("{file}: not recorded"))?;
            assert_eq!(parsed.kind, kind, "{file}");
            assert_eq!(parsed.detail.as_deref(), detail, "{file}");
            assert_eq!(
                parsed.message_id,
                "0106019a2b3c4d5e-1f2e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b-000000"
            );
        }
        Ok(())
    }

    #[test]
    fn older_identity_notifications_are_read_too() -> Result<(), NotificationError> {
        let text = notification("Bounce", bounce(), "m-5").replace("eventType", "notificationType");
        assert_eq!(parse_notification(&text)?.map(|e| e.kind), Some(MailEventKind::Bounce));
        Ok(())
    }

    #[test]
    fn unrecorded_types_are_ignored_and_garbage_is_refused() {
        assert!(matches!(
            parse_notification(&notification("Send", json!({ "send": {} }), "m-6")),
            Ok(None)
        ));
        assert!(matches!(
            parse_notification("Hello"),
            Err(NotificationError::NotJson(_))
        ));
        assert!(matches!(
            parse_notification(&notification("Bounce", json!({}), "m-7")),
            Err(NotificationError::MissingDetails("Bounce", "bounce"))
        ));
        assert!(matches!(
            parse_notification(&notification("Delivery", delivery(), "")),
            Err(NotificationError::NoMessageId)
        ));
    }

    #[test]
    fn details_are_printable_and_bounded() {
        assert_eq!(
            clean_detail(&[Some("a\u{1b}[31mb"), None, Some("  ")]).as_deref(),
            Some("a[31mb")
        );
        assert_eq!(
            clean_detail(&[Some(&"x".repeat(500))]).map(|d| d.len()),
            Some(MAX_DETAIL_CHARS)
        );
        assert_eq!(clean_detail(&[None]), None);
    }

    async fn deps_with_sent_mail(message_id: &str) -> Result<(MailEvents, Arc<MemoryStore>, Username), String> {
        let store = Arc::new(MemoryStore::default());
        let username = Username::parse("ex000001").map_err(|e| e.to_string())?;
        let user = User::new_active(
            username.clone(),
            Email::parse("ex000001@example.jp").map_err(|e| e.to_string())?,
            Language::Ja,
            Timestamp::from_millis(0),
        )
        .map_err(|e| e.to_string())?;
        store.create_user(&user).await.map_err(|e| e.to_string())?;
        store
            .remember_reset_mail(&username, message_id, Timestamp::from_millis(1_775_005_200_000))
            .await
            .map_err(|e| e.to_string())?;
        let deps = MailEvents {
            store: store.clone(),
            clock: Arc::new(FixedClock::at(Timestamp::from_millis(1_775_005_210_000))),
            metrics_namespace: "PasswordReset/test".into(),
            topic_arn: STACK_TOPIC.into(),
        };
        Ok((deps, store, username))
    }

    #[tokio::test]
    async fn a_bounce_becomes_the_accounts_mail_problem_and_a_later_delivery_clears_it() -> Result<(), String> {
        let (deps, store, username) = deps_with_sent_mail("m-1").await?;
        let summary = handle(
            &deps,
            sns(&[notification("Bounce", bounce(), "m-1")]).map_err(|e| e.to_string())?,
        )
        .await
        .map_err(|e| e.to_string())?;
        assert_eq!((summary.bounces, summary.recorded), (1, 1));
        let problem = store.mail_state(&username).problem.map(|p| (p.kind, p.detail));
        assert_eq!(
            problem,
            Some((MailEventKind::Bounce, Some("Permanent/General 5.1.1".into())))
        );

        // The same mail's delivery, arriving late, does not hide its bounce...
        let late = handle(
            &deps,
            sns(&[notification("Delivery", delivery(), "m-1")]).map_err(|e| e.to_string())?,
        )
        .await
        .map_err(|e| e.to_string())?;
        assert_eq!(late.stale, 1);
        assert!(store.mail_state(&username).problem.is_some());

        // ...but the delivery of a newer reset mail does.
        store
            .remember_reset_mail(&username, "m-2", Timestamp::from_millis(1_775_005_300_000))
            .await
            .map_err(|e| e.to_string())?;
        let newer = handle(
            &deps,
            sns(&[notification("Delivery", delivery(), "m-2")]).map_err(|e| e.to_string())?,
        )
        .await
        .map_err(|e| e.to_string())?;
        assert_eq!((newer.deliveries, newer.recorded), (1, 1));
        assert_eq!(store.mail_state(&username).problem, None);
        Ok(())
    }

    #[tokio::test]
    async fn unknown_mail_and_malformed_messages_are_counted_not_failed() -> Result<(), String> {
        let (deps, _store, _username) = deps_with_sent_mail("m-1").await?;
        let event = sns(&[
            notification("Complaint", complaint(), "someone-elses-mail"),
            "not json".to_owned(),
            notification("Open", json!({ "open": {} }), "m-1"),
        ])
        .map_err(|e| e.to_string())?;
        let summary = handle(&deps, event).await.map_err(|e| e.to_string())?;
        assert_eq!(
            (
                summary.complaints,
                summary.unmatched,
                summary.malformed,
                summary.ignored
            ),
            (1, 1, 1, 1)
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_store_outage_fails_the_invocation_so_lambda_retries_it() -> Result<(), String> {
        let (deps, store, _username) = deps_with_sent_mail("m-1").await?;
        store.set_down(true);
        let event = sns(&[notification("Bounce", bounce(), "m-1")]).map_err(|e| e.to_string())?;
        assert!(matches!(handle(&deps, event).await, Err(StoreError::Unavailable(_))));
        Ok(())
    }
}
