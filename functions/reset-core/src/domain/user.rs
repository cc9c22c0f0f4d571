use crate::domain::token::RandomnessUnavailable;
use crate::domain::{address_fingerprint, CredentialEpoch, Email, Language, Timestamp, Username};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    #[default]
    Active,
    Disabled,
}

/// A user of the national sign-in system, as the users table holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub username: Username,
    pub email: Email,
    /// argon2id PHC string; absent until a first password is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Epoch milliseconds of the last password change; the host system ends older sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_changed_at: Option<i64>,
    /// Epoch milliseconds of the last change of the registered address (for people; link
    /// validity follows `credential_epoch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_changed_at: Option<i64>,
    /// The address the latest change replaced: a notice about that change may go there, and
    /// nowhere else but `email` (send-mail checks every notice's recipient against the two).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_email: Option<Email>,
    /// What a store that keeps no address (a Cognito pool's account-state table) keeps of the
    /// replaced one instead: its `address_fingerprint`, enough to check a notice's recipient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_email_sha256: Option<String>,
    /// Moves on with every event that must kill mailed links (see `CredentialEpoch`). Accounts
    /// written before epochs existed read as 0, and links minted before have none: they die.
    #[serde(default)]
    pub credential_epoch: CredentialEpoch,
    #[serde(default)]
    pub status: AccountStatus,
    #[serde(default)]
    pub language: Language,
    /// Epoch milliseconds.
    pub created_at: i64,
}

impl User {
    /// A new active account without a password, at a fresh random credential epoch: the one
    /// way accounts come into being (administrators' create and import, tests).
    pub fn new_active(
        username: Username,
        email: Email,
        language: Language,
        created_at: Timestamp,
    ) -> Result<Self, RandomnessUnavailable> {
        Ok(Self {
            username,
            email,
            password_hash: None,
            password_changed_at: None,
            email_changed_at: None,
            previous_email: None,
            previous_email_sha256: None,
            credential_epoch: CredentialEpoch::initial()?,
            status: AccountStatus::Active,
            language,
            created_at: created_at.as_millis(),
        })
    }

    pub fn can_reset_password(&self) -> bool {
        self.status == AccountStatus::Active
    }

    /// Whether `address` is the one the latest address change replaced, kept as itself or as
    /// its fingerprint.
    pub fn replaced_address_is(&self, address: &Email) -> bool {
        self.previous_email.as_ref() == Some(address)
            || self
                .previous_email_sha256
                .as_deref()
                .is_some_and(|kept| kept == address_fingerprint(address.as_str()))
    }
}

/// The unit tests' accounts, built by `new_active` like every account.
#[cfg(test)]
impl User {
    /// `name` (a valid username) at `name@example.jp`, Japanese, active, created at 0.
    pub(crate) fn sample(name: &str) -> Self {
        let username = Username::parse(name).unwrap_or_else(|e| panic!("{e}"));
        let email = Email::parse(&format!("{name}@example.jp")).unwrap_or_else(|e| panic!("{e}"));
        Self::new_active(username, email, Language::Ja, Timestamp::from_millis(0)).unwrap_or_else(|e| panic!("{e}"))
    }

    pub(crate) fn with_status(self, status: AccountStatus) -> Self {
        Self { status, ..self }
    }

    pub(crate) fn with_language(self, language: Language) -> Self {
        Self { language, ..self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_accounts_are_active_without_a_password_at_a_fresh_epoch() -> Result<(), Box<dyn std::error::Error>> {
        let make = || {
            User::new_active(
                Username::parse("ex000000")?,
                Email::parse("ex000000@example.jp")?,
                Language::Ja,
                Timestamp::from_millis(5),
            )
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error>)
        };
        let (first, again) = (make()?, make()?);
        assert!(first.can_reset_password());
        assert_eq!(first.password_hash, None);
        assert_eq!(first.created_at, 5);
        assert_ne!(
            first.credential_epoch, again.credential_epoch,
            "a re-created account gets a new epoch"
        );
        Ok(())
    }

    #[test]
    fn accounts_written_before_epochs_read_as_zero() -> Result<(), serde_json::Error> {
        let legacy: User = serde_json::from_str(
            r#"{"username":"ex000000","email":"ex000000@example.jp","status":"active","created_at":0}"#,
        )?;
        assert_eq!(legacy.credential_epoch, CredentialEpoch::default());
        Ok(())
    }
}
