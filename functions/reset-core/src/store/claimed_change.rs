//! The claimed change: how a password is changed in a credential store that cannot take part
//! in a DynamoDB transaction (a Cognito user pool today; an LDAP directory or another identity
//! provider tomorrow). The store only has to look an account up, set its credential and end its
//! sessions (`CredentialBackend`); what it cannot hold atomically (the credential epoch, the
//! claim of a change in progress) lives in a `ClaimLedger` beside the links (the DynamoDB
//! account-state table, `store/dynamo_claims.rs`).
//!
//! A change cannot be one transaction across the two, so it goes in three steps: claim (the
//! link unused and unexpired, the account at the link's epoch and not claimed by another
//! change, in one ledger transaction), then the backend sets the credential and ends the
//! sessions, then finish (the link used, the epoch moved on, the claim dropped, only while the
//! claim is still ours). A failure in the middle gives the claim back; a crash leaves it to
//! lapse after `CHANGE_CLAIM_LEASE_SECS`, when the same link may be used again and the next
//! attempt completes the change.

use super::{ConsumeError, StoreError};
use crate::domain::{CredentialEpoch, NewPassword, Timestamp, TokenRecord, Username};
use async_trait::async_trait;
use sha2::{Digest, Sha256};

/// A claim older than this is a crashed change's: longer than change-password may run (10 s).
pub const CHANGE_CLAIM_LEASE_SECS: i64 = 30;

/// Epochs derived from an identity stay below this, like random initial epochs.
const INITIAL_EPOCH_LIMIT: u64 = 1 << 62;

/// An account as its credential backend knows it, as far as a change needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendAccount {
    /// The backend's own id of the account (a pool's `sub`): a re-created username has another,
    /// so its epochs start afresh.
    pub identity: String,
    /// The backend's own spelling of the username, which the ledger keys the account's state
    /// by: a case-insensitive pool answers `EX000000` and `ex000000` with one account, and so
    /// with one epoch, one claim and one mail budget.
    pub key: Username,
    /// What the backend reports of the account's last change (a pool: when it last modified the
    /// user, whether it is enabled, its status and address). A change made in the backend
    /// behind this service's back yields another revision, and so kills older links.
    pub revision: String,
    /// Whether the backend lets the account change its password.
    pub enabled: bool,
}

/// What a credential store must do for a claimed change.
#[async_trait]
pub trait CredentialBackend: Send + Sync {
    /// `None`: no such account.
    async fn look_up(&self, username: &Username) -> Result<Option<BackendAccount>, StoreError>;
    /// Sets the new password (the backend hashes it itself).
    async fn set_credential(&self, username: &Username, password: &NewPassword) -> Result<(), StoreError>;
    /// Ends every session of the account (its refresh tokens, say).
    async fn end_sessions(&self, username: &Username) -> Result<(), StoreError>;
}

/// What the ledger holds of an account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerState {
    /// The identity the stored epoch belongs to.
    pub identity: Option<String>,
    pub credential_epoch: Option<u64>,
    pub password_changed_at: Option<i64>,
}

impl LedgerState {
    /// The epoch of the account with `identity`: the stored one while it is this account's,
    /// else the account's first, derived from its identity. `true`: the stored one.
    pub fn epoch_of(&self, identity: &str) -> (CredentialEpoch, bool) {
        match (&self.identity, self.credential_epoch) {
            (Some(owner), Some(epoch)) if owner == identity => (CredentialEpoch::from_value(epoch), true),
            _ => (initial_epoch(identity), false),
        }
    }
}

