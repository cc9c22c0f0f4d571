//! Each function's IAM policy in infra/template.yaml allows exactly the DynamoDB, SES and SQS
//! calls its code makes, on the tables and queues it makes them on, and no other attributes of
//! the users table. (The SQS receive and delete of send-mail's event source are Lambda's, added
//! by SAM with the event, not the code's.)
//!
//! "What the code calls" comes from two recordings, so that neither can drift alone:
//! - which port methods a function uses: its `main.rs` names its handler; the handler is run
//!   in-process through every route over a spy store and a spy mailer that record the methods;
//! - which requests a port method sends: the production adapters, built by the production
//!   wiring on SDK clients with a recording interceptor, run every port method against the local
//!   stack, on each path that sends something different, and every DynamoDB, SES v2 and SQS
//!   request that leaves is read as IAM actions, resources and attributes (`recording`).
//!
//! Every port method a handler uses must have been recorded (the test names one that was not),
//! and every recorded method must be used by some function or be listed, with who calls it, in
//! `CALLED_BY_NO_FUNCTION`.
//!
//! send-mail's handler runs over the same spies with a batch that sends, fails and holds a
//! malformed job, so that every port method it can call is called.
//!
//! mail-events wires only the `MailEventStore` port, whose one method it calls on every event.
//!
//! address-change runs its handler over an `AddressDesk` whose request store is a spy too; the
//! spies and the recording name its methods `requests.…`.
//!
//! The probe uses every method of its own store port (`probe.…`), recorded the same way. With
//! `PasswordStore=cognito`, the pool operations each function is granted are declared here
//! (`cognito_granted`), and the pool adapter's requests are recorded against moto in make test's
//! Cognito pass: granted and sent must be the same set.

mod recording;

use anyhow::{anyhow, bail, Result};
use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use password_reset_tests::reset_core::domain::{AddressRequest, AddressRequestId, NoticeOutcome};
use password_reset_tests::reset_core::domain::{
    CredentialEpoch, Email, FixedClock, JobId, Language, MailJob, PendingChange, Timestamp, TokenHash, TokenRecord,
    User, Username,
};
use password_reset_tests::reset_core::mail::{
    MailError, MailQueue, Mailer, OutgoingMail, QueueError, RecordingMailer, RecordingQueue,
};
use password_reset_tests::reset_core::service::{AddressDesk, MailSender};
use password_reset_tests::reset_core::store::{
    attributes, AccountStore, ChangeNotice, ClaimEnd, ClaimHolder, ConsumeError, CounterKey, CreateUserError,
    CredentialForm, JobClaim, JobEnd, MailLedger, MemoryStore, NewCredential, NoticeHandling, RateCounters, Settled,
    StoreError, TokenStore, UserDirectory,
};
use password_reset_tests::reset_core::store::{AddressRequestStore, MemoryAddressRequests, PendingRequest};
use password_reset_tests::reset_core::testing::sample_settings_with;
use password_reset_tests::reset_core::App;
use password_reset_tests::{invoke, invoke_address, tables, EventBuilder, Function};
use regex::Regex;
use send_mail::{QueueControl, SendMail};
use serde_norway::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(root().join(path)).map_err(|e| anyhow!("{path}: {e}"))
}

/// (IAM action, resource) where the resource is a table's logical id, `<table>/index`, or `ses`.
type Access = (String, String);

/// The port methods no function's code calls, each with who does: recorded all the same, they
/// must stay out of every handler (or leave this list).
const CALLED_BY_NO_FUNCTION: [(&str, &str); 3] = [
    (
        "find_user",
        "UserDirectory: whole user items, hash included, for administrators and tests",
    ),
    (
        "create_user",
        "UserDirectory: new accounts, by reset-admin and the tests' fixtures",
    ),
    (
        "read_counter",
        "nothing but tests: a RateCounters method no program calls any more",
    ),
];

// ------------------------------------------------------------------------------------------
// The functions: which port methods each one's code calls
// ------------------------------------------------------------------------------------------

#[derive(Default)]
struct Spy {
    called: Mutex<BTreeSet<String>>,
}

