//! What `reset-admin` prints: the audit and queue lines, the tables of pending requests, and
//! the JSON views of an account and of an address request (times in JST, addresses masked
//! where the reader does not need them whole, stored text passed through `visible`).

use crate::accounts::{AccountRecord, EmailChange, MailProblemRow, StatusChange};
use crate::address_requests::{is_bouncing, notice_fate, refusals, Approval};
use crate::audit::{AuditEntry, AuditSubject};
use crate::audit_chain::{ChainReport, MIRROR_VARIABLE};
use crate::import::{ImportOutcome, ImportPlan};
use crate::mail_queue::{human_age, queue_name, QueueDepth};
use crate::template::TableDefinition;
use crate::text::visible;
use crate::times::{jst_display, jst_iso};
use indicatif::{ProgressBar, ProgressStyle};
use reset_core::domain::{
    AccountStatus, AddressRequest, AddressRequestId, AddressRequestState, Language, Timestamp, User, Username,
};
use reset_core::store::PendingRequest;
use serde::Serialize;
use std::borrow::Cow;
use std::fmt::Write;

pub fn audit_line(entry: &AuditEntry) -> String {
    let emails = match (&entry.old_email_masked, &entry.new_email_masked) {
        (Some(old), Some(new)) => format!("  {} -> {}", visible(old), visible(new)),
        (None, Some(new)) => format!("  {}", visible(new)),
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

/// One row of `reset-admin mail-problems`.
pub fn mail_problem_line(row: &MailProblemRow) -> String {
    format!(
        "{} JST  {}  {:<9}  {:<28}  {:<24}  {}",
        jst_display(row.mail_problem_at),
        row.username,
        visible(&row.mail_problem),
        // Bounce diagnostics come from remote mail servers: show them as stored.
        visible(row.mail_problem_detail.as_deref().unwrap_or("-")),
        row.email.masked(),
        if row.status == AccountStatus::Disabled {
            "disabled"
        } else {
            "active"
        },
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
    /// Only for a user pool's account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pool: Option<PoolView<'a>>,
}

/// What a user pool says of its user beside the rest.
#[derive(Serialize)]
pub struct PoolView<'a> {
    user_status: &'a str,
    email_verified: bool,
    /// Whether the functions mail this user a link now.
    may_reset: bool,
}

#[derive(Serialize)]
pub struct MailEventView<'a> {
    kind: std::borrow::Cow<'a, str>,
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
                kind: visible(kind),
                detail: None,
                at: time(account.last_mail_event_at),
            }),
            mail_problem: account.mail_problem.as_deref().map(|kind| MailEventView {
                kind: visible(kind),
                detail: account.mail_problem_detail.as_deref().map(visible),
                at: time(account.mail_problem_at),
            }),
            pool: account.pool.as_ref().map(|pool| PoolView {
                user_status: &pool.user_status,
                email_verified: pool.email_verified,
                may_reset: pool.may_reset,
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
    institution: Cow<'a, str>,
    location: Cow<'a, str>,
    contact_person: Cow<'a, str>,
    new_email: Cow<'a, str>,
    language: Language,
    created_at: String,
    verified_at: Option<String>,
    expires_at: String,
    expired: bool,
    account: Option<RequestAccountView>,
    /// The notice to the registered address, and when the owner's time to object ends.
    notice: NoticeView,
    /// What `approve` would say now: empty when it may go ahead.
    approval_refused_because: Vec<String>,
    decided_at: Option<String>,
    decided_by: Option<String>,
    decision_reason: Option<String>,
}

#[derive(Serialize)]
pub struct RequestAccountView {
    email: String,
    status: AccountStatus,
    email_changed_at: Option<String>,
    /// Nobody at the registered address can object: approve need not wait for the notice.
    registered_address_bouncing: bool,
}

#[derive(Serialize)]
pub struct NoticeView {
    /// queued, sent, bounced, expired, failed (or none: confirmed before notices were tracked).
    fate: &'static str,
    sent_at: Option<String>,
    objection_window_ends_at: Option<String>,
}

impl<'a> RequestView<'a> {
    pub fn of(
        request: &'a AddressRequest,
        account: Option<&AccountRecord>,
        now: Timestamp,
        objection_window_secs: i64,
    ) -> Self {
        let refused = match request.state {
            AddressRequestState::Pending => refusals(request, account, now, objection_window_secs)
                .iter()
                .map(|r| visible(&r.to_string()).into_owned())
                .collect(),
            _ => Vec::new(),
        };
        Self {
            id: request.request_id.as_str(),
            state: request.state.code(),
            username: request.username.as_str(),
            // Typed by a stranger: shown as stored, hidden characters by code point.
            institution: visible(request.institution.as_str()),
            location: visible(request.location.as_str()),
            contact_person: visible(request.contact_person.as_str()),
            new_email: visible(request.new_email.as_str()),
            language: request.language,
            created_at: jst_iso(request.created_at),
            verified_at: request.verified_at.map(jst_iso),
            expires_at: jst_iso(request.expires_at * 1000),
            expired: request.is_expired_at(now),
            account: account.map(|a| RequestAccountView {
                email: a.email.masked(),
                status: a.status,
                email_changed_at: a.email_changed_at.map(jst_iso),
                registered_address_bouncing: is_bouncing(a),
            }),
            notice: NoticeView {
                fate: notice_fate(request, account, now),
                sent_at: request.notice_sent_at.map(jst_iso),
                objection_window_ends_at: request
                    .notice_sent_at
                    .map(|at| jst_iso(at + objection_window_secs * 1000)),
            },
            approval_refused_because: refused,
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

/// `tables create`'s line for one table.
pub fn table_line(name: &str, table: &TableDefinition, created: bool) -> String {
    let state = if created { "created" } else { "already exists" };
    format!("table {name} ({}, from {}): {state}", table.env_var, table.logical_id)
}

/// `audit verify`'s report: the counts, then whether the chain holds.
pub fn chain_report(subject: &AuditSubject, report: &ChainReport) -> String {
    let mirror = report
        .mirrored
        .map_or_else(|| "no mirror read".to_owned(), |n| format!("{n} in the mirror"));
    let mut out = format!(
        "audit log of {subject}: {} entries ({} from before the chain), {mirror}\n",
        report.entries, report.unchained_before
    );
    match &report.first_break {
        None => out.push_str("the chain is intact\n"),
        Some(broken) => {
            let _ = writeln!(out, "BROKEN: first broken link at {}", visible(&broken.to_string()));
        }
    }
    out
}

/// `audit USERNAME`: one line per entry, or a note that there is none.
pub fn audit_log(subject: &AuditSubject, entries: &[AuditEntry]) -> String {
    if entries.is_empty() {
        return format!("no audit entries for {subject}\n");
    }
    entries.iter().map(|entry| audit_line(entry) + "\n").collect()
}

/// `import`'s check of the file: its rejected lines and the counts.
pub fn import_plan(file: &std::path::Path, plan: &ImportPlan) -> String {
    let mut out = format!("{}: {} row(s) below the header line\n", file.display(), plan.lines());
    for rejected in &plan.rejected {
        let _ = writeln!(out, "  rejected {rejected}");
    }
    let _ = writeln!(
        out,
        "new: {}, already registered (unchanged): {}, rejected: {}",
        plan.to_create.len(),
        plan.already_registered.len(),
        plan.rejected.len()
    );
    out
}

/// `import --apply`'s result.
pub fn import_outcome(outcome: &ImportOutcome) -> String {
    let mut out = String::new();
    for row in &outcome.taken_meanwhile {
        let _ = writeln!(
            out,
            "  already created line {} ({}): registered since the check (by another run or administrator); left unchanged",
            row.line, row.username
        );
    }
    let written = outcome.created.len();
    if written == 0 {
        out.push_str("written: 0 account(s): every account of the file is already registered\n");
    } else {
        let _ = writeln!(
            out,
            "written: {written} account(s), each with its audit record (no password yet: each owner sets one with the reset page)"
        );
    }
    out
}

/// `mail-queue`'s line about the oldest dead letter (`None`: all in flight right now).
pub fn oldest_dead_letter(sent_at: Option<i64>, now: Timestamp) -> String {
    match sent_at {
        Some(sent) => format!(
            "oldest dead letter seen: first queued {} JST ({} ago); move them back with `reset-admin mail-queue redrive --reason ...`",
            jst_display(sent),
            human_age(now.as_millis() - sent)
        ),
        None => "the dead letters are all in flight right now; look again in a minute".to_owned(),
    }
}

/// `mail-queue redrive`'s result.
pub fn redrive_line(moved: usize, dead_letter_url: &str, main_url: &str) -> String {
    if moved == 0 {
        "the dead-letter queue is empty: nothing moved".to_owned()
    } else {
        format!(
            "moved {moved} message(s) from {} back to {} (audited under `reset-admin audit mail-queue`)",
            queue_name(dead_letter_url),
            queue_name(main_url)
        )
    }
}

/// `mail-problems`: a header and one line per account, or a note that there is none.
pub fn mail_problems_table(rows: &[MailProblemRow]) -> String {
    if rows.is_empty() {
        return "no account has an unresolved mail problem\n".to_owned();
    }
    let mut out = format!(
        "{:<23}  {:<8}  {:<9}  {:<28}  {:<24}  status\n",
        "time of the problem", "username", "problem", "detail", "registered address"
    );
    for row in rows {
        out.push_str(&mail_problem_line(row));
        out.push('\n');
    }
    out
}

/// `user create`'s answer: the new account, then the first password when the tool generated it
/// (a given one is not repeated).
pub fn user_created(user: &User, generated_password: Option<&str>) -> String {
    let mut out = format!("created user {} <{}>", user.username, user.email.masked());
    if let Some(password) = generated_password {
        let _ = write!(out, "\ninitial password: {password}");
    }
    out
}

/// `user create --if-missing` for an account that exists.
pub fn user_left_unchanged(username: &Username) -> String {
    format!("user {username} already exists; left unchanged")
}

/// `user show`: the account as JSON (see [`AccountView`]).
pub fn account_json(account: &AccountRecord) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&AccountView::of(account))
}

/// `user disable` and `user enable`: what changed, if anything.
pub fn status_line(username: &Username, status: AccountStatus, outcome: StatusChange) -> String {
    match (status, outcome) {
        (AccountStatus::Disabled, StatusChange::Changed) => {
            format!("disabled {username}: no reset mail, no working link")
        }
        (AccountStatus::Disabled, StatusChange::AlreadySo) => {
            format!("{username} was already disabled; nothing changed")
        }
        (AccountStatus::Active, StatusChange::Changed) => format!("enabled {username}"),
        (AccountStatus::Active, StatusChange::AlreadySo) => format!("{username} was already enabled; nothing changed"),
        (AccountStatus::Disabled, StatusChange::AlreadySoInPool) => format!(
            "{username} was already disabled in the pool; its credential epoch moved on all the same (no working \
             link) and the disable is audited"
        ),
        (AccountStatus::Active, StatusChange::AlreadySoInPool) => format!(
            "{username} was already enabled in the pool; its credential epoch moved on all the same (links from \
             before stay dead) and the enable is audited"
        ),
    }
}

/// `user set-email`: the change, then which addresses were told.
pub fn address_changed(username: &Username, changed: &EmailChange) -> String {
    let change = if changed.already_set {
        format!(
            "{username} already had the address {} in the pool; its credential epoch moved on all the same \
             (links mailed before are dead) and the change is audited",
            changed.new_masked
        )
    } else {
        format!(
            "changed the address of {username}: {} -> {} (in effect for the next reset request; \
             links mailed before are dead)",
            changed.old_masked, changed.new_masked
        )
    };
    format!("{change}\n{}", notices_told(changed))
}

/// Which addresses an address change's notices go to.
fn notices_told(changed: &EmailChange) -> &'static str {
    match (changed.old_address.is_some(), changed.in_pool) {
        (true, _) => "notices queued to the old and the new address",
        (false, true) => {
            "notice queued to the new address only (the address the pool held before is not known any more, on a \
             re-run, or is not one a mail can go to: tell the old address another way if needed)"
        }
        (false, false) => "notices queued to the new address",
    }
}

/// `users check`'s progress on stderr, rewritten in place.
pub fn read_progress(read: usize) -> String {
    format!("\r    {read} accounts read")
}

/// `audit` with neither an account nor `verify`.
pub fn audit_usage() -> String {
    "name an account (`reset-admin audit USERNAME`) or `reset-admin audit verify USERNAME`".to_owned()
}

/// `audit verify`'s note when there is no mirror to compare with.
pub fn no_mirror_note() -> String {
    format!("note: {MIRROR_VARIABLE} is not set: the chain is checked without its mirror")
}

/// `import` when a line was rejected.
pub fn import_refused() -> String {
    "nothing written: fix the rejected lines and run the import again".to_owned()
}

/// `import` without `--apply`.
pub fn import_dry_run() -> String {
    "dry run: nothing written; add --apply to create the new accounts".to_owned()
}

/// `mail-queue` when the dead-letter queue is empty.
pub fn no_dead_letters() -> String {
    "no dead-lettered mail".to_owned()
}

/// `address-requests show`: the request as JSON (see [`RequestView`]).
pub fn request_json(
    request: &AddressRequest,
    account: Option<&AccountRecord>,
    now: Timestamp,
    objection_window_secs: i64,
) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&RequestView::of(request, account, now, objection_window_secs))
}

