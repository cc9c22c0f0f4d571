use super::{ConsumeError, CounterKey, CreateUserError, ResetStore, StoreError};
use crate::domain::{Timestamp, TokenHash, TokenRecord, User, Username};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// In-memory stand-in for unit tests of the service; the DynamoDB adapter is tested against
/// DynamoDB Local. Mirrors the adapter's conditions, and can be switched "down" to test the
/// unavailable paths.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    down: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    users: HashMap<Username, User>,
    tokens: HashMap<TokenHash, TokenRecord>,
    counters: HashMap<String, u32>,
}

impl MemoryStore {
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("memory store switched off".into()));
        }
        self.state
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store poisoned".into()))
    }

    pub fn token_count(&self) -> usize {
        self.state().map(|s| s.tokens.len()).unwrap_or(0)
    }
}

#[async_trait]
impl ResetStore for MemoryStore {
    async fn find_user(&self, username: &Username) -> Result<Option<User>, StoreError> {
        Ok(self.state()?.users.get(username).cloned())
    }

    async fn create_user(&self, user: &User) -> Result<(), CreateUserError> {
        let mut state = self.state()?;
        if state.users.contains_key(&user.username) {
            return Err(CreateUserError::AlreadyExists(user.username.clone()));
        }
        state.users.insert(user.username.clone(), user.clone());
        Ok(())
    }

    async fn save_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.state()?.tokens.insert(token.token_hash.clone(), token.clone());
        Ok(())
    }

    async fn find_token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.state()?.tokens.get(hash).cloned())
    }

    async fn consume_token_and_set_password(
        &self,
        token: &TokenRecord,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<(), ConsumeError> {
        let mut state = self.state()?;
        let token_ok = state
            .tokens
            .get(&token.token_hash)
            .is_some_and(|t| t.used_at.is_none() && t.expires_at > now.as_secs());
        let user_ok = state.users.get(&token.username).is_some_and(|u| {
            u.can_reset_password() && u.password_changed_at.is_none_or(|changed| changed < token.created_at)
        });
        if !(token_ok && user_ok) {
            return Err(ConsumeError::TokenNoLongerValid);
        }
        if let Some(stored) = state.tokens.get_mut(&token.token_hash) {
            stored.used_at = Some(now.as_millis());
        }
        if let Some(user) = state.users.get_mut(&token.username) {
            user.password_hash = Some(password_hash.to_owned());
            user.password_changed_at = Some(now.as_millis());
        }
        Ok(())
    }

    async fn increment_counter(&self, key: &CounterKey, _expires_at_secs: i64) -> Result<u32, StoreError> {
        let mut state = self.state()?;
        let hits = state.counters.entry(key.as_str().to_owned()).or_default();
        *hits += 1;
        Ok(*hits)
    }
}
