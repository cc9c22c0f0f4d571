//! One walk of the public flow for a probe account, as a person's browser and mailbox would see
//! it, step by step:
//!
//! 1. **request**: `POST /api/password-reset/request` for the probe account on the public
//!    endpoint answers 202 (request-reset, its counters, the mail queue).
//! 2. **mail**: the account's reset-mail record (`reset_mail_message_id` on its users-table
//!    item) shows a message id it did not show before the request, within `mail_wait`: the job
//!    went through the queue and send-mail, and SES accepted the mail (the account's address is
//!    SES's mailbox simulator in the cloud, so nobody receives it and the account's reputation is
//!    untouched).
//! 3. **link**: a link the probe mints for the same account (only the hash is stored, as
//!    send-mail stores it) opens (`GET /password-reset/confirm?token=…`, 200 with the confirm
//!    page) and is confirmed (`POST /api/password-reset/verify`, 200 `valid: true`) on the public
//!    endpoint (verify-token). Neither consumes it.
//!
//! A step runs only after the one before it passed; the report says which step failed and why.
//! The same run reads the oldest verified address-change request's age.
//!
//! This module knows nothing of HTTP clients or DynamoDB: the public endpoint is the
//! [`PublicSite`] port, the tables the [`ProbeStore`] port (fakes in the unit tests).

use async_trait::async_trait;
use reset_core::domain::{CredentialEpoch, Timestamp, Username};
use std::time::{Duration, Instant};

/// An answer of the public endpoint: its status and body (a page or JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteAnswer {
    pub status: u16,
    pub body: String,
}

/// Why the public endpoint gave no answer at all.
#[derive(Debug, thiserror::Error)]
#[error("no answer from the public endpoint: {0}")]
pub struct SiteError(pub String);

/// The public endpoint, as a browser reaches it.
#[async_trait]
pub trait PublicSite: Send + Sync {
    async fn get(&self, path_and_query: &str) -> Result<SiteAnswer, SiteError>;
    async fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<SiteAnswer, SiteError>;
}

/// What the probe reads of its account's users-table item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeAccount {
    pub credential_epoch: CredentialEpoch,
    /// The latest reset mail SES accepted for the account (send-mail writes it).
    pub reset_mail_message_id: Option<String>,
}

/// Why the probe's own reads and writes failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeStoreError {
    #[error("the table is unavailable: {0}")]
    Unavailable(String),
    #[error("a stored item is malformed: {0}")]
    Corrupt(String),
    #[error("no randomness for the link: {0}")]
    Randomness(String),
}

/// The probe's own reach into the tables: its account, its account's mail turn, a link for its
/// account, and the administrators' queue.
#[async_trait]
pub trait ProbeStore: Send + Sync {
    /// The probe account's item (`None`: the account does not exist).
    async fn probe_account(&self, username: &Username) -> Result<Option<ProbeAccount>, ProbeStoreError>;

    /// Frees the probe account's reset-mail turn (send-mail mails an account at most once per
    /// turn, hours apart; the probe asks every run). Nothing else of the account's budget.
    async fn free_mail_turn(&self, username: &Username) -> Result<(), ProbeStoreError>;

    /// Mints a link for the probe account at `epoch`, alive `lifetime_secs`, and stores its hash, as send-mail does;
    /// answers the link's token (url-safe), which only the probe holds and never logs.
    async fn mint_link(
        &self,
        username: &Username,
        epoch: CredentialEpoch,
        now: Timestamp,
        lifetime_secs: i64,
    ) -> Result<String, ProbeStoreError>;

    /// Seconds the oldest verified (pending) address-change request has waited; 0 when none.
    async fn oldest_pending_address_request_secs(&self, now: Timestamp) -> Result<u64, ProbeStoreError>;
}

