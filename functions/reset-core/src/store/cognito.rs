//! Accounts in an Amazon Cognito user pool (`PASSWORD_STORE=cognito`).
//!
//! The pool holds the address, the language (`locale`), whether the account is enabled, and
//! the password, which it hashes itself. What it cannot hold atomically lives in the
//! account-state table, one item per username: the credential epoch (with the pool's `sub` it
//! belongs to, so a re-created username starts afresh), the claim of a change in progress,
//! and the mail events (the same attributes and indexes as the users table).
//!
//! A change goes through the claimed-change protocol (`store::claimed_change`): this adapter is
//! its credential backend (look the account up, set the password, end the sessions), and the
//! DynamoDB store is its ledger (`store::dynamo_claims`).

use super::claimed_change::{change_claimed, BackendAccount, ClaimLedger, CredentialBackend};
use super::dynamo::attributes;
use super::item::{n, s, unavailable};
use super::{AccountStore, ConsumeError, CredentialForm, DynamoStore, NewCredential, StoreError};
use crate::config::PoolPasswordPolicy;
use crate::domain::{AccountStatus, Email, Language, NewPassword, Timestamp, TokenRecord, User, Username};
use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::types::AttributeType;

#[derive(Debug, Clone)]
pub struct CognitoAccounts {
    cognito: aws_sdk_cognitoidentityprovider::Client,
    user_pool_id: String,
    /// The account-state table (and the links): the ledger of a change, and where the mail
    /// events are recorded.
    ledger: DynamoStore,
}

/// What `AdminGetUser` says of an account.
#[derive(Debug, Clone)]
struct PoolUser {
    sub: String,
    email: Option<String>,
    email_verified: bool,
    locale: Option<String>,
    enabled: bool,
    created_at: i64,
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
        let attributes = output.user_attributes();
        let Some(sub) = attribute(attributes, "sub") else {
            return Err(StoreError::Corrupt("the pool's user has no sub".into()));
        };
        Ok(Some(PoolUser {
            sub: sub.to_owned(),
            email: attribute(attributes, "email").map(str::to_owned),
            email_verified: attribute(attributes, "email_verified") == Some("true"),
            locale: attribute(attributes, "locale").map(str::to_owned),
            enabled: output.enabled(),
            created_at: output
                .user_create_date()
                .map_or(0, |date| date.secs().saturating_mul(1000)),
        }))
    }
}

#[async_trait]
impl CredentialBackend for CognitoAccounts {
    async fn look_up(&self, username: &Username) -> Result<Option<BackendAccount>, StoreError> {
        Ok(self.pool_user(username).await?.map(|user| BackendAccount {
            identity: user.sub,
            enabled: user.enabled,
        }))
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
        let (pool_user, state) = tokio::try_join!(self.pool_user(username), self.ledger.ledger_state(username))?;
        let Some(pool_user) = pool_user else {
            return Ok(None);
        };
        // An address the service cannot mail (missing, or not one a mail can go to) makes the
        // account one that gets no link, like an unknown one.
        let Some(email) = pool_user.email.as_deref().and_then(|e| Email::parse(e).ok()) else {
            tracing::warn!(username = %username, "the pool's account has no usable address");
            return Ok(None);
        };
        let (epoch, stored) = state.epoch_of(&pool_user.sub);
        // Only an enabled account with a verified address may reset: an unverified address
        // may not be the person's.
        let status = if pool_user.enabled && pool_user.email_verified {
            AccountStatus::Active
        } else {
            AccountStatus::Disabled
        };
        Ok(Some(User {
            username: username.clone(),
            email,
            password_hash: None,
            password_changed_at: if stored { state.password_changed_at } else { None },
            email_changed_at: None,
            previous_email: None,
            credential_epoch: epoch,
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
    ) -> Result<(), ConsumeError> {
        let NewCredential::Plain(password) = credential else {
            return Err(StoreError::Corrupt("a user pool takes the password itself, not a hash".into()).into());
        };
        change_claimed(&self.ledger, self, token, &password, now).await
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
