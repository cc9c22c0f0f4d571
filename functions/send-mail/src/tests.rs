//! Unit tests of the SQS side over fakes; the whole path (moto's SQS, DynamoDB Local, the SES
//! emulator, `cargo lambda watch`) runs in tests/api/disruptive/mail_queue.rs.

use super::*;
use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsMessage;
use reset_core::config::Settings;
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

#[tokio::test(flavor = "current_thread")]
async fn every_line_of_a_job_carries_its_message_id_job_id_and_kind() {
    let (capture, _logging) = reset_core::telemetry::capture_this_thread();
    let f = fixture().await;
    let job = reset_job(&f);
    let job_id = MailJob::from_message(&job)
        .map(|job| job.job_id.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    let response = handle(&f.deps, batch(vec![record("m-1", &job, 1)]), 0).await;
    assert!(failed_ids(&response).is_empty());
    let entries: Vec<serde_json::Value> = capture
        .lines()
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    let done = entries
        .iter()
        .find(|e| e["fields"]["message"] == "mail job done")
        .unwrap_or_else(|| panic!("no 'mail job done' line in {entries:?}"));
    assert_eq!(done["span"]["name"], "job", "{done}");
    assert_eq!(done["span"]["message_id"], "m-1", "{done}");
    assert_eq!(done["span"]["job_id"], job_id.as_str(), "{done}");
    assert_eq!(done["span"]["kind"], "reset_link", "{done}");
}

// ------------------------------------------------------------------------------------------
// Pacing to SES and SES throttling (issue 26, point 4)
// ------------------------------------------------------------------------------------------

/// Records when each send reached "SES" (tokio's clock, paused in these tests); throttles the
/// first `throttle_first` sends.
#[derive(Default)]
struct TimedMailer {
    sent_at: Mutex<Vec<tokio::time::Instant>>,
    throttle_first: Mutex<u32>,
}

#[async_trait]
impl reset_core::mail::Mailer for TimedMailer {
    async fn send(&self, _mail: &reset_core::mail::OutgoingMail) -> Result<String, reset_core::mail::MailError> {
        {
            let mut left = self
                .throttle_first
                .lock()
                .map_err(|_| reset_core::mail::MailError::Unavailable("poisoned".into()))?;
            if *left > 0 {
                *left -= 1;
                return Err(reset_core::mail::MailError::Throttled(
                    "service_error code=TooManyRequestsException".into(),
                ));
            }
        }
        let mut sent = self
            .sent_at
            .lock()
            .map_err(|_| reset_core::mail::MailError::Unavailable("poisoned".into()))?;
        sent.push(tokio::time::Instant::now());
        Ok(format!("timed-{}", sent.len()))
    }
}

/// One send-mail instance (its own pace, as one Lambda container has) over shared stores.
fn paced_instance(
    store: &Arc<MemoryStore>,
    mailer: &Arc<TimedMailer>,
    pace: Pace,
    control: Arc<RecordingControl>,
) -> SendMail {
    SendMail {
        sender: MailSender {
            settings: settings(),
            accounts: store.clone(),
            tokens: store.clone(),
            counters: store.clone(),
            ledger: store.clone(),
            mailer: Arc::new(PacedMailer::new(mailer.clone(), pace)),
            clock: Arc::new(FixedClock::at(Timestamp::from_millis(1_795_608_000_000))),
            address_requests: Arc::new(reset_core::store::MemoryAddressRequests::default()),
        },
        queue: control,
        metrics_namespace: "PasswordReset/test".into(),
    }
}

async fn store_with_users(count: usize) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::default());
    for i in 0..count {
        let user = User::new_active(
            Username::parse(&format!("ex{i:06}")).unwrap_or_else(|e| panic!("{e}")),
            Email::parse(&format!("ex{i:06}@example.jp")).unwrap_or_else(|e| panic!("{e}")),
            Language::Ja,
            Timestamp::from_millis(0),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        store.create_user(&user).await.unwrap_or_else(|e| panic!("{e}"));
    }
    store
}

fn numbered_reset_job(i: usize) -> String {
    let username = Username::parse(&format!("ex{i:06}")).unwrap_or_else(|e| panic!("{e}"));
    let job = MailJob::reset_link(username, Timestamp::from_millis(1_795_608_000_000), 3600)
        .unwrap_or_else(|e| panic!("{e}"));
    job.to_message().unwrap_or_else(|e| panic!("{e}"))
}