impl Spy {
    fn record(&self, method: &str) {
        if let Ok(mut called) = self.called.lock() {
            called.insert(method.to_owned());
        }
    }
    fn take(&self) -> BTreeSet<String> {
        self.called
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

struct SpyStore {
    inner: MemoryStore,
    spy: Arc<Spy>,
}

#[async_trait]
impl UserDirectory for SpyStore {
    async fn find_user(&self, username: &Username) -> Result<Option<User>, StoreError> {
        self.spy.record("find_user");
        self.inner.find_user(username).await
    }
    async fn create_user(&self, user: &User) -> Result<(), CreateUserError> {
        self.spy.record("create_user");
        self.inner.create_user(user).await
    }
}

#[async_trait]
impl AccountStore for SpyStore {
    async fn find_account(&self, username: &Username) -> Result<Option<User>, StoreError> {
        self.spy.record("find_account");
        self.inner.find_account(username).await
    }
    fn credential_form(&self) -> CredentialForm {
        self.inner.credential_form()
    }
    async fn change_password(
        &self,
        token: &TokenRecord,
        credential: NewCredential,
        now: Timestamp,
        notice: ChangeNotice<'_>,
    ) -> Result<NoticeHandling, ConsumeError> {
        self.spy.record("change_password");
        self.inner.change_password(token, credential, now, notice).await
    }
    async fn settle_change(&self, change: &PendingChange, now: Timestamp) -> Result<Settled, StoreError> {
        self.spy.record("settle_change");
        self.inner.settle_change(change, now).await
    }
    async fn remember_reset_mail(
        &self,
        username: &Username,
        message_id: &str,
        sent_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.spy.record("remember_reset_mail");
        self.inner.remember_reset_mail(username, message_id, sent_at).await
    }
}

#[async_trait]
impl TokenStore for SpyStore {
    async fn save_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        self.spy.record("save_token");
        self.inner.save_token(token).await
    }
    async fn find_token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>, StoreError> {
        self.spy.record("find_token");
        self.inner.find_token(hash).await
    }
}

#[async_trait]
impl RateCounters for SpyStore {
    async fn increment_counter(&self, key: &CounterKey, expires_at_secs: i64) -> Result<u32, StoreError> {
        self.spy.record("increment_counter");
        self.inner.increment_counter(key, expires_at_secs).await
    }
    async fn read_counter(&self, key: &CounterKey) -> Result<u32, StoreError> {
        self.spy.record("read_counter");
        self.inner.read_counter(key).await
    }
    async fn reserve_below(&self, key: &CounterKey, limit: u32, expires: i64) -> Result<bool, StoreError> {
        self.spy.record("reserve_below");
        self.inner.reserve_below(key, limit, expires).await
    }
    async fn release_reserved(&self, key: &CounterKey) -> Result<(), StoreError> {
        self.spy.record("release_reserved");
        self.inner.release_reserved(key).await
    }
    async fn take_mail_turn(
        &self,
        key: &CounterKey,
        epoch: CredentialEpoch,
        now: Timestamp,
        next_at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.spy.record("take_mail_turn");
        self.inner.take_mail_turn(key, epoch, now, next_at).await
    }
    async fn give_back_mail_turn(
        &self,
        key: &CounterKey,
        next_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.spy.record("give_back_mail_turn");
        self.inner.give_back_mail_turn(key, next_at, now).await
    }
}

#[async_trait]
impl MailLedger for SpyStore {
    async fn claim_job(
        &self,
        job: &JobId,
        holder: &ClaimHolder,
        now: Timestamp,
        lease: i64,
        keep: i64,
    ) -> Result<JobClaim, StoreError> {
        self.spy.record("claim_job");
        self.inner.claim_job(job, holder, now, lease, keep).await
    }
    async fn finish_job(
        &self,
        job: &JobId,
        holder: &ClaimHolder,
        end: JobEnd<'_>,
        now: Timestamp,
    ) -> Result<ClaimEnd, StoreError> {
        self.spy.record("finish_job");
        self.inner.finish_job(job, holder, end, now).await
    }
    async fn release_job(&self, job: &JobId, holder: &ClaimHolder) -> Result<ClaimEnd, StoreError> {
        self.spy.record("release_job");
        self.inner.release_job(job, holder).await
    }
}

struct SpyRequests {
    inner: MemoryAddressRequests,
    spy: Arc<Spy>,
}

#[async_trait]
impl AddressRequestStore for SpyRequests {
    async fn create_request(&self, request: &AddressRequest) -> Result<(), StoreError> {
        self.spy.record("requests.create_request");
        self.inner.create_request(request).await
    }
    async fn find_request(&self, id: &AddressRequestId) -> Result<Option<AddressRequest>, StoreError> {
        self.spy.record("requests.find_request");
        self.inner.find_request(id).await
    }
    async fn set_verification(&self, id: &AddressRequestId, hash: &TokenHash, until: i64) -> Result<bool, StoreError> {
        self.spy.record("requests.set_verification");
        self.inner.set_verification(id, hash, until).await
    }
    async fn mark_verified(&self, id: &AddressRequestId, hash: &TokenHash, now: Timestamp) -> Result<bool, StoreError> {
        self.spy.record("requests.mark_verified");
        self.inner.mark_verified(id, hash, now).await
    }
    async fn record_notice(&self, id: &AddressRequestId, outcome: &NoticeOutcome) -> Result<bool, StoreError> {
        self.spy.record("requests.record_notice");
        self.inner.record_notice(id, outcome).await
    }
    async fn pending_requests(&self, now: Timestamp) -> Result<Vec<PendingRequest>, StoreError> {
        self.spy.record("requests.pending_requests");
        self.inner.pending_requests(now).await
    }
}

struct SpyQueue {
    inner: RecordingQueue,
    spy: Arc<Spy>,
}

#[async_trait]
impl MailQueue for SpyQueue {
    async fn enqueue_after(&self, job: &MailJob, delay_secs: u32) -> Result<(), QueueError> {
        self.spy.record("queue.enqueue");
        self.inner.enqueue_after(job, delay_secs).await
    }
}

struct SpyControl {
    spy: Arc<Spy>,
}

#[async_trait]
impl QueueControl for SpyControl {
    async fn retry_after(&self, _receipt_handle: &str, _delay_secs: u32) -> Result<(), String> {
        self.spy.record("control.retry_after");
        Ok(())
    }
    async fn dead_letter(&self, _body: &str) -> Result<(), String> {
        self.spy.record("control.dead_letter");
        Ok(())
    }
    async fn requeue(&self, _body: &str, _delay_secs: u32) -> Result<(), String> {
        self.spy.record("control.requeue");
        Ok(())
    }
}

/// The SQS event the event source would hand send-mail for `bodies`.
fn batch(bodies: &[String]) -> SqsEvent {
    let mut event = SqsEvent::default();
    for (i, body) in bodies.iter().enumerate() {
        let mut record = SqsMessage::default();
        record.message_id = Some(format!("m{i}"));
        record.receipt_handle = Some(format!("r{i}"));
        record.body = Some(body.clone());
        record.attributes.insert("ApproximateReceiveCount".into(), "1".into());
        event.records.push(record);
    }
    event
}

struct SpyMailer {
    inner: RecordingMailer,
    spy: Arc<Spy>,
}

#[async_trait]
impl Mailer for SpyMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        self.spy.record("mailer.send");
        self.inner.send(mail).await
    }
}

