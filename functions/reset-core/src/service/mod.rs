//! The use cases, over the store, mail queue, mail sender and clock ports: the three steps of
//! the flow, and the delivery of a queued mail.

mod address_change;
mod change;
mod ports;
mod request;
mod send;
mod verify;

pub use address_change::{
    address_request_metric_counts, confirm_verification, oldest_pending_age, open_verification, request_address_change,
    AddressDesk, AddressRequestOutcome,
};
pub use change::{change_password, PasswordChanged};
pub use ports::{AddressPorts, ChangePorts, RequestPorts, VerifyPorts};
pub use request::{request_metric_counts, request_reset, RequestOutcome};
pub use send::{deliver, Delivery, DeliveryError, MailSender, RefusalReason, SkipReason};
pub use verify::{verify_link, ValidLink};

use crate::domain::Timestamp;

/// Rate limits and the mail budget count in fixed one-hour windows.
const WINDOW_SECS: i64 = 3600;
/// Daily allowances and caps count in fixed one-day windows (UTC days).
const DAY_SECS: i64 = 24 * 3600;

/// The start and end (epoch seconds) of the hour window `now` falls in.
fn hour_window(now: Timestamp) -> (i64, i64) {
    window(now, WINDOW_SECS)
}

/// The start and end (epoch seconds) of the day window `now` falls in.
fn day_window(now: Timestamp) -> (i64, i64) {
    window(now, DAY_SECS)
}

fn window(now: Timestamp, length_secs: i64) -> (i64, i64) {
    let start = now.as_secs() - now.as_secs().rem_euclid(length_secs);
    (start, start + length_secs)
}

/// Counts the IPv6 /48 of `client`, if it has one, under `key` (of that /48) this hour: the
/// count, or `None` for IPv4 and unknown clients.
async fn count_network(
    counters: &dyn crate::store::RateCounters,
    client: &crate::domain::ClientKey,
    key: impl Fn(&str) -> crate::store::CounterKey,
    window_end: i64,
) -> Result<Option<u32>, crate::store::StoreError> {
    match client.network() {
        Some(network) => counters.increment_counter(&key(network), window_end).await.map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod address_tests;
#[cfg(test)]
mod fixture;
#[cfg(test)]
mod tests;
