//! The address-change requests: their port, the DynamoDB adapter (the `ADDRESS_REQUESTS_TABLE`
//! with its sparse `pending` index) and an in-memory fake for unit tests.
//!
//! Every state change is one conditional UpdateItem, so a second click on a verification link,
//! or two administrators deciding at once, change nothing twice. Expiry is checked against the
//! caller's clock on every read: DynamoDB's TTL deletes late.

use super::item::{is_condition_failure, n, s, unavailable};
use super::StoreError;
use crate::domain::{
    AddressRequest, AddressRequestId, AddressRequestState, NoticeFate, NoticeOutcome, Timestamp, TokenHash,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;

/// Attribute names of the address-requests table (the template and its drift test use them).
pub mod address_attributes {
    pub const REQUEST_ID: &str = "request_id";
    pub const STATE: &str = "state";
    pub const EXPIRES_AT: &str = "expires_at";
    pub const VERIFICATION_HASH: &str = "verification_hash";
    pub const VERIFICATION_EXPIRES_AT: &str = "verification_expires_at";
    pub const VERIFIED_AT: &str = "verified_at";
    pub const PENDING_FLAG: &str = "pending_flag";
    pub const NOTICE: &str = "notice";
    pub const NOTICE_SEND_BEFORE: &str = "notice_send_before";
    pub const NOTICE_SENT_AT: &str = "notice_sent_at";
    pub const ACCOUNT_EPOCH: &str = "account_epoch";
    pub const ACCOUNT_ADDRESS_SHA256: &str = "account_address_sha256";
}

/// The sparse index of pending requests: `pending_flag` (only while pending) + `verified_at`.
pub const PENDING_INDEX: &str = "pending";

/// One row of the pending index (which projects no address and no person's name).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingRequest {
    pub request_id: AddressRequestId,
    pub username: crate::domain::Username,
    pub institution: crate::domain::RequestText,
    pub created_at: i64,
    pub verified_at: i64,
    pub expires_at: i64,
}

impl PendingRequest {
    pub fn waiting_secs(&self, now: Timestamp) -> i64 {
        (now.as_millis() - self.verified_at).max(0) / 1000
    }
}

impl From<&AddressRequest> for PendingRequest {
    fn from(r: &AddressRequest) -> Self {
        Self {
            request_id: r.request_id.clone(),
            username: r.username.clone(),
            institution: r.institution.clone(),
            created_at: r.created_at,
            verified_at: r.verified_at.unwrap_or(r.created_at),
            expires_at: r.expires_at,
        }
    }
}

/// How many pending requests one listing returns at most.
pub const PENDING_PAGE: i32 = 100;

#[async_trait]
pub trait AddressRequestStore: Send + Sync {
    /// Stores a new request; never overwrites one.
    async fn create_request(&self, request: &AddressRequest) -> Result<(), StoreError>;

    /// The request, read consistently, whether expired or not (callers check the clock).
    async fn find_request(&self, id: &AddressRequestId) -> Result<Option<AddressRequest>, StoreError>;

    /// Stores the hash of the verification link just minted, while the request is unverified.
    /// False when it is not (already verified, decided, or gone): then nothing must be mailed.
    async fn set_verification(
        &self,
        id: &AddressRequestId,
        hash: &TokenHash,
        link_expires_at_secs: i64,
    ) -> Result<bool, StoreError>;

    /// Unverified → pending, only with the live link's hash, before both the link and the
    /// request expire. False when any of that no longer holds (a second click, a race). The
    /// notice to the registered address is recorded as queued, worth sending for as long as
    /// [`crate::domain::mail_job::NOTICE_SEND_WITHIN_SECS`] (the job queued with it).
    async fn mark_verified(&self, id: &AddressRequestId, hash: &TokenHash, now: Timestamp) -> Result<bool, StoreError>;

    /// What became of the notice, recorded only while it is still queued (a redelivered job
    /// cannot turn a sent notice into an expired one). False when it was not queued.
    async fn record_notice(&self, id: &AddressRequestId, outcome: &NoticeOutcome) -> Result<bool, StoreError>;

    /// Pending requests, oldest first, without expired ones (at most [`PENDING_PAGE`]). A
    /// Query on the sparse index: never a scan.
    async fn pending_requests(&self, now: Timestamp) -> Result<Vec<PendingRequest>, StoreError>;
}

/// The DynamoDB adapter.
#[derive(Debug, Clone)]
pub struct DynamoAddressRequests {
    client: Client,
    table: String,
}

