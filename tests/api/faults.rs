//! Faults: with DynamoDB Local stopped every endpoint answers 503 with a clear page or JSON
//! error within the function timeout, and the flow works again once it is back, with no
//! half-written state; with the SES emulator frozen the request answers at once (no SES call is
//! on the request path) and the mail arrives once SES is back. tests/api/disruptive/mail_queue.rs covers SES
//! outages through the whole queue path.
//!
//! This test runs its own DynamoDB Local and SES emulator (ports DYNAMODB_PORT+20 and
//! SES_PORT+20) and its own mail queue, delivered in-process by send-mail's handler, so that
//! stopping them cannot disturb the other tests.

use anyhow::{anyhow, bail, Context, Result};
use password_reset_tests::reset_core::app::sdk_config;
use password_reset_tests::reset_core::domain::{Clock, Email, Language, ResetToken, SystemClock, User};
use password_reset_tests::reset_core::mail::SesMailer;
use password_reset_tests::reset_core::service::MailSender;
use password_reset_tests::reset_core::store::UserDirectory;
use password_reset_tests::reset_core::store::{DynamoStore, TableNames};
use password_reset_tests::reset_core::App;
use password_reset_tests::*;
use reset_admin::tables::create_table;
use reset_admin::template::Template;
use send_mail::SendMail;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lambda's timeout for the functions (infra/template.yaml, Globals.Function.Timeout).
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);

struct OwnStack {
    name: String,
    dynamodb_port: u16,
    ses_port: u16,
    queue: OwnMailQueue,
}

impl OwnStack {
    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    fn script(&self, action: &str) -> Result<()> {
        let status = Command::new(Self::root().join("scripts/stack.sh"))
            .arg(action)
            .env("STACK_NAME", &self.name)
            .env("DYNAMODB_PORT", self.dynamodb_port.to_string())
            .env("SES_PORT", self.ses_port.to_string())
            .status()
            .with_context(|| format!("scripts/stack.sh {action}"))?;
        if !status.success() {
            bail!("scripts/stack.sh {action} failed");
        }
        Ok(())
    }

    fn pid(&self, service: &str) -> Result<String> {
        let path: PathBuf = Self::root().join(format!(".local/{}/{service}.pid", self.name));
        Ok(std::fs::read_to_string(&path)
            .with_context(|| path.display().to_string())?
            .trim()
            .to_owned())
    }

