//! The account operations of the admin tool, straight on the users and audit log tables.
//! Every change is one DynamoDB transaction: the conditional write of the user item and its
//! audit item, so there is never a change without its audit record or the other way round.

use crate::audit::{AuditAction, AuditEntry, AuditSubject, Change};
use crate::error::{unavailable, AdminError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use reset_core::domain::{AccountStatus, CredentialEpoch, Email, Language, User, Username};
use reset_core::store::attributes::*;
use reset_core::store::item::{self, epoch_moved_on, epoch_step, n, s, EPOCH_STEP};
use reset_core::store::{indexes, MAIL_PROBLEM_FLAG_SET};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// DynamoDB's limit of keys per BatchGetItem call.
const BATCH_GET_LIMIT: usize = 100;
/// How often a BatchGetItem's unprocessed keys are asked for again.
const BATCH_GET_ATTEMPTS: u32 = 8;

/// The users and audit log tables, as the admin tool sees them.
#[derive(Debug, Clone)]
pub struct Accounts {
    client: Client,
    users_table: String,
    audit_table: String,
    /// Where every audit entry is copied (`AUDIT_LOG_GROUP`); `None`: not configured.
    mirror: Option<crate::audit_chain::AuditMirror>,
}

/// The registered address as stored. One stored before addresses were checked as strictly as
/// now (`x<attacker@evil.jp>`) no longer parses as an [`Email`]; its account must still be
/// readable here, shown (masked) and fixed with `user set-email`, not lock its administrators
/// out as "malformed".
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub struct StoredAddress(String);

impl From<String> for StoredAddress {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl StoredAddress {
    /// Exactly as stored (for conditions on it; never for output).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address, when it is one by today's rules.
    pub fn email(&self) -> Option<Email> {
        Email::parse(&self.0).ok().filter(|email| email.as_str() == self.0)
    }

    /// `e***@example.jp`; an address that is not one by today's rules is not shown at all.
    pub fn masked(&self) -> String {
        self.email()
            .map_or_else(|| "(not a valid address)".into(), |e| e.masked())
    }
}

impl PartialEq<Email> for StoredAddress {
    fn eq(&self, other: &Email) -> bool {
        self.0 == other.as_str()
    }
}

/// Like [`Email`]'s, never the full address.
impl fmt::Debug for StoredAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoredAddress({})", self.masked())
    }
}

/// An account as an administrator sees it: no password hash, the address masked on output.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountRecord {
    pub username: Username,
    pub email: StoredAddress,
    #[serde(default)]
    pub status: AccountStatus,
    #[serde(default)]
    pub language: Language,
    pub created_at: i64,
    #[serde(default)]
    pub password_changed_at: Option<i64>,
    #[serde(default)]
    pub email_changed_at: Option<i64>,
    #[serde(default)]
    pub reset_mail_sent_at: Option<i64>,
    #[serde(default)]
    pub last_mail_event: Option<String>,
    #[serde(default)]
    pub last_mail_event_at: Option<i64>,
    #[serde(default)]
    pub mail_problem: Option<String>,
    #[serde(default)]
    pub mail_problem_detail: Option<String>,
    #[serde(default)]
    pub mail_problem_at: Option<i64>,
    /// Moves on with every link-killing change; an approval compares it with the request's.
    #[serde(default)]
    pub credential_epoch: CredentialEpoch,
    /// Only whether there is one; the hash itself is never read into this type.
    #[serde(default, rename = "password_hash", deserialize_with = "present")]
    pub has_password: bool,
    /// What only a user pool reports (`PASSWORD_STORE=cognito`); `None` for the users table.
    #[serde(skip)]
    pub pool: Option<PoolDetails>,
}

/// A pool user's own state, beside what both stores have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolDetails {
    /// Cognito's `UserStatus` (`CONFIRMED`, `RESET_REQUIRED`, `FORCE_CHANGE_PASSWORD`, …).
    pub user_status: String,
    pub email_verified: bool,
    /// Whether the functions mail this user a link (enabled, verified, a status that may reset).
    pub may_reset: bool,
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// One row of `reset-admin mail-problems`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MailProblemRow {
    pub username: Username,
    pub email: StoredAddress,
    #[serde(default)]
    pub status: AccountStatus,
    pub mail_problem: String,
    #[serde(default)]
    pub mail_problem_detail: Option<String>,
    pub mail_problem_at: i64,
}

