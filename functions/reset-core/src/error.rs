//! The one error type of the request path. Variants are grouped by what the caller should do;
//! `web::respond` is the only place that turns them into statuses, pages and JSON.

use crate::domain::address_request::{AddressRequestForm, FieldError, VerificationRejection};
use crate::domain::token::TokenRejection;
use crate::domain::{PasswordRule, ResetToken, UsernameError};
use crate::mail::MailError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    // --- fix the input and try again ---
    #[error("invalid username: {reason}")]
    InvalidUsername { typed: String, reason: UsernameError },
    #[error("password rejected by {} rule(s)", rules.len())]
    PasswordRejected {
        token: ResetToken,
        username: Option<String>,
        rules: Vec<PasswordRule>,
    },
    #[error("the address-change request has {} invalid item(s)", errors.len())]
    InvalidAddressRequest {
        form: Box<AddressRequestForm>,
        errors: Vec<FieldError>,
    },
    #[error("bad request: {0}")]
    BadRequest(BadRequest),
    #[error("the body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("unsupported content type, expected {expected}")]
    UnsupportedMediaType { expected: &'static str },

    // --- ask for a new link ---
    #[error("the reset link is invalid ({})", .0.code())]
    InvalidLink(TokenRejection),
    /// The verification link of an address-change request (make a new request).
    #[error("the address-request link is invalid ({})", .0.code())]
    InvalidAddressLink(VerificationRejection),

    // --- wait ---
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: i64 },

    // --- nothing to do here ---
    #[error("cross-origin form submission refused")]
    CrossOrigin,
    #[error("no such page")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed,

    // --- try again later; nothing was changed ---
    #[error("a backing service is unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Why a request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadRequest {
    #[error("the body is not valid UTF-8")]
    InvalidUtf8,
    #[error("the body contains a NUL byte")]
    NulByte,
    #[error("the body could not be parsed: {0}")]
    Malformed(String),
    #[error("the field {0} is missing")]
    MissingField(&'static str),
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => AppError::Unavailable(detail),
            StoreError::Corrupt(detail) => AppError::Internal(detail),
        }
    }
}

impl From<MailError> for AppError {
    fn from(error: MailError) -> Self {
        AppError::Unavailable(error.to_string())
    }
}

impl AppError {
    /// A short, stable code for logs and JSON bodies.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::InvalidUsername { .. } => "invalid_username",
            AppError::PasswordRejected { .. } => "password_rejected",
            AppError::BadRequest(_) => "bad_request",
            AppError::PayloadTooLarge { .. } => "payload_too_large",
            AppError::UnsupportedMediaType { .. } => "unsupported_media_type",
            AppError::InvalidLink(_) => "invalid_or_expired_link",
            AppError::InvalidAddressRequest { .. } => "invalid_address_request",
            AppError::InvalidAddressLink(_) => "invalid_or_expired_address_link",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::CrossOrigin => "cross_origin",
            AppError::NotFound => "not_found",
            AppError::MethodNotAllowed => "method_not_allowed",
            AppError::Unavailable(_) => "service_unavailable",
            AppError::Internal(_) => "internal_error",
        }
    }
}
