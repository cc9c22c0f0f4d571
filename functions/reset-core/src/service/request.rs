use crate::app::App;
use crate::domain::{ResetToken, TokenRecord, Username};
use crate::error::AppError;
use crate::mail::compose::{reset_link_mail, MailContext};
use crate::metrics;
use crate::store::CounterKey;

const WINDOW_SECS: i64 = 3600;

/// What happened behind the one generic "mail sent" answer. Only logs and metrics see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    MailSent,
    UnknownUser,
    AccountDisabled,
    UsernameRateLimited,
    MailFailed,
}

impl RequestOutcome {
    pub fn code(self) -> &'static str {
        match self {
            RequestOutcome::MailSent => "mail_sent",
            RequestOutcome::UnknownUser => "unknown_user",
            RequestOutcome::AccountDisabled => "account_disabled",
            RequestOutcome::UsernameRateLimited => "username_rate_limited",
            RequestOutcome::MailFailed => "mail_failed",
        }
    }
}

/// Sends a reset link to the registered address of `username`, if there is such an active
/// account and it has not asked too often. The caller shows the same answer in every case
/// but a per-client rate limit. Emits one metrics line per call.
pub async fn request_reset(app: &App, username: &Username, client: Option<&str>) -> Result<RequestOutcome, AppError> {
    let result = send_reset_link(app, username, client).await;
    let (sent, failed) = match &result {
        Ok(RequestOutcome::MailSent) => (1, 0),
        Ok(RequestOutcome::MailFailed) => (0, 1),
        _ => (0, 0),
    };
    metrics::emit(
        &app.settings.metrics_namespace,
        app.clock.now(),
        &[
            (metrics::RESET_REQUESTS, 1),
            (metrics::RESET_MAILS_SENT, sent),
            (metrics::RESET_MAIL_SEND_FAILURES, failed),
        ],
    );
    result
}

async fn send_reset_link(app: &App, username: &Username, client: Option<&str>) -> Result<RequestOutcome, AppError> {
    let now = app.clock.now();
    let window_start = now.as_secs() - now.as_secs().rem_euclid(WINDOW_SECS);
    let window_end = window_start + WINDOW_SECS;

    if let Some(client) = client {
        let hits = app
            .store
            .increment_counter(&CounterKey::per_client(client, window_start), window_end)
            .await?;
        if hits > app.settings.rate_limit_per_ip_per_hour {
            return Err(AppError::RateLimited {
                retry_after_secs: (window_end - now.as_secs()).max(1),
            });
        }
    }
    let hits = app
        .store
        .increment_counter(&CounterKey::per_username(username, window_start), window_end)
        .await?;
    if hits > app.settings.rate_limit_per_username_per_hour {
        return Ok(RequestOutcome::UsernameRateLimited);
    }

    let Some(user) = app.store.find_user_without_hash(username).await? else {
        return Ok(RequestOutcome::UnknownUser);
    };
    if !user.can_reset_password() {
        return Ok(RequestOutcome::AccountDisabled);
    }

    let token = ResetToken::generate().map_err(|e| AppError::Internal(e.to_string()))?;
    let record = TokenRecord::new(&token, user.username.clone(), now, app.settings.token_ttl_secs());
    app.store.save_token(&record).await?;

    let ctx = MailContext {
        service_name: &app.settings.service_name,
        support_contact: &app.settings.support_contact,
    };
    let mail = reset_link_mail(
        &ctx,
        &user,
        &app.settings.confirm_url(&token.to_url_safe(), user.language),
        record.expires_at(),
    );
    match app.mailer.send(&mail).await {
        Ok(message_id) => {
            // Ties a later bounce or complaint to the account (see the mail-events function).
            // The mail is on its way either way, so a failure here only costs that link.
            if !message_id.is_empty() {
                if let Err(error) = app.store.remember_reset_mail(&user.username, &message_id, now).await {
                    tracing::warn!(error = %error, "the reset mail's message id could not be stored");
                }
            }
            Ok(RequestOutcome::MailSent)
        }
        Err(error) => {
            // The user can simply ask again; the page must not differ from the other cases.
            tracing::error!(error = %error, to = %user.email.masked(), "reset mail could not be sent");
            Ok(RequestOutcome::MailFailed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::sample_settings;
    use crate::domain::{AccountStatus, Email, FixedClock, Language, Timestamp, User};
    use crate::mail::RecordingMailer;
    use crate::store::{MemoryStore, ResetStore};
    use std::sync::Arc;

    fn user(name: &str) -> Result<User, String> {
        Ok(User {
            username: Username::parse(name).map_err(|e| e.to_string())?,
            email: Email::parse(&format!("{name}@example.jp")).map_err(|e| e.to_string())?,
            password_hash: None,
            password_changed_at: None,
            email_changed_at: None,
            status: AccountStatus::Active,
            language: Language::Ja,
            created_at: 0,
        })
    }

    async fn app_with(user: &User) -> Result<(App, Arc<MemoryStore>, Arc<RecordingMailer>), String> {
        let store = Arc::new(MemoryStore::default());
        store.create_user(user).await.map_err(|e| e.to_string())?;
        let mailer = Arc::new(RecordingMailer::default());
        let clock = Arc::new(FixedClock::at(Timestamp::from_millis(1_767_225_600_000)));
        let app = App::new(sample_settings(), store.clone(), mailer.clone(), clock);
        Ok((app, store, mailer))
    }

    #[tokio::test]
    async fn a_sent_mail_is_remembered_for_the_mail_events() -> Result<(), String> {
        let user = user("ex000001")?;
        let (app, store, mailer) = app_with(&user).await?;
        let outcome = request_reset(&app, &user.username, None)
            .await
            .map_err(|e| e.to_string())?;
        assert_eq!(outcome, RequestOutcome::MailSent);
        assert_eq!(mailer.sent().len(), 1);
        let mail = store.mail_state(&user.username);
        assert_eq!(mail.reset_mail_message_id.as_deref(), Some("recorded-1"));
        assert_eq!(mail.reset_mail_sent_at, Some(Timestamp::from_millis(1_767_225_600_000)));
        Ok(())
    }

    #[tokio::test]
    async fn a_failed_send_leaves_no_message_id() -> Result<(), String> {
        let user = user("ex000002")?;
        let (app, store, mailer) = app_with(&user).await?;
        mailer.set_down(true);
        let outcome = request_reset(&app, &user.username, None)
            .await
            .map_err(|e| e.to_string())?;
        assert_eq!(outcome, RequestOutcome::MailFailed);
        assert_eq!(store.mail_state(&user.username).reset_mail_message_id, None);
        Ok(())
    }
}
