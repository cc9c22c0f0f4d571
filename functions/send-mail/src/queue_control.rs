//! What `send-mail` asks of the mail queue besides the event source's own work: a later retry
//! for a failed record, and the dead-letter queue for a malformed one.

use async_trait::async_trait;
use aws_sdk_sqs::Client;

#[async_trait]
pub trait QueueControl: Send + Sync {
    /// Makes the record visible again after `delay_secs` instead of the queue's visibility
    /// timeout.
    async fn retry_after(&self, receipt_handle: &str, delay_secs: u32) -> Result<(), String>;

    /// Puts `body` on the dead-letter queue as it is.
    async fn dead_letter(&self, body: &str) -> Result<(), String>;

    /// Puts `body` back on the mail queue as a new message, visible after `delay_secs` (at
    /// most SQS's 900): a job that must wait for a window starts afresh, with a new receive
    /// count and a new retention period, so that waiting never dead-letters or loses it.
    async fn requeue(&self, body: &str, delay_secs: u32) -> Result<(), String>;
}

/// SQS's longest message delay.
pub const MAX_DELAY_SECS: u32 = 900;

#[derive(Debug, Clone)]
pub struct SqsQueueControl {
    client: Client,
    queue_url: String,
    dead_letter_queue_url: String,
}

impl SqsQueueControl {
    pub fn new(client: Client, queue_url: String, dead_letter_queue_url: String) -> Self {
        Self {
            client,
            queue_url,
            dead_letter_queue_url,
        }
    }
}

#[async_trait]
impl QueueControl for SqsQueueControl {
    async fn retry_after(&self, receipt_handle: &str, delay_secs: u32) -> Result<(), String> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(delay_secs).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| reset_core::aws_errors::describe(&e))?;
        Ok(())
    }

    async fn requeue(&self, body: &str, delay_secs: u32) -> Result<(), String> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(i32::try_from(delay_secs.min(MAX_DELAY_SECS)).unwrap_or(0))
            .send()
            .await
            .map_err(|e| reset_core::aws_errors::describe(&e))?;
        Ok(())
    }

    async fn dead_letter(&self, body: &str) -> Result<(), String> {
        // SQS refuses empty bodies; an empty job still deserves a trace in the queue.
        let body = if body.is_empty() { "(empty message)" } else { body };
        self.client
            .send_message()
            .queue_url(&self.dead_letter_queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| reset_core::aws_errors::describe(&e))?;
        Ok(())
    }
}
