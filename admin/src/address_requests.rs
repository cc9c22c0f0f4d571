//! `reset-admin address-requests`: the queue of verified address-change requests, and the
//! administrators' decision on each.
//!
//! Only requests confirmed from their new address are in the queue (the table's sparse
//! `pending` index); `list` is a Query on it, never a scan. Approving changes the registered
//! address through exactly the path of `user set-email` (`Accounts::set_email`: conditional,
//! audited, and it kills every older link), then marks the request approved together with an
//! audit item of its own. Rejecting marks it rejected with its audit item, in one transaction.
//! Expired requests (DynamoDB deletes them late) are refused by the clock.

use crate::accounts::{to_item, Accounts, EmailChange};
use crate::audit::{AuditAction, AuditEntry, Change, Reason};
use crate::error::{unavailable, AdminError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use reset_core::domain::{AddressRequest, AddressRequestId, AddressRequestState, Timestamp};
use reset_core::store::address_attributes::{PENDING_FLAG, REQUEST_ID, STATE};
use reset_core::store::item::s;
use reset_core::store::{AddressRequestStore, DynamoAddressRequests, PendingRequest};

/// The address-requests table as the admin tool sees it, beside the accounts.
pub struct AddressRequests {
    store: DynamoAddressRequests,
}

/// What an approval did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub request: AddressRequest,
    /// `None` when the account already had the new address (a repeated approve).
    pub change: Option<EmailChange>,
}

/// The reason as audited: which request, then the administrator's words.
fn audited_reason(id: &AddressRequestId, reason: &Reason) -> Result<Reason, AdminError> {
    Reason::parse(&format!("address request {id}: {}", reason.as_str()))
}

impl AddressRequests {
    pub fn new(store: DynamoAddressRequests) -> Self {
        Self { store }
    }

    /// `ADDRESS_REQUESTS_TABLE`, as the functions get it.
    pub fn from_config(config: &aws_config::SdkConfig) -> Result<Self, AdminError> {
        let table = std::env::var("ADDRESS_REQUESTS_TABLE")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or(AdminError::MissingEnvironment("ADDRESS_REQUESTS_TABLE"))?;
        Ok(Self::new(DynamoAddressRequests::new(
            aws_sdk_dynamodb::Client::new(config),
            table,
        )))
    }

    /// The pending requests, oldest first, expired ones left out.
    pub async fn pending(&self, now: Timestamp) -> Result<Vec<PendingRequest>, AdminError> {
        self.store.pending_requests(now).await.map_err(AdminError::from)
    }

    /// One request, whatever its state (expired ones too: `show` says so).
    pub async fn find(&self, id: &AddressRequestId) -> Result<AddressRequest, AdminError> {
        self.store
            .find_request(id)
            .await
            .map_err(AdminError::from)?
            .ok_or_else(|| AdminError::NoSuchRequest(id.clone()))
    }

    /// A request that may be decided now: pending and not expired.
    async fn decidable(&self, id: &AddressRequestId, now: Timestamp) -> Result<AddressRequest, AdminError> {
        let request = self.find(id).await?;
        if request.is_expired_at(now) {
            return Err(AdminError::RequestExpired(id.clone()));
        }
        if request.state != AddressRequestState::Pending {
            return Err(AdminError::RequestNotPending {
                id: id.clone(),
                state: request.state.code(),
            });
        }
        Ok(request)
    }

    /// Changes the account's address to the request's (the `user set-email` path, audited
    /// there), then marks the request approved with its own audit item.
    pub async fn approve(
        &self,
        accounts: &Accounts,
        queue: &dyn reset_core::mail::MailQueue,
        id: &AddressRequestId,
        change: &Change,
    ) -> Result<Approval, AdminError> {
        let request = self.decidable(id, change.at).await?;
        let audited = Change {
            reason: audited_reason(id, &change.reason)?,
            ..change.clone()
        };
        // The same change as `user set-email`: older links die, and both addresses are told.
        let email_change = match crate::users::change_address(
            accounts,
            queue,
            &request.username,
            &request.new_email,
            &audited,
        )
        .await
        {
            Ok(changed) => Some(changed),
            // An earlier approve changed the address and stopped before marking the request.
            Err(AdminError::SameAddress { .. }) => None,
            Err(error) => return Err(error),
        };
        self.decide(
            accounts,
            &request,
            AddressRequestState::Approved,
            AuditAction::ApproveAddressRequest,
            &audited,
        )
        .await?;
        Ok(Approval {
            request,
            change: email_change,
        })
    }

    /// Marks the request rejected, with its audit item. The account is not touched.
    pub async fn reject(
        &self,
        accounts: &Accounts,
        id: &AddressRequestId,
        change: &Change,
    ) -> Result<AddressRequest, AdminError> {
        let request = self.decidable(id, change.at).await?;
        let audited = Change {
            reason: audited_reason(id, &change.reason)?,
            ..change.clone()
        };
        self.decide(
            accounts,
            &request,
            AddressRequestState::Rejected,
            AuditAction::RejectAddressRequest,
            &audited,
        )
        .await?;
        Ok(request)
    }

    /// One transaction: pending → `state` (the sparse index drops it), and the audit item.
    async fn decide(
        &self,
        accounts: &Accounts,
        request: &AddressRequest,
        state: AddressRequestState,
        action: AuditAction,
        change: &Change,
    ) -> Result<(), AdminError> {
        let update = Update::builder()
            .table_name(self.store.table())
            .key(REQUEST_ID, s(request.request_id.as_str()))
            .update_expression(format!(
                "SET #state = :decided, decided_at = :at, decided_by = :by, decision_reason = :reason \
                 REMOVE {PENDING_FLAG}"
            ))
            .condition_expression("#state = :pending AND expires_at > :now")
            .expression_attribute_names("#state", STATE)
            .expression_attribute_values(":decided", s(state.code()))
            .expression_attribute_values(":pending", s(AddressRequestState::Pending.code()))
            .expression_attribute_values(":at", AttributeValue::N(change.at.as_millis().to_string()))
            .expression_attribute_values(":now", AttributeValue::N(change.at.as_secs().to_string()))
            .expression_attribute_values(":by", s(change.actor.as_str()))
            .expression_attribute_values(":reason", s(change.reason.as_str()))
            .build()
            .map_err(|e| AdminError::Corrupt(e.to_string()))?;
        let entry =
            AuditEntry::new(&request.username, action, change)?.with_emails(None, Some(request.new_email.masked()));
        let put = Put::builder()
            .table_name(accounts.audit_table())
            .set_item(Some(to_item(&entry)?))
            .condition_expression("attribute_not_exists(username)")
            .build()
            .map_err(|e| AdminError::Corrupt(e.to_string()))?;
        let result = accounts
            .client()
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(TransactWriteItem::builder().put(put).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(_))
                ) =>
            {
                Err(AdminError::DecidedMeanwhile(request.request_id.clone()))
            }
            Err(error) => Err(unavailable(error)),
        }
    }
}
