//! Unit tests of the use cases over the in-memory store and the recording mailer. The same
//! paths run against DynamoDB Local and the SES emulator in `tests/`.

use super::*;
use crate::app::App;
use crate::config::tests::sample_settings;
use crate::domain::token::TokenRejection;
use crate::domain::{AccountStatus, Email, FixedClock, Language, ResetToken, Timestamp, User, Username};
use crate::error::AppError;
use crate::hashing::verify_password;
use crate::mail::RecordingMailer;
use crate::store::{MemoryStore, ResetStore};
use std::sync::Arc;

struct Fixture {
    app: App,
    store: Arc<MemoryStore>,
    mailer: Arc<RecordingMailer>,
    clock: Arc<FixedClock>,
}

fn fixture() -> Fixture {
    let store = Arc::new(MemoryStore::default());
    let mailer = Arc::new(RecordingMailer::default());
    let clock = Arc::new(FixedClock::at(Timestamp::from_millis(1_795_608_000_000)));
    let app = App::new(sample_settings(), store.clone(), mailer.clone(), clock.clone());
    Fixture {
        app,
        store,
        mailer,
        clock,
    }
}

fn username(name: &str) -> Username {
    Username::parse(name).unwrap_or_else(|e| panic!("{e}"))
}

async fn add_user(store: &MemoryStore, name: &str, status: AccountStatus) -> User {
    let user = User {
        username: username(name),
        email: Email::parse(&format!("{name}@example.jp")).unwrap_or_else(|e| panic!("{e}")),
        password_hash: None,
        password_changed_at: None,
        email_changed_at: None,
        status,
        language: Language::Ja,
        created_at: 0,
    };
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
async fn unknown_and_disabled_users_get_no_mail() {
    let f = fixture();
    add_user(&f.store, "dis00000", AccountStatus::Disabled).await;
    assert_eq!(
        request_reset(&f.app, &username("nobody00"), None).await.ok(),
        Some(RequestOutcome::UnknownUser)
    );
    assert_eq!(
        request_reset(&f.app, &username("dis00000"), None).await.ok(),
        Some(RequestOutcome::AccountDisabled)
    );
    assert!(f.mailer.sent().is_empty());
    assert_eq!(f.store.token_count(), 0);
}

#[tokio::test]
async fn a_known_user_gets_a_link_on_the_configured_origin() {
    let f = fixture();
    add_user(&f.store, "ex000000", AccountStatus::Active).await;
    assert_eq!(
        request_reset(&f.app, &username("ex000000"), Some("192.0.2.1"))
            .await
            .ok(),
        Some(RequestOutcome::MailSent)
    );
    let sent = f.mailer.sent();
    assert_eq!(sent.len(), 1);
    assert!(sent[0]
        .text
        .contains("https://id.example.jp/password-reset/confirm?token="));
    let token = token_of_last_mail(&f.mailer);
    let link = verify_link(&f.app, &token).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(link.user.username, username("ex000000"));
}

#[tokio::test]
async fn limits_per_username_and_per_client() {
    let f = fixture();
    add_user(&f.store, "ex000000", AccountStatus::Active).await;
    for i in 0..5 {
        let ip = format!("192.0.2.{i}");
        assert_eq!(
            request_reset(&f.app, &username("ex000000"), Some(&ip)).await.ok(),
            Some(RequestOutcome::MailSent)
        );
    }
    let sixth = request_reset(&f.app, &username("ex000000"), Some("192.0.2.99"))
        .await
        .ok();
    assert_eq!(sixth, Some(RequestOutcome::UsernameRateLimited));
    assert_eq!(f.mailer.sent().len(), 5);

    for _ in 0..30 {
        let _ = request_reset(&f.app, &username("other000"), Some("198.51.100.1")).await;
    }
    let blocked = request_reset(&f.app, &username("other000"), Some("198.51.100.1")).await;
    assert!(
        matches!(blocked, Err(AppError::RateLimited { retry_after_secs }) if (1..=3600).contains(&retry_after_secs))
    );
}

#[tokio::test]
async fn a_mail_failure_still_answers_and_a_store_failure_is_unavailable() {
    let f = fixture();
    add_user(&f.store, "ex000000", AccountStatus::Active).await;
    f.mailer.set_down(true);
    assert_eq!(
        request_reset(&f.app, &username("ex000000"), None).await.ok(),
        Some(RequestOutcome::MailFailed)
    );
    f.store.set_down(true);
    assert!(matches!(
        request_reset(&f.app, &username("ex000000"), None).await,
        Err(AppError::Unavailable(_))
    ));
}

#[tokio::test]
async fn change_password_consumes_the_link_and_notifies() {
    let f = fixture();
    add_user(&f.store, "ex000000", AccountStatus::Active).await;
    request_reset(&f.app, &username("ex000000"), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let token = token_of_last_mail(&f.mailer);

    let rejected = change_password(&f.app, token.clone(), "short", "short").await;
    assert!(matches!(rejected, Err(AppError::PasswordRejected { ref rules, .. }) if !rules.is_empty()));

    f.clock.advance_secs(1);
    change_password(&f.app, token.clone(), "Kanagawa2026x", "Kanagawa2026x")
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
    assert!(f
        .mailer
        .sent()
        .last()
        .is_some_and(|m| m.subject.contains("パスワードが変更されました")));

    let again = change_password(&f.app, token, "Kanagawa2026y", "Kanagawa2026y").await;
    assert!(matches!(again, Err(AppError::InvalidLink(TokenRejection::Used))));
}

#[tokio::test]
async fn links_expire_by_the_clock() {
    let f = fixture();
    add_user(&f.store, "ex000000", AccountStatus::Active).await;
    request_reset(&f.app, &username("ex000000"), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let token = token_of_last_mail(&f.mailer);
    f.clock.advance_secs(3600);
    assert!(matches!(
        verify_link(&f.app, &token).await,
        Err(AppError::InvalidLink(TokenRejection::Expired))
    ));
}

#[tokio::test]
async fn oversize_passwords_are_refused_before_the_store() {
    let f = fixture();
    f.store.set_down(true);
    let token = ResetToken::generate().unwrap_or_else(|e| panic!("{e}"));
    let huge = "Aa1".repeat(100);
    let result = change_password(&f.app, token, &huge, &huge).await;
    assert!(
        matches!(result, Err(AppError::PasswordRejected { .. })),
        "the store was not consulted"
    );
}