/// The binary → handler module wiring, read from each function's main.rs.
fn handler_of(binary: &str) -> Result<Function> {
    let main = read(&format!("functions/{binary}/src/main.rs"))?;
    let module = Regex::new(r"web::(\w+)::handle")?
        .captures(&main)
        .map(|c| c[1].to_owned())
        .ok_or_else(|| anyhow!("{binary}/src/main.rs runs no web::<module>::handle"))?;
    Function::from_binary(&module.replace('_', "-")).ok_or_else(|| anyhow!("no test Function for {module}"))
}

/// The port methods each HTTP function calls, from running every one of its routes (the
/// events a real flow sends) over the spies.
async fn methods_called_by_http_functions() -> Result<BTreeMap<String, BTreeSet<String>>> {
    let spy = Arc::new(Spy::default());
    let mailer = Arc::new(SpyMailer {
        inner: RecordingMailer::default(),
        spy: spy.clone(),
    });
    let store = Arc::new(SpyStore {
        inner: MemoryStore::default(),
        spy: spy.clone(),
    });
    let queue = Arc::new(SpyQueue {
        inner: RecordingQueue::default(),
        spy: spy.clone(),
    });
    let settings = sample_settings_with(&[
        ("REQUEST_MIN_RESPONSE_MS", "0"),
        ("ADDRESS_REQUEST_NOTIFY_ADDRESS", "admins@example.jp"),
        // The second confirmation of the hour waits in the queue: send-mail requeues it.
        ("ADDRESS_CONFIRMATIONS_PER_HOUR", "1"),
    ])?;
    let clock = Arc::new(FixedClock::at(Timestamp::from_millis(1_795_608_000_000)));
    let app = App::new(settings.clone(), store.clone(), queue.clone(), clock.clone());
    let requests = Arc::new(SpyRequests {
        inner: MemoryAddressRequests::default(),
        spy: spy.clone(),
    });
    let desk = AddressDesk::new(
        App::new(settings.clone(), store.clone(), queue.clone(), clock.clone()),
        requests.clone(),
    );
    let sender = SendMail {
        sender: MailSender {
            settings,
            accounts: store.clone(),
            tokens: store.clone(),
            counters: store.clone(),
            ledger: store.clone(),
            mailer: mailer.clone(),
            clock,
            address_requests: requests.clone(),
        },
        queue: Arc::new(SpyControl { spy: spy.clone() }),
        metrics_namespace: "PasswordReset/iam".into(),
    };
    let user = User::new_active(
        Username::parse("iam00000")?,
        Email::parse("iam00000@example.jp")?,
        Language::Ja,
        password_reset_tests::reset_core::domain::Timestamp::from_millis(0),
    )?;
    store.inner.create_user(&user).await?;
    // A second account for the failing send: iam00000's reset mail of this turn is already out,
    // so another job for it would be skipped before any send.
    let second = User::new_active(
        Username::parse("iam00001")?,
        Email::parse("iam00001@example.jp")?,
        Language::Ja,
        password_reset_tests::reset_core::domain::Timestamp::from_millis(0),
    )?;
    store.inner.create_user(&second).await?;
    spy.take();

    let mut called = BTreeMap::new();
    let token_of_last_mail = || -> Result<String> {
        // The last reset mail (the address request's verification mail has a link too).
        let text = mailer
            .inner
            .sent()
            .iter()
            .rev()
            .find(|m| m.text.contains("/password-reset/confirm?token="))
            .map(|m| m.text.clone())
            .unwrap_or_default();
        text.split("confirm?token=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no reset mail"))
    };

    let binary = "request-reset";
    let f = handler_of(binary)?;
    for event in [
        EventBuilder::get("/password-reset"),
        EventBuilder::get("/password-reset/assets/style.css"),
        EventBuilder::form("/password-reset", &[("username", "iam00000")]),
        EventBuilder::json(
            "/api/password-reset/request",
            serde_json::json!({ "username": "iam00000" }),
        ),
    ] {
        let answer = invoke(&app, f, event).await?;
        assert!(answer.status < 500, "{binary}: {}", answer.status);
    }
    called.insert(binary.to_owned(), spy.take());

    // address-change: main.rs builds its AddressDesk from the wiring and runs
    // web::address_change::handle.
    let binary = "address-change";
    let main = read("functions/address-change/src/main.rs")?;
    assert!(main.contains(".address_desk()") && main.contains("web::address_change::handle"));
    let form = [
        ("username", "iam00000"),
        ("institution", "さくら内科"),
        ("location", "東京都千代田区"),
        ("contact_person", "山田 花子"),
        ("new_email", "new@clinic.example.jp"),
    ];
    let mut second_form = form;
    second_form[0] = ("username", "iam00001");
    second_form[4] = ("new_email", "other@clinic.example.jp");
    for event in [
        EventBuilder::get("/password-reset/address-change"),
        EventBuilder::form("/password-reset/address-change", &form),
        EventBuilder::form("/password-reset/address-change", &second_form),
    ] {
        let answer = invoke_address(&desk, event).await?;
        assert_eq!(answer.status, 200, "{binary}: {}", answer.body);
    }
    let mut address_change = spy.take();

    // send-mail: a batch that sends (the jobs above), one with a malformed job, one that fails.
    let mut bodies: Vec<String> = queue
        .inner
        .drain()
        .iter()
        .map(MailJob::to_message)
        .collect::<Result<_, _>>()?;
    bodies.push("{not a mail job".into());
    let response = send_mail::handle(&sender, batch(&bodies), 0).await;
    assert!(response.batch_item_failures.is_empty(), "send-mail");
    let first = token_of_last_mail()?;
    mailer.inner.set_down(true);
    let failing = MailJob::reset_link(
        Username::parse("iam00001")?,
        Timestamp::from_millis(1_795_608_000_000),
        3600,
    )?;
    let response = send_mail::handle(&sender, batch(&[failing.to_message()?]), 0).await;
    assert_eq!(response.batch_item_failures.len(), 1, "send-mail retries a failed send");
    mailer.inner.set_down(false);
    let mut send_mail_called = spy.take();

    // The address request's link, confirmed; then send-mail delivers the two notices it queued.
    let (id, token) = mailer
        .inner
        .sent()
        .iter()
        .find_map(|m| {
            let link = m
                .text
                .split_whitespace()
                .find(|w| w.contains("address-change/verify?"))?;
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(link.split_once('?')?.1).ok()?;
            let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            Some((get("id")?, get("token")?))
        })
        .ok_or_else(|| anyhow!("no address verification mail"))?;
    for event in [
        EventBuilder::get(&format!("/password-reset/address-change/verify?id={id}&token={token}")),
        EventBuilder::form(
            "/password-reset/address-change/verify",
            &[("id", id.as_str()), ("token", token.as_str())],
        ),
    ] {
        let answer = invoke_address(&desk, event).await?;
        assert_eq!(answer.status, 200, "{binary}: {}", answer.body);
    }
    address_change.extend(spy.take());
    called.insert(binary.to_owned(), address_change);
    let notices: Vec<String> = queue
        .inner
        .drain()
        .iter()
        .map(MailJob::to_message)
        .collect::<Result<_, _>>()?;
    assert_eq!(notices.len(), 2, "the notice and the administrators' note");
    let response = send_mail::handle(&sender, batch(&notices), 0).await;
    assert!(response.batch_item_failures.is_empty(), "send-mail");
    send_mail_called.extend(spy.take());
    called.insert("send-mail".to_owned(), send_mail_called);

    let binary = "verify-token";
    let f = handler_of(binary)?;
    for event in [
        EventBuilder::get(&format!("/password-reset/confirm?token={first}")),
        EventBuilder::form("/password-reset/confirm", &[("token", first.as_str())]),
        EventBuilder::json("/api/password-reset/verify", serde_json::json!({ "token": first })),
    ] {
        let answer = invoke(&app, f, event).await?;
        assert_eq!(answer.status, 200, "{binary}");
    }
    called.insert(binary.to_owned(), spy.take());

    let binary = "change-password";
    let f = handler_of(binary)?;
    let password = "Smoke2026pass";
    let answer = invoke(
        &app,
        f,
        EventBuilder::form(
            "/password-reset/complete",
            &[
                ("token", first.as_str()),
                ("new_password", password),
                ("new_password_confirmation", password),
            ],
        ),
    )
    .await?;
    assert_eq!(answer.status, 200, "{binary}: {}", answer.body);
    called.insert(binary.to_owned(), spy.take());
    Ok(called)
}

