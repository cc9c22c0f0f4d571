//! The mail port: composing the two mails the flow sends, the SES v2 adapter, and a
//! recording fake for unit tests.

pub mod compose;
mod recording;
mod ses;

pub use recording::RecordingMailer;
pub use ses::SesMailer;

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

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the mail service is unavailable: {0}")]
    Unavailable(String),
    #[error("the mail service rejected the message: {0}")]
    Rejected(String),
}

/// Sends a mail and returns the provider's message id.
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError>;
}
