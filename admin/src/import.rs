//! `reset-admin import users.csv`: the bulk list of accounts an authority hands over.
//!
//! Three steps, each safe to repeat:
//! 1. [`read_csv`] checks every line on its own (username, address, language, duplicates).
//! 2. [`plan`] looks the usernames up (BatchGetItem): new accounts are to be created, accounts
//!    already registered with the same address are left alone, and accounts registered with
//!    another address are rejected (an address change is `user set-email`, with its reason).
//! 3. [`apply`] writes the new accounts and their audit items with BatchWriteItem, retrying
//!    what DynamoDB leaves unprocessed, and only when no line was rejected: a file is imported
//!    whole or not at all. Running the same import again finds everything registered and
//!    writes nothing.
//!
//! Imported accounts have no password: their owners set the first one through the reset flow.
//!
//! BatchWriteItem cannot be conditional, so an account created by someone else between step 2
//! and step 3 would be overwritten by the imported one; the window is the few seconds between
//! the two steps of one run.

use crate::accounts::{backoff, to_item, Accounts};
use crate::audit::{AuditAction, AuditEntry, Change};
use crate::error::AdminError;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
/// Re-exported so callers (and the tests) need no indicatif dependency of their own.
pub use indicatif::ProgressBar;
use reset_core::domain::{AccountStatus, Email, EmailError, Language, User, Username, UsernameError};
use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::time::Duration;

/// One account to import, from line `line` of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub line: u64,
    pub username: Username,
    pub email: Email,
    pub language: Language,
}

/// Why a line cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowProblem {
    NotUtf8,
    MissingField(&'static str),
    BadUsername(UsernameError),
    BadAddress(EmailError),
    BadLanguage,
    Duplicate { first_line: u64 },
    RegisteredWithAnotherAddress { masked: String },
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowProblem::NotUtf8 => f.write_str("not UTF-8 text (save the file as UTF-8)"),
            RowProblem::MissingField(name) => write!(f, "no {name}"),
            RowProblem::BadUsername(reason) => write!(f, "bad username: {reason}"),
            RowProblem::BadAddress(reason) => write!(f, "bad address: {reason}"),
            RowProblem::BadLanguage => f.write_str("bad language: use ja or en (empty: ja)"),
            RowProblem::Duplicate { first_line } => {
                write!(f, "duplicate: the username is already on line {first_line}")
            }
            RowProblem::RegisteredWithAnotherAddress { masked } => write!(
                f,
                "already registered with another address ({masked}); change it with `reset-admin user set-email`"
            ),
        }
    }
}

/// A line that cannot be imported, with the username as typed (when there is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    pub line: u64,
    pub username: Option<String>,
    pub problem: RowProblem,
}

impl fmt::Display for RejectedRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.username {
            Some(username) => write!(f, "line {} ({username}): {}", self.line, self.problem),
            None => write!(f, "line {}: {}", self.line, self.problem),
        }
    }
}

/// The lines of a file, checked one by one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedFile {
    pub rows: Vec<ImportRow>,
    pub rejected: Vec<RejectedRow>,
}

/// What an import would do (dry run) or does (`--apply`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPlan {
    pub to_create: Vec<ImportRow>,
    pub already_registered: Vec<ImportRow>,
    /// In line order.
    pub rejected: Vec<RejectedRow>,
}

impl ImportPlan {
    pub fn lines(&self) -> usize {
        self.to_create.len() + self.already_registered.len() + self.rejected.len()
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
/// How much of a bad username the report repeats.
const MAX_ECHOED_CHARS: usize = 16;

fn csv_error(error: csv::Error) -> AdminError {
    AdminError::Csv(format!("the file cannot be read as CSV: {error}"))
}

/// The typed text, for the report: printable characters only, bounded.
fn echo(typed: &str) -> Option<String> {
    let shown: String = typed
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_ECHOED_CHARS)
        .collect();
    (!shown.is_empty()).then_some(shown)
}

/// Reads and checks every line of a CSV file whose first line names the columns: `username`,
/// `email` and optionally `language` (`ja`/`en`, empty: `ja`), in any order; other columns
/// are ignored. Fails only when the file as a whole is unusable.
pub fn read_csv(input: impl Read) -> Result<ParsedFile, AdminError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers = reader.byte_headers().map_err(csv_error)?.clone();
    let column = |name: &str| {
        headers.iter().enumerate().find_map(|(i, header)| {
            let header = header.strip_prefix(UTF8_BOM).unwrap_or(header);
            header.eq_ignore_ascii_case(name.as_bytes()).then_some(i)
        })
    };
    let (Some(username_column), Some(email_column)) = (column("username"), column("email")) else {
        return Err(AdminError::Csv(
            "the first line must name the columns: username,email (and optionally language)".into(),
        ));
    };
    let language_column = column("language");

