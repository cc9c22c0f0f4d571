use super::{ConsumeError, CounterKey, CreateUserError, ResetStore, StoreError};
use crate::domain::{Timestamp, TokenHash, TokenRecord, User, Username};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::time::Duration;

/// Item attribute names shared with `infra/template.yaml` (key schemas and TTL).
pub mod attributes {
    pub const USERNAME: &str = "username";
    pub const TOKEN_HASH: &str = "token_hash";
    pub const COUNTER_KEY: &str = "counter_key";
    pub const EXPIRES_AT: &str = "expires_at";
}

/// How often a transaction that lost a race with another transaction on the same items is
/// retried. After the retry the loser sees the winner's write and fails its condition.
const TRANSACTION_CONFLICT_RETRIES: u32 = 3;

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    users_table: String,
    tokens_table: String,
    counters_table: String,
}

impl DynamoStore {
    pub fn new(client: Client, users_table: String, tokens_table: String, counters_table: String) -> Self {
        Self {
            client,
            users_table,
            tokens_table,
            counters_table,
        }
    }

    fn consume_transaction(
        &self,
        token: &TokenRecord,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mark_token_used = Update::builder()
            .table_name(&self.tokens_table)
            .key(attributes::TOKEN_HASH, s(token.token_hash.as_str()))
            .update_expression("SET used_at = :now")
            .condition_expression(
                "attribute_exists(token_hash) AND attribute_not_exists(used_at) AND expires_at > :now_secs",
            )
            .expression_attribute_values(":now", n(now.as_millis()))
            .expression_attribute_values(":now_secs", n(now.as_secs()))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let store_new_password = Update::builder()
            .table_name(&self.users_table)
            .key(attributes::USERNAME, s(token.username.as_str()))
            .update_expression("SET password_hash = :hash, password_changed_at = :now")
            .condition_expression(
                "attribute_exists(username) AND #status = :active \
                 AND (attribute_not_exists(password_changed_at) OR password_changed_at < :token_created)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":hash", s(password_hash))
            .expression_attribute_values(":now", n(now.as_millis()))
            .expression_attribute_values(":active", s("active"))
            .expression_attribute_values(":token_created", n(token.created_at))
            .build()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(vec![
            TransactWriteItem::builder().update(mark_token_used).build(),
            TransactWriteItem::builder().update(store_new_password).build(),
        ])
    }
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn unavailable<E>(error: E) -> StoreError
where
    E: std::error::Error,
{
    StoreError::Unavailable(DisplayErrorContext(error).to_string())
}

fn from_item<T: serde::de::DeserializeOwned>(item: HashMap<String, AttributeValue>) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn to_item<T: serde::Serialize>(value: &T) -> Result<HashMap<String, AttributeValue>, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl ResetStore for DynamoStore {
    async fn find_user(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.users_table)
            .key(attributes::USERNAME, s(username.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.item.map(from_item).transpose()
    }

    async fn create_user(&self, user: &User) -> Result<(), CreateUserError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.users_table)
            .set_item(Some(to_item(user)?))
            .condition_expression("attribute_not_exists(username)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Err(CreateUserError::AlreadyExists(user.username.clone()))
            }
            Err(error) => Err(unavailable(error).into()),
        }
    }

    async fn save_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.tokens_table)
            .set_item(Some(to_item(token)?))
            .condition_expression("attribute_not_exists(token_hash)")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn find_token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.tokens_table)
            .key(attributes::TOKEN_HASH, s(hash.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.item.map(from_item).transpose()
    }

    async fn consume_token_and_set_password(
        &self,
        token: &TokenRecord,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<(), ConsumeError> {
        let items = self.consume_transaction(token, password_hash, now)?;
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let Err(error) = result else {
                return Ok(());
            };
            let reasons: Vec<String> = error
                .as_service_error()
                .and_then(|e| match e {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                        Some(c.cancellation_reasons().iter().filter_map(|r| r.code().map(str::to_owned)).collect())
                    }
                    _ => None,
                })
                .unwrap_or_default();
            if reasons.iter().any(|code| code == "ConditionalCheckFailed") {
                return Err(ConsumeError::TokenNoLongerValid);
            }
            let conflicted = reasons.iter().any(|code| code == "TransactionConflict")
                || error
                    .as_service_error()
                    .is_some_and(|e| e.is_transaction_in_progress_exception());
            if conflicted && attempt < TRANSACTION_CONFLICT_RETRIES {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                continue;
            }
            return Err(unavailable(error).into());
        }
    }

    async fn increment_counter(&self, key: &CounterKey, expires_at_secs: i64) -> Result<u32, StoreError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.counters_table)
            .key(attributes::COUNTER_KEY, s(key.as_str()))
            .update_expression("ADD hits :one SET expires_at = if_not_exists(expires_at, :expires_at)")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires_at", n(expires_at_secs))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(unavailable)?;
        let hits = output
            .attributes
            .as_ref()
            .and_then(|a| a.get("hits"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(|| StoreError::Corrupt("counter update returned no hits".into()))?;
        Ok(hits)
    }
}
