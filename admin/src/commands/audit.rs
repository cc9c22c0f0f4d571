//! `audit USERNAME` and `audit verify USERNAME`.

use super::{username, Session};
use anyhow::Result;
use reset_admin::audit_chain::check_chain;
use reset_admin::render::{audit_log, audit_usage, chain_report, no_mirror_note};
use reset_admin::AccountSource;
use reset_admin::{source, AdminError, AuditSubject};
use std::process::ExitCode;

/// An account's username (the store's own spelling: a case-insensitive pool answers any), or
/// `mail-queue` for the mail queue's own log.
async fn audit_subject(accounts: &dyn AccountSource, typed: &str) -> Result<AuditSubject, AdminError> {
    if typed.trim() == AuditSubject::MAIL_QUEUE_KEY {
        return Ok(AuditSubject::MailQueue);
    }
    Ok(AuditSubject::Account(accounts.audit_key(&username(typed)?).await?))
}

/// `audit verify USERNAME`: the hash chain of the account's audit log, against its mirror.
pub async fn verify(session: Session<'_>, typed: &str) -> Result<ExitCode> {
    let source = source::open(session.config, session.store)?;
    let subject = audit_subject(source.as_ref(), typed).await?;
    let accounts = source.audit();
    let entries = accounts.audit_trail(subject.clone()).await?;
    let mirrored = match accounts.mirror() {
        Some(mirror) => Some(mirror.entries(&subject).await.map_err(AdminError::Unavailable)?),
        None => {
            eprintln!("{}", no_mirror_note());
            None
        }
    };
    let report = check_chain(&entries, mirrored.as_deref());
    print!("{}", chain_report(&subject, &report));
    Ok(if report.first_break.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `audit USERNAME`: the account's audit log, newest first.
pub async fn show(session: Session<'_>, typed: &str) -> Result<ExitCode> {
    let source = source::open(session.config, session.store)?;
    let subject = audit_subject(source.as_ref(), typed).await?;
    let accounts = source.audit();
    let entries = accounts.audit_trail(subject.clone()).await?;
    print!("{}", audit_log(&subject, &entries));
    Ok(ExitCode::SUCCESS)
}

/// `audit` alone: what to type instead.
pub fn usage() -> ExitCode {
    println!("{}", audit_usage());
    ExitCode::FAILURE
}
