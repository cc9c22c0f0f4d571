//! Shared library of the password-reset functions.
//!
//! `domain` holds the rules and knows nothing of AWS or HTTP; `store` and `mail` are the
//! ports (traits) with their DynamoDB and SES v2 adapters; `service` runs the use cases over
//! those ports; `web` turns API Gateway requests into use-case calls and results into pages
//! or JSON, with the one error-to-response mapping; `lang` holds every word of every language.

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
pub mod service;
pub mod store;
pub mod telemetry;
pub mod testing;
pub mod web;

pub use app::App;
pub use config::Settings;
pub use error::AppError;
