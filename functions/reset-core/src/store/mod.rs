//! The persistence ports, one trait per capability: accounts, reset links, rate counters, the
//! mail ledger that keeps the sender idempotent, and what the mail-events function records.
//! Their adapters: the DynamoDB tables (every port), a Cognito user pool (accounts only), and
//! in-memory fakes for unit tests.

mod address_requests;
mod address_requests_memory;
mod claimed_change;
mod cognito;
mod dynamo;
mod dynamo_claims;
mod dynamo_mail_events;
pub mod item;
mod memory;

pub use address_requests::{
    address_attributes, AddressRequestStore, DynamoAddressRequests, PendingRequest, PENDING_INDEX,
};
pub use address_requests_memory::MemoryAddressRequests;

pub use claimed_change::{
    change_claimed, initial_epoch, settle_change, BackendAccount, Claim, ClaimLedger, CredentialBackend, Finishing,
    HeldClaim, LedgerState, CHANGE_CLAIM_LEASE_SECS, CHANGE_NOTICE_DELAY_SECS,
};
pub use cognito::{CognitoAccounts, PoolUser};
pub use dynamo::{attributes, indexes, DynamoStore, TableNames, MAIL_PROBLEM_FLAG_SET};
pub use dynamo_claims::state_attributes;
pub use memory::{MailProblem, MailState, MemoryStore};

use crate::domain::token::RandomnessUnavailable;
use crate::domain::{
    CredentialEpoch, JobId, MailJob, NewPassword, PendingChange, Timestamp, TokenHash, TokenRecord, User, Username,
};
use crate::mail::MailQueue;
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

/// What SES reported about a sent mail (event publishing through the configuration set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailEventKind {
    Delivery,
    Bounce,
    Complaint,
    Reject,
}

impl MailEventKind {
    /// The value stored in `last_mail_event` / `mail_problem`.
    pub fn code(self) -> &'static str {
        match self {
            MailEventKind::Delivery => "delivery",
            MailEventKind::Bounce => "bounce",
            MailEventKind::Complaint => "complaint",
            MailEventKind::Reject => "reject",
        }
    }

    /// A problem means the mail did not reach the person (or they reported it as spam): the
    /// account shows up in `reset-admin mail-problems` until a later mail is delivered or an
    /// administrator changes the address.
    pub fn is_problem(self) -> bool {
        !matches!(self, MailEventKind::Delivery)
    }
}

/// One SES event about one sent mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailEvent {
    /// SES's message id, as `SendEmail` returned it.
    pub message_id: String,
    pub kind: MailEventKind,
    /// When SES observed it (bounce, complaint or delivery time).
    pub occurred_at: Timestamp,
    /// A short, address-free description, e.g. `Permanent/General 5.1.1` or `abuse`.
    pub detail: Option<String>,
}

