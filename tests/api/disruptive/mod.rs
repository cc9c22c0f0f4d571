//! Tests that stop or freeze the SES emulator every other test mails through, or freeze the
//! shared DynamoDB Local (the 5xx metric, the PreTraffic hook). scripts/test.sh skips this module in the main run
//! (`--skip disruptive::`) and runs it alone afterwards.

mod mail_queue;
mod pre_traffic;
mod probe;
mod server_errors;

/// The tests here run side by side (`--test-threads 4`); the SES ones tolerate each other, but
/// none tolerates DynamoDB frozen under it: they share this lock, the DynamoDB test exclusively.
pub(crate) static SHARED_STACK: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Sends a signal to one service of the shared `make test` stack (`ses`, `dynamodb`: the name
/// of its pid file under `.local/<STACK_NAME>/`).
pub(crate) fn signal_stack_service(service: &str, signal: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    let stack = std::env::var("STACK_NAME").context("STACK_NAME is not set: run the tests through `make test`")?;
    let pid_file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(".local/{stack}/{service}.pid"));
    let pid = std::fs::read_to_string(&pid_file).with_context(|| pid_file.display().to_string())?;
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.trim())
        .status()?;
    if !status.success() {
        anyhow::bail!("kill -{signal} of {service} failed");
    }
    Ok(())
}
