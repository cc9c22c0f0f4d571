//! Settings read once per container from the environment (SAM parameters in the cloud,
//! `scripts/local.env` locally). A missing or malformed variable stops the cold start with a
//! message that names it.

mod variables;

pub use variables::Variables;

use crate::domain::{ClientIpSource, Email, Language};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    /// The Cognito user pool could not be read at cold start.
    #[error("the user pool could not be read: {0}")]
    PoolUnreadable(String),
    /// The pool lets passwords through that the guide refuses: its own sign-up and
    /// administrator paths would, so the service will not run on it.
    #[error("the user pool's password policy is weaker than the guide's rules: {0}")]
    PoolPolicyTooWeak(String),
}

impl ConfigError {
    pub fn invalid(name: &'static str, reason: impl std::fmt::Display) -> Self {
        ConfigError::Invalid {
            name,
            reason: reason.to_string(),
        }
    }
}

/// Where the accounts and their passwords live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordStore {
    /// The service's own users table (argon2id hashes).
    DynamoDb,
    /// An Amazon Cognito user pool; the table of `USERS_TABLE` then holds only what the pool
    /// does not: each account's credential epoch and its mail events.
    Cognito { user_pool_id: String },
}

/// Which kind of store `PASSWORD_STORE` names, without its details: what the admin tool's table
/// creation and the template's conditions need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreKind {
    #[default]
    DynamoDb,
    Cognito,
}

impl StoreKind {
    /// `PASSWORD_STORE`'s values.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        match value.trim() {
            "dynamodb" => Ok(Self::DynamoDb),
            "cognito" => Ok(Self::Cognito),
            other => Err(ConfigError::invalid(
                "PASSWORD_STORE",
                format!("{other:?} is neither dynamodb nor cognito"),
            )),
        }
    }
}

impl PasswordStore {
    /// `PASSWORD_STORE` (unset: dynamodb) and, for a pool, `USER_POOL_ID`: read here only, for
    /// the functions, the admin tool and the local sign-in page alike.
    pub fn read(vars: &Variables<'_>) -> Result<Self, ConfigError> {
        let kind = vars.parsed("PASSWORD_STORE", StoreKind::parse)?.unwrap_or_default();
        Ok(match kind {
            StoreKind::DynamoDb => PasswordStore::DynamoDb,
            StoreKind::Cognito => PasswordStore::Cognito {
                user_pool_id: vars.required("USER_POOL_ID")?,
            },
        })
    }

    pub fn kind(&self) -> StoreKind {
        match self {
            PasswordStore::DynamoDb => StoreKind::DynamoDb,
            PasswordStore::Cognito { .. } => StoreKind::Cognito,
        }
    }
}

#[derive(Clone)]
pub struct Settings {
    /// `PASSWORD_STORE` (+ `USER_POOL_ID`).
    pub password_store: PasswordStore,
    /// The accounts' items: the users, or with a Cognito pool each account's state.
    pub users_table: String,
    pub reset_tokens_table: String,
    pub rate_limits_table: String,
    /// The mail ledger: one item per queued mail, so redeliveries send nothing.
    pub mail_jobs_table: String,
    /// Every mail is handed to this SQS queue; `send-mail` delivers it.
    pub mail_queue_url: String,
    /// Where `send-mail` moves malformed jobs (exhausted ones get there by the redrive policy).
    pub mail_dead_letter_queue_url: String,
    /// CloudWatch namespace of the EMF metric lines (one per stack, so stacks never mix).
    pub metrics_namespace: String,
    pub sender_address: Email,
    /// Origin without a trailing slash, e.g. `https://id.example.jp`.
    pub public_base_url: String,
    pub token_ttl: Duration,
    pub service_name: String,
    /// The name on English pages and mails (`SERVICE_NAME_EN`); `service_name` when unset.
    pub service_name_en: Option<String>,
    pub support_contact: String,
    pub sign_in_url: String,
    /// Reset mails SES accepted for one account per hour (checked by `send-mail`).
    pub rate_limit_per_username_per_hour: u32,
    /// Reset requests one client may make for one username per hour.
    pub rate_limit_per_username_and_client_per_hour: u32,
    pub rate_limit_per_ip_per_hour: u32,
    /// Reset requests per hour from one IPv6 /48, on top of the per-client (/64) limit: a
    /// subscriber's /48 holds 65,536 /64s, so the /64 limit alone can be multiplied at will.
    pub rate_limit_per_ipv6_48_per_hour: u32,
    /// Reset mails one account's mailbox receives per day at most (`send-mail` spaces them by
    /// a day / N); with each mailed link alive for `token_ttl`, N x 2 x `token_ttl` >= 24 h keeps
    /// every gap without a working link within one link lifetime (README, "Security").
    pub reset_mails_per_username_per_day: u32,
    pub ses_configuration_set: Option<String>,
    /// The new password's minimum length (the guide's 8 at least; a Cognito pool's own
    /// minimum when that is longer).
    pub password_min_chars: usize,
    /// A symbol is required too (a Cognito pool whose policy asks for one).
    pub password_requires_symbol: bool,
    /// Where a client's address comes from (the per-client limits count it).
    pub client_ip_source: ClientIpSource,
    /// When set, every request must carry it in `X-Origin-Verify`: CloudFront adds it, so the
    /// API answers only through that distribution (whose viewer address header is trusted).
    pub origin_verify_secret: Option<String>,
    /// Floor on the reset request's response time, so no case of it can be told by timing.
    pub request_min_response: Duration,
    /// The address-change requests (the guide's fallback when mail never comes).
    pub address: AddressSettings,
    /// The breached-password check of change-password; `None`: off.
    pub breach_check: Option<BreachCheckSettings>,
}

