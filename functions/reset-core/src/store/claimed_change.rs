//! The claimed change: how a password is changed in a credential store that cannot take part
//! in a DynamoDB transaction (a Cognito user pool today; an LDAP directory or another identity
//! provider tomorrow). The store only has to look an account up, set its credential and end its
//! sessions (`CredentialBackend`); what it cannot hold atomically (the credential epoch, the
//! claim of a change in progress) lives in a `ClaimLedger` beside the links (the DynamoDB
//! account-state table, `store/dynamo_claims.rs`).
//!
//! A change cannot be one transaction across the two, so it goes in steps:
//! 1. claim: the link unused and unexpired, the account at the link's epoch and not claimed by
//!    another change, in one ledger transaction;
//! 2. the notice queued, bound to the claim (`MailJob::completing`): from the moment the
//!    password may be set, the queue holds what finishes the change;
//! 3. the backend sets the credential; a refusal gives the claim back (nothing changed, and the
//!    notice mails nothing);
//! 4. the claim marked "credential set": from here the change is reported done whatever fails;
//! 5. the sessions ended and the change finished (the link used, the epoch moved on, the claim
//!    dropped), each retried with backoff.
//!
//! A change left unfinished (step 5 failed, or the function died after step 2) is finished by
//! whoever meets it first: its notice in send-mail (`settle_change`), or the account's next
//! change. Until then readers see its epoch as already moved on (`LedgerState::link_epoch_of`),
//! so older links are dead from step 4. A claim that lapsed without the mark (the function died
//! between steps 2 and 4, or the backend never answered) is finished too: the password may have
//! been set, and ended sessions, dead links and a notice are the safe side of not knowing.

use super::{ChangeNotice, ConsumeError, Settled, StoreError};
use crate::domain::{CredentialEpoch, NewPassword, PendingChange, Timestamp, TokenRecord, Username};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::time::Duration;

/// A claim older than this is a crashed change's: longer than change-password may run (10 s).
pub const CHANGE_CLAIM_LEASE_SECS: i64 = 30;

/// The notice is handed to the sender this long after it is queued: by then the change has
/// nearly always finished, and the notice only confirms it (a change still running makes the
/// sender try again later).
pub const CHANGE_NOTICE_DELAY_SECS: u32 = 2;

/// The waits before the second, third and fourth attempt of ending the sessions and of
/// finishing: a throttled or briefly unreachable service gets 1.3 s, well inside
/// change-password's 10 s.
const FINISH_RETRY_WAITS_MS: [u64; 3] = [50, 250, 1000];

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
    /// Ends every session of the account (its refresh tokens, say). Doing it twice is harmless.
    async fn end_sessions(&self, username: &Username) -> Result<(), StoreError>;
}

/// A change's claim as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldClaim {
    pub id: String,
    /// Epoch ms.
    pub claimed_at: i64,
    /// The hash of the link the change goes through (claims written before it was kept have
    /// none: their link dies with the epoch).
    pub token_hash: Option<String>,
    /// The backend set the credential: the change must finish, and counts as made.
    pub credential_set: bool,
}

impl HeldClaim {
    /// Whether the change must be finished by whoever meets it: it set the credential, or it
    /// lapsed, and may have.
    pub fn must_finish(&self, now: Timestamp) -> bool {
        self.credential_set || self.claimed_at < now.as_millis() - CHANGE_CLAIM_LEASE_SECS * 1000
    }
}

/// What the ledger holds of an account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerState {
    /// The identity the stored epoch belongs to.
    pub identity: Option<String>,
    pub credential_epoch: Option<u64>,
    pub password_changed_at: Option<i64>,
    /// The change in progress or left unfinished, if any.
    pub claim: Option<HeldClaim>,
    /// The claims of the changes finished so far: their notices are mailed.
    pub finished_claims: Vec<String>,
    /// When the account's address last changed (epoch ms), and the fingerprint of the address
    /// that change replaced: the ledger keeps no address (an administrator's change writes them).
    pub email_changed_at: Option<i64>,
    pub previous_email_sha256: Option<String>,
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

    /// The epoch links are minted under and checked against: `epoch_of`, moved on already when
    /// a change set the password and did not finish, as finishing it will (one step).
    pub fn link_epoch_of(&self, identity: &str) -> CredentialEpoch {
        let (epoch, stored) = self.epoch_of(identity);
        let set_unfinished = self.claim.as_ref().is_some_and(|claim| claim.credential_set);
        if stored && set_unfinished {
            epoch.next()
        } else {
            epoch
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
        link_epoch(state.link_epoch_of(&self.identity), &self.identity, &self.revision)
    }
}