/// An entry of the `mail-problems` index of a pool's account-state table: who and what. The
/// address and the status are the pool's (`PoolAccounts::mail_problems`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MailProblemEntry {
    pub username: Username,
    pub mail_problem: String,
    #[serde(default)]
    pub mail_problem_detail: Option<String>,
    pub mail_problem_at: i64,
}

impl MailProblemRow {
    /// The row of a pool's `entry`, with the address and status of its account now.
    pub fn of_entry(entry: MailProblemEntry, account: &AccountRecord) -> Self {
        Self {
            username: entry.username,
            email: account.email.clone(),
            status: account.status,
            mail_problem: entry.mail_problem,
            mail_problem_detail: entry.mail_problem_detail,
            mail_problem_at: entry.mail_problem_at,
        }
    }
}

/// Whether a status change changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    Changed,
    AlreadySo,
    /// A user pool already had the user so (a re-run after a failure, or an edit in the pool):
    /// the credential epoch moved on all the same and the change is audited.
    AlreadySoInPool,
}

/// The masked old and new address of an address change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailChange {
    pub old_masked: String,
    pub new_masked: String,
    /// The replaced address, for its notice; None when what was stored is not a valid address.
    pub old_address: Option<Email>,
    /// The account's language, for the notices.
    pub language: Language,
    /// The account lives in a user pool: the account-state table keeps only the replaced
    /// address's fingerprint, and only when the change knew that address.
    pub in_pool: bool,
    /// The pool already held the new address (a re-run after a failure between the pool call
    /// and the table): only the epoch moved and the change was audited.
    pub already_set: bool,
}

pub(crate) fn to_item<T: Serialize>(value: &T) -> Result<HashMap<String, AttributeValue>, AdminError> {
    Ok(item::to_item(value)?)
}

fn from_item<T: DeserializeOwned>(found: HashMap<String, AttributeValue>) -> Result<T, AdminError> {
    Ok(item::from_item(found)?)
}

impl Accounts {
    pub fn new(client: Client, users_table: String, audit_table: String) -> Self {
        Self {
            client,
            users_table,
            audit_table,
            mirror: None,
        }
    }

    /// Copies every audit entry written from now on into `mirror`.
    pub fn with_mirror(self, mirror: crate::audit_chain::AuditMirror) -> Self {
        Self {
            mirror: Some(mirror),
            ..self
        }
    }

    pub fn mirror(&self) -> Option<&crate::audit_chain::AuditMirror> {
        self.mirror.as_ref()
    }

    /// `USERS_TABLE` and `AUDIT_LOG_TABLE`, as the functions get them; the SDK's standard
    /// configuration (region, credentials, `AWS_ENDPOINT_URL_DYNAMODB` locally).
    pub async fn from_env() -> Result<Self, AdminError> {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        Self::from_config(&config)
    }

