//! The notice that the password was changed.

use super::delivery::{Delivery, DeliveryError, MailSender};
use super::recipient::{check_recipient, Notice};
use crate::domain::Timestamp;
use crate::mail::compose::{password_changed_mail, MailContext};

/// The notice that the password was changed, to the address registered at that moment.
pub(super) async fn send_password_changed(
    sender: &MailSender,
    ctx: &MailContext<'_>,
    notice: Notice<'_>,
) -> Result<Delivery, DeliveryError> {
    if let Err(refused) = check_recipient(sender, notice.username, notice.to, notice.changed_at_ms, false).await? {
        return Ok(refused);
    }
    let mail = password_changed_mail(ctx, notice.recipient(), Timestamp::from_millis(notice.changed_at_ms));
    let message_id = sender.mailer.send(&mail).await?;
    Ok(Delivery::Sent { message_id })
}
