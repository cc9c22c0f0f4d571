//! The credential epoch: a number on each account that every link-killing event moves on.
//!
//! A reset link is minted under the account's epoch of that moment and works only while the
//! account still has that epoch. A password change, an address change, disabling, enabling and
//! re-creating the account each give it a new epoch, atomically with the change, so no sequence
//! of them can revive a link. Clocks cannot do this: disable→enable restores every timestamp
//! check, an administrator's workstation clock may run slow, and a re-created username starts
//! its timestamps afresh. A new account starts at a random epoch, so a re-created username never
//! reuses one of its predecessor's.

use crate::domain::token::RandomnessUnavailable;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CredentialEpoch(u64);

/// New accounts start below this, leaving room for every bump an account will ever see.
const INITIAL_EPOCH_LIMIT: u64 = 1 << 62;

impl CredentialEpoch {
    /// A random starting epoch (62 bits from the OS CSPRNG): a re-created username never meets
    /// one of its predecessor's links.
    pub fn initial() -> Result<Self, RandomnessUnavailable> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|e| RandomnessUnavailable(e.to_string()))?;
        Ok(Self(u64::from_be_bytes(bytes) % INITIAL_EPOCH_LIMIT))
    }

    /// The epoch after a link-killing event.
    pub fn next(self) -> Self {
        Self(self.0.wrapping_add(1))
    }

    pub fn value(self) -> u64 {
        self.0
    }

    pub fn from_value(value: u64) -> Self {
        Self(value)
    }
}

impl fmt::Display for CredentialEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_epochs_are_random_and_leave_room() -> Result<(), RandomnessUnavailable> {
        let (a, b) = (CredentialEpoch::initial()?, CredentialEpoch::initial()?);
        assert_ne!(a, b);
        assert!(a.value() < INITIAL_EPOCH_LIMIT && b.value() < INITIAL_EPOCH_LIMIT);
        assert_eq!(a.next().value(), a.value() + 1);
        Ok(())
    }

    #[test]
    fn serialised_as_a_plain_number() -> Result<(), serde_json::Error> {
        assert_eq!(serde_json::to_string(&CredentialEpoch::from_value(7))?, "7");
        Ok(())
    }
}
