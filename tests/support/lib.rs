//! The one helper of the integration tests. It starts nothing: `make test` (scripts/test.sh)
//! has already started DynamoDB Local, the SES v2 emulator and `cargo lambda watch`, and
//! exported their addresses. Each test makes its own users (random usernames), so tests run
//! in parallel on shared tables without seeing each other.
//!
//! Set `TEST_LOG=1` to see what the helper does.

use anyhow::{anyhow, bail, Context, Result};
use lambda_http::{Body, Request, Response};
use reset_core::config::PasswordStore;
use reset_core::domain::{Clock, Email, Language, SystemClock, User, Username};
use reset_core::store::{DynamoStore, TableNames, UserDirectory};
use reset_core::{App, Settings};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub use reset_core;

mod range_server;
pub use range_server::{sha1_prefix_and_suffix, RangeFiles, RangeRequest, RangeServer};

fn log(message: impl AsRef<str>) {
    if std::env::var_os("TEST_LOG").is_some() {
        eprintln!("[support] {}", message.as_ref());
    }
}

fn env(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set: run the tests through `make test`"))
}

/// The address of `cargo lambda watch` serving the three functions behind one origin.
pub fn watch_url() -> Result<String> {
    env("WATCH_URL")
}

/// The process wiring of the functions on the local stack, exactly as in production.
pub async fn local_wiring() -> Result<reset_core::Wiring> {
    Ok(reset_core::Wiring::from_env(reset_core::app::REQUEST_PATH_BOUNDS).await?)
}

/// The HTTP functions wired to the local stack exactly as in production (`Wiring::app`).
pub async fn local_app() -> Result<App> {
    Ok(local_wiring().await?.app().await?)
}

/// The same, with settings changed and a clock of the test's choosing.
pub async fn local_app_with(change: impl FnOnce(&mut Settings), clock: Arc<dyn Clock>) -> Result<App> {
    let app = local_app().await?;
    let mut settings = app.settings.clone();
    change(&mut settings);
    Ok(App { settings, clock, ..app })
}

/// The address-change function wired to the local stack as in production
/// (`Wiring::address_desk`).
pub async fn local_desk() -> Result<reset_core::service::AddressDesk> {
    Ok(local_wiring().await?.address_desk().await?)
}

/// The same, with settings changed, the test's own mail queue and clock.
pub async fn local_desk_with(
    change: impl FnOnce(&mut Settings),
    mail_queue: Option<Arc<dyn reset_core::mail::MailQueue>>,
    clock: Arc<dyn Clock>,
) -> Result<reset_core::service::AddressDesk> {
    let wiring = local_wiring().await?;
    let desk = wiring.address_desk().await?;
    let mut settings = desk.app.settings.clone();
    change(&mut settings);
    let queue = mail_queue.unwrap_or_else(|| desk.app.mail_queue.clone());
    let app = App {
        settings,
        mail_queue: queue,
        clock,
        ..wiring.app().await?
    };
    Ok(reset_core::service::AddressDesk::new(app, desk.requests.clone()))
}

/// Calls the address-change function's real handler in-process.
pub async fn invoke_address(desk: &reset_core::service::AddressDesk, event: EventBuilder) -> Result<Answer> {
    invoke_address_request(desk, event.build()?).await
}

pub async fn invoke_address_request(desk: &reset_core::service::AddressDesk, request: Request) -> Result<Answer> {
    match reset_core::web::address_change::handle(desk, request).await {
        Ok(response) => Ok(Answer::from_response(response)),
        Err(never) => match never {},
    }
}

/// Bytes from the OS random source. A failure panics: tests that all drew the same zeros would
/// share usernames, addresses and rate-limit keys and pass or fail by each other.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).unwrap_or_else(|e| panic!("the OS random source failed: {e}"));
    bytes
}

