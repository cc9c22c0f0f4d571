//! The bench's stand-in for Lambda's SQS event source mapping: receives messages from the
//! local mail queue (moto's server), builds the `SqsEvent` Lambda would hand `send-mail`, and
//! deletes what the function reported done — what `scripts/local_sqs_trigger.py` does for
//! `make run`, but in-process, so that every job is one measured invocation of the warm
//! process.
//!
//! It speaks SQS's JSON protocol (`X-Amz-Target: AmazonSQS.<Action>`) over plain HTTP with
//! reqwest rather than through the AWS SDK: moto checks no signature, only the region in the
//! `Authorization` header's credential scope (its queues live per region), and the bench
//! crate then needs no SDK of its own.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

pub struct Queue {
    client: reqwest::Client,
    /// The queue's URL; its origin is the endpoint.
    url: String,
    endpoint: String,
    region: String,
    arn: String,
}

/// One received message, as the event source mapping hands it on.
#[derive(Debug, Clone)]
pub struct Message {
    pub receipt_handle: String,
    pub body: String,
    record: Value,
}

impl Message {
    /// The SQS message id (what a batch response names a failed record by).
    pub fn message_id(&self) -> &str {
        self.record.get("messageId").and_then(Value::as_str).unwrap_or_default()
    }

    /// `mail.kind` of the job in the body (`reset_link`, `password_changed`).
    pub fn mail_kind(&self) -> String {
        serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v.pointer("/mail/kind").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default()
    }

    /// `mail.username` of the job in the body.
    pub fn username(&self) -> String {
        serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v.pointer("/mail/username").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_default()
    }
}

/// The `SqsEvent` of a batch, in the shape Lambda sends (`Records[]` with `messageId`,
/// `receiptHandle`, `body`, `attributes`, `eventSourceARN`, …).
pub fn event(messages: &[Message]) -> Value {
    json!({ "Records": messages.iter().map(|m| m.record.clone()).collect::<Vec<_>>() })
}

/// The identifiers a `SqsBatchResponse` asks to retry.
pub fn batch_item_failures(response: &Value) -> Vec<String> {
    response
        .get("batchItemFailures")
        .and_then(Value::as_array)
        .map(|failures| {
            failures
                .iter()
                .filter_map(|f| f.get("itemIdentifier").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Queue {
    pub async fn open(client: reqwest::Client, url: &str, region: &str) -> Result<Self> {
        let endpoint = match url.find("://").and_then(|s| url[s + 3..].find('/').map(|p| s + 3 + p)) {
            Some(end) => url[..end].to_owned(),
            None => bail!("not a queue URL: {url}"),
        };
        let mut queue = Self {
            client,
            url: url.to_owned(),
            endpoint,
            region: region.to_owned(),
            arn: String::new(),
        };
        let attributes = queue
            .call(
                "GetQueueAttributes",
                json!({ "QueueUrl": url, "AttributeNames": ["QueueArn"] }),
            )
            .await?;
        queue.arn = attributes
            .pointer("/Attributes/QueueArn")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok(queue)
    }

    async fn call(&self, action: &str, body: Value) -> Result<Value> {
        let response = self
            .client
            .post(&self.endpoint)
            .header("x-amz-target", format!("AmazonSQS.{action}"))
            .header("content-type", "application/x-amz-json-1.0")
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=local/20260101/{}/sqs/aws4_request, SignedHeaders=host, Signature=0",
                    self.region
                ),
            )
            .json(&body)
            .send()
            .await
            .with_context(|| format!("SQS {action} on {}", self.endpoint))?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("SQS {action} answered {status}: {text}");
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("SQS {action}: not JSON: {text}"))
    }

    /// Up to `max` (≤ 10) messages, waiting up to `wait_secs` for the first.
    pub async fn receive(&self, max: usize, wait_secs: u32) -> Result<Vec<Message>> {
        let answer = self
            .call(
                "ReceiveMessage",
                json!({
                    "QueueUrl": self.url,
                    "MaxNumberOfMessages": max.clamp(1, 10),
                    "WaitTimeSeconds": wait_secs,
                    "AttributeNames": ["All"],
                    "MessageAttributeNames": ["All"],
                }),
            )
            .await?;
        let Some(messages) = answer.get("Messages").and_then(Value::as_array) else {
            return Ok(Vec::new());
        };
        let text = |m: &Value, key: &str| m.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        Ok(messages
            .iter()
            .map(|m| {
                let record = json!({
                    "messageId": text(m, "MessageId"),
                    "receiptHandle": text(m, "ReceiptHandle"),
                    "body": text(m, "Body"),
                    "attributes": m.get("Attributes").cloned().unwrap_or_else(|| json!({})),
                    "messageAttributes": m.get("MessageAttributes").cloned().unwrap_or_else(|| json!({})),
                    "md5OfBody": text(m, "MD5OfBody"),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.arn,
                    "awsRegion": self.region,
                });
                Message {
                    receipt_handle: text(m, "ReceiptHandle"),
                    body: text(m, "Body"),
                    record,
                }
            })
            .collect())
    }

    /// Deletes a message the function reported done (as the event source mapping does).
    pub async fn delete(&self, message: &Message) -> Result<()> {
        self.call(
            "DeleteMessage",
            json!({ "QueueUrl": self.url, "ReceiptHandle": message.receipt_handle }),
        )
        .await
        .map(|_| ())
    }

    /// Deletes what a batch got done in one call, as the event source mapping does with a
    /// batch (one SQS round trip per batch rather than per message).
    pub async fn delete_batch(&self, messages: &[&Message]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let entries: Vec<Value> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| json!({ "Id": i.to_string(), "ReceiptHandle": m.receipt_handle }))
            .collect();
        let answer = self
            .call(
                "DeleteMessageBatch",
                json!({ "QueueUrl": self.url, "Entries": entries }),
            )
            .await?;
        match answer.get("Failed").and_then(Value::as_array) {
            Some(failed) if !failed.is_empty() => bail!("SQS DeleteMessageBatch failed for {failed:?}"),
            _ => Ok(()),
        }
    }

    /// Messages in the queue: visible, received and not yet deleted, and delayed (a job put
    /// back with a delay). Zero means every job was delivered and deleted.
    pub async fn depth(&self) -> Result<u64> {
        const COUNTS: [&str; 3] = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ];
        let answer = self
            .call(
                "GetQueueAttributes",
                json!({ "QueueUrl": self.url, "AttributeNames": COUNTS }),
            )
            .await?;
        Ok(COUNTS
            .iter()
            .filter_map(|name| answer.pointer(&format!("/Attributes/{name}")))
            .filter_map(|v| v.as_str().and_then(|s| s.parse::<u64>().ok()).or_else(|| v.as_u64()))
            .sum())
    }

    /// Empties the queue (what an earlier step queued and nobody delivers).
    pub async fn purge(&self) -> Result<()> {
        self.call("PurgeQueue", json!({ "QueueUrl": self.url }))
            .await
            .map(|_| ())
    }
}
