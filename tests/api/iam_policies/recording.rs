//! What every port method of the real adapters sends to DynamoDB, SES and SQS, recorded.
//!
//! The adapters are the production ones, built by the production wiring (`Wiring::with_clients`,
//! `SendMail::new`) on SDK clients that carry a [`Recorder`]: an interceptor that keeps each
//! request as it leaves for the local stack, serialized and signed. Each port method runs
//! against the stack on every path where it sends something different (a condition that fails,
//! a claim held elsewhere, an event without an account, a transaction on an account of epoch 0),
//! and its requests are read back as IAM actions on the template's resources:
//! - DynamoDB and SQS speak JSON with an `X-Amz-Target`: the operation is the action, except
//!   that a transaction is authorized item by item (`Update` → `dynamodb:UpdateItem`);
//! - SES v2 is REST: `POST /v2/email/outbound-emails` is `ses:SendEmail`;
//! - a Cognito pool speaks JSON too (`AWSCognitoIdentityProviderService.<Operation>`), its
//!   resource the pool (recorded in the Cognito pass, `pool_calls`);
//! - a `TableName` or `QueueUrl` is the value of a template variable in this process
//!   (`USERS_TABLE: !Ref UsersTable`), so it stands for that variable's resource;
//! - the attributes are those of the key, the item and every expression, a `#name` through the
//!   request's `ExpressionAttributeNames`; values (`:v`), keywords and functions are not.
//!
//! A request this reader does not know (another service, a batch operation, an SES path) fails
//! the recording, naming it, rather than being left out.

use anyhow::{anyhow, bail, ensure, Context, Result};
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use password_reset_tests::reset_core::config::{PasswordStore, StoreKind};
use password_reset_tests::reset_core::domain::{
    AccountSnapshot, AccountStatus, AddressRequest, AddressRequestForm, Clock, CredentialEpoch, Email, JobId, Language,
    MailJob, NewPassword, NoticeOutcome, QueuedMail, ResetToken, SystemClock, Timestamp, TokenRecord, User,
};
use password_reset_tests::reset_core::mail::{OutgoingMail, RecordingQueue};
use password_reset_tests::reset_core::store::{
    AccountStore, ChangeNotice, ClaimEnd, ClaimHolder, CognitoAccounts, ConsumeError, CounterKey, CreateUserError,
    DynamoAddressRequests, DynamoStore, JobClaim, JobEnd, MailEvent, MailEventKind, MailEventRecord, NewCredential,
    TableNames, TokenStore, UserDirectory,
};
use password_reset_tests::reset_core::wiring::SdkClients;
use password_reset_tests::reset_core::{Settings, Wiring};
use password_reset_tests::{random_username, OwnMailQueue, TestUser};
use probe::tables::DynamoProbeStore;
use probe::walk::ProbeStore;
use regex::Regex;
use reset_admin::template::Template;
use send_mail::SendMail;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

/// One call IAM authorizes: an operation, or one item of a transaction, on one resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Call {
    pub action: String,
    /// A table's or queue's logical id, `<table>/index`, or `ses`.
    pub resource: String,
    /// The item attributes it names (key, item, expressions).
    pub attributes: BTreeSet<String>,
}

/// A request as the SDK put it on the wire.
#[derive(Debug)]
struct Sent {
    method: String,
    uri: String,
    target: Option<String>,
    body: String,
}

/// Keeps every request of the clients it is attached to.
#[derive(Debug, Clone, Default)]
struct Recorder {
    sent: Arc<Mutex<Vec<Sent>>>,
}

impl Recorder {
    fn take(&self) -> Vec<Sent> {
        self.sent
            .lock()
            .map(|mut sent| std::mem::take(&mut *sent))
            .unwrap_or_default()
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "IamCallRecorder"
    }

