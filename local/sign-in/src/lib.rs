//! A minimal sign-in page for `make run`, so a person can see the new password work after a
//! reset: `GET /sign-in` (the form) and `POST /sign-in` (the check). It stands in for the host
//! sign-in system and is never deployed (it is not in infra/template.yaml). It opens no session:
//! a host system would, with `reset_core::credentials::SessionFacts`.
//!
//! `PASSWORD_STORE` picks where the password is checked, as for the reset functions:
//! `dynamodb` (default; `USERS_TABLE`, through `reset_core::credentials::verify`) or `cognito`
//! (`USER_POOL_ID`, `USER_POOL_CLIENT_ID`; `AdminInitiateAuth`).

pub mod accounts;
pub mod pages;

use accounts::{CheckError, CognitoPool, DynamoUsers, PasswordCheck, Refusal, Verdict};
use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, Response};
use maud::Markup;
use pages::{texts, SIGN_IN_PATH};
use reset_core::config::{PasswordStore, Variables};
use reset_core::domain::{Language, Username};
use reset_core::web::incoming::Incoming;
use reset_core::web::respond::CONTENT_SECURITY_POLICY;
use reset_core::AppError;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable missing or malformed, named by the shared settings reader.
    #[error(transparent)]
    Settings(#[from] reset_core::config::ConfigError),
    #[error("the password check could not be set up: {0}")]
    Setup(#[from] CheckError),
}

/// Where passwords live (`PASSWORD_STORE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    Dynamo { users_table: String },
    Cognito { user_pool_id: String, client_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub service_name: String,
    pub service_name_en: Option<String>,
    /// The origin form posts must come from (the reset functions' `PUBLIC_BASE_URL`).
    pub public_base_url: String,
    pub store: Store,
}

impl Settings {
    /// Through the reset functions' reader and their `PASSWORD_STORE` parsing: the page checks
    /// passwords where the functions set them.
    pub fn read(vars: &Variables<'_>) -> Result<Self, ConfigError> {
        let store = match PasswordStore::read(vars)? {
            PasswordStore::DynamoDb => Store::Dynamo {
                users_table: vars.required("USERS_TABLE")?,
            },
            PasswordStore::Cognito { user_pool_id } => Store::Cognito {
                user_pool_id,
                client_id: vars.required("USER_POOL_CLIENT_ID")?,
            },
        };
        Ok(Self {
            service_name: vars.required("SERVICE_NAME")?,
            service_name_en: vars.optional("SERVICE_NAME_EN"),
            public_base_url: vars.origin("PUBLIC_BASE_URL")?,
            store,
        })
    }

    pub fn service_name_in(&self, language: Language) -> &str {
        reset_core::lang::service_name(language, &self.service_name, self.service_name_en.as_deref())
    }
}

/// The page's dependencies, built once per container.
pub struct SignIn {
    pub settings: Settings,
    pub check: Arc<dyn PasswordCheck>,
}

impl SignIn {
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::read(&Variables::from_env())?;
        let sdk = reset_core::app::sdk_config().await;
        let check: Arc<dyn PasswordCheck> = match &settings.store {
            Store::Dynamo { users_table } => {
                Arc::new(DynamoUsers::new(aws_sdk_dynamodb::Client::new(&sdk), users_table.clone()).await?)
            }
            Store::Cognito {
                user_pool_id,
                client_id,
            } => Arc::new(CognitoPool::new(
                aws_sdk_cognitoidentityprovider::Client::new(&sdk),
                user_pool_id.clone(),
                client_id.clone(),
            )),
        };
        Ok(Self { settings, check })
    }
}

// No Debug: it holds the password.
#[derive(Deserialize)]
struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

struct Answer {
    status: StatusCode,
    page: Markup,
    outcome: &'static str,
}