/// Where the epochs and the claims live, beside the links.
#[async_trait]
pub trait ClaimLedger: Send + Sync {
    async fn ledger_state(&self, username: &Username) -> Result<LedgerState, StoreError>;
    /// The first step: the link unused and unexpired, the account at `epoch` (stored: the
    /// ledger's; not stored: nobody may have stored one meanwhile) and free of any claim, in
    /// one transaction. `Ok(false)`: refused.
    async fn claim_change(&self, claim: &Claim<'_>, now: Timestamp) -> Result<bool, StoreError>;
    /// The credential is set: the claim is never given back nor taken over, only finished.
    async fn mark_credential_set(&self, key: &Username, claim_id: &str, now: Timestamp) -> Result<(), StoreError>;
    /// The last step: the link used, the epoch moved on, the claim dropped and remembered as
    /// finished, only while the claim is still held. `Ok(false)`: it was not (already finished).
    async fn finish_change(&self, finishing: &Finishing<'_>, now: Timestamp) -> Result<bool, StoreError>;
    /// Gives the claim back after a change that set nothing, so the link works again at once
    /// (best effort: a claim that cannot be given back lapses, and is then finished).
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

/// What finishing a change needs: which claim, and the link to mark used.
pub struct Finishing<'a> {
    pub key: &'a Username,
    pub claim_id: &'a str,
    pub token_hash: Option<&'a str>,
}

/// Changes the password of the link's account through `backend`, claimed in `ledger`, with
/// its notice queued in step 2. `Ok`: the password is set (what is left to finish, the notice
/// finishes).
pub async fn change_claimed(
    ledger: &dyn ClaimLedger,
    backend: &dyn CredentialBackend,
    token: &TokenRecord,
    password: &NewPassword,
    now: Timestamp,
    notice: ChangeNotice<'_>,
) -> Result<(), ConsumeError> {
    let Some(account) = backend.look_up(&token.username).await?.filter(|a| a.enabled) else {
        return Err(ConsumeError::TokenNoLongerValid);
    };
    let mut state = ledger.ledger_state(&account.key).await?;
    if let Some(held) = state.claim.as_ref().filter(|held| held.must_finish(now)) {
        // An earlier change set the password (or may have) and did not finish: it is finished
        // first, as it would have been, which moves the epoch on past this link's if the link
        // is older.
        finish(ledger, backend, &account.key, held, now).await?;
        state = ledger.ledger_state(&account.key).await?;
    }
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
    let bound = notice.job.clone().completing(PendingChange {
        account: account.key.clone(),
        claim: id.clone(),
    });
    if let Err(error) = notice.queue.enqueue_after(&bound, CHANGE_NOTICE_DELAY_SECS).await {
        ledger.release_claim(&account.key, &id).await;
        return Err(StoreError::Unavailable(format!("the change's notice could not be queued: {error}")).into());
    }
    if let Err(error) = backend.set_credential(&account.key, password).await {
        ledger.release_claim(&account.key, &id).await;
        return Err(error.into());
    }
    // The password is set: whatever fails from here, the change is reported done.
    if let Err(error) = ledger.mark_credential_set(&account.key, &id, now).await {
        tracing::warn!(error = %error, username = %account.key, "the set password could not be marked; the claim lapses into being finished");
    }
    let finishing = Finishing {
        key: &account.key,
        claim_id: &id,
        token_hash: Some(token.token_hash.as_str()),
    };
    let finished = async {
        retried(|| backend.end_sessions(&account.key)).await?;
        retried(|| ledger.finish_change(&finishing, now)).await
    };
    if let Err(error) = finished.await {
        tracing::error!(
            error = %error,
            username = %account.key,
            "the password is set but the change could not be finished; its notice finishes it"
        );
    }
    Ok(())
}

/// What became of the change `change` names, finishing it if it set the password (or may have)
/// and did not finish: what a notice bound to it asks before it is mailed.
pub async fn settle_change(
    ledger: &dyn ClaimLedger,
    backend: &dyn CredentialBackend,
    change: &PendingChange,
    now: Timestamp,
) -> Result<Settled, StoreError> {
    let state = ledger.ledger_state(&change.account).await?;
    match &state.claim {
        Some(held) if held.id == change.claim => {
            if !held.must_finish(now) {
                return Ok(Settled::InProgress);
            }
            finish(ledger, backend, &change.account, held, now).await?;
            Ok(Settled::Made)
        }
        _ if state.finished_claims.contains(&change.claim) => Ok(Settled::Made),
        _ => Ok(Settled::NotMade),
    }
}

/// Ends the sessions and finishes the change of `held`: both idempotent, so any number of
/// finishers may meet (a claim already finished by another is left as it is).
async fn finish(
    ledger: &dyn ClaimLedger,
    backend: &dyn CredentialBackend,
    key: &Username,
    held: &HeldClaim,
    now: Timestamp,
) -> Result<(), StoreError> {
    backend.end_sessions(key).await?;
    let finishing = Finishing {
        key,
        claim_id: &held.id,
        token_hash: held.token_hash.as_deref(),
    };
    ledger.finish_change(&finishing, now).await?;
    Ok(())
}

/// `step`, tried again after each of `FINISH_RETRY_WAITS_MS` while it fails.
async fn retried<T, F, Fut>(mut step: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut waits = FINISH_RETRY_WAITS_MS.iter();
    loop {
        match step().await {
            Ok(value) => return Ok(value),
            Err(error) => match waits.next() {
                Some(wait) => {
                    tracing::warn!(error = %error, "a step of a set password's change failed; trying again");
                    tokio::time::sleep(Duration::from_millis(*wait)).await;
                }
                None => return Err(error),
            },
        }
    }
}

fn random_claim_id() -> Result<String, StoreError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Unavailable(format!("no randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Email, Language, MailJob, QueuedMail, ResetToken};
    use crate::mail::RecordingQueue;
    use std::sync::atomic::{AtomicU32, Ordering};
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
            ..LedgerState::default()
        };
        assert_eq!(state.epoch_of("old-sub"), (CredentialEpoch::from_value(41), true));
        assert_eq!(state.epoch_of("new-sub"), (initial_epoch("new-sub"), false));
        assert_eq!(LedgerState::default().epoch_of("any"), (initial_epoch("any"), false));
    }

    const REVISION: &str = "2026-12-06T05:00:00Z|enabled|CONFIRMED";
    const SUB: &str = "sub-1";
    /// Fails every time it is asked.
    const ALWAYS: u32 = u32::MAX;

    /// How a step of the backend or the ledger behaves.
    #[derive(Default)]
    struct Fault {
        /// Fails this many more times (`ALWAYS`: for good).
        failures: AtomicU32,
        /// Never answers (the function dies here: the test drops the change's future).
        hangs: bool,
    }

    impl Fault {
        fn failing(times: u32) -> Self {
            Self {
                failures: AtomicU32::new(times),
                hangs: false,
            }
        }

        fn hanging() -> Self {
            Self {
                failures: AtomicU32::new(0),
                hangs: true,
            }
        }

        async fn apply(&self) -> Result<(), StoreError> {
            if self.hangs {
                std::future::pending::<()>().await;
            }
            let failed = self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| match left {
                    0 => None,
                    ALWAYS => Some(ALWAYS),
                    left => Some(left - 1),
                })
                .is_ok();
            if failed {
                return Err(StoreError::Unavailable("injected".into()));
            }
            Ok(())
        }
    }

