//! Who changed which account, when and why. Every change the admin tool makes to an account
//! writes one audit item in the same transaction as the change itself. Addresses are kept
//! masked only (`e***@example.jp`): the audit log says that an address changed, not what it is.
//!
//! "Who" is two things: the free-text actor an administrator types (a name, a help-desk
//! handle) and the AWS identity the command really ran as (STS GetCallerIdentity). The actor
//! says whom to ask; the caller ARN is what nobody can type differently.

use crate::error::{context, AdminError};
use crate::text::find_hidden;
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
        if let Some(found) = find_hidden(value) {
            return Err(AdminError::HiddenCharacter { field: "actor", found });
        }
        Ok(Self(value.to_owned()))
    }

    /// The first of: `explicit` (from `--actor` or `RESET_ADMIN_ACTOR`), `$USER`, `$LOGNAME`,
    /// the login name of this process's user (Linux, where containers often leave `$USER` unset).
    pub fn resolve(explicit: Option<&str>) -> Result<Self, AdminError> {
        if let Some(name) = explicit {
            return Self::parse(name);
        }
        let vars = reset_core::config::Variables::from_env();
        ["USER", "LOGNAME"]
            .iter()
            .find_map(|var| vars.optional(var))
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
        if let Some(found) = find_hidden(value) {
            return Err(AdminError::HiddenCharacter { field: "reason", found });
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The AWS identity (ARN) the command runs as, from STS GetCallerIdentity: an IAM user, an
/// assumed role session (an SSO sign-in is one), or the account root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity(String);

impl CallerIdentity {
    /// Asks STS (GetCallerIdentity needs no permission, so any valid credentials answer).
    /// Fails when there are no credentials or STS cannot be reached: a change must not be
    /// recorded without it.
    pub async fn look_up(config: &aws_config::SdkConfig) -> Result<Self, AdminError> {
        let output = aws_sdk_sts::Client::new(config)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| AdminError::UnknownCaller(with_build_hint(context(e))))?;
        let arn = output
            .arn()
            .ok_or_else(|| AdminError::UnknownCaller("the answer has no ARN".into()))?;
        Self::parse(arn)
    }

    pub fn parse(arn: &str) -> Result<Self, AdminError> {
        let arn = arn.trim();
        if !arn.starts_with("arn:") || arn.len() > 2048 || find_hidden(arn).is_some() {
            return Err(AdminError::UnknownCaller(format!(
                "{:?} is not an ARN",
                arn.chars().take(80).collect::<String>()
            )));
        }
        Ok(Self(arn.to_owned()))
    }

    pub fn arn(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who, why and when: what every audited operation is given.
#[derive(Debug, Clone)]
pub struct Change {
    pub actor: Actor,
    pub caller: CallerIdentity,
    pub reason: Reason,
    pub at: Timestamp,
}

/// What an audit entry is about: an account, or the mail queue (for `mail-queue redrive`).
/// Stored in the table's partition key `username`: the queue's key `mail-queue` can never be a
/// username (exactly 8 alphanumerics), so a Query on one partition still lists one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AuditSubject {
    Account(Username),
    MailQueue,
}

impl AuditSubject {
    pub const MAIL_QUEUE_KEY: &'static str = "mail-queue";

    pub fn key(&self) -> &str {
        match self {
            AuditSubject::Account(username) => username.as_str(),
            AuditSubject::MailQueue => Self::MAIL_QUEUE_KEY,
        }
    }
}

impl TryFrom<String> for AuditSubject {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        if value == Self::MAIL_QUEUE_KEY {
            return Ok(AuditSubject::MailQueue);
        }
        Username::parse(&value)
            .map(AuditSubject::Account)
            .map_err(|e| format!("audit subject {value:?}: {e}"))
    }
}

impl From<AuditSubject> for String {
    fn from(value: AuditSubject) -> Self {
        value.key().to_owned()
    }
}

impl From<Username> for AuditSubject {
    fn from(value: Username) -> Self {
        AuditSubject::Account(value)
    }
}

impl From<&Username> for AuditSubject {
    fn from(value: &Username) -> Self {
        AuditSubject::Account(value.clone())
    }
}

impl fmt::Display for AuditSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuditAction {
    Create,
    Import,
    SetEmail,
    Disable,
    Enable,
    /// Dead-lettered mails moved back to the mail queue.
    Redrive,
    /// An address-change request decided (`address-requests approve / reject`).
    ApproveAddressRequest,
    RejectAddressRequest,
}

impl AuditAction {
    pub fn code(self) -> &'static str {
        match self {
            AuditAction::Create => "create",
            AuditAction::Import => "import",
            AuditAction::SetEmail => "set-email",
            AuditAction::Disable => "disable",
            AuditAction::Enable => "enable",
            AuditAction::Redrive => "redrive",
            AuditAction::ApproveAddressRequest => "approve-address-request",
            AuditAction::RejectAddressRequest => "reject-address-request",
        }
    }
}

/// One item of the audit log table (key: `username` + `audit_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    #[serde(rename = "username")]
    pub subject: AuditSubject,
    /// Zero-padded epoch ms, `#`, random hex: sorts by time, unique without coordination.
    pub audit_id: String,
    /// Epoch ms.
    pub at: i64,
    pub actor: String,
    /// The AWS identity the command ran as. Entries written before it was recorded have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_arn: Option<String>,
    pub action: AuditAction,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_email_masked: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_email_masked: Option<String>,
    /// How many items the operation moved (`redrive`: messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The `hash` of the subject's entry before this one ([`CHAIN_START`] for the first).
    /// Entries written before the chain existed have neither.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_hash: Option<String>,
    /// SHA-256 (hex) of this entry without its `hash`, `prev_hash` included: rewriting or
    /// removing an entry breaks the link to the next, and the mirror keeps every original hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
}