    /// The same, on an SDK configuration loaded once for the whole command.
    pub fn from_config(config: &aws_config::SdkConfig) -> Result<Self, AdminError> {
        let vars = reset_core::config::Variables::from_env();
        let accounts = Self::new(
            aws_sdk_dynamodb::Client::new(config),
            vars.required("USERS_TABLE")?,
            vars.required("AUDIT_LOG_TABLE")?,
        );
        Ok(match crate::audit_chain::AuditMirror::from_env(config) {
            Some(mirror) => accounts.with_mirror(mirror),
            None => accounts,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn users_table(&self) -> &str {
        &self.users_table
    }

    pub fn audit_table(&self) -> &str {
        &self.audit_table
    }

    /// A Query of `subject`'s partition of the audit table, newest entry first.
    fn newest_audit_first(
        &self,
        subject: &AuditSubject,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.client
            .query()
            .table_name(&self.audit_table)
            .key_condition_expression(format!("{USERNAME} = :username"))
            .expression_attribute_values(":username", s(subject.key()))
            .scan_index_forward(false)
    }

    /// The hash of the newest entry of `subject` (None: no entry, or only entries from before
    /// the chain): a Query of one item, newest first.
    pub async fn chain_head(&self, subject: &AuditSubject) -> Result<Option<String>, AdminError> {
        let page = self
            .newest_audit_first(subject)
            .limit(1)
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let newest: Option<AuditEntry> = page
            .items
            .unwrap_or_default()
            .into_iter()
            .next()
            .map(from_item)
            .transpose()?;
        Ok(newest.and_then(|entry| entry.hash))
    }

    /// `entry` as the next link of its subject's chain.
    pub(crate) async fn link(&self, entry: AuditEntry) -> Result<AuditEntry, AdminError> {
        let head = self.chain_head(&entry.subject).await?;
        Ok(entry.linked_after(head.as_deref()))
    }

    /// Copies committed entries to the mirror. Best effort: the change is made and audited in
    /// the table; `audit verify` reports an entry the mirror lacks.
    pub(crate) async fn mirror_entries(&self, entries: &[&AuditEntry]) {
        match &self.mirror {
            Some(mirror) => {
                for entry in entries {
                    if let Err(error) = mirror.append(entry).await {
                        eprintln!(
                            "warning: audit entry {} of {} could not be mirrored to {} ({error}); `reset-admin audit verify {}` will report it",
                            entry.audit_id, entry.subject, mirror.group(), entry.subject
                        );
                    }
                }
            }
            None => eprintln!(
                "note: {} is not set, so this change's audit entry was not mirrored",
                crate::audit_chain::MIRROR_VARIABLE
            ),
        }
    }

    pub(crate) fn put_audit(&self, entry: &AuditEntry) -> Result<TransactWriteItem, AdminError> {
        let put = Put::builder()
            .table_name(&self.audit_table)
            .set_item(Some(to_item(entry)?))
            .condition_expression(format!("attribute_not_exists({USERNAME})"))
            .build()
            .map_err(|e| AdminError::Corrupt(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(crate) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<bool, AdminError> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(error) if item::cancelled_by_condition(&error) => Ok(false),
            Err(error) => Err(unavailable(error)),
        }
    }

    /// Creates `user` (never overwrites) with an audit item `create`.
    pub async fn create_user(&self, user: &User, action: AuditAction, change: &Change) -> Result<(), AdminError> {
        let entry = AuditEntry::new(&user.username, action, change)?.with_emails(None, Some(user.email.masked()));
        if self.create_user_with_audit(user, &entry).await? {
            Ok(())
        } else {
            Err(AdminError::AlreadyExists(user.username.clone()))
        }
    }

    /// One transaction: the user item, conditioned on the username being free, and its audit
    /// item. False (and nothing written) when the username is taken.
    pub async fn create_user_with_audit(&self, user: &User, entry: &AuditEntry) -> Result<bool, AdminError> {
        let entry = &self.link(entry.clone()).await?;
        let put_user = Put::builder()
            .table_name(&self.users_table)
            .set_item(Some(to_item(user)?))
            .condition_expression(format!("attribute_not_exists({USERNAME})"))
            .build()
            .map_err(|e| AdminError::Corrupt(e.to_string()))?;
        let items = vec![
            TransactWriteItem::builder().put(put_user).build(),
            self.put_audit(entry)?,
        ];
        let written = self.transact(items).await?;
        if written {
            self.mirror_entries(&[entry]).await;
        }
        Ok(written)
    }

    /// An audit item on its own, for changes outside DynamoDB (the mail queue's redrive).
    pub async fn record(&self, entry: &AuditEntry) -> Result<(), AdminError> {
        let entry = &self.link(entry.clone()).await?;
        self.client
            .put_item()
            .table_name(&self.audit_table)
            .set_item(Some(to_item(entry)?))
            .condition_expression(format!("attribute_not_exists({USERNAME})"))
            .send()
            .await
            .map_err(unavailable)?;
        self.mirror_entries(&[entry]).await;
        Ok(())
    }

    /// The account, read consistently.
    pub async fn find(&self, username: &Username) -> Result<Option<AccountRecord>, AdminError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.users_table)
            .key(USERNAME, s(username.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        output.item.map(from_item).transpose()
    }

    async fn require(&self, username: &Username) -> Result<AccountRecord, AdminError> {
        self.find(username)
            .await?
            .ok_or_else(|| AdminError::NoSuchUser(username.clone()))
    }

    /// Disables or enables the account. A disabled account gets no reset mail and none of its
    /// links work; enabling it changes neither its address nor its password.
    pub async fn set_status(
        &self,
        username: &Username,
        status: AccountStatus,
        change: &Change,
    ) -> Result<StatusChange, AdminError> {
        let (code, action) = match status {
            AccountStatus::Active => ("active", AuditAction::Enable),
            AccountStatus::Disabled => ("disabled", AuditAction::Disable),
        };
        let update = Update::builder()
            .table_name(&self.users_table)
            .key(USERNAME, s(username.as_str()))
            // Both directions kill every mailed link: disabling because the account must not be
            // used, enabling because links from before the disable must not come back.
            .update_expression(epoch_moved_on("SET #status = :status"))
            .condition_expression(format!("attribute_exists({USERNAME}) AND NOT (#status = :status)"))
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_values(":status", s(code))
            .expression_attribute_values(EPOCH_STEP, epoch_step())
            .build()
            .map_err(|e| AdminError::Corrupt(e.to_string()))?;
        let entry = self.link(AuditEntry::new(username, action, change)?).await?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.put_audit(&entry)?,
        ];
        if self.transact(items).await? {
            self.mirror_entries(&[&entry]).await;
            return Ok(StatusChange::Changed);
        }
        // The condition failed: the account is missing or already in that state.
        self.require(username).await?;
        Ok(StatusChange::AlreadySo)
    }

    /// Changes the registered address, conditioned on the address read just before (so two
    /// administrators cannot overwrite each other unknowingly). The account's mail history goes
    /// with the old address: its problem leaves `mail-problems`, and late events about mail to
    /// the old address no longer match.
    pub async fn set_email(
        &self,
        username: &Username,
        new_email: &Email,
        change: &Change,
    ) -> Result<EmailChange, AdminError> {
        let current = self.require(username).await?;
        if current.email == *new_email {
            return Err(AdminError::SameAddress {
                username: username.clone(),
                masked: new_email.masked(),
            });
        }
        let (update, result) = self.email_update(&current, new_email, change, None)?;
        let entry = AuditEntry::new(username, AuditAction::SetEmail, change)?
            .with_emails(Some(result.old_masked.clone()), Some(result.new_masked.clone()));
        let entry = self.link(entry).await?;
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            self.put_audit(&entry)?,
        ];
        if self.transact(items).await? {
            self.mirror_entries(&[&entry]).await;
            Ok(result)
        } else {
            Err(AdminError::ChangedMeanwhile(username.clone()))
        }
    }

    /// The write of an address change, conditioned on the address read in `current` (and on
    /// its credential epoch, when given), for a transaction of the caller's.
    pub(crate) fn email_update(
        &self,
        current: &AccountRecord,
        new_email: &Email,
        change: &Change,
        epoch: Option<CredentialEpoch>,
    ) -> Result<(Update, EmailChange), AdminError> {
        let epoch_condition = if epoch.is_some() {
            format!(" AND {CREDENTIAL_EPOCH} = :epoch")
        } else {
            String::new()
        };
        let old_address = current.email.email();
        // send-mail mails the notice about this change to the replaced address only if the
        // account names it; a stored value that is no address is not kept.
        let (set_previous, remove_previous) = match old_address {
            Some(_) => (format!(", {PREVIOUS_EMAIL} = :old"), String::new()),
            None => (String::new(), format!(", {PREVIOUS_EMAIL}")),
        };
        let update = Update::builder()
            .table_name(&self.users_table)
            .key(USERNAME, s(current.username.as_str()))
            .update_expression(epoch_moved_on(&format!(
            "SET {EMAIL} = :new, {EMAIL_CHANGED_AT} = :at{set_previous} \
             REMOVE {RESET_MAIL_MESSAGE_ID}, {RESET_MAIL_SENT_AT}, {LAST_MAIL_EVENT}, {LAST_MAIL_EVENT_AT}, \
             {MAIL_PROBLEM}, {MAIL_PROBLEM_DETAIL}, {MAIL_PROBLEM_AT}, {MAIL_PROBLEM_FLAG}, {MAIL_PROBLEM_MESSAGE_ID}{remove_previous}"
            )))
            .condition_expression(format!(
                "attribute_exists({USERNAME}) AND {EMAIL} = :old{epoch_condition}"
            ))
            .expression_attribute_values(":new", s(new_email.as_str()))
            .expression_attribute_values(":old", s(current.email.as_str()))
            .expression_attribute_values(":at", n(change.at.as_millis()))
            .expression_attribute_values(EPOCH_STEP, epoch_step());
        let update = match epoch {
            Some(epoch) => update.expression_attribute_values(":epoch", AttributeValue::N(epoch.value().to_string())),
            None => update,
        }
        .build()
        .map_err(|e| AdminError::Corrupt(e.to_string()))?;
        let result = EmailChange {
            old_masked: current.email.masked(),
            new_masked: new_email.masked(),
            old_address,
            language: current.language,
            in_pool: false,
            already_set: false,
        };
        Ok((update, result))
    }

    /// The audit log of one account (or of the mail queue), newest first (a Query on its
    /// partition, no Scan).
    pub async fn audit_trail(&self, subject: impl Into<AuditSubject>) -> Result<Vec<AuditEntry>, AdminError> {
        let subject = subject.into();
        let mut entries = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .newest_audit_first(&subject)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in page.items.unwrap_or_default() {
                entries.push(from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(entries),
            }
        }
    }

    /// Accounts whose latest reset mail bounced, drew a complaint or was rejected and that
    /// nobody has fixed yet, newest first: a Query on the sparse `mail-problems` index.
    pub async fn mail_problems(&self, limit: usize) -> Result<Vec<MailProblemRow>, AdminError> {
        self.mail_problem_index(limit).await
    }

    /// The `mail-problems` index's items, newest first, each read as a `T`: a row of the users
    /// table's index, or an entry of the account-state table's.
    pub async fn mail_problem_index<T: DeserializeOwned>(&self, limit: usize) -> Result<Vec<T>, AdminError> {
        let mut rows = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        while rows.len() < limit {
            let page = self
                .client
                .query()
                .table_name(&self.users_table)
                .index_name(indexes::MAIL_PROBLEMS)
                .key_condition_expression(format!("{MAIL_PROBLEM_FLAG} = :flag"))
                .expression_attribute_values(":flag", s(MAIL_PROBLEM_FLAG_SET))
                .scan_index_forward(false)
                .limit(i32::try_from(limit - rows.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in page.items.unwrap_or_default() {
                rows.push(from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        rows.truncate(limit);
        Ok(rows)
    }

    /// The registered address of each of `usernames` that exists (BatchGetItem, 100 keys a
    /// call, unprocessed keys asked for again).
    pub async fn registered_addresses(
        &self,
        usernames: &[Username],
    ) -> Result<HashMap<Username, StoredAddress>, AdminError> {
        let mut found = HashMap::new();
        for chunk in usernames.chunks(BATCH_GET_LIMIT) {
            let keys: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|u| HashMap::from([(USERNAME.to_owned(), s(u.as_str()))]))
                .collect();
            let mut pending = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .projection_expression(format!("{USERNAME}, {EMAIL}"))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| AdminError::Corrupt(e.to_string()))?,
            );
            let mut attempt = 0;
            while let Some(request) = pending.take() {
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.users_table, request)
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in output
                    .responses
                    .and_then(|mut r| r.remove(&self.users_table))
                    .unwrap_or_default()
                {
                    let row: UsernameAndEmail = from_item(item)?;
                    found.insert(row.username, row.email);
                }
                pending = output
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.users_table))
                    .filter(|k| !k.keys().is_empty());
                if pending.is_some() {
                    attempt += 1;
                    if attempt >= BATCH_GET_ATTEMPTS {
                        return Err(AdminError::Unavailable(
                            "DynamoDB kept leaving keys unprocessed (throttled); try again later".into(),
                        ));
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
        Ok(found)
    }
}

#[derive(Deserialize)]
struct UsernameAndEmail {
    username: Username,
    email: StoredAddress,
}

/// Exponential backoff for unprocessed batch items: 50 ms, 100 ms, … capped at 3.2 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(50u64 << attempt.min(6))
}
