//! `reset-admin address-requests`: the queue of verified address-change requests, and the
//! administrators' decision on each.
//!
//! Only requests confirmed from their new address are in the queue (the table's sparse
//! `pending` index); `list` is a Query on it, never a scan.
//!
//! An approval follows the account, not only the request. When `send-mail` tells the
//! registered address of the request, it records the account's credential epoch and (as a
//! hash) its address on the request; approve refuses when either changed since (a password
//! change, a disable, another address change: look first, then `--override-reason`, audited).
//! It also refuses until the notice was sent and the objection window
//! (`ADDRESS_REQUEST_OBJECTION_HOURS`, 72 by default) has passed, so that the owner of a
//! working mailbox can object — unless that mailbox is recorded as bouncing, when nobody can.
//!
//! Approving is one transaction: the account's new address (conditioned on the address and
//! the epoch just checked), the request pending → approved, and both audit items. On a user
//! pool (`source::AccountSource`) the address is changed in the pool first and the transaction
//! moves the account's epoch instead; an approval interrupted between the two is completed by
//! approving again. A concurrent reject or approve is conditioned on the same pending state, so
//! exactly one of them commits. Expired requests (DynamoDB deletes them late) are refused by the
//! clock.

use crate::accounts::{AccountRecord, Accounts, EmailChange};
use crate::audit::{AuditAction, AuditEntry, Change, Reason};
use crate::error::AdminError;
pub use crate::refusal::Refusal;
use crate::source::AccountSource;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use reset_core::config::Variables;
use reset_core::domain::{
    address_fingerprint, AddressRequest, AddressRequestId, AddressRequestState, NoticeFate, Timestamp,
};
use reset_core::store::address_attributes::{PENDING_FLAG, REQUEST_ID, STATE};
use reset_core::store::item::s;
use reset_core::store::{AddressRequestStore, DynamoAddressRequests, PendingRequest};

/// The variable that sets the objection window, in hours.
pub const OBJECTION_HOURS_VARIABLE: &str = "ADDRESS_REQUEST_OBJECTION_HOURS";
/// Three days: a weekend and a working day for the owner to read the notice and object.
pub const DEFAULT_OBJECTION_HOURS: u32 = 72;
/// At most 30 days: a request lives 14 days by default and at most 90.
const MAX_OBJECTION_HOURS: u32 = 720;

/// The objection window from `ADDRESS_REQUEST_OBJECTION_HOURS` (1..=720, default 72).
pub fn objection_window_secs_from_env() -> Result<i64, AdminError> {
    let hours = Variables::from_env()
        .number(
            OBJECTION_HOURS_VARIABLE,
            DEFAULT_OBJECTION_HOURS,
            1..=MAX_OBJECTION_HOURS,
        )
        .map_err(|_| AdminError::InvalidObjectionWindow)?;
    Ok(i64::from(hours) * 3600)
}

/// Whether the registered address is recorded as bouncing (then nobody there can object).
pub fn is_bouncing(account: &AccountRecord) -> bool {
    account.mail_problem.as_deref() == Some("bounce")
}

/// The notice's fate as `show` states it: queued, sent, bounced, expired or failed (`none`
/// for requests confirmed before notices were tracked).
pub fn notice_fate(request: &AddressRequest, account: Option<&AccountRecord>, now: Timestamp) -> &'static str {
    match request.notice {
        None => "none",
        Some(NoticeFate::Queued) if request.notice_send_before.is_some_and(|t| now.as_secs() >= t) => "expired",
        Some(NoticeFate::Sent) if account.is_some_and(is_bouncing) => "bounced",
        Some(fate) => fate.code(),
    }
}

