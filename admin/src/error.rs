//! The admin tool's errors, by what the administrator should do about them.

use reset_core::domain::{EmailError, Username, UsernameError};

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
    #[error("who is making this change? Pass --actor NAME (or set RESET_ADMIN_ACTOR)")]
    UnknownActor,
    #[error("environment variable {0} is not set (the same variables as the functions: see scripts/local.env)")]
    MissingEnvironment(&'static str),

    // --- nothing to do, or look first ---
    #[error("no user {0}")]
    NoSuchUser(Username),
    #[error("user {0} already exists")]
    AlreadyExists(Username),
    #[error("{username} already has the address {masked}; nothing changed")]
    SameAddress { username: Username, masked: String },
    #[error("the address of {0} changed while this command ran; nothing changed. Check it with `reset-admin user show {0}` and run the command again")]
    ChangedMeanwhile(Username),

    // --- fix the input file ---
    #[error("{0}")]
    Csv(String),
    #[error("{0} line(s) rejected; nothing written. Fix them and run the import again")]
    RowsRejected(usize),

    // --- try again later; nothing half-written ---
    #[error("{written} of {total} users written; DynamoDB left {left} unprocessed after {attempts} attempts. Run the same import again: it skips what is already there")]
    IncompleteBatch {
        written: usize,
        total: usize,
        left: usize,
        attempts: u32,
    },
    #[error("DynamoDB is unavailable or refused the call: {0}")]
    Unavailable(String),
    #[error("a stored item is malformed: {0}")]
    Corrupt(String),
}

impl AdminError {
    pub fn invalid_username(typed: &str, reason: UsernameError) -> Self {
        AdminError::InvalidUsername {
            typed: typed.chars().take(64).collect(),
            reason,
        }
    }
}

/// Any SDK error, with its full context (service error code and message).
pub(crate) fn unavailable<E: std::error::Error>(error: E) -> AdminError {
    AdminError::Unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(error).to_string())
}
