//! `mail-problems`.

use anyhow::Result;
use reset_admin::render::mail_problems_table;
use reset_admin::Accounts;
use std::process::ExitCode;

/// `mail-problems`: the accounts whose mail does not arrive, newest first.
pub async fn list(config: &aws_config::SdkConfig, limit: usize) -> Result<ExitCode> {
    let accounts = Accounts::from_config(config)?;
    let rows = accounts.mail_problems(limit).await?;
    print!("{}", mail_problems_table(&rows));
    Ok(ExitCode::SUCCESS)
}
