//! `users check`.

use anyhow::Result;
use reset_admin::check::check_users;
use reset_admin::render::{read_progress, unreadable_accounts};
use reset_admin::Accounts;
use std::process::ExitCode;

/// `users check`: every account read as the functions read it; exits 1 when one cannot be.
pub async fn check(config: &aws_config::SdkConfig) -> Result<ExitCode> {
    let accounts = Accounts::from_config(config)?;
    let report = check_users(&accounts, |read| eprint!("{}", read_progress(read))).await?;
    eprintln!();
    print!("{}", unreadable_accounts(&report));
    Ok(if report.unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
