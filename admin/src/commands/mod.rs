//! One function per command of `reset-admin`, one file per command group; `main.rs` holds the
//! command line and the dispatch. Everything printed comes from `reset_admin::render`.

pub mod address_requests;
pub mod audit;
pub mod import;
pub mod mail_problems;
pub mod mail_queue;
pub mod tables;
pub mod user;
pub mod users;

use reset_admin::{Actor, AdminError, CallerIdentity, Change, Reason};
use reset_core::config::StoreKind;
use reset_core::domain::{Clock, SystemClock, Username};

/// What every command starts from: the SDK's configuration, loaded once, and who is acting
/// (`--actor`, when given).
#[derive(Clone, Copy)]
pub struct Session<'a> {
    pub config: &'a aws_config::SdkConfig,
    pub actor: Option<&'a str>,
    /// Where the accounts live (`--password-store`, `PASSWORD_STORE`).
    pub store: StoreKind,
}

impl Session<'_> {
    /// Refuses `command` on a user pool: it writes or reads the users table itself.
    pub fn users_table_only(&self, command: &'static str) -> Result<(), AdminError> {
        match self.store {
            StoreKind::DynamoDb => Ok(()),
            StoreKind::Cognito => Err(AdminError::NotWithPool(command)),
        }
    }

    /// Who, why and when of a change. The typed parts are checked first, so a typo costs no
    /// call; then STS says who is really calling, and without that answer nothing is written.
    pub async fn change(&self, reason: &str) -> Result<Change, AdminError> {
        let actor = Actor::resolve(self.actor)?;
        let reason = Reason::parse(reason)?;
        let caller = CallerIdentity::look_up(self.config).await?;
        Ok(Change {
            actor,
            caller,
            reason,
            at: SystemClock.now(),
        })
    }
}

/// A username as typed (surrounding blanks ignored).
pub fn username(typed: &str) -> Result<Username, AdminError> {
    Username::parse(typed.trim()).map_err(|reason| AdminError::invalid_username(typed, reason))
}
