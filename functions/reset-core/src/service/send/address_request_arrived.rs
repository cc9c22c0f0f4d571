//! The administrators' note that a verified address-change request waits in their queue.

use super::delivery::{Delivery, DeliveryError, MailSender, SkipReason};
use crate::domain::{AddressRequestId, Username};
use crate::mail::address_compose::address_request_arrived_mail;
use crate::mail::compose::MailContext;

/// To the administrators' address, if one is configured.
pub(super) async fn send_arrival_note(
    sender: &MailSender,
    ctx: &MailContext<'_>,
    username: &Username,
    request_id: &AddressRequestId,
) -> Result<Delivery, DeliveryError> {
    let Some(to) = &sender.settings.address.notify_address else {
        return Ok(Delivery::Skipped(SkipReason::NoRecipient));
    };
    let mail = address_request_arrived_mail(ctx, to, username, request_id);
    let message_id = sender.mailer.send(&mail).await?;
    Ok(Delivery::Sent { message_id })
}
