//! `reset-admin mail-queue`: how much mail waits, and the re-drive of dead-lettered mail.
//!
//! The request paths queue every mail on the mail queue (`MAIL_QUEUE_URL`); send-mail delivers
//! it and the queue's redrive policy moves what keeps failing to the dead-letter queue
//! (`MAIL_DEAD_LETTER_QUEUE_URL`). This module only ever reads counts and timestamps: message
//! bodies hold mail addresses and are never printed.
//!
//! The main queue is never received from here: a receive counts toward its redrive policy's
//! `maxReceiveCount` and would push healthy mail toward the dead-letter queue. Its depth comes
//! from GetQueueAttributes alone. The dead-letter queue has no redrive policy, so peeking it
//! (ReceiveMessage with a visibility timeout of 0) costs nothing.

use crate::error::{queue_unavailable, AdminError};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_sdk_sqs::Client;
use reset_core::config::Variables;
use std::collections::HashMap;

/// How many peeks of 10 messages the oldest dead letter is looked for in. SQS answers a receive
/// from a sample of its servers, so the age shown is that of the oldest message seen.
const PEEK_ROUNDS: usize = 5;
/// How long a message being moved stays hidden from other readers of the dead-letter queue.
const MOVE_VISIBILITY_SECONDS: i32 = 60;
/// A re-drive ends after this many empty receives in a row (each waits up to a second).
const EMPTY_RECEIVES_TO_STOP: u32 = 2;

/// The approximate counts SQS keeps for a queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Ready to be received (ApproximateNumberOfMessages).
    pub waiting: u64,
    /// Received and not yet deleted: being sent, or waiting out a retry (…NotVisible).
    pub in_flight: u64,
    /// Not yet visible because of a delay (…Delayed).
    pub delayed: u64,
}

impl QueueDepth {
    pub fn total(&self) -> u64 {
        self.waiting + self.in_flight + self.delayed
    }
}

/// The two queues of the mail path.
#[derive(Debug, Clone)]
pub struct MailQueues {
    client: Client,
    main_url: String,
    dead_letter_url: String,
}

/// The queue's name: the last segment of its URL.
pub fn queue_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap_or(url)
}

impl MailQueues {
    pub fn new(client: Client, main_url: String, dead_letter_url: String) -> Self {
        Self {
            client,
            main_url,
            dead_letter_url,
        }
    }

    /// `MAIL_QUEUE_URL` and `MAIL_DEAD_LETTER_QUEUE_URL`, as the functions get them; the SDK's
    /// standard configuration (`AWS_ENDPOINT_URL_SQS` locally).
    pub fn from_config(config: &aws_config::SdkConfig) -> Result<Self, AdminError> {
        let vars = Variables::from_env();
        let main_url = vars.required("MAIL_QUEUE_URL")?;
        let dead_letter_url = vars.required("MAIL_DEAD_LETTER_QUEUE_URL")?;
        // One queue under both names would make a re-drive move its messages onto itself forever.
        if main_url.trim_end_matches('/') == dead_letter_url.trim_end_matches('/') {
            return Err(AdminError::SameQueue(main_url));
        }
        Ok(Self::new(Client::new(config), main_url, dead_letter_url))
    }

    pub fn main_url(&self) -> &str {
        &self.main_url
    }

    pub fn dead_letter_url(&self) -> &str {
        &self.dead_letter_url
    }