    // Before transmit: after serialization and signing, once per attempt (a retry sends the
    // same request again, which the sets below absorb).
    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let sent = Sent {
            method: request.method().to_owned(),
            uri: request.uri().to_owned(),
            target: request.headers().get("x-amz-target").map(str::to_owned),
            body: String::from_utf8_lossy(request.body().bytes().unwrap_or_default()).into_owned(),
        };
        self.sent
            .lock()
            .map_err(|_| "the recorder's lock is poisoned")?
            .push(sent);
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// Requests → calls
// ------------------------------------------------------------------------------------------

/// The template's resources by the names this process gives them (table names, queue URLs).
struct Resources(HashMap<String, String>);

impl Resources {
    /// Every template variable that names a resource, as `lookup` sets it (deployed with the
    /// DynamoDB store, as the policy test reads the template).
    fn read(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        let template = Template::load(&super::root().join("infra/template.yaml"))?;
        let mut named = HashMap::new();
        for (variable, logical_id) in template.resource_variables(StoreKind::DynamoDb)? {
            let Some(value) = lookup(&variable) else { continue };
            if let Some(other) = named.insert(value.clone(), logical_id.clone()) {
                bail!("{value} names both {other} and {logical_id}: the recording could not tell them apart");
            }
        }
        Ok(Self(named))
    }

