//! The handler over the in-memory store: foreign topics, clamped times, the account's mail
//! problem, counting what cannot be read, and failing the invocation on a store outage.

use super::*;
use crate::notification::tests::{bounce, complaint, delivery, notification};
use crate::notification::FUTURE_TOLERANCE_SECS;
use reset_core::domain::{Email, FixedClock, Language, Timestamp, User, Username};
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
    let forged = json!({ "complaint": { "timestamp": "2099-01-01T00:00:00.000Z", "complaintFeedbackType": "abuse" } });
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

#[tokio::test(flavor = "current_thread")]
async fn every_line_of_a_record_carries_its_sns_id_kind_and_message_id() -> Result<(), String> {
    let (capture, _logging) = reset_core::telemetry::capture_this_thread();
    let (deps, _store, _username) = deps_with_sent_mail("m-7").await?;
    let event = sns(&[notification("Bounce", bounce(), "m-7")]).map_err(|e| e.to_string())?;
    let sns_id = event.records[0].sns.message_id.clone();
    handle(&deps, event).await.map_err(|e| e.to_string())?;
    let entries: Vec<serde_json::Value> = capture
        .lines()
        .iter()
        .map(|line| serde_json::from_str(line).map_err(|e| format!("not JSON ({e}): {line}")))
        .collect::<Result<_, _>>()?;
    let recorded = entries
        .iter()
        .find(|e| e["fields"]["message"] == "mail event recorded")
        .ok_or_else(|| format!("no 'mail event recorded' line in {entries:?}"))?;
    assert_eq!(recorded["span"]["name"], "record", "{recorded}");
    assert_eq!(recorded["span"]["sns_message_id"], sns_id.as_str(), "{recorded}");
    assert_eq!(recorded["span"]["kind"], "bounce", "{recorded}");
    assert_eq!(recorded["span"]["message_id"], "m-7", "{recorded}");
    Ok(())
}

/// SES's DeliveryDelay events (the configuration set subscribes them) are counted as
/// MailDeliveryDelays, which an alarm watches; they change nothing on the account.
#[tokio::test]
async fn a_delivery_delay_is_counted_for_its_alarm() -> Result<(), String> {
    let (deps, store, username) = deps_with_sent_mail("m-1").await?;
    let delay = json!({ "deliveryDelay": {
        "timestamp": "2026-04-01T01:30:00.000Z",
        "delayType": "TransientCommunicationFailure",
        "expirationTime": "2026-04-01T15:00:00.000Z",
        "delayedRecipients": [{ "emailAddress": "ex000001@example.jp", "status": "4.4.1", "diagnosticCode": "smtp; 421 try later" }]
    }});
    let summary = handle(
        &deps,
        sns(&[notification("DeliveryDelay", delay, "m-1")]).map_err(|e| e.to_string())?,
    )
    .await
    .map_err(|e| e.to_string())?;
    assert_eq!((summary.delivery_delays, summary.recorded, summary.ignored), (1, 0, 0));
    assert!(summary.metric_counts().contains(&(metrics::MAIL_DELIVERY_DELAYS, 1)));
    assert_eq!(store.mail_state(&username).problem, None);
    Ok(())
}
