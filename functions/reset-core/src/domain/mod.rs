//! The rules of the reset flow, free of AWS and HTTP types.

pub mod address_request;
pub mod client;
pub mod clock;
pub mod common_passwords;
pub mod email;
pub mod epoch;
pub mod language;
pub mod mail_job;
pub mod password;
pub mod token;
pub mod user;
pub mod username;

pub use address_request::{address_fingerprint, AccountSnapshot, NoticeFate, NoticeOutcome};
pub use address_request::{
    AddressRequest, AddressRequestForm, AddressRequestId, AddressRequestInput, AddressRequestState, RequestText,
};
pub use client::{ClientIpSource, ClientKey};
pub use clock::{Clock, FixedClock, SystemClock, Timestamp};
pub use email::{Email, EmailError, MaskedEmail};
pub use epoch::CredentialEpoch;
pub use language::Language;
pub use mail_job::{JobId, MailJob, MailKind, PendingChange, QueuedMail};
pub use password::{NewPassword, PasswordRule, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
pub use token::{ResetToken, TokenHash, TokenRecord};
pub use user::{AccountStatus, User};
pub use username::{Username, UsernameError, UsernameInput};