/// A random client address in 2001:db8::/32 (documentation space), random in its /64, which is
/// what clients are counted by: a test's per-client counters are its own, in every run.
pub fn random_client_ip() -> String {
    let bytes: [u8; 4] = random_bytes();
    format!(
        "2001:db8:{:x}:{:x}::1",
        u16::from_be_bytes([bytes[0], bytes[1]]),
        u16::from_be_bytes([bytes[2], bytes[3]])
    )
}

/// A random valid username (`t` + 7 alphanumerics), so parallel tests never share one.
pub fn random_username() -> Username {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let bytes: [u8; 7] = random_bytes();
    let tail: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect();
    Username::parse(&format!("t{tail}")).unwrap_or_else(|e| panic!("generated username invalid: {e}"))
}

/// The local DynamoDB tables of `settings`, as administrators and tests see them (whole user
/// items, password hash included).
pub async fn tables(settings: &Settings) -> DynamoStore {
    let config = reset_core::app::sdk_config().await;
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), TableNames::from(settings))
}

/// A fresh copy (same keys, empty) of the local rate-limit table, for a test whose counters must
/// be its own even under a key every client may share (the one of requests without an address).
pub async fn own_rate_limits_table(settings: &Settings) -> Result<String> {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement};
    let client = aws_sdk_dynamodb::Client::new(&reset_core::app::sdk_config().await);
    let shared = client
        .describe_table()
        .table_name(&settings.rate_limits_table)
        .send()
        .await?
        .table
        .ok_or_else(|| anyhow!("no table {}", settings.rate_limits_table))?;
    let name = format!("{}-{}", settings.rate_limits_table, random_username());
    let keys: Vec<KeySchemaElement> = shared.key_schema().to_vec();
    let attributes: Vec<AttributeDefinition> = shared.attribute_definitions().to_vec();
    client
        .create_table()
        .table_name(&name)
        .set_key_schema(Some(keys))
        .set_attribute_definitions(Some(attributes))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await?;
    Ok(name)
}

/// The password every test account starts with.
pub const INITIAL_PASSWORD: &str = "Initial2026pw";

/// Creates an active user with a unique address and `INITIAL_PASSWORD`, in the store the
/// settings name (the users table, or the Cognito pool).
pub async fn create_user(app: &App, language: Language) -> Result<User> {
    let username = random_username();
    let email = Email::parse(&format!("{username}@example.jp")).map_err(|e| anyhow!(e))?;
    let user = match &app.settings.password_store {
        PasswordStore::DynamoDb => {
            let user = TestUser::named(username.clone())
                .language(language)
                .password(INITIAL_PASSWORD)
                .build()?;
            tables(&app.settings).await.create_user(&user).await?;
            user
        }
        PasswordStore::Cognito { user_pool_id } => {
            pool::create_user(user_pool_id, &username, &email, language).await?;
            app.accounts
                .find_account(&username)
                .await?
                .ok_or_else(|| anyhow!("the pool does not show {username}"))?
        }
    };
    log(format!("created user {}", user.username));
    Ok(user)
}

/// Creates a disabled user (with `INITIAL_PASSWORD`) in the store the settings name.
pub async fn create_disabled_user(app: &App) -> Result<User> {
    let user = TestUser::random().disabled().password(INITIAL_PASSWORD).build()?;
    match &app.settings.password_store {
        PasswordStore::DynamoDb => tables(&app.settings).await.create_user(&user).await?,
        PasswordStore::Cognito { user_pool_id } => {
            pool::create_user(user_pool_id, &user.username, &user.email, user.language).await?;
            pool::client()
                .await
                .admin_disable_user()
                .user_pool_id(user_pool_id)
                .username(user.username.as_str())
                .send()
                .await?;
        }
    }
    log(format!("created disabled user {}", user.username));
    Ok(user)
}

