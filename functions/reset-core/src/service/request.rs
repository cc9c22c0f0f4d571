use crate::app::App;
use crate::domain::{ResetToken, TokenRecord, Username};
use crate::error::AppError;
use crate::mail::compose::{reset_link_mail, MailContext};
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
/// but a per-client rate limit.
pub async fn request_reset(app: &App, username: &Username, client: Option<&str>) -> Result<RequestOutcome, AppError> {
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

    let Some(user) = app.store.find_user(username).await? else {
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
        &app.settings.confirm_url(&token.to_url_safe()),
        record.expires_at(),
    );
    match app.mailer.send(&mail).await {
        Ok(_message_id) => Ok(RequestOutcome::MailSent),
        Err(error) => {
            // The user can simply ask again; the page must not differ from the other cases.
            tracing::error!(error = %error, to = %user.email.masked(), "reset mail could not be sent");
            Ok(RequestOutcome::MailFailed)
        }
    }
}