    let mut parsed = ParsedFile::default();
    let mut first_seen: HashMap<Username, u64> = HashMap::new();
    for record in reader.byte_records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, csv::Position::line);
        let text = |column: usize| -> Result<&str, RowProblem> {
            std::str::from_utf8(record.get(column).unwrap_or_default()).map_err(|_| RowProblem::NotUtf8)
        };
        let typed_username = text(username_column).ok().and_then(echo);
        let reject = |problem: RowProblem| RejectedRow {
            line,
            username: typed_username.clone(),
            problem,
        };
        let row = (|| {
            let username = text(username_column)?;
            if username.is_empty() {
                return Err(RowProblem::MissingField("username"));
            }
            let username = Username::parse(username).map_err(RowProblem::BadUsername)?;
            let email = text(email_column)?;
            if email.is_empty() {
                return Err(RowProblem::MissingField("email"));
            }
            let email = Email::parse(email).map_err(RowProblem::BadAddress)?;
            let language = match language_column.map(text).transpose()?.unwrap_or_default() {
                "" => Language::Ja,
                code if code.eq_ignore_ascii_case("ja") => Language::Ja,
                code if code.eq_ignore_ascii_case("en") => Language::En,
                _ => return Err(RowProblem::BadLanguage),
            };
            if let Some(first_line) = first_seen.get(&username) {
                return Err(RowProblem::Duplicate {
                    first_line: *first_line,
                });
            }
            Ok(ImportRow {
                line,
                username,
                email,
                language,
            })
        })();
        match row {
            Ok(row) => {
                first_seen.insert(row.username.clone(), row.line);
                parsed.rows.push(row);
            }
            Err(problem) => parsed.rejected.push(reject(problem)),
        }
    }
    Ok(parsed)
}

/// Sorts the checked lines into new, already registered (same address) and rejected
/// (registered with another address), looking every username up once.
pub async fn plan(accounts: &Accounts, parsed: ParsedFile, progress: &ProgressBar) -> Result<ImportPlan, AdminError> {
    let mut plan = ImportPlan {
        rejected: parsed.rejected,
        ..ImportPlan::default()
    };
    progress.set_length(parsed.rows.len() as u64);
    for chunk in parsed.rows.chunks(100) {
        let usernames: Vec<Username> = chunk.iter().map(|r| r.username.clone()).collect();
        let registered = accounts.registered_addresses(&usernames).await?;
        for row in chunk {
            match registered.get(&row.username) {
                None => plan.to_create.push(row.clone()),
                Some(email) if *email == row.email => plan.already_registered.push(row.clone()),
                Some(email) => plan.rejected.push(RejectedRow {
                    line: row.line,
                    username: Some(row.username.to_string()),
                    problem: RowProblem::RegisteredWithAnotherAddress { masked: email.masked() },
                }),
            }
        }
        progress.inc(chunk.len() as u64);
    }
    plan.rejected.sort_by_key(|r| r.line);
    Ok(plan)
}

/// One BatchWriteItem call: what DynamoDB left unprocessed comes back.
#[async_trait]
pub trait BatchWriter: Send + Sync {
    async fn write_batch(
        &self,
        requests: HashMap<String, Vec<WriteRequest>>,
    ) -> Result<HashMap<String, Vec<WriteRequest>>, AdminError>;
}

#[async_trait]
impl BatchWriter for Accounts {
    async fn write_batch(
        &self,
        requests: HashMap<String, Vec<WriteRequest>>,
    ) -> Result<HashMap<String, Vec<WriteRequest>>, AdminError> {
        self.batch_write_once(requests).await
    }
}

/// How unprocessed items are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Calls per batch, the first included.
    pub max_attempts: u32,
    /// Waits between calls double from this (capped at 64 times it).
    pub first_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            first_delay: backoff(0),
        }
    }
}