/// Where change-password asks whether a new password is in the Pwned Passwords corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreachCheckSettings {
    /// `BREACHED_PASSWORD_API_URL` without a trailing slash; `<api_url>/range/<5 hex>` is asked.
    pub api_url: String,
    /// How long a change waits for the answer before it goes on without it.
    pub timeout: Duration,
}

/// Short: the user waits for it (it runs beside the argon2id hash, about 20 ms, and the
/// account read), and a check that cannot answer lets the change go on anyway.
pub const BREACH_CHECK_TIMEOUT: Duration = Duration::from_millis(1500);

/// The public range API, when `BREACHED_PASSWORD_API_URL` is empty.
pub const DEFAULT_BREACH_CHECK_API_URL: &str = "https://api.pwnedpasswords.com";

impl BreachCheckSettings {
    /// `BREACHED_PASSWORD_CHECK` (`on` / `off`, unset: off, so that a local run never calls out
    /// unless pointed at a local range server) and `BREACHED_PASSWORD_API_URL`.
    fn read(vars: &Variables<'_>) -> Result<Option<Self>, ConfigError> {
        match vars.optional("BREACHED_PASSWORD_CHECK").as_deref() {
            None | Some("off") => return Ok(None),
            Some("on") => {}
            Some(_) => return Err(ConfigError::invalid("BREACHED_PASSWORD_CHECK", "must be on or off")),
        }
        let api_url = vars
            .optional("BREACHED_PASSWORD_API_URL")
            .unwrap_or_else(|| DEFAULT_BREACH_CHECK_API_URL.to_owned())
            .trim_end_matches('/')
            .to_owned();
        if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
            return Err(ConfigError::invalid(
                "BREACHED_PASSWORD_API_URL",
                "must start with https:// (or http:// for a local range server)",
            ));
        }
        Ok(Some(Self {
            api_url,
            timeout: BREACH_CHECK_TIMEOUT,
        }))
    }
}

