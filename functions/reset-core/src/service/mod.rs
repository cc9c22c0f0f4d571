//! The use cases, over the store, mail queue, mail sender and clock ports: the three steps of
//! the flow, and the delivery of a queued mail.

mod address_change;
mod address_send;
mod change;
mod request;
mod send;
mod verify;

pub use address_change::{
    confirm_verification, oldest_pending_age, open_verification, request_address_change, AddressDesk,
    AddressRequestOutcome,
};
pub use change::{change_password, PasswordChanged};
pub use request::{request_reset, RequestOutcome};
pub use send::{deliver, Delivery, DeliveryError, MailSender, RefusalReason, SkipReason};
pub use verify::{verify_link, ValidLink};

use crate::domain::Timestamp;

/// Rate limits and the mail budget count in fixed one-hour windows.
const WINDOW_SECS: i64 = 3600;

/// The start and end (epoch seconds) of the hour window `now` falls in.
fn hour_window(now: Timestamp) -> (i64, i64) {
    let start = now.as_secs() - now.as_secs().rem_euclid(WINDOW_SECS);
    (start, start + WINDOW_SECS)
}

#[cfg(test)]
mod address_tests;
#[cfg(test)]
mod tests;
