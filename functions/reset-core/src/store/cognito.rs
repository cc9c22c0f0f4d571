//! Accounts in an Amazon Cognito user pool (`PASSWORD_STORE=cognito`).
//!
//! The pool holds the address, the language (`locale`), whether the account is enabled, its
//! status, and the password, which it hashes itself. What it cannot hold atomically lives in
//! the account-state table, one item per account under the pool's own spelling of its username
//! (a case-insensitive pool answers every spelling with that one): the credential epoch (with
//! the pool's `sub` it belongs to, so a re-created username starts afresh), the claim of a change
//! in progress, and the mail events (the same attributes and indexes as the users table).
//!
//! A link binds the state table's epoch to the pool's revision of the user (when the pool last
//! modified it, whether it is enabled, its status, its address): an administrator's edit in the
//! pool kills older links as a change through this service does.
//!
//! A change goes through the claimed-change protocol (`store::claimed_change`): this adapter is
//! its credential backend (look the account up, set the password, end the sessions), and the
//! DynamoDB store is its ledger (`store::dynamo_claims`).

use super::claimed_change::{
    change_claimed, settle_change, BackendAccount, ClaimLedger, CredentialBackend, LedgerState,
};
use super::dynamo::attributes;
use super::item::{n, s, unavailable};
use super::{
    AccountStore, ChangeNotice, ConsumeError, CredentialForm, DynamoStore, NewCredential, NoticeHandling, Settled,
    StoreError,
};
use crate::config::PoolPasswordPolicy;
use crate::domain::{
    AccountStatus, CredentialEpoch, Email, Language, NewPassword, PendingChange, Timestamp, TokenRecord, User, Username,
};
use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::operation::admin_get_user::AdminGetUserOutput;
use aws_sdk_cognitoidentityprovider::primitives::DateTime;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, UserStatusType};

#[derive(Debug, Clone)]
pub struct CognitoAccounts {
    cognito: aws_sdk_cognitoidentityprovider::Client,
    user_pool_id: String,
    /// The account-state table (and the links): the ledger of a change, and where the mail
    /// events are recorded.
    ledger: DynamoStore,
}

/// What `AdminGetUser` says of an account. Public for reset-admin, which reads the pool's users
/// itself (its own least-privilege policy) and must compute their link epochs exactly as the
/// functions do.
#[derive(Debug, Clone)]
pub struct PoolUser {
    /// The pool's spelling of the username: the account-state item's key.
    pub username: Username,
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub locale: Option<String>,
    pub enabled: bool,
    pub status: Option<UserStatusType>,
    pub created_at: i64,
    pub last_modified_at: i64,
    /// Every attribute as `name=value`, sorted: an edit of any of them is a change of the user
    /// even within the resolution of `last_modified_at`.
    all_attributes: Vec<String>,
}

impl PoolUser {
    /// Only a confirmed user may reset, or one an administrator asked to reset
    /// (`AdminResetUserPassword`): a user who never confirmed, still holds an administrator's
    /// temporary password, signs in elsewhere (`EXTERNAL_PROVIDER`) or is archived or
    /// compromised gets the answer an unknown username gets, and no mail.
    pub fn may_reset(&self) -> bool {
        self.enabled
            && self.email_verified
            && matches!(
                self.status,
                Some(UserStatusType::Confirmed | UserStatusType::ResetRequired)
            )
    }

    /// Everything the pool reports that an edit of the user moves, for the link epoch
    /// (`claimed_change::link_epoch`).
    fn revision(&self) -> String {
        format!(
            "{}|{}|{}|{}",
            self.last_modified_at,
            self.enabled,
            self.status.as_ref().map_or("", UserStatusType::as_str),
            self.all_attributes.join("\u{0}"),
        )
    }

    fn backend_account(&self) -> BackendAccount {
        BackendAccount {
            identity: self.sub.clone(),
            key: self.username.clone(),
            revision: self.revision(),
            enabled: self.may_reset(),
        }
    }

    /// The epoch this user's links are minted under, given what the account-state table holds:
    /// what `find_account` reports and send-mail records on an address request.
    pub fn link_epoch(&self, state: &LedgerState) -> CredentialEpoch {
        self.backend_account().link_epoch(state)
    }

    /// The user of an `AdminGetUser` answer; `None` when the pool's username is not one this
    /// service can hold.
    pub fn from_output(output: &AdminGetUserOutput) -> Result<Option<Self>, StoreError> {
        pool_user_of(output)
    }
}

fn millis(date: Option<&DateTime>) -> i64 {
    date.map_or(0, |date| {
        date.secs()
            .saturating_mul(1000)
            .saturating_add(i64::from(date.subsec_nanos() / 1_000_000))
    })
}

fn attribute<'a>(attributes: &'a [AttributeType], name: &str) -> Option<&'a str> {
    attributes.iter().find(|a| a.name() == name).and_then(|a| a.value())
}

