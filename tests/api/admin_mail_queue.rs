//! `reset-admin mail-queue` and `mail-queue redrive` through the CLI against moto's SQS and STS
//! and DynamoDB Local. Each test makes its own pair of queues (the same redrive policy as the
//! template's), so nothing else that uses the local mail queue can disturb the counts.

use crate::admin_support::*;
use anyhow::{anyhow, Context, Result};
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use password_reset_tests::*;
use reset_admin::audit::AuditAction;
use reset_admin::{Accounts, AuditSubject};
use std::process::Output;

struct Queues {
    client: aws_sdk_sqs::Client,
    main: String,
    dead_letter: String,
}

async fn fresh_queues() -> Result<Queues> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let client = aws_sdk_sqs::Client::new(&config);
    let tag = random_username();
    let dead_letter = client
        .create_queue()
        .queue_name(format!("test-mail-dlq-{tag}"))
        .send()
        .await?
        .queue_url
        .ok_or_else(|| anyhow!("no queue url"))?;
    let dead_letter_arn = client
        .get_queue_attributes()
        .queue_url(&dead_letter)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| anyhow!("no queue arn"))?;
    let main = client
        .create_queue()
        .queue_name(format!("test-mail-{tag}"))
        .attributes(
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dead_letter_arn}","maxReceiveCount":"20"}}"#),
        )
        .send()
        .await?
        .queue_url
        .ok_or_else(|| anyhow!("no queue url"))?;
    Ok(Queues {
        client,
        main,
        dead_letter,
    })
}

fn reset_admin_on(queues: &Queues, args: &[&str], sts: Option<&str>) -> Result<Output> {
    let mut set = vec![
        ("RESET_ADMIN_ACTOR", "queue-test"),
        ("MAIL_QUEUE_URL", queues.main.as_str()),
        ("MAIL_DEAD_LETTER_QUEUE_URL", queues.dead_letter.as_str()),
    ];
    if let Some(endpoint) = sts {
        set.push(("AWS_ENDPOINT_URL_STS", endpoint));
    }
    reset_admin_with(args, &set, &[])
}

async fn depth(queues: &Queues, url: &str) -> Result<(u64, u64)> {
    let attributes = queues
        .client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await?
        .attributes
        .unwrap_or_default();
    let count = |name| -> Result<u64> { Ok(attributes.get(&name).context("attribute missing")?.parse()?) };
    Ok((
        count(QueueAttributeName::ApproximateNumberOfMessages)?,
        count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)?,
    ))
}