    async fn depth(&self, url: &str) -> Result<QueueDepth, AdminError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(queue_unavailable)?;
        let attributes = output.attributes.unwrap_or_default();
        let count = |name: QueueAttributeName| -> Result<u64, AdminError> {
            attributes.get(&name).map_or(Ok(0), |v| {
                v.parse()
                    .map_err(|_| AdminError::QueueUnavailable(format!("{name}: {v:?} is not a count")))
            })
        };
        Ok(QueueDepth {
            waiting: count(QueueAttributeName::ApproximateNumberOfMessages)?,
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)?,
            delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed)?,
        })
    }

    /// The main queue's depth (GetQueueAttributes only; never a receive).
    pub async fn main_depth(&self) -> Result<QueueDepth, AdminError> {
        self.depth(&self.main_url).await
    }

    pub async fn dead_letter_depth(&self) -> Result<QueueDepth, AdminError> {
        self.depth(&self.dead_letter_url).await
    }

    /// When the oldest dead letter seen was first sent (epoch ms), peeking without hiding
    /// anything: a receive with a visibility timeout of 0 and only the SentTimestamp attribute.
    pub async fn oldest_dead_letter_sent_at(&self) -> Result<Option<i64>, AdminError> {
        let mut oldest: Option<i64> = None;
        for _ in 0..PEEK_ROUNDS {
            let output = self
                .client
                .receive_message()
                .queue_url(&self.dead_letter_url)
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .wait_time_seconds(0)
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .send()
                .await
                .map_err(queue_unavailable)?;
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for message in messages {
                let sent = message
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                    .and_then(|v| v.parse::<i64>().ok());
                if let Some(sent) = sent {
                    oldest = Some(oldest.map_or(sent, |o| o.min(sent)));
                }
            }
        }
        Ok(oldest)
    }

    /// Moves every dead letter back to the main queue: receive (hidden while it moves), send
    /// the same body and message attributes to the main queue, delete from the dead-letter
    /// queue. Returns how many moved; `on_moved` hears of each. A failure stops the move with
    /// the count so far. A message whose delete failed after its send is delivered twice at
    /// most; send-mail's job ledger sends its mail once.
    pub async fn redrive(&self, mut on_moved: impl FnMut(usize)) -> Result<usize, AdminError> {
        let mut moved = 0;
        let mut empty_receives = 0;
        let interrupted = |moved: usize, error: AdminError| AdminError::RedriveInterrupted {
            moved,
            cause: error.to_string(),
        };
        while empty_receives < EMPTY_RECEIVES_TO_STOP {
            let output = self
                .client
                .receive_message()
                .queue_url(&self.dead_letter_url)
                .max_number_of_messages(10)
                .visibility_timeout(MOVE_VISIBILITY_SECONDS)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|e| interrupted(moved, queue_unavailable(e)))?;
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                empty_receives += 1;
                continue;
            }
            empty_receives = 0;
            for message in messages {
                let (Some(body), Some(receipt)) = (message.body(), message.receipt_handle()) else {
                    continue;
                };
                let attributes: HashMap<_, _> = message.message_attributes().cloned().unwrap_or_default();
                self.client
                    .send_message()
                    .queue_url(&self.main_url)
                    .message_body(body)
                    .set_message_attributes((!attributes.is_empty()).then_some(attributes))
                    .send()
                    .await
                    .map_err(|e| interrupted(moved, queue_unavailable(e)))?;
                self.client
                    .delete_message()
                    .queue_url(&self.dead_letter_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map_err(|e| interrupted(moved, queue_unavailable(e)))?;
                moved += 1;
                on_moved(moved);
            }
        }
        Ok(moved)
    }
}

/// An age for people: `45 s`, `12 min`, `3 h 05 min`, `2 d 04 h`.
pub fn human_age(ms: i64) -> String {
    let seconds = ms.max(0) / 1000;
    let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86_400);
    if seconds < 60 {
        format!("{seconds} s")
    } else if minutes < 60 {
        format!("{minutes} min")
    } else if hours < 24 {
        format!("{hours} h {:02} min", minutes % 60)
    } else {
        format!("{days} d {:02} h", hours % 24)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_a_person_would_say_them() {
        assert_eq!(human_age(-5), "0 s");
        assert_eq!(human_age(45_000), "45 s");
        assert_eq!(human_age(12 * 60_000 + 59_000), "12 min");
        assert_eq!(human_age((3 * 60 + 5) * 60_000), "3 h 05 min");
        assert_eq!(human_age((2 * 24 + 4) * 3_600_000), "2 d 04 h");
    }

    #[test]
    fn queue_names_come_from_their_urls() {
        assert_eq!(
            queue_name("http://127.0.0.1:8010/123456789012/reset-mail-dead-letter"),
            "reset-mail-dead-letter"
        );
        assert_eq!(queue_name("reset-mail"), "reset-mail");
    }
}