/// A user item and its audit item: always sent in the same BatchWriteItem call.
type ItemPair = (HashMap<String, AttributeValue>, HashMap<String, AttributeValue>);

/// BatchWriteItem takes 25 items: 12 users with their audit items.
const PAIRS_PER_BATCH: usize = 12;

fn put(item: HashMap<String, AttributeValue>) -> Result<WriteRequest, AdminError> {
    Ok(WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| AdminError::Corrupt(e.to_string()))?,
        )
        .build())
}

/// Writes every pair, retrying unprocessed items with exponential backoff; returns the number
/// of users written. Fails with how far it got when DynamoDB keeps refusing.
pub async fn write_pairs<W: BatchWriter + ?Sized>(
    writer: &W,
    users_table: &str,
    audit_table: &str,
    pairs: Vec<ItemPair>,
    progress: &ProgressBar,
    retry: RetryPolicy,
) -> Result<usize, AdminError> {
    let total = pairs.len();
    let mut written = 0;
    let mut pairs = pairs.into_iter().peekable();
    while pairs.peek().is_some() {
        let mut pending: HashMap<String, Vec<WriteRequest>> = HashMap::new();
        for (user, audit) in pairs.by_ref().take(PAIRS_PER_BATCH) {
            pending.entry(users_table.to_owned()).or_default().push(put(user)?);
            pending.entry(audit_table.to_owned()).or_default().push(put(audit)?);
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let users_sent = pending.get(users_table).map_or(0, Vec::len);
            let unprocessed = writer.write_batch(pending).await?;
            let users_left = unprocessed.get(users_table).map_or(0, Vec::len);
            written += users_sent - users_left;
            progress.inc((users_sent - users_left) as u64);
            let left: usize = unprocessed.values().map(Vec::len).sum();
            if left == 0 {
                break;
            }
            if attempt >= retry.max_attempts {
                return Err(AdminError::IncompleteBatch {
                    written,
                    total,
                    left,
                    attempts: attempt,
                });
            }
            tokio::time::sleep(retry.first_delay * (1u32 << (attempt - 1).min(6))).await;
            pending = unprocessed;
        }
    }
    Ok(written)
}

