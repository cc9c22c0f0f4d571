use super::{
    AccountStore, ChangeNotice, ClaimEnd, ClaimHolder, ConsumeError, CounterKey, CreateUserError, CredentialForm,
    JobClaim, JobEnd, MailEvent, MailEventKind, MailEventRecord, MailEventStore, MailLedger, NewCredential,
    NoticeHandling, RateCounters, Settled, StoreError, TokenStore, UserDirectory,
};
use crate::domain::{CredentialEpoch, JobId, PendingChange, Timestamp, TokenHash, TokenRecord, User, Username};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

/// In-memory stand-in for unit tests of the service; the DynamoDB adapter is tested against
/// DynamoDB Local. Mirrors the adapter's conditions, and can be switched "down" to test the
/// unavailable paths.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    down: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    users: HashMap<Username, User>,
    tokens: HashMap<TokenHash, TokenRecord>,
    counters: HashMap<String, u32>,
    /// Reset-mail turns: when the next may go, and the epoch it was taken at.
    turns: HashMap<String, (Timestamp, CredentialEpoch)>,
    mail: HashMap<Username, MailState>,
    jobs: HashMap<JobId, LedgerEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LedgerEntry {
    Claimed { at: Timestamp, holder: ClaimHolder },
    Released,
    Done,
}

/// The mail-event attributes of one user item, as the DynamoDB adapter keeps them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailState {
    pub reset_mail_message_id: Option<String>,
    pub reset_mail_sent_at: Option<Timestamp>,
    pub last_event: Option<(MailEventKind, Timestamp)>,
    /// Kind, time, message id and detail of the unresolved problem.
    pub problem: Option<MailProblem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailProblem {
    pub kind: MailEventKind,
    pub at: Timestamp,
    pub message_id: String,
    pub detail: Option<String>,
}

impl MemoryStore {
    fn end_claim(&self, job: &JobId, holder: &ClaimHolder, next: LedgerEntry) -> Result<ClaimEnd, StoreError> {
        let mut state = self.state()?;
        match state.jobs.get(job) {
            Some(LedgerEntry::Claimed { holder: current, .. }) if current == holder => {
                state.jobs.insert(job.clone(), next);
                Ok(ClaimEnd::Ended)
            }
            _ => Ok(ClaimEnd::NotHolder),
        }
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("memory store switched off".into()));
        }
        self.state
            .lock()
            .map_err(|_| StoreError::Unavailable("memory store poisoned".into()))
    }

    pub fn counter(&self, key: &CounterKey) -> u32 {
        self.state()
            .ok()
            .and_then(|s| s.counters.get(key.as_str()).copied())
            .unwrap_or(0)
    }

    pub fn token_count(&self) -> usize {
        self.state().map(|s| s.tokens.len()).unwrap_or(0)
    }

    /// The mail-event attributes of `username` (default when none were written).
    pub fn mail_state(&self, username: &Username) -> MailState {
        self.state()
            .ok()
            .and_then(|s| s.mail.get(username).cloned())
            .unwrap_or_default()
    }
}

#[async_trait]
impl UserDirectory for MemoryStore {
    async fn find_user(&self, username: &Username) -> Result<Option<User>, StoreError> {
        Ok(self.state()?.users.get(username).cloned())
    }

    async fn create_user(&self, user: &User) -> Result<(), CreateUserError> {
        let mut state = self.state()?;
        if state.users.contains_key(&user.username) {
            return Err(CreateUserError::AlreadyExists(user.username.clone()));
        }
        state.users.insert(user.username.clone(), user.clone());
        Ok(())
    }
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn find_account(&self, username: &Username) -> Result<Option<User>, StoreError> {
        Ok(self.state()?.users.get(username).cloned().map(|user| User {
            password_hash: None,
            ..user
        }))
    }

    fn credential_form(&self) -> CredentialForm {
        CredentialForm::Argon2idHash
    }

    async fn change_password(
        &self,
        token: &TokenRecord,
        credential: NewCredential,
        now: Timestamp,
        _notice: ChangeNotice<'_>,
    ) -> Result<NoticeHandling, ConsumeError> {
        let NewCredential::Argon2idHash(password_hash) = credential else {
            return Err(StoreError::Corrupt("the memory store keeps argon2id hashes only".into()).into());
        };
        let mut state = self.state()?;
        let token_ok = state
            .tokens
            .get(&token.token_hash)
            .is_some_and(|t| t.used_at.is_none() && t.expires_at > now.as_secs());
        let user_ok = state
            .users
            .get(&token.username)
            .is_some_and(|u| u.can_reset_password() && token.epoch == Some(u.credential_epoch));
        if !(token_ok && user_ok) {
            return Err(ConsumeError::TokenNoLongerValid);
        }
        if let Some(stored) = state.tokens.get_mut(&token.token_hash) {
            stored.used_at = Some(now.as_millis());
        }
        if let Some(user) = state.users.get_mut(&token.username) {
            user.password_hash = Some(password_hash);
            user.password_changed_at = Some(now.as_millis());
            user.credential_epoch = user.credential_epoch.next();
        }
        Ok(NoticeHandling::Due)
    }