    /// A backend and a ledger in one, keeping the ledger's item and the link as DynamoDB
    /// would (conditions included), and recording the protocol's steps with the keys used.
    #[derive(Default)]
    struct Rig {
        disabled: bool,
        /// The backend's revision of the account (`REVISION` unless a test moves it).
        revision: Option<&'static str>,
        set: Fault,
        sign_out: Fault,
        mark: Fault,
        finish: Fault,
        state: Mutex<LedgerState>,
        /// Links marked used.
        used: Mutex<Vec<String>>,
        steps: Mutex<Vec<String>>,
        queue: RecordingQueue,
    }

    impl Rig {
        fn step(&self, step: &str, key: &Username) {
            self.steps
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(format!("{step} {key}"));
        }

        fn steps(&self) -> Vec<String> {
            self.steps.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }

        fn state(&self) -> LedgerState {
            self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
        }

        fn account(&self) -> BackendAccount {
            BackendAccount {
                identity: SUB.into(),
                key: canonical(),
                revision: self.revision.unwrap_or(REVISION).into(),
                enabled: !self.disabled,
            }
        }

        /// The epoch a link minted now gets.
        fn minted(&self) -> CredentialEpoch {
            self.account().link_epoch(&self.state())
        }

        /// The change the one notice queued so far is bound to.
        fn bound_change(&self) -> PendingChange {
            let jobs = self.queue.jobs();
            assert_eq!(jobs.len(), 1, "one notice queued");
            match &jobs[0].mail {
                QueuedMail::PasswordChanged {
                    completes: Some(change),
                    ..
                } => change.clone(),
                other => panic!("not a bound notice: {other:?}"),
            }
        }
    }

