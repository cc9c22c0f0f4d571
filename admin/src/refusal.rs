//! Why an administrator's approval of an address-change request cannot go ahead: its own
//! module, so that `error` (which states refusals) and `address_requests` (which finds them)
//! both import it and neither imports the other.

use crate::times::jst_display;
use std::fmt;

/// Why an approval cannot go ahead now. The first three are about the account and can be
/// overridden with a reason (audited); the others cannot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The account's credential epoch moved on since its registered address was told.
    EpochChanged,
    /// The registered address is not the one that was told.
    AddressChanged,
    /// Nothing of the account was recorded: the notice was never sent.
    AccountNotRecorded,
    /// No account of that username (any more).
    NoAccount,
    /// The notice to the registered address was not sent (its fate).
    NoticeNotSent(&'static str),
    /// The owner may still object until then (epoch ms).
    ObjectionWindowOpen { until: i64 },
}

impl Refusal {
    pub fn can_be_overridden(&self) -> bool {
        matches!(
            self,
            Refusal::EpochChanged | Refusal::AddressChanged | Refusal::AccountNotRecorded
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::EpochChanged => f.write_str(
                "the account changed since its registered address was told (a password change, a disable or enable, or an address change)",
            ),
            Refusal::AddressChanged => f.write_str("the registered address is no longer the one that was told"),
            Refusal::AccountNotRecorded => f.write_str("nothing of the account was recorded (the notice was never sent)"),
            Refusal::NoAccount => f.write_str("the account does not exist"),
            Refusal::NoticeNotSent(fate) => write!(f, "the notice to the registered address was not sent (it is {fate})"),
            Refusal::ObjectionWindowOpen { until } => {
                write!(f, "the owner may object until {} JST", jst_display(*until))
            }
        }
    }
}
