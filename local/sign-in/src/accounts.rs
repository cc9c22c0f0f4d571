//! Where the password is checked: the DynamoDB users table through `reset_core::credentials`
//! (what a host sign-in system does with this service's default store), or a Cognito user pool
//! through `AdminInitiateAuth`.

use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::types::AuthFlowType;
use aws_sdk_dynamodb::types::AttributeValue;
use reset_core::aws_errors;
use reset_core::credentials::{self, CredentialError};
use reset_core::domain::{AccountStatus, Timestamp, User, Username};

/// The answer to a sign-in attempt that could be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    SignedIn(SignedIn),
    Refused(Refusal),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub username: Username,
    pub password_changed: PasswordChanged,
}

/// When the account's password last changed, as far as the store knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordChanged {
    At(Timestamp),
    Never,
    /// The store keeps no such time (a Cognito pool has no attribute for it).
    NotRecorded,
}

/// Why a sign-in was refused: for the log only. The page says the same for all of them, so it
/// reveals neither which usernames exist nor which accounts are disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotAUsername,
    UnknownUser,
    Disabled,
    NoPassword,
    WrongPassword,
    /// The pool answered with a challenge (a new password required, MFA) this page cannot meet.
    Challenge,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::NotAUsername => "not_a_username",
            Refusal::UnknownUser => "unknown_user",
            Refusal::Disabled => "disabled",
            Refusal::NoPassword => "no_password",
            Refusal::WrongPassword => "wrong_password",
            Refusal::Challenge => "challenge",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("the account store is unavailable: {0}")]
    Unavailable(String),
    #[error("the account item cannot be read: {0}")]
    CorruptAccount(String),
    #[error("the stored password hash cannot be checked: {0}")]
    StoredHash(#[from] CredentialError),
    #[error("the password check did not finish: {0}")]
    Join(String),
}

/// One password check against the account store.
#[async_trait]
pub trait PasswordCheck: Send + Sync {
    async fn check(&self, username: &Username, password: &str) -> Result<Verdict, CheckError>;
}

/// The users table, read as the host sign-in system reads it: one consistent GetItem, then
/// `credentials::verify` on the blocking pool.
pub struct DynamoUsers {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// A hash of nothing anyone types, verified when there is no real one, so an unknown or
    /// disabled account costs the same argon2 time as a wrong password.
    decoy_hash: String,
}

impl DynamoUsers {
    /// Computes the decoy hash (one argon2id hash) on the blocking pool.
    pub async fn new(client: aws_sdk_dynamodb::Client, table: String) -> Result<Self, CheckError> {
        let decoy_hash = tokio::task::spawn_blocking(|| {
            reset_core::hashing::hash_password_blocking("decoy: never a user's password")
        })
        .await
        .map_err(|e| CheckError::Join(e.to_string()))?
        .map_err(|e| CheckError::Unavailable(e.to_string()))?;
        Ok(Self {
            client,
            table,
            decoy_hash,
        })
    }
}

#[async_trait]
impl PasswordCheck for DynamoUsers {
    async fn check(&self, username: &Username, password: &str) -> Result<Verdict, CheckError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(
                reset_core::store::attributes::USERNAME,
                AttributeValue::S(username.as_str().to_owned()),
            )
            // Right after a reset the person signs in: an eventually consistent read could
            // still hold the old hash.
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| CheckError::Unavailable(aws_errors::describe(&e)))?;
        let user: Option<User> = output
            .item
            .map(serde_dynamo::from_item)
            .transpose()
            .map_err(|e| CheckError::CorruptAccount(e.to_string()))?;
        let decoy = self.decoy_hash.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || decide(user, &password, &decoy))
            .await
            .map_err(|e| CheckError::Join(e.to_string()))?
    }
}

/// The host system's decision on one users-table item. Every refusal verifies some hash, so
/// none of them answers faster than a wrong password.
pub fn decide(user: Option<User>, password: &str, decoy_hash: &str) -> Result<Verdict, CheckError> {
    let refuse = |reason| {
        credentials::verify(decoy_hash, password)?;
        Ok(Verdict::Refused(reason))
    };
    let Some(user) = user else {
        return refuse(Refusal::UnknownUser);
    };
    if user.status != AccountStatus::Active {
        return refuse(Refusal::Disabled);
    }
    let Some(stored) = user.password_hash.as_deref() else {
        return refuse(Refusal::NoPassword);
    };
    if !credentials::verify(stored, password)? {
        return Ok(Verdict::Refused(Refusal::WrongPassword));
    }
    Ok(Verdict::SignedIn(SignedIn {
        password_changed: user.password_changed_at.map_or(PasswordChanged::Never, |ms| {
            PasswordChanged::At(Timestamp::from_millis(ms))
        }),
        username: user.username,
    }))
}

