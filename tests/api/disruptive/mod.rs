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

/// The shared DynamoDB Local, frozen (SIGSTOP): its in-memory tables survive for the tests after.
/// Dropping the guard resumes it even when a test fails half-way; `thaw` resumes it and waits
/// until it answers again.
pub(crate) struct FrozenDynamoDb(bool);

/// A client that gives up on DynamoDB Local within half a second, without retrying: the probe of
/// whether it answers.
async fn quick_dynamodb() -> aws_sdk_dynamodb::Client {
    let sdk =
        password_reset_tests::reset_core::app::sdk_config_with(password_reset_tests::reset_core::app::SdkBounds {
            max_attempts: 1,
            connect_timeout: std::time::Duration::from_millis(500),
            attempt_timeout: std::time::Duration::from_millis(500),
            operation_timeout: std::time::Duration::from_millis(500),
        })
        .await;
    aws_sdk_dynamodb::Client::new(&sdk)
}

async fn dynamodb_answers(client: &aws_sdk_dynamodb::Client) -> bool {
    client.list_tables().limit(1).send().await.is_ok()
}

/// Freezes the shared DynamoDB Local and returns once it demonstrably answers nothing: two
/// quick calls in a row get no answer. The checks that follow then meet a frozen table store,
/// not one the signal has not reached yet. (Twice in the fresh-clone runs the PreTraffic hook's
/// request check was answered 200 in ~150 ms right after the signal was sent.)
pub(crate) async fn freeze_dynamodb() -> anyhow::Result<FrozenDynamoDb> {
    signal_stack_service("dynamodb", "STOP")?;
    let frozen = FrozenDynamoDb(false);
    let client = quick_dynamodb().await;
    let mut silent_in_a_row = 0;
    for _ in 0..20 {
        if dynamodb_answers(&client).await {
            silent_in_a_row = 0;
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        } else {
            silent_in_a_row += 1;
            if silent_in_a_row == 2 {
                return Ok(frozen);
            }
        }
    }
    anyhow::bail!("DynamoDB Local still answers after SIGSTOP")
}

impl FrozenDynamoDb {
    /// Resumes DynamoDB Local and waits until it answers again.
    pub(crate) async fn thaw(mut self) -> anyhow::Result<()> {
        signal_stack_service("dynamodb", "CONT")?;
        self.0 = true;
        let client = quick_dynamodb().await;
        for _ in 0..40 {
            if dynamodb_answers(&client).await {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        anyhow::bail!("DynamoDB Local does not answer after SIGCONT")
    }
}

impl Drop for FrozenDynamoDb {
    fn drop(&mut self) {
        if !self.0 {
            let _ = signal_stack_service("dynamodb", "CONT");
        }
    }
}
