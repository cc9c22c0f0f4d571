//! `audit USERNAME` and `audit verify USERNAME`.

use super::username;
use anyhow::Result;
use reset_admin::audit_chain::check_chain;
use reset_admin::render::{audit_log, audit_usage, chain_report, no_mirror_note};
use reset_admin::{Accounts, AdminError, AuditSubject};
use std::process::ExitCode;

/// An account's username, or `mail-queue` for the mail queue's own log.
fn audit_subject(typed: &str) -> Result<AuditSubject, AdminError> {
    if typed.trim() == AuditSubject::MAIL_QUEUE_KEY {
        return Ok(AuditSubject::MailQueue);
    }
    username(typed).map(AuditSubject::Account)
}

/// `audit verify USERNAME`: the hash chain of the account's audit log, against its mirror.
pub async fn verify(config: &aws_config::SdkConfig, typed: &str) -> Result<ExitCode> {
    let subject = audit_subject(typed)?;
    let accounts = Accounts::from_config(config)?;
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
pub async fn show(config: &aws_config::SdkConfig, typed: &str) -> Result<ExitCode> {
    let subject = audit_subject(typed)?;
    let accounts = Accounts::from_config(config)?;
    let entries = accounts.audit_trail(subject.clone()).await?;
    print!("{}", audit_log(&subject, &entries));
    Ok(ExitCode::SUCCESS)
}

/// `audit` alone: what to type instead.
pub fn usage() -> ExitCode {
    println!("{}", audit_usage());
    ExitCode::FAILURE
}