    /// The backend's spelling of every username it is asked for (a case-insensitive pool).
    fn canonical() -> Username {
        Username::parse("ex000000").unwrap_or_else(|e| panic!("{e}"))
    }

    #[async_trait]
    impl CredentialBackend for Rig {
        async fn look_up(&self, _: &Username) -> Result<Option<BackendAccount>, StoreError> {
            Ok(Some(self.account()))
        }
        async fn set_credential(&self, key: &Username, _: &NewPassword) -> Result<(), StoreError> {
            self.step("set", key);
            self.set.apply().await
        }
        async fn end_sessions(&self, key: &Username) -> Result<(), StoreError> {
            self.step("sign_out", key);
            self.sign_out.apply().await
        }
    }

    #[async_trait]
    impl ClaimLedger for Rig {
        async fn ledger_state(&self, key: &Username) -> Result<LedgerState, StoreError> {
            self.step("read", key);
            Ok(self.state())
        }
        async fn claim_change(&self, claim: &Claim<'_>, now: Timestamp) -> Result<bool, StoreError> {
            self.step("claim", claim.key);
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let used = self
                .used
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&claim.token.token_hash.as_str().to_owned());
            let free = if claim.stored {
                state.identity.as_deref() == Some(claim.identity)
                    && state.credential_epoch == Some(claim.epoch.value())
                    && state.claim.is_none()
            } else {
                state.identity.as_deref() != Some(claim.identity)
            };
            if used || !free {
                return Ok(false);
            }
            state.identity = Some(claim.identity.to_owned());
            state.credential_epoch = Some(claim.epoch.value());
            state.claim = Some(HeldClaim {
                id: claim.id.to_owned(),
                claimed_at: now.as_millis(),
                token_hash: Some(claim.token.token_hash.as_str().to_owned()),
                credential_set: false,
            });
            Ok(true)
        }
        async fn mark_credential_set(&self, key: &Username, claim_id: &str, _: Timestamp) -> Result<(), StoreError> {
            self.step("mark", key);
            self.mark.apply().await?;
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            match state.claim.as_mut() {
                Some(claim) if claim.id == claim_id => claim.credential_set = true,
                _ => return Err(StoreError::Unavailable("condition failed".into())),
            }
            Ok(())
        }
        async fn finish_change(&self, finishing: &Finishing<'_>, now: Timestamp) -> Result<bool, StoreError> {
            self.step("finish", finishing.key);
            self.finish.apply().await?;
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.claim.as_ref().map(|claim| claim.id.as_str()) != Some(finishing.claim_id) {
                return Ok(false);
            }
            state.claim = None;
            state.credential_epoch = state.credential_epoch.map(|epoch| epoch + 1);
            state.password_changed_at = Some(now.as_millis());
            state.finished_claims.push(finishing.claim_id.to_owned());
            if let Some(hash) = finishing.token_hash {
                self.used
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(hash.to_owned());
            }
            Ok(true)
        }
        async fn release_claim(&self, key: &Username, claim_id: &str) {
            self.step("release", key);
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if state
                .claim
                .as_ref()
                .is_some_and(|claim| claim.id == claim_id && !claim.credential_set)
            {
                state.claim = None;
            }
        }
    }

    fn now() -> Timestamp {
        Timestamp::from_millis(1_795_608_000_000)
    }

    async fn change_as(rig: &Rig, typed: &str, epoch: CredentialEpoch) -> Result<(), ConsumeError> {
        let username = Username::parse(typed).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let token = ResetToken::generate().map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let record = TokenRecord::new(&token, username.clone(), epoch, now(), 3600);
        let password = NewPassword::parse("Kanagawa2026x", "Kanagawa2026x", &username)
            .map_err(|e| StoreError::Corrupt(format!("{e:?}")))?;
        let email = Email::parse("ex000000@example.jp").map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let job = MailJob::password_changed(username, email, Language::Ja, now())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let notice = ChangeNotice {
            job: &job,
            queue: &rig.queue,
        };
        change_claimed(rig, rig, &record, &password, now(), notice).await
    }

    async fn change(rig: &Rig) -> Result<(), ConsumeError> {
        change_as(rig, "ex000000", rig.minted()).await
    }

    /// The change, with the function dying where a step hangs: the future is dropped.
    async fn change_dying(rig: &Rig) {
        let dies = tokio::time::timeout(Duration::from_secs(5), change(rig)).await;
        assert!(dies.is_err(), "the change was to die at a hanging step");
    }

    fn steps(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| format!("{name} ex000000")).collect()
    }

    const WHOLE_CHANGE: [&str; 7] = ["read", "claim", "set", "mark", "sign_out", "finish", "read"];

    #[tokio::test]
    async fn a_granted_claim_queues_the_bound_notice_then_sets_marks_signs_out_and_finishes() {
        let rig = Rig::default();
        assert!(change(&rig).await.is_ok());
        assert_eq!(rig.steps(), steps(&WHOLE_CHANGE[..6]));
        let change = rig.bound_change();
        assert_eq!(change.account, canonical());
        assert_eq!(rig.queue.delays(), vec![CHANGE_NOTICE_DELAY_SECS]);
        let state = rig.state();
        assert!(state.claim.is_none() && state.finished_claims == vec![change.claim.clone()]);
        assert_eq!(
            settle_change(&rig, &rig, &change, now()).await.ok(),
            Some(Settled::Made),
            "its notice is mailed, and finishes nothing more"
        );
        assert_eq!(rig.steps(), steps(&WHOLE_CHANGE));
    }

    #[tokio::test]
    async fn another_spelling_of_the_username_reaches_the_same_state() {
        let rig = Rig::default();
        assert!(change_as(&rig, "EX000000", rig.minted()).await.is_ok());
        assert_eq!(
            rig.steps(),
            steps(&WHOLE_CHANGE[..6]),
            "every step keyed by the backend's spelling, not the typed one"
        );
    }

    #[test]
    fn a_change_in_the_backend_or_the_ledger_gives_links_another_epoch() {
        let before = link_epoch(initial_epoch(SUB), SUB, REVISION);
        assert_ne!(
            before,
            link_epoch(initial_epoch(SUB), SUB, "2026-12-06T05:01:00Z|enabled|CONFIRMED")
        );
        assert_ne!(before, link_epoch(initial_epoch(SUB).next(), SUB, REVISION));
        assert_ne!(before, link_epoch(initial_epoch("sub-2"), "sub-2", REVISION));
        assert!(before.value() < INITIAL_EPOCH_LIMIT);
    }

    /// After a change that set the password: the claim is finished (or must be), the older
    /// link is dead to readers already, and the notice's settling reports the change made.
    async fn assert_set_and_settled(rig: &Rig, older_link: CredentialEpoch) {
        assert_ne!(rig.minted(), older_link, "readers see the epoch moved on at once");
        let change = rig.bound_change();
        assert_eq!(settle_change(rig, rig, &change, now()).await.ok(), Some(Settled::Made));
        let state = rig.state();
        assert!(state.claim.is_none(), "finished: {state:?}");
        assert!(state.finished_claims.contains(&change.claim));
        assert_ne!(rig.minted(), older_link);
        assert!(
            matches!(
                change_as(rig, "ex000000", older_link).await,
                Err(ConsumeError::TokenNoLongerValid)
            ),
            "the older link stays dead once finished"
        );
    }

    #[tokio::test]
    async fn a_sign_out_that_keeps_failing_still_reports_the_change_and_its_notice_finishes_it() {
        let rig = Rig {
            sign_out: Fault::failing(ALWAYS),
            ..Rig::default()
        };
        let older_link = rig.minted();
        assert!(change(&rig).await.is_ok(), "the password is set: the change is done");
        let state = rig.state();
        assert!(
            state.claim.as_ref().is_some_and(|claim| claim.credential_set),
            "{state:?}"
        );
        assert_eq!(
            rig.steps(),
            steps(&["read", "claim", "set", "mark", "sign_out", "sign_out", "sign_out", "sign_out"]),
            "sign-out tried four times, nothing given back"
        );
        rig.sign_out.failures.store(0, Ordering::SeqCst);
        assert_set_and_settled(&rig, older_link).await;
    }

    #[tokio::test]
    async fn a_finish_that_keeps_failing_still_reports_the_change_and_its_notice_finishes_it() {
        let rig = Rig {
            finish: Fault::failing(ALWAYS),
            ..Rig::default()
        };
        let older_link = rig.minted();
        assert!(change(&rig).await.is_ok());
        assert_eq!(
            rig.steps(),
            steps(&["read", "claim", "set", "mark", "sign_out", "finish", "finish", "finish", "finish"])
        );
        rig.finish.failures.store(0, Ordering::SeqCst);
        assert_set_and_settled(&rig, older_link).await;
    }

    #[tokio::test]
    async fn a_brief_failure_of_sign_out_or_finish_is_retried_within_the_request() {
        let rig = Rig {
            sign_out: Fault::failing(2),
            finish: Fault::failing(1),
            ..Rig::default()
        };
        assert!(change(&rig).await.is_ok());
        assert!(rig.state().claim.is_none(), "finished within the request");
        assert_eq!(
            rig.steps(),
            steps(&["read", "claim", "set", "mark", "sign_out", "sign_out", "sign_out", "finish", "finish"])
        );
    }

    #[tokio::test]
    async fn a_function_that_dies_after_the_set_leaves_a_change_its_notice_finishes() {
        let rig = Rig {
            sign_out: Fault::hanging(),
            ..Rig::default()
        };
        let older_link = rig.minted();
        change_dying(&rig).await;
        let rig = Rig {
            sign_out: Fault::default(),
            ..rig
        };
        assert_set_and_settled(&rig, older_link).await;
    }

    #[tokio::test]
    async fn a_function_that_dies_before_the_set_answers_is_waited_for_then_finished() {
        let rig = Rig {
            set: Fault::hanging(),
            ..Rig::default()
        };
        let older_link = rig.minted();
        change_dying(&rig).await;
        let change = rig.bound_change();
        assert_eq!(
            settle_change(&rig, &rig, &change, now()).await.ok(),
            Some(Settled::InProgress),
            "within its lease the change may still be running"
        );
        let lapsed = now().plus_secs(CHANGE_CLAIM_LEASE_SECS + 1);
        assert_eq!(
            settle_change(&rig, &rig, &change, lapsed).await.ok(),
            Some(Settled::Made),
            "a lapsed claim may have set the password: it is finished as a change"
        );
        assert!(rig.state().claim.is_none());
        assert_ne!(rig.minted(), older_link);
    }

    #[tokio::test]
    async fn the_next_change_finishes_an_unfinished_one_first() {
        let rig = Rig {
            finish: Fault::failing(ALWAYS),
            ..Rig::default()
        };
        assert!(change(&rig).await.is_ok());
        let first = rig.bound_change();
        rig.finish.failures.store(0, Ordering::SeqCst);
        rig.queue.drain();
        // A link mailed meanwhile is minted at the moved epoch, and works.
        assert!(change(&rig).await.is_ok());
        let state = rig.state();
        assert!(state.finished_claims.contains(&first.claim), "{state:?}");
        assert_eq!(state.finished_claims.len(), 2);
        assert_eq!(rig.bound_change().account, canonical());
    }

    #[tokio::test]
    async fn a_refused_set_gives_the_claim_back_and_its_notice_mails_nothing() {
        let rig = Rig {
            set: Fault::failing(ALWAYS),
            ..Rig::default()
        };
        let link = rig.minted();
        assert!(matches!(
            change(&rig).await,
            Err(ConsumeError::Store(StoreError::Unavailable(_)))
        ));
        assert_eq!(rig.steps(), steps(&["read", "claim", "set", "release"]));
        assert_eq!(rig.minted(), link, "nothing changed: the link still works");
        let change = rig.bound_change();
        assert_eq!(
            settle_change(&rig, &rig, &change, now()).await.ok(),
            Some(Settled::NotMade)
        );
    }

    #[tokio::test]
    async fn a_notice_that_cannot_be_queued_changes_nothing() {
        let rig = Rig::default();
        rig.queue.set_down(true);
        assert!(matches!(
            change(&rig).await,
            Err(ConsumeError::Store(StoreError::Unavailable(_)))
        ));
        assert_eq!(rig.steps(), steps(&["read", "claim", "release"]), "no password set");
        assert!(rig.state().claim.is_none());
    }

    #[tokio::test]
    async fn a_refused_claim_a_moved_epoch_a_moved_revision_or_a_disabled_account_changes_nothing() {
        // A claim is always written with the account's epoch and identity.
        let held = Rig::default();
        *held.state.lock().unwrap_or_else(|e| e.into_inner()) = LedgerState {
            identity: Some(SUB.into()),
            credential_epoch: Some(initial_epoch(SUB).value()),
            claim: Some(HeldClaim {
                id: "another".into(),
                claimed_at: now().as_millis(),
                token_hash: None,
                credential_set: false,
            }),
            ..LedgerState::default()
        };
        let minted = held.minted();
        assert!(matches!(
            change_as(&held, "ex000000", minted).await,
            Err(ConsumeError::TokenNoLongerValid)
        ));
        assert_eq!(held.steps(), steps(&["read", "claim"]), "a live claim is another's");
        let moved = Rig::default();
        assert!(matches!(
            change_as(&moved, "ex000000", moved.minted().next()).await,
            Err(ConsumeError::TokenNoLongerValid)
        ));
        let edited_in_the_backend = Rig {
            revision: Some("2026-12-06T06:00:00Z|enabled|CONFIRMED"),
            ..Rig::default()
        };
        let before_the_edit = Rig::default().minted();
        assert!(matches!(
            change_as(&edited_in_the_backend, "ex000000", before_the_edit).await,
            Err(ConsumeError::TokenNoLongerValid)
        ));
        let disabled = Rig {
            disabled: true,
            ..Rig::default()
        };
        assert!(matches!(change(&disabled).await, Err(ConsumeError::TokenNoLongerValid)));
        assert_eq!(moved.steps(), steps(&["read"]));
        assert_eq!(edited_in_the_backend.steps(), steps(&["read"]));
        assert!(disabled.steps().is_empty());
        assert!(moved.queue.jobs().is_empty() && disabled.queue.jobs().is_empty());
    }
}