/// Creates the plan's new accounts, each with an audit item `import`. Refuses (writing
/// nothing) while the plan has rejected lines.
pub async fn apply(
    accounts: &Accounts,
    plan: &ImportPlan,
    change: &Change,
    progress: &ProgressBar,
    retry: RetryPolicy,
) -> Result<usize, AdminError> {
    if !plan.rejected.is_empty() {
        return Err(AdminError::RowsRejected(plan.rejected.len()));
    }
    let pairs = plan
        .to_create
        .iter()
        .map(|row| {
            let user = User {
                username: row.username.clone(),
                email: row.email.clone(),
                password_hash: None,
                password_changed_at: None,
                email_changed_at: None,
                status: AccountStatus::Active,
                language: row.language,
                created_at: change.at.as_millis(),
            };
            let audit = AuditEntry::new(&row.username, AuditAction::Import, change)?
                .with_emails(None, Some(row.email.masked()));
            Ok((to_item(&user)?, to_item(&audit)?))
        })
        .collect::<Result<Vec<_>, AdminError>>()?;
    progress.set_length(pairs.len() as u64);
    write_pairs(
        accounts,
        accounts.users_table(),
        accounts.audit_table(),
        pairs,
        progress,
        retry,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn problems(parsed: &ParsedFile) -> Vec<(u64, String)> {
        parsed.rejected.iter().map(|r| (r.line, r.to_string())).collect()
    }

    #[test]
    fn checks_every_line_and_reports_it_by_number() -> Result<(), AdminError> {
        let file = "\u{feff}Username,Email,Language,name\n\
                    tz000001,tz000001@example.jp,ja,Sato\n\
                    tz00002,tz000002@example.jp,,\n\
                    tz000003,not-an-address,en\n\
                    tz000001,other@example.jp\n\
                    tz000005,tz000005@example.jp,fr\n\
                    ,nobody@example.jp\n\
                    tz000007\n\
                    \"tz000008\", TZ000008@Example.JP ,EN\n";
        let parsed = read_csv(file.as_bytes())?;
        assert_eq!(
            parsed
                .rows
                .iter()
                .map(|r| (r.line, r.username.to_string(), r.language))
                .collect::<Vec<_>>(),
            vec![
                (2, "tz000001".into(), Language::Ja),
                (9, "tz000008".into(), Language::En)
            ]
        );
        assert_eq!(parsed.rows[1].email.as_str(), "TZ000008@Example.JP");
        assert_eq!(
            problems(&parsed),
            vec![
                (
                    3,
                    "line 3 (tz00002): bad username: the username must be exactly 8 characters".into()
                ),
                (
                    4,
                    "line 4 (tz000003): bad address: the mail address must have the form name@domain.example".into()
                ),
                (
                    5,
                    "line 5 (tz000001): duplicate: the username is already on line 2".into()
                ),
                (6, "line 6 (tz000005): bad language: use ja or en (empty: ja)".into()),
                (7, "line 7: no username".into()),
                (8, "line 8 (tz000007): no email".into()),
            ]
        );
        Ok(())
    }

    #[test]
    fn refuses_a_file_without_the_columns_and_reports_non_utf8_lines() -> Result<(), AdminError> {
        assert!(matches!(read_csv("user,mail\n".as_bytes()), Err(AdminError::Csv(_))));
        let mut bytes = b"username,email\ntz000001,".to_vec();
        bytes.extend_from_slice(b"\x82\xa0@example.jp\n"); // Shift_JIS
        let parsed = read_csv(bytes.as_slice())?;
        assert_eq!(
            problems(&parsed),
            vec![(2, "line 2 (tz000001): not UTF-8 text (save the file as UTF-8)".into())]
        );
        Ok(())
    }

    /// Leaves every other request unprocessed on its first call, then takes everything.
    #[derive(Default)]
    struct Throttled {
        calls: Mutex<Vec<usize>>,
        stuck: bool,
    }

    #[async_trait]
    impl BatchWriter for Throttled {
        async fn write_batch(
            &self,
            mut requests: HashMap<String, Vec<WriteRequest>>,
        ) -> Result<HashMap<String, Vec<WriteRequest>>, AdminError> {
            let size = requests.values().map(Vec::len).sum::<usize>();
            let mut calls = self.calls.lock().map_err(|_| AdminError::Corrupt("poisoned".into()))?;
            calls.push(size);
            if size > 25 {
                return Err(AdminError::Corrupt(format!("{size} items in one BatchWriteItem")));
            }
            if self.stuck {
                return Ok(requests);
            }
            if calls.len() % 2 == 1 {
                for list in requests.values_mut() {
                    let keep: Vec<WriteRequest> = list.iter().step_by(2).cloned().collect();
                    *list = keep;
                }
                requests.retain(|_, list| !list.is_empty());
                return Ok(requests);
            }
            Ok(HashMap::new())
        }
    }

    fn pairs(count: usize) -> Vec<ItemPair> {
        (0..count)
            .map(|i| {
                let item = HashMap::from([("username".to_owned(), AttributeValue::S(format!("tz{i:06}")))]);
                (item.clone(), item)
            })
            .collect()
    }

    const NO_WAIT: RetryPolicy = RetryPolicy {
        max_attempts: 4,
        first_delay: Duration::ZERO,
    };

    #[tokio::test]
    async fn unprocessed_items_are_sent_again_until_all_are_written() -> Result<(), AdminError> {
        let writer = Throttled::default();
        let progress = ProgressBar::hidden();
        let written = write_pairs(&writer, "users", "audit", pairs(30), &progress, NO_WAIT).await?;
        assert_eq!(written, 30);
        assert_eq!(progress.position(), 30);
        // 30 pairs = batches of 12, 12 and 6 pairs; each first call leaves half unprocessed.
        let calls = writer
            .calls
            .lock()
            .map_err(|_| AdminError::Corrupt("poisoned".into()))?
            .clone();
        assert_eq!(calls, vec![24, 12, 24, 12, 12, 6]);
        Ok(())
    }

    #[tokio::test]
    async fn a_batch_that_never_goes_through_says_how_far_it_got() {
        let writer = Throttled {
            stuck: true,
            ..Throttled::default()
        };
        let result = write_pairs(&writer, "users", "audit", pairs(3), &ProgressBar::hidden(), NO_WAIT).await;
        assert!(
            matches!(
                result,
                Err(AdminError::IncompleteBatch {
                    written: 0,
                    total: 3,
                    left: 6,
                    attempts: 4
                })
            ),
            "{result:?}"
        );
    }
}