    fn signal(&self, service: &str, signal: &str) -> Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid(service)?)
            .status()?;
        if !status.success() {
            bail!("kill -{signal} {service} failed");
        }
        Ok(())
    }

    async fn create_tables(&self, app: &App) -> Result<()> {
        // A DynamoDB Local just started answers its first calls slowly on a loaded machine (its
        // JIT is cold): the set-up gets time the functions' 2 s attempts do not give.
        let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
            .endpoint_url(format!("http://127.0.0.1:{}", self.dynamodb_port))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            )
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        for table in Template::load(&Self::root().join("infra/template.yaml"))?.tables()? {
            let name = match table.env_var.as_str() {
                "USERS_TABLE" => app.settings.users_table.clone(),
                "RESET_TOKENS_TABLE" => app.settings.reset_tokens_table.clone(),
                "RATE_LIMITS_TABLE" => app.settings.rate_limits_table.clone(),
                other => std::env::var(other)?,
            };
            create_table(&client, &name, &table).await?;
        }
        Ok(())
    }

    /// The production wiring (same timeouts and retries), pointed at this stack.
    async fn app(&self) -> Result<App> {
        let mut settings = local_app().await?.settings;
        settings.mail_queue_url = self.queue.url.clone();
        settings.mail_dead_letter_queue_url = self.queue.dead_letter_url.clone();
        Ok(App::new(
            settings.clone(),
            Arc::new(self.store(&settings).await),
            Arc::new(self.queue.mail_queue()),
            Arc::new(SystemClock),
        ))
    }

    async fn store(&self, settings: &password_reset_tests::reset_core::Settings) -> DynamoStore {
        let dynamodb = aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
                .endpoint_url(format!("http://127.0.0.1:{}", self.dynamodb_port))
                .build(),
        );
        DynamoStore::new(dynamodb, TableNames::from(settings))
    }

    /// send-mail wired to this stack's DynamoDB, SES and queue.
    async fn sender(&self, app: &App) -> SendMail {
        let ses = aws_sdk_sesv2::Client::from_conf(
            aws_sdk_sesv2::config::Builder::from(&sdk_config().await)
                .endpoint_url(format!("http://127.0.0.1:{}", self.ses_port))
                .build(),
        );
        let store = Arc::new(self.store(&app.settings).await);
        SendMail {
            sender: MailSender {
                settings: app.settings.clone(),
                accounts: store.clone(),
                tokens: store.clone(),
                counters: store.clone(),
                ledger: store,
                mailer: Arc::new(SesMailer::new(ses, app.settings.sender_address.clone(), None)),
                clock: Arc::new(SystemClock),
                address_requests: Arc::new(reset_core::store::MemoryAddressRequests::default()),
            },
            queue: Arc::new(self.queue.control()),
            metrics_namespace: app.settings.metrics_namespace.clone(),
        }
    }

    async fn mails_to(&self, address: &str) -> Result<usize> {
        Ok(mails_at(&format!("http://127.0.0.1:{}", self.ses_port), address)
            .await?
            .len())
    }

    /// Delivers this stack's queue until `address` has `count` mails.
    async fn wait_for_mails(&self, sender: &SendMail, address: &str, count: usize) -> Result<()> {
        for _ in 0..100 {
            self.queue.deliver(sender).await?;
            if self.mails_to(address).await? >= count {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("no mail for {address}")
    }

    async fn latest_token(&self, address: &str) -> Result<String> {
        mails_at(&format!("http://127.0.0.1:{}", self.ses_port), address)
            .await?
            .last()
            .and_then(Mail::token)
            .ok_or_else(|| anyhow!("no link for {address}"))
    }
}

impl Drop for OwnStack {
    fn drop(&mut self) {
        let _ = self.signal("dynamodb", "CONT");
        let _ = self.signal("ses", "CONT");
        let _ = self.script("down");
    }
}

async fn new_user(stack: &OwnStack, app: &App) -> Result<User> {
    let username = random_username();
    let user = User::new_active(
        username.clone(),
        Email::parse(&format!("{username}@example.jp")).map_err(|e| anyhow!(e))?,
        Language::Ja,
        password_reset_tests::reset_core::domain::SystemClock.now(),
    )?;
    stack.store(&app.settings).await.create_user(&user).await?;
    Ok(user)
}

fn every_endpoint(token: &str, username: &str) -> Vec<(Function, EventBuilder)> {
    let good = "Kanagawa2026x";
    vec![
        (
            Function::RequestReset,
            EventBuilder::form("/password-reset", &[("username", username)]),
        ),
        (
            Function::RequestReset,
            EventBuilder::json(
                "/api/password-reset/request",
                serde_json::json!({ "username": username }),
            ),
        ),
        (
            Function::VerifyToken,
            EventBuilder::get(&format!("/password-reset/confirm?token={token}")),
        ),
        (
            Function::VerifyToken,
            EventBuilder::form("/password-reset/confirm", &[("token", token)]),
        ),
        (
            Function::VerifyToken,
            EventBuilder::json("/api/password-reset/verify", serde_json::json!({ "token": token })),
        ),
        (
            Function::ChangePassword,
            EventBuilder::form(
                "/password-reset/complete",
                &[
                    ("token", token),
                    ("new_password", good),
                    ("new_password_confirmation", good),
                ],
            ),
        ),
        (
            Function::ChangePassword,
            EventBuilder::json(
                "/api/password-reset/complete",
                serde_json::json!({ "token": token, "new_password": good, "new_password_confirmation": good }),
            ),
        ),
    ]
}

async fn assert_all_unavailable(app: &Arc<App>, token: &str, username: &str) -> Result<()> {
    let mut calls = tokio::task::JoinSet::new();
    for (function, event) in every_endpoint(token, username) {
        let app = app.clone();
        calls.spawn(async move {
            let started = Instant::now();
            let answer = invoke(&app, function, event).await?;
            Ok::<_, anyhow::Error>((answer, started.elapsed()))
        });
    }
    while let Some(result) = calls.join_next().await {
        let (answer, elapsed) = result??;
        assert_eq!(
            answer.status,
            503,
            "{}",
            answer.body.chars().take(300).collect::<String>()
        );
        assert!(
            elapsed < FUNCTION_TIMEOUT,
            "answered after {elapsed:?}, beyond the function timeout"
        );
        assert!(answer.header("retry-after").is_some());
        if answer.header("content-type") == Some("application/json") {
            assert_eq!(answer.json()?["error"], "service_unavailable");
        } else {
            assert_eq!(answer.title(), "ただいまご利用いただけません");
            assert!(answer.body.contains("何も変更されていません"));
        }
    }
    Ok(())
}

/// The token is used exactly when the password changed: never one without the other.
async fn assert_consistent(app: &App, user: &User, token: &str) -> Result<bool> {
    let hash = ResetToken::parse(token).map_err(|e| anyhow!(e))?.hash();
    let used = app
        .tokens
        .find_token(&hash)
        .await?
        .ok_or_else(|| anyhow!("token vanished"))?
        .used_at
        .is_some();
    let changed = app
        .accounts
        .find_account(&user.username)
        .await?
        .ok_or_else(|| anyhow!("user vanished"))?
        .password_changed_at
        .is_some();
    assert_eq!(
        used, changed,
        "half-written state: token used = {used}, password changed = {changed}"
    );
    Ok(used)
}

#[tokio::test]
async fn outages_of_dynamodb_and_ses() -> Result<()> {
    let port = |name: &str, default: u16| {
        std::env::var(name)
            .ok()
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or(default)
    };
    let stack = OwnStack {
        name: format!("faults-{}", port("DYNAMODB_PORT", 8100)),
        dynamodb_port: port("DYNAMODB_PORT", 8100) + 20,
        ses_port: port("SES_PORT", 8105) + 20,
        queue: OwnMailQueue::create(&format!("faults-{}", random_username())).await?,
    };
    stack.script("start-dynamodb")?;
    stack.script("start-ses")?;
    let app = Arc::new(stack.app().await?);
    let sender = stack.sender(&app).await;
    stack.create_tables(&app).await?;

    // --- DynamoDB frozen: every endpoint 503 in time, nothing half-written ---
    let user = new_user(&stack, &app).await?;
    assert_eq!(
        invoke(
            &app,
            Function::RequestReset,
            EventBuilder::form("/password-reset", &[("username", user.username.as_str())])
        )
        .await?
        .status,
        200
    );
    stack.wait_for_mails(&sender, user.email.as_str(), 1).await?;
    let token = stack.latest_token(user.email.as_str()).await?;

    stack.signal("dynamodb", "STOP")?;
    assert_all_unavailable(&app, &token, user.username.as_str()).await?;
    stack.signal("dynamodb", "CONT")?;

    // A change that timed out may still have been applied once DynamoDB woke; either way the
    // token and the password moved together.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let already_changed = assert_consistent(&app, &user, &token).await?;
    if !already_changed {
        let done = invoke(&app, Function::ChangePassword, every_endpoint(&token, "").remove(5).1).await?;
        assert_eq!(done.status, 200, "the same link works once DynamoDB is back");
        assert!(assert_consistent(&app, &user, &token).await?);
    }

    // --- DynamoDB gone (connection refused): 503 fast; back with its tables, the flow works ---
    stack.script("stop-dynamodb")?;
    assert_all_unavailable(&app, &token, user.username.as_str()).await?;
    stack.script("start-dynamodb")?;
    stack.create_tables(&app).await?;
    let fresh = new_user(&stack, &app).await?;
    let answer = invoke(
        &app,
        Function::RequestReset,
        EventBuilder::form("/password-reset", &[("username", fresh.username.as_str())]),
    )
    .await?;
    assert_eq!(answer.status, 200);
    stack.wait_for_mails(&sender, fresh.email.as_str(), 1).await?;

    // --- SES frozen: the request answers at once, the mail arrives once SES is back ---
    let quiet = new_user(&stack, &app).await?;
    stack.signal("ses", "STOP")?;
    let started = Instant::now();
    let during = invoke(
        &app,
        Function::RequestReset,
        EventBuilder::form("/password-reset", &[("username", quiet.username.as_str())]),
    )
    .await?;
    let elapsed = started.elapsed();
    stack.signal("ses", "CONT")?;
    assert_eq!(during.status, 200);
    assert!(
        elapsed < Duration::from_secs(2),
        "no SES call on the request path: answered after {elapsed:?}"
    );
    stack.wait_for_mails(&sender, quiet.email.as_str(), 1).await?;
    Ok(())
}

/// A job that fails on every receive reaches the dead-letter queue by the queue's redrive
/// policy (here `maxReceiveCount` 2, the template's 20 would take an hour of backoff), with
/// send-mail's real handler retrying it and SES unreachable: no mail, nothing lost.
#[tokio::test]
async fn a_job_that_exhausts_its_receives_reaches_the_dead_letter_queue() -> Result<()> {
    let queue = OwnMailQueue::create_with_redrive(&format!("exhaust-{}", random_username()), Some(2)).await?;
    let shared = local_app().await?;
    let app = queue.app(&shared.settings).await;
    let mut sender = in_process_sender(shared.settings.clone(), &queue).await?;
    // Nothing listens on the discard port: every send fails to connect.
    let ses = aws_sdk_sesv2::Client::from_conf(
        aws_sdk_sesv2::config::Builder::from(&sdk_config().await)
            .endpoint_url("http://127.0.0.1:9")
            .build(),
    );
    sender.sender.mailer = Arc::new(SesMailer::new(ses, shared.settings.sender_address.clone(), None));
    let user = create_user(&app, Language::Ja).await?;
    let answer = invoke(
        &app,
        Function::RequestReset,
        EventBuilder::form("/password-reset", &[("username", user.username.as_str())]),
    )
    .await?;
    assert_eq!(answer.status, 200);

    // Two receives fail, each pushed out by send-mail's backoff (about 5 s, then 10 s); the
    // receive after the second moves the message instead of returning it.
    let mut receives = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let dead = loop {
        receives += queue.deliver(&sender).await?;
        let dead = queue.dead_letters().await?;
        if !dead.is_empty() {
            break dead;
        }
        if std::time::Instant::now() > deadline {
            bail!("not dead-lettered after {receives} receives");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(receives, 2, "delivered twice, then moved by the redrive policy");
    assert_eq!(dead.len(), 1, "{dead:?}");
    let job: serde_json::Value = serde_json::from_str(&dead[0]).context("the dead letter is the job")?;
    assert!(job["job_id"].is_string(), "{job}");
    assert_eq!(queue.deliver(&sender).await?, 0, "nothing left in the mail queue");
    assert!(mails_to(user.email.as_str()).await?.is_empty());
    Ok(())
}
