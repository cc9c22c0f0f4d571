//! Accounts in an Amazon Cognito user pool (`PASSWORD_STORE=cognito`).
//!
//! The pool holds the address, the language (`locale`), whether the account is enabled, and
//! the password, which it hashes itself. What it cannot hold atomically lives in the
//! account-state table, one item per username: the credential epoch (with the pool's `sub` it
//! belongs to, so a re-created username starts afresh), the claim of a change in progress,
//! and the mail events (the same attributes and indexes as the users table).
//!
//! A change cannot be one transaction across Cognito and DynamoDB, so it goes in three steps:
//! claim (one DynamoDB transaction: the link unused and unexpired, the account at the link's
//! epoch and not claimed by another change), then `AdminSetUserPassword` and
//! `AdminUserGlobalSignOut`, then finish (one transaction: the link used, the epoch moved on,
//! the claim dropped, only while the claim is still ours). A failure in the middle gives the
//! claim back; a crash leaves it to lapse after `CHANGE_CLAIM_LEASE_SECS`, when the same link
//! may be used again and the next attempt completes the change.

use super::dynamo::attributes;
use super::item::{cancelled_by_condition, n, n_u64, s, unavailable};
use super::{AccountStore, ConsumeError, CredentialForm, NewCredential, StoreError};
use crate::config::PoolPasswordPolicy;
use crate::domain::{AccountStatus, CredentialEpoch, Email, Language, Timestamp, TokenRecord, User, Username};
use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::types::AttributeType;
use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem, Update};
use sha2::{Digest, Sha256};

/// A claim older than this is a crashed change's: longer than change-password may run (10 s).
pub const CHANGE_CLAIM_LEASE_SECS: i64 = 30;

/// Attributes of the account-state table besides those shared with the users table.
pub mod state_attributes {
    /// The pool's `sub` of the account the epoch belongs to.
    pub const ACCOUNT_SUB: &str = "account_sub";
    /// Random id of the change in progress, and when it was claimed (epoch ms).
    pub const CHANGE_CLAIM: &str = "change_claim";
    pub const CHANGE_CLAIMED_AT: &str = "change_claimed_at";
}

/// Epochs derived from a `sub` stay below this, like random initial epochs.
const INITIAL_EPOCH_LIMIT: u64 = 1 << 62;

