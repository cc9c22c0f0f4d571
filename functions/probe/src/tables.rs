//! The [`ProbeStore`] port on DynamoDB: the probe account's item (three named attributes, never
//! the hash), its reset-mail turn in the rate-limits table, a link through reset-core's own
//! `TokenStore` (the hash only, as send-mail stores it), and the pending address requests
//! through reset-core's `AddressRequestStore`. The probe's IAM policy allows exactly these calls
//! (infra/template.yaml, `ProbeFunction`).

use crate::walk::{ProbeAccount, ProbeStore, ProbeStoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use reset_core::domain::{CredentialEpoch, ResetToken, Timestamp, TokenRecord, Username};
use reset_core::store::attributes::{COUNTER_KEY, CREDENTIAL_EPOCH, RESET_MAIL_MESSAGE_ID, USERNAME};
use reset_core::store::item::s;
use reset_core::store::{AddressRequestStore, StoreError, TokenStore};
use serde::Deserialize;
use std::sync::Arc;

/// The attributes the probe reads of its account (the IAM policy names the same).
pub const ACCOUNT_ATTRIBUTES: [&str; 3] = [USERNAME, CREDENTIAL_EPOCH, RESET_MAIL_MESSAGE_ID];

#[derive(Deserialize)]
struct AccountItem {
    #[serde(default)]
    credential_epoch: CredentialEpoch,
    #[serde(default)]
    reset_mail_message_id: Option<String>,
}

pub struct DynamoProbeStore {
    client: Client,
    users_table: String,
    rate_limits_table: String,
    tokens: Arc<dyn TokenStore>,
    address_requests: Arc<dyn AddressRequestStore>,
}

impl DynamoProbeStore {
    pub fn new(
        client: Client,
        users_table: String,
        rate_limits_table: String,
        tokens: Arc<dyn TokenStore>,
        address_requests: Arc<dyn AddressRequestStore>,
    ) -> Self {
        Self {
            client,
            users_table,
            rate_limits_table,
            tokens,
            address_requests,
        }
    }
}

fn from_store(error: StoreError) -> ProbeStoreError {
    match error {
        StoreError::Unavailable(detail) => ProbeStoreError::Unavailable(detail),
        StoreError::Corrupt(detail) => ProbeStoreError::Corrupt(detail),
    }
}

#[async_trait]
impl ProbeStore for DynamoProbeStore {
    async fn probe_account(&self, username: &Username) -> Result<Option<ProbeAccount>, ProbeStoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.users_table)
            .key(USERNAME, s(username.as_str()))
            .projection_expression(ACCOUNT_ATTRIBUTES.join(", "))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| from_store(reset_core::store::item::unavailable(e)))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let item: AccountItem = reset_core::store::item::from_item(item).map_err(from_store)?;
        Ok(Some(ProbeAccount {
            credential_epoch: item.credential_epoch,
            reset_mail_message_id: item.reset_mail_message_id,
        }))
    }

    async fn free_mail_turn(&self, username: &Username) -> Result<(), ProbeStoreError> {
        let key = reset_core::store::CounterKey::reset_mail_turn(username);
        self.client
            .delete_item()
            .table_name(&self.rate_limits_table)
            .key(COUNTER_KEY, s(key.as_str()))
            .send()
            .await
            .map_err(|e| from_store(reset_core::store::item::unavailable(e)))?;
        Ok(())
    }

    async fn mint_link(
        &self,
        username: &Username,
        epoch: CredentialEpoch,
        now: Timestamp,
        lifetime_secs: i64,
    ) -> Result<String, ProbeStoreError> {
        let token = ResetToken::generate().map_err(|e| ProbeStoreError::Randomness(e.to_string()))?;
        let record = TokenRecord::new(&token, username.clone(), epoch, now, lifetime_secs);
        self.tokens.save_token(&record).await.map_err(from_store)?;
        Ok(token.to_url_safe())
    }

    async fn oldest_pending_address_request_secs(&self, now: Timestamp) -> Result<u64, ProbeStoreError> {
        let pending = self.address_requests.pending_requests(now).await.map_err(from_store)?;
        Ok(pending
            .first()
            .map_or(0, |r| u64::try_from(r.waiting_secs(now)).unwrap_or(0)))
    }
}