/// Everything that stops an approval of `request` at `now`; empty when it may go ahead.
pub fn refusals(
    request: &AddressRequest,
    account: Option<&AccountRecord>,
    now: Timestamp,
    objection_window_secs: i64,
) -> Vec<Refusal> {
    let Some(account) = account else {
        return vec![Refusal::NoAccount];
    };
    let mut found = Vec::new();
    match (&request.account_epoch, &request.account_address_sha256) {
        (Some(epoch), Some(address)) => {
            if *epoch != account.credential_epoch {
                found.push(Refusal::EpochChanged);
            }
            if *address != address_fingerprint(account.email.as_str()) {
                found.push(Refusal::AddressChanged);
            }
        }
        _ => found.push(Refusal::AccountNotRecorded),
    }
    if !is_bouncing(account) {
        match (request.notice, request.notice_sent_at) {
            (Some(NoticeFate::Sent), Some(sent_at)) => {
                let until = sent_at + objection_window_secs * 1000;
                if now.as_millis() < until {
                    found.push(Refusal::ObjectionWindowOpen { until });
                }
            }
            _ => found.push(Refusal::NoticeNotSent(notice_fate(request, Some(account), now))),
        }
    }
    found
}

/// The address-requests table as the admin tool sees it, beside the accounts.
pub struct AddressRequests {
    store: DynamoAddressRequests,
    objection_window_secs: i64,
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

/// The reason of an approval as audited: which request, the administrator's words, and what was
/// overridden and why (when something was).
fn approval_reason(
    id: &AddressRequestId,
    reason: &Reason,
    refused: &[Refusal],
    overriding: Option<&Reason>,
) -> Result<Reason, AdminError> {
    let reason = match overriding {
        Some(why) if !refused.is_empty() => {
            let overridden: Vec<String> = refused.iter().map(ToString::to_string).collect();
            format!(
                "address request {id}: {}; overriding: {} (because: {})",
                reason.as_str(),
                overridden.join("; "),
                why.as_str()
            )
        }
        _ => format!("address request {id}: {}", reason.as_str()),
    };
    Reason::parse(&reason)
}

impl AddressRequests {
    pub fn new(store: DynamoAddressRequests) -> Self {
        Self {
            store,
            objection_window_secs: i64::from(DEFAULT_OBJECTION_HOURS) * 3600,
        }
    }

    pub fn with_objection_window_secs(self, secs: i64) -> Self {
        Self {
            objection_window_secs: secs,
            ..self
        }
    }

    pub fn objection_window_secs(&self) -> i64 {
        self.objection_window_secs
    }

