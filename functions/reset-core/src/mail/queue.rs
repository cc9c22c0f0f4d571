//! The mail queue port: how a request hands a mail over without waiting for SES.

use crate::domain::MailJob;
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The queue could not be reached or refused the message (throttling, network, timeout).
    #[error("the mail queue is unavailable: {0}")]
    Unavailable(String),
    #[error("the mail job could not be encoded: {0}")]
    Encoding(String),
}

/// Durably accepts a mail job; once `enqueue` returns `Ok`, the mail will be sent (or, if it
/// cannot be, kept in the dead-letter queue for an administrator).
#[async_trait]
pub trait MailQueue: Send + Sync {
    async fn enqueue(&self, job: &MailJob) -> Result<(), QueueError> {
        self.enqueue_after(job, 0).await
    }

    /// Like `enqueue`, the job becoming visible to the sender only after `delay_secs` (at most
    /// SQS's 900).
    async fn enqueue_after(&self, job: &MailJob, delay_secs: u32) -> Result<(), QueueError>;
}