/// An account's first epoch: a function of its identity (a random UUID a pool gives every new
/// account), so a re-created username never meets its predecessor's links.
pub fn initial_epoch(identity: &str) -> CredentialEpoch {
    let digest = Sha256::digest(format!("credential-epoch\u{0}{identity}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    CredentialEpoch::from_value(u64::from_be_bytes(bytes) % INITIAL_EPOCH_LIMIT)
}

/// The epoch a link is minted under and checked against: the ledger's epoch of the account
/// bound to the backend's revision of it, so that either moving kills the link.
pub fn link_epoch(ledger_epoch: CredentialEpoch, identity: &str, revision: &str) -> CredentialEpoch {
    let digest =
        Sha256::digest(format!("link-epoch\u{0}{}\u{0}{identity}\u{0}{revision}", ledger_epoch.value()).as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    CredentialEpoch::from_value(u64::from_be_bytes(bytes) % INITIAL_EPOCH_LIMIT)
}

impl BackendAccount {
    /// The epoch of this account's links, given what the ledger holds of it.
    pub fn link_epoch(&self, state: &LedgerState) -> CredentialEpoch {
        link_epoch(state.epoch_of(&self.identity).0, &self.identity, &self.revision)
    }
}

/// Where the epochs and the claims live, beside the links.
#[async_trait]
pub trait ClaimLedger: Send + Sync {
    async fn ledger_state(&self, username: &Username) -> Result<LedgerState, StoreError>;
    /// The first step: the link unused and unexpired, the account at `epoch` (stored: the
    /// ledger's; not stored: nobody may have stored one meanwhile) and free of any live claim,
    /// in one transaction. `Ok(false)`: refused.
    async fn claim_change(&self, claim: &Claim<'_>, now: Timestamp) -> Result<bool, StoreError>;
    /// The last step: the link used, the epoch moved on, the claim dropped, only while the
    /// claim is still this change's.
    async fn finish_change(&self, claim: &Claim<'_>, now: Timestamp) -> Result<(), StoreError>;
    /// Gives the claim back after a failed change, so the link works again at once (best
    /// effort: a claim that cannot be given back lapses).
    async fn release_claim(&self, key: &Username, claim_id: &str);
}

/// One change's claim of an account.
pub struct Claim<'a> {
    pub token: &'a TokenRecord,
    /// The ledger's key of the account (the backend's spelling of its username).
    pub key: &'a Username,
    pub identity: &'a str,
    /// The ledger's epoch of the account (not the link's, which binds the revision too).
    pub epoch: CredentialEpoch,
    /// The account's epoch is in the ledger (else it is its first, derived one).
    pub stored: bool,
    pub id: &'a str,
}

/// Changes the password of the link's account through `backend`, claimed in `ledger`.
pub async fn change_claimed(
    ledger: &dyn ClaimLedger,
    backend: &dyn CredentialBackend,
    token: &TokenRecord,
    password: &NewPassword,
    now: Timestamp,
) -> Result<(), ConsumeError> {
    let Some(account) = backend.look_up(&token.username).await?.filter(|a| a.enabled) else {
        return Err(ConsumeError::TokenNoLongerValid);
    };
    let state = ledger.ledger_state(&account.key).await?;
    if token.epoch != Some(account.link_epoch(&state)) {
        return Err(ConsumeError::TokenNoLongerValid);
    }
    let (epoch, stored) = state.epoch_of(&account.identity);
    let id = random_claim_id()?;
    let claim = Claim {
        token,
        key: &account.key,
        identity: &account.identity,
        epoch,
        stored,
        id: &id,
    };
    if !ledger.claim_change(&claim, now).await? {
        return Err(ConsumeError::TokenNoLongerValid);
    }
    let applied = async {
        backend.set_credential(&account.key, password).await?;
        backend.end_sessions(&account.key).await
    };
    if let Err(error) = applied.await {
        ledger.release_claim(&account.key, &id).await;
        return Err(error.into());
    }
    ledger.finish_change(&claim, now).await?;
    Ok(())
}

fn random_claim_id() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Unavailable(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ResetToken, Timestamp};
    use std::sync::Mutex;

    #[test]
    fn initial_epochs_follow_the_identity() {
        let a = initial_epoch("0b7e6c1a-1111-4c1e-9a55-000000000001");
        let b = initial_epoch("0b7e6c1a-1111-4c1e-9a55-000000000002");
        assert_ne!(a, b, "a re-created account (new identity) starts at another epoch");
        assert_eq!(a, initial_epoch("0b7e6c1a-1111-4c1e-9a55-000000000001"));
        assert!(a.value() < INITIAL_EPOCH_LIMIT);
    }

    #[test]
    fn a_stored_epoch_counts_only_for_its_own_account() {
        let state = LedgerState {
            identity: Some("old-sub".into()),
            credential_epoch: Some(41),
            password_changed_at: Some(5),
        };
        assert_eq!(state.epoch_of("old-sub"), (CredentialEpoch::from_value(41), true));
        assert_eq!(state.epoch_of("new-sub"), (initial_epoch("new-sub"), false));
        assert_eq!(LedgerState::default().epoch_of("any"), (initial_epoch("any"), false));
    }

    const REVISION: &str = "2026-12-06T05:00:00Z|enabled|CONFIRMED";

    /// A backend and a ledger in one, recording the protocol's steps and the keys they used.
    #[derive(Default)]
    struct Recorder {
        enabled: bool,
        claim_granted: bool,
        backend_fails: bool,
        /// The backend's revision of the account (`REVISION` unless a test moves it).
        revision: Option<&'static str>,
        steps: Mutex<Vec<String>>,
    }

    impl Recorder {
        fn step(&self, step: &str, key: &Username) {
            self.steps
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{step} {key}"));
        }

        fn steps(&self) -> Vec<String> {
            self.steps.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }
    }

    /// The backend's spelling of every username it is asked for (a case-insensitive pool).
    fn canonical() -> Username {
        Username::parse("ex000000").unwrap_or_else(|e| panic!("{e}"))
    }

    #[async_trait]
    impl CredentialBackend for Recorder {
        async fn look_up(&self, _: &Username) -> Result<Option<BackendAccount>, StoreError> {
            Ok(Some(BackendAccount {
                identity: "sub-1".into(),
                key: canonical(),
                revision: self.revision.unwrap_or(REVISION).into(),
                enabled: self.enabled,
            }))
        }
        async fn set_credential(&self, key: &Username, _: &NewPassword) -> Result<(), StoreError> {
            self.step("set", key);
            if self.backend_fails {
                return Err(StoreError::Unavailable("down".into()));
            }
            Ok(())
        }
        async fn end_sessions(&self, key: &Username) -> Result<(), StoreError> {
            self.step("sign_out", key);
            Ok(())
        }
    }

    #[async_trait]
    impl ClaimLedger for Recorder {
        async fn ledger_state(&self, key: &Username) -> Result<LedgerState, StoreError> {
            self.step("read", key);
            Ok(LedgerState::default())
        }
        async fn claim_change(&self, claim: &Claim<'_>, _: Timestamp) -> Result<bool, StoreError> {
            assert!(!claim.stored && claim.identity == "sub-1" && claim.epoch == initial_epoch("sub-1"));
            self.step("claim", claim.key);
            Ok(self.claim_granted)
        }
        async fn finish_change(&self, claim: &Claim<'_>, _: Timestamp) -> Result<(), StoreError> {
            self.step("finish", claim.key);
            Ok(())
        }
        async fn release_claim(&self, key: &Username, _: &str) {
            self.step("release", key);
        }
    }

    /// The epoch of the links the recorder's account gets while nothing moved.
    fn minted() -> CredentialEpoch {
        link_epoch(initial_epoch("sub-1"), "sub-1", REVISION)
    }

    async fn change_as(recorder: &Recorder, typed: &str, epoch: CredentialEpoch) -> Result<(), ConsumeError> {
        let username = Username::parse(typed).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let token = ResetToken::generate().map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let now = Timestamp::from_millis(1_795_608_000_000);
        let record = TokenRecord::new(&token, username.clone(), epoch, now, 3600);
        let password = NewPassword::parse("Kanagawa2026x", "Kanagawa2026x", &username)
            .map_err(|e| StoreError::Corrupt(format!("{e:?}")))?;
        change_claimed(recorder, recorder, &record, &password, now).await
    }

    async fn change(recorder: &Recorder, epoch: CredentialEpoch) -> Result<(), ConsumeError> {
        change_as(recorder, "ex000000", epoch).await
    }

    fn steps(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| format!("{name} ex000000")).collect()
    }

    #[tokio::test]
    async fn a_granted_claim_sets_signs_out_and_finishes() {
        let recorder = Recorder {
            enabled: true,
            claim_granted: true,
            ..Recorder::default()
        };
        assert!(change(&recorder, minted()).await.is_ok());
        assert_eq!(recorder.steps(), steps(&["read", "claim", "set", "sign_out", "finish"]));
    }

    #[tokio::test]
    async fn another_spelling_of_the_username_reaches_the_same_state() {
        let recorder = Recorder {
            enabled: true,
            claim_granted: true,
            ..Recorder::default()
        };
        assert!(change_as(&recorder, "EX000000", minted()).await.is_ok());
        assert_eq!(
            recorder.steps(),
            steps(&["read", "claim", "set", "sign_out", "finish"]),
            "every step keyed by the backend's spelling, not the typed one"
        );
    }

    #[test]
    fn a_change_in_the_backend_or_the_ledger_gives_links_another_epoch() {
        let before = minted();
        assert_ne!(
            before,
            link_epoch(
                initial_epoch("sub-1"),
                "sub-1",
                "2026-12-06T05:01:00Z|enabled|CONFIRMED"
            )
        );
        assert_ne!(before, link_epoch(initial_epoch("sub-1").next(), "sub-1", REVISION));
        assert_ne!(before, link_epoch(initial_epoch("sub-2"), "sub-2", REVISION));
        assert!(before.value() < INITIAL_EPOCH_LIMIT);
    }

    #[tokio::test]
    async fn a_backend_failure_gives_the_claim_back() {
        let recorder = Recorder {
            enabled: true,
            claim_granted: true,
            backend_fails: true,
            ..Recorder::default()
        };
        assert!(matches!(
            change(&recorder, minted()).await,
            Err(ConsumeError::Store(StoreError::Unavailable(_)))
        ));
        assert_eq!(recorder.steps(), steps(&["read", "claim", "set", "release"]));
    }

    #[tokio::test]
    async fn a_refused_claim_a_moved_epoch_a_moved_revision_or_a_disabled_account_changes_nothing() {
        let refused = Recorder {
            enabled: true,
            ..Recorder::default()
        };
        assert!(matches!(
            change(&refused, minted()).await,
            Err(ConsumeError::TokenNoLongerValid)
        ));
        assert_eq!(refused.steps(), steps(&["read", "claim"]));
        let moved = Recorder {
            enabled: true,
            claim_granted: true,
            ..Recorder::default()
        };
        assert!(matches!(
            change(&moved, minted().next()).await,
            Err(ConsumeError::TokenNoLongerValid)
        ));
        let edited_in_the_backend = Recorder {
            enabled: true,
            claim_granted: true,
            revision: Some("2026-12-06T06:00:00Z|enabled|CONFIRMED"),
            ..Recorder::default()
        };
        assert!(matches!(
            change(&edited_in_the_backend, minted()).await,
            Err(ConsumeError::TokenNoLongerValid)
        ));
        let disabled = Recorder {
            claim_granted: true,
            ..Recorder::default()
        };
        assert!(matches!(
            change(&disabled, minted()).await,
            Err(ConsumeError::TokenNoLongerValid)
        ));
        assert_eq!(moved.steps(), steps(&["read"]));
        assert_eq!(edited_in_the_backend.steps(), steps(&["read"]));
        assert!(disabled.steps().is_empty());
    }
}