/// Written by hand so that a stray `{settings:?}` cannot print the origin secret or the support
/// contact (which may be a person's address); fields added later stay hidden until listed here.
impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("password_store", &self.password_store)
            .field("users_table", &self.users_table)
            .field("reset_tokens_table", &self.reset_tokens_table)
            .field("rate_limits_table", &self.rate_limits_table)
            .field("mail_jobs_table", &self.mail_jobs_table)
            .field("metrics_namespace", &self.metrics_namespace)
            .field("sender_address", &self.sender_address)
            .field("public_base_url", &self.public_base_url)
            .field("token_ttl", &self.token_ttl)
            .field("client_ip_source", &self.client_ip_source)
            .field(
                "origin_verify_secret",
                &self.origin_verify_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("support_contact", &"<redacted>")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// The settings of the address-change request flow.
#[derive(Debug, Clone)]
pub struct AddressSettings {
    pub requests_table: String,
    /// Days a request is kept (unverified, pending or decided) before it expires.
    pub keep_days: u32,
    /// Lifetime of the verification link mailed to the new address.
    pub verification_ttl: Duration,
    /// Requests one client may make per hour (beyond: 429).
    pub per_client_per_hour: u32,
    /// Requests stored per day for one username from one client (beyond: the same answer,
    /// nothing stored or mailed). Per client, so that strangers elsewhere cannot spend the
    /// owner's allowance; a request refused with 429 spends none of it.
    pub per_username_per_day: u32,
    /// Requests per hour from one IPv6 /48 (a second, larger budget beside the per-client one).
    pub per_ipv6_48_per_hour: u32,
    /// Confirmation mails the whole service sends per hour and per day (counted by `send-mail`
    /// when it sends one); beyond them requests wait, unmailed, for the next window.
    pub confirmations_per_hour: u32,
    pub confirmations_per_day: u32,
    /// Where a verified request is announced to the administrators; `None`: nowhere.
    pub notify_address: Option<Email>,
}

impl AddressSettings {
    pub fn verification_ttl_secs(&self) -> i64 {
        i64::try_from(self.verification_ttl.as_secs()).unwrap_or(24 * 3600)
    }

    fn read(vars: &Variables<'_>) -> Result<Self, ConfigError> {
        let count = |name: &'static str, default: u32| vars.number(name, default, 1..=u32::MAX);
        Ok(Self {
            requests_table: vars.required("ADDRESS_REQUESTS_TABLE")?,
            keep_days: vars.number("ADDRESS_REQUEST_KEEP_DAYS", 14, 1..=90)?,
            verification_ttl: Duration::from_secs(
                u64::from(vars.number("ADDRESS_VERIFICATION_TTL_MINUTES", 1440_u32, 10..=7 * 1440)?) * 60,
            ),
            per_client_per_hour: count("ADDRESS_REQUESTS_PER_CLIENT_PER_HOUR", 10)?,
            per_username_per_day: count("ADDRESS_REQUESTS_PER_USERNAME_PER_DAY", 3)?,
            per_ipv6_48_per_hour: count("ADDRESS_REQUESTS_PER_IPV6_48_PER_HOUR", 40)?,
            confirmations_per_hour: count("ADDRESS_CONFIRMATIONS_PER_HOUR", 20)?,
            confirmations_per_day: count("ADDRESS_CONFIRMATIONS_PER_DAY", 100)?,
            notify_address: vars.parsed("ADDRESS_REQUEST_NOTIFY_ADDRESS", Email::parse)?,
        })
    }
}

/// A Cognito user pool's password policy, as `DescribeUserPool` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolPasswordPolicy {
    pub min_length: usize,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub require_numbers: bool,
    pub require_symbols: bool,
}

/// Where the metrics go when `METRICS_NAMESPACE` is empty.
pub const DEFAULT_METRICS_NAMESPACE: &str = "PasswordReset";