fn from_item(item: HashMap<String, AttributeValue>) -> Result<AddressRequest, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl DynamoAddressRequests {
    pub fn new(client: Client, table: String) -> Self {
        Self { client, table }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

#[async_trait]
impl AddressRequestStore for DynamoAddressRequests {
    async fn create_request(&self, request: &AddressRequest) -> Result<(), StoreError> {
        use address_attributes::REQUEST_ID;
        let item = serde_dynamo::to_item(request).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(format!("attribute_not_exists({REQUEST_ID})"))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn find_request(&self, id: &AddressRequestId) -> Result<Option<AddressRequest>, StoreError> {
        use address_attributes::REQUEST_ID;
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(REQUEST_ID, s(id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.item.map(from_item).transpose()
    }

    async fn set_verification(
        &self,
        id: &AddressRequestId,
        hash: &TokenHash,
        link_expires_at_secs: i64,
    ) -> Result<bool, StoreError> {
        use address_attributes::{REQUEST_ID, VERIFICATION_EXPIRES_AT, VERIFICATION_HASH};
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(REQUEST_ID, s(id.as_str()))
            .update_expression(format!(
                "SET {VERIFICATION_HASH} = :hash, {VERIFICATION_EXPIRES_AT} = :until"
            ))
            .condition_expression(format!("attribute_exists({REQUEST_ID}) AND #state = :unverified"))
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":hash", s(hash.as_str()))
            .expression_attribute_values(":until", n(link_expires_at_secs))
            .expression_attribute_values(":unverified", s(AddressRequestState::Unverified.code()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn mark_verified(&self, id: &AddressRequestId, hash: &TokenHash, now: Timestamp) -> Result<bool, StoreError> {
        use address_attributes::{
            EXPIRES_AT, NOTICE, NOTICE_SEND_BEFORE, PENDING_FLAG, REQUEST_ID, VERIFICATION_EXPIRES_AT,
            VERIFICATION_HASH, VERIFIED_AT,
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(REQUEST_ID, s(id.as_str()))
            .update_expression(format!(
                "SET #state = :pending, {VERIFIED_AT} = :at, {PENDING_FLAG} = :flag, \
                 {NOTICE} = :queued, {NOTICE_SEND_BEFORE} = :send_before \
                 REMOVE {VERIFICATION_HASH}, {VERIFICATION_EXPIRES_AT}"
            ))
            .condition_expression(format!(
                "#state = :unverified AND {VERIFICATION_HASH} = :hash AND {VERIFICATION_EXPIRES_AT} > :now \
                 AND {EXPIRES_AT} > :now"
            ))
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":pending", s(AddressRequestState::Pending.code()))
            .expression_attribute_values(":unverified", s(AddressRequestState::Unverified.code()))
            .expression_attribute_values(":at", n(now.as_millis()))
            .expression_attribute_values(":flag", s(crate::domain::address_request::PENDING_FLAG))
            .expression_attribute_values(":hash", s(hash.as_str()))
            .expression_attribute_values(":now", n(now.as_secs()))
            .expression_attribute_values(":queued", s(NoticeFate::Queued.code()))
            .expression_attribute_values(
                ":send_before",
                n(now
                    .plus_secs(crate::domain::mail_job::NOTICE_SEND_WITHIN_SECS)
                    .as_secs()),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn record_notice(&self, id: &AddressRequestId, outcome: &NoticeOutcome) -> Result<bool, StoreError> {
        use address_attributes::{ACCOUNT_ADDRESS_SHA256, ACCOUNT_EPOCH, NOTICE, NOTICE_SENT_AT, REQUEST_ID};
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(REQUEST_ID, s(id.as_str()))
            .condition_expression(format!("{NOTICE} = :queued"))
            .expression_attribute_values(":queued", s(NoticeFate::Queued.code()))
            .expression_attribute_values(":fate", s(outcome.fate().code()));
        let update = match outcome {
            NoticeOutcome::Sent { at, account } => update
                .update_expression(format!(
                    "SET {NOTICE} = :fate, {NOTICE_SENT_AT} = :at, {ACCOUNT_EPOCH} = :epoch, \
                     {ACCOUNT_ADDRESS_SHA256} = :address"
                ))
                .expression_attribute_values(":at", n(at.as_millis()))
                .expression_attribute_values(":epoch", AttributeValue::N(account.epoch.value().to_string()))
                .expression_attribute_values(":address", s(&account.address_sha256)),
            NoticeOutcome::Failed | NoticeOutcome::Expired => update.update_expression(format!("SET {NOTICE} = :fate")),
        };
        match update.send().await {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(unavailable(error)),
        }
    }

    async fn pending_requests(&self, now: Timestamp) -> Result<Vec<PendingRequest>, StoreError> {
        use address_attributes::{EXPIRES_AT, PENDING_FLAG};
        let mut found = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(PENDING_INDEX)
                .key_condition_expression(format!("{PENDING_FLAG} = :flag"))
                .filter_expression(format!("{EXPIRES_AT} > :now"))
                .expression_attribute_values(":flag", s(crate::domain::address_request::PENDING_FLAG))
                .expression_attribute_values(":now", n(now.as_secs()))
                .scan_index_forward(true)
                .limit(PENDING_PAGE)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in output.items.unwrap_or_default() {
                let row: PendingRequest =
                    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                found.push(row);
            }
            start = output.last_evaluated_key;
            if start.is_none() || found.len() >= PENDING_PAGE as usize {
                break;
            }
        }
        found.retain(|r| r.expires_at > now.as_secs());
        found.truncate(PENDING_PAGE as usize);
        Ok(found)
    }
}
