//! The notice to the registered address that a verified request asks to replace it; what it
//! found is recorded on the request.

use super::delivery::{Delivery, DeliveryError, MailSender, SkipReason};
use crate::domain::{AccountSnapshot, AddressRequestId, NoticeOutcome, Timestamp, Username};
use crate::mail::address_compose::address_change_requested_mail;
use crate::mail::compose::MailContext;

/// To the registered address, looked up here. What the notice found is recorded on the request:
/// the account's credential epoch and address (an approval must find them unchanged) and the
/// time it was sent (the objection window runs from it).
pub(super) async fn send_notice_to_registered_address(
    sender: &MailSender,
    ctx: &MailContext<'_>,
    notice: RegisteredAddressNotice<'_>,
    now: Timestamp,
) -> Result<Delivery, DeliveryError> {
    // Read here, not on the request path, so that the request's work and timing are the same
    // for every username.
    let Some(user) = sender.accounts.find_account(notice.username).await? else {
        record_notice(sender, notice.request_id, &NoticeOutcome::Failed).await;
        return Ok(Delivery::Skipped(SkipReason::UnknownAccount));
    };
    let mail = address_change_requested_mail(ctx, (&user).into(), notice.requested_at);
    let message_id = sender.mailer.send(&mail).await?;
    let sent = NoticeOutcome::Sent {
        at: now,
        account: AccountSnapshot::of(user.credential_epoch, user.email.as_str()),
    };
    record_notice(sender, notice.request_id, &sent).await;
    Ok(Delivery::Sent { message_id })
}

/// The notice job's fields.
pub(super) struct RegisteredAddressNotice<'a> {
    pub username: &'a Username,
    pub request_id: &'a AddressRequestId,
    pub requested_at: Timestamp,
}

/// Best effort: once SES has the mail, failing the job would send it twice. A request whose
/// notice stays `queued` shows as expired after its `send_before`, and cannot be approved.
pub(super) async fn record_notice(sender: &MailSender, id: &AddressRequestId, outcome: &NoticeOutcome) {
    if let Err(error) = sender.address_requests.record_notice(id, outcome).await {
        tracing::warn!(error = %error, request_id = %id, fate = outcome.fate().code(), "the notice's fate could not be recorded");
    }
}