/// The step names, as the log and [`StepOutcome::step`] carry them.
pub const STEPS: [&str; 3] = ["request", "mail", "link"];

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepFailure {
    #[error(transparent)]
    Site(#[from] SiteError),
    #[error(transparent)]
    Store(#[from] ProbeStoreError),
    #[error("{what} answered {got}, expected {expected}")]
    Status {
        what: &'static str,
        expected: u16,
        got: u16,
    },
    #[error("{what} lacks {missing:?}")]
    Content { what: &'static str, missing: &'static str },
    #[error("the probe account {0} does not exist")]
    NoAccount(String),
    #[error("no new reset mail was accepted within {0} s")]
    NoMail(u64),
    #[error("not run: an earlier step failed")]
    NotRun,
}

/// One step's outcome.
#[derive(Debug)]
pub struct StepOutcome {
    pub step: &'static str,
    pub took: Duration,
    pub result: Result<(), StepFailure>,
}

/// One walk's outcome: every step in order, and the queue's age when it could be read.
#[derive(Debug)]
pub struct Report {
    pub username: Username,
    pub steps: Vec<StepOutcome>,
    pub oldest_pending_address_request_secs: Option<u64>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.steps.len() == STEPS.len() && self.steps.iter().all(|s| s.result.is_ok())
    }

    /// The first step that failed.
    pub fn failed_step(&self) -> Option<&StepOutcome> {
        self.steps.iter().find(|s| s.result.is_err())
    }

    pub fn took(&self, step: &str) -> Option<Duration> {
        self.steps
            .iter()
            .find(|s| s.step == step && s.result.is_ok())
            .map(|s| s.took)
    }
}

/// How the walk paces itself.
#[derive(Debug, Clone)]
pub struct Pacing {
    /// How long the mail step waits for SES to accept the mail.
    pub mail_wait: Duration,
    /// How often it looks meanwhile.
    pub mail_poll: Duration,
    /// The link's lifetime (the service's `TOKEN_TTL_MINUTES`).
    pub link_lifetime_secs: i64,
}

/// The probe accounts, at least one. They take turns by 5-minute slot, so that each is asked
/// for at most `12 / n` times an hour: the service counts reset requests per username and client
/// (`RATE_LIMIT_PER_USERNAME_AND_CLIENT_PER_HOUR`, default 3) and the probe's client address is
/// the same run after run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeAccounts {
    first: Username,
    others: Vec<Username>,
}

impl ProbeAccounts {
    /// `None` for an empty list.
    pub fn new(mut accounts: Vec<Username>) -> Option<Self> {
        if accounts.is_empty() {
            return None;
        }
        let first = accounts.remove(0);
        Some(Self {
            first,
            others: accounts,
        })
    }