impl CognitoAccounts {
    /// `ledger`: the DynamoDB store whose users table is the account-state table.
    pub fn new(cognito: aws_sdk_cognitoidentityprovider::Client, user_pool_id: String, ledger: DynamoStore) -> Self {
        Self {
            cognito,
            user_pool_id,
            ledger,
        }
    }

    /// The pool's password policy (`DescribeUserPool`), read once at cold start.
    pub async fn password_policy(&self) -> Result<PoolPasswordPolicy, StoreError> {
        let output = self
            .cognito
            .describe_user_pool()
            .user_pool_id(&self.user_pool_id)
            .send()
            .await
            .map_err(unavailable)?;
        let policy = output
            .user_pool()
            .and_then(|pool| pool.policies())
            .and_then(|policies| policies.password_policy())
            .ok_or_else(|| StoreError::Corrupt("the user pool has no password policy".into()))?;
        Ok(PoolPasswordPolicy {
            // Cognito's default minimum when the policy leaves it out.
            min_length: policy
                .minimum_length()
                .map_or(8, |n| usize::try_from(n.max(0)).unwrap_or(8)),
            require_uppercase: policy.require_uppercase(),
            require_lowercase: policy.require_lowercase(),
            require_numbers: policy.require_numbers(),
            require_symbols: policy.require_symbols(),
        })
    }

    async fn pool_user(&self, username: &Username) -> Result<Option<PoolUser>, StoreError> {
        let result = self
            .cognito
            .admin_get_user()
            .user_pool_id(&self.user_pool_id)
            .username(username.as_str())
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_user_not_found_exception()) =>
            {
                return Ok(None)
            }
            Err(error) => return Err(unavailable(error)),
        };
        pool_user_of(&output)
    }
}

/// `None`: the pool's username is not one this service can hold (it parses usernames as the
/// sign-in system issues them), so the account gets the answer an unknown one gets.
fn pool_user_of(output: &AdminGetUserOutput) -> Result<Option<PoolUser>, StoreError> {
    let attributes = output.user_attributes();
    let Some(sub) = attribute(attributes, "sub") else {
        return Err(StoreError::Corrupt("the pool's user has no sub".into()));
    };
    let mut all_attributes: Vec<String> = attributes
        .iter()
        .map(|a| format!("{}={}", a.name(), a.value().unwrap_or("")))
        .collect();
    all_attributes.sort();
    let Ok(username) = Username::parse(output.username()) else {
        tracing::warn!("the pool's username is not one of the sign-in system's");
        return Ok(None);
    };
    Ok(Some(PoolUser {
        username,
        sub: sub.to_owned(),
        email: attribute(attributes, "email").map(str::to_owned),
        email_verified: attribute(attributes, "email_verified") == Some("true"),
        locale: attribute(attributes, "locale").map(str::to_owned),
        enabled: output.enabled(),
        status: output.user_status().cloned(),
        created_at: millis(output.user_create_date()),
        last_modified_at: millis(output.user_last_modified_date()),
        all_attributes,
    }))
}

#[async_trait]
impl CredentialBackend for CognitoAccounts {
    async fn look_up(&self, username: &Username) -> Result<Option<BackendAccount>, StoreError> {
        Ok(self.pool_user(username).await?.map(|user| user.backend_account()))
    }