    /// `ADDRESS_REQUESTS_TABLE`, as the functions get it.
    pub fn from_config(config: &aws_config::SdkConfig) -> Result<Self, AdminError> {
        let table = Variables::from_env().required("ADDRESS_REQUESTS_TABLE")?;
        Ok(
            Self::new(DynamoAddressRequests::new(aws_sdk_dynamodb::Client::new(config), table))
                .with_objection_window_secs(objection_window_secs_from_env()?),
        )
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

    /// Approves `id` when nothing stops it (see [`refusals`]).
    pub async fn approve(
        &self,
        source: &dyn AccountSource,
        queue: &dyn reset_core::mail::MailQueue,
        id: &AddressRequestId,
        change: &Change,
    ) -> Result<Approval, AdminError> {
        self.approve_with(source, queue, id, change, None).await
    }

    /// Approves `id` although the account changed since its registered address was told
    /// (`--override-reason`): the refusals overridden and `why` go into the audit record. The
    /// notice and the objection window are never overridden.
    pub async fn approve_overriding(
        &self,
        source: &dyn AccountSource,
        queue: &dyn reset_core::mail::MailQueue,
        id: &AddressRequestId,
        change: &Change,
        why: &Reason,
    ) -> Result<Approval, AdminError> {
        self.approve_with(source, queue, id, change, Some(why)).await
    }

    async fn approve_with(
        &self,
        source: &dyn AccountSource,
        queue: &dyn reset_core::mail::MailQueue,
        id: &AddressRequestId,
        change: &Change,
        overriding: Option<&Reason>,
    ) -> Result<Approval, AdminError> {
        let accounts = source.audit();
        let request = self.decidable(id, change.at).await?;
        let account = source.find(&request.username).await?;
        let mut refused = refusals(&request, account.as_ref(), change.at, self.objection_window_secs);
        if source.changes_before_the_transaction() && account.as_ref().is_some_and(|a| a.email == request.new_email) {
            // The pool already holds the request's address: this approval's own pool call, from
            // a run that failed before its transaction (the call moved the pool's revision, and
            // so the link epoch). Nothing of the owner's is overwritten by completing it.
            refused.retain(|r| !matches!(r, Refusal::EpochChanged | Refusal::AddressChanged));
        }
        let blocking: Vec<Refusal> = refused
            .iter()
            .filter(|r| overriding.is_none() || !r.can_be_overridden())
            .cloned()
            .collect();
        let (Some(account), true) = (account, blocking.is_empty()) else {
            return Err(AdminError::ApprovalRefused {
                id: id.clone(),
                refusals: blocking,
            });
        };
        let audited = Change {
            reason: approval_reason(id, &change.reason, &refused, overriding)?,
            ..change.clone()
        };
        let mut items = Vec::new();
        let mut entries = Vec::new();
        let email_change: Option<EmailChange> =
            match source.approval_write(&account, &request.new_email, &audited).await? {
                Some(write) => {
                    items.extend(write.items);
                    entries.push(write.entry);
                    Some(write.change)
                }
                None => None,
            };
        // Under the store's spelling of the username, as the address change's entry (a
        // case-insensitive pool answers a request typed in another case).
        let decision = AuditEntry::new(&account.username, AuditAction::ApproveAddressRequest, &audited)?
            .with_emails(None, Some(request.new_email.masked()));
        let decision = match entries.last() {
            // Both entries go into one transaction: the second links to the first.
            Some(previous) => decision.linked_after(previous.hash.as_deref()),
            None => accounts.link(decision).await?,
        };
        items.extend(self.decision_items(accounts, &request, AddressRequestState::Approved, &decision, &audited)?);
        entries.push(decision);
        let committed = self.commit(accounts, &request, items).await;
        if let (Err(error), true) = (&committed, source.changes_before_the_transaction()) {
            return Err(AdminError::PoolChangedNotRecorded {
                username: request.username.clone(),
                cause: error.to_string(),
            });
        }
        committed?;
        accounts.mirror_entries(&entries.iter().collect::<Vec<_>>()).await;
        if let Some(changed) = &email_change {
            // The same notices as `user set-email`: both addresses are told.
            crate::users::queue_address_notices(queue, &request.username, changed, &request.new_email, &audited)
                .await?;
        }
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
        let decision = AuditEntry::new(&request.username, AuditAction::RejectAddressRequest, &audited)?
            .with_emails(None, Some(request.new_email.masked()));
        let decision = accounts.link(decision).await?;
        let items = self.decision_items(accounts, &request, AddressRequestState::Rejected, &decision, &audited)?;
        self.commit(accounts, &request, items).await?;
        accounts.mirror_entries(&[&decision]).await;
        Ok(request)
    }

    /// Pending → `state` (the sparse index drops it), and its audit item `entry`.
    fn decision_items(
        &self,
        accounts: &Accounts,
        request: &AddressRequest,
        state: AddressRequestState,
        entry: &AuditEntry,
        change: &Change,
    ) -> Result<Vec<TransactWriteItem>, AdminError> {
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
        Ok(vec![
            TransactWriteItem::builder().update(update).build(),
            accounts.put_audit(entry)?,
        ])
    }

    /// One transaction; when a condition fails, says which side moved.
    async fn commit(
        &self,
        accounts: &Accounts,
        request: &AddressRequest,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), AdminError> {
        if accounts.transact(items).await? {
            return Ok(());
        }
        let now_state = self.find(&request.request_id).await.map(|r| r.state);
        if matches!(now_state, Ok(AddressRequestState::Pending)) {
            Err(AdminError::ChangedMeanwhile(request.username.clone()))
        } else {
            Err(AdminError::DecidedMeanwhile(request.request_id.clone()))
        }
    }
}
