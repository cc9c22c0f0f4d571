//! The admin tool's errors, by what the administrator should do about them.

use crate::text::HiddenCharacter;
use reset_core::domain::{AddressRequestId, EmailError, PasswordRule, Username, UsernameError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    // --- fix the command line ---
    #[error("{typed}: {reason}")]
    InvalidUsername { typed: String, reason: UsernameError },
    #[error("the new address: {0}")]
    InvalidEmail(EmailError),
    #[error("the reason {0}")]
    InvalidReason(&'static str),
    #[error("the actor {0}")]
    InvalidActor(&'static str),
    #[error("the {field} {found}: type it without (such characters can make a printed audit log say something else than what is stored)")]
    HiddenCharacter {
        field: &'static str,
        found: HiddenCharacter,
    },
    #[error("who is making this change? Pass --actor NAME (or set RESET_ADMIN_ACTOR)")]
    UnknownActor,
    #[error("the password from {variable} breaks the password policy: {}; nothing written", describe_rules(.rules))]
    WeakPassword { variable: String, rules: Vec<PasswordRule> },
    #[error("cannot tell who is running this command, so nothing was written: STS GetCallerIdentity failed ({0}). Every change records the caller's AWS identity: sign in (for example `aws sso login --profile NAME` and AWS_PROFILE=NAME) and run the command again")]
    UnknownCaller(String),
    #[error("environment variable {0} is not set (the same variables as the functions: see scripts/local.env)")]
    MissingEnvironment(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    InvalidEnvironment { name: &'static str, reason: String },

    // --- nothing to do, or look first ---
    #[error("no user {0}")]
    NoSuchUser(Username),
    #[error("user {0} already exists")]
    AlreadyExists(Username),
    #[error("{username} already has the address {masked}; nothing changed")]
    SameAddress { username: Username, masked: String },
    #[error("the address of {0} changed while this command ran; nothing changed. Check it with `reset-admin user show {0}` and run the command again")]
    ChangedMeanwhile(Username),
    #[error("{0} is not an address request id (32 lowercase hexadecimal characters, as `address-requests list` prints them)")]
    MalformedRequestId(String),
    #[error("no address request {0} (expired requests are deleted after a while)")]
    NoSuchRequest(AddressRequestId),
    #[error("address request {id} is {state}, not pending: nothing changed")]
    RequestNotPending { id: AddressRequestId, state: &'static str },
    #[error("address request {0} has expired: nothing changed. The institution can send a new request")]
    RequestExpired(AddressRequestId),
    #[error("address request {0} was decided or expired while this command ran; check it with `reset-admin address-requests show {0}`")]
    DecidedMeanwhile(AddressRequestId),
    #[error("address request {id} cannot be approved now, nothing changed: {}{}", describe_refusals(.refusals), override_hint(.refusals))]
    ApprovalRefused {
        id: AddressRequestId,
        refusals: Vec<crate::refusal::Refusal>,
    },
    #[error("ADDRESS_REQUEST_OBJECTION_HOURS must be a whole number of hours from 1 to 720")]
    InvalidObjectionWindow,

    // --- fix the input file ---
    #[error("{0}")]
    Csv(String),
    #[error("{0} line(s) rejected; nothing written. Fix them and run the import again")]
    RowsRejected(usize),

    // --- try again later; nothing half-written ---
    #[error("{created} of {total} new account(s) created (each with its audit record) before a write failed: {cause}. Run the same import again: it creates the rest and reports the ones already created")]
    ImportInterrupted {
        created: usize,
        total: usize,
        cause: String,
    },
    #[error("{moved} message(s) moved back to the mail queue before SQS failed: {cause}. Run `reset-admin mail-queue redrive` again for the rest")]
    RedriveInterrupted { moved: usize, cause: String },
    #[error("DynamoDB is unavailable or refused the call: {0}")]
    Unavailable(String),
    #[error("MAIL_QUEUE_URL and MAIL_DEAD_LETTER_QUEUE_URL both name {0}: set each to its own queue (the stack's MailQueue and MailDeadLetterQueue)")]
    SameQueue(String),
    #[error("the user pool is unavailable or refused the call: {0}")]
    PoolUnavailable(String),
    #[error("the user pool's user {username} was changed, but the change could not be recorded ({cause}): run the same command again; it completes the change (the credential epoch moved on, older links dead, the audit entry written)")]
    PoolChangedNotRecorded { username: Username, cause: String },
    #[error("`{0}` works on the users table only: with PASSWORD_STORE=cognito the accounts live in the user pool; create and import them there (`user show|disable|enable|set-email`, `address-requests`, `audit` and `mail-problems` work on a pool)")]
    NotWithPool(&'static str),
    #[error("SQS is unavailable or refused the call: {0}")]
    QueueUnavailable(String),
    #[error("a stored item is malformed: {0}")]
    Corrupt(String),
    #[error("the address of {username} was changed, but its notices to the old and the new address could not be queued ({cause}): tell the account holder another way")]
    NoticesNotQueued { username: Username, cause: String },
    #[error("{0}; nothing written")]
    Randomness(#[from] reset_core::domain::token::RandomnessUnavailable),
}

/// The shared settings reader's errors, in the tool's words.
impl From<reset_core::config::ConfigError> for AdminError {
    fn from(error: reset_core::config::ConfigError) -> Self {
        use reset_core::config::ConfigError;
        match error {
            ConfigError::Missing(name) => AdminError::MissingEnvironment(name),
            ConfigError::Invalid { name, reason } => AdminError::InvalidEnvironment { name, reason },
            other => AdminError::Unavailable(other.to_string()),
        }
    }
}

fn describe_refusals(refusals: &[crate::refusal::Refusal]) -> String {
    refusals.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

fn override_hint(refusals: &[crate::refusal::Refusal]) -> &'static str {
    if refusals.iter().all(crate::refusal::Refusal::can_be_overridden) {
        ". Check the account (`reset-admin audit USERNAME`, `reset-admin user show USERNAME`); if the request still holds, approve with --override-reason \"...\" (audited)"
    } else {
        ""
    }
}

/// The policy's rules in words, for the administrator (the pages have their own texts).
fn describe_rules(rules: &[PasswordRule]) -> String {
    rules
        .iter()
        .map(|rule| match rule {
            PasswordRule::MinLength => "at least 8 characters",
            PasswordRule::Uppercase => "an uppercase letter",
            PasswordRule::Lowercase => "a lowercase letter",
            PasswordRule::Digit => "a digit",
            PasswordRule::Symbol => "a symbol",
            PasswordRule::HalfWidthOnly => "half-width characters only",
            PasswordRule::PrintableOnly => "no control characters",
            PasswordRule::MaxLength => "at most 128 characters",
            PasswordRule::NotUsername => "must not contain the username",
            PasswordRule::NotCommon => "must not be a common or easily guessed password",
            PasswordRule::NotBreached => "must not be a password seen in a data breach",
            PasswordRule::ConfirmationMatches => "the confirmation must match",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl AdminError {
    pub fn invalid_username(typed: &str, reason: UsernameError) -> Self {
        let typed: String = typed.chars().take(64).collect();
        AdminError::InvalidUsername {
            // Echoed on the terminal: hidden characters by code point (a CSV line can hold any).
            typed: crate::text::visible(&typed).into_owned(),
            reason,
        }
    }
}

/// Any SDK error, with its full context (service error code and message).
pub(crate) fn unavailable<E: std::error::Error>(error: E) -> AdminError {
    AdminError::Unavailable(context(error))
}

/// An SQS error, with its full context.
pub(crate) fn queue_unavailable<E: std::error::Error>(error: E) -> AdminError {
    AdminError::QueueUnavailable(context(error))
}

pub(crate) fn context<E: std::error::Error>(error: E) -> String {
    aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string()
}

impl From<reset_core::store::StoreError> for AdminError {
    fn from(error: reset_core::store::StoreError) -> Self {
        match error {
            reset_core::store::StoreError::Unavailable(detail) => AdminError::Unavailable(detail),
            reset_core::store::StoreError::Corrupt(detail) => AdminError::Corrupt(detail),
        }
    }
}
