//! The audit log cannot be made append-only with IAM: a PutItem may overwrite an entry, and an
//! administrator's credentials may write the table. So the log is made tamper-evident instead.
//!
//! - Each entry carries the hash of the subject's previous entry and its own (`AuditEntry`'s
//!   `prev_hash` and `hash`): rewriting or removing an entry breaks the next one's link.
//! - A chain can be recomputed by whoever rewrites it, so every entry is also copied, as it is
//!   committed, to a CloudWatch Logs group (`AUDIT_LOG_GROUP`, the template's `AuditLogGroup`)
//!   whose events the administrators' policy can append but not delete, nor shorten the
//!   group's retention, nor delete the group (an explicit Deny). A rewritten or removed entry's
//!   original hash stays there.
//! - `reset-admin audit verify SUBJECT` checks both and names the first broken link.
//!
//! What this does not catch: an entry forged by hand with a correct hash *and* a forged copy
//! in the mirror (appending to both is what the administrators' role must be able to do).
//! CloudTrail shows such calls; docs/admin.md says so.

use crate::audit::{AuditEntry, AuditSubject, CHAIN_START};
use crate::times::jst_display;
use aws_sdk_cloudwatchlogs::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// The variable naming the mirror's log group (the stack output `AuditLogGroupName`).
pub const MIRROR_VARIABLE: &str = "AUDIT_LOG_GROUP";

/// How many pages of one stream `verify` reads at most (10,000 events each, far beyond any
/// account's history): a bound on what a huge stream can make it do.
const MAX_PAGES: usize = 1000;

/// The copy of the audit log in CloudWatch Logs: one stream per subject (`audit/<key>`).
#[derive(Debug, Clone)]
pub struct AuditMirror {
    client: aws_sdk_cloudwatchlogs::Client,
    group: String,
}

impl AuditMirror {
    pub fn new(client: aws_sdk_cloudwatchlogs::Client, group: String) -> Self {
        Self { client, group }
    }

    /// From `AUDIT_LOG_GROUP`; `None` when unset.
    pub fn from_env(config: &aws_config::SdkConfig) -> Option<Self> {
        let group = reset_core::config::Variables::from_env().optional(MIRROR_VARIABLE)?;
        Some(Self::new(aws_sdk_cloudwatchlogs::Client::new(config), group))
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    fn stream(subject: &AuditSubject) -> String {
        format!("audit/{}", subject.key())
    }

    /// Appends `entry` (as JSON) to its subject's stream, creating the stream the first time.
    pub async fn append(&self, entry: &AuditEntry) -> Result<(), String> {
        let stream = Self::stream(&entry.subject);
        if let Err(error) = self
            .client
            .create_log_stream()
            .log_group_name(&self.group)
            .log_stream_name(&stream)
            .send()
            .await
        {
            if error.code() != Some("ResourceAlreadyExistsException") {
                return Err(DisplayErrorContext(error).to_string());
            }
        }
        let message = serde_json::to_string(entry).map_err(|e| e.to_string())?;
        // The event's time is when it was mirrored: CloudWatch refuses events far from now,
        // and the entry carries its own time.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| e.to_string())?;
        let event = InputLogEvent::builder()
            .timestamp(i64::try_from(now.as_millis()).unwrap_or(i64::MAX))
            .message(message)
            .build()
            .map_err(|e| e.to_string())?;
        self.client
            .put_log_events()
            .log_group_name(&self.group)
            .log_stream_name(&stream)
            .log_events(event)
            .send()
            .await
            .map_err(|e| DisplayErrorContext(e).to_string())?;
        Ok(())
    }

    /// Every entry mirrored for `subject`, oldest first (none when the stream does not exist).
    pub async fn entries(&self, subject: &AuditSubject) -> Result<Vec<AuditEntry>, String> {
        let mut found = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = match self
                .client
                .get_log_events()
                .log_group_name(&self.group)
                .log_stream_name(Self::stream(subject))
                .start_from_head(true)
                .set_next_token(token.clone())
                .send()
                .await
            {
                Ok(page) => page,
                Err(error) if error.code() == Some("ResourceNotFoundException") => return Ok(found),
                Err(error) => return Err(DisplayErrorContext(error).to_string()),
            };
            for event in page.events() {
                let entry: AuditEntry = serde_json::from_str(event.message().unwrap_or_default())
                    .map_err(|e| format!("a mirrored event is not an audit entry: {e}"))?;
                found.push(entry);
            }
            // The forward token repeats once the end is reached.
            let next = page.next_forward_token().map(str::to_owned);
            if next.is_none() || next == token || page.events().is_empty() {
                return Ok(found);
            }
            token = next;
        }
        Err(format!("more than {MAX_PAGES} pages of events; stopped"))
    }
}

