use super::queue::{MailQueue, QueueError};
use crate::domain::MailJob;
use async_trait::async_trait;
use aws_sdk_sqs::Client;

/// The mail queue on SQS (server-side encrypted; see `MailQueue` in infra/template.yaml).
#[derive(Debug, Clone)]
pub struct SqsMailQueue {
    client: Client,
    queue_url: String,
}

impl SqsMailQueue {
    pub fn new(client: Client, queue_url: String) -> Self {
        Self { client, queue_url }
    }
}

#[async_trait]
impl MailQueue for SqsMailQueue {
    async fn enqueue_after(&self, job: &MailJob, delay_secs: u32) -> Result<(), QueueError> {
        let body = job.to_message().map_err(|e| QueueError::Encoding(e.to_string()))?;
        let delayed = (delay_secs > 0).then(|| i32::try_from(delay_secs.min(900)).unwrap_or(900));
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .set_delay_seconds(delayed)
            .send()
            .await
            // The error's code and kind only: the message text could echo the body.
            .map_err(|error| QueueError::Unavailable(crate::aws_errors::describe(&error)))?;
        Ok(())
    }
}
