//! What every DynamoDB adapter builds its items and reads its errors with: the store's tables
//! here and reset-admin's commands.

use super::StoreError;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

pub fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn n_u64(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The placeholder of the epoch's step in an update that moves it on.
pub const EPOCH_STEP: &str = ":epoch_step";

/// The one way an account's credential epoch moves on in its DynamoDB item, for every
/// link-killing event (a password change through either store, an address change, a disable,
/// an enable): the update's own `clauses` (SET / REMOVE) followed by `ADD credential_epoch
/// :epoch_step`, with `epoch_step()` as the value of `EPOCH_STEP`. An item without the attribute
/// (written before epochs existed, epoch 0) gets 1: the same step as `CredentialEpoch::next`.
/// (The admin-policy test reads the clauses where this is called; the IAM test records them.)
pub fn epoch_moved_on(clauses: &str) -> String {
    format!("{clauses} ADD {} {EPOCH_STEP}", super::attributes::CREDENTIAL_EPOCH)
}

/// The value of `EPOCH_STEP`.
pub fn epoch_step() -> AttributeValue {
    AttributeValue::N("1".into())
}

pub fn from_item<T: serde::de::DeserializeOwned>(item: HashMap<String, AttributeValue>) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn to_item<T: serde::Serialize>(value: &T) -> Result<HashMap<String, AttributeValue>, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// An SDK error as the store reports it: its kind and code, never its message (which may
/// quote an address).
pub fn unavailable<E: ProvideErrorMetadata, R>(error: SdkError<E, R>) -> StoreError {
    StoreError::Unavailable(crate::aws_errors::describe(&error))
}

pub fn is_condition_failure<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    crate::aws_errors::code(error) == Some("ConditionalCheckFailedException")
}

/// A transaction cancelled because one of its conditions failed (not a conflict or an outage).
pub fn cancelled_by_condition<R>(error: &SdkError<TransactWriteItemsError, R>) -> bool {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => cancelled
            .cancellation_reasons()
            .iter()
            .any(|reason| reason.code() == Some("ConditionalCheckFailed")),
        _ => false,
    }
}