/// What became of a mail event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailEventRecord {
    /// Recorded on the account.
    Recorded(Username),
    /// About the account, but a newer state stands (the address changed, a newer reset mail
    /// replaced this one meanwhile, or a delivery arrived after this mail's problem).
    Stale(Username),
    /// No account's latest reset mail has this message id.
    Unmatched,
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

    /// Requests one client made for one username: one client cannot spend an account's budget.
    pub fn per_username_and_client(username: &Username, client: &str, window_start_secs: i64) -> Self {
        Self(format!("user-ip#{username}#{client}#{window_start_secs}"))
    }

    /// Reset mails SES accepted for one account.
    pub fn mails_per_username(username: &Username, window_start_secs: i64) -> Self {
        Self(format!("mail#{username}#{window_start_secs}"))
    }

    /// Address-change requests from one client (hour window): beyond the limit, 429.
    pub fn address_requests_per_client(client: &str, window_start_secs: i64) -> Self {
        Self(format!("addr-ip#{client}#{window_start_secs}"))
    }

    /// Reset requests from one IPv6 /48 (hour window), beside the per-client /64 count.
    pub fn per_network(network: &str, window_start_secs: i64) -> Self {
        Self(format!("net#{network}#{window_start_secs}"))
    }

    /// Address-change requests from one IPv6 /48 (hour window).
    pub fn address_requests_per_network(network: &str, window_start_secs: i64) -> Self {
        Self(format!("addr-net#{network}#{window_start_secs}"))
    }

    /// Address-change requests for one username from one client (day window).
    pub fn address_requests_per_username_and_client(username: &Username, client: &str, window_start_secs: i64) -> Self {
        Self(format!("addr-user-ip#{username}#{client}#{window_start_secs}"))
    }

    /// Confirmation mails of address-change requests the whole service sent in one window
    /// (`window_secs` long: an hour or a day).
    pub fn address_confirmations(window_secs: i64, window_start_secs: i64) -> Self {
        Self(format!("addr-confirm#{window_secs}#{window_start_secs}"))
    }

    /// When the next reset mail may go to one account (not a count: see
    /// [`RateCounters::take_mail_turn`]).
    pub fn reset_mail_turn(username: &Username) -> Self {
        Self(format!("mail-turn#{username}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The new password in the form an account store keeps it.
pub enum NewCredential {
    /// An argon2id PHC string made by this service (the DynamoDB users table).
    Argon2idHash(String),
    /// The password itself, for a store that hashes it on its own (a Cognito user pool).
    Plain(NewPassword),
}

/// The password-changed notice of a change, and the queue it goes to.
#[derive(Clone, Copy)]
pub struct ChangeNotice<'a> {
    pub job: &'a MailJob,
    pub queue: &'a dyn MailQueue,
}

/// Who queued the notice of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeHandling {
    /// The change stood whole when the store returned: the caller queues the notice.
    Due,
    /// The store queued it itself, bound to the change, before it set the password: the notice
    /// finishes whatever the change left (a claimed change, `store::claimed_change`).
    Queued,
}

/// What became of a claimed change, as its notice finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// The password was set (or may have been): the change is finished now, if it was not.
    Made,
    /// The change gave its claim back: nothing was changed, and nothing is to be mailed.
    NotMade,
    /// The change is still running: ask again later.
    InProgress,
}

/// Which `NewCredential` an account store takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialForm {
    Argon2idHash,
    Plain,
}

/// The accounts: who may reset at which credential epoch, and the change itself.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// The account without its password hash, which no request path needs (for the users
    /// table, the functions' IAM policies allow reading the other attributes only).
    async fn find_account(&self, username: &Username) -> Result<Option<User>, StoreError>;

    /// The form `change_password` takes the new password in.
    fn credential_form(&self) -> CredentialForm;

    /// Through the link of `token`: sets the new password, ends the account's sessions, marks
    /// the link used and moves the account to its next credential epoch, killing every other
    /// link. Only if the link is unused and unexpired and the account active at the link's
    /// epoch; of concurrent calls for one account at most one changes it. Each store states how
    /// it keeps this (README, "Where passwords live"). `Ok`: the password is set, and the
    /// change is reported done, whatever is left to finish; `notice` is the password-changed
    /// notice, which either the caller or the store queues (`NoticeHandling`).
    async fn change_password(
        &self,
        token: &TokenRecord,
        credential: NewCredential,
        now: Timestamp,
        notice: ChangeNotice<'_>,
    ) -> Result<NoticeHandling, ConsumeError>;

    /// Before a notice bound to a change (`MailJob::completing`) is mailed: finishes the change
    /// if it set the password and did not finish, and says whether it was made.
    async fn settle_change(&self, change: &PendingChange, now: Timestamp) -> Result<Settled, StoreError>;

    /// Remembers the SES message id of the account's latest reset mail, so that a bounce or a
    /// complaint about it can be tied to the account. Does nothing for an unknown account.
    async fn remember_reset_mail(
        &self,
        username: &Username,
        message_id: &str,
        sent_at: Timestamp,
    ) -> Result<(), StoreError>;
}

/// The reset links: only their hashes, with the account and epoch they were minted for.
#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn save_token(&self, token: &TokenRecord) -> Result<(), StoreError>;

    async fn find_token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError>;
}

/// Fixed-window rate counters.
#[async_trait]
pub trait RateCounters: Send + Sync {
    /// Adds one to the counter and returns the new count; the counter expires at
    /// `expires_at_secs`.
    async fn increment_counter(&self, key: &CounterKey, expires_at_secs: i64) -> Result<u32, StoreError>;

    /// The counter's value (0 when it does not exist).
    async fn read_counter(&self, key: &CounterKey) -> Result<u32, StoreError>;