    fn logical_id(&self, name: &str) -> Result<String> {
        self.0
            .get(name)
            .cloned()
            .ok_or_else(|| anyhow!("{name} is the value of no template variable that names a resource"))
    }
}

fn calls_of(sent: &Sent, resources: &Resources) -> Result<Vec<Call>> {
    let body: Json = if sent.body.is_empty() {
        Json::Null
    } else {
        serde_json::from_str(&sent.body).with_context(|| format!("the body of {} {}", sent.method, sent.uri))?
    };
    match sent.target.as_deref().map(|t| t.split_once('.')) {
        Some(Some(("DynamoDB_20120810", operation))) => dynamodb_calls(operation, &body, resources),
        Some(Some(("AmazonSQS", operation))) => {
            let queue = body["QueueUrl"]
                .as_str()
                .ok_or_else(|| anyhow!("sqs:{operation} without a QueueUrl"))?;
            Ok(vec![Call {
                action: format!("sqs:{operation}"),
                resource: resources.logical_id(queue)?,
                attributes: BTreeSet::new(),
            }])
        }
        Some(Some(("AWSCognitoIdentityProviderService", operation))) => Ok(vec![Call {
            action: format!("cognito-idp:{operation}"),
            resource: "UserPool".to_owned(),
            attributes: BTreeSet::new(),
        }]),
        Some(_) => bail!("a request to an unknown target: {sent:?}"),
        None => ses_calls(sent),
    }
}

/// SES v2 is REST-JSON: the operation is the method and the path.
fn ses_calls(sent: &Sent) -> Result<Vec<Call>> {
    let path = sent
        .uri
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .unwrap_or(&sent.uri);
    let path = path.split('?').next().unwrap_or(path);
    let action = match (sent.method.as_str(), path) {
        ("POST", "/v2/email/outbound-emails") => "ses:SendEmail",
        (method, path) => bail!("a request this reader does not know: {method} {path}"),
    };
    Ok(vec![Call {
        action: action.to_owned(),
        resource: "ses".to_owned(),
        attributes: BTreeSet::new(),
    }])
}

fn dynamodb_calls(operation: &str, body: &Json, resources: &Resources) -> Result<Vec<Call>> {
    match operation {
        // No permission for the transaction itself: IAM authorizes each of its items as the
        // single-item operation.
        "TransactWriteItems" | "TransactGetItems" => {
            let mut calls = Vec::new();
            for item in body["TransactItems"].as_array().into_iter().flatten() {
                for (kind, request) in item.as_object().into_iter().flatten() {
                    let action = match kind.as_str() {
                        "Put" => "PutItem",
                        "Update" => "UpdateItem",
                        "Delete" => "DeleteItem",
                        "ConditionCheck" => "ConditionCheckItem",
                        "Get" => "GetItem",
                        other => bail!("{operation}: an item of kind {other}"),
                    };
                    calls.push(dynamodb_call(action, request, resources)?);
                }
            }
            ensure!(!calls.is_empty(), "{operation} without TransactItems");
            Ok(calls)
        }
        "BatchGetItem" | "BatchWriteItem" => {
            bail!("{operation}: its tables are the keys of RequestItems, which this reader does not read yet")
        }
        _ => Ok(vec![dynamodb_call(operation, body, resources)?]),
    }
}

const EXPRESSIONS: [&str; 5] = [
    "KeyConditionExpression",
    "FilterExpression",
    "ProjectionExpression",
    "ConditionExpression",
    "UpdateExpression",
];

fn dynamodb_call(operation: &str, request: &Json, resources: &Resources) -> Result<Call> {
    let table = request["TableName"]
        .as_str()
        .ok_or_else(|| anyhow!("dynamodb:{operation} without a TableName"))?;
    let mut resource = resources.logical_id(table)?;
    if request.get("IndexName").is_some() {
        resource.push_str("/index");
    }
    let mut attributes: BTreeSet<String> = ["Key", "Item"]
        .into_iter()
        .filter_map(|field| request[field].as_object())
        .flat_map(|map| map.keys().cloned())
        .collect();
    for field in EXPRESSIONS {
        if let Some(text) = request[field].as_str() {
            let named = expression_attributes(text, &request["ExpressionAttributeNames"])
                .with_context(|| format!("dynamodb:{operation} on {resource}, {field} `{text}`"))?;
            attributes.extend(named);
        }
    }
    Ok(Call {
        action: format!("dynamodb:{operation}"),
        resource,
        attributes,
    })
}

/// The words of the expression grammar (case-insensitive), never attribute names: a name that
/// is a reserved word must go through a `#placeholder`.
const KEYWORDS: [&str; 9] = ["SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "IN", "BETWEEN"];

/// The top-level attributes an expression names.
fn expression_attributes(text: &str, names: &Json) -> Result<BTreeSet<String>> {
    let word = Regex::new(r"[#:]?[A-Za-z_][A-Za-z0-9_]*")?;
    let mut found = BTreeSet::new();
    for m in word.find_iter(text) {
        let token = m.as_str();
        let after_dot = text[..m.start()].ends_with('.');
        let is_function = text[m.end()..].trim_start().starts_with('(');
        // `:v` is a value, `a.b` a path inside `a`, `f(…)` a function.
        if token.starts_with(':') || after_dot || is_function || KEYWORDS.contains(&token.to_ascii_uppercase().as_str())
        {
            continue;
        }
        if token.starts_with('#') {
            let name = names[token]
                .as_str()
                .ok_or_else(|| anyhow!("{token} has no ExpressionAttributeNames entry"))?;
            found.insert(name.to_owned());
        } else {
            found.insert(token.to_owned());
        }
    }
    Ok(found)
}

// ------------------------------------------------------------------------------------------
// Every port method, on every path that sends something else
// ------------------------------------------------------------------------------------------

/// The calls recorded so far, by port method.
struct Recording {
    recorder: Recorder,
    resources: Resources,
    calls: BTreeMap<String, BTreeSet<Call>>,
}

impl Recording {
    /// Runs one port method and keeps what it sent under `method` (the spies' name for it).
    async fn run<T>(&mut self, method: &str, call: impl Future<Output = T>) -> Result<T> {
        let stray = self.recorder.take();
        ensure!(stray.is_empty(), "requests sent outside any port method: {stray:?}");
        let output = call.await;
        let calls = self.calls.entry(method.to_owned()).or_default();
        for sent in self.recorder.take() {
            calls.extend(calls_of(&sent, &self.resources).with_context(|| format!("{method} sent it"))?);
        }
        Ok(output)
    }
}

/// The production wiring on the local stack, its SDK clients recording, with mail queues of
/// the test's own (the shared ones are the local send-mail's and the other tests').
struct Recorded {
    recording: Recording,
    wiring: Wiring,
    queue: OwnMailQueue,
}

impl Recorded {
    async fn wire() -> Result<Self> {
        let queue = OwnMailQueue::create(&format!("iam-recording-{}", random_username())).await?;
        let (queue_url, dead_letter_url) = (queue.url.clone(), queue.dead_letter_url.clone());
        let lookup = move |name: &str| match name {
            "MAIL_QUEUE_URL" => Some(queue_url.clone()),
            "MAIL_DEAD_LETTER_QUEUE_URL" => Some(dead_letter_url.clone()),
            // The policies are read as deployed with the DynamoDB store.
            "PASSWORD_STORE" => Some("dynamodb".to_owned()),
            other => std::env::var(other).ok(),
        };
        let settings = Settings::from_lookup(&lookup)?;
        let recorder = Recorder::default();
        let config = password_reset_tests::reset_core::app::sdk_config().await;
        let clients = SdkClients {
            dynamodb: Some(aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(&config)
                    .interceptor(recorder.clone())
                    .build(),
            )),
            sesv2: Some(aws_sdk_sesv2::Client::from_conf(
                aws_sdk_sesv2::config::Builder::from(&config)
                    .interceptor(recorder.clone())
                    .build(),
            )),
            sqs: Some(aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(&config)
                    .interceptor(recorder.clone())
                    .build(),
            )),
        };
        Ok(Self {
            recording: Recording {
                recorder,
                resources: Resources::read(&lookup)?,
                calls: BTreeMap::new(),
            },
            wiring: Wiring::with_clients(settings, config, clients),
            queue,
        })
    }
}

