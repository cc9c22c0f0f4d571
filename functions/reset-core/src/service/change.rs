use super::verify_link;
use crate::app::App;
use crate::domain::token::TokenRejection;
use crate::domain::{NewPassword, PasswordRule, ResetToken, User, MAX_PASSWORD_CHARS};
use crate::error::AppError;
use crate::hashing::hash_password;
use crate::mail::compose::{password_changed_mail, MailContext};
use crate::metrics;
use crate::store::ConsumeError;

#[derive(Debug, Clone)]
pub struct PasswordChanged {
    pub user: User,
}

/// Sets a new password through a valid link. The link dies with the change, and so does every
/// older link of the account.
pub async fn change_password(
    app: &App,
    token: ResetToken,
    password: &str,
    confirmation: &str,
) -> Result<PasswordChanged, AppError> {
    // Oversize input is refused before the database or the hasher sees it.
    if password.chars().count() > MAX_PASSWORD_CHARS || confirmation.chars().count() > MAX_PASSWORD_CHARS {
        return Err(AppError::PasswordRejected {
            token,
            username: None,
            rules: vec![PasswordRule::MaxLength],
        });
    }
    let link = verify_link(app, &token).await?;
    let new_password = match NewPassword::parse(password, confirmation, &link.user.username) {
        Ok(password) => password,
        Err(rules) => {
            return Err(AppError::PasswordRejected {
                token,
                username: Some(link.user.username.to_string()),
                rules,
            })
        }
    };
    let password_hash = hash_password(new_password)
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;

    let now = app.clock.now();
    match app
        .store
        .consume_token_and_set_password(&link.record, &password_hash, now)
        .await
    {
        Ok(()) => {}
        Err(ConsumeError::TokenNoLongerValid) => return Err(AppError::InvalidLink(TokenRejection::Used)),
        Err(ConsumeError::Store(error)) => return Err(error.into()),
    }

    let ctx = MailContext {
        service_name: &app.settings.service_name,
        support_contact: &app.settings.support_contact,
    };
    let mail = password_changed_mail(&ctx, &link.user, now);
    let failed = match app.mailer.send(&mail).await {
        Ok(_) => 0,
        Err(error) => {
            // The change itself is done and must stand; the notice is best effort, watched by
            // the notice-failure alarm.
            tracing::error!(error = %error, to = %link.user.email.masked(), "password-changed notice could not be sent");
            1
        }
    };
    metrics::emit(
        &app.settings.metrics_namespace,
        now,
        &[
            (metrics::NOTICE_MAILS_SENT, 1 - failed),
            (metrics::NOTICE_MAIL_SEND_FAILURES, failed),
        ],
    );
    Ok(PasswordChanged { user: link.user })
}
