use crate::domain::{Email, Language, Username};
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
    /// Epoch milliseconds of the last change of the registered address (by an administrator):
    /// links mailed before it went to the old address and must not work any more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_changed_at: Option<i64>,
    #[serde(default)]
    pub status: AccountStatus,
    #[serde(default)]
    pub language: Language,
    /// Epoch milliseconds.
    pub created_at: i64,
}

impl User {
    pub fn can_reset_password(&self) -> bool {
        self.status == AccountStatus::Active
    }

    /// Links created at or before this moment are dead: the password or the registered
    /// address changed since they were mailed.
    pub fn links_valid_after(&self) -> Option<i64> {
        self.password_changed_at.max(self.email_changed_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_die_with_the_later_of_a_password_or_an_address_change() {
        let mut user = User {
            username: Username::parse("ex000000").unwrap_or_else(|e| panic!("{e}")),
            email: Email::parse("ex000000@example.jp").unwrap_or_else(|e| panic!("{e}")),
            password_hash: None,
            password_changed_at: None,
            email_changed_at: None,
            status: AccountStatus::Active,
            language: Language::Ja,
            created_at: 0,
        };
        assert_eq!(user.links_valid_after(), None);
        user.password_changed_at = Some(10);
        assert_eq!(user.links_valid_after(), Some(10));
        user.email_changed_at = Some(20);
        assert_eq!(user.links_valid_after(), Some(20));
        user.password_changed_at = Some(30);
        assert_eq!(user.links_valid_after(), Some(30));
    }
}