/// Every pool operation the Cognito adapter sends while it serves each of its port methods
/// (the cold start's policy read, an account read, a change through the claimed protocol),
/// against the pool in moto: the adapter on a recording Cognito client, its ledger on the
/// stack's account-state table.
pub(super) async fn pool_calls() -> Result<BTreeSet<String>> {
    let settings = Settings::from_lookup(|name: &str| std::env::var(name).ok())?;
    let PasswordStore::Cognito { user_pool_id } = settings.password_store.clone() else {
        bail!("run with PASSWORD_STORE=cognito (scripts/test-cognito.sh does)");
    };
    let recorder = Recorder::default();
    let config = password_reset_tests::reset_core::app::sdk_config().await;
    let cognito = aws_sdk_cognitoidentityprovider::Client::from_conf(
        aws_sdk_cognitoidentityprovider::config::Builder::from(&config)
            .interceptor(recorder.clone())
            .build(),
    );
    let ledger = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), TableNames::from(&settings));
    let accounts = CognitoAccounts::new(cognito, user_pool_id.clone(), ledger.clone());

    accounts.password_policy().await?;
    let username = random_username();
    let email = Email::parse(&format!("{username}@example.jp")).map_err(|e| anyhow!(e))?;
    password_reset_tests::pool::create_user(&user_pool_id, &username, &email, Language::Ja).await?;
    let user = accounts
        .find_account(&username)
        .await?
        .ok_or_else(|| anyhow!("the pool does not show {username}"))?;
    let now = SystemClock.now();
    let token = ResetToken::generate().map_err(|e| anyhow!("{e}"))?;
    let record = TokenRecord::new(&token, username.clone(), user.credential_epoch, now, 3600);
    ledger.save_token(&record).await?;
    let password = NewPassword::parse("Recorded2026x", "Recorded2026x", &username).map_err(|e| anyhow!("{e:?}"))?;
    let notice = MailJob::password_changed(username.clone(), email, Language::Ja, now)?;
    let queue = RecordingQueue::default();
    let handed = ChangeNotice {
        job: &notice,
        queue: &queue,
    };
    accounts
        .change_password(&record, NewCredential::Plain(password), now, handed)
        .await
        .map_err(|e| anyhow!("the recorded change failed: {e:?}"))?;
    // The notice's settling, as send-mail runs it: a finished change reads its state only.
    let bound = queue.jobs();
    let Some(QueuedMail::PasswordChanged {
        completes: Some(change),
        ..
    }) = bound.first().map(|job| &job.mail)
    else {
        bail!("the pool's change queued no bound notice: {bound:?}");
    };
    accounts.settle_change(change, now).await?;

    let resources = Resources(HashMap::new());
    let mut operations = BTreeSet::new();
    for sent in recorder.take() {
        for call in calls_of(&sent, &resources)? {
            ensure!(call.resource == "UserPool", "the pool's client sent {call:?}");
            operations.insert(call.action);
        }
    }
    Ok(operations)
}