/// A mail job as the request paths queue it: its body holds the recipient's address.
async fn queue_mail(queues: &Queues, url: &str, address: &str) -> Result<()> {
    queues
        .client
        .send_message()
        .queue_url(url)
        .message_body(format!(r#"{{"kind":"reset","to":"{address}"}}"#))
        .message_attributes(
            "kind",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("reset")
                .build()?,
        )
        .send()
        .await?;
    Ok(())
}

#[tokio::test]
async fn the_status_shows_counts_and_the_oldest_dead_letter_never_a_body() -> Result<()> {
    let queues = fresh_queues().await?;
    let secret = format!("{}@hospital.example.jp", random_username());
    for _ in 0..3 {
        queue_mail(&queues, &queues.dead_letter, &secret).await?;
    }
    queue_mail(&queues, &queues.main, &secret).await?;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let status = reset_admin_on(&queues, &["mail-queue"], None)?;
    let out = text(&status);
    assert!(status.status.success(), "{out}");
    let main_line = out
        .lines()
        .find(|l| l.starts_with("mail queue"))
        .ok_or_else(|| anyhow!("{out}"))?;
    assert!(
        main_line.contains("waiting     1") && main_line.contains("in flight     0"),
        "{out}"
    );
    let dead_line = out
        .lines()
        .find(|l| l.starts_with("dead-letter queue"))
        .ok_or_else(|| anyhow!("{out}"))?;
    assert!(dead_line.contains("waiting     3"), "{out}");
    assert!(out.contains("oldest dead letter seen: first queued "), "{out}");
    assert!(out.contains(" s ago)"), "{out}");
    assert!(
        !out.contains(&secret) && !out.contains("hospital"),
        "no body, no address: {out}"
    );

    // The peek hid nothing, and the main queue was never received from: its message is
    // received for the first time now.
    assert_eq!(depth(&queues, &queues.dead_letter).await?, (3, 0));
    let first = queues
        .client
        .receive_message()
        .queue_url(&queues.main)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .visibility_timeout(0)
        .send()
        .await?;
    let receive_count = first
        .messages()
        .first()
        .and_then(|m| m.attributes())
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .cloned();
    assert_eq!(receive_count.as_deref(), Some("1"));

    // An empty dead-letter queue says so.
    let empty = fresh_queues().await?;
    let status = reset_admin_on(&empty, &["mail-queue"], None)?;
    assert!(status.status.success(), "{}", text(&status));
    assert!(text(&status).contains("no dead-lettered mail"), "{}", text(&status));
    Ok(())
}

#[tokio::test]
async fn redrive_moves_every_dead_letter_back_intact_and_is_audited() -> Result<()> {
    let queues = fresh_queues().await?;
    let accounts = Accounts::from_env().await?;
    let address = format!("{}@clinic.example.jp", random_username());
    for _ in 0..13 {
        queue_mail(&queues, &queues.dead_letter, &address).await?;
    }
    let reason = format!("SES outage over ({})", random_username());

    // Without the caller's identity nothing moves.
    let refused = reset_admin_on(
        &queues,
        &["mail-queue", "redrive", "--reason", &reason],
        Some("http://127.0.0.1:9"),
    )?;
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).contains("cannot tell who is running this command"),
        "{}",
        text(&refused)
    );
    assert_eq!(depth(&queues, &queues.dead_letter).await?, (13, 0));

    let redriven = reset_admin_on(&queues, &["mail-queue", "redrive", "--reason", &reason], None)?;
    let out = text(&redriven);
    assert!(redriven.status.success(), "{out}");
    assert!(out.contains("moved 13 message(s) from test-mail-dlq-"), "{out}");
    assert!(!out.contains(&address), "{out}");
    assert_eq!(depth(&queues, &queues.dead_letter).await?, (0, 0));
    assert_eq!(depth(&queues, &queues.main).await?.0, 13);

    // Bodies and message attributes arrive unchanged.
    let moved = queues
        .client
        .receive_message()
        .queue_url(&queues.main)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await?;
    assert!(!moved.messages().is_empty());
    for message in moved.messages() {
        assert_eq!(
            message.body(),
            Some(format!(r#"{{"kind":"reset","to":"{address}"}}"#).as_str())
        );
        assert_eq!(
            message
                .message_attributes()
                .and_then(|a| a.get("kind"))
                .and_then(|v| v.string_value()),
            Some("reset")
        );
    }

    let trail = accounts.audit_trail(AuditSubject::MailQueue).await?;
    let entry = trail
        .iter()
        .find(|e| e.reason == reason)
        .ok_or_else(|| anyhow!("no audit entry: {trail:?}"))?;
    assert_eq!(entry.action, AuditAction::Redrive);
    assert_eq!(entry.count, Some(13));
    assert_eq!(entry.actor, "queue-test");
    assert_eq!(entry.caller_arn.as_deref(), Some(LOCAL_CALLER_ARN));
    let listed = reset_admin_on(&queues, &["audit", "mail-queue"], None)?;
    assert!(
        text(&listed)
            .lines()
            .any(|l| l.contains("redrive") && l.contains("13 message(s)") && l.contains(&reason)),
        "{}",
        text(&listed)
    );

    // One queue under both names is refused before anything moves.
    let same = Queues {
        client: queues.client.clone(),
        main: queues.main.clone(),
        dead_letter: queues.main.clone(),
    };
    let refused = reset_admin_on(&same, &["mail-queue", "redrive", "--reason", &reason], None)?;
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("both name"), "{}", text(&refused));
    let (waiting, in_flight) = depth(&queues, &queues.main).await?;
    assert_eq!(waiting + in_flight, 13);

    // Nothing left: nothing moved, nothing audited.
    let again = reset_admin_on(&queues, &["mail-queue", "redrive", "--reason", &reason], None)?;
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains("the dead-letter queue is empty: nothing moved"),
        "{}",
        text(&again)
    );
    let count = accounts
        .audit_trail(AuditSubject::MailQueue)
        .await?
        .iter()
        .filter(|e| e.reason == reason)
        .count();
    assert_eq!(count, 1);
    Ok(())
}