/// Every variable the template gives the functions; the template drift test compares this
/// list with `infra/template.yaml`. `AUDIT_LOG_TABLE` is there so that every table has its
/// variable (the local table creator names tables by it); only `reset-admin` reads it.
pub const ENVIRONMENT_VARIABLES: [&str; 38] = [
    "PASSWORD_STORE",
    "USER_POOL_ID",
    "USERS_TABLE",
    "RESET_TOKENS_TABLE",
    "RATE_LIMITS_TABLE",
    "AUDIT_LOG_TABLE",
    "MAIL_JOBS_TABLE",
    "MAIL_QUEUE_URL",
    "MAIL_DEAD_LETTER_QUEUE_URL",
    "METRICS_NAMESPACE",
    "SENDER_ADDRESS",
    "PUBLIC_BASE_URL",
    "TOKEN_TTL_MINUTES",
    "SERVICE_NAME",
    "SUPPORT_CONTACT",
    "SIGN_IN_URL",
    "RATE_LIMIT_PER_USERNAME_PER_HOUR",
    "RATE_LIMIT_PER_USERNAME_AND_CLIENT_PER_HOUR",
    "RATE_LIMIT_PER_IP_PER_HOUR",
    "SES_CONFIGURATION_SET",
    "REQUEST_MIN_RESPONSE_MS",
    "CLIENT_IP_SOURCE",
    "ORIGIN_VERIFY_SECRET",
    "PASSWORD_MIN_LENGTH",
    "SERVICE_NAME_EN",
    "ADDRESS_REQUESTS_TABLE",
    "ADDRESS_REQUEST_KEEP_DAYS",
    "ADDRESS_VERIFICATION_TTL_MINUTES",
    "ADDRESS_REQUESTS_PER_CLIENT_PER_HOUR",
    "ADDRESS_REQUESTS_PER_USERNAME_PER_DAY",
    "ADDRESS_REQUEST_NOTIFY_ADDRESS",
    "BREACHED_PASSWORD_CHECK",
    "BREACHED_PASSWORD_API_URL",
    "RATE_LIMIT_PER_IPV6_48_PER_HOUR",
    "RESET_MAILS_PER_USERNAME_PER_DAY",
    "ADDRESS_REQUESTS_PER_IPV6_48_PER_HOUR",
    "ADDRESS_CONFIRMATIONS_PER_HOUR",
    "ADDRESS_CONFIRMATIONS_PER_DAY",
];

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::read(&Variables::from_env())
    }

    /// Reads settings through `lookup`, so tests can supply a map instead of the process env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(&Variables::new(lookup))
    }

    pub fn read(vars: &Variables<'_>) -> Result<Self, ConfigError> {
        let any = 0..=u32::MAX;
        let sender_address = vars
            .parsed("SENDER_ADDRESS", Email::parse)?
            .ok_or(ConfigError::Missing("SENDER_ADDRESS"))?;
        let ttl_minutes = vars.number("TOKEN_TTL_MINUTES", 60, any.clone()).and_then(|minutes| {
            if (5..=24 * 60).contains(&minutes) {
                Ok(minutes)
            } else {
                Err(ConfigError::invalid(
                    "TOKEN_TTL_MINUTES",
                    "must be between 5 and 1440 minutes",
                ))
            }
        })?;
        let reset_mails_per_day = vars.number("RESET_MAILS_PER_USERNAME_PER_DAY", 12, any.clone())?;
        // Mails are spaced a day / N apart and each link lives the TTL: the owner's longest
        // time without a working link is the spacing minus the TTL, at most one TTL only if
        // N x 2 x TTL covers a day.
        if reset_mails_per_day == 0 || u64::from(reset_mails_per_day) * 2 * u64::from(ttl_minutes) < 24 * 60 {
            return Err(ConfigError::invalid(
                "RESET_MAILS_PER_USERNAME_PER_DAY",
                format!(
                    "must be at least {} with TOKEN_TTL_MINUTES={ttl_minutes} (N x 2 x lifetime >= 24 h), \
                     or a stranger could leave the owner without a working link for longer than one lifetime",
                    (24 * 60_u32).div_ceil(2 * ttl_minutes)
                ),
            ));
        }
        let client_ip_source = vars
            .parsed("CLIENT_IP_SOURCE", |value| {
                ClientIpSource::parse(value).ok_or("must be source-ip or cloudfront-viewer-address")
            })?
            .unwrap_or_default();
        let origin_verify_secret = vars.optional("ORIGIN_VERIFY_SECRET");
        if client_ip_source == ClientIpSource::CloudFrontViewerAddress && origin_verify_secret.is_none() {
            // Without it anyone could call the API directly with a forged viewer address.
            return Err(ConfigError::invalid(
                "ORIGIN_VERIFY_SECRET",
                "must be set when CLIENT_IP_SOURCE is cloudfront-viewer-address",
            ));
        }
        let password_min_chars = vars.number("PASSWORD_MIN_LENGTH", 8, any.clone()).and_then(|chars| {
            if (8..=64).contains(&chars) {
                Ok(chars)
            } else {
                Err(ConfigError::invalid(
                    "PASSWORD_MIN_LENGTH",
                    "must be between 8 (the guide's minimum) and 64",
                ))
            }
        })?;
        Ok(Self {
            password_store: PasswordStore::read(vars)?,
            password_min_chars: password_min_chars as usize,
            password_requires_symbol: false,
            client_ip_source,
            origin_verify_secret,
            users_table: vars.required("USERS_TABLE")?,
            reset_tokens_table: vars.required("RESET_TOKENS_TABLE")?,
            rate_limits_table: vars.required("RATE_LIMITS_TABLE")?,
            mail_jobs_table: vars.required("MAIL_JOBS_TABLE")?,
            mail_queue_url: vars.required("MAIL_QUEUE_URL")?,
            mail_dead_letter_queue_url: vars.required("MAIL_DEAD_LETTER_QUEUE_URL")?,
            metrics_namespace: vars
                .optional("METRICS_NAMESPACE")
                .unwrap_or_else(|| DEFAULT_METRICS_NAMESPACE.to_owned()),
            sender_address,
            public_base_url: vars.origin("PUBLIC_BASE_URL")?,
            token_ttl: Duration::from_secs(u64::from(ttl_minutes) * 60),
            service_name: vars.required("SERVICE_NAME")?,
            service_name_en: vars.optional("SERVICE_NAME_EN"),
            support_contact: vars.required("SUPPORT_CONTACT")?,
            sign_in_url: vars.required("SIGN_IN_URL")?,
            rate_limit_per_username_per_hour: vars.number("RATE_LIMIT_PER_USERNAME_PER_HOUR", 5, any.clone())?,
            rate_limit_per_username_and_client_per_hour: vars.number(
                "RATE_LIMIT_PER_USERNAME_AND_CLIENT_PER_HOUR",
                3,
                any.clone(),
            )?,
            rate_limit_per_ip_per_hour: vars.number("RATE_LIMIT_PER_IP_PER_HOUR", 30, any.clone())?,
            rate_limit_per_ipv6_48_per_hour: vars.number("RATE_LIMIT_PER_IPV6_48_PER_HOUR", 300, any.clone())?,
            reset_mails_per_username_per_day: reset_mails_per_day,
            ses_configuration_set: vars.optional("SES_CONFIGURATION_SET"),
            request_min_response: Duration::from_millis(u64::from(vars.number("REQUEST_MIN_RESPONSE_MS", 400, any)?)),
            address: AddressSettings::read(vars)?,
            breach_check: BreachCheckSettings::read(vars)?,
        })
    }

    /// The service's name in `language`.
    pub fn service_name_in(&self, language: Language) -> &str {
        crate::lang::service_name(language, &self.service_name, self.service_name_en.as_deref())
    }

    /// Takes on a Cognito pool's password policy (read at cold start): refuses a pool weaker
    /// than the guide's rules, and asks the stricter of the two of every password.
    pub fn adopt_pool_policy(&mut self, pool: &PoolPasswordPolicy) -> Result<(), ConfigError> {
        let guide_min = crate::domain::MIN_PASSWORD_CHARS;
        let mut weaker = Vec::new();
        if pool.min_length < guide_min {
            weaker.push(format!("minimum length {} < {guide_min}", pool.min_length));
        }
        for (required, what) in [
            (pool.require_uppercase, "uppercase letters"),
            (pool.require_lowercase, "lowercase letters"),
            (pool.require_numbers, "numbers"),
        ] {
            if !required {
                weaker.push(format!("{what} not required"));
            }
        }
        if !weaker.is_empty() {
            return Err(ConfigError::PoolPolicyTooWeak(weaker.join(", ")));
        }
        self.password_min_chars = self.password_min_chars.max(pool.min_length);
        self.password_requires_symbol |= pool.require_symbols;
        Ok(())
    }

    /// Milliseconds between two reset mails to one account: a day / N, rounded up, so that no
    /// 24 hours hold more than N.
    pub fn reset_mail_spacing_ms(&self) -> i64 {
        let day_ms: u64 = 24 * 3600 * 1000;
        let spacing = day_ms.div_ceil(u64::from(self.reset_mails_per_username_per_day.max(1)));
        i64::try_from(spacing).unwrap_or(i64::MAX)
    }

    pub fn token_ttl_secs(&self) -> i64 {
        i64::try_from(self.token_ttl.as_secs()).unwrap_or(3600)
    }

    /// The link mailed to the user: always on the configured origin, never the Host header.
    pub fn confirm_url(&self, token: &str, language: Language) -> String {
        crate::web::routes::confirm_url(&self.public_base_url, token, language)
    }

    /// The verification link of an address-change request, on the configured origin.
    pub fn address_verification_url(
        &self,
        request_id: &crate::domain::AddressRequestId,
        token: &str,
        language: Language,
    ) -> String {
        crate::web::routes::address_verification_url(&self.public_base_url, request_id, token, language)
    }

    pub fn request_page_url(&self) -> String {
        crate::web::routes::request_page_url(&self.public_base_url)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::collections::HashMap;

    pub(crate) fn sample_env() -> HashMap<&'static str, &'static str> {
        crate::testing::SAMPLE_ENVIRONMENT.into_iter().collect()
    }

    pub(crate) fn sample_settings() -> Settings {
        let env = sample_env();
        Settings::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn debug_redacts_the_origin_secret_and_the_contact() -> Result<(), ConfigError> {
        let settings = crate::testing::sample_settings_with(&[
            ("ORIGIN_VERIFY_SECRET", "origin-secret-42"),
            ("SUPPORT_CONTACT", "helpdesk.yamada@pref.example.jp"),
            ("ADDRESS_REQUEST_NOTIFY_ADDRESS", "admins.team@example.jp"),
        ])?;
        let debug = format!("{settings:?}");
        for secret in ["origin-secret-42", "helpdesk.yamada", "admins.team", "no-reply@"] {
            assert!(!debug.contains(secret), "{secret} in {debug}");
        }
        assert!(debug.contains("users_table"), "{debug}");
        Ok(())
    }

    #[test]
    fn defaults_and_trailing_slash() {
        let settings = sample_settings();
        assert_eq!(settings.public_base_url, "https://id.example.jp");
        assert_eq!(settings.token_ttl_secs(), 3600);
        assert_eq!(settings.rate_limit_per_username_per_hour, 5);
        assert_eq!(settings.rate_limit_per_ip_per_hour, 30);
        assert_eq!(settings.ses_configuration_set, None);
        assert_eq!(settings.metrics_namespace, DEFAULT_METRICS_NAMESPACE);
        assert_eq!(
            settings.confirm_url("abc", Language::Ja),
            "https://id.example.jp/password-reset/confirm?token=abc"
        );
        assert_eq!(
            settings.confirm_url("abc", Language::En),
            "https://id.example.jp/password-reset/confirm?token=abc&lang=en"
        );
    }

    #[test]
    fn reset_mails_a_day_must_leave_no_gap_longer_than_one_link_lifetime() {
        let settings = sample_settings();
        assert_eq!(settings.reset_mails_per_username_per_day, 12);
        assert_eq!(settings.reset_mail_spacing_ms(), 2 * 3600 * 1000);
        let read = |ttl: &'static str, per_day: &'static str| {
            let mut env = sample_env();
            env.insert("TOKEN_TTL_MINUTES", ttl);
            env.insert("RESET_MAILS_PER_USERNAME_PER_DAY", per_day);
            Settings::from_lookup(|k| env.get(k).map(|v| v.to_string()))
        };
        // 11 a day at 60 minutes: 131-minute spacing, 71 minutes without a working link.
        assert!(matches!(
            read("60", "11"),
            Err(ConfigError::Invalid {
                name: "RESET_MAILS_PER_USERNAME_PER_DAY",
                ..
            })
        ));
        assert!(read("60", "0").is_err());
        assert!(read("180", "4").is_ok(), "longer links allow fewer mails");
        let seven = read("120", "7").map(|s| s.reset_mail_spacing_ms()).ok();
        // Rounded up: seven such gaps never fit twice in a day.
        assert_eq!(seven, Some(12_342_858));
    }

    #[test]
    fn names_the_missing_variable() {
        let mut env = sample_env();
        env.remove("SENDER_ADDRESS");
        let err = Settings::from_lookup(|k| env.get(k).map(|v| v.to_string())).err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("environment variable SENDER_ADDRESS is not set".into())
        );
    }

    #[test]
    fn address_request_settings_have_defaults_and_bounds() {
        let settings = sample_settings();
        assert_eq!(settings.address.keep_days, 14);
        assert_eq!(settings.address.verification_ttl_secs(), 24 * 3600);
        assert_eq!(settings.address.notify_address, None);
        let mut env = sample_env();
        env.insert("ADDRESS_REQUEST_KEEP_DAYS", "0");
        assert!(Settings::from_lookup(|k| env.get(k).map(|v| v.to_string())).is_err());
        env.insert("ADDRESS_REQUEST_KEEP_DAYS", "7");
        env.insert("ADDRESS_REQUEST_NOTIFY_ADDRESS", "not an address");
        assert!(Settings::from_lookup(|k| env.get(k).map(|v| v.to_string())).is_err());
        env.insert("ADDRESS_REQUEST_NOTIFY_ADDRESS", "admins@example.jp");
        let settings = Settings::from_lookup(|k| env.get(k).map(|v| v.to_string()));
        assert!(settings.is_ok_and(|s| s.address.notify_address.is_some() && s.address.keep_days == 7));
    }

    #[test]
    fn rejects_bad_numbers() {
        let mut env = sample_env();
        env.insert("TOKEN_TTL_MINUTES", "sixty");
        assert!(Settings::from_lookup(|k| env.get(k).map(|v| v.to_string())).is_err());
        env.insert("TOKEN_TTL_MINUTES", "1");
        assert!(Settings::from_lookup(|k| env.get(k).map(|v| v.to_string())).is_err());
    }

    fn pool(min_length: usize, symbols: bool) -> PoolPasswordPolicy {
        PoolPasswordPolicy {
            min_length,
            require_uppercase: true,
            require_lowercase: true,
            require_numbers: true,
            require_symbols: symbols,
        }
    }

    #[test]
    fn a_pool_policy_can_only_tighten_the_rules() -> Result<(), ConfigError> {
        let mut settings = sample_settings();
        settings.adopt_pool_policy(&pool(12, true))?;
        assert_eq!(settings.password_min_chars, 12);
        assert!(settings.password_requires_symbol);
        let mut settings = sample_settings();
        settings.password_min_chars = 14;
        settings.adopt_pool_policy(&pool(8, false))?;
        assert_eq!(settings.password_min_chars, 14, "the longer minimum stands");
        assert!(!settings.password_requires_symbol);
        Ok(())
    }

    #[test]
    fn a_pool_weaker_than_the_guide_is_refused() {
        let short = sample_settings().adopt_pool_policy(&pool(6, true));
        assert!(matches!(short, Err(ConfigError::PoolPolicyTooWeak(ref why)) if why.contains("6 < 8")));
        let no_digits = PoolPasswordPolicy {
            require_numbers: false,
            ..pool(10, false)
        };
        let refused = sample_settings().adopt_pool_policy(&no_digits);
        assert!(matches!(refused, Err(ConfigError::PoolPolicyTooWeak(ref why)) if why.contains("numbers")));
    }

    #[test]
    fn reads_the_password_store() -> Result<(), ConfigError> {
        let mut env = sample_env();
        assert_eq!(
            Settings::from_lookup(|k| env.get(k).map(|v| v.to_string()))?.password_store,
            PasswordStore::DynamoDb
        );
        env.insert("PASSWORD_STORE", "cognito");
        let missing = Settings::from_lookup(|k| env.get(k).map(|v| v.to_string()));
        assert!(matches!(missing, Err(ConfigError::Missing("USER_POOL_ID"))));
        env.insert("USER_POOL_ID", "ap-northeast-1_example");
        assert_eq!(
            Settings::from_lookup(|k| env.get(k).map(|v| v.to_string()))?.password_store,
            PasswordStore::Cognito {
                user_pool_id: "ap-northeast-1_example".into()
            }
        );
        env.insert("PASSWORD_STORE", "ldap");
        let wrong = Settings::from_lookup(|k| env.get(k).map(|v| v.to_string()));
        assert!(matches!(
            wrong,
            Err(ConfigError::Invalid {
                name: "PASSWORD_STORE",
                ..
            })
        ));
        Ok(())
    }

    #[test]
    fn the_breach_check_is_off_unless_turned_on_and_asks_the_public_api_by_default() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut env = sample_env();
            env.extend(pairs.iter().copied());
            Settings::from_lookup(|k| env.get(k).map(|v| v.to_string())).map(|s| s.breach_check)
        };
        assert_eq!(with(&[]).ok(), Some(None));
        assert_eq!(with(&[("BREACHED_PASSWORD_CHECK", "off")]).ok(), Some(None));
        assert_eq!(
            with(&[("BREACHED_PASSWORD_CHECK", "on")]).ok().flatten(),
            Some(BreachCheckSettings {
                api_url: DEFAULT_BREACH_CHECK_API_URL.into(),
                timeout: BREACH_CHECK_TIMEOUT,
            })
        );
        let local = with(&[
            ("BREACHED_PASSWORD_CHECK", "on"),
            ("BREACHED_PASSWORD_API_URL", "http://127.0.0.1:8012/"),
        ]);
        assert_eq!(
            local.ok().flatten().map(|c| c.api_url),
            Some("http://127.0.0.1:8012".into())
        );
        for (name, value) in [
            ("BREACHED_PASSWORD_CHECK", "yes"),
            ("BREACHED_PASSWORD_API_URL", "ftp://example.jp"),
        ] {
            let refused = with(&[("BREACHED_PASSWORD_CHECK", "on"), (name, value)]);
            assert!(
                matches!(refused, Err(ConfigError::Invalid { name: n, .. }) if n == name),
                "{name}={value}"
            );
        }
    }
}