/// Whether `password` signs in as `username` now: the argon2id hash in the users table checked
/// the way the host system must (`reset_core::credentials`), or the pool's own sign-in.
pub async fn signs_in(app: &App, username: &Username, password: &str) -> Result<bool> {
    match &app.settings.password_store {
        PasswordStore::DynamoDb => {
            let user = tables(&app.settings)
                .await
                .find_user(username)
                .await?
                .ok_or_else(|| anyhow!("{username} vanished"))?;
            Ok(user
                .password_hash
                .as_deref()
                .is_some_and(|hash| reset_core::hashing::verify_password(password, hash)))
        }
        PasswordStore::Cognito { user_pool_id } => Ok(pool::sign_in(user_pool_id, username, password).await?.is_some()),
    }
}

/// The account was never changed: no change time, and `INITIAL_PASSWORD` still signs in.
pub async fn assert_password_unchanged(app: &App, username: &Username) -> Result<()> {
    let account = app
        .accounts
        .find_account(username)
        .await?
        .ok_or_else(|| anyhow!("{username} vanished"))?;
    if account.password_changed_at.is_some() || !signs_in(app, username, INITIAL_PASSWORD).await? {
        bail!("the password of {username} changed");
    }
    Ok(())
}

/// The local Cognito pool (moto), as the host sign-in system would use it.
pub mod pool {
    use super::*;
    use aws_sdk_cognitoidentityprovider::types::{AttributeType, AuthFlowType, MessageActionType};
    use aws_sdk_cognitoidentityprovider::Client;

    pub async fn client() -> Client {
        Client::new(&reset_core::app::sdk_config().await)
    }

    /// The app client scripts/stack.sh made for password sign-in.
    pub fn app_client_id() -> Result<String> {
        env("USER_POOL_CLIENT_ID")
    }

    /// An enabled account with a verified address and `INITIAL_PASSWORD`, as an administrator
    /// would create it (no invitation mail).
    pub async fn create_user(pool_id: &str, username: &Username, email: &Email, language: Language) -> Result<()> {
        let attribute = |name: &str, value: &str| AttributeType::builder().name(name).value(value).build();
        let client = client().await;
        client
            .admin_create_user()
            .user_pool_id(pool_id)
            .username(username.as_str())
            .user_attributes(attribute("email", email.as_str())?)
            .user_attributes(attribute("email_verified", "true")?)
            .user_attributes(attribute("locale", language.code())?)
            .message_action(MessageActionType::Suppress)
            .send()
            .await?;
        client
            .admin_set_user_password()
            .user_pool_id(pool_id)
            .username(username.as_str())
            .password(INITIAL_PASSWORD)
            .permanent(true)
            .send()
            .await?;
        Ok(())
    }

