//! Tests that stop or freeze the SES emulator every other test mails through, or freeze the
//! shared DynamoDB Local. scripts/test.sh skips this module in the main run
//! (`--skip disruptive::`) and runs it alone afterwards.

mod mail_queue;
mod server_errors;

/// The tests here run side by side (`--test-threads 4`); the SES ones tolerate each other, but
/// none tolerates DynamoDB frozen under it: they share this lock, the DynamoDB test exclusively.
pub(crate) static SHARED_STACK: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());
