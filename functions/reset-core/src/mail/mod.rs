//! The mail ports: the queue every request hands its mail to, the SES v2 sender that
//! `send-mail` delivers the queue with, the wording of the mails, and fakes for unit tests.

pub mod address_compose;
pub mod compose;
mod queue;
mod recording;
mod ses;
mod sqs;

pub use queue::{MailQueue, QueueError};
pub use recording::{RecordingMailer, RecordingQueue};
pub use ses::SesMailer;
pub use sqs::SqsMailQueue;

use crate::domain::Email;
use async_trait::async_trait;

/// A composed mail, ready to send.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: Email,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for OutgoingMail {
    /// Never prints the body: the reset mail carries the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingMail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Why a send failed. Every kind is retried through the queue with backoff; the kind decides
/// what the log and the operator see. The strings are error kinds and codes, never messages.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// SES could not be reached or failed (network, timeout, 5xx).
    #[error("the mail service is unavailable ({0})")]
    Unavailable(String),
    /// SES is pacing this account: the sending rate or daily quota is exceeded.
    #[error("the mail service is throttling ({0})")]
    Throttled(String),
    /// SES refused this message or this sender (unverified identity, sending paused, bad input).
    #[error("the mail service rejected the message ({0})")]
    Rejected(String),
}

/// Sends a mail and returns the provider's message id.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError>;
}