/// Every call reset-admin's pool path sends (a user shown, disabled twice, the second time a
/// re-run with the pool already so, enabled, its address changed, its audit key read), against
/// the pool in moto and the stack's account-state and audit tables: `PoolAccounts` on recording
/// Cognito and DynamoDB clients. Its DynamoDB calls are named by table (`AccountStateTable`,
/// `AuditLogTable`); its pool calls on `UserPool`.
pub(super) async fn admin_pool_calls() -> Result<BTreeSet<Call>> {
    use reset_admin::pool::PoolAccounts;
    use reset_admin::Accounts;
    let settings = Settings::from_lookup(|name: &str| std::env::var(name).ok())?;
    let PasswordStore::Cognito { user_pool_id } = settings.password_store.clone() else {
        bail!("run with PASSWORD_STORE=cognito (scripts/test-cognito.sh does)");
    };
    let audit_table = std::env::var("AUDIT_LOG_TABLE").context("AUDIT_LOG_TABLE")?;
    let recorder = Recorder::default();
    let config = password_reset_tests::reset_core::app::sdk_config().await;
    let cognito = aws_sdk_cognitoidentityprovider::Client::from_conf(
        aws_sdk_cognitoidentityprovider::config::Builder::from(&config)
            .interceptor(recorder.clone())
            .build(),
    );
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .interceptor(recorder.clone())
            .build(),
    );
    let tables = Accounts::new(dynamodb, settings.users_table.clone(), audit_table.clone());
    let admin = PoolAccounts::new(cognito, user_pool_id.clone(), tables);

    let username = random_username();
    let email = Email::parse(&format!("{username}@example.jp")).map_err(|e| anyhow!(e))?;
    password_reset_tests::pool::create_user(&user_pool_id, &username, &email, Language::Ja).await?;
    let change = crate::admin_support::admin_change("iam-recording", "recorded").await?;
    let moved = Email::parse(&format!("{username}@moved.example.jp")).map_err(|e| anyhow!(e))?;
    admin.find(&username).await?;
    admin.audit_key(&username).await?;
    for status in [AccountStatus::Disabled, AccountStatus::Disabled, AccountStatus::Active] {
        admin.set_status(&username, status, &change).await?;
    }
    admin.set_email(&username, &moved, &change).await?;
    admin.mail_problems(10).await?;

    let resources = Resources(HashMap::from([
        (settings.users_table.clone(), "AccountStateTable".to_owned()),
        (audit_table, "AuditLogTable".to_owned()),
    ]));
    let mut calls = BTreeSet::new();
    for sent in recorder.take() {
        calls.extend(calls_of(&sent, &resources)?);
    }
    Ok(calls)
}

/// Port method → the calls it makes, for every method of every DynamoDB, SES and SQS adapter,
/// named as the spies of `iam_policies` name them.
pub(super) async fn port_calls() -> Result<BTreeMap<String, BTreeSet<Call>>> {
    let mut recorded = Recorded::wire().await?;
    let now = SystemClock.now();
    let user = accounts_and_links(&mut recorded, now).await?;
    counters(&mut recorded.recording, &recorded.wiring, now, &user).await?;
    mail_ledger_and_events(&mut recorded, now, &user).await?;
    address_requests(&mut recorded, now, &user).await?;
    mail_and_queues(&mut recorded, now, &user).await?;
    probe_store(&mut recorded, now, &user).await?;
    Ok(recorded.recording.calls)
}

