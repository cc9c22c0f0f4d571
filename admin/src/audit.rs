//! Who changed which account, when and why. Every change the admin tool makes writes one
//! audit item in the same transaction (or the same batch) as the change itself. Addresses are
//! kept masked only (`e***@example.jp`): the audit log says that an address changed, not what
//! it is.

use crate::error::AdminError;
use reset_core::domain::{Timestamp, Username};
use serde::{Deserialize, Serialize};
use std::fmt;

const MAX_ACTOR_CHARS: usize = 64;
const MAX_REASON_CHARS: usize = 500;

/// The administrator making a change: `--actor`, `RESET_ADMIN_ACTOR`, or the login name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    pub fn parse(value: &str) -> Result<Self, AdminError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(AdminError::InvalidActor("is empty"));
        }
        if value.chars().count() > MAX_ACTOR_CHARS {
            return Err(AdminError::InvalidActor("is longer than 64 characters"));
        }
        if value.chars().any(char::is_control) {
            return Err(AdminError::InvalidActor("contains control characters"));
        }
        Ok(Self(value.to_owned()))
    }

    /// The first of: `explicit` (from `--actor` or `RESET_ADMIN_ACTOR`), `$USER`, `$LOGNAME`,
    /// the login name of this process's user (Linux, where containers often leave `$USER` unset).
    pub fn resolve(explicit: Option<&str>) -> Result<Self, AdminError> {
        if let Some(name) = explicit {
            return Self::parse(name);
        }
        ["USER", "LOGNAME"]
            .iter()
            .filter_map(|var| std::env::var(var).ok())
            .find(|name| !name.trim().is_empty())
            .or_else(login_name_from_os)
            .ok_or(AdminError::UnknownActor)
            .and_then(|name| Self::parse(&name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of the process's real user from /proc and /etc/passwd; `None` elsewhere.
fn login_name_from_os() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_owned();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() > 2 && fields[2] == uid && !fields[0].is_empty()).then(|| fields[0].to_owned())
    })
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a change was made, e.g. a help-desk ticket: required for every change of an existing
/// account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason(String);

impl Reason {
    pub fn parse(value: &str) -> Result<Self, AdminError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(AdminError::InvalidReason("is empty: say why (e.g. the ticket number)"));
        }
        if value.chars().count() > MAX_REASON_CHARS {
            return Err(AdminError::InvalidReason("is longer than 500 characters"));
        }
        if value.chars().any(char::is_control) {
            return Err(AdminError::InvalidReason("contains control characters"));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who, why and when: what every audited operation is given.
#[derive(Debug, Clone)]
pub struct Change {
    pub actor: Actor,
    pub reason: Reason,
    pub at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditAction {
    Create,
    Import,
    SetEmail,
    Disable,
    Enable,
}

impl AuditAction {
    pub fn code(self) -> &'static str {
        match self {
            AuditAction::Create => "create",
            AuditAction::Import => "import",
            AuditAction::SetEmail => "set-email",
            AuditAction::Disable => "disable",
            AuditAction::Enable => "enable",
        }
    }
}

/// One item of the audit log table (key: `username` + `audit_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub username: Username,
    /// Zero-padded epoch ms, `#`, random hex: sorts by time, unique without coordination.
    pub audit_id: String,
    /// Epoch ms.
    pub at: i64,
    pub actor: String,
    pub action: AuditAction,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_email_masked: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_email_masked: Option<String>,
}

impl AuditEntry {
    pub fn new(username: &Username, action: AuditAction, change: &Change) -> Result<Self, AdminError> {
        let mut random = [0u8; 4];
        getrandom::fill(&mut random)
            .map_err(|e| AdminError::Unavailable(format!("OS random number generator: {e}")))?;
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            username: username.clone(),
            audit_id: format!("{:013}#{suffix}", change.at.as_millis()),
            at: change.at.as_millis(),
            actor: change.actor.as_str().to_owned(),
            action,
            reason: change.reason.as_str().to_owned(),
            old_email_masked: None,
            new_email_masked: None,
        })
    }

    pub fn with_emails(mut self, old_masked: Option<String>, new_masked: Option<String>) -> Self {
        self.old_email_masked = old_masked;
        self.new_email_masked = new_masked;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_and_actors_must_say_something() {
        assert!(Reason::parse("  ").is_err());
        assert!(Reason::parse("line\nbreak").is_err());
        assert!(Reason::parse(&"x".repeat(501)).is_err());
        assert_eq!(
            Reason::parse(" チケット#123 ").map(|r| r.as_str().to_owned()).ok(),
            Some("チケット#123".into())
        );
        assert!(Actor::parse("").is_err());
        assert!(Actor::parse(&"a".repeat(65)).is_err());
        assert_eq!(
            Actor::resolve(Some("yamada")).map(|a| a.to_string()).ok(),
            Some("yamada".into())
        );
    }

    #[test]
    fn audit_ids_sort_by_time_and_do_not_collide() -> Result<(), AdminError> {
        let username = Username::parse("ex000000").map_err(|e| AdminError::invalid_username("ex000000", e))?;
        let change = |ms| Change {
            actor: Actor("a".into()),
            reason: Reason("r".into()),
            at: Timestamp::from_millis(ms),
        };
        let early = AuditEntry::new(&username, AuditAction::Disable, &change(999))?;
        let late = AuditEntry::new(&username, AuditAction::Enable, &change(1_775_005_203_250))?;
        let same_time = AuditEntry::new(&username, AuditAction::Enable, &change(1_775_005_203_250))?;
        assert!(early.audit_id < late.audit_id);
        assert_ne!(late.audit_id, same_time.audit_id);
        assert!(early.audit_id.starts_with("0000000000999#"));
        Ok(())
    }
}