/// SesMaxSendRate=10 with MailSendConcurrency=2: two instances, each sending batches of five
/// back to back, never put more than 10 mails into any one-second window, and send them all.
#[tokio::test(start_paused = true)]
async fn the_sender_never_exceeds_the_set_rate() {
    let store = store_with_users(30).await;
    let mailer = Arc::new(TimedMailer::default());
    let pace = Pace::new(10, 2).unwrap_or_else(|e| panic!("{e}"));
    let control = Arc::new(RecordingControl::default());
    let instances = [
        paced_instance(&store, &mailer, pace, control.clone()),
        paced_instance(&store, &mailer, pace, control.clone()),
    ];
    async fn run(instance: &SendMail, first: usize) {
        let batches: Vec<SqsEvent> = (0..3)
            .map(|b| {
                batch(
                    (0..5)
                        .map(|r| {
                            let i = first + b * 5 + r;
                            record(&format!("m{i}"), &numbered_reset_job(i), 1)
                        })
                        .collect(),
                )
            })
            .collect();
        for event in batches {
            let response = handle(instance, event, 0).await;
            assert!(failed_ids(&response).is_empty());
        }
    }
    tokio::join!(run(&instances[0], 0), run(&instances[1], 15));
    let mut sent = mailer.sent_at.lock().map(|s| s.clone()).unwrap_or_default();
    sent.sort();
    assert_eq!(sent.len(), 30, "every mail sent");
    for (i, start) in sent.iter().enumerate() {
        let in_window = sent[i..]
            .iter()
            .take_while(|t| t.duration_since(*start) < Duration::from_secs(1))
            .count();
        assert!(in_window <= 10, "{in_window} sends within one second from send {i}");
    }
    let span = sent[29].duration_since(sent[0]);
    assert!(
        span >= Duration::from_millis(2_800),
        "30 mails at 10/s take ≥ 2.8 s, took {span:?}"
    );
}

#[test]
fn the_pace_is_concurrency_over_rate_and_refuses_what_the_deadline_cannot_wait_for() {
    let pace = Pace::new(14, 2).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pace.interval(), Duration::from_nanos(142_857_142));
    assert!(Pace::new(1, 2).is_ok(), "2 s between sends of one instance");
    assert!(
        Pace::new(1, 6).is_err(),
        "6 s between sends would outlast the job budget"
    );
    assert!(Pace::new(0, 2).is_err());
    assert!(
        Pace::read(&Variables::new(|_| None)).is_err(),
        "both variables are required"
    );
    let read = Pace::read(&Variables::new(|name| match name {
        "SES_MAX_SEND_RATE" => Some("14".into()),
        "MAIL_SEND_CONCURRENCY" => Some("2".into()),
        _ => None,
    }));
    assert_eq!(read.map(|p| p.interval()).ok(), Some(pace.interval()));
}

/// SES throttling (TooManyRequests) is not a failure: the job goes back to the queue as a new
/// message after a short wait (its receive count starts afresh, so no retry is spent even on
/// the last one), the record is done, and nothing is counted as failed or dead-lettered. The
/// instance itself holds back before its next send.
#[tokio::test(start_paused = true)]
async fn a_throttled_send_is_retried_without_a_failure_or_a_spent_retry() {
    let store = store_with_users(2).await;
    let mailer = Arc::new(TimedMailer::default());
    *mailer.throttle_first.lock().unwrap_or_else(|e| panic!("{e}")) = 1;
    let control = Arc::new(RecordingControl::default());
    let pace = Pace::new(100, 2).unwrap_or_else(|e| panic!("{e}"));
    let instance = paced_instance(&store, &mailer, pace, control.clone());
    let job = numbered_reset_job(0);
    let started = tokio::time::Instant::now();
    let (response, tally) = handle_counted(
        &instance,
        batch(vec![
            record("a", &job, MAX_RECEIVE_COUNT),
            record("b", &numbered_reset_job(1), 1),
        ]),
        0,
    )
    .await;
    assert!(
        failed_ids(&response).is_empty(),
        "the throttled record is done with: {response:?}"
    );
    assert_eq!(
        (tally.failed, tally.dead_lettered, tally.throttled, tally.sent),
        (0, 0, 1, 1)
    );
    assert!(
        control.retries.lock().map(|r| r.is_empty()).unwrap_or(false),
        "no receive spent"
    );
    let requeued = control.requeued.lock().map(|r| r.clone()).unwrap_or_default();
    assert_eq!(requeued.len(), 1);
    assert_eq!(requeued[0].0, job);
    assert!((1..=10).contains(&requeued[0].1), "a short wait: {requeued:?}");
    let sent = mailer.sent_at.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(
        sent[0].duration_since(started) >= THROTTLE_HOLD,
        "the next send waited after the throttle"
    );

    // The requeued job is sent when it comes back.
    let (response, tally) = handle_counted(&instance, batch(vec![record("a2", &requeued[0].0, 1)]), 0).await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!((tally.sent, tally.failed), (1, 0));
}