/// The user directory (reset-admin's), the accounts and the links. Returns the account.
async fn accounts_and_links(recorded: &mut Recorded, now: Timestamp) -> Result<User> {
    let Recorded { recording, wiring, .. } = recorded;
    let app = wiring.app().await?;
    let directory = DynamoStore::new(wiring.dynamodb(), TableNames::from(&wiring.settings));
    // Epoch 0, as an account written before epochs existed: the change's condition differs.
    let mut user = TestUser::random().build()?;
    user.credential_epoch = CredentialEpoch::default();
    recording.run("create_user", directory.create_user(&user)).await??;
    let again = recording.run("create_user", directory.create_user(&user)).await?;
    ensure!(matches!(again, Err(CreateUserError::AlreadyExists(_))), "{again:?}");
    recording
        .run("find_user", directory.find_user(&user.username))
        .await??;

    let link = |epoch| -> Result<TokenRecord> {
        Ok(TokenRecord::new(
            &ResetToken::generate()?,
            user.username.clone(),
            epoch,
            now,
            3600,
        ))
    };
    let hash = || NewCredential::Argon2idHash("$argon2id$v=19$m=19456,t=2,p=1$stand-in".to_owned());
    // The DynamoDB store leaves the notice to its caller: it queues nothing here.
    let notice_job = MailJob::password_changed(user.username.clone(), user.email.clone(), Language::Ja, now)?;
    let unused_queue = RecordingQueue::default();
    let notice = || ChangeNotice {
        job: &notice_job,
        queue: &unused_queue,
    };
    let mut epoch = CredentialEpoch::default();
    for _ in 0..2 {
        let token = link(epoch)?;
        recording.run("save_token", app.tokens.save_token(&token)).await??;
        recording
            .run("find_token", app.tokens.find_token(&token.token_hash))
            .await??;
        recording
            .run(
                "change_password",
                app.accounts.change_password(&token, hash(), now, notice()),
            )
            .await??;
        let used = recording
            .run(
                "change_password",
                app.accounts.change_password(&token, hash(), now, notice()),
            )
            .await?;
        ensure!(matches!(used, Err(ConsumeError::TokenNoLongerValid)), "{used:?}");
        let account = recording
            .run("find_account", app.accounts.find_account(&user.username))
            .await??
            .ok_or_else(|| anyhow!("{} is gone", user.username))?;
        ensure!(account.credential_epoch != epoch, "the change moves the epoch on");
        epoch = account.credential_epoch;
    }
    for username in [user.username.clone(), random_username()] {
        // The second has no account: the condition keeps a half item from being written.
        recording
            .run(
                "remember_reset_mail",
                app.accounts.remember_reset_mail(&username, "m", now),
            )
            .await??;
    }
    user.credential_epoch = epoch;
    Ok(user)
}

async fn counters(recording: &mut Recording, wiring: &Wiring, now: Timestamp, user: &User) -> Result<()> {
    let counters = wiring.app().await?.counters;
    let key = |window| CounterKey::per_username(&user.username, window);
    let expires = now.plus_secs(3600).as_secs();
    let hits = recording
        .run("increment_counter", counters.increment_counter(&key(1), expires))
        .await??;
    ensure!(hits == 1, "{hits} hits");
    let read = recording.run("read_counter", counters.read_counter(&key(1))).await??;
    ensure!(read == 1, "{read} read");
    for expected in [true, false] {
        let reserved = recording
            .run("reserve_below", counters.reserve_below(&key(2), 1, expires))
            .await??;
        ensure!(reserved == expected, "reserve_below {reserved}");
    }
    // The second finds nothing to give back.
    for window in [2, 3] {
        recording
            .run("release_reserved", counters.release_reserved(&key(window)))
            .await??;
    }
    let next_at = now.plus_secs(60);
    for expected in [true, false] {
        let taken = recording
            .run(
                "take_mail_turn",
                counters.take_mail_turn(&key(4), user.credential_epoch, now, next_at),
            )
            .await??;
        ensure!(taken == expected, "take_mail_turn {taken}");
    }
    recording
        .run(
            "give_back_mail_turn",
            counters.give_back_mail_turn(&key(4), next_at, now),
        )
        .await??;
    Ok(())
}

