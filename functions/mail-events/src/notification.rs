//! Reading SES event notifications (the `Message` of an SNS record) into `MailEvent`s: only
//! what is recorded is read, addresses never, details cleaned for an administrator's terminal,
//! and event times clamped so a forged or skewed time cannot sort to the top of mail-problems.

use chrono::{DateTime, Utc};
use reset_core::domain::Timestamp;
use reset_core::store::{MailEvent, MailEventKind};
use serde::Deserialize;

/// How far in the future an event may say it happened (clock skew between SES and Lambda).
pub(crate) const FUTURE_TOLERANCE_SECS: i64 = 5 * 60;

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

/// What is logged of an SES DeliveryDelay event: its type and the first recipient's SMTP status
/// (never the address, never the diagnostic text, which may repeat it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryDelay {
    pub delay_type: String,
    pub status: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesDelayNotification {
    #[serde(alias = "notificationType")]
    event_type: String,
    delivery_delay: Option<SesDelay>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesDelay {
    #[serde(default)]
    delay_type: String,
    #[serde(default)]
    delayed_recipients: Vec<SesBouncedRecipient>,
}

/// `Some` when the SNS message is an SES DeliveryDelay event.
pub fn delivery_delay(message: &str) -> Option<DeliveryDelay> {
    let notification: SesDelayNotification = serde_json::from_str(message).ok()?;
    if notification.event_type != "DeliveryDelay" {
        return None;
    }
    let delay = notification.delivery_delay;
    let status = delay
        .as_ref()
        .and_then(|d| d.delayed_recipients.first())
        .and_then(|r| r.status.as_deref());
    Some(DeliveryDelay {
        delay_type: clean_detail(&[delay.as_ref().map(|d| d.delay_type.as_str())]).unwrap_or_default(),
        status: clean_detail(&[status]).unwrap_or_default(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_lambda_events::event::sns::SnsEvent;
    use serde_json::json;

    pub(crate) fn notification(event_type: &str, details: serde_json::Value, message_id: &str) -> String {
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

    pub(crate) fn bounce() -> serde_json::Value {
        json!({ "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [{ "emailAddress": "ex000001@example.jp", "action": "failed",
                                    "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 <ex000001@example.jp> unknown" }],
            "timestamp": "2026-04-01T01:00:03.250Z",
            "feedbackId": "f-1"
        }})
    }

    pub(crate) fn delivery() -> serde_json::Value {
        json!({ "delivery": { "timestamp": "2026-04-01T01:00:02.000Z", "recipients": ["ex000001@example.jp"],
                              "smtpResponse": "250 ok", "processingTimeMillis": 900 } })
    }

    pub(crate) fn complaint() -> serde_json::Value {
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
}
