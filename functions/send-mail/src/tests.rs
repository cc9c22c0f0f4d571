//! Unit tests of the SQS side over fakes; the whole path (moto's SQS, DynamoDB Local, the SES
//! emulator, `cargo lambda watch`) runs in tests/api/disruptive/mail_queue.rs.

use super::*;
use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsMessage;
use reset_core::domain::{Clock, Email, FixedClock, Language, Timestamp, User, Username};
use reset_core::mail::RecordingMailer;
use reset_core::store::{MemoryStore, UserDirectory};
use std::sync::Mutex;

#[derive(Default)]
struct RecordingControl {
    retries: Mutex<Vec<(String, u32)>>,
    dead_letters: Mutex<Vec<String>>,
    requeued: Mutex<Vec<(String, u32)>>,
}

#[async_trait]
impl QueueControl for RecordingControl {
    async fn retry_after(&self, receipt_handle: &str, delay_secs: u32) -> Result<(), String> {
        self.retries
            .lock()
            .map_err(|e| e.to_string())?
            .push((receipt_handle.to_owned(), delay_secs));
        Ok(())
    }

    async fn dead_letter(&self, body: &str) -> Result<(), String> {
        self.dead_letters
            .lock()
            .map_err(|e| e.to_string())?
            .push(body.to_owned());
        Ok(())
    }

    async fn requeue(&self, body: &str, delay_secs: u32) -> Result<(), String> {
        self.requeued
            .lock()
            .map_err(|e| e.to_string())?
            .push((body.to_owned(), delay_secs));
        Ok(())
    }
}

struct Fixture {
    deps: SendMail,
    mailer: Arc<RecordingMailer>,
    control: Arc<RecordingControl>,
    clock: Arc<FixedClock>,
}

fn settings() -> Settings {
    reset_core::testing::sample_settings_with(&[]).unwrap_or_else(|e| panic!("{e}"))
}

const FIRST_USER: &str = "ex000000";
/// A second account, so two jobs in one batch are not one account's turns.
const SECOND_USER: &str = "ex000001";

async fn fixture() -> Fixture {
    let store = Arc::new(MemoryStore::default());
    for name in [FIRST_USER, SECOND_USER] {
        let user = User::new_active(
            Username::parse(name).unwrap_or_else(|e| panic!("{e}")),
            Email::parse(&format!("{name}@example.jp")).unwrap_or_else(|e| panic!("{e}")),
            Language::Ja,
            Timestamp::from_millis(0),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        store.create_user(&user).await.unwrap_or_else(|e| panic!("{e}"));
    }
    let mailer = Arc::new(RecordingMailer::default());
    let control = Arc::new(RecordingControl::default());
    let clock = Arc::new(FixedClock::at(Timestamp::from_millis(1_795_608_000_000)));
    let deps = SendMail {
        sender: MailSender {
            settings: settings(),
            accounts: store.clone(),
            tokens: store.clone(),
            counters: store.clone(),
            ledger: store,
            mailer: mailer.clone(),
            clock: clock.clone(),
            address_requests: Arc::new(reset_core::store::MemoryAddressRequests::default()),
        },
        queue: control.clone(),
        metrics_namespace: "PasswordReset/test".into(),
    };
    Fixture {
        deps,
        mailer,
        control,
        clock,
    }
}

fn record(id: &str, body: &str, receives: u32) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.to_owned());
    message.receipt_handle = Some(format!("receipt-{id}"));
    message.body = Some(body.to_owned());
    message
        .attributes
        .insert("ApproximateReceiveCount".into(), receives.to_string());
    message
}

fn batch(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

fn reset_job(f: &Fixture) -> String {
    reset_job_for(f, FIRST_USER)
}

fn reset_job_for(f: &Fixture, name: &str) -> String {
    let username = Username::parse(name).unwrap_or_else(|e| panic!("{e}"));
    let job = MailJob::reset_link(username, f.clock.now(), 3600).unwrap_or_else(|e| panic!("{e}"));
    job.to_message().unwrap_or_else(|e| panic!("{e}"))
}

fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

#[tokio::test]
async fn a_malformed_record_goes_to_the_dead_letter_queue_and_the_others_are_sent() {
    let f = fixture().await;
    let job = reset_job(&f);
    let response = handle(
        &f.deps,
        batch(vec![record("a", "{not a job", 1), record("b", &job, 1)]),
        0,
    )
    .await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(f.mailer.sent().len(), 1);
    assert_eq!(
        f.control.dead_letters.lock().map(|d| d.clone()).unwrap_or_default(),
        ["{not a job"]
    );
}

#[tokio::test]
async fn a_failed_send_is_reported_alone_and_backs_off() {
    let f = fixture().await;
    let job = reset_job(&f);
    f.mailer.set_down(true);
    let response = handle(&f.deps, batch(vec![record("a", &job, 3)]), 0).await;
    assert_eq!(failed_ids(&response), ["a"]);
    let retries = f.control.retries.lock().map(|r| r.clone()).unwrap_or_default();
    assert_eq!(retries.len(), 1);
    assert_eq!(retries[0].0, "receipt-a");
    assert!(
        (16..=24).contains(&retries[0].1),
        "third receive waits about 20 s: {retries:?}"
    );

    f.mailer.set_down(false);
    let response = handle(&f.deps, batch(vec![record("a", &job, 4)]), 0).await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(f.mailer.sent().len(), 1);
}

#[tokio::test]
async fn a_job_delivered_twice_in_one_batch_sends_one_mail() {
    let f = fixture().await;
    let job = reset_job(&f);
    let response = handle(&f.deps, batch(vec![record("a", &job, 1), record("b", &job, 1)]), 0).await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(f.mailer.sent().len(), 1);
}

#[tokio::test]
async fn no_second_send_starts_when_the_deadline_is_near() {
    let f = fixture().await;
    let job = reset_job(&f);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let other = reset_job(&f);
    let response = handle(
        &f.deps,
        batch(vec![record("a", &job, 1), record("b", &other, 1)]),
        now_ms + 1_000,
    )
    .await;
    assert_eq!(failed_ids(&response), ["b"], "the first job runs, the next waits");
    assert_eq!(f.mailer.sent().len(), 1);
    let retries = f.control.retries.lock().map(|r| r.clone()).unwrap_or_default();
    assert_eq!(retries, [("receipt-b".to_owned(), 0)]);
}

#[tokio::test]
async fn a_deadline_already_past_at_the_start_means_none_was_given() {
    let f = fixture().await;
    let (a, b) = (reset_job(&f), reset_job_for(&f, SECOND_USER));
    let response = handle(&f.deps, batch(vec![record("a", &a, 1), record("b", &b, 1)]), 1).await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(f.mailer.sent().len(), 2);
}

#[test]
fn backoff_doubles_from_five_seconds_to_five_minutes() {
    let middle = 20;
    let delays: Vec<u32> = (1..=8).map(|n| backoff_secs(n, middle)).collect();
    assert_eq!(delays, [5, 10, 20, 40, 80, 160, 300, 300]);
    assert_eq!(backoff_secs(1, 0), 4);
    assert_eq!(backoff_secs(1, 40), 6);
    assert_eq!(backoff_secs(u32::MAX, 40), 360);
    let total: u32 = (1..MAX_RECEIVE_COUNT).map(|n| backoff_secs(n, middle)).sum();
    assert!(
        (60 * 60..=100 * 60).contains(&total),
        "retries span past a link's lifetime: {total} s"
    );
}