// ------------------------------------------------------------------------------------------
// The template: what each function's policy allows
// ------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct Policy {
    allowed: BTreeSet<Access>,
    /// (action, resource) → the dynamodb:Attributes the statement limits it to, if any.
    attribute_limits: BTreeMap<Access, BTreeSet<String>>,
}

fn untag(value: &Value) -> &Value {
    match value {
        Value::Tagged(tagged) => &tagged.value,
        other => other,
    }
}

fn strings(value: &Value) -> Vec<String> {
    match untag(value) {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// `!GetAtt UsersTable.Arn` → UsersTable; `!Sub ${UsersTable.Arn}/index/x` → UsersTable/index;
/// an SES identity or configuration-set ARN → ses.
fn resource_name(value: &Value) -> Vec<String> {
    // `!If [UseCognitoStore, pool's table, users table]`: as deployed with the DynamoDB store.
    if let Value::Tagged(tagged) = value {
        if let Some(branches) = tagged.value.as_sequence() {
            if branches.first().and_then(Value::as_str) == Some("UseCognitoStore") {
                return branches.get(2).map(resource_name).unwrap_or_default();
            }
        }
    }
    match untag(value) {
        // A list, `!Sub [text, {vars}]` or `!If [cond, a, b]`: the resources in it.
        Value::Sequence(items) => items.iter().flat_map(resource_name).collect(),
        Value::String(text) => {
            if text.contains(":ses:") {
                vec!["ses".into()]
            } else if let Some(table) = text.strip_suffix(".Arn") {
                vec![table.to_owned()]
            } else if let Some(rest) = text.strip_prefix("${") {
                let table = rest.split('.').next().unwrap_or_default();
                let index = if text.contains("/index/") { "/index" } else { "" };
                vec![format!("{table}{index}")]
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    }
}

fn template_policies() -> Result<BTreeMap<String, Policy>> {
    let template: Value = serde_norway::from_str(&read("infra/template.yaml")?)?;
    let resources = template["Resources"]
        .as_mapping()
        .ok_or_else(|| anyhow!("no Resources"))?;
    let mut policies = BTreeMap::new();
    for (_, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .ok_or_else(|| anyhow!("a function without BuildProperties.Binary"))?;
        let mut policy = Policy::default();
        for document in resource["Properties"]["Policies"].as_sequence().into_iter().flatten() {
            for statement in document["Statement"].as_sequence().into_iter().flatten() {
                // `!If [cond, statement, NoValue]`: the statement, as deployed with the default
                // DynamoDB store (the Cognito store's statements have their own test).
                let statement = match statement {
                    Value::Tagged(tagged) if tagged.value.get(0).and_then(Value::as_str) == Some("UseCognitoStore") => {
                        tagged.value.get(2).unwrap_or(&Value::Null)
                    }
                    Value::Tagged(tagged) => tagged.value.get(1).unwrap_or(&Value::Null),
                    plain => plain,
                };
                if statement["Effect"].as_str() != Some("Allow") {
                    continue;
                }
                let actions: Vec<String> = strings(&statement["Action"])
                    .into_iter()
                    .filter(|a| a.starts_with("dynamodb:") || a.starts_with("ses:") || a.starts_with("sqs:"))
                    .collect();
                let resources: BTreeSet<String> = resource_name(&statement["Resource"]).into_iter().collect();
                let limit: Option<BTreeSet<String>> = statement["Condition"]["ForAllValues:StringEquals"]
                    .get("dynamodb:Attributes")
                    .map(|v| strings(v).into_iter().collect());
                for action in &actions {
                    for resource in &resources {
                        let access = (action.clone(), resource.clone());
                        if let Some(limit) = &limit {
                            policy.attribute_limits.insert(access.clone(), limit.clone());
                        }
                        policy.allowed.insert(access);
                    }
                }
            }
        }
        policies.insert(binary.to_owned(), policy);
    }
    Ok(policies)
}

// ------------------------------------------------------------------------------------------
// The checks
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_policy_allows_exactly_what_its_function_calls() -> Result<()> {
    let ports = recording::port_calls().await?;
    let mut methods = methods_called_by_http_functions().await?;

    // mail-events: main.rs builds MailEvents (a MailEventStore, no App) and its handler calls
    // the port's one method for every event.
    let main = read("functions/mail-events/src/main.rs")?;
    let lib = read("functions/mail-events/src/lib.rs")?;
    assert!(main.contains("MailEvents::new") && !main.contains(".app()"));
    assert!(lib.contains("store.record_mail_event("));
    methods.insert("mail-events".into(), BTreeSet::from(["record_mail_event".to_owned()]));

    // pre-traffic: builds no store, queue or mailer (its Lambda and CodeDeploy statements are
    // held by template_drift and infra/tests/test_pre_traffic_hook.py): no DynamoDB, SES or SQS.
    let main = read("functions/pre-traffic/src/main.rs")?;
    let lib = read("functions/pre-traffic/src/lib.rs")?;
    for source in [&main, &lib] {
        for store in [
            "App::from_env",
            "DynamoStore",
            "SesMailer",
            "SqsMailQueue",
            "aws_sdk_dynamodb",
            "aws_sdk_sqs",
        ] {
            assert!(!source.contains(store), "pre-traffic builds {store}");
        }
    }
    methods.insert("pre-traffic".into(), BTreeSet::new());

    // probe: its own store port (functions/probe/src/tables.rs), which stores a link and reads
    // the pending address requests through reset-core's adapters; all four methods run on every
    // walk. Its leading-key conditions are held by infra/tests/test_probe.py.
    methods.insert(
        "probe".into(),
        recording::PROBE_STORE_METHODS.iter().map(|m| m.to_string()).collect(),
    );

    let policies = template_policies()?;
    assert_eq!(
        policies.keys().collect::<BTreeSet<_>>(),
        methods.keys().collect::<BTreeSet<_>>(),
        "every function of the template is checked"
    );
    // Completeness, both ways: what the handlers use was recorded, and what was recorded is
    // used by a handler or listed as called by no function.
    let used: BTreeSet<&String> = methods.values().flatten().collect();
    for (method, calls) in &ports {
        assert!(!calls.is_empty(), "{method} was run but sent no request");
        let listed = CALLED_BY_NO_FUNCTION.iter().any(|(name, _)| name == method);
        assert!(
            used.contains(method) != listed,
            "{method}: recorded, {} by a function's handler, {} in CALLED_BY_NO_FUNCTION",
            if used.contains(method) { "used" } else { "not used" },
            if listed { "listed" } else { "not listed" },
        );
    }
    for (method, _) in CALLED_BY_NO_FUNCTION {
        assert!(ports.contains_key(method), "{method} is listed but was never recorded");
    }
    let mut problems = Vec::new();
    for (binary, called) in &methods {
        let mut needed: BTreeMap<Access, BTreeSet<String>> = BTreeMap::new();
        for method in called {
            let calls = ports.get(method).ok_or_else(|| {
                anyhow!("{binary} calls {method}, which the recording never ran: add it to recording::port_calls")
            })?;
            for call in calls {
                needed
                    .entry((call.action.clone(), call.resource.clone()))
                    .or_default()
                    .extend(call.attributes.iter().cloned());
            }
        }
        let policy = &policies[binary];
        for access in needed.keys() {
            if !policy.allowed.contains(access) {
                problems.push(format!(
                    "{binary}: code calls {} on {}, the policy lacks it",
                    access.0, access.1
                ));
            }
        }
        for access in &policy.allowed {
            if !needed.contains_key(access) {
                problems.push(format!(
                    "{binary}: policy allows {} on {}, the code never calls it",
                    access.0, access.1
                ));
            }
        }
        // The users table: every read or write is limited to the attributes the code names;
        // the address requests: every update (a PutItem creates, a GetItem reads).
        for (access, attributes) in &needed {
            let limited =
                access.1 == "UsersTable" || (access.1 == "AddressRequestsTable" && access.0 == "dynamodb:UpdateItem");
            if !limited {
                continue;
            }
            match policy.attribute_limits.get(access) {
                None => problems.push(format!(
                    "{binary}: {} on {} has no dynamodb:Attributes condition",
                    access.0, access.1
                )),
                Some(limit) if limit != attributes => problems.push(format!(
                    "{binary}: {} on {} is limited to {limit:?}, the code names {attributes:?}",
                    access.0, access.1
                )),
                Some(_) => {}
            }
        }
    }
    assert!(problems.is_empty(), "IAM drift:\n{}", problems.join("\n"));
    Ok(())
}

#[tokio::test]
async fn no_function_reads_the_password_hash() -> Result<()> {
    let methods = methods_called_by_http_functions().await?;
    for (binary, called) in &methods {
        assert!(
            !called.contains("find_user"),
            "{binary} reads whole user items (find_user): use find_account"
        );
    }
    assert!(!attributes::USER_FIELDS_WITHOUT_HASH.contains(&"password_hash"));
    let policies = template_policies()?;
    for (binary, policy) in &policies {
        for ((action, resource), limit) in &policy.attribute_limits {
            if action == "dynamodb:GetItem" && resource == "UsersTable" {
                assert!(!limit.contains("password_hash"), "{binary} may read password_hash");
            }
        }
        if policy
            .allowed
            .contains(&("dynamodb:GetItem".to_owned(), "UsersTable".to_owned()))
        {
            assert!(
                policy
                    .attribute_limits
                    .contains_key(&("dynamodb:GetItem".to_owned(), "UsersTable".to_owned())),
                "{binary} may read whole user items"
            );
        }
    }
    Ok(())
}

/// The recording must see what it claims to see: the known calls of the store.
#[tokio::test]
async fn the_recording_sees_the_store_calls() -> Result<()> {
    let ports = recording::port_calls().await?;
    let actions = |method: &str| -> BTreeSet<Access> {
        ports
            .get(method)
            .into_iter()
            .flatten()
            .map(|c| (c.action.clone(), c.resource.clone()))
            .collect()
    };
    let access = |a: &str, r: &str| (a.to_owned(), r.to_owned());
    assert_eq!(
        actions("change_password"),
        BTreeSet::from([
            access("dynamodb:UpdateItem", "ResetTokensTable"),
            access("dynamodb:UpdateItem", "UsersTable")
        ])
    );
    assert_eq!(
        actions("record_mail_event"),
        BTreeSet::from([
            access("dynamodb:Query", "UsersTable/index"),
            access("dynamodb:UpdateItem", "UsersTable")
        ])
    );
    assert_eq!(
        actions("claim_job"),
        BTreeSet::from([
            access("dynamodb:GetItem", "MailJobsTable"),
            access("dynamodb:UpdateItem", "MailJobsTable")
        ])
    );
    assert_eq!(
        actions("control.dead_letter"),
        BTreeSet::from([access("sqs:SendMessage", "MailDeadLetterQueue")])
    );
    assert_eq!(actions("mailer.send"), BTreeSet::from([access("ses:SendEmail", "ses")]));
    let set_password: BTreeSet<String> = ports["change_password"]
        .iter()
        .filter(|c| c.resource == "UsersTable")
        .flat_map(|c| c.attributes.iter().cloned())
        .collect();
    assert!(set_password.contains("password_hash") && set_password.contains("status"));
    assert!(set_password.contains(attributes::CREDENTIAL_EPOCH));
    assert!(!set_password.contains("email"));
    let read: BTreeSet<&str> = ports["find_account"]
        .iter()
        .flat_map(|c| c.attributes.iter().map(String::as_str))
        .collect();
    assert_eq!(read, attributes::USER_FIELDS_WITHOUT_HASH.into_iter().collect());
    Ok(())
}

/// Against DynamoDB Local: the projected read really leaves the hash in the table.
#[tokio::test]
async fn the_projected_read_leaves_the_hash_in_the_table() -> Result<()> {
    let app = password_reset_tests::local_app().await?;
    let user = password_reset_tests::create_user(&app, Language::Ja).await?;
    let whole = tables(&app.settings)
        .await
        .find_user(&user.username)
        .await?
        .ok_or_else(|| anyhow!("no user"))?;
    assert!(whole.password_hash.is_some(), "the fixture user has a password");
    let projected = app
        .accounts
        .find_account(&user.username)
        .await?
        .ok_or_else(|| anyhow!("no user"))?;
    assert_eq!(projected.password_hash, None);
    assert_eq!(
        projected,
        User {
            password_hash: None,
            ..whole
        }
    );
    Ok(())
}

/// With `PasswordStore=cognito`, each function may call exactly the pool operations its code
/// path needs, on the pool's ARN only: every App reads the policy at cold start; the account
/// readers (verify-token, send-mail, change-password) get the account; change-password alone
/// sets the password and ends the sessions. Returns every operation granted to any function.
#[test]
fn cognito_statements_grant_each_function_its_pool_operations() -> Result<()> {
    cognito_granted().map(|_| ())
}

/// Every operation granted is one the adapter sends, and every one it sends is granted: its
/// requests recorded against the pool in moto (`recording::pool_calls`; make test's Cognito
/// pass runs this).
#[tokio::test]
#[ignore = "needs PASSWORD_STORE=cognito: scripts/test-cognito.sh runs it"]
async fn cognito_pool_adapter_sends_exactly_the_granted_operations() -> Result<()> {
    let sent = recording::pool_calls().await?;
    assert_eq!(
        cognito_granted()?,
        sent,
        "granted operations = the operations the pool adapter sends"
    );
    Ok(())
}

/// reset-admin on a pool sends exactly what the administrators' policy grants it there: its
/// pool operations recorded against moto are the policy's `cognito-idp` actions, and each of its
/// DynamoDB calls is granted on its table, the state table's update within the attributes its
/// `dynamodb:Attributes` condition lists (which the calls use up, none granted for nothing).
#[tokio::test]
#[ignore = "needs PASSWORD_STORE=cognito: scripts/test-cognito.sh runs it"]
async fn cognito_pool_admin_sends_exactly_what_the_admin_policy_grants() -> Result<()> {
    let sent = recording::admin_pool_calls().await?;
    let template: Value = serde_norway::from_str(&read("infra/template.yaml")?)?;
    let mut granted: BTreeMap<(String, String), Option<BTreeSet<String>>> = BTreeMap::new();
    let statements = template["Resources"]["AdminPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .ok_or_else(|| anyhow!("no AdminPolicy statements"))?;
    for statement in statements {
        // As deployed with a pool: `!If [UseCognitoStore, with, without]`; the key's
        // statements (`UseCmk`) are not about the tables' items.
        let statement = match statement {
            Value::Tagged(tagged) => match tagged.value.get(0).and_then(Value::as_str) {
                Some("UseCognitoStore") => tagged.value.get(1).unwrap_or(&Value::Null),
                _ => continue,
            },
            plain => plain,
        };
        if statement["Effect"].as_str() != Some("Allow") {
            continue;
        }
        let Some(resource) = pool_deployment_resource(&statement["Resource"]) else {
            continue;
        };
        let limit = statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
            .as_sequence()
            .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect());
        for action in strings(&statement["Action"]) {
            granted.insert((action, resource.clone()), limit.clone());
        }
    }
    let mut used: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for call in &sent {
        let key = (call.action.clone(), call.resource.clone());
        let limit = granted
            .get(&key)
            .ok_or_else(|| anyhow!("reset-admin sends {call:?}, which the admin policy does not grant"))?;
        if let Some(limit) = limit {
            assert!(call.attributes.is_subset(limit), "{call:?} beyond {limit:?}");
        }
        used.entry(key).or_default().extend(call.attributes.clone());
    }
    let pool_granted: BTreeSet<&String> = granted
        .keys()
        .filter(|(_, resource)| resource == "UserPool")
        .map(|(action, _)| action)
        .collect();
    let pool_sent: BTreeSet<&String> = used
        .keys()
        .filter(|(_, resource)| resource == "UserPool")
        .map(|(action, _)| action)
        .collect();
    assert_eq!(pool_granted, pool_sent, "granted on the pool = sent to the pool");
    let state_update = ("dynamodb:UpdateItem".to_owned(), "AccountStateTable".to_owned());
    assert_eq!(
        granted.get(&state_update).cloned().flatten(),
        used.get(&state_update).cloned(),
        "the state table's writable attributes = those reset-admin writes"
    );
    Ok(())
}

/// A statement's resource as the recording names it, deployed with a pool: `UserPool`, a table's
/// logical id, or `Table/index` for `!Sub "${Table.Arn}/index/NAME"`; of `!If [UseCognitoStore,
/// with, without]` the first.
fn pool_deployment_resource(resource: &Value) -> Option<String> {
    let Value::Tagged(tagged) = resource else {
        return None;
    };
    if tagged.value.get(0).and_then(Value::as_str) == Some("UseCognitoStore") {
        return pool_deployment_resource(tagged.value.get(1)?);
    }
    let arn = tagged.value.as_str()?;
    if arn.contains(":userpool/") {
        return Some("UserPool".to_owned());
    }
    Some(match arn.trim_start_matches("${").split_once(".Arn}/index/") {
        Some((table, _)) => format!("{table}/index"),
        None => arn.trim_end_matches(".Arn").to_owned(),
    })
}

fn cognito_granted() -> Result<BTreeSet<String>> {
    let expected: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        ("request-reset", vec!["DescribeUserPool"]),
        ("address-change", vec!["DescribeUserPool"]),
        ("verify-token", vec!["DescribeUserPool", "AdminGetUser"]),
        // A notice bound to a change left unfinished ends the account's sessions.
        (
            "send-mail",
            vec!["DescribeUserPool", "AdminGetUser", "AdminUserGlobalSignOut"],
        ),
        (
            "change-password",
            vec![
                "DescribeUserPool",
                "AdminGetUser",
                "AdminSetUserPassword",
                "AdminUserGlobalSignOut",
            ],
        ),
        ("mail-events", vec![]),
        // The PreTraffic hook reads no account: it only invokes the functions.
        ("pre-traffic", vec![]),
        // The probe reads its accounts' state in the users (account-state) table only.
        ("probe", vec![]),
    ]);
    let template: Value = serde_norway::from_str(&read("infra/template.yaml")?)?;
    let mut granted_anywhere = BTreeSet::new();
    for (_, resource) in template["Resources"].as_mapping().into_iter().flatten() {
        let Some(binary) = resource["Metadata"]["BuildProperties"]["Binary"].as_str() else {
            continue;
        };
        let mut granted = BTreeSet::new();
        for document in resource["Properties"]["Policies"].as_sequence().into_iter().flatten() {
            for statement in document["Statement"].as_sequence().into_iter().flatten() {
                let Value::Tagged(tagged) = statement else { continue };
                if tagged.value.get(0).and_then(Value::as_str) != Some("UseCognitoStore") {
                    continue;
                }
                let statement = tagged.value.get(1).unwrap_or(&Value::Null);
                let actions: Vec<String> = strings(&statement["Action"])
                    .into_iter()
                    .filter(|a| a.starts_with("cognito-idp:"))
                    .collect();
                if actions.is_empty() {
                    continue;
                }
                let arn = format!("{:?}", statement["Resource"]);
                assert!(
                    arn.contains(":userpool/${UserPoolId}"),
                    "{binary}: pool operations on {arn}, not the pool's ARN"
                );
                granted.extend(actions);
            }
        }
        let want: BTreeSet<String> = expected
            .get(binary)
            .ok_or_else(|| anyhow!("{binary} is not in this test's table"))?
            .iter()
            .map(|a| format!("cognito-idp:{a}"))
            .collect();
        assert_eq!(granted, want, "{binary}'s Cognito statements");
        granted_anywhere.extend(granted);
    }
    Ok(granted_anywhere)
}

/// Every `!GetAtt X.Arn` and `!Ref X` in `value`: (tag, X).
fn references(value: &Value) -> Vec<(String, String)> {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            match (&tagged.value, tag.trim_start_matches('!')) {
                (Value::String(name), "GetAtt") => vec![("GetAtt".into(), name.trim_end_matches(".Arn").to_owned())],
                (Value::String(name), "Ref") => vec![("Ref".into(), name.clone())],
                (inner, _) => references(inner),
            }
        }
        Value::Sequence(items) => items.iter().flat_map(references).collect(),
        Value::Mapping(map) => map.values().flat_map(references).collect(),
        _ => Vec::new(),
    }
}