/// A Cognito user pool: `AdminInitiateAuth` with `ADMIN_USER_PASSWORD_AUTH` (the app client
/// must allow that flow and have no secret). The tokens it returns are dropped: this page only
/// shows that the password works.
pub struct CognitoPool {
    client: aws_sdk_cognitoidentityprovider::Client,
    user_pool_id: String,
    client_id: String,
}

impl CognitoPool {
    pub fn new(client: aws_sdk_cognitoidentityprovider::Client, user_pool_id: String, client_id: String) -> Self {
        Self {
            client,
            user_pool_id,
            client_id,
        }
    }
}

#[async_trait]
impl PasswordCheck for CognitoPool {
    async fn check(&self, username: &Username, password: &str) -> Result<Verdict, CheckError> {
        let result = self
            .client
            .admin_initiate_auth()
            .user_pool_id(&self.user_pool_id)
            .client_id(&self.client_id)
            .auth_flow(AuthFlowType::AdminUserPasswordAuth)
            .auth_parameters("USERNAME", username.as_str())
            .auth_parameters("PASSWORD", password)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(error) => {
                // Cognito says NotAuthorized for a wrong password and for a disabled user, and
                // UserNotFound unless the pool hides it; all are the same refusal here.
                let refusal = match error.as_service_error() {
                    Some(e) if e.is_not_authorized_exception() => Refusal::WrongPassword,
                    Some(e) if e.is_user_not_found_exception() => Refusal::UnknownUser,
                    Some(e) if e.is_password_reset_required_exception() || e.is_user_not_confirmed_exception() => {
                        Refusal::Challenge
                    }
                    _ => return Err(CheckError::Unavailable(aws_errors::describe(&error))),
                };
                return Ok(Verdict::Refused(refusal));
            }
        };
        if output.authentication_result.is_none() {
            return Ok(Verdict::Refused(Refusal::Challenge));
        }
        Ok(Verdict::SignedIn(SignedIn {
            username: username.clone(),
            password_changed: PasswordChanged::NotRecorded,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reset_core::domain::{Email, Language};
    use reset_core::hashing::hash_password_blocking;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn user_with(password: &str) -> Result<User, Box<dyn std::error::Error>> {
        let mut user = User::new_active(
            Username::parse("ex000000")?,
            Email::parse("ex000000@example.jp")?,
            Language::Ja,
            Timestamp::from_millis(1_000),
        )?;
        user.password_hash = Some(hash_password_blocking(password)?);
        user.password_changed_at = Some(2_000);
        Ok(user)
    }

    #[test]
    fn the_right_password_signs_in_with_the_change_time() -> TestResult {
        let decoy = hash_password_blocking("decoy")?;
        let verdict = decide(Some(user_with("Sakura2026x")?), "Sakura2026x", &decoy)?;
        assert_eq!(
            verdict,
            Verdict::SignedIn(SignedIn {
                username: Username::parse("ex000000")?,
                password_changed: PasswordChanged::At(Timestamp::from_millis(2_000)),
            })
        );
        Ok(())
    }

    #[test]
    fn every_other_case_is_refused() -> TestResult {
        let decoy = hash_password_blocking("decoy")?;
        let user = user_with("Sakura2026x")?;
        let disabled = User {
            status: AccountStatus::Disabled,
            ..user.clone()
        };
        let without_password = User {
            password_hash: None,
            ..user.clone()
        };
        let cases = [
            (Some(user.clone()), "Sakura2026y", Refusal::WrongPassword),
            (None, "Sakura2026x", Refusal::UnknownUser),
            // The right password does not open a disabled account.
            (Some(disabled), "Sakura2026x", Refusal::Disabled),
            (Some(without_password), "Sakura2026x", Refusal::NoPassword),
            // Nor does the decoy's own password open an account without a hash.
            (None, "decoy", Refusal::UnknownUser),
        ];
        for (user, password, reason) in cases {
            assert_eq!(decide(user, password, &decoy)?, Verdict::Refused(reason), "{reason:?}");
        }
        Ok(())
    }

    #[test]
    fn a_broken_stored_hash_is_an_error_not_a_refusal() -> TestResult {
        let decoy = hash_password_blocking("decoy")?;
        let mut user = user_with("Sakura2026x")?;
        user.password_hash = Some("$argon2id$broken".to_owned());
        assert!(matches!(
            decide(Some(user), "Sakura2026x", &decoy),
            Err(CheckError::StoredHash(_))
        ));
        Ok(())
    }
}
