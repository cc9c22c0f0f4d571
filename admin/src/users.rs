//! User records: creation (with a first password, audited) and the first password itself.

use crate::accounts::Accounts;
use crate::audit::{AuditAction, Change};
use crate::error::AdminError;
use reset_core::domain::{AccountStatus, Email, Language, User, Username};
use reset_core::hashing::hash_password_blocking;

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
    /// The first password; `None` leaves the account without one, so that its owner sets it
    /// through the reset flow (what `import` does).
    pub password: Option<String>,
}

/// Creates the user (argon2id hash of the first password, if any) with an audit item;
/// refuses to overwrite.
pub async fn create_user(accounts: &Accounts, new_user: NewUser, change: &Change) -> Result<User, AdminError> {
    let password_hash = match new_user.password {
        Some(password) => Some(
            tokio::task::spawn_blocking(move || hash_password_blocking(&password))
                .await
                .map_err(|e| AdminError::Unavailable(e.to_string()))?
                .map_err(|e| AdminError::Unavailable(e.to_string()))?,
        ),
        None => None,
    };
    let user = User {
        username: new_user.username,
        email: new_user.email,
        password_hash,
        password_changed_at: None,
        email_changed_at: None,
        status: AccountStatus::Active,
        language: new_user.language,
        created_at: change.at.as_millis(),
    };
    accounts.create_user(&user, AuditAction::Create, change).await?;
    Ok(user)
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
        }
        Ok(())
    }
}