/// The mail queue's resource policy lets exactly the functions whose own policy sends to it,
/// and the administrators' principals (redrive, set-email's notices), send: it denies every
/// other principal, so that no role of the account with a broad sqs:SendMessage can write a
/// job that send-mail would mail.
#[test]
fn only_the_producers_and_the_administrators_may_send_to_the_mail_queue() -> Result<()> {
    let template: Value = serde_norway::from_str(&read("infra/template.yaml")?)?;
    let resources = template["Resources"]
        .as_mapping()
        .ok_or_else(|| anyhow!("no Resources"))?;
    let queue_policies: Vec<&Value> = resources
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::SQS::QueuePolicy"))
        .filter(|r| references(&r["Properties"]["Queues"]).contains(&("Ref".into(), "MailQueue".into())))
        .collect();
    let [policy] = queue_policies.as_slice() else {
        bail!(
            "the mail queue should have exactly one queue policy, found {}",
            queue_policies.len()
        );
    };
    let statements = policy["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .ok_or_else(|| anyhow!("no statements"))?;
    let [deny] = statements.as_slice() else {
        bail!("one statement expected, found {}", statements.len());
    };
    assert_eq!(deny["Effect"].as_str(), Some("Deny"));
    assert_eq!(
        deny["Principal"].as_str(),
        Some("*"),
        "every principal but the listed ones"
    );
    assert_eq!(strings(&deny["Action"]), ["sqs:SendMessage"]);
    assert_eq!(resource_name(&deny["Resource"]), ["MailQueue"]);
    let excepted = references(&deny["Condition"]["StringNotLike"]["aws:PrincipalArn"]);
    assert!(
        deny["Condition"].as_mapping().map(|m| m.len()) == Some(1),
        "one condition, on the principal"
    );

    // The functions excepted, by their SAM-generated roles, against the functions whose own
    // policy sends to the queue (which the drift test above holds to what their code calls).
    let binary_of = |logical_id: &str| -> Option<String> {
        resources
            .get(logical_id)
            .and_then(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str())
            .map(str::to_owned)
    };
    let mut excepted_functions = BTreeSet::new();
    for (tag, name) in &excepted {
        match (tag.as_str(), name.strip_suffix("Role")) {
            ("GetAtt", Some(function)) => {
                let binary = binary_of(function).ok_or_else(|| anyhow!("{name}: no function {function}"))?;
                excepted_functions.insert(binary);
            }
            ("Ref", _) if name == "MailQueueAdminPrincipals" => {}
            _ => bail!("an unexpected principal in the queue policy: {tag} {name}"),
        }
    }
    let access = ("sqs:SendMessage".to_owned(), "MailQueue".to_owned());
    let senders: BTreeSet<String> = template_policies()?
        .into_iter()
        .filter(|(_, policy)| policy.allowed.contains(&access))
        .map(|(binary, _)| binary)
        .collect();
    assert_eq!(excepted_functions, senders);
    assert!(
        excepted.contains(&("Ref".into(), "MailQueueAdminPrincipals".into())),
        "the administrators' principals may send (mail-queue redrive)"
    );
    // ... and the administrators' policy is what lets them (reset-admin mail-queue redrive).
    let admin = &resources.get("AdminPolicy").ok_or_else(|| anyhow!("no AdminPolicy"))?["Properties"]["PolicyDocument"]
        ["Statement"];
    assert!(admin.as_sequence().into_iter().flatten().any(|s| {
        s["Effect"].as_str() == Some("Allow")
            && strings(&s["Action"]) == ["sqs:SendMessage"]
            && resource_name(&s["Resource"]) == ["MailQueue"]
    }));
    Ok(())
}
