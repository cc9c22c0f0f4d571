//! Unit tests of the use cases over the in-memory store, the recording queue and the recording
//! mailer. The same paths run against DynamoDB Local, moto's SQS and the SES emulator in `tests/`.

use super::fixture::{fixture, Fixture};
use super::*;
use crate::domain::token::TokenRejection;
use crate::domain::{AccountStatus, ClientKey, Clock, MailJob, ResetToken, Timestamp, User, Username};
use crate::error::AppError;
use crate::hashing::verify_password;
use crate::mail::RecordingMailer;
use crate::store::{CounterKey, MemoryStore, UserDirectory};

/// The reset job a request for the active account ex000000 queued.
async fn queued_reset_job(f: &Fixture) -> crate::domain::MailJob {
    add_user(&f.store, "ex000000", AccountStatus::Active).await;
    request_reset((&f.app).into(), &username("ex000000"), &key(None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    f.queue.drain().pop().unwrap_or_else(|| panic!("nothing queued"))
}

impl Fixture {
    /// Plays the sender over every queued job, as `send-mail` would.
    async fn deliver_queued(&self) -> Vec<Result<Delivery, DeliveryError>> {
        let mut results = Vec::new();
        for job in self.queue.drain() {
            results.push(deliver(&self.sender, &job).await);
        }
        results
    }

    async fn request_and_deliver(&self, name: &str, client: Option<&str>) -> Vec<Result<Delivery, DeliveryError>> {
        request_reset((&self.app).into(), &username(name), &key(client))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        self.deliver_queued().await
    }
}

fn codes(results: &[Result<Delivery, DeliveryError>]) -> Vec<&'static str> {
    results
        .iter()
        .map(|r| match r {
            Ok(delivery) => delivery.code(),
            Err(error) => error.code(),
        })
        .collect()
}

/// The per-client key of a request from `address` (none: the shared key).
fn key(address: Option<&str>) -> ClientKey {
    address
        .and_then(ClientKey::from_address)
        .unwrap_or_else(ClientKey::unknown)
}

fn username(name: &str) -> Username {
    Username::parse(name).unwrap_or_else(|e| panic!("{e}"))
}

async fn add_user(store: &MemoryStore, name: &str, status: AccountStatus) -> User {
    let user = User::sample(name).with_status(status);
    store.create_user(&user).await.unwrap_or_else(|e| panic!("{e}"));
    user
}

fn token_of_last_mail(mailer: &RecordingMailer) -> ResetToken {
    let sent = mailer.sent();
    let text = &sent.last().unwrap_or_else(|| panic!("no mail")).text;
    let token = text
        .split("token=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_default();
    ResetToken::parse(token).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn known_and_unknown_usernames_queue_the_same_job_and_only_the_known_get_mail() {
    let f = fixture();
    add_user(&f.store, "ex000000", AccountStatus::Active).await;
    add_user(&f.store, "dis00000", AccountStatus::Disabled).await;
    for name in ["ex000000", "nobody00", "dis00000"] {
        assert_eq!(
            request_reset((&f.app).into(), &username(name), &key(Some("192.0.2.1")))
                .await
                .ok(),
            Some(RequestOutcome::Queued)
        );
    }
    assert_eq!(
        f.queue.jobs().len(),
        3,
        "the request does the same work for every username"
    );
    let results = f.deliver_queued().await;
    assert_eq!(codes(&results), ["sent", "unknown_account", "account_disabled"]);
    let sent = f.mailer.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to.as_str(), "ex000000@example.jp");
    assert!(sent[0]
        .text
        .contains("https://id.example.jp/password-reset/confirm?token="));
    assert_eq!(f.store.token_count(), 1, "only a sent link has a token");
    let token = token_of_last_mail(&f.mailer);
    let link = verify_link((&f.app).into(), &token)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(link.user.username, username("ex000000"));
    assert_eq!(
        f.store
            .mail_state(&username("ex000000"))
            .reset_mail_message_id
            .as_deref(),
        Some("recorded-1")
    );
}

#[tokio::test]
async fn a_redelivered_job_sends_one_mail() {
    let f = fixture();
    let job = queued_reset_job(&f).await;
    let first = deliver(&f.sender, &job).await;
    let again = deliver(&f.sender, &job).await;
    assert_eq!(codes(&[first, again]), ["sent", "duplicate"]);
    assert_eq!(f.mailer.sent().len(), 1);
}

#[tokio::test]
async fn a_failed_send_is_retried_and_then_sent_once() {
    let f = fixture();
    let job = queued_reset_job(&f).await;
    f.mailer.set_down(true);
    let failed = deliver(&f.sender, &job).await;
    assert_eq!(codes(&[failed]), ["ses_unavailable"]);
    f.mailer.set_down(false);
    let retried = deliver(&f.sender, &job).await;
    let again = deliver(&f.sender, &job).await;
    assert_eq!(codes(&[retried, again]), ["sent", "duplicate"]);
    assert_eq!(f.mailer.sent().len(), 1);
    // Only the sent mail counts against the account's budget.
    let (window_start, _) = hour_window(f.clock.now());
    assert_eq!(
        f.store
            .counter(&CounterKey::mails_per_username(&username("ex000000"), window_start)),
        1
    );
}

#[tokio::test]
async fn a_job_that_waited_past_its_link_lifetime_is_not_sent() {
    let f = fixture();
    add_user(&f.store, "ex000000", AccountStatus::Active).await;
    request_reset((&f.app).into(), &username("ex000000"), &key(None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    f.clock.advance_secs(3600);
    assert_eq!(codes(&f.deliver_queued().await), ["expired"]);
    assert!(f.mailer.sent().is_empty());
}

#[tokio::test]
async fn a_job_held_by_another_sender_is_retried_not_sent_twice() {
    let f = fixture();
    add_user(&f.store, "ex000000", AccountStatus::Active).await;
    let job = MailJob::reset_link(username("ex000000"), f.clock.now(), 3600).unwrap_or_else(|e| panic!("{e}"));
    use crate::store::{ClaimHolder, MailLedger};
    let other = ClaimHolder::generate().unwrap_or_else(|e| panic!("{e}"));
    f.store
        .claim_job(&job.job_id, &other, f.clock.now(), 60, 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(codes(&[deliver(&f.sender, &job).await]), ["held_elsewhere"]);
    // The other sender died: after the lease, this one takes the job over.
    f.clock.advance_secs(61);
    assert_eq!(codes(&[deliver(&f.sender, &job).await]), ["sent"]);
}

#[tokio::test]
async fn the_mail_budget_counts_sent_mails_and_one_client_cannot_spend_it() {
    let mut f = fixture();
    // A turn a minute, so that the hourly budget is what stops the mails here.
    f.sender.settings.reset_mails_per_username_per_day = 24 * 60;
    add_user(&f.store, "ex000000", AccountStatus::Active).await;
    // One client: 3 requests for one username an hour, then nothing more is queued.
    for _ in 0..3 {
        assert_eq!(
            codes(&f.request_and_deliver("ex000000", Some("203.0.113.9")).await),
            ["sent"]
        );
        f.clock.advance_secs(60);
    }
    assert_eq!(
        request_reset((&f.app).into(), &username("ex000000"), &key(Some("203.0.113.9")))
            .await
            .ok(),
        Some(RequestOutcome::ClientUsernameLimited)
    );
    assert!(f.queue.jobs().is_empty());
    // Failed sends spend nothing; other clients still reach the account's 5 mails.
    f.mailer.set_down(true);
    assert_eq!(
        codes(&f.request_and_deliver("ex000000", Some("198.51.100.1")).await),
        ["ses_unavailable"]
    );
    f.mailer.set_down(false);
    assert_eq!(
        codes(&f.request_and_deliver("ex000000", Some("198.51.100.2")).await),
        ["sent"]
    );
    f.clock.advance_secs(60);
    assert_eq!(
        codes(&f.request_and_deliver("ex000000", Some("198.51.100.3")).await),
        ["sent"]
    );
    f.clock.advance_secs(60);
    assert_eq!(
        codes(&f.request_and_deliver("ex000000", Some("198.51.100.4")).await),
        ["mail_budget_spent"]
    );
    assert_eq!(f.mailer.sent().len(), 5);
}

#[tokio::test]
async fn a_reset_mail_waits_for_its_turn_unless_the_owner_changed_the_password() {
    let f = fixture();
    add_user(&f.store, "ex000000", AccountStatus::Active).await;
    let spacing_secs = f.sender.settings.reset_mail_spacing_ms() / 1000;
    assert_eq!(spacing_secs, 2 * 3600, "12 a day by default");
    assert_eq!(
        codes(&f.request_and_deliver("ex000000", Some("198.51.100.1")).await),
        ["sent"]
    );
    // Other clients within the turn: no mail; the link already mailed is the one that works.
    for client in ["198.51.100.2", "198.51.100.3", "2001:db8::1"] {
        assert_eq!(
            codes(&f.request_and_deliver("ex000000", Some(client)).await),
            ["reset_mail_not_its_turn"]
        );
    }
    let held = token_of_last_mail(&f.mailer);
    assert!(verify_link((&f.app).into(), &held).await.is_ok());
    f.clock.advance_secs(spacing_secs - 1);
    assert_eq!(
        codes(&f.request_and_deliver("ex000000", Some("198.51.100.4")).await),
        ["reset_mail_not_its_turn"]
    );
    f.clock.advance_secs(1);
    assert_eq!(
        codes(&f.request_and_deliver("ex000000", Some("198.51.100.5")).await),
        ["sent"]
    );
    // The owner changes the password with it: the next request is mailed at once.
    let token = token_of_last_mail(&f.mailer);
    f.clock.advance_secs(1);
    change_password((&f.app).into(), token, "Kanagawa2026x", "Kanagawa2026x")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // (The change's notice is not what this test counts.)
    f.queue.drain();
    assert_eq!(
        codes(&f.request_and_deliver("ex000000", Some("198.51.100.6")).await),
        ["sent"]
    );
    assert_eq!(f.mailer.sent().len(), 3, "two turns, then one after the change");
}

#[tokio::test]
async fn the_per_client_limit_answers_429_and_requests_without_an_address_share_one() {
    let f = fixture();
    for _ in 0..30 {
        let _ = request_reset((&f.app).into(), &username("other000"), &key(Some("198.51.100.1"))).await;
    }
    let blocked = request_reset((&f.app).into(), &username("other000"), &key(Some("198.51.100.1"))).await;
    assert!(
        matches!(blocked, Err(AppError::RateLimited { retry_after_secs }) if (1..=3600).contains(&retry_after_secs))
    );
    for _ in 0..30 {
        let _ = request_reset((&f.app).into(), &username("other000"), &key(None)).await;
    }
    assert!(matches!(
        request_reset((&f.app).into(), &username("another0"), &key(None)).await,
        Err(AppError::RateLimited { .. })
    ));
}

#[tokio::test]
async fn a_queue_or_store_failure_is_unavailable_for_every_username() {
    let f = fixture();
    add_user(&f.store, "ex000000", AccountStatus::Active).await;
    f.queue.set_down(true);
    for name in ["ex000000", "nobody00"] {
        assert!(matches!(
            request_reset((&f.app).into(), &username(name), &key(None)).await,
            Err(AppError::Unavailable(_))
        ));
    }
    f.queue.set_down(false);
    f.store.set_down(true);
    assert!(matches!(
        request_reset((&f.app).into(), &username("ex000000"), &key(None)).await,
        Err(AppError::Unavailable(_))
    ));
}

#[tokio::test]
async fn change_password_consumes_the_link_and_queues_the_notice() {
    let f = fixture();
    add_user(&f.store, "ex000000", AccountStatus::Active).await;
    f.request_and_deliver("ex000000", None).await;
    let token = token_of_last_mail(&f.mailer);

    let rejected = change_password((&f.app).into(), token.clone(), "short", "short").await;
    assert!(matches!(rejected, Err(AppError::PasswordRejected { ref rules, .. }) if !rules.is_empty()));

    f.clock.advance_secs(1);
    change_password((&f.app).into(), token.clone(), "Kanagawa2026x", "Kanagawa2026x")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let user = f
        .store
        .find_user(&username("ex000000"))
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no user"));
    assert!(verify_password(
        "Kanagawa2026x",
        user.password_hash.as_deref().unwrap_or_default()
    ));
    assert_eq!(codes(&f.deliver_queued().await), ["sent"]);
    assert!(f
        .mailer
        .sent()
        .last()
        .is_some_and(|m| m.subject.contains("パスワードが変更されました") && m.to.as_str() == "ex000000@example.jp"));

    let again = change_password((&f.app).into(), token, "Kanagawa2026y", "Kanagawa2026y").await;
    assert!(matches!(again, Err(AppError::InvalidLink(TokenRejection::Used))));
}

#[tokio::test]
async fn a_change_stands_when_its_notice_cannot_be_queued() {
    let f = fixture();
    add_user(&f.store, "ex000000", AccountStatus::Active).await;
    f.request_and_deliver("ex000000", None).await;
    let token = token_of_last_mail(&f.mailer);
    f.queue.set_down(true);
    f.clock.advance_secs(1);
    assert!(
        change_password((&f.app).into(), token, "Kanagawa2026x", "Kanagawa2026x")
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn links_expire_by_the_clock() {
    let f = fixture();
    add_user(&f.store, "ex000000", AccountStatus::Active).await;
    f.request_and_deliver("ex000000", None).await;
    let token = token_of_last_mail(&f.mailer);
    f.clock.advance_secs(3600);
    assert!(matches!(
        verify_link((&f.app).into(), &token).await,
        Err(AppError::InvalidLink(TokenRejection::Expired))
    ));
}

#[tokio::test]
async fn oversize_passwords_are_refused_before_the_store() {
    let f = fixture();
    f.store.set_down(true);
    let token = ResetToken::generate().unwrap_or_else(|e| panic!("{e}"));
    let huge = "Aa1".repeat(100);
    let result = change_password((&f.app).into(), token, &huge, &huge).await;
    assert!(
        matches!(result, Err(AppError::PasswordRejected { .. })),
        "the store was not consulted"
    );
}

/// How a store keeps the address a change replaced: the users table keeps the address, a pool's
/// account-state table only its fingerprint.
#[derive(Clone, Copy)]
enum Kept {
    Address,
    Fingerprint,
}

/// ex000000, whose address an administrator changed from `old@example.jp` at `changed_at`.
async fn user_with_replaced_address_kept(store: &MemoryStore, changed_at: Timestamp, kept: Kept) -> User {
    let (previous_email, previous_email_sha256) = match kept {
        Kept::Address => (Some(email("old@example.jp")), None),
        Kept::Fingerprint => (None, Some(crate::domain::address_fingerprint("old@example.jp"))),
    };
    let user = User {
        previous_email,
        previous_email_sha256,
        email_changed_at: Some(changed_at.as_millis()),
        ..User::sample("ex000000")
    };
    store.create_user(&user).await.unwrap_or_else(|e| panic!("{e}"));
    user
}

fn email(address: &str) -> crate::domain::Email {
    crate::domain::Email::parse(address).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn notices_go_to_the_registered_or_the_replaced_address_and_nowhere_else() {
    notices_go_only_to_the_account_s_addresses(Kept::Address).await;
}

#[tokio::test]
async fn with_only_the_replaced_address_s_fingerprint_kept_its_notice_goes_there_and_nowhere_else() {
    notices_go_only_to_the_account_s_addresses(Kept::Fingerprint).await;
}

async fn notices_go_only_to_the_account_s_addresses(kept: Kept) {
    let f = fixture();
    let now = f.clock.now();
    let user = user_with_replaced_address_kept(&f.store, now, kept).await;
    let notices = MailJob::address_changed(
        &user.username,
        Some(email("old@example.jp")),
        user.email.clone(),
        user.language,
        now,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let forged = MailJob::address_changed(
        &user.username,
        Some(email("someone@elsewhere.example")),
        email("other@elsewhere.example"),
        user.language,
        now,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut results = Vec::new();
    for job in notices.iter().chain(&forged) {
        results.push(deliver(&f.sender, job).await);
    }
    assert_eq!(
        codes(&results),
        ["sent", "sent", "recipient_not_on_account", "recipient_not_on_account"]
    );
    let recipients: Vec<String> = f.mailer.sent().iter().map(|m| m.to.as_str().to_owned()).collect();
    assert_eq!(recipients, ["old@example.jp", "ex000000@example.jp"]);
}

#[tokio::test]
async fn a_password_notice_overtaken_by_an_address_change_is_skipped_not_refused() {
    overtaken_password_notice_is_skipped(Kept::Address).await;
}

#[tokio::test]
async fn a_password_notice_overtaken_by_a_pool_address_change_is_skipped_not_refused() {
    overtaken_password_notice_is_skipped(Kept::Fingerprint).await;
}

async fn overtaken_password_notice_is_skipped(kept: Kept) {
    let f = fixture();
    let queued_at = f.clock.now();
    // The notice was queued to the address of the time; an administrator replaced it a minute
    // later, before the notice went out (that change told both addresses itself).
    user_with_replaced_address_kept(&f.store, queued_at.plus_secs(60), kept).await;
    let job = MailJob::password_changed(
        username("ex000000"),
        email("old@example.jp"),
        crate::domain::Language::Ja,
        queued_at,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(codes(&[deliver(&f.sender, &job).await]), ["recipient_replaced"]);
    assert!(f.mailer.sent().is_empty());
}

/// Every request refused by a rate limit is counted (RateLimitRefusals, alarmed): the 429 of
/// the per-client limit and the silent drop of the per-username-and-client limit alike; a
/// queued request or an outage is not a refusal.
#[tokio::test]
async fn rate_limit_refusals_are_counted_in_the_metrics_line() {
    let f = fixture();
    let refused = |counts: Vec<(&'static str, u64)>| {
        counts
            .iter()
            .find(|(name, _)| *name == crate::metrics::RATE_LIMIT_REFUSALS)
            .map(|(_, value)| *value)
    };
    let mut outcomes = Vec::new();
    for _ in 0..4 {
        outcomes.push(request_reset((&f.app).into(), &username("ex000001"), &key(Some("198.51.100.9"))).await);
    }
    let counted: Vec<Option<u64>> = outcomes.iter().map(|o| refused(request_metric_counts(o))).collect();
    assert_eq!(counted, [Some(0), Some(0), Some(0), Some(1)], "{outcomes:?}");
    for _ in 0..30 {
        let _ = request_reset((&f.app).into(), &username("other000"), &key(Some("198.51.100.1"))).await;
    }
    let blocked = request_reset((&f.app).into(), &username("other000"), &key(Some("198.51.100.1"))).await;
    assert!(matches!(blocked, Err(AppError::RateLimited { .. })));
    assert_eq!(refused(request_metric_counts(&blocked)), Some(1));
    let down: Result<RequestOutcome, AppError> = Err(AppError::Unavailable("queue".into()));
    assert_eq!(refused(request_metric_counts(&down)), Some(0));
}
