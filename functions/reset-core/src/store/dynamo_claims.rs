//! The DynamoDB tables as the ledger of a claimed change (`store::claimed_change`): the
//! account-state table holds each account's epoch (with the identity it belongs to) and the
//! claim of a change in progress; the links table says whether the link is still unused.

use super::claimed_change::{Claim, ClaimLedger, Finishing, HeldClaim, LedgerState};
use super::dynamo::attributes;
use super::item::{cancelled_by_condition, epoch_moved_on, epoch_step, is_condition_failure, n, n_u64, s, EPOCH_STEP};
use super::{DynamoStore, StoreError};
use crate::domain::{Timestamp, TokenRecord, Username};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem, Update};
use std::collections::HashMap;

/// Attributes of the account-state table besides those shared with the users table.
pub mod state_attributes {
    /// The backend's id (a pool's `sub`) of the account the epoch belongs to.
    pub const ACCOUNT_SUB: &str = "account_sub";
    /// Random id of the change in progress, and when it was claimed (epoch ms).
    pub const CHANGE_CLAIM: &str = "change_claim";
    pub const CHANGE_CLAIMED_AT: &str = "change_claimed_at";
    /// The hash of the link the claimed change goes through, to mark it used when finishing.
    pub const CHANGE_TOKEN: &str = "change_token";
    /// When the backend set the credential (epoch ms): the claim must be finished.
    pub const CHANGE_SET_AT: &str = "change_set_at";
    /// The claims of finished changes (a string set): their notices are mailed.
    pub const CHANGES_FINISHED: &str = "changes_finished";
    /// The fingerprint of the address the latest address change replaced (written by reset-admin
    /// with `email_changed_at`, the users table's name for the change's time).
    pub const PREVIOUS_EMAIL_SHA256: &str = "previous_email_sha256";
}

/// How long a link's item outlives a change that marks it used after the table's TTL would
/// have removed it (a change finished late): it still goes, like every link.
const LATE_MARK_KEEP_SECS: i64 = 24 * 3600;

#[async_trait]
impl ClaimLedger for DynamoStore {
    async fn ledger_state(&self, key: &Username) -> Result<LedgerState, StoreError> {
        use state_attributes::*;
        let output = self
            .client
            .get_item()
            .table_name(&self.users_table)
            .key(attributes::USERNAME, s(key.as_str()))
            .projection_expression(format!(
                "{ACCOUNT_SUB}, {}, password_changed_at, {CHANGE_CLAIM}, {CHANGE_CLAIMED_AT}, {CHANGE_TOKEN}, \
                 {CHANGE_SET_AT}, {CHANGES_FINISHED}, {}, {PREVIOUS_EMAIL_SHA256}",
                attributes::CREDENTIAL_EPOCH,
                attributes::EMAIL_CHANGED_AT,
            ))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(crate::aws_errors::describe(&e)))?;
        Ok(output.item.map(|item| ledger_state_of(&item)).unwrap_or_default())
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

    async fn mark_credential_set(&self, key: &Username, claim_id: &str, now: Timestamp) -> Result<(), StoreError> {
        use state_attributes::{CHANGE_CLAIM, CHANGE_SET_AT};
        self.client
            .update_item()
            .table_name(&self.users_table)
            .key(attributes::USERNAME, s(key.as_str()))
            .update_expression(format!("SET {CHANGE_SET_AT} = :now"))
            .condition_expression(format!("{CHANGE_CLAIM} = :claim"))
            .expression_attribute_values(":now", n(now.as_millis()))
            .expression_attribute_values(":claim", s(claim_id))
            .send()
            .await
            .map_err(|e| StoreError::Unavailable(crate::aws_errors::describe(&e)))?;
        Ok(())
    }

