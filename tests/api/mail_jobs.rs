//! The mail queue's jobs as send-mail reads them, against DynamoDB Local and the SES emulator:
//! one mail per turn and the per-account budget hold under concurrent senders, a notice goes only to an address the
//! account has, and only the holder of a job's claim can end it.

use anyhow::{anyhow, Result};
use password_reset_tests::reset_core::app::sdk_config;
use password_reset_tests::reset_core::domain::{Clock, Email, FixedClock, JobId, Language, MailJob, SystemClock};
use password_reset_tests::reset_core::mail::SesMailer;
use password_reset_tests::reset_core::service::deliver;
use password_reset_tests::reset_core::store::{ClaimEnd, ClaimHolder, CounterKey, JobClaim, JobEnd, MailLedger};
use password_reset_tests::*;
use send_mail::SendMail;
use std::sync::Arc;
use tokio::task::JoinSet;

/// send-mail as production wires it, on the test stack, with a budget of `budget` reset mails
/// per account and hour and a clock fixed at now (so that every job falls in one hour).
async fn sender_with_budget(budget: u32) -> Result<SendMail> {
    let mut mail = SendMail::from_env().await?;
    mail.sender.settings.rate_limit_per_username_per_hour = budget;
    mail.sender.clock = Arc::new(FixedClock::at(SystemClock.now()));
    Ok(mail)
}

/// Twelve jobs of one account delivered at once, as twelve send-mail instances would: one turn,
/// so one mail; every other job is skipped, by the spent budget or the taken turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_senders_mail_an_account_once_per_turn() -> Result<()> {
    let app = local_app().await?;
    let user = create_user(&app, Language::Ja).await?;
    let sender = Arc::new(sender_with_budget(3).await?);
    let now = sender.sender.clock.now();
    let mut senders = JoinSet::new();
    for _ in 0..12 {
        let job = MailJob::reset_link(user.username.clone(), now, 3600)?;
        let sender = sender.clone();
        senders.spawn(async move { deliver(&sender.sender, &job).await.map(|d| d.code()) });
    }
    let mut codes = Vec::new();
    while let Some(joined) = senders.join_next().await {
        codes.push(joined??);
    }
    let sent = codes.iter().filter(|c| **c == "sent").count();
    let skipped = codes
        .iter()
        .filter(|c| ["mail_budget_spent", "reset_mail_not_its_turn"].contains(c))
        .count();
    assert_eq!((sent, skipped), (1, 11), "{codes:?}");
    wait_for_mails(user.email.as_str(), 1).await?;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(mails_to(user.email.as_str()).await?.len(), 1, "the emulator received");
    Ok(())
}

/// The account's hourly budget is one conditional write in DynamoDB: twelve concurrent
/// reservations against a budget of three, as twelve senders in three turns of one hour would
/// make them, take exactly three.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_never_pass_the_budget() -> Result<()> {
    let sender = Arc::new(sender_with_budget(3).await?);
    let username = random_username();
    let window_start = sender.sender.clock.now().as_millis() / 1000 / 3600 * 3600;
    let key = CounterKey::mails_per_username(&username, window_start);
    let mut reservations = JoinSet::new();
    for _ in 0..12 {
        let (sender, key) = (sender.clone(), key.clone());
        reservations.spawn(async move { sender.sender.counters.reserve_below(&key, 3, window_start + 7200).await });
    }
    let mut taken = 0;
    while let Some(joined) = reservations.join_next().await {
        taken += usize::from(joined??);
    }
    assert_eq!(taken, 3);
    Ok(())
}

#[tokio::test]
async fn a_mail_ses_did_not_take_gives_its_budget_back() -> Result<()> {
    let app = local_app().await?;
    let user = create_user(&app, Language::Ja).await?;
    let working = sender_with_budget(1).await?;
    // The same sender with SES unreachable (nothing listens on port 9).
    let ses = aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::config::Builder::from(&sdk_config().await)
            .endpoint_url("http://127.0.0.1:9")
            .build(),
    );
    let mut broken = sender_with_budget(1).await?;
    broken.sender.clock = working.sender.clock.clone();
    broken.sender.mailer = Arc::new(SesMailer::new(ses, app.settings.sender_address.clone(), None));
    let now = working.sender.clock.now();

    let failed = deliver(&broken.sender, &MailJob::reset_link(user.username.clone(), now, 3600)?).await;
    assert_eq!(failed.err().map(|e| e.code()), Some("ses_unavailable"));
    let sent = deliver(&working.sender, &MailJob::reset_link(user.username.clone(), now, 3600)?).await?;
    assert_eq!(sent.code(), "sent", "the failed send spent nothing");
    let over = deliver(&working.sender, &MailJob::reset_link(user.username.clone(), now, 3600)?).await?;
    assert_eq!(over.code(), "mail_budget_spent");
    Ok(())
}

