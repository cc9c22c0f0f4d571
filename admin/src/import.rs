//! `reset-admin import users.csv`: the bulk list of accounts an authority hands over.
//!
//! Three steps, each safe to repeat:
//! 1. [`read_csv`] checks every line on its own (username, address, language, duplicates).
//! 2. [`plan`] looks the usernames up (BatchGetItem): new accounts are to be created, accounts
//!    already registered with the same address are left alone, and accounts registered with
//!    another address are rejected (an address change is `user set-email`, with its reason).
//! 3. [`apply`] writes each new account with its audit item in one transaction
//!    (TransactWriteItems: the user conditioned on the username being free, and the audit
//!    item), and only when no line was rejected. There is never a user without its audit
//!    record, nor an overwritten account: a username taken since step 2 is reported as already
//!    created and left alone.
//!
//! Resumable: when a write fails midway, what was written stays written (each account whole),
//! and running the same import again creates the rest; the accounts an earlier run created are
//! found in step 2 as already registered with the same address.
//!
//! Imported accounts have no password: their owners set the first one through the reset flow.

use crate::accounts::Accounts;
use crate::audit::{AuditAction, AuditEntry, Change};
use crate::error::AdminError;
use crate::text::{find_hidden, is_hidden, HiddenCharacter};
use async_trait::async_trait;
/// Re-exported so callers (and the tests) need no indicatif dependency of their own.
pub use indicatif::ProgressBar;
use reset_core::domain::{Email, EmailError, Language, User, Username, UsernameError};
use std::collections::HashMap;
use std::fmt;
use std::io::Read;

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
    /// A control or formatting character (e.g. U+202E) in a field, named by its column.
    HiddenCharacter {
        column: String,
        found: HiddenCharacter,
    },
    MissingField(&'static str),
    BadUsername(UsernameError),
    BadAddress(EmailError),
    BadLanguage,
    Duplicate {
        first_line: u64,
    },
    RegisteredWithAnotherAddress {
        masked: String,
    },
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowProblem::NotUtf8 => f.write_str("not UTF-8 text (save the file as UTF-8)"),
            RowProblem::HiddenCharacter { column, found } => {
                write!(
                    f,
                    "the field {column} {found}: remove it (it can make a report or the audit log misleading)"
                )
            }
            RowProblem::MissingField(name) => write!(f, "no {name}"),
            RowProblem::BadUsername(reason) => write!(f, "bad username: {reason}"),
            RowProblem::BadAddress(reason) => write!(f, "bad address: {reason}"),
            RowProblem::BadLanguage => {
                let known: Vec<&str> = Language::ALL.iter().map(|language| language.code()).collect();
                write!(
                    f,
                    "bad language: use {} (empty: {})",
                    known.join(" or "),
                    Language::default().code()
                )
            }
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

/// The typed text, for the report: no control or formatting characters, bounded.
fn echo(typed: &str) -> Option<String> {
    let shown: String = typed
        .chars()
        .filter(|c| !is_hidden(*c))
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
    let columns = Columns::read(reader.byte_headers().map_err(csv_error)?.clone())?;
    let mut parsed = ParsedFile::default();
    let mut first_seen: HashMap<Username, u64> = HashMap::new();
    for record in reader.byte_records() {
        let record = record.map_err(csv_error)?;
        let line = record.position().map_or(0, csv::Position::line);
        match columns.row(&record, line, &first_seen) {
            Ok(row) => {
                first_seen.insert(row.username.clone(), row.line);
                parsed.rows.push(row);
            }
            Err(problem) => parsed.rejected.push(RejectedRow {
                line,
                username: field(&record, columns.username).ok().and_then(echo),
                problem,
            }),
        }
    }
    Ok(parsed)
}

/// A field of a line as text (`""` when the line is shorter).
fn field(record: &csv::ByteRecord, column: usize) -> Result<&str, RowProblem> {
    std::str::from_utf8(record.get(column).unwrap_or_default()).map_err(|_| RowProblem::NotUtf8)
}

/// The first line of the file: the column names, and where the ones read are.
struct Columns {
    headers: csv::ByteRecord,
    username: usize,
    email: usize,
    language: Option<usize>,
}

impl Columns {
    /// The column names checked (no hidden character), `username` and `email` found.
    fn read(headers: csv::ByteRecord) -> Result<Self, AdminError> {
        for (i, header) in headers.iter().enumerate() {
            let header = header.strip_prefix(UTF8_BOM).unwrap_or(header);
            if let Some(found) = std::str::from_utf8(header).ok().and_then(find_hidden) {
                return Err(AdminError::Csv(format!(
                    "line 1 (the column names): column {} {found}; remove it",
                    i + 1
                )));
            }
        }
        let column = |name: &str| {
            headers.iter().enumerate().find_map(|(i, header)| {
                let header = header.strip_prefix(UTF8_BOM).unwrap_or(header);
                header.eq_ignore_ascii_case(name.as_bytes()).then_some(i)
            })
        };
        let (Some(username), Some(email)) = (column("username"), column("email")) else {
            return Err(AdminError::Csv(
                "the first line must name the columns: username,email (and optionally language)".into(),
            ));
        };
        let language = column("language");
        Ok(Self {
            headers,
            username,
            email,
            language,
        })
    }

    /// A column as the report names it: its name when printable, else its number.
    fn name(&self, i: usize) -> String {
        let name = self.headers.get(i).unwrap_or_default();
        let name = name.strip_prefix(UTF8_BOM).unwrap_or(name);
        std::str::from_utf8(name).map_or_else(
            |_| format!("{}", i + 1),
            |n| echo(n).unwrap_or_else(|| format!("{}", i + 1)),
        )
    }

    /// One line checked: the account it asks for, or why it is rejected.
    fn row(
        &self,
        record: &csv::ByteRecord,
        line: u64,
        first_seen: &HashMap<Username, u64>,
    ) -> Result<ImportRow, RowProblem> {
        // Every field, the ignored columns too: the report echoes them, and a hidden
        // character anywhere is a sign of a file that says something else than it shows.
        for (i, value) in record.iter().enumerate() {
            if let Some(found) = std::str::from_utf8(value).ok().and_then(find_hidden) {
                return Err(RowProblem::HiddenCharacter {
                    column: self.name(i),
                    found,
                });
            }
        }
        let username = field(record, self.username)?;
        if username.is_empty() {
            return Err(RowProblem::MissingField("username"));
        }
        let username = Username::parse(username).map_err(RowProblem::BadUsername)?;
        let email = field(record, self.email)?;
        if email.is_empty() {
            return Err(RowProblem::MissingField("email"));
        }
        let email = Email::parse(email).map_err(RowProblem::BadAddress)?;
        let language = match self.language.map(|c| field(record, c)).transpose()?.unwrap_or_default() {
            "" => Language::default(),
            code => Language::from_tag(code).ok_or(RowProblem::BadLanguage)?,
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
    }
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

/// Writes one new account with its audit item, all or nothing.
#[async_trait]
pub trait AccountWriter: Send + Sync {
    /// False (and nothing written) when the username is already taken.
    async fn create_with_audit(&self, user: &User, entry: &AuditEntry) -> Result<bool, AdminError>;
}

#[async_trait]
impl AccountWriter for Accounts {
    async fn create_with_audit(&self, user: &User, entry: &AuditEntry) -> Result<bool, AdminError> {
        self.create_user_with_audit(user, entry).await
    }
}

/// What `--apply` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Created now, each with its audit item.
    pub created: Vec<ImportRow>,
    /// Planned as new, but the username was taken by the time of writing (another
    /// administrator, or a run of the same import at the same time): left as it is.
    pub taken_meanwhile: Vec<ImportRow>,
}

/// Creates the plan's new accounts, each with an audit item `import`, one transaction per
/// account. Refuses (writing nothing) while the plan has rejected lines. A failure stops the
/// import with how far it got: every account written so far is whole, and the same import run
/// again creates the rest.
pub async fn apply<W: AccountWriter + ?Sized>(
    writer: &W,
    plan: &ImportPlan,
    change: &Change,
    progress: &ProgressBar,
) -> Result<ImportOutcome, AdminError> {
    if !plan.rejected.is_empty() {
        return Err(AdminError::RowsRejected(plan.rejected.len()));
    }
    progress.set_length(plan.to_create.len() as u64);
    let mut outcome = ImportOutcome::default();
    for row in &plan.to_create {
        let user = User::new_active(
            row.username.clone(),
            row.email.clone(),
            row.language,
            reset_core::domain::Timestamp::from_millis(change.at.as_millis()),
        )?;
        let entry =
            AuditEntry::new(&row.username, AuditAction::Import, change)?.with_emails(None, Some(row.email.masked()));
        match writer.create_with_audit(&user, &entry).await {
            Ok(true) => outcome.created.push(row.clone()),
            Ok(false) => outcome.taken_meanwhile.push(row.clone()),
            Err(error) => {
                return Err(AdminError::ImportInterrupted {
                    created: outcome.created.len(),
                    total: plan.to_create.len(),
                    cause: error.to_string(),
                })
            }
        }
        progress.inc(1);
    }
    Ok(outcome)
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

    fn change() -> Result<Change, AdminError> {
        Ok(Change {
            actor: crate::Actor::parse("unit-test")?,
            caller: crate::CallerIdentity::parse("arn:aws:sts::123456789012:user/unit")?,
            reason: crate::Reason::parse("import")?,
            at: reset_core::domain::Timestamp::from_millis(1_775_005_203_250),
        })
    }

    /// Takes `fail_after` accounts, then fails; a username in `taken` is refused as taken.
    struct Flaky {
        written: Mutex<Vec<(String, AuditEntry)>>,
        fail_after: usize,
        taken: &'static str,
    }

    #[async_trait]
    impl AccountWriter for Flaky {
        async fn create_with_audit(&self, user: &User, entry: &AuditEntry) -> Result<bool, AdminError> {
            let mut written = self
                .written
                .lock()
                .map_err(|_| AdminError::Corrupt("poisoned".into()))?;
            if user.username.as_str() == self.taken {
                return Ok(false);
            }
            if written.len() >= self.fail_after {
                return Err(AdminError::Unavailable("throttled".into()));
            }
            written.push((user.username.to_string(), entry.clone()));
            Ok(true)
        }
    }

    fn plan_of(csv: &str) -> Result<ImportPlan, AdminError> {
        let parsed = read_csv(csv.as_bytes())?;
        Ok(ImportPlan {
            to_create: parsed.rows,
            ..ImportPlan::default()
        })
    }

    #[tokio::test]
    async fn each_account_is_written_with_its_audit_item_and_a_failure_says_how_far_it_got() -> Result<(), AdminError> {
        let plan = plan_of("username,email\ntz000001,a@example.jp\ntz000002,b@example.jp\ntz000003,c@example.jp\ntz000004,d@example.jp\n")?;
        let writer = Flaky {
            written: Mutex::new(Vec::new()),
            fail_after: 2,
            taken: "tz000002",
        };
        let result = apply(&writer, &plan, &change()?, &ProgressBar::hidden()).await;
        assert!(
            matches!(
                result,
                Err(AdminError::ImportInterrupted {
                    created: 2,
                    total: 4,
                    ..
                })
            ),
            "{result:?}"
        );
        let written = writer
            .written
            .lock()
            .map_err(|_| AdminError::Corrupt("poisoned".into()))?;
        assert_eq!(
            written.iter().map(|(u, _)| u.as_str()).collect::<Vec<_>>(),
            vec!["tz000001", "tz000003"]
        );
        for (username, entry) in written.iter() {
            assert_eq!(entry.subject.key(), username);
            assert_eq!(entry.action, AuditAction::Import);
            assert_eq!(entry.caller_arn.as_deref(), Some("arn:aws:sts::123456789012:user/unit"));
        }
        Ok(())
    }

    #[tokio::test]
    async fn a_username_taken_meanwhile_is_reported_not_overwritten() -> Result<(), AdminError> {
        let plan = plan_of("username,email\ntz000001,a@example.jp\ntz000002,b@example.jp\n")?;
        let writer = Flaky {
            written: Mutex::new(Vec::new()),
            fail_after: 10,
            taken: "tz000002",
        };
        let outcome = apply(&writer, &plan, &change()?, &ProgressBar::hidden()).await?;
        assert_eq!(outcome.created.len(), 1);
        assert_eq!(
            outcome.taken_meanwhile.iter().map(|r| r.line).collect::<Vec<_>>(),
            vec![3]
        );
        Ok(())
    }

    #[test]
    fn hidden_characters_are_refused_in_every_field_by_line_and_column() -> Result<(), AdminError> {
        let file = "username,email,name\n\
                    tz000001,tz000001@example.jp,Sato\n\
                    tz000002,tz000002@example.jp,Sa\u{202E}to\n\
                    tz00\u{200B}0003,tz000003@example.jp,\n\
                    tz000004,tz000004@example.jp\u{2066},\n";
        let parsed = read_csv(file.as_bytes())?;
        assert_eq!(parsed.rows.len(), 1);
        assert_eq!(
            problems(&parsed),
            vec![
                (3, "line 3 (tz000002): the field name contains U+202E (a bidirectional control that reorders what is printed) at character 3: remove it (it can make a report or the audit log misleading)".into()),
                (4, "line 4 (tz000003): the field username contains U+200B (an invisible formatting character) at character 5: remove it (it can make a report or the audit log misleading)".into()),
                (5, "line 5 (tz000004): the field email contains U+2066 (a bidirectional control that reorders what is printed) at character 20: remove it (it can make a report or the audit log misleading)".into()),
            ]
        );
        let header = read_csv("username,email,no\u{202E}te\n".as_bytes());
        assert!(
            matches!(&header, Err(AdminError::Csv(m)) if m.starts_with("line 1 (the column names): column 3 contains U+202E")),
            "{header:?}"
        );
        Ok(())
    }
}