    /// The refresh token of a password sign-in (ADMIN_USER_PASSWORD_AUTH), `None` when the
    /// pool refuses the password.
    pub async fn sign_in(pool_id: &str, username: &Username, password: &str) -> Result<Option<String>> {
        let result = client()
            .await
            .admin_initiate_auth()
            .user_pool_id(pool_id)
            .client_id(app_client_id()?)
            .auth_flow(AuthFlowType::AdminUserPasswordAuth)
            .auth_parameters("USERNAME", username.as_str())
            .auth_parameters("PASSWORD", password)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output
                .authentication_result()
                .and_then(|r| r.refresh_token())
                .map(str::to_owned)),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_not_authorized_exception()) =>
            {
                Ok(None)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The account-state item of `username` (a pool's account keeps its epoch, `sub` and
    /// change claim there), read consistently; empty when there is none.
    pub async fn state_item(
        app: &App,
        username: &Username,
    ) -> Result<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        Ok(aws_sdk_dynamodb::Client::new(&reset_core::app::sdk_config().await)
            .get_item()
            .table_name(&app.settings.users_table)
            .key(
                "username",
                aws_sdk_dynamodb::types::AttributeValue::S(username.to_string()),
            )
            .consistent_read(true)
            .send()
            .await?
            .item
            .unwrap_or_default())
    }

    /// The credential epoch the account-state item holds.
    pub async fn state_epoch(app: &App, username: &Username) -> Result<Option<u64>> {
        Ok(state_item(app, username)
            .await?
            .get("credential_epoch")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok()))
    }

    /// Whether the pool still honours a refresh token (REFRESH_TOKEN_AUTH).
    pub async fn refresh_works(pool_id: &str, refresh_token: &str) -> Result<bool> {
        let result = client()
            .await
            .admin_initiate_auth()
            .user_pool_id(pool_id)
            .client_id(app_client_id()?)
            .auth_flow(AuthFlowType::RefreshTokenAuth)
            .auth_parameters("REFRESH_TOKEN", refresh_token)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.authentication_result().is_some()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_not_authorized_exception()) =>
            {
                Ok(false)
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// The integration tests' accounts: built by `User::new_active`, as every account is, then set
/// up as a test needs (`TestUser::random().disabled().build()`). A new field of `User` touches
/// the constructor and, if tests must set it, this builder; nothing else.
pub struct TestUser {
    username: Username,
    language: Language,
    status: reset_core::domain::AccountStatus,
    password: Option<&'static str>,
}

impl TestUser {
    /// An active Japanese account with a fresh username, at `{username}@example.jp`, without a
    /// password.
    pub fn random() -> Self {
        Self::named(random_username())
    }

    pub fn named(username: Username) -> Self {
        Self {
            username,
            language: Language::Ja,
            status: reset_core::domain::AccountStatus::Active,
            password: None,
        }
    }

    pub fn language(mut self, language: Language) -> Self {
        self.language = language;
        self
    }

    pub fn disabled(mut self) -> Self {
        self.status = reset_core::domain::AccountStatus::Disabled;
        self
    }

    /// A first password, hashed as the admin tool hashes it.
    pub fn password(mut self, password: &'static str) -> Self {
        self.password = Some(password);
        self
    }

    pub fn build(self) -> Result<User> {
        let email = Email::parse(&format!("{}@example.jp", self.username)).map_err(|e| anyhow!(e))?;
        let mut user = User::new_active(self.username, email, self.language, SystemClock.now())?;
        user.status = self.status;
        if let Some(password) = self.password {
            user.password_hash = Some(reset_core::hashing::hash_password_blocking(password)?);
        }
        Ok(user)
    }
}

/// A request as API Gateway (HTTP API, payload 2.0) hands it to the function.
pub struct EventBuilder {
    method: String,
    path: String,
    query: String,
    headers: serde_json::Map<String, serde_json::Value>,
    body: Option<String>,
    source_ip: String,
}

impl EventBuilder {
    pub fn new(method: &str, path_and_query: &str) -> Self {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let mut headers = serde_json::Map::new();
        headers.insert("host".into(), json!("id.example.jp"));
        headers.insert("user-agent".into(), json!("integration-test"));
        Self {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers,
            body: None,
            source_ip: "198.51.100.7".into(),
        }
    }

    pub fn get(path_and_query: &str) -> Self {
        Self::new("GET", path_and_query)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_ascii_lowercase(), json!(value));
        self
    }

    pub fn source_ip(mut self, ip: &str) -> Self {
        self.source_ip = ip.to_owned();
        self
    }

    /// A form post, as the pages send it.
    pub fn form(path_and_query: &str, fields: &[(&str, &str)]) -> Self {
        let body = serde_urlencoded::to_string(fields).unwrap_or_default();
        Self::new("POST", path_and_query)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(&body)
    }

    /// A JSON post, as API clients send it.
    pub fn json(path: &str, value: serde_json::Value) -> Self {
        Self::new("POST", path)
            .header("content-type", "application/json")
            .body(&value.to_string())
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = Some(body.to_owned());
        self
    }

    pub fn to_json(&self) -> serde_json::Value {
        let query_parameters: serde_json::Map<String, serde_json::Value> =
            serde_urlencoded::from_str::<Vec<(String, String)>>(&self.query)
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, json!(v)))
                .collect();
        json!({
            "version": "2.0",
            "routeKey": format!("{} {}", self.method, self.path),
            "rawPath": self.path,
            "rawQueryString": self.query,
            "headers": self.headers,
            "queryStringParameters": if query_parameters.is_empty() { serde_json::Value::Null } else { json!(query_parameters) },
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "test",
                "domainName": "id.example.jp",
                "domainPrefix": "id",
                "http": { "method": self.method, "path": self.path, "protocol": "HTTP/1.1",
                          "sourceIp": self.source_ip, "userAgent": "integration-test" },
                "requestId": "test-request",
                "routeKey": format!("{} {}", self.method, self.path),
                "stage": "$default",
                "time": "25/Nov/2026:12:00:00 +0000",
                "timeEpoch": 1_795_608_000_000_i64
            },
            "body": self.body,
            "isBase64Encoded": false
        })
    }

    pub fn build(&self) -> Result<Request> {
        Ok(lambda_http::request::from_str(&self.to_json().to_string())?)
    }
}