/// Why the chain breaks at an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Break {
    /// Its content no longer gives its hash: rewritten.
    Altered,
    /// It has no hash, after entries that have one: written around the tool.
    Unchained,
    /// Its `prev_hash` is no entry's hash: the entry before it was removed or rewritten.
    MissingPrevious,
    /// Another entry already links to the same predecessor.
    Fork,
    /// The mirror has an entry the table does not (removed, or rewritten since).
    MissingFromTable,
    /// The table has an entry the mirror does not (written around the tool, or the mirror
    /// failed when it was written: the tool warned then).
    NotMirrored,
}

impl fmt::Display for Break {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Break::Altered => "its content does not give its hash: it was changed after it was written",
            Break::Unchained => "it has no hash although earlier entries have: it was written around reset-admin",
            Break::MissingPrevious => "the entry it links to is gone or was changed",
            Break::Fork => "another entry links to the same predecessor",
            Break::MissingFromTable => "the mirror holds it, the table does not (removed or rewritten)",
            Break::NotMirrored => "the table holds it, the mirror does not",
        })
    }
}

/// The first broken link: which entry, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    pub audit_id: String,
    pub at: i64,
    pub action: &'static str,
    pub why: Break,
}

impl fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "entry {} ({} JST, {}): {}",
            self.audit_id,
            jst_display(self.at),
            self.action,
            self.why
        )
    }
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub entries: usize,
    /// Entries from before the chain existed (no hash), at its start.
    pub unchained_before: usize,
    /// Entries in the mirror; `None` when no mirror was read.
    pub mirrored: Option<usize>,
    pub first_break: Option<BrokenLink>,
}

