use super::ports::ChangePorts;
use super::verify::{check_link, find_link_record, ValidLink};
use crate::domain::token::TokenRejection;
use crate::domain::{MailJob, NewPassword, PasswordRule, ResetToken, Timestamp, User, Username, MAX_PASSWORD_CHARS};
use crate::error::AppError;
use crate::hashing::hash_password;
use crate::metrics;
use crate::store::{ChangeNotice, ConsumeError, CredentialForm, NewCredential, NoticeHandling};

#[derive(Debug, Clone)]
pub struct PasswordChanged {
    pub user: User,
}

/// Sets a new password through a valid link. The link dies with the change, and so does every
/// older link of the account.
pub async fn change_password(
    app: ChangePorts<'_>,
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
    let (link, credential) = match checked_change(app, &token, password, confirmation).await? {
        CheckedChange::Ready { link, credential } => (link, credential),
        CheckedChange::Refused { username, rules } => {
            return Err(AppError::PasswordRejected {
                token,
                username: Some(username),
                rules,
            })
        }
    };
    let now = app.clock.now();
    let user = &link.user;
    let notice = MailJob::password_changed(user.username.clone(), user.email.clone(), user.language, now)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let handed = ChangeNotice {
        job: &notice,
        queue: app.mail_queue,
    };
    match app
        .accounts
        .change_password(&link.record, credential, now, handed)
        .await
    {
        Ok(NoticeHandling::Due) => queue_changed_notice(app, &notice, now).await,
        Ok(NoticeHandling::Queued) => count_notice(app, now, true),
        Err(ConsumeError::TokenNoLongerValid) => return Err(AppError::InvalidLink(TokenRejection::Used)),
        Err(ConsumeError::Store(error)) => return Err(error.into()),
    }
    Ok(PasswordChanged { user: link.user })
}

/// What the checks of a change decide: the valid link with the credential to store, or the
/// rules the password breaks (the link being valid).
enum CheckedChange {
    // Boxed: the link holds a whole account and token record, the refusal a name and a list.
    Ready {
        link: Box<ValidLink>,
        credential: NewCredential,
    },
    Refused {
        username: String,
        rules: Vec<PasswordRule>,
    },
}

/// The link's checks, the password's rules, the breach corpus and the hash, overlapped where
/// they can be. The link's verdict comes first, whatever the password.
async fn checked_change(
    app: ChangePorts<'_>,
    token: &ResetToken,
    password: &str,
    confirmation: &str,
) -> Result<CheckedChange, AppError> {
    // The token's record names the account, which is all the policy ("not the username") and
    // the hash need: the account read that finishes the link's checks can overlap the hash
    // (about 17 ms of argon2id) instead of preceding it.
    let record = find_link_record(app.into(), token).await?;
    let username = record.username.clone();
    let read_user = app.accounts.find_account(&username);
    let parsed = NewPassword::parse_with_policy(
        password,
        confirmation,
        &username,
        app.settings.password_min_chars,
        app.settings.password_requires_symbol,
    );
    let (link, hashed, breached) = match parsed {
        // The token's own state (used, expired) needs no account: a dead link costs no hash,
        // and no question to the breach corpus.
        Ok(new_password) if record.check_fresh(app.clock.now()).is_ok() => {
            let to_hash = new_password.clone();
            let (user, breached, hashed) = tokio::join!(
                read_user,
                is_breached(app, &username, &new_password),
                credential_for(app, to_hash)
            );
            (check_link(app.into(), record, user?)?, hashed, breached)
        }
        parsed => {
            let link = check_link(app.into(), record, read_user.await?)?;
            let new_password = match parsed {
                Ok(new_password) => new_password,
                Err(rules) => return Ok(refused(&link, rules)),
            };
            let breached = is_breached(app, &username, &new_password).await;
            (link, credential_for(app, new_password).await, breached)
        }
    };
    if breached {
        return Ok(refused(&link, vec![PasswordRule::NotBreached]));
    }
    let credential = hashed.map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(CheckedChange::Ready {
        link: Box::new(link),
        credential,
    })
}

fn refused(link: &ValidLink, rules: Vec<PasswordRule>) -> CheckedChange {
    CheckedChange::Refused {
        username: link.user.username.to_string(),
        rules,
    }
}

/// The change itself is done and must stand; the notice is queued like every mail, and a
/// failure to queue it is counted (an alarm watches it) rather than undoing the change. (A
/// store that queues the notice itself, bound to the change, does so before the change.)
async fn queue_changed_notice(app: ChangePorts<'_>, notice: &MailJob, now: Timestamp) {
    let queued = app.mail_queue.enqueue(notice).await;
    if let Err(error) = &queued {
        tracing::error!(error = %error, username = %notice.mail.username(), "password-changed notice could not be queued");
    }
    count_notice(app, now, queued.is_ok());
}

fn count_notice(app: ChangePorts<'_>, now: Timestamp, queued: bool) {
    metrics::emit(
        &app.settings.metrics_namespace,
        now,
        &[
            (metrics::MAILS_QUEUED, u64::from(queued)),
            (metrics::MAIL_QUEUE_FAILURES, u64::from(!queued)),
        ],
    );
}

/// Whether the breach corpus lists `password`. A corpus that cannot answer is not allowed to
/// stop a change (fail open: an outage elsewhere must not lock people out of their accounts);
/// that is counted, and alarmed.
async fn is_breached(app: ChangePorts<'_>, username: &Username, password: &NewPassword) -> bool {
    let Some(corpus) = app.breach_corpus else {
        return false;
    };
    let (breached, unavailable) = match corpus.contains(password).await {
        Ok(found) => (found, false),
        Err(error) => {
            tracing::warn!(
                reason = error.code(),
                error = %error,
                username = %username,
                "breached-password check unavailable; the change goes on without it"
            );
            (false, true)
        }
    };
    metrics::emit(
        &app.settings.metrics_namespace,
        app.clock.now(),
        &[
            (metrics::BREACHED_PASSWORDS_REFUSED, u64::from(breached)),
            (metrics::BREACH_CHECK_UNAVAILABLE, u64::from(unavailable)),
        ],
    );
    breached
}

/// The new password as the account store takes it: hashed here (argon2id, on a blocking
/// thread) for the users table; as it is for a user pool, which hashes it itself.
async fn credential_for(
    app: ChangePorts<'_>,
    password: NewPassword,
) -> Result<NewCredential, crate::hashing::HashingError> {
    match app.accounts.credential_form() {
        CredentialForm::Argon2idHash => hash_password(password).await.map(NewCredential::Argon2idHash),
        CredentialForm::Plain => Ok(NewCredential::Plain(password)),
    }
}