/// A response, read.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn from_response(response: Response<Body>) -> Self {
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let body = match response.into_body() {
            Body::Text(text) => text,
            Body::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            _ => String::new(),
        };
        Self { status, headers, body }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.body).with_context(|| format!("not JSON: {}", self.body))
    }

    /// The text of the first `<h1>`.
    pub fn title(&self) -> &str {
        self.body
            .split("<h1>")
            .nth(1)
            .and_then(|rest| rest.split("</h1>").next())
            .unwrap_or_default()
    }

    /// The value of the hidden `token` field of a form on the page.
    pub fn hidden_token(&self) -> Option<String> {
        let start = self.body.find("name=\"token\" value=\"")? + "name=\"token\" value=\"".len();
        let end = self.body[start..].find('"')?;
        Some(self.body[start..start + end].to_owned())
    }
}

/// Which of the three functions serves a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    RequestReset,
    VerifyToken,
    ChangePassword,
}

impl Function {
    pub fn from_binary(name: &str) -> Option<Self> {
        match name {
            "request-reset" => Some(Self::RequestReset),
            "verify-token" => Some(Self::VerifyToken),
            "change-password" => Some(Self::ChangePassword),
            _ => None,
        }
    }
}

/// Calls a function's real handler in-process with a real API Gateway event.
pub async fn invoke(app: &App, function: Function, event: EventBuilder) -> Result<Answer> {
    invoke_request(app, function, event.build()?).await
}

pub async fn invoke_request(app: &App, function: Function, request: Request) -> Result<Answer> {
    use reset_core::web;
    let response = match function {
        Function::RequestReset => web::request_reset::handle(app, request).await,
        Function::VerifyToken => web::verify_token::handle(app, request).await,
        Function::ChangePassword => web::change_password::handle(app, request).await,
    };
    match response {
        Ok(response) => Ok(Answer::from_response(response)),
        Err(never) => match never {},
    }
}

