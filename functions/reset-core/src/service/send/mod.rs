//! Delivering one queued mail: the use case behind the `send-mail` function.
//!
//! SQS delivers a message at least once, so every job is claimed in the mail ledger before it
//! is sent and marked done after: a redelivered job sends nothing. A reset link is minted here,
//! at sending time, so the secret exists only in the mail.

mod address_change_requested;
mod address_changed;
mod address_request_arrived;
mod address_verification;
mod delivery;
mod password_changed;
mod recipient;
mod reset_link;

pub use delivery::{Delivery, DeliveryError, MailSender, RefusalReason, SkipReason};

use crate::domain::{MailJob, NoticeOutcome, QueuedMail, Timestamp};
use crate::mail::compose::MailContext;
use crate::store::{ClaimEnd, ClaimHolder, JobClaim, JobEnd, Settled};
use recipient::Notice;

/// A claim older than this is taken over: its sender died (the function times out at 30 s).
const CLAIM_LEASE_SECS: i64 = 60;
/// How long the ledger remembers a job: past the queue's one-day retention, so no redelivery
/// outlives its ledger item.
const LEDGER_KEEP_SECS: i64 = 2 * 24 * 3600;

/// Sends the mail of `job` once, however often the queue delivers it.
pub async fn deliver(sender: &MailSender, job: &MailJob) -> Result<Delivery, DeliveryError> {
    let now = sender.clock.now();
    if job.is_stale_at(now) {
        if let QueuedMail::AddressChangeRequested { request_id, .. } = &job.mail {
            address_change_requested::record_notice(sender, request_id, &NoticeOutcome::Expired).await;
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
        QueuedMail::ResetLink { username, .. } => reset_link::send_reset_link(sender, &ctx, username, now).await,
        QueuedMail::PasswordChanged {
            username,
            to,
            language,
            changed_at,
            completes,
        } => {
            if let Some(change) = completes {
                // A claimed change's notice: it finishes the change first, and mails only for
                // a change that was made.
                match sender.accounts.settle_change(change, now).await? {
                    Settled::Made => {}
                    Settled::NotMade => return Ok(Delivery::Skipped(SkipReason::ChangeNotMade)),
                    Settled::InProgress => return Err(DeliveryError::ChangeInProgress),
                }
            }
            let notice = Notice::new(username, to, *language, *changed_at);
            password_changed::send_password_changed(sender, &ctx, notice).await
        }
        QueuedMail::AddressChanged {
            username,
            to,
            language,
            changed_at,
            to_old_address,
        } => {
            let notice = Notice::new(username, to, *language, *changed_at);
            address_changed::send_address_changed(sender, &ctx, notice, *to_old_address).await
        }
        QueuedMail::AddressVerification { request_id, .. } => {
            address_verification::send_verification(sender, &ctx, request_id, now).await
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
            let notice = address_change_requested::RegisteredAddressNotice {
                username,
                request_id,
                requested_at: Timestamp::from_millis(*requested_at),
            };
            address_change_requested::send_notice_to_registered_address(sender, &ctx, notice, now).await
        }
        QueuedMail::AddressRequestArrived { username, request_id } => {
            address_request_arrived::send_arrival_note(sender, &ctx, username, request_id).await
        }
    }
}
