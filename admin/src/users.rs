//! User records: creation (with a first password, audited) and the first password itself.

use crate::accounts::{Accounts, EmailChange};
use crate::audit::{AuditAction, Change};
use crate::error::AdminError;
use crate::source::AccountSource;
use reset_core::domain::{Email, Language, MailJob, NewPassword, User, Username};
use reset_core::hashing::hash_password_blocking;
use reset_core::mail::{MailQueue, SqsMailQueue};

/// How many candidates [`generate_first_password`] draws before giving up: one in practice.
const GENERATION_ATTEMPTS: usize = 16;

/// A first password for `username` that passes the service's policy: a generated one is
/// checked like any other (it could, in principle, contain the username).
pub fn generate_first_password(username: &Username) -> Result<NewPassword, AdminError> {
    for _ in 0..GENERATION_ATTEMPTS {
        let candidate = generate_initial_password()?;
        if let Ok(password) = NewPassword::parse(&candidate, &candidate, username) {
            return Ok(password);
        }
    }
    Err(AdminError::Unavailable(
        "no generated password passed the policy; try again".into(),
    ))
}

/// A first password given by the administrator, checked against the service's policy.
pub fn checked_first_password(password: &str, username: &Username, variable: &str) -> Result<NewPassword, AdminError> {
    NewPassword::parse(password, password, username).map_err(|rules| AdminError::WeakPassword {
        variable: variable.to_owned(),
        rules,
    })
}

/// 16 characters from an alphabet without look-alikes, always with an upper, a lower and a
/// digit, so the printed demo password satisfies the policy and is easy to type.
pub fn generate_initial_password() -> Result<String, AdminError> {
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
    const DIGIT: &[u8] = b"23456789";
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| AdminError::Unavailable(format!("OS random number generator: {e}")))?;
    let password: String = random
        .iter()
        .enumerate()
        .map(|(i, byte)| {
            let alphabet = match i % 4 {
                0 => UPPER,
                1 | 2 => LOWER,
                _ => DIGIT,
            };
            char::from(alphabet[usize::from(*byte) % alphabet.len()])
        })
        .collect();
    Ok(password)
}

pub struct NewUser {
    pub username: Username,
    pub email: Email,
    pub language: Language,
    /// The first password, which passed the service's policy; `None` leaves the account
    /// without one, so that its owner sets it through the reset flow (what `import` does).
    pub password: Option<NewPassword>,
}

/// Creates the user (argon2id hash of the first password, if any) with an audit item;
/// refuses to overwrite.
pub async fn create_user(accounts: &Accounts, new_user: NewUser, change: &Change) -> Result<User, AdminError> {
    let password_hash = match new_user.password {
        Some(password) => Some(
            tokio::task::spawn_blocking(move || hash_password_blocking(password.expose()))
                .await
                .map_err(|e| AdminError::Unavailable(e.to_string()))?
                .map_err(|e| AdminError::Unavailable(e.to_string()))?,
        ),
        None => None,
    };
    let user = User {
        password_hash,
        ..User::new_active(
            new_user.username,
            new_user.email,
            new_user.language,
            reset_core::domain::Timestamp::from_millis(change.at.as_millis()),
        )?
    };
    accounts.create_user(&user, AuditAction::Create, change).await?;
    Ok(user)
}

/// The service's mail queue (`MAIL_QUEUE_URL`), for the notices the tool sends: the same path
/// as every mail of the service.
pub fn mail_queue_from_env(config: &aws_config::SdkConfig) -> Result<SqsMailQueue, AdminError> {
    Ok(SqsMailQueue::new(
        aws_sdk_sqs::Client::new(config),
        reset_core::config::Variables::from_env().required("MAIL_QUEUE_URL")?,
    ))
}

/// Changes the registered address (every link mailed to the old one dies with it) and tells
/// both addresses, through the service's mail queue: the old one in case the change was not
/// asked for, the new one so its owner knows what it now receives.
pub async fn change_address(
    accounts: &dyn AccountSource,
    queue: &dyn MailQueue,
    username: &Username,
    new_email: &Email,
    change: &Change,
) -> Result<EmailChange, AdminError> {
    let changed = accounts.set_email(username, new_email, change).await?;
    queue_address_notices(queue, username, &changed, new_email, change).await?;
    Ok(changed)
}

/// The notices of a committed address change: to the old address and to the new one.
pub async fn queue_address_notices(
    queue: &dyn MailQueue,
    username: &Username,
    changed: &EmailChange,
    new_email: &Email,
    change: &Change,
) -> Result<(), AdminError> {
    let not_queued = |cause: String| AdminError::NoticesNotQueued {
        username: username.clone(),
        cause,
    };
    let jobs = MailJob::address_changed(
        username,
        changed.old_address.clone(),
        new_email.clone(),
        changed.language,
        change.at,
    )?;
    for job in &jobs {
        queue.enqueue(job).await.map_err(|e| not_queued(e.to_string()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::anyhow;
    use reset_core::domain::NewPassword;

    #[test]
    fn generated_passwords_meet_the_policy() -> anyhow::Result<()> {
        let username = Username::parse("ex000000").map_err(|e| anyhow!(e))?;
        for _ in 0..50 {
            let password = generate_initial_password()?;
            assert!(
                NewPassword::parse(&password, &password, &username).is_ok(),
                "{password}"
            );
            assert!(generate_first_password(&username).is_ok());
        }
        Ok(())
    }

    #[test]
    fn a_given_password_must_pass_the_policy() -> anyhow::Result<()> {
        let username = Username::parse("ex000000").map_err(|e| anyhow!(e))?;
        let refused = checked_first_password("a", &username, "FIRST_PASSWORD").err();
        assert_eq!(
            refused.map(|e| e.to_string()).as_deref(),
            Some(
                "the password from FIRST_PASSWORD breaks the password policy: at least 8 characters, an uppercase \
                 letter, a digit, must not be a common or easily guessed password; nothing written"
            )
        );
        assert!(checked_first_password("Xex000000y1", &username, "P").is_err());
        assert!(
            checked_first_password("Sakura2026!", &username, "P").is_err(),
            "easily guessed"
        );
        assert!(checked_first_password("Kanagawa2026x", &username, "P").is_ok());
        Ok(())
    }
}