/// The `prev_hash` of a subject's first chained entry.
pub const CHAIN_START: &str = "start";

impl AuditEntry {
    pub fn new(subject: impl Into<AuditSubject>, action: AuditAction, change: &Change) -> Result<Self, AdminError> {
        let mut random = [0u8; 4];
        getrandom::fill(&mut random)
            .map_err(|e| AdminError::Unavailable(format!("OS random number generator: {e}")))?;
        let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
        Ok(Self {
            subject: subject.into(),
            audit_id: format!("{:013}#{suffix}", change.at.as_millis()),
            at: change.at.as_millis(),
            actor: change.actor.as_str().to_owned(),
            caller_arn: Some(change.caller.arn().to_owned()),
            action,
            reason: change.reason.as_str().to_owned(),
            old_email_masked: None,
            new_email_masked: None,
            count: None,
            prev_hash: None,
            hash: None,
        })
    }

    /// This entry as the link after `prev` (the subject's newest hash; `None`: the first).
    pub fn linked_after(mut self, prev: Option<&str>) -> Self {
        self.prev_hash = Some(prev.unwrap_or(CHAIN_START).to_owned());
        self.hash = None;
        self.hash = Some(self.computed_hash());
        self
    }

    /// The hash this entry's content gives: its fields but `hash`, as JSON in declaration
    /// order (serde's, stable), through SHA-256.
    pub fn computed_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let unhashed = Self {
            hash: None,
            ..self.clone()
        };
        // Serializing plain strings and numbers cannot fail; an empty input would never match.
        let bytes = serde_json::to_vec(&unhashed).unwrap_or_default();
        Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn with_emails(mut self, old_masked: Option<String>, new_masked: Option<String>) -> Self {
        self.old_email_masked = old_masked;
        self.new_email_masked = new_masked;
        self
    }

    pub fn with_count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }
}

/// aws-config names the cargo feature an SSO or credential_process profile needs; a local build
/// of the tool leaves them out (Cargo.toml, `operator-sign-in`), so say how to build one with them.
fn with_build_hint(message: String) -> String {
    if message.contains("requires following cargo feature(s) enabled") {
        format!(
            "{message}; this reset-admin was built without them: build it with \
             `cargo build --release -p reset-admin --features operator-sign-in`"
        )
    } else {
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_this_build_cannot_read_names_the_build_that_can() {
        let missing =
            "dispatch failure: other: This behavior requires following cargo feature(s) enabled: sso. ".to_owned();
        let hinted = with_build_hint(missing);
        assert!(hinted.contains("--features operator-sign-in"), "{hinted}");
        let other = "dispatch failure: io error: connection refused".to_owned();
        assert_eq!(with_build_hint(other.clone()), other);
    }

    #[test]
    fn reasons_and_actors_must_say_something() {
        assert!(Reason::parse("  ").is_err());
        assert!(Reason::parse("line\nbreak").is_err());
        assert!(Reason::parse(&"x".repeat(501)).is_err());
        assert_eq!(
            Reason::parse(" チケット#123 ").map(|r| r.as_str().to_owned()).ok(),
            Some("チケット#123".into())
        );
        assert!(matches!(
            Reason::parse("refund\u{202E}4321 tekcit"),
            Err(AdminError::HiddenCharacter { field: "reason", .. })
        ));
        assert!(matches!(
            Actor::parse("yamada\u{2066}"),
            Err(AdminError::HiddenCharacter { field: "actor", .. })
        ));
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
            caller: CallerIdentity("arn:aws:sts::123456789012:assumed-role/Admin/yamada".into()),
            reason: Reason("r".into()),
            at: Timestamp::from_millis(ms),
        };
        let early = AuditEntry::new(username.clone(), AuditAction::Disable, &change(999))?;
        let late = AuditEntry::new(username.clone(), AuditAction::Enable, &change(1_775_005_203_250))?;
        let same_time = AuditEntry::new(username, AuditAction::Enable, &change(1_775_005_203_250))?;
        assert!(early.audit_id < late.audit_id);
        assert_ne!(late.audit_id, same_time.audit_id);
        assert!(early.audit_id.starts_with("0000000000999#"));
        assert_eq!(
            early.caller_arn.as_deref(),
            Some("arn:aws:sts::123456789012:assumed-role/Admin/yamada")
        );
        Ok(())
    }

    #[test]
    fn the_mail_queue_has_its_own_audit_key_that_no_username_can_take() {
        assert_eq!(
            AuditSubject::try_from("mail-queue".to_owned()),
            Ok(AuditSubject::MailQueue)
        );
        assert!(Username::parse(AuditSubject::MAIL_QUEUE_KEY).is_err());
        assert!(matches!(
            AuditSubject::try_from("ex000000".to_owned()),
            Ok(AuditSubject::Account(_))
        ));
        assert!(AuditSubject::try_from("nobody".to_owned()).is_err());
    }

    #[test]
    fn caller_identities_are_arns() {
        assert!(CallerIdentity::parse("arn:aws:sts::123456789012:user/moto").is_ok());
        assert!(CallerIdentity::parse("yamada").is_err());
        assert!(CallerIdentity::parse("arn:aws:iam::1:user/a\u{202E}b").is_err());
    }
}
