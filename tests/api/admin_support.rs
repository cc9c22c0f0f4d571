//! What the tests of the admin tool share. Not in the support library: the tests crate takes
//! reset-admin as a dev-dependency only, so that building the functions from the workspace
//! root never unifies the admin tool's aws-config features (SSO, credential_process) into them.

use anyhow::Result;
use password_reset_tests::reset_core::domain::{Clock, SystemClock};

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
