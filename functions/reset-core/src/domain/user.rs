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
}