    async fn finish_change(&self, finishing: &Finishing<'_>, now: Timestamp) -> Result<bool, StoreError> {
        use state_attributes::{CHANGES_FINISHED, CHANGE_CLAIM, CHANGE_CLAIMED_AT, CHANGE_SET_AT, CHANGE_TOKEN};
        // The claim set the account's epoch to the link's: moved on from there.
        let next_epoch = Update::builder()
            .table_name(&self.users_table)
            .key(attributes::USERNAME, s(finishing.key.as_str()))
            // The claim is remembered as finished in the same clause that moves the epoch on:
            // its notice mails only for a finished claim.
            .update_expression(format!(
                "{}, {CHANGES_FINISHED} :finished",
                epoch_moved_on(&format!(
                    "SET password_changed_at = :now \
                     REMOVE {CHANGE_CLAIM}, {CHANGE_CLAIMED_AT}, {CHANGE_TOKEN}, {CHANGE_SET_AT}"
                ))
            ))
            .condition_expression(format!("{CHANGE_CLAIM} = :claim"))
            .expression_attribute_values(EPOCH_STEP, epoch_step())
            .expression_attribute_values(":finished", AttributeValue::Ss(vec![finishing.claim_id.to_owned()]))
            .expression_attribute_values(":now", n(now.as_millis()))
            .expression_attribute_values(":claim", s(finishing.claim_id))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut transaction = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(next_epoch).build());
        if let Some(token_hash) = finishing.token_hash {
            let mark_used = Update::builder()
                .table_name(&self.tokens_table)
                .key(attributes::TOKEN_HASH, s(token_hash))
                .update_expression("SET used_at = :now, expires_at = if_not_exists(expires_at, :keep_until)")
                .condition_expression("attribute_not_exists(used_at)")
                .expression_attribute_values(":now", n(now.as_millis()))
                .expression_attribute_values(":keep_until", n(now.plus_secs(LATE_MARK_KEEP_SECS).as_secs()))
                .build()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            transaction = transaction.transact_items(TransactWriteItem::builder().update(mark_used).build());
        }
        match transaction.send().await {
            Ok(_) => Ok(true),
            // Only a finisher that met another can lose the claim: the other finished it.
            Err(error) if cancelled_by_condition(&error) => Ok(false),
            Err(error) => Err(StoreError::Unavailable(format!(
                "the change could not be recorded: {}",
                crate::aws_errors::describe(&error)
            ))),
        }
    }

    async fn release_claim(&self, key: &Username, claim_id: &str) {
        use state_attributes::{CHANGE_CLAIM, CHANGE_CLAIMED_AT, CHANGE_SET_AT, CHANGE_TOKEN};
        let result = self
            .client
            .update_item()
            .table_name(&self.users_table)
            .key(attributes::USERNAME, s(key.as_str()))
            .update_expression(format!("REMOVE {CHANGE_CLAIM}, {CHANGE_CLAIMED_AT}, {CHANGE_TOKEN}"))
            // Never a claim whose credential is set: that one is only ever finished.
            .condition_expression(format!(
                "{CHANGE_CLAIM} = :claim AND attribute_not_exists({CHANGE_SET_AT})"
            ))
            .expression_attribute_values(":claim", s(claim_id))
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(error) if is_condition_failure(&error) => {}
            Err(error) => {
                tracing::warn!(error = %crate::aws_errors::describe(&error), "a change's claim could not be given back; it lapses")
            }
        }
    }
}

fn ledger_state_of(item: &HashMap<String, AttributeValue>) -> LedgerState {
    use state_attributes::*;
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let number = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
    };
    let claim = text(CHANGE_CLAIM).map(|id| HeldClaim {
        id,
        claimed_at: number(CHANGE_CLAIMED_AT).unwrap_or(0),
        token_hash: text(CHANGE_TOKEN),
        credential_set: item.contains_key(CHANGE_SET_AT),
    });
    LedgerState {
        identity: text(ACCOUNT_SUB),
        credential_epoch: number(attributes::CREDENTIAL_EPOCH).and_then(|v| u64::try_from(v).ok()),
        password_changed_at: number("password_changed_at"),
        claim,
        finished_claims: item
            .get(CHANGES_FINISHED)
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default(),
        email_changed_at: number(attributes::EMAIL_CHANGED_AT),
        previous_email_sha256: text(PREVIOUS_EMAIL_SHA256),
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
    use state_attributes::{ACCOUNT_SUB, CHANGE_CLAIM, CHANGE_CLAIMED_AT, CHANGE_SET_AT, CHANGE_TOKEN};
    let update = Update::builder()
        .table_name(table)
        .key(attributes::USERNAME, s(claim.key.as_str()))
        .update_expression(format!(
            "SET {ACCOUNT_SUB} = :sub, credential_epoch = :epoch, {CHANGE_CLAIM} = :claim, \
             {CHANGE_CLAIMED_AT} = :now, {CHANGE_TOKEN} = :token REMOVE {CHANGE_SET_AT}"
        ))
        .expression_attribute_values(":sub", s(claim.identity))
        .expression_attribute_values(":epoch", n_u64(claim.epoch.value()))
        .expression_attribute_values(":claim", s(claim.id))
        .expression_attribute_values(":now", n(now.as_millis()))
        .expression_attribute_values(":token", s(claim.token.token_hash.as_str()));
    // Any claim, live or lapsed, is finished before another may be taken
    // (`claimed_change::change_claimed`).
    let update = if claim.stored {
        update.condition_expression(format!(
            "{ACCOUNT_SUB} = :sub AND credential_epoch = :epoch AND attribute_not_exists({CHANGE_CLAIM})"
        ))
    } else {
        update.condition_expression(format!("attribute_not_exists({ACCOUNT_SUB}) OR {ACCOUNT_SUB} <> :sub"))
    };
    update.build().map_err(|e| StoreError::Corrupt(e.to_string()))
}
