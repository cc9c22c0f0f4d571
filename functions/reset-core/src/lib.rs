//! Shared library of the password-reset functions: the domain, the ports and their adapters,
//! the use cases, and the HTTP edge. Each function's `main.rs` builds its adapters once and hands
//! requests to a router in `web` (or a job to `service::deliver`).
//!
//! # Layout
//!
//! Imports run down this list. The one exception is `web::routes`, a leaf of paths and link
//! builders (it imports only `domain`), which `config` uses to build the mailed links; no two
//! files import each other (`scripts/structure.py` lists any circle).
//!
//! - `web`: the HTTP edge. One module per function (`request_reset`, `verify_token`,
//!   `change_password`, `address_change`), each a router over `web::routes`, where every path
//!   and every absolute link is written once. `incoming` reads a request, `pages` and
//!   `address_pages` render the pages, `respond` holds the one error-to-response mapping.
//! - `service`: the use cases, plain async functions over ports. `service::send` delivers a
//!   queued mail, one file per mail kind (`send/reset_link.rs`, …) behind one dispatch in
//!   `send/mod.rs`, the way mini-redis keeps one file per command: a new mail kind is a
//!   `QueuedMail` variant, a `MailKind`, its words in each language file and one file here.
//! - `app` / `config`: the wiring of a process and its settings. `config::Variables` is the one
//!   reader of the environment (required, optional, bounded numbers; every error names the
//!   variable), `config::Settings` what the functions read through it, and
//!   `config::ENVIRONMENT_VARIABLES` the list the template and docs/architecture.md are held to.
//! - `store`, `mail`, `breach`: the ports (one trait per capability) and their adapters
//!   (DynamoDB, a Cognito user pool, SES v2, SQS, the Pwned Passwords range API), with the
//!   in-memory fakes the unit tests use.
//! - `lang`: every word of every page and mail, one file per language (`lang/ja.rs`,
//!   `lang/en.rs`), each filling the same `Words` struct, so a language that leaves a sentence
//!   out does not build.
//! - `domain`: the rules (username, password policy, token, account, credential epoch, mail
//!   job), knowing nothing of AWS or HTTP.
//! - Beside them: `error` (the one `AppError`, whose variants say what the caller should do),
//!   `metrics` (the EMF metric names the template's alarms may use), `telemetry` (JSON logs),
//!   `hashing` (argon2id), `credentials` (the contract for the host sign-in system) and
//!   `testing` (placeholder settings for other crates' tests).

pub mod app;
pub mod aws_errors;
pub mod breach;
pub mod config;
pub mod credentials;
pub mod domain;
pub mod error;
pub mod hashing;
pub mod lang;
pub mod mail;
pub mod metrics;
pub mod public_https;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod testing;
pub mod web;
pub mod wiring;

pub use app::App;
pub use config::Settings;
pub use error::AppError;
pub use wiring::Wiring;
