//! User records: creation (with a first password) and inspection.

use anyhow::{anyhow, Result};
use reset_core::domain::{AccountStatus, Email, Language, Timestamp, User, Username};
use reset_core::hashing::hash_password_blocking;
use reset_core::store::{CreateUserError, ResetStore};

/// 16 characters from an alphabet without look-alikes, always with an upper, a lower and a
/// digit, so the printed demo password satisfies the policy and is easy to type.
pub fn generate_initial_password() -> Result<String> {
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
    const DIGIT: &[u8] = b"23456789";
    let mut random = [0u8; 16];
    getrandom::fill(&mut random).map_err(|e| anyhow!("OS random number generator: {e}"))?;
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
    pub password: String,
}

/// Creates the user with an argon2id hash of `password`; refuses to overwrite.
pub async fn create_user(store: &dyn ResetStore, new_user: NewUser, now: Timestamp) -> Result<User, CreateUserError> {
    let password = new_user.password;
    let hash = tokio::task::spawn_blocking(move || hash_password_blocking(&password))
        .await
        .map_err(|e| reset_core::store::StoreError::Unavailable(e.to_string()))?
        .map_err(|e| reset_core::store::StoreError::Unavailable(e.to_string()))?;
    let user = User {
        username: new_user.username,
        email: new_user.email,
        password_hash: Some(hash),
        password_changed_at: None,
        status: AccountStatus::Active,
        language: new_user.language,
        created_at: now.as_millis(),
    };
    store.create_user(&user).await?;
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reset_core::domain::NewPassword;

    #[test]
    fn generated_passwords_meet_the_policy() -> Result<()> {
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
