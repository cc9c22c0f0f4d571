//! `mail-queue` and `mail-queue redrive`.

use super::Session;
use anyhow::{Context, Result};
use reset_admin::audit::{AuditAction, AuditEntry};
use reset_admin::mail_queue::MailQueues;
use reset_admin::render::{depth_line, no_dead_letters, oldest_dead_letter, progress_bar, redrive_line};
use reset_admin::{Accounts, AdminError, AuditSubject};
use reset_core::domain::{Clock, SystemClock};
use std::process::ExitCode;

/// `mail-queue`: both queues' depths and the oldest dead letter.
pub async fn status(config: &aws_config::SdkConfig) -> Result<ExitCode> {
    let queues = MailQueues::from_config(config)?;
    let main = queues.main_depth().await?;
    let dead = queues.dead_letter_depth().await?;
    println!("{}", depth_line("mail queue", queues.main_url(), &main));
    println!("{}", depth_line("dead-letter queue", queues.dead_letter_url(), &dead));
    if dead.total() > 0 {
        let oldest = queues.oldest_dead_letter_sent_at().await?;
        println!("{}", oldest_dead_letter(oldest, SystemClock.now()));
    } else {
        println!("{}", no_dead_letters());
    }
    Ok(ExitCode::SUCCESS)
}

/// `mail-queue redrive --reason ...`: the dead letters back to the mail queue, audited.
pub async fn redrive(session: Session<'_>, reason: &str) -> Result<ExitCode> {
    let queues = MailQueues::from_config(session.config)?;
    let accounts = Accounts::from_config(session.config)?;
    let change = session.change(reason).await?;
    let moving = progress_bar("moving");
    let result = queues.redrive(|_| moving.inc(1)).await;
    moving.finish_and_clear();
    let moved = match &result {
        Ok(moved) => *moved,
        Err(AdminError::RedriveInterrupted { moved, .. }) => *moved,
        Err(_) => 0,
    };
    if moved > 0 {
        // Recorded even when the move stopped midway: what moved, moved.
        let entry = AuditEntry::new(AuditSubject::MailQueue, AuditAction::Redrive, &change)?
            .with_count(u64::try_from(moved).unwrap_or(u64::MAX));
        accounts.record(&entry).await.with_context(|| {
            format!("{moved} message(s) were moved back to the mail queue, but the audit record could not be written")
        })?;
    }
    println!("{}", redrive_line(result?, queues.dead_letter_url(), queues.main_url()));
    Ok(ExitCode::SUCCESS)
}