async fn mail_ledger_and_events(recorded: &mut Recorded, now: Timestamp, user: &User) -> Result<()> {
    let Recorded { recording, wiring, .. } = recorded;
    let ledger = wiring.mail_sender().await?.ledger;
    let (holder, other) = (ClaimHolder::generate()?, ClaimHolder::generate()?);
    let keep = now.plus_secs(86_400).as_secs();
    let (sent, skipped) = (JobId::generate()?, JobId::generate()?);
    // Granted; refused while held (the refusal reads the job's state to tell a redelivery from
    // a race); refused once done.
    for (job, by, expected) in [
        (&sent, &holder, JobClaim::Granted),
        (&sent, &other, JobClaim::HeldElsewhere),
        (&skipped, &holder, JobClaim::Granted),
    ] {
        let claimed = recording
            .run("claim_job", ledger.claim_job(job, by, now, 60, keep))
            .await??;
        ensure!(claimed == expected, "claim_job {claimed:?}");
    }
    let ended = recording
        .run("release_job", ledger.release_job(&sent, &other))
        .await??;
    ensure!(ended == ClaimEnd::NotHolder, "release_job {ended:?}");
    for (job, end) in [
        (&sent, JobEnd::Sent { message_id: "m" }),
        (&skipped, JobEnd::Skipped { reason: "iam" }),
    ] {
        let ended = recording
            .run("finish_job", ledger.finish_job(job, &holder, end, now))
            .await??;
        ensure!(ended == ClaimEnd::Ended, "finish_job {ended:?}");
    }
    let claimed = recording
        .run("claim_job", ledger.claim_job(&sent, &other, now, 60, keep))
        .await??;
    ensure!(claimed == JobClaim::AlreadyDone, "claim_job {claimed:?}");
    let released = JobId::generate()?;
    recording
        .run("claim_job", ledger.claim_job(&released, &holder, now, 60, keep))
        .await??;
    let ended = recording
        .run("release_job", ledger.release_job(&released, &holder))
        .await??;
    ensure!(ended == ClaimEnd::Ended, "release_job {ended:?}");

    // SES's events: about no account's mail; a problem with and without detail; a delivery.
    let events = wiring.mail_events();
    let message_id = format!("iam-{}", random_username());
    let accounts = wiring.app().await?.accounts;
    recording
        .run(
            "remember_reset_mail",
            accounts.remember_reset_mail(&user.username, &message_id, now),
        )
        .await??;
    let mail_event = |message_id: &str, kind, detail: Option<&str>| MailEvent {
        message_id: message_id.to_owned(),
        kind,
        occurred_at: now,
        detail: detail.map(str::to_owned),
    };
    let unknown = format!("iam-{}", random_username());
    for (event, recorded_on_the_account) in [
        (mail_event(&unknown, MailEventKind::Delivery, None), false),
        (
            mail_event(&message_id, MailEventKind::Bounce, Some("Permanent/General")),
            true,
        ),
        (mail_event(&message_id, MailEventKind::Complaint, None), true),
        (mail_event(&message_id, MailEventKind::Delivery, None), false),
    ] {
        let record = recording
            .run("record_mail_event", events.record_mail_event(&event))
            .await??;
        let expected = if recorded_on_the_account {
            MailEventRecord::Recorded(user.username.clone())
        } else if event.message_id == unknown {
            MailEventRecord::Unmatched
        } else {
            // This same mail's delivery never clears its own problem.
            MailEventRecord::Stale(user.username.clone())
        };
        ensure!(record == expected, "record_mail_event {record:?}");
    }
    Ok(())
}

async fn address_requests(recorded: &mut Recorded, now: Timestamp, user: &User) -> Result<()> {
    let Recorded { recording, wiring, .. } = recorded;
    let requests = wiring.address_desk().await?.requests;
    let request = |address: &str| -> Result<AddressRequest> {
        let form = AddressRequestForm {
            username: user.username.as_str().to_owned(),
            institution: "さくら内科".to_owned(),
            location: "東京都千代田区".to_owned(),
            contact_person: "山田 花子".to_owned(),
            new_email: address.to_owned(),
        };
        let input = form.parse().map_err(|e| anyhow!("{e:?}"))?;
        Ok(AddressRequest::new(input, Language::Ja, now, 14)?)
    };
    let account = AccountSnapshot::of(user.credential_epoch, user.email.as_str());
    // The notice sent or failed (two update expressions), then expired once no longer queued.
    for (address, outcome) in [
        ("sent@clinic.example.jp", NoticeOutcome::Sent { at: now, account }),
        ("failed@clinic.example.jp", NoticeOutcome::Failed),
    ] {
        let request = request(address)?;
        let id = &request.request_id;
        recording
            .run("requests.create_request", requests.create_request(&request))
            .await??;
        let found = recording
            .run("requests.find_request", requests.find_request(id))
            .await??;
        ensure!(found.is_some(), "find_request found nothing");
        let hash = ResetToken::generate()?.hash();
        let until = now.plus_secs(3600).as_secs();
        for expected in [true, false] {
            let set = recording
                .run("requests.set_verification", requests.set_verification(id, &hash, until))
                .await??;
            ensure!(set == expected, "set_verification {set}");
            let verified = recording
                .run("requests.mark_verified", requests.mark_verified(id, &hash, now))
                .await??;
            ensure!(verified == expected, "mark_verified {verified}");
        }
        for (outcome, expected) in [(outcome, true), (NoticeOutcome::Expired, false)] {
            let noted = recording
                .run("requests.record_notice", requests.record_notice(id, &outcome))
                .await??;
            ensure!(noted == expected, "record_notice {outcome:?}: {noted}");
        }
    }
    let pending = recording
        .run("requests.pending_requests", requests.pending_requests(now))
        .await??;
    ensure!(!pending.is_empty(), "no pending request");
    Ok(())
}