    pub fn len(&self) -> usize {
        1 + self.others.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The account of the run at `now`: the 5-minute slot, modulo the count.
    pub fn of_run(&self, now: Timestamp) -> &Username {
        let slot = u64::try_from(now.as_secs().div_euclid(300)).unwrap_or(0);
        let index = usize::try_from(slot % self.len() as u64).unwrap_or(0);
        match index {
            0 => &self.first,
            n => self.others.get(n - 1).unwrap_or(&self.first),
        }
    }
}

/// Walks the flow once for `username`. `now` is read once per step from `clock`.
pub async fn walk(
    site: &dyn PublicSite,
    store: &dyn ProbeStore,
    username: &Username,
    pacing: &Pacing,
    clock: &dyn reset_core::domain::Clock,
) -> Report {
    let mut steps = Vec::with_capacity(STEPS.len());
    let started = Instant::now();
    let (result, before) = match request_step(site, store, username).await {
        Ok(account) => (Ok(()), Some(account)),
        Err(failure) => (Err(failure), None),
    };
    steps.push(StepOutcome {
        step: STEPS[0],
        took: started.elapsed(),
        result,
    });
    if let Some(account) = before {
        let started = Instant::now();
        let result = mail_step(store, username, &account, pacing).await;
        let mailed = result.is_ok();
        steps.push(StepOutcome {
            step: STEPS[1],
            took: started.elapsed(),
            result,
        });
        if mailed {
            let started = Instant::now();
            let result = link_step(site, store, username, &account, pacing, clock.now()).await;
            steps.push(StepOutcome {
                step: STEPS[2],
                took: started.elapsed(),
                result,
            });
        }
    }
    for step in &STEPS[steps.len()..] {
        steps.push(StepOutcome {
            step,
            took: Duration::ZERO,
            result: Err(StepFailure::NotRun),
        });
    }
    let oldest = match store.oldest_pending_address_request_secs(clock.now()).await {
        Ok(secs) => Some(secs),
        Err(error) => {
            tracing::warn!(error = %error, "the pending address requests could not be read");
            None
        }
    };
    Report {
        username: username.clone(),
        steps,
        oldest_pending_address_request_secs: oldest,
    }
}

async fn request_step(
    site: &dyn PublicSite,
    store: &dyn ProbeStore,
    username: &Username,
) -> Result<ProbeAccount, StepFailure> {
    let account = store
        .probe_account(username)
        .await?
        .ok_or_else(|| StepFailure::NoAccount(username.to_string()))?;
    store.free_mail_turn(username).await?;
    let answer = site
        .post_json(
            reset_core::web::routes::REQUEST_API,
            &serde_json::json!({ "username": username.as_str() }),
        )
        .await?;
    expect_status("the reset request", &answer, 202)?;
    Ok(account)
}

async fn mail_step(
    store: &dyn ProbeStore,
    username: &Username,
    before: &ProbeAccount,
    pacing: &Pacing,
) -> Result<(), StepFailure> {
    let deadline = tokio::time::Instant::now() + pacing.mail_wait;
    loop {
        let now = store
            .probe_account(username)
            .await?
            .ok_or_else(|| StepFailure::NoAccount(username.to_string()))?;
        if now.reset_mail_message_id.is_some() && now.reset_mail_message_id != before.reset_mail_message_id {
            return Ok(());
        }
        if tokio::time::Instant::now() + pacing.mail_poll > deadline {
            return Err(StepFailure::NoMail(pacing.mail_wait.as_secs()));
        }
        tokio::time::sleep(pacing.mail_poll).await;
    }
}

async fn link_step(
    site: &dyn PublicSite,
    store: &dyn ProbeStore,
    username: &Username,
    account: &ProbeAccount,
    pacing: &Pacing,
    now: Timestamp,
) -> Result<(), StepFailure> {
    let token = store
        .mint_link(username, account.credential_epoch, now, pacing.link_lifetime_secs)
        .await?;
    let page = site
        .get(&format!("{}?token={token}", reset_core::web::routes::CONFIRM_PAGE))
        .await?;
    expect_status("the link", &page, 200)?;
    // The confirm page's form carries the link on to 「パスワードのリセット」; an invalid-link
    // page has no such field.
    if !page.body.contains("name=\"token\"") {
        return Err(StepFailure::Content {
            what: "the link's page",
            missing: "the confirm form",
        });
    }
    let confirmed = site
        .post_json(
            reset_core::web::routes::VERIFY_API,
            &serde_json::json!({ "token": token }),
        )
        .await?;
    expect_status("the link's confirmation", &confirmed, 200)?;
    let valid = serde_json::from_str::<serde_json::Value>(&confirmed.body)
        .ok()
        .and_then(|v| v.get("valid").and_then(serde_json::Value::as_bool))
        == Some(true);
    if !valid {
        return Err(StepFailure::Content {
            what: "the link's confirmation",
            missing: "valid: true",
        });
    }
    Ok(())
}

fn expect_status(what: &'static str, answer: &SiteAnswer, expected: u16) -> Result<(), StepFailure> {
    if answer.status == expected {
        Ok(())
    } else {
        Err(StepFailure::Status {
            what,
            expected,
            got: answer.status,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
