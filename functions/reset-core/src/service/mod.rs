//! The three use cases of the flow, over the store, mailer and clock ports.

mod change;
mod request;
mod verify;

pub use change::{change_password, PasswordChanged};
pub use request::{request_reset, RequestOutcome};
pub use verify::{verify_link, ValidLink};

#[cfg(test)]
mod tests;