/// `address-requests approve`: what the approval changed.
pub fn approval_line(id: &AddressRequestId, approval: &Approval) -> String {
    let username = &approval.request.username;
    match &approval.change {
        Some(changed) if changed.already_set => format!(
            "approved address request {id}: the pool already had the address {} for {username} (an interrupted approval, completed now): its credential epoch moved on, older reset links are dead; audited under `reset-admin audit {username}`",
            changed.new_masked
        ),
        Some(changed) => format!(
            "approved address request {id}: changed the address of {username}: {} -> {} (older reset links are dead; audited under `reset-admin audit {username}`)",
            changed.old_masked, changed.new_masked
        ),
        None => format!(
            "approved address request {id}: {username} already had the address {}; the request is marked approved",
            approval.request.new_email.masked()
        ),
    }
}

/// `address-requests reject`.
pub fn rejection_line(id: &AddressRequestId, request: &AddressRequest) -> String {
    format!(
        "rejected address request {id} for {}: the account is unchanged (audited under `reset-admin audit {}`)",
        request.username, request.username
    )
}

/// The last line of a failed command, on stderr: the error and its causes.
pub fn error_line(error: &anyhow::Error) -> String {
    format!("error: {error:#}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{AuditAction, AuditSubject};
    use serde_json::json;
    use unicode_general_category::{get_general_category, GeneralCategory};

    /// What the issue names, from the Unicode data, independent of `text::is_hidden`: every
    /// Cc, Cf, Zl and Zp code point, and the bidirectional controls of UAX #9.
    fn must_show_visibly(c: char) -> bool {
        matches!(
            get_general_category(c),
            GeneralCategory::Control
                | GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        ) || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    }

    /// Every admin view, each with `c` in every field a stranger or a stored item can fill.
    fn every_view_with(c: char) -> Result<Vec<(&'static str, String)>, Box<dyn std::error::Error>> {
        let text = format!("a{c}b");
        let mut views = Vec::new();
        let entry = AuditEntry {
            subject: AuditSubject::MailQueue,
            audit_id: "0000000000001#00".into(),
            at: 1,
            actor: text.clone(),
            caller_arn: Some(format!("arn:aws:sts::1:assumed-role/{text}")),
            action: AuditAction::SetEmail,
            reason: text.clone(),
            old_email_masked: Some(text.clone()),
            new_email_masked: Some(text.clone()),
            count: None,
            prev_hash: None,
            hash: None,
        };
        views.push(("audit", audit_line(&entry)));
        let account: AccountRecord = serde_json::from_value(json!({
            "username": "ex000000", "email": "ex@example.jp", "created_at": 1,
            "last_mail_event": text, "last_mail_event_at": 1,
            "mail_problem": text, "mail_problem_detail": text, "mail_problem_at": 1,
        }))?;
        views.push(("user show", serde_json::to_string_pretty(&AccountView::of(&account))?));
        let row: MailProblemRow = serde_json::from_value(json!({
            "username": "ex000000", "email": "ex@example.jp",
            "mail_problem": text, "mail_problem_detail": text, "mail_problem_at": 1,
        }))?;
        views.push(("mail-problems", mail_problem_line(&row)));
        let request = json!({
            "request_id": "0123456789abcdef0123456789abcdef", "username": "ex000000",
            "institution": text, "location": text, "contact_person": text,
            "new_email": "new@clinic.example.jp", "language": "ja", "state": "pending",
            "created_at": 1, "expires_at": 2, "verified_at": 1, "pending_flag": "pending",
            "decided_by": text, "decision_reason": text,
        });
        // A stored item whose typed text is refused when read is never shown: that is safe too.
        if let Ok(request) = serde_json::from_value::<AddressRequest>(request.clone()) {
            views.push((
                "address-requests show",
                serde_json::to_string_pretty(&RequestView::of(
                    &request,
                    Some(&account),
                    Timestamp::from_millis(1),
                    3600,
                ))?,
            ));
        }
        if let Ok(row) = serde_json::from_value::<PendingRequest>(request) {
            views.push((
                "address-requests list",
                pending_table(&[row], Timestamp::from_millis(1)),
            ));
        }
        views.push((
            "error",
            crate::AdminError::invalid_username(&text, reset_core::domain::UsernameError::WrongLength).to_string(),
        ));
        Ok(views)
    }

    #[test]
    fn every_cc_cf_zl_zp_and_bidi_code_point_is_shown_visibly_in_every_admin_view(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let mut checked = 0;
        // The views' own layout has line breaks: compare with the same views around a plain `x`.
        let plain = every_view_with('x')?;
        for c in (char::MIN..=char::MAX).filter(|&c| must_show_visibly(c)) {
            let shown = format!("<U+{:04X}>", u32::from(c));
            let views = every_view_with(c)?;
            for (view, printed) in &views {
                let layout = plain
                    .iter()
                    .find(|(name, _)| name == view)
                    .map(|(_, layout)| layout.as_str())
                    .unwrap_or_default();
                assert_eq!(
                    printed.matches(c).count(),
                    layout.matches(c).count(),
                    "{view} prints U+{:04X} as itself: {printed:?}",
                    u32::from(c)
                );
                assert!(printed.contains(&shown), "{view} does not show {shown}: {printed:?}");
            }
            checked += 1;
        }
        // Unicode 16: 65 Cc, 170 Cf, 1 Zl, 1 Zp. Fewer would mean the generator lost some.
        assert!(checked >= 237, "only {checked} code points generated");
        Ok(())
    }

    #[test]
    fn every_other_code_point_is_printed_as_itself() {
        for c in (char::MIN..=char::MAX).filter(|&c| !crate::text::is_hidden(c)) {
            let text = format!("a{c}b");
            assert_eq!(crate::text::visible(&text), text, "U+{:04X}", u32::from(c));
        }
        for c in (char::MIN..=char::MAX).filter(|&c| must_show_visibly(c)) {
            assert!(crate::text::is_hidden(c), "U+{:04X} passes the filter", u32::from(c));
        }
    }
}
