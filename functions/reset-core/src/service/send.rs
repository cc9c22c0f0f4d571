//! Delivering one queued mail: the use case behind the `send-mail` function.
//!
//! SQS delivers a message at least once, so every job is claimed in the mail ledger before it
//! is sent and marked done after: a redelivered job sends nothing. A reset link is minted here,
//! at sending time, so the secret exists only in the mail.

use super::{address_send, hour_window};
use crate::config::Settings;
use crate::domain::{Clock, Email, MailJob, QueuedMail, ResetToken, Timestamp, TokenRecord, User, Username};
use crate::mail::compose::{address_changed_mail, password_changed_mail, reset_link_mail, MailContext, Recipient};
use crate::mail::{MailError, Mailer, OutgoingMail};
use crate::store::{
    AccountStore, AddressRequestStore, ClaimEnd, ClaimHolder, CounterKey, JobClaim, JobEnd, MailLedger, RateCounters,
    StoreError, TokenStore,
};
use std::sync::Arc;

/// A claim older than this is taken over: its sender died (the function times out at 30 s).
const CLAIM_LEASE_SECS: i64 = 60;
/// How long the ledger remembers a job: past the queue's one-day retention, so no redelivery
/// outlives its ledger item.
const LEDGER_KEEP_SECS: i64 = 2 * 24 * 3600;

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
        }
    }
}

/// Sends the mail of `job` once, however often the queue delivers it.
pub async fn deliver(sender: &MailSender, job: &MailJob) -> Result<Delivery, DeliveryError> {
    let now = sender.clock.now();
    if job.is_stale_at(now) {
        if let QueuedMail::AddressChangeRequested { request_id, .. } = &job.mail {
            address_send::record_notice(sender, request_id, &crate::domain::NoticeOutcome::Expired).await;
        }
        return Ok(Delivery::Expired);
    }
    let keep_until = now.plus_secs(LEDGER_KEEP_SECS).as_secs();
    let holder = ClaimHolder::generate().map_err(|e| DeliveryError::Randomness(e.to_string()))?;
    match sender
        .ledger
        .claim_job(&job.job_id, &holder, now, CLAIM_LEASE_SECS, keep_until)
        .await?
    {
        JobClaim::Granted => {}
        JobClaim::AlreadyDone => return Ok(Delivery::Duplicate),
        JobClaim::HeldElsewhere => return Err(DeliveryError::HeldElsewhere),
    }
    let result = send_claimed(sender, &job.mail, now).await;
    let end = match &result {
        Ok(Delivery::Sent { message_id }) => Some(JobEnd::Sent { message_id }),
        Ok(Delivery::Skipped(reason)) => Some(JobEnd::Skipped { reason: reason.code() }),
        Ok(Delivery::Refused(reason)) => Some(JobEnd::Skipped { reason: reason.code() }),
        Ok(_) => None,
        Err(_) => None,
    };
    // Once SES has the mail, a ledger failure must not fail the job: a retry would send the
    // mail again. The claim then simply expires.
    let (ended, action) = match end {
        Some(end) => (sender.ledger.finish_job(&job.job_id, &holder, end, now).await, "finish"),
        None => (sender.ledger.release_job(&job.job_id, &holder).await, "release"),
    };
    match ended {
        Ok(ClaimEnd::Ended) => {}
        // This sender outlived its lease and another took the job over: its claim is not ours
        // to end.
        Ok(ClaimEnd::NotHolder) => {
            tracing::warn!(job_id = %job.job_id, action, "the job's claim had passed to another sender")
        }
        Err(error) => {
            tracing::warn!(error = %error, job_id = %job.job_id, action, "the mail ledger could not end the claim")
        }
    }
    result
}

async fn send_claimed(sender: &MailSender, mail: &QueuedMail, now: Timestamp) -> Result<Delivery, DeliveryError> {
    let ctx = MailContext {
        service_name: &sender.settings.service_name,
        service_name_en: sender.settings.service_name_en.as_deref(),
        support_contact: &sender.settings.support_contact,
    };
    match mail {
        QueuedMail::ResetLink { username, .. } => send_reset_link(sender, &ctx, username, now).await,
        QueuedMail::PasswordChanged {
            username,
            to,
            language,
            changed_at,
        } => {
            if let Err(refused) = check_recipient(sender, username, to, *changed_at, false).await? {
                return Ok(refused);
            }
            let recipient = Recipient {
                username,
                email: to,
                language: *language,
            };
            let mail = password_changed_mail(&ctx, recipient, Timestamp::from_millis(*changed_at));
            let message_id = sender.mailer.send(&mail).await?;
            Ok(Delivery::Sent { message_id })
        }
        QueuedMail::AddressChanged {
            username,
            to,
            language,
            changed_at,
            to_old_address,
        } => {
            if let Err(refused) = check_recipient(sender, username, to, *changed_at, *to_old_address).await? {
                return Ok(refused);
            }
            let recipient = Recipient {
                username,
                email: to,
                language: *language,
            };
            let mail = address_changed_mail(&ctx, recipient, Timestamp::from_millis(*changed_at), *to_old_address);
            let message_id = sender.mailer.send(&mail).await?;
            Ok(Delivery::Sent { message_id })
        }
        QueuedMail::AddressVerification { request_id, .. } => {
            address_send::send_verification(sender, &ctx, request_id, now).await
        }
        // The job's institution and masked address are not mailed: requester-typed text in a
        // mail from the service's sender would be a phishing channel. (They stay in the job's
        // shape so that jobs queued before this change still parse.)
        QueuedMail::AddressChangeRequested {
            username,
            request_id,
            requested_at,
            ..
        } => {
            // No typed text in the mail: the owner learns that a change was asked, and when.
            let notice = address_send::RegisteredAddressNotice {
                username,
                request_id,
                requested_at: Timestamp::from_millis(*requested_at),
            };
            address_send::send_notice_to_registered_address(sender, &ctx, notice, now).await
        }
        QueuedMail::AddressRequestArrived { username, request_id } => {
            address_send::send_arrival_note(sender, &ctx, username, request_id).await
        }
    }
}