async fn mail_and_queues(recorded: &mut Recorded, now: Timestamp, user: &User) -> Result<()> {
    let Recorded {
        recording,
        wiring,
        queue,
    } = recorded;
    let send_mail = SendMail::new(wiring).await?;
    let mail = OutgoingMail {
        to: Email::parse(&format!("{}@example.jp", random_username())).map_err(|e| anyhow!(e))?,
        subject: "IAM".to_owned(),
        text: "IAM".to_owned(),
        html: "<p>IAM</p>".to_owned(),
    };
    recording
        .run("mailer.send", send_mail.sender.mailer.send(&mail))
        .await??;

    let job = MailJob::reset_link(user.username.clone(), now, 3600)?;
    let mail_queue = wiring.app().await?.mail_queue;
    recording.run("queue.enqueue", mail_queue.enqueue(&job)).await??;
    // The job's receipt, by a client that records nothing: receiving is the event source's.
    let received = aws_sdk_sqs::Client::new(wiring.sdk_config())
        .receive_message()
        .queue_url(&queue.url)
        .wait_time_seconds(1)
        .send()
        .await?;
    let receipt = received
        .messages()
        .first()
        .and_then(|m| m.receipt_handle())
        .ok_or_else(|| anyhow!("the job did not arrive on {}", queue.url))?
        .to_owned();
    let control = &send_mail.queue;
    let body = job.to_message()?;
    recording
        .run("control.retry_after", control.retry_after(&receipt, 0))
        .await?
        .map_err(anyhow::Error::msg)?;
    recording
        .run("control.requeue", control.requeue(&body, 0))
        .await?
        .map_err(anyhow::Error::msg)?;
    // An empty body goes as a placeholder: the same call.
    for body in [body.as_str(), ""] {
        recording
            .run("control.dead_letter", control.dead_letter(body))
            .await?
            .map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// The probe's store port, as the spies would name its methods.
pub(super) const PROBE_STORE_METHODS: [&str; 4] = [
    "probe.probe_account",
    "probe.free_mail_turn",
    "probe.mint_link",
    "probe.oldest_pending_address_request_secs",
];

/// The probe's own store, built as `Probe::new` builds it, on the recording client.
async fn probe_store(recorded: &mut Recorded, now: Timestamp, user: &User) -> Result<()> {
    let Recorded { recording, wiring, .. } = recorded;
    let client = wiring.dynamodb();
    let settings = &wiring.settings;
    let store = DynamoProbeStore::new(
        client.clone(),
        settings.users_table.clone(),
        settings.rate_limits_table.clone(),
        Arc::new(DynamoStore::new(client.clone(), TableNames::from(settings))),
        Arc::new(DynamoAddressRequests::new(
            client,
            settings.address.requests_table.clone(),
        )),
    );
    let [account, free_turn, mint, pending] = PROBE_STORE_METHODS;
    let found = recording.run(account, store.probe_account(&user.username)).await??;
    ensure!(found.is_some(), "probe_account found nothing");
    recording.run(free_turn, store.free_mail_turn(&user.username)).await??;
    recording
        .run(mint, store.mint_link(&user.username, user.credential_epoch, now, 3600))
        .await??;
    recording
        .run(pending, store.oldest_pending_address_request_secs(now))
        .await??;
    Ok(())
}