/// A mail as the SES v2 emulator stored it.
#[derive(Debug, Clone, Deserialize)]
pub struct Mail {
    pub from: String,
    pub destination: Destination,
    pub subject: String,
    pub body: MailBody,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Destination {
    pub to: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MailBody {
    pub text: Option<String>,
    pub html: Option<String>,
}

#[derive(Deserialize)]
struct Store {
    emails: Vec<Mail>,
}

impl Mail {
    pub fn text(&self) -> &str {
        self.body.text.as_deref().unwrap_or_default()
    }

    /// The reset link in the plain-text part.
    pub fn link(&self) -> Option<&str> {
        self.text()
            .split_whitespace()
            .find(|word| word.contains("/password-reset/confirm?token="))
    }

    /// The address-change verification link in the plain-text part, and its id and token.
    pub fn address_link(&self) -> Option<(String, String, String)> {
        let link = self
            .text()
            .split_whitespace()
            .find(|word| word.contains("/password-reset/address-change/verify?"))?;
        let query = link.split_once('?')?.1;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).ok()?;
        let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        Some((link.to_owned(), get("id")?, get("token")?))
    }

    pub fn token(&self) -> Option<String> {
        self.link()
            .and_then(|link| link.split("token=").nth(1))
            .and_then(|rest| rest.split('&').next())
            .map(str::to_owned)
    }
}

/// Every mail the emulator holds for `address`, oldest first.
pub async fn mails_to(address: &str) -> Result<Vec<Mail>> {
    mails_at(&env("SES_STORE_URL")?, address).await
}

/// Every mail the emulator holds, oldest first.
pub async fn all_mails() -> Result<Vec<Mail>> {
    let store: Store = reqwest::get(format!("{}/store", env("SES_STORE_URL")?))
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(store.emails)
}

/// The same, from the SES emulator at `store_url` (a test that runs its own emulator).
pub async fn mails_at(store_url: &str, address: &str) -> Result<Vec<Mail>> {
    let store: Store = reqwest::get(format!("{store_url}/store"))
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(store
        .emails
        .into_iter()
        .filter(|m| m.destination.to.iter().any(|to| to == address))
        .collect())
}

/// Waits until `address` has at least `count` mails. Mail goes through the queue and
/// send-mail, so it arrives a moment after the request; 30 s covers a busy machine.
pub async fn wait_for_mails(address: &str, count: usize) -> Result<Vec<Mail>> {
    for _ in 0..300 {
        let mails = mails_to(address).await?;
        if mails.len() >= count {
            log(format!("{} mail(s) for {address}", mails.len()));
            return Ok(mails);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!(
        "expected {count} mail(s) for {address}, the emulator has {}",
        mails_to(address).await?.len()
    )
}

/// What scripts/local_sqs_trigger.py keeps in `SQS_TRIGGER_STATE` about the mail queue's pollers.
#[derive(Debug, Deserialize)]
struct TriggerState {
    pollers: std::collections::BTreeMap<String, Poller>,
    held: std::collections::BTreeMap<String, Held>,
}

#[derive(Debug, Deserialize)]
struct Poller {
    receiving_since: Option<u64>,
    last: Option<LastReceive>,
}

#[derive(Debug, Deserialize)]
struct LastReceive {
    started: u64,
    count: usize,
    batch: usize,
}

#[derive(Debug, Deserialize)]
struct Held {
    sent: u64,
    state: String,
}

impl TriggerState {
    fn read() -> Result<Self> {
        let path = env("SQS_TRIGGER_STATE")?;
        let text = std::fs::read_to_string(&path).with_context(|| format!("the SQS trigger's state {path}"))?;
        serde_json::from_str(&text).with_context(|| format!("the SQS trigger's state {path}: {text}"))
    }

    /// What still stands between `since` and a settled queue; empty when every message sent
    /// before `since` has been deleted, that is, send-mail returned for it.
    fn pending(&self, since: u64) -> Vec<String> {
        let mut pending: Vec<String> = self
            .pollers
            .iter()
            .filter_map(|(name, poller)| match (&poller.receiving_since, &poller.last) {
                (None, _) => Some(format!("{name} is delivering a batch")),
                (_, None) => Some(format!("{name} has not received yet")),
                (_, Some(last)) if last.started < since => Some(format!("{name} has not received since")),
                (_, Some(last)) if last.count >= last.batch => {
                    Some(format!("{name} received a full batch: more may be visible"))
                }
                _ => None,
            })
            .collect();
        if self.pollers.is_empty() {
            pending.push("no poller has started".into());
        }
        pending.extend(
            self.held
                .iter()
                .filter(|(_, held)| held.sent < since)
                .map(|(id, held)| format!("message {id} sent at {} is {}", held.sent, held.state)),
        );
        pending
    }

    fn receives(&self) -> Vec<Option<u64>> {
        self.pollers.values().map(|p| p.receiving_since).collect()
    }
}

fn epoch_ms() -> Result<u64> {
    Ok(u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis(),
    )?)
}

/// The mail barrier: returns once every mail job queued before the call has left the mail queue,
/// which the local event source deletes only after send-mail returned for it (the mail is then
/// in the SES emulator and send-mail's log lines are written), and send-mail is idle. Jobs queued
/// meanwhile by parallel tests do not hold it up. Every "no mail" and every log assertion waits
/// here rather than sleeping; fails, saying what is pending, after 60 s.
pub async fn mail_queue_settled() -> Result<()> {
    let since = epoch_ms()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    // A poller whose receive has just returned has not yet written down what it got: the state
    // must hold still across two readings, with every poller in the same receive as before.
    let mut settled_receives: Option<Vec<Option<u64>>> = None;
    loop {
        let state = TriggerState::read()?;
        let pending = state.pending(since);
        if pending.is_empty() {
            let receives = state.receives();
            if settled_receives.as_ref() == Some(&receives) {
                log("mail queue settled");
                return Ok(());
            }
            settled_receives = Some(receives);
        } else {
            settled_receives = None;
        }
        if std::time::Instant::now() > deadline {
            bail!("the mail queue did not settle in 60 s: {}", pending.join("; "));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every mail for `address` once the mail queue has settled: mails the queue still held, late
/// duplicates included, are there.
pub async fn settled_mails_to(address: &str) -> Result<Vec<Mail>> {
    mail_queue_settled().await?;
    mails_to(address).await
}

/// Requests a reset for `user` through the real handler and returns the token from the mail.
pub async fn request_link(app: &App, user: &User) -> Result<String> {
    let before = mails_to(user.email.as_str()).await?.len();
    let answer = invoke(
        app,
        Function::RequestReset,
        EventBuilder::form("/password-reset", &[("username", user.username.as_str())]),
    )
    .await?;
    if answer.status != 200 {
        bail!("reset request answered {}: {}", answer.status, answer.body);
    }
    let mails = wait_for_mails(user.email.as_str(), before + 1).await?;
    mails
        .last()
        .and_then(Mail::token)
        .ok_or_else(|| anyhow!("no link in the mail"))
}

/// An HTTP client for `cargo lambda watch` that does not follow redirects.
pub fn http() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// Which language a user should get mail in, for tables of cases: every language there is.
pub fn languages() -> [Language; Language::ALL.len()] {
    Language::ALL
}

/// A mail queue of a test's own on the local SQS (with its own dead-letter queue), for tests
/// that run their own DynamoDB or SES and so cannot use the shared send-mail under `cargo
/// lambda watch`. `deliver` plays the event source mapping in-process: it receives batches and
/// hands them to send-mail's real handler, deleting what the handler did not report as failed.
pub struct OwnMailQueue {
    client: aws_sdk_sqs::Client,
    pub url: String,
    pub dead_letter_url: String,
}

impl OwnMailQueue {
    pub async fn create(name: &str) -> Result<Self> {
        Self::create_with_redrive(name, None).await
    }

    /// The same, and with `Some(n)` the queue's redrive policy moves a message to the
    /// dead-letter queue at its receive after the `n`th, as the template's `maxReceiveCount` does.
    pub async fn create_with_redrive(name: &str, max_receive_count: Option<u32>) -> Result<Self> {
        use aws_sdk_sqs::types::QueueAttributeName;
        let client = aws_sdk_sqs::Client::new(&reset_core::app::sdk_config().await);
        let dead_letter_url = client
            .create_queue()
            .queue_name(format!("{name}-dead-letter"))
            .send()
            .await?
            .queue_url
            .ok_or_else(|| anyhow!("no queue url"))?;
        let mut create = client.create_queue().queue_name(name);
        if let Some(count) = max_receive_count {
            let arn = client
                .get_queue_attributes()
                .queue_url(&dead_letter_url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await?
                .attributes
                .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
                .ok_or_else(|| anyhow!("no dead-letter queue ARN"))?;
            let policy = json!({ "deadLetterTargetArn": arn, "maxReceiveCount": count });
            create = create.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let url = create.send().await?.queue_url.ok_or_else(|| anyhow!("no queue url"))?;
        Ok(Self {
            client,
            url,
            dead_letter_url,
        })
    }

    /// The bodies of the messages in the dead-letter queue (received, left there).
    pub async fn dead_letters(&self) -> Result<Vec<String>> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.dead_letter_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await?;
        Ok(output
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.body)
            .collect())
    }

    /// The functions as `settings` wire them, on the shared tables, queueing to this queue.
    pub async fn app(&self, settings: &Settings) -> App {
        App::new(
            settings.clone(),
            Arc::new(tables(settings).await),
            Arc::new(self.mail_queue()),
            Arc::new(SystemClock),
        )
    }

    /// The queue adapter the request side hands its jobs to.
    pub fn mail_queue(&self) -> reset_core::mail::SqsMailQueue {
        reset_core::mail::SqsMailQueue::new(self.client.clone(), self.url.clone())
    }

    /// What send-mail's handler uses to back off and dead-letter, on these queues.
    pub fn control(&self) -> send_mail::SqsQueueControl {
        send_mail::SqsQueueControl::new(self.client.clone(), self.url.clone(), self.dead_letter_url.clone())
    }

    /// Delivers every visible message once through `deps`; returns how many were received.
    pub async fn deliver(&self, deps: &send_mail::SendMail) -> Result<usize> {
        use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
        let mut received = 0;
        loop {
            let output = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send()
                .await?;
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(received);
            }
            received += messages.len();
            let mut event = SqsEvent::default();
            for message in &messages {
                let mut record = SqsMessage::default();
                record.message_id = message.message_id.clone();
                record.receipt_handle = message.receipt_handle.clone();
                record.body = message.body.clone();
                for (name, value) in message.attributes.iter().flatten() {
                    record.attributes.insert(name.as_str().to_owned(), value.clone());
                }
                event.records.push(record);
            }
            let response = send_mail::handle(deps, event, 0).await;
            let failed: Vec<&str> = response
                .batch_item_failures
                .iter()
                .map(|f| f.item_identifier.as_str())
                .collect();
            for message in &messages {
                if failed.contains(&message.message_id.as_deref().unwrap_or_default()) {
                    continue;
                }
                if let Some(receipt) = &message.receipt_handle {
                    self.client
                        .delete_message()
                        .queue_url(&self.url)
                        .receipt_handle(receipt)
                        .send()
                        .await?;
                }
            }
            if !failed.is_empty() {
                return Ok(received);
            }
        }
    }
}

/// send-mail's dependencies as in production (`SendMail::new`), with `settings` and the
/// test's own queue: for tests that change a sender-side setting, such as the mail budget.
pub async fn in_process_sender(settings: Settings, queue: &OwnMailQueue) -> Result<send_mail::SendMail> {
    in_process_sender_with_clock(settings, queue, Arc::new(SystemClock)).await
}

/// The same, on the test's clock: windows, caps and link lifetimes without waiting.
pub async fn in_process_sender_with_clock(
    settings: Settings,
    queue: &OwnMailQueue,
    clock: Arc<dyn Clock>,
) -> Result<send_mail::SendMail> {
    let config = reset_core::app::sdk_config().await;
    let store = Arc::new(reset_core::store::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        reset_core::store::TableNames::from(&settings),
    ));
    let mailer = reset_core::mail::SesMailer::new(
        aws_sdk_sesv2::Client::new(&config),
        settings.sender_address.clone(),
        None,
    );
    let address_table = settings.address.requests_table.clone();
    Ok(send_mail::SendMail {
        metrics_namespace: settings.metrics_namespace.clone(),
        sender: reset_core::service::MailSender {
            settings,
            accounts: store.clone(),
            tokens: store.clone(),
            counters: store.clone(),
            ledger: store,
            mailer: Arc::new(mailer),
            clock,
            address_requests: Arc::new(reset_core::store::DynamoAddressRequests::new(
                aws_sdk_dynamodb::Client::new(&config),
                address_table,
            )),
        },
        queue: Arc::new(queue.control()),
    })
}
