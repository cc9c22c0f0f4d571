//! What a delivery works with and how it ends: shared by every mail kind's sender.

use crate::config::Settings;
use crate::domain::Clock;
use crate::mail::{MailError, Mailer};
use crate::store::{AccountStore, AddressRequestStore, MailLedger, RateCounters, StoreError, TokenStore};
use std::sync::Arc;

/// What `send-mail` works with.
pub struct MailSender {
    pub settings: Settings,
    pub accounts: Arc<dyn AccountStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub counters: Arc<dyn RateCounters>,
    pub ledger: Arc<dyn MailLedger>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    /// The address-change requests: the verification mail stores its link's hash there.
    pub address_requests: Arc<dyn AddressRequestStore>,
}

/// How a job ended without error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// SES accepted the mail.
    Sent { message_id: String },
    /// A redelivery of a job already done: nothing sent.
    Duplicate,
    /// The job waited past its `send_before`: a link sent now would already be dead.
    Expired,
    /// A reset job that sends nothing, on purpose.
    Skipped(SkipReason),
    /// Not now: the service-wide cap on confirmation mails is reached until `until_secs`
    /// (epoch s). The job goes back to the queue to wait, unmailed, and is not lost.
    Deferred { until_secs: i64 },
    /// A job that no producer of this service writes: dropped, never retried, counted
    /// (`MailJobsRefused`, alarmed).
    Refused(RefusalReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// A notice addressed to neither the account's registered address nor, for a notice about
    /// an address change, the address it replaced: the queue would otherwise mail anyone the
    /// job names.
    RecipientNotOnAccount,
}

impl RefusalReason {
    pub fn code(self) -> &'static str {
        match self {
            RefusalReason::RecipientNotOnAccount => "recipient_not_on_account",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    UnknownAccount,
    AccountDisabled,
    /// The account's hourly mail budget is spent.
    BudgetSpent,
    /// The account was mailed a link less than a day / `RESET_MAILS_PER_USERNAME_PER_DAY` ago,
    /// at its current credential epoch: that mail's link is what the owner holds.
    NotItsTurn,
    /// An address request that expired, was confirmed or decided before its mail went out.
    RequestGone,
    /// No administrators' address is configured (any more) for the arrival note.
    NoRecipient,
    /// A notice whose address was replaced after the notice was queued: the address change
    /// sends its own notices to both addresses.
    RecipientReplaced,
    /// The notice of a claimed change that set no password (it gave its claim back).
    ChangeNotMade,
}

impl SkipReason {
    pub fn code(self) -> &'static str {
        match self {
            SkipReason::UnknownAccount => "unknown_account",
            SkipReason::AccountDisabled => "account_disabled",
            SkipReason::BudgetSpent => "mail_budget_spent",
            SkipReason::NotItsTurn => "reset_mail_not_its_turn",
            SkipReason::RequestGone => "address_request_gone",
            SkipReason::NoRecipient => "no_recipient",
            SkipReason::RecipientReplaced => "recipient_replaced",
            SkipReason::ChangeNotMade => "change_not_made",
        }
    }
}

impl Delivery {
    pub fn code(&self) -> &'static str {
        match self {
            Delivery::Sent { .. } => "sent",
            Delivery::Duplicate => "duplicate",
            Delivery::Expired => "expired",
            Delivery::Skipped(reason) => reason.code(),
            Delivery::Refused(reason) => reason.code(),
            Delivery::Deferred { .. } => "deferred_over_cap",
        }
    }
}

/// Why a job must be tried again later. Every variant is retried through the queue.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("another sender holds this job right now")]
    HeldElsewhere,
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the operating system's random number generator failed: {0}")]
    Randomness(String),
    /// The notice of a claimed change that is still running: it is mailed once the change is
    /// finished (or finishes it once its claim lapses).
    #[error("the change this notice is about is still in progress")]
    ChangeInProgress,
}

impl DeliveryError {
    /// A short code for logs: never an address or a message text.
    pub fn code(&self) -> &'static str {
        match self {
            DeliveryError::HeldElsewhere => "held_elsewhere",
            DeliveryError::Mail(MailError::Unavailable(_)) => "ses_unavailable",
            DeliveryError::Mail(MailError::Throttled(_)) => "ses_throttled",
            DeliveryError::Mail(MailError::Rejected(_)) => "ses_rejected",
            DeliveryError::Store(_) => "store_unavailable",
            DeliveryError::Randomness(_) => "randomness_unavailable",
            DeliveryError::ChangeInProgress => "change_in_progress",
        }
    }
}