    async fn set_credential(&self, username: &Username, password: &NewPassword) -> Result<(), StoreError> {
        self.cognito
            .admin_set_user_password()
            .user_pool_id(&self.user_pool_id)
            .username(username.as_str())
            .password(password.expose())
            .permanent(true)
            .send()
            .await
            .map_err(|error| {
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_invalid_password_exception())
                {
                    // The service asks the stricter of both policies, so only a pool whose
                    // policy changed since the cold start can refuse.
                    StoreError::Unavailable("the user pool refused the password (its policy changed?)".into())
                } else {
                    unavailable(error)
                }
            })?;
        Ok(())
    }

    async fn end_sessions(&self, username: &Username) -> Result<(), StoreError> {
        self.cognito
            .admin_user_global_sign_out()
            .user_pool_id(&self.user_pool_id)
            .username(username.as_str())
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl AccountStore for CognitoAccounts {
    async fn find_account(&self, username: &Username) -> Result<Option<User>, StoreError> {
        // Read side by side under the typed spelling, which is the pool's nearly always; read
        // again under the pool's when it is not.
        let (pool_user, state) = tokio::try_join!(self.pool_user(username), self.ledger.ledger_state(username))?;
        let Some(pool_user) = pool_user else {
            return Ok(None);
        };
        let state = if pool_user.username == *username {
            state
        } else {
            self.ledger.ledger_state(&pool_user.username).await?
        };
        // An address the service cannot mail (missing, or not one a mail can go to) makes the
        // account one that gets no link, like an unknown one.
        let Some(email) = pool_user.email.as_deref().and_then(|e| Email::parse(e).ok()) else {
            tracing::warn!(username = %username, "the pool's account has no usable address");
            return Ok(None);
        };
        let account = pool_user.backend_account();
        let (_, stored) = state.epoch_of(&account.identity);
        // An unverified address may not be the person's; see `PoolUser::may_reset` for the rest.
        let status = if account.enabled {
            AccountStatus::Active
        } else {
            AccountStatus::Disabled
        };
        Ok(Some(User {
            username: pool_user.username.clone(),
            email,
            password_hash: None,
            password_changed_at: if stored { state.password_changed_at } else { None },
            // A former account's change of the same username is not this one's.
            email_changed_at: if stored { state.email_changed_at } else { None },
            previous_email: None,
            previous_email_sha256: if stored {
                state.previous_email_sha256.clone()
            } else {
                None
            },
            credential_epoch: account.link_epoch(&state),
            status,
            language: pool_user
                .locale
                .as_deref()
                .and_then(Language::from_tag)
                .unwrap_or_default(),
            created_at: pool_user.created_at,
        }))
    }

    fn credential_form(&self) -> CredentialForm {
        CredentialForm::Plain
    }

    async fn change_password(
        &self,
        token: &TokenRecord,
        credential: NewCredential,
        now: Timestamp,
        notice: ChangeNotice<'_>,
    ) -> Result<NoticeHandling, ConsumeError> {
        let NewCredential::Plain(password) = credential else {
            return Err(StoreError::Corrupt("a user pool takes the password itself, not a hash".into()).into());
        };
        change_claimed(&self.ledger, self, token, &password, now, notice).await?;
        Ok(NoticeHandling::Queued)
    }

    async fn settle_change(&self, change: &PendingChange, now: Timestamp) -> Result<Settled, StoreError> {
        settle_change(&self.ledger, self, change, now).await
    }

    async fn remember_reset_mail(
        &self,
        username: &Username,
        message_id: &str,
        sent_at: Timestamp,
    ) -> Result<(), StoreError> {
        use attributes::{RESET_MAIL_MESSAGE_ID, RESET_MAIL_SENT_AT, USERNAME};
        // The state item may not exist yet: the pool's account does (send-mail just read it).
        self.ledger
            .client
            .update_item()
            .table_name(&self.ledger.users_table)
            .key(USERNAME, s(username.as_str()))
            .update_expression(format!("SET {RESET_MAIL_MESSAGE_ID} = :id, {RESET_MAIL_SENT_AT} = :at"))
            .expression_attribute_values(":id", s(message_id))
            .expression_attribute_values(":at", n(sent_at.as_millis()))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(crate::aws_errors::describe(&e)))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool_user(status: UserStatusType) -> PoolUser {
        PoolUser {
            username: Username::parse("ex000000").unwrap_or_else(|e| panic!("{e}")),
            sub: "sub-1".into(),
            email: Some("ex000000@example.jp".into()),
            email_verified: true,
            locale: None,
            enabled: true,
            status: Some(status),
            created_at: 0,
            last_modified_at: 1_795_608_000_000,
            all_attributes: vec!["email=ex000000@example.jp".into(), "sub=sub-1".into()],
        }
    }

    #[test]
    fn only_confirmed_users_and_those_asked_to_reset_may_reset() {
        for status in UserStatusType::values() {
            let status = UserStatusType::from(*status);
            let expected = matches!(status, UserStatusType::Confirmed | UserStatusType::ResetRequired);
            assert_eq!(pool_user(status.clone()).may_reset(), expected, "{status:?}");
        }
        let unknown = UserStatusType::from("A_STATUS_COGNITO_ADDS_LATER");
        assert!(!pool_user(unknown).may_reset());
        let disabled = PoolUser {
            enabled: false,
            ..pool_user(UserStatusType::Confirmed)
        };
        let unverified = PoolUser {
            email_verified: false,
            ..pool_user(UserStatusType::Confirmed)
        };
        assert!(!disabled.may_reset() && !unverified.may_reset());
    }

    #[test]
    fn every_edit_the_pool_reports_is_another_revision() {
        let user = pool_user(UserStatusType::Confirmed);
        let edits = [
            PoolUser {
                last_modified_at: user.last_modified_at + 1,
                ..user.clone()
            },
            PoolUser {
                enabled: false,
                ..user.clone()
            },
            PoolUser {
                status: Some(UserStatusType::ResetRequired),
                ..user.clone()
            },
            PoolUser {
                all_attributes: vec!["email=other@example.jp".into(), "sub=sub-1".into()],
                ..user.clone()
            },
        ];
        for edited in edits {
            assert_ne!(edited.revision(), user.revision(), "{edited:?}");
        }
        assert_eq!(user.revision(), user.clone().revision());
    }
}