/// Checks `entries` (any order) and, if given, the mirror's copies of them.
pub fn check_chain(entries: &[AuditEntry], mirror: Option<&[AuditEntry]>) -> ChainReport {
    let mut ordered: Vec<&AuditEntry> = entries.iter().collect();
    ordered.sort_by(|a, b| a.audit_id.cmp(&b.audit_id));
    let unchained_before = ordered.iter().take_while(|e| e.hash.is_none()).count();
    let chained = &ordered[unchained_before..];
    let hashes: HashSet<&str> = chained.iter().filter_map(|e| e.hash.as_deref()).collect();
    let mut breaks: Vec<BrokenLink> = Vec::new();
    let broken = |entry: &AuditEntry, why| BrokenLink {
        audit_id: entry.audit_id.clone(),
        at: entry.at,
        action: entry.action.code(),
        why,
    };
    let mut successors: HashMap<&str, usize> = HashMap::new();
    for entry in chained {
        let Some(hash) = entry.hash.as_deref() else {
            breaks.push(broken(entry, Break::Unchained));
            continue;
        };
        if entry.computed_hash() != hash {
            breaks.push(broken(entry, Break::Altered));
            continue;
        }
        let prev = entry.prev_hash.as_deref().unwrap_or_default();
        if prev != CHAIN_START && !hashes.contains(prev) {
            breaks.push(broken(entry, Break::MissingPrevious));
            continue;
        }
        let seen = successors.entry(prev).or_insert(0);
        *seen += 1;
        if *seen > 1 {
            breaks.push(broken(entry, Break::Fork));
        }
    }
    if let Some(mirror) = mirror {
        let mirrored: HashSet<&str> = mirror.iter().filter_map(|e| e.hash.as_deref()).collect();
        for copy in mirror {
            if copy.hash.as_deref().is_some_and(|h| !hashes.contains(h)) {
                breaks.push(broken(copy, Break::MissingFromTable));
            }
        }
        for entry in chained {
            if entry.hash.as_deref().is_some_and(|h| !mirrored.contains(h)) {
                breaks.push(broken(entry, Break::NotMirrored));
            }
        }
    }
    breaks.sort_by(|a, b| a.audit_id.cmp(&b.audit_id));
    ChainReport {
        entries: entries.len(),
        unchained_before,
        mirrored: mirror.map(<[AuditEntry]>::len),
        first_break: breaks.into_iter().next(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Actor, AuditAction, CallerIdentity, Change, Reason};
    use reset_core::domain::{Timestamp, Username};

    fn chain(n: i64) -> Result<Vec<AuditEntry>, Box<dyn std::error::Error>> {
        let username = Username::parse("ex000000")?;
        let mut entries: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let change = Change {
                actor: Actor::parse("yamada")?,
                caller: CallerIdentity::parse("arn:aws:sts::123456789012:user/moto")?,
                reason: Reason::parse(&format!("ticket {i}"))?,
                at: Timestamp::from_millis(1_700_000_000_000 + i * 1000),
            };
            let entry = AuditEntry::new(&username, AuditAction::Disable, &change)?;
            let prev = entries.last().and_then(|e| e.hash.clone());
            entries.push(entry.linked_after(prev.as_deref()));
        }
        Ok(entries)
    }

    #[test]
    fn an_intact_chain_and_its_mirror_verify() -> Result<(), Box<dyn std::error::Error>> {
        let entries = chain(4)?;
        let report = check_chain(&entries, Some(&entries));
        assert_eq!(report.first_break, None);
        assert_eq!((report.entries, report.mirrored), (4, Some(4)));
        Ok(())
    }

    #[test]
    fn a_rewritten_a_removed_and_a_recomputed_entry_are_each_found() -> Result<(), Box<dyn std::error::Error>> {
        let original = chain(4)?;
        let mut rewritten = original.clone();
        rewritten[1].reason = "nothing happened".into();
        let found = check_chain(&rewritten, None).first_break;
        assert_eq!(
            found.map(|b| (b.audit_id, b.why)),
            Some((original[1].audit_id.clone(), Break::Altered))
        );

        let mut removed = original.clone();
        removed.remove(1);
        let found = check_chain(&removed, None).first_break;
        assert_eq!(
            found.map(|b| (b.audit_id, b.why)),
            Some((original[2].audit_id.clone(), Break::MissingPrevious))
        );

        // Rewritten and the rest of the chain recomputed: consistent in itself, not with the mirror.
        let mut forged = original.clone();
        forged[2].reason = "nothing happened".into();
        for i in 2..forged.len() {
            let prev = forged[i - 1].hash.clone();
            forged[i] = forged[i].clone().linked_after(prev.as_deref());
        }
        assert_eq!(check_chain(&forged, None).first_break, None);
        let found = check_chain(&forged, Some(&original)).first_break;
        assert_eq!(
            found.map(|b| (b.audit_id, b.why)),
            Some((original[2].audit_id.clone(), Break::MissingFromTable))
        );

        // The newest removed: only the mirror can tell.
        let shortened = &original[..3];
        let found = check_chain(shortened, Some(&original)).first_break;
        assert_eq!(found.map(|b| b.why), Some(Break::MissingFromTable));
        Ok(())
    }
}
