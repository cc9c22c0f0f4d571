//! The notices that an administrator changed the registered address ("if this was not you …"
//! to the old address, one to the new).

use super::delivery::{Delivery, DeliveryError, MailSender};
use super::recipient::{check_recipient, Notice};
use crate::domain::Timestamp;
use crate::mail::compose::{address_changed_mail, MailContext};

/// The notice that an administrator changed the registered address, to the old or the new one.
pub(super) async fn send_address_changed(
    sender: &MailSender,
    ctx: &MailContext<'_>,
    notice: Notice<'_>,
    to_old_address: bool,
) -> Result<Delivery, DeliveryError> {
    if let Err(refused) =
        check_recipient(sender, notice.username, notice.to, notice.changed_at_ms, to_old_address).await?
    {
        return Ok(refused);
    }
    let mail = address_changed_mail(
        ctx,
        notice.recipient(),
        Timestamp::from_millis(notice.changed_at_ms),
        to_old_address,
    );
    let message_id = sender.mailer.send(&mail).await?;
    Ok(Delivery::Sent { message_id })
}
