//! The DynamoDB tables as the ledger of a claimed change (`store::claimed_change`): the
//! account-state table holds each account's epoch (with the identity it belongs to) and the
//! claim of a change in progress; the links table says whether the link is still unused.

use super::claimed_change::{Claim, ClaimLedger, LedgerState, CHANGE_CLAIM_LEASE_SECS};
use super::dynamo::attributes;
use super::item::{cancelled_by_condition, epoch_moved_on, epoch_step, n, n_u64, s, EPOCH_STEP};
use super::{DynamoStore, StoreError};
use crate::domain::{Timestamp, TokenRecord, Username};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem, Update};

/// Attributes of the account-state table besides those shared with the users table.
pub mod state_attributes {
    /// The backend's id (a pool's `sub`) of the account the epoch belongs to.
    pub const ACCOUNT_SUB: &str = "account_sub";
    /// Random id of the change in progress, and when it was claimed (epoch ms).
    pub const CHANGE_CLAIM: &str = "change_claim";
    pub const CHANGE_CLAIMED_AT: &str = "change_claimed_at";
}

#[async_trait]
impl ClaimLedger for DynamoStore {
    async fn ledger_state(&self, key: &Username) -> Result<LedgerState, StoreError> {
        use state_attributes::ACCOUNT_SUB;
        let output = self
            .client
            .get_item()
            .table_name(&self.users_table)
            .key(attributes::USERNAME, s(key.as_str()))
            .projection_expression(format!(
                "{ACCOUNT_SUB}, {}, password_changed_at",
                attributes::CREDENTIAL_EPOCH
            ))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(crate::aws_errors::describe(&e)))?;
        let Some(item) = output.item else {
            return Ok(LedgerState::default());
        };
        let number = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok());
        Ok(LedgerState {
            identity: item.get(ACCOUNT_SUB).and_then(|v| v.as_s().ok()).cloned(),
            credential_epoch: number(attributes::CREDENTIAL_EPOCH).and_then(|v: i64| u64::try_from(v).ok()),
            password_changed_at: number("password_changed_at"),
        })
    }

    async fn claim_change(&self, claim: &Claim<'_>, now: Timestamp) -> Result<bool, StoreError> {
        let transaction = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(link_unused_check(&self.tokens_table, claim.token, now)?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .update(claim_account(&self.users_table, claim, now)?)
                    .build(),
            );
        match transaction.send().await {
            Ok(_) => Ok(true),
            Err(error) if cancelled_by_condition(&error) => Ok(false),
            Err(error) => Err(StoreError::Unavailable(crate::aws_errors::describe(&error))),
        }
    }

    async fn finish_change(&self, claim: &Claim<'_>, now: Timestamp) -> Result<(), StoreError> {
        use state_attributes::{CHANGE_CLAIM, CHANGE_CLAIMED_AT};
        let token = claim.token;
        let mark_used = Update::builder()
            .table_name(&self.tokens_table)
            .key(attributes::TOKEN_HASH, s(token.token_hash.as_str()))
            .update_expression("SET used_at = :now")
            .condition_expression("attribute_not_exists(used_at)")
            .expression_attribute_values(":now", n(now.as_millis()))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // The claim set the account's epoch to the link's: moved on from there.
        let next_epoch = Update::builder()
            .table_name(&self.users_table)
            .key(attributes::USERNAME, s(claim.key.as_str()))
            .update_expression(epoch_moved_on(&format!(
                "SET password_changed_at = :now REMOVE {CHANGE_CLAIM}, {CHANGE_CLAIMED_AT}"
            )))
            .condition_expression(format!("{CHANGE_CLAIM} = :claim"))
            .expression_attribute_values(EPOCH_STEP, epoch_step())
            .expression_attribute_values(":now", n(now.as_millis()))
            .expression_attribute_values(":claim", s(claim.id))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client
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

    async fn release_claim(&self, key: &Username, claim_id: &str) {
        use state_attributes::{CHANGE_CLAIM, CHANGE_CLAIMED_AT};
        let result = self
            .client
            .update_item()
            .table_name(&self.users_table)
            .key(attributes::USERNAME, s(key.as_str()))
            .update_expression(format!("REMOVE {CHANGE_CLAIM}, {CHANGE_CLAIMED_AT}"))
            .condition_expression(format!("{CHANGE_CLAIM} = :claim"))
            .expression_attribute_values(":claim", s(claim_id))
            .send()
            .await;
        if let Err(error) = result {
            tracing::warn!(error = %crate::aws_errors::describe(&error), "a change's claim could not be given back; it lapses");
        }
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

/// The claim of the account for a change. Stored: the account's epoch is in the table, so it
/// must still be the link's and carry no live claim; not stored (the account's first change):
/// nobody may have stored one for it meanwhile.
fn claim_account(table: &str, claim: &Claim<'_>, now: Timestamp) -> Result<Update, StoreError> {
    use state_attributes::{ACCOUNT_SUB, CHANGE_CLAIM, CHANGE_CLAIMED_AT};
    let update = Update::builder()
        .table_name(table)
        .key(attributes::USERNAME, s(claim.key.as_str()))
        .update_expression(format!(
            "SET {ACCOUNT_SUB} = :sub, credential_epoch = :epoch, {CHANGE_CLAIM} = :claim, {CHANGE_CLAIMED_AT} = :now"
        ))
        .expression_attribute_values(":sub", s(claim.identity))
        .expression_attribute_values(":epoch", n_u64(claim.epoch.value()))
        .expression_attribute_values(":claim", s(claim.id))
        .expression_attribute_values(":now", n(now.as_millis()));
    let update = if claim.stored {
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