#[tokio::test]
async fn a_notice_to_an_address_the_account_does_not_have_is_refused() -> Result<()> {
    let app = local_app().await?;
    let user = create_user(&app, Language::Ja).await?;
    let sender = sender_with_budget(5).await?;
    let now = sender.sender.clock.now();
    let forged = Email::parse(&format!("{}@attacker.example", random_username())).map_err(|e| anyhow!(e))?;

    // "Your password was changed", to an address the job names rather than the account's.
    let job = MailJob::password_changed(user.username.clone(), forged.clone(), Language::Ja, now)?;
    assert_eq!(deliver(&sender.sender, &job).await?.code(), "recipient_not_on_account");
    // A redelivery of the refused job sends nothing either.
    assert_eq!(deliver(&sender.sender, &job).await?.code(), "duplicate");
    // For an account that does not exist.
    let nobody = MailJob::password_changed(random_username(), forged.clone(), Language::Ja, now)?;
    assert_eq!(
        deliver(&sender.sender, &nobody).await?.code(),
        "recipient_not_on_account"
    );
    // "Your address was changed", to a forged "old address" (the account never had it).
    let jobs = MailJob::address_changed(
        &user.username,
        Some(forged.clone()),
        user.email.clone(),
        Language::Ja,
        now,
    )?;
    let mut codes = Vec::new();
    for job in &jobs {
        codes.push(deliver(&sender.sender, job).await?.code());
    }
    assert_eq!(codes, ["recipient_not_on_account", "sent"]);
    // The genuine notice is sent.
    let genuine = MailJob::password_changed(user.username.clone(), user.email.clone(), Language::Ja, now)?;
    assert_eq!(deliver(&sender.sender, &genuine).await?.code(), "sent");

    wait_for_mails(user.email.as_str(), 2).await?;
    assert!(
        mails_to(forged.as_str()).await?.is_empty(),
        "nothing reached the forged address"
    );
    Ok(())
}

#[tokio::test]
async fn a_sender_past_its_lease_can_neither_release_nor_finish_the_claim_that_took_over() -> Result<()> {
    let app = local_app().await?;
    let ledger = tables(&app.settings).await;
    let job = JobId::generate()?;
    let (stale, current, third) = (
        ClaimHolder::generate()?,
        ClaimHolder::generate()?,
        ClaimHolder::generate()?,
    );
    let start = SystemClock.now();
    let keep = start.plus_secs(3600).as_secs();

    assert_eq!(
        ledger.claim_job(&job, &stale, start, 60, keep).await?,
        JobClaim::Granted
    );
    // The first sender stalls past its 60 s lease; another takes the job over.
    let later = start.plus_secs(61);
    assert_eq!(
        ledger.claim_job(&job, &current, later, 60, keep).await?,
        JobClaim::Granted
    );
    // The stale sender wakes up and gives "its" claim back: refused, so no third sender can
    // claim the job while the current one is sending it.
    assert_eq!(ledger.release_job(&job, &stale).await?, ClaimEnd::NotHolder);
    assert_eq!(
        ledger.claim_job(&job, &third, later.plus_secs(1), 60, keep).await?,
        JobClaim::HeldElsewhere
    );
    assert_eq!(
        ledger
            .finish_job(&job, &stale, JobEnd::Skipped { reason: "stale" }, later)
            .await?,
        ClaimEnd::NotHolder
    );
    // The holder finishes; the job is done for every later delivery, and cannot be given back.
    assert_eq!(
        ledger
            .finish_job(&job, &current, JobEnd::Sent { message_id: "current" }, later)
            .await?,
        ClaimEnd::Ended
    );
    assert_eq!(ledger.release_job(&job, &current).await?, ClaimEnd::NotHolder);
    assert_eq!(
        ledger.claim_job(&job, &third, later.plus_secs(2), 60, keep).await?,
        JobClaim::AlreadyDone
    );
    Ok(())
}