/// Answers one request; every failure has become a page by the time it returns.
pub async fn handle(app: &SignIn, request: Request) -> Result<Response<Body>, std::convert::Infallible> {
    let started = Instant::now();
    let incoming = Incoming::from_request(request);
    let answer = route(app, &incoming).await;
    tracing::info!(
        request_id = %incoming.request_id,
        function = "local-sign-in",
        method = %incoming.method,
        route = %incoming.path,
        status = answer.status.as_u16(),
        outcome = answer.outcome,
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    Ok(response(answer))
}

async fn route(app: &SignIn, incoming: &Incoming) -> Answer {
    let language = incoming.language;
    let service_name = app.settings.service_name_in(language);
    let t = texts(language);
    match (&incoming.method, incoming.path.as_str()) {
        (&Method::GET, SIGN_IN_PATH) => Answer {
            status: StatusCode::OK,
            page: pages::form(language, service_name, "", false),
            outcome: "form",
        },
        (&Method::POST, SIGN_IN_PATH) => submit(app, incoming).await,
        (_, SIGN_IN_PATH) => Answer {
            status: StatusCode::METHOD_NOT_ALLOWED,
            page: pages::message(language, service_name, t.not_found_title, ""),
            outcome: "method_not_allowed",
        },
        _ => Answer {
            status: StatusCode::NOT_FOUND,
            page: pages::message(language, service_name, t.not_found_title, ""),
            outcome: "not_found",
        },
    }
}

async fn submit(app: &SignIn, incoming: &Incoming) -> Answer {
    let language = incoming.language;
    let service_name = app.settings.service_name_in(language);
    let t = texts(language);
    let form = match incoming
        .ensure_same_origin(&app.settings.public_base_url)
        .and_then(|()| incoming.read_form::<SignInForm>())
    {
        Ok(form) => form,
        Err(error) => {
            let status = match error {
                AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                AppError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                AppError::CrossOrigin => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            return Answer {
                status,
                page: pages::message(language, service_name, t.bad_request_title, t.bad_request_lead),
                outcome: error.code(),
            };
        }
    };
    let typed: String = form.username.chars().take(64).collect();
    let refused = |reason: Refusal| {
        // The reason goes to the log only; the page is the same for every one of them.
        tracing::info!(request_id = %incoming.request_id, reason = reason.code(), "sign-in refused");
        Answer {
            status: StatusCode::UNAUTHORIZED,
            page: pages::form(language, service_name, &typed, true),
            outcome: "refused",
        }
    };
    let Ok(input) = Username::from_typed(&form.username) else {
        return refused(Refusal::NotAUsername);
    };
    match app.check.check(&input.username, &form.password).await {
        Ok(Verdict::SignedIn(account)) => Answer {
            status: StatusCode::OK,
            page: pages::signed_in(
                language,
                service_name,
                account.username.as_str(),
                account.password_changed,
            ),
            outcome: "signed_in",
        },
        Ok(Verdict::Refused(reason)) => refused(reason),
        Err(error) => {
            tracing::error!(request_id = %incoming.request_id, error = %error, "sign-in could not be checked");
            let (status, outcome) = match error {
                CheckError::Unavailable(_) | CheckError::Join(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                CheckError::CorruptAccount(_) | CheckError::StoredHash(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal")
                }
            };
            Answer {
                status,
                page: pages::message(language, service_name, t.unavailable_title, t.unavailable_lead),
                outcome,
            }
        }
    }
}

/// The same headers as the reset pages (reset-core's respond.rs).
fn response(answer: Answer) -> Response<Body> {
    let mut response = Response::new(Body::Text(answer.page.into_string()));
    *response.status_mut() = answer.status;
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(header::CONTENT_TYPE, "text/html; charset=utf-8");
    set(header::CACHE_CONTROL, "no-store");
    set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::STRICT_TRANSPORT_SECURITY, "max-age=63072000; includeSubDomains");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::VARY, "Accept-Language");
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use accounts::{PasswordChanged, SignedIn};
    use async_trait::async_trait;
    use reset_core::domain::Timestamp;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// One account `ex000000` / `Sakura2026x`; `ex999999` makes the store fail.
    struct OneAccount;

    #[async_trait]
    impl PasswordCheck for OneAccount {
        async fn check(&self, username: &Username, password: &str) -> Result<Verdict, CheckError> {
            match (username.as_str(), password) {
                ("ex999999", _) => Err(CheckError::Unavailable("timeout".into())),
                ("ex000000", "Sakura2026x") => Ok(Verdict::SignedIn(SignedIn {
                    username: username.clone(),
                    password_changed: PasswordChanged::At(Timestamp::from_millis(1_795_608_000_000)),
                })),
                ("ex000000", _) => Ok(Verdict::Refused(Refusal::WrongPassword)),
                ("ex000001", _) => Ok(Verdict::Refused(Refusal::Disabled)),
                _ => Ok(Verdict::Refused(Refusal::UnknownUser)),
            }
        }
    }

    fn app() -> SignIn {
        SignIn {
            settings: Settings {
                service_name: "医療機関等ID".into(),
                service_name_en: Some("Medical Institution ID".into()),
                public_base_url: "http://127.0.0.1:9000".into(),
                store: Store::Dynamo {
                    users_table: "reset-users".into(),
                },
            },
            check: Arc::new(OneAccount),
        }
    }

    struct Page {
        status: u16,
        body: String,
        csp: Option<String>,
    }

    async fn send(method: &str, uri: &str, form: &[(&str, &str)]) -> Result<Page, Box<dyn std::error::Error>> {
        let body = serde_urlencoded::to_string(form)?;
        let request = lambda_http::http::Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::Text(body))?;
        let Ok(response) = handle(&app(), request).await;
        let csp = response
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = response.status().as_u16();
        let body = match response.into_body() {
            Body::Text(text) => text,
            _ => String::new(),
        };
        Ok(Page { status, body, csp })
    }

    #[tokio::test]
    async fn the_form_in_japanese_and_english() -> TestResult {
        let ja = send("GET", "/sign-in", &[]).await?;
        assert_eq!(ja.status, 200);
        assert!(ja.body.contains("<h1>サインイン</h1>") && ja.body.contains("パスワードをお忘れですか？"));
        assert!(
            ja.body.contains("href=\"/password-reset?lang=ja\""),
            "links to the reset request"
        );
        assert_eq!(ja.csp.as_deref(), Some(CONTENT_SECURITY_POLICY));
        let en = send("GET", "/sign-in?lang=en", &[]).await?;
        assert!(en.body.contains("<h1>Sign in</h1>") && en.body.contains("Medical Institution ID"));
        assert!(en.body.contains("action=\"/sign-in?lang=en\""));
        Ok(())
    }

    #[tokio::test]
    async fn the_right_password_shows_the_account_and_its_change_time() -> TestResult {
        let page = send(
            "POST",
            "/sign-in",
            &[("username", "ｅｘ００００００"), ("password", "Sakura2026x")],
        )
        .await?;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("<h1>サインインしました</h1>"));
        assert!(page.body.contains("<code id=\"signed-in-username\">ex000000</code>"));
        assert!(page.body.contains("2026年11月25日 21:00 （日本時間）"), "{}", page.body);
        Ok(())
    }

    #[tokio::test]
    async fn every_refusal_reads_the_same() -> TestResult {
        let mut bodies = Vec::new();
        for username in ["ex000000", "ex000001", "nobody00", "not a username"] {
            let page = send(
                "POST",
                "/sign-in?lang=en",
                &[("username", username), ("password", "Wrong2026x")],
            )
            .await?;
            assert_eq!(page.status, 401, "{username}");
            assert!(page.body.contains("The username or password is incorrect."));
            assert!(!page.body.contains("Wrong2026x"), "the password is never echoed");
            bodies.push(page.body.replace(&format!("value=\"{username}\""), ""));
        }
        assert!(
            bodies.windows(2).all(|w| w[0] == w[1]),
            "pages differ beyond the typed username"
        );
        Ok(())
    }

    #[tokio::test]
    async fn a_store_fault_is_a_503_and_bad_requests_are_4xx() -> TestResult {
        let fault = send("POST", "/sign-in", &[("username", "ex999999"), ("password", "x")]).await?;
        assert_eq!(fault.status, 503);
        let put = send("PUT", "/sign-in", &[]).await?;
        assert_eq!(put.status, 405);
        let elsewhere = send("GET", "/elsewhere", &[]).await?;
        assert_eq!(elsewhere.status, 404);
        let request = lambda_http::http::Request::builder()
            .method("POST")
            .uri("/sign-in")
            .header("content-type", "application/json")
            .body(Body::Text("{}".into()))?;
        let Ok(json) = handle(&app(), request).await;
        assert_eq!(json.status(), 415);
        Ok(())
    }

    #[test]
    fn settings_pick_the_store() -> TestResult {
        let settings = |pairs: &[(&str, &str)]| {
            let base = [("SERVICE_NAME", "ID"), ("PUBLIC_BASE_URL", "http://127.0.0.1:9000/")];
            let all: Vec<(String, String)> = base
                .iter()
                .chain(pairs)
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            Settings::read(&Variables::new(move |name| {
                all.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            }))
        };
        let dynamo = settings(&[("USERS_TABLE", "reset-users")])?;
        assert_eq!(
            dynamo.store,
            Store::Dynamo {
                users_table: "reset-users".into()
            }
        );
        assert_eq!(dynamo.public_base_url, "http://127.0.0.1:9000");
        let cognito = settings(&[
            ("PASSWORD_STORE", "cognito"),
            ("USER_POOL_ID", "ap-northeast-1_x"),
            ("USER_POOL_CLIENT_ID", "client"),
        ])?;
        assert!(matches!(cognito.store, Store::Cognito { .. }));
        assert!(matches!(
            settings(&[("PASSWORD_STORE", "cognito")]),
            Err(ConfigError::Settings(reset_core::config::ConfigError::Missing(
                "USER_POOL_ID"
            )))
        ));
        assert!(matches!(
            settings(&[("PASSWORD_STORE", "ldap"), ("USERS_TABLE", "reset-users")]),
            Err(ConfigError::Settings(reset_core::config::ConfigError::Invalid {
                name: "PASSWORD_STORE",
                ..
            }))
        ));
        Ok(())
    }
}
