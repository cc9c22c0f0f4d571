//! The persistence port: one trait for what the reset flow needs of a store, the DynamoDB
//! adapter, and an in-memory fake for unit tests.

mod dynamo;
mod memory;

pub use dynamo::{attributes, DynamoStore};
pub use memory::MemoryStore;

use crate::domain::{Timestamp, TokenHash, TokenRecord, User, Username};
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or refused the call (throttling, network, timeout).
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// An item did not have the expected shape.
    #[error("a stored item is malformed: {0}")]
    Corrupt(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// Another request used the token first, it expired, or the account moved on.
    #[error("the token is no longer valid")]
    TokenNoLongerValid,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("user {0} already exists")]
    AlreadyExists(Username),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A fixed-window counter key, e.g. one username in one hour.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CounterKey(String);

impl CounterKey {
    pub fn per_username(username: &Username, window_start_secs: i64) -> Self {
        Self(format!("user#{username}#{window_start_secs}"))
    }

    pub fn per_client(client: &str, window_start_secs: i64) -> Self {
        Self(format!("ip#{client}#{window_start_secs}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[async_trait]
pub trait ResetStore: Send + Sync {
    async fn find_user(&self, username: &Username) -> Result<Option<User>, StoreError>;

    /// Writes a new user; refuses to overwrite an existing one.
    async fn create_user(&self, user: &User) -> Result<(), CreateUserError>;

    async fn save_token(&self, token: &TokenRecord) -> Result<(), StoreError>;

    async fn find_token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError>;

    /// In one transaction: marks the token used (only if still unused and unexpired) and
    /// stores the new password hash (only if the account is active and its password has not
    /// changed since the token was made). Either both happen or neither.
    async fn consume_token_and_set_password(
        &self,
        token: &TokenRecord,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<(), ConsumeError>;

    /// Adds one to the counter and returns the new count; the counter expires at
    /// `expires_at_secs`.
    async fn increment_counter(&self, key: &CounterKey, expires_at_secs: i64) -> Result<u32, StoreError>;
}
