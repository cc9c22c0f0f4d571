//! What the tests of the admin tool share. Not in the support library: the tests crate takes
//! reset-admin as a dev-dependency only, so that building the functions from the workspace
//! root never unifies the admin tool's aws-config features (SSO, credential_process) into them.

use anyhow::Result;
use password_reset_tests::reset_core::domain::Username;
use password_reset_tests::reset_core::domain::{Clock, SystemClock};
use std::process::{Command, Output};

/// The identity moto's STS answers GetCallerIdentity with.
pub const LOCAL_CALLER_ARN: &str = "arn:aws:sts::123456789012:user/moto";

/// The who, why and when of an administrator's change, as `reset-admin` builds it: the
/// caller's identity comes from STS GetCallerIdentity (moto's server, locally).
pub async fn admin_change(actor: &str, reason: &str) -> Result<reset_admin::Change> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    Ok(reset_admin::Change {
        actor: reset_admin::Actor::parse(actor)?,
        caller: reset_admin::CallerIdentity::look_up(&config).await?,
        reason: reset_admin::Reason::parse(reason)?,
        at: SystemClock.now(),
    })
}

/// reset-admin with ARGS and the test's environment (the local stack): the binary at
/// `RESET_ADMIN_BIN` (make test points it at the one its workspace build made), else
/// `cargo run -q -p reset-admin --features operator-sign-in -- ARGS` (the SSO test needs it).
pub fn reset_admin(args: &[&str]) -> Result<Output> {
    reset_admin_with(args, &[], &[])
}

/// The same, with variables `set` (over the defaults) and `removed` from the environment.
pub fn reset_admin_with(args: &[&str], set: &[(&str, &str)], removed: &[&str]) -> Result<Output> {
    let mut command = match std::env::var_os("RESET_ADMIN_BIN") {
        Some(binary) => Command::new(binary),
        None => {
            let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
            cargo.args(["run", "-q", "-p", "reset-admin", "--features", "operator-sign-in", "--"]);
            cargo
        }
    };
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RESET_ADMIN_ACTOR", "cli-test")
        .envs(set.iter().copied());
    for name in removed {
        command.env_remove(name);
    }
    Ok(command.output()?)
}

/// What the tool printed, stdout then stderr.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A new account made with `reset-admin user create NAME --email NAME@example.jp`.
pub fn created_by_admin() -> Result<Username> {
    let username = password_reset_tests::random_username();
    let name = username.as_str();
    let created = reset_admin(&["user", "create", name, "--email", &format!("{name}@example.jp")])?;
    anyhow::ensure!(created.status.success(), "user create failed: {}", text(&created));
    Ok(username)
}

/// The command failed and said `why`.
pub fn assert_refused(output: &Output, why: &str) {
    assert!(!output.status.success(), "not refused: {}", text(output));
    assert!(text(output).contains(why), "{}", text(output));
}