    /// Adds one to the counter only while it is below `limit`, in one conditional write, so
    /// that concurrent callers can never take it past `limit`. False: the limit is reached and
    /// nothing was counted.
    async fn reserve_below(&self, key: &CounterKey, limit: u32, expires_at_secs: i64) -> Result<bool, StoreError>;

    /// Gives back one unit reserved with `reserve_below` whose use failed; never below zero.
    async fn release_reserved(&self, key: &CounterKey) -> Result<(), StoreError>;

    /// Takes the account's turn for a reset mail: true, and the next turn set to `next_at`,
    /// when the current one has come (`now` reached it) or was set at another credential epoch
    /// (a password or address change since: the owner's own doing). One conditional update,
    /// so of concurrent senders one wins.
    async fn take_mail_turn(
        &self,
        key: &CounterKey,
        epoch: CredentialEpoch,
        now: Timestamp,
        next_at: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Hands the turn back after a send failed, if it is still the one taken with `next_at`.
    async fn give_back_mail_turn(&self, key: &CounterKey, next_at: Timestamp, now: Timestamp)
        -> Result<(), StoreError>;
}

/// Whole user items, password hash included: what administrators and tests read and write in
/// the users table. No function reads the hash.
#[async_trait]
pub trait UserDirectory: Send + Sync {
    async fn find_user(&self, username: &Username) -> Result<Option<User>, StoreError>;

    /// Writes a new user; refuses to overwrite an existing one.
    async fn create_user(&self, user: &User) -> Result<(), CreateUserError>;
}

/// What the mail-events function needs: tie an SES event to the account whose latest reset
/// mail it is about, and record it there.
#[async_trait]
pub trait MailEventStore: Send + Sync {
    /// Records `event` on the account whose latest reset mail has `event.message_id`. Safe to
    /// repeat (SNS delivers at least once) and to receive out of order.
    async fn record_mail_event(&self, event: &MailEvent) -> Result<MailEventRecord, StoreError>;
}

/// What a sender learns when it claims a mail job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobClaim {
    /// This sender may send it now.
    Granted,
    /// A sender already finished it (sent, or decided not to send): a redelivery.
    AlreadyDone,
    /// Another sender holds it right now (SQS may deliver one message twice at once).
    HeldElsewhere,
}

/// Who holds a claim on a mail job: random per claim. Only the holder may finish or release the
/// job, so a sender that stalled past its lease cannot end the claim of the sender that took the
/// job over (a release there would let a third sender claim it while the second is sending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimHolder(String);

impl ClaimHolder {
    pub fn generate() -> Result<Self, RandomnessUnavailable> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| RandomnessUnavailable(e.to_string()))?;
        Ok(Self(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a ledger write that ends a claim found the claim still the caller's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimEnd {
    Ended,
    /// Another sender took the job over (the caller's lease ran out), or it is done: nothing
    /// was written.
    NotHolder,
}

/// How a finished job ended, as the ledger keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd<'a> {
    /// SES accepted it, under this message id.
    Sent { message_id: &'a str },
    /// Nothing was sent, on purpose (unknown or disabled account, budget spent).
    Skipped { reason: &'static str },
}

/// The mail ledger: one item per queued mail, so that a job SQS delivers again (it delivers
/// at least once) sends no second mail.
#[async_trait]
pub trait MailLedger: Send + Sync {
    /// Claims `job` for sending, as `holder`. A claim older than `lease_secs` is taken over: its
    /// sender died mid-way. The ledger item lives until `keep_until_secs`, past any redelivery.
    async fn claim_job(
        &self,
        job: &JobId,
        holder: &ClaimHolder,
        now: Timestamp,
        lease_secs: i64,
        keep_until_secs: i64,
    ) -> Result<JobClaim, StoreError>;

    /// Marks a job `holder` claimed finished; redeliveries of it will be `AlreadyDone`.
    async fn finish_job(
        &self,
        job: &JobId,
        holder: &ClaimHolder,
        end: JobEnd<'_>,
        now: Timestamp,
    ) -> Result<ClaimEnd, StoreError>;

    /// Gives a job `holder` claimed back after a failed send, so the retry may claim it at once.
    async fn release_job(&self, job: &JobId, holder: &ClaimHolder) -> Result<ClaimEnd, StoreError>;
}