async fn send_reset_link(
    sender: &MailSender,
    ctx: &MailContext<'_>,
    username: &Username,
    now: Timestamp,
) -> Result<Delivery, DeliveryError> {
    let Some(user) = sender.accounts.find_account(username).await? else {
        return Ok(Delivery::Skipped(SkipReason::UnknownAccount));
    };
    if !user.can_reset_password() {
        return Ok(Delivery::Skipped(SkipReason::AccountDisabled));
    }
    let (window_start, window_end) = hour_window(now);
    let budget = CounterKey::mails_per_username(username, window_start);
    // Reserved before sending, in one conditional write, so that concurrent senders of one
    // account's jobs can never send more than the budget; given back if the mail is not sent.
    let limit = sender.settings.rate_limit_per_username_per_hour;
    if !sender.counters.reserve_below(&budget, limit, window_end).await? {
        return Ok(Delivery::Skipped(SkipReason::BudgetSpent));
    }
    // One mail per turn, a day / N apart: however many ask, the mailbox gets at most N a day,
    // and the link of the last mail is the working link the owner holds meanwhile.
    let turn = CounterKey::reset_mail_turn(username);
    let next_turn = Timestamp::from_millis(now.as_millis() + sender.settings.reset_mail_spacing_ms());
    if !sender
        .counters
        .take_mail_turn(&turn, user.credential_epoch, now, next_turn)
        .await?
    {
        give_back_budget(sender, &budget, &user.username).await;
        return Ok(Delivery::Skipped(SkipReason::NotItsTurn));
    }
    let message_id = match mint_and_send_link(sender, ctx, &user, now).await {
        Ok(message_id) => message_id,
        Err(error) => {
            // No mail went out: neither the turn nor the budget is spent on nothing.
            if let Err(give_back) = sender.counters.give_back_mail_turn(&turn, next_turn, now).await {
                tracing::warn!(error = %give_back, username = %user.username, "the reset mail's turn could not be given back");
            }
            give_back_budget(sender, &budget, &user.username).await;
            return Err(error);
        }
    };
    // Ties a later bounce or complaint to the account (see the mail-events function).
    if !message_id.is_empty() {
        if let Err(error) = sender
            .accounts
            .remember_reset_mail(&user.username, &message_id, now)
            .await
        {
            tracing::warn!(error = %error, username = %user.username, "the reset mail's message id could not be stored");
        }
    }
    Ok(Delivery::Sent { message_id })
}

/// Gives back a budget place reserved for a mail that did not go out (best effort).
async fn give_back_budget(sender: &MailSender, budget: &CounterKey, username: &Username) {
    if let Err(error) = sender.counters.release_reserved(budget).await {
        tracing::warn!(error = %error, username = %username, "the unsent mail's budget could not be given back");
    }
}

/// Mints a link for `user` and mails it; SES's message id.
async fn mint_and_send_link(
    sender: &MailSender,
    ctx: &MailContext<'_>,
    user: &User,
    now: Timestamp,
) -> Result<String, DeliveryError> {
    let token = ResetToken::generate().map_err(|e| DeliveryError::Randomness(e.to_string()))?;
    let record = TokenRecord::new(
        &token,
        user.username.clone(),
        user.credential_epoch,
        now,
        sender.settings.token_ttl_secs(),
    );
    sender.tokens.save_token(&record).await?;
    let link = sender.settings.confirm_url(&token.to_url_safe(), user.language);
    let mail: OutgoingMail = reset_link_mail(ctx, user.into(), &link, record.expires_at());
    Ok(sender.mailer.send(&mail).await?)
}

/// A notice goes only to an address the account has: the registered one, or for the notice
/// to the replaced address, the address the latest change replaced. Anything else was not
/// written by this service's producers.
async fn check_recipient(
    sender: &MailSender,
    username: &Username,
    to: &Email,
    changed_at_ms: i64,
    to_old_address: bool,
) -> Result<Result<(), Delivery>, DeliveryError> {
    let Some(user) = sender.accounts.find_account(username).await? else {
        return Ok(Err(Delivery::Refused(RefusalReason::RecipientNotOnAccount)));
    };
    let expected = if to_old_address {
        user.previous_email.as_ref()
    } else {
        Some(&user.email)
    };
    if expected == Some(to) {
        return Ok(Ok(()));
    }
    // Replaced after this notice was queued (a change later than the one the notice is
    // about): the newer change told both addresses itself.
    let replaced_since = user.email_changed_at.is_some_and(|at| at > changed_at_ms);
    if replaced_since && user.previous_email.as_ref() == Some(to) {
        return Ok(Err(Delivery::Skipped(SkipReason::RecipientReplaced)));
    }
    Ok(Err(Delivery::Refused(RefusalReason::RecipientNotOnAccount)))
}
