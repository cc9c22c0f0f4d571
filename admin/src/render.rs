//! What `reset-admin` prints: the audit and queue lines, the tables of pending requests, and
//! the JSON views of an account and of an address request (times in JST, addresses masked
//! where the reader does not need them whole, stored text passed through `visible`).

use crate::accounts::AccountRecord;
use crate::audit::AuditEntry;
use crate::mail_queue::{queue_name, QueueDepth};
use crate::text::visible;
use crate::times::{jst_display, jst_iso};
use indicatif::{ProgressBar, ProgressStyle};
use reset_core::domain::{AccountStatus, AddressRequest, Language, Timestamp};
use reset_core::store::PendingRequest;
use serde::Serialize;
use std::fmt::Write;

pub fn audit_line(entry: &AuditEntry) -> String {
    let emails = match (&entry.old_email_masked, &entry.new_email_masked) {
        (Some(old), Some(new)) => format!("  {old} -> {new}"),
        (None, Some(new)) => format!("  {new}"),
        _ => String::new(),
    };
    let count = entry.count.map(|n| format!("  {n} message(s)")).unwrap_or_default();
    let caller = entry
        .caller_arn
        .as_deref()
        .map(|arn| format!(" [{}]", visible(arn)))
        .unwrap_or_else(|| " [caller not recorded]".into());
    // Entries written before hidden characters were refused may hold some: show them.
    format!(
        "{} JST  {:<9}  by {}{caller}{emails}{count}  reason: {}",
        jst_display(entry.at),
        entry.action.code(),
        visible(&entry.actor),
        visible(&entry.reason)
    )
}

pub fn depth_line(label: &str, url: &str, depth: &QueueDepth) -> String {
    format!(
        "{label:<18} {:<28} waiting {:>5}  in flight {:>5}  delayed {:>5}",
        queue_name(url),
        depth.waiting,
        depth.in_flight,
        depth.delayed
    )
}

/// `user show`: field order as an administrator reads it; times in JST.
#[derive(Serialize)]
pub struct AccountView<'a> {
    username: &'a str,
    email: String,
    status: AccountStatus,
    language: Language,
    has_password: bool,
    created_at: String,
    password_changed_at: Option<String>,
    email_changed_at: Option<String>,
    last_reset_mail_at: Option<String>,
    last_mail_event: Option<MailEventView<'a>>,
    mail_problem: Option<MailEventView<'a>>,
}

#[derive(Serialize)]
pub struct MailEventView<'a> {
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<std::borrow::Cow<'a, str>>,
    at: Option<String>,
}

impl<'a> AccountView<'a> {
    pub fn of(account: &'a AccountRecord) -> Self {
        let time = |ms: Option<i64>| ms.map(jst_iso);
        Self {
            username: account.username.as_str(),
            email: account.email.masked(),
            status: account.status,
            language: account.language,
            has_password: account.has_password,
            created_at: jst_iso(account.created_at),
            password_changed_at: time(account.password_changed_at),
            email_changed_at: time(account.email_changed_at),
            last_reset_mail_at: time(account.reset_mail_sent_at),
            last_mail_event: account.last_mail_event.as_deref().map(|kind| MailEventView {
                kind,
                detail: None,
                at: time(account.last_mail_event_at),
            }),
            mail_problem: account.mail_problem.as_deref().map(|kind| MailEventView {
                kind,
                detail: account.mail_problem_detail.as_deref().map(visible),
                at: time(account.mail_problem_at),
            }),
        }
    }
}

pub fn progress_bar(message: &'static str) -> ProgressBar {
    // Drawn on stderr only when it is a terminal, so redirected output stays clean.
    let bar = ProgressBar::new(0).with_message(message);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// `2 d 3 h`, `3 h 5 min`, `4 min`: how long a request has waited.
pub fn waited(secs: i64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    match (d, h) {
        (0, 0) => format!("{m} min"),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

/// `address-requests show`: the request as an administrator decides on it. The new address is
/// shown in full (it is what an approval makes the registered address); the current one masked.
#[derive(Serialize)]
pub struct RequestView<'a> {
    id: &'a str,
    state: &'a str,
    username: &'a str,
    institution: &'a str,
    location: &'a str,
    contact_person: &'a str,
    new_email: &'a str,
    language: Language,
    created_at: String,
    verified_at: Option<String>,
    expires_at: String,
    expired: bool,
    account: Option<RequestAccountView>,
    decided_at: Option<String>,
    decided_by: Option<String>,
    decision_reason: Option<String>,
}

#[derive(Serialize)]
pub struct RequestAccountView {
    email: String,
    status: AccountStatus,
    email_changed_at: Option<String>,
}

impl<'a> RequestView<'a> {
    pub fn of(request: &'a AddressRequest, account: Option<&AccountRecord>, now: Timestamp) -> Self {
        Self {
            id: request.request_id.as_str(),
            state: request.state.code(),
            username: request.username.as_str(),
            institution: request.institution.as_str(),
            location: request.location.as_str(),
            contact_person: request.contact_person.as_str(),
            new_email: request.new_email.as_str(),
            language: request.language,
            created_at: jst_iso(request.created_at),
            verified_at: request.verified_at.map(jst_iso),
            expires_at: jst_iso(request.expires_at * 1000),
            expired: request.is_expired_at(now),
            account: account.map(|a| RequestAccountView {
                email: a.email.masked(),
                status: a.status,
                email_changed_at: a.email_changed_at.map(jst_iso),
            }),
            decided_at: request.decided_at.map(jst_iso),
            decided_by: request.decided_by.as_deref().map(|v| visible(v).into_owned()),
            decision_reason: request.decision_reason.as_deref().map(|v| visible(v).into_owned()),
        }
    }
}

/// `address-requests list`: the pending requests, oldest first, one line each.
pub fn pending_table(pending: &[PendingRequest], now: Timestamp) -> String {
    if pending.is_empty() {
        return "no pending address requests\n".to_owned();
    }
    let mut table = format!(
        "{} pending address request(s), oldest first (expired ones are not listed):\n",
        pending.len()
    );
    let _ = writeln!(
        table,
        "{:<32}  {:<8}  {:<19}  {:>11}  INSTITUTION",
        "ID", "USERNAME", "CONFIRMED (JST)", "WAITING"
    );
    for row in pending {
        let _ = writeln!(
            table,
            "{:<32}  {:<8}  {:<19}  {:>11}  {}",
            row.request_id,
            row.username,
            jst_display(row.verified_at),
            waited(row.waiting_secs(now)),
            visible(row.institution.as_str())
        );
    }
    table
}

/// `users check`'s answer: each account the functions cannot read, what is wrong and the fix.
pub fn unreadable_accounts(report: &crate::check::CheckReport) -> String {
    use crate::check::Problem;
    let mut out = String::new();
    if report.unreadable.is_empty() {
        let _ = writeln!(
            out,
            "all {} accounts read as the functions read them",
            report.accounts_read
        );
        return out;
    }
    let _ = writeln!(
        out,
        "{} of {} accounts cannot be read by the functions:",
        report.unreadable.len(),
        report.accounts_read
    );
    for account in &report.unreadable {
        for problem in &account.problems {
            let (what, why) = match problem {
                Problem::Username(why) => ("username", why),
                Problem::Email(why) => ("address", why),
                Problem::Language(why) => ("language", why),
                Problem::Other(why) => ("item", why),
            };
            let _ = writeln!(
                out,
                "  {:<10} {:<8} {}\n             fix: {}",
                visible(&account.stored_username),
                what,
                visible(why),
                problem.fix()
            );
        }
    }
    out
}