#[derive(Debug, Clone)]
pub struct CognitoAccounts {
    cognito: aws_sdk_cognitoidentityprovider::Client,
    user_pool_id: String,
    dynamo: aws_sdk_dynamodb::Client,
    tokens_table: String,
    state_table: String,
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

/// The account-state item, as far as a change needs it.
#[derive(Debug, Clone, Default)]
struct AccountState {
    account_sub: Option<String>,
    credential_epoch: Option<u64>,
    password_changed_at: Option<i64>,
}

impl AccountState {
    /// The epoch of the account with `sub`: the stored one while it is this account's, else
    /// the account's first, derived from its `sub`.
    fn epoch_of(&self, sub: &str) -> (CredentialEpoch, bool) {
        match (&self.account_sub, self.credential_epoch) {
            (Some(owner), Some(epoch)) if owner == sub => (CredentialEpoch::from_value(epoch), true),
            _ => (initial_epoch(sub), false),
        }
    }
}

/// An account's first epoch: a function of its `sub` (a random UUID the pool gives every new
/// account), so a re-created username never meets its predecessor's links.
pub fn initial_epoch(sub: &str) -> CredentialEpoch {
    let digest = Sha256::digest(format!("credential-epoch\u{0}{sub}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    CredentialEpoch::from_value(u64::from_be_bytes(bytes) % INITIAL_EPOCH_LIMIT)
}

fn random_claim_id() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Unavailable(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn attribute<'a>(attributes: &'a [AttributeType], name: &str) -> Option<&'a str> {
    attributes.iter().find(|a| a.name() == name).and_then(|a| a.value())
}

impl CognitoAccounts {
    pub fn new(
        cognito: aws_sdk_cognitoidentityprovider::Client,
        user_pool_id: String,
        dynamo: aws_sdk_dynamodb::Client,
        tokens_table: String,
        state_table: String,
    ) -> Self {
        Self {
            cognito,
            user_pool_id,
            dynamo,
            tokens_table,
            state_table,
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

    async fn account_state(&self, username: &Username) -> Result<AccountState, StoreError> {
        use state_attributes::ACCOUNT_SUB;
        let output = self
            .dynamo
            .get_item()
            .table_name(&self.state_table)
            .key(attributes::USERNAME, s(username.as_str()))
            .projection_expression(format!(
                "{ACCOUNT_SUB}, {}, password_changed_at",
                attributes::CREDENTIAL_EPOCH
            ))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(crate::aws_errors::describe(&e)))?;
        let Some(item) = output.item else {
            return Ok(AccountState::default());
        };
        let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok());
        Ok(AccountState {
            account_sub: item.get(ACCOUNT_SUB).and_then(|v| v.as_s().ok()).cloned(),
            credential_epoch: number(attributes::CREDENTIAL_EPOCH).and_then(|v: i64| u64::try_from(v).ok()),
            password_changed_at: number("password_changed_at"),
        })
    }

    /// The first step of a change: the link unused and unexpired, the account at the link's
    /// epoch and free of any live claim, in one transaction. `Ok(false)`: refused.
    async fn claim_change(
        &self,
        token: &TokenRecord,
        sub: &str,
        state: &AccountState,
        claim: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let Some(epoch) = token.epoch else {
            return Ok(false);
        };
        let (current, stored) = state.epoch_of(sub);
        if current != epoch {
            return Ok(false);
        }
        let claim_account = claim_account(&self.state_table, token, sub, epoch, claim, now, stored)?;
        let transaction = self
            .dynamo
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(link_unused_check(&self.tokens_table, token, now)?)
                    .build(),
            )
            .transact_items(TransactWriteItem::builder().update(claim_account).build());
        match transaction.send().await {
            Ok(_) => Ok(true),
            Err(error) if cancelled_by_condition(&error) => Ok(false),
            Err(error) => Err(StoreError::Unavailable(crate::aws_errors::describe(&error))),
        }
    }

    /// The last step: the link used, the epoch moved on, the claim dropped, only while the
    /// claim is still this change's.
    async fn finish_change(&self, token: &TokenRecord, claim: &str, now: Timestamp) -> Result<(), StoreError> {
        use state_attributes::{CHANGE_CLAIM, CHANGE_CLAIMED_AT};
        let epoch = token.epoch.unwrap_or_default();
        let mark_used = Update::builder()
            .table_name(&self.tokens_table)
            .key(attributes::TOKEN_HASH, s(token.token_hash.as_str()))
            .update_expression("SET used_at = :now")
            .condition_expression("attribute_not_exists(used_at)")
            .expression_attribute_values(":now", n(now.as_millis()))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let next_epoch = Update::builder()
            .table_name(&self.state_table)
            .key(attributes::USERNAME, s(token.username.as_str()))
            .update_expression(format!(
                "SET credential_epoch = :next, password_changed_at = :now REMOVE {CHANGE_CLAIM}, {CHANGE_CLAIMED_AT}"
            ))
            .condition_expression(format!("{CHANGE_CLAIM} = :claim"))
            .expression_attribute_values(":next", n_u64(epoch.next().value()))
            .expression_attribute_values(":now", n(now.as_millis()))
            .expression_attribute_values(":claim", s(claim))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.dynamo
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(mark_used).build())
            .transact_items(TransactWriteItem::builder().update(next_epoch).build())
            .send()
            .await
            .map_err(|error| {
                // Only a change that outlived its lease can lose its claim; the password is
                // set, and the next attempt with the link completes the rest.
                StoreError::Unavailable(format!(
                    "the change could not be recorded: {}",
                    crate::aws_errors::describe(&error)
                ))
            })?;
        Ok(())
    }

    /// Gives the claim back after a failed change, so the link works again at once.
    async fn release_claim(&self, username: &Username, claim: &str) {
        use state_attributes::{CHANGE_CLAIM, CHANGE_CLAIMED_AT};
        let result = self
            .dynamo
            .update_item()
            .table_name(&self.state_table)
            .key(attributes::USERNAME, s(username.as_str()))
            .update_expression(format!("REMOVE {CHANGE_CLAIM}, {CHANGE_CLAIMED_AT}"))
            .condition_expression(format!("{CHANGE_CLAIM} = :claim"))
            .expression_attribute_values(":claim", s(claim))
            .send()
            .await;
        if let Err(error) = result {
            tracing::warn!(error = %crate::aws_errors::describe(&error), "a change's claim could not be given back; it lapses");
        }
    }

