//! In-memory stand-in for the address-requests store (unit tests, the IAM test's spies).

use super::address_requests::{AddressRequestStore, PendingRequest};
use super::StoreError;
use crate::domain::{
    AddressRequest, AddressRequestId, AddressRequestState, NoticeFate, NoticeOutcome, Timestamp, TokenHash,
};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// In-memory stand-in with the adapter's conditions.
#[derive(Debug, Default)]
pub struct MemoryAddressRequests {
    requests: Mutex<HashMap<AddressRequestId, AddressRequest>>,
}

impl MemoryAddressRequests {
    fn lock(&self) -> Result<MutexGuard<'_, HashMap<AddressRequestId, AddressRequest>>, StoreError> {
        self.requests
            .lock()
            .map_err(|_| StoreError::Unavailable("poisoned".into()))
    }

    /// Every stored request (tests only look).
    pub fn all(&self) -> Vec<AddressRequest> {
        self.lock().map(|m| m.values().cloned().collect()).unwrap_or_default()
    }
}

#[async_trait]
impl AddressRequestStore for MemoryAddressRequests {
    async fn create_request(&self, request: &AddressRequest) -> Result<(), StoreError> {
        let mut requests = self.lock()?;
        if requests.contains_key(&request.request_id) {
            return Err(StoreError::Corrupt("request id taken".into()));
        }
        requests.insert(request.request_id.clone(), request.clone());
        Ok(())
    }

    async fn find_request(&self, id: &AddressRequestId) -> Result<Option<AddressRequest>, StoreError> {
        Ok(self.lock()?.get(id).cloned())
    }

    async fn set_verification(
        &self,
        id: &AddressRequestId,
        hash: &TokenHash,
        link_expires_at_secs: i64,
    ) -> Result<bool, StoreError> {
        let mut requests = self.lock()?;
        match requests.get_mut(id) {
            Some(request) if request.state == AddressRequestState::Unverified => {
                request.verification_hash = Some(hash.as_str().to_owned());
                request.verification_expires_at = Some(link_expires_at_secs);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn mark_verified(&self, id: &AddressRequestId, hash: &TokenHash, now: Timestamp) -> Result<bool, StoreError> {
        let mut requests = self.lock()?;
        match requests.get_mut(id) {
            Some(request)
                if request.state == AddressRequestState::Unverified
                    && request.verification_hash.as_deref() == Some(hash.as_str())
                    && request.verification_expires_at.is_some_and(|t| t > now.as_secs())
                    && request.expires_at > now.as_secs() =>
            {
                request.state = AddressRequestState::Pending;
                request.verified_at = Some(now.as_millis());
                request.pending_flag = Some(crate::domain::address_request::PENDING_FLAG.to_owned());
                request.verification_hash = None;
                request.verification_expires_at = None;
                request.notice = Some(NoticeFate::Queued);
                request.notice_send_before = Some(
                    now.plus_secs(crate::domain::mail_job::NOTICE_SEND_WITHIN_SECS)
                        .as_secs(),
                );
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn record_notice(&self, id: &AddressRequestId, outcome: &NoticeOutcome) -> Result<bool, StoreError> {
        let mut requests = self.lock()?;
        let Some(request) = requests.get_mut(id).filter(|r| r.notice == Some(NoticeFate::Queued)) else {
            return Ok(false);
        };
        request.notice = Some(outcome.fate());
        if let NoticeOutcome::Sent { at, account } = outcome {
            request.notice_sent_at = Some(at.as_millis());
            request.account_epoch = Some(account.epoch);
            request.account_address_sha256 = Some(account.address_sha256.clone());
        }
        Ok(true)
    }

    async fn pending_requests(&self, now: Timestamp) -> Result<Vec<PendingRequest>, StoreError> {
        let mut pending: Vec<PendingRequest> = self
            .lock()?
            .values()
            .filter(|r| r.pending_flag.is_some() && !r.is_expired_at(now))
            .map(PendingRequest::from)
            .collect();
        pending.sort_by_key(|r| r.verified_at);
        Ok(pending)
    }
}
