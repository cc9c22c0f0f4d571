//! `import FILE [--apply]`.

use super::Session;
use anyhow::{Context, Result};
use reset_admin::import;
use reset_admin::render::{import_dry_run, import_outcome, import_plan, import_refused, progress_bar};
use reset_admin::Accounts;
use std::path::Path;
use std::process::ExitCode;

/// `import FILE [--apply]`: checks every line, then (with --apply) creates the new accounts.
pub async fn file(session: Session<'_>, file: &Path, apply: bool, reason: Option<&str>) -> Result<ExitCode> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let reader = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let parsed = import::read_csv(std::io::BufReader::new(reader))?;
    let accounts = Accounts::from_config(session.config)?;
    let checking = progress_bar("checking");
    let plan = import::plan(&accounts, parsed, &checking).await?;
    checking.finish_and_clear();
    print!("{}", import_plan(file, &plan));
    if !plan.rejected.is_empty() {
        println!("{}", import_refused());
        return Ok(ExitCode::FAILURE);
    }
    if !apply {
        println!("{}", import_dry_run());
        return Ok(ExitCode::SUCCESS);
    }
    let change = session.change(reason.unwrap_or(&format!("import of {name}"))).await?;
    let writing = progress_bar("writing");
    let outcome = import::apply(&accounts, &plan, &change, &writing).await;
    writing.finish_and_clear();
    print!("{}", import_outcome(&outcome?));
    Ok(ExitCode::SUCCESS)
}