    async fn set_password_and_sign_out(&self, username: &Username, password: &str) -> Result<(), StoreError> {
        self.cognito
            .admin_set_user_password()
            .user_pool_id(&self.user_pool_id)
            .username(username.as_str())
            .password(password)
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

fn link_unused_check(table: &str, token: &TokenRecord, now: Timestamp) -> Result<ConditionCheck, StoreError> {
    ConditionCheck::builder()
        .table_name(table)
        .key(attributes::TOKEN_HASH, s(token.token_hash.as_str()))
        .condition_expression(
            "attribute_exists(token_hash) AND attribute_not_exists(used_at) AND expires_at > :now_secs",
        )
        .expression_attribute_values(":now_secs", n(now.as_secs()))
        .build()
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The claim of the account for a change. `stored`: the account's epoch is in the table, so it
/// must still be the link's and carry no live claim; not stored (the account's first change):
/// nobody may have stored one for it meanwhile.
fn claim_account(
    table: &str,
    token: &TokenRecord,
    sub: &str,
    epoch: CredentialEpoch,
    claim: &str,
    now: Timestamp,
    stored: bool,
) -> Result<Update, StoreError> {
    use state_attributes::{ACCOUNT_SUB, CHANGE_CLAIM, CHANGE_CLAIMED_AT};
    let update = Update::builder()
        .table_name(table)
        .key(attributes::USERNAME, s(token.username.as_str()))
        .update_expression(format!(
            "SET {ACCOUNT_SUB} = :sub, credential_epoch = :epoch, {CHANGE_CLAIM} = :claim, {CHANGE_CLAIMED_AT} = :now"
        ))
        .expression_attribute_values(":sub", s(sub))
        .expression_attribute_values(":epoch", n_u64(epoch.value()))
        .expression_attribute_values(":claim", s(claim))
        .expression_attribute_values(":now", n(now.as_millis()));
    let update = if stored {
        update
            .condition_expression(format!(
                "{ACCOUNT_SUB} = :sub AND credential_epoch = :epoch \
                 AND (attribute_not_exists({CHANGE_CLAIM}) OR {CHANGE_CLAIMED_AT} < :lease_start)"
            ))
            .expression_attribute_values(":lease_start", n(now.as_millis() - CHANGE_CLAIM_LEASE_SECS * 1000))
    } else {
        update.condition_expression(format!("attribute_not_exists({ACCOUNT_SUB}) OR {ACCOUNT_SUB} <> :sub"))
    };
    update.build().map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl AccountStore for CognitoAccounts {
    async fn find_account(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let (pool_user, state) = tokio::try_join!(self.pool_user(username), self.account_state(username))?;
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
        let (pool_user, state) =
            tokio::try_join!(self.pool_user(&token.username), self.account_state(&token.username))?;
        let Some(pool_user) = pool_user.filter(|u| u.enabled) else {
            return Err(ConsumeError::TokenNoLongerValid);
        };
        let claim = random_claim_id()?;
        if !self.claim_change(token, &pool_user.sub, &state, &claim, now).await? {
            return Err(ConsumeError::TokenNoLongerValid);
        }
        if let Err(error) = self.set_password_and_sign_out(&token.username, password.expose()).await {
            self.release_claim(&token.username, &claim).await;
            return Err(error.into());
        }
        self.finish_change(token, &claim, now).await?;
        Ok(())
    }

    async fn remember_reset_mail(
        &self,
        username: &Username,
        message_id: &str,
        sent_at: Timestamp,
    ) -> Result<(), StoreError> {
        use attributes::{RESET_MAIL_MESSAGE_ID, RESET_MAIL_SENT_AT, USERNAME};
        // The state item may not exist yet: the pool's account does (send-mail just read it).
        self.dynamo
            .update_item()
            .table_name(&self.state_table)
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

    #[test]
    fn initial_epochs_follow_the_sub() {
        let a = initial_epoch("0b7e6c1a-1111-4c1e-9a55-000000000001");
        let b = initial_epoch("0b7e6c1a-1111-4c1e-9a55-000000000002");
        assert_ne!(a, b, "a re-created account (new sub) starts at another epoch");
        assert_eq!(a, initial_epoch("0b7e6c1a-1111-4c1e-9a55-000000000001"));
        assert!(a.value() < INITIAL_EPOCH_LIMIT);
    }

    #[test]
    fn a_stored_epoch_counts_only_for_its_own_account() {
        let state = AccountState {
            account_sub: Some("old-sub".into()),
            credential_epoch: Some(41),
            password_changed_at: Some(5),
        };
        assert_eq!(state.epoch_of("old-sub"), (CredentialEpoch::from_value(41), true));
        assert_eq!(state.epoch_of("new-sub"), (initial_epoch("new-sub"), false));
        assert_eq!(AccountState::default().epoch_of("any"), (initial_epoch("any"), false));
    }
}