    async fn settle_change(&self, _: &PendingChange, _: Timestamp) -> Result<Settled, StoreError> {
        // Its change is one step, like the users table's.
        Ok(Settled::Made)
    }

    async fn remember_reset_mail(
        &self,
        username: &Username,
        message_id: &str,
        sent_at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if !state.users.contains_key(username) {
            return Ok(());
        }
        let mail = state.mail.entry(username.clone()).or_default();
        mail.reset_mail_message_id = Some(message_id.to_owned());
        mail.reset_mail_sent_at = Some(sent_at);
        Ok(())
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn save_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.state()?.tokens.insert(token.token_hash.clone(), token.clone());
        Ok(())
    }

    async fn find_token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.state()?.tokens.get(hash).cloned())
    }
}

#[async_trait]
impl RateCounters for MemoryStore {
    async fn increment_counter(&self, key: &CounterKey, _expires_at_secs: i64) -> Result<u32, StoreError> {
        let mut state = self.state()?;
        let hits = state.counters.entry(key.as_str().to_owned()).or_default();
        *hits += 1;
        Ok(*hits)
    }

    async fn read_counter(&self, key: &CounterKey) -> Result<u32, StoreError> {
        Ok(self.state()?.counters.get(key.as_str()).copied().unwrap_or(0))
    }

    async fn reserve_below(&self, key: &CounterKey, limit: u32, _expires_at_secs: i64) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let hits = state.counters.entry(key.as_str().to_owned()).or_default();
        if *hits >= limit {
            return Ok(false);
        }
        *hits += 1;
        Ok(true)
    }

    async fn release_reserved(&self, key: &CounterKey) -> Result<(), StoreError> {
        if let Some(hits) = self.state()?.counters.get_mut(key.as_str()) {
            *hits = hits.saturating_sub(1);
        }
        Ok(())
    }

    async fn take_mail_turn(
        &self,
        key: &CounterKey,
        epoch: CredentialEpoch,
        now: Timestamp,
        next_at: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let taken = match state.turns.get(key.as_str()) {
            Some((at, turn_epoch)) => *at <= now || *turn_epoch != epoch,
            None => true,
        };
        if taken {
            state.turns.insert(key.as_str().to_owned(), (next_at, epoch));
        }
        Ok(taken)
    }

    async fn give_back_mail_turn(
        &self,
        key: &CounterKey,
        next_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if let Some((at, _)) = state.turns.get_mut(key.as_str()) {
            if *at == next_at {
                *at = now;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl MailLedger for MemoryStore {
    async fn claim_job(
        &self,
        job: &JobId,
        holder: &ClaimHolder,
        now: Timestamp,
        lease_secs: i64,
        _keep_until_secs: i64,
    ) -> Result<JobClaim, StoreError> {
        let mut state = self.state()?;
        let claim = match state.jobs.get(job) {
            None | Some(LedgerEntry::Released) => JobClaim::Granted,
            Some(LedgerEntry::Claimed { at, .. }) if at.plus_secs(lease_secs) < now => JobClaim::Granted,
            Some(LedgerEntry::Claimed { .. }) => JobClaim::HeldElsewhere,
            Some(LedgerEntry::Done) => JobClaim::AlreadyDone,
        };
        if claim == JobClaim::Granted {
            let entry = LedgerEntry::Claimed {
                at: now,
                holder: holder.clone(),
            };
            state.jobs.insert(job.clone(), entry);
        }
        Ok(claim)
    }

    async fn finish_job(
        &self,
        job: &JobId,
        holder: &ClaimHolder,
        _end: JobEnd<'_>,
        _now: Timestamp,
    ) -> Result<ClaimEnd, StoreError> {
        self.end_claim(job, holder, LedgerEntry::Done)
    }

    async fn release_job(&self, job: &JobId, holder: &ClaimHolder) -> Result<ClaimEnd, StoreError> {
        self.end_claim(job, holder, LedgerEntry::Released)
    }
}

#[async_trait]
impl MailEventStore for MemoryStore {
    async fn record_mail_event(&self, event: &MailEvent) -> Result<MailEventRecord, StoreError> {
        let mut state = self.state()?;
        let Some((username, mail)) = state
            .mail
            .iter_mut()
            .find(|(_, m)| m.reset_mail_message_id.as_deref() == Some(event.message_id.as_str()))
        else {
            return Ok(MailEventRecord::Unmatched);
        };
        let username = username.clone();
        if event.kind.is_problem() {
            mail.problem = Some(MailProblem {
                kind: event.kind,
                at: event.occurred_at,
                message_id: event.message_id.clone(),
                detail: event.detail.clone(),
            });
        } else if mail.problem.as_ref().is_some_and(|p| p.message_id == event.message_id) {
            return Ok(MailEventRecord::Stale(username));
        } else {
            mail.problem = None;
        }
        mail.last_event = Some((event.kind, event.occurred_at));
        Ok(MailEventRecord::Recorded(username))
    }
}
