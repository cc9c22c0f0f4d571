//! What the two notices share: their job's fields, and the check that a notice goes only to
//! an address the account has.

use super::delivery::{Delivery, DeliveryError, MailSender, RefusalReason, SkipReason};
use crate::domain::{Email, Language, Username};
use crate::mail::compose::Recipient;

/// The fields of a notice job.
pub(super) struct Notice<'a> {
    pub username: &'a Username,
    pub to: &'a Email,
    pub language: Language,
    pub changed_at_ms: i64,
}

impl<'a> Notice<'a> {
    pub(super) fn new(username: &'a Username, to: &'a Email, language: Language, changed_at_ms: i64) -> Self {
        Self {
            username,
            to,
            language,
            changed_at_ms,
        }
    }

    pub(super) fn recipient(&self) -> Recipient<'_> {
        Recipient {
            username: self.username,
            email: self.to,
            language: self.language,
        }
    }
}

/// A notice goes only to an address the account has: the registered one, or for the notice
/// to the replaced address, the address the latest change replaced. Anything else was not
/// written by this service's producers.
pub(super) async fn check_recipient(
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
        user.replaced_address_is(to)
    } else {
        user.email == *to
    };
    if expected {
        return Ok(Ok(()));
    }
    // Replaced after this notice was queued (a change later than the one the notice is
    // about): the newer change told both addresses itself.
    let replaced_since = user.email_changed_at.is_some_and(|at| at > changed_at_ms);
    if replaced_since && user.replaced_address_is(to) {
        return Ok(Err(Delivery::Skipped(SkipReason::RecipientReplaced)));
    }
    Ok(Err(Delivery::Refused(RefusalReason::RecipientNotOnAccount)))
}
