//! `mail-problems`.

use anyhow::Result;
use reset_admin::render::mail_problems_table;
use reset_admin::AccountSource;
use std::process::ExitCode;

/// `mail-problems`: the accounts whose mail does not arrive, newest first (the users table's, or
/// a pool's with its addresses).
pub async fn list(accounts: &dyn AccountSource, limit: usize) -> Result<ExitCode> {
    let rows = accounts.mail_problems(limit).await?;
    print!("{}", mail_problems_table(&rows));
    Ok(ExitCode::SUCCESS)
}
