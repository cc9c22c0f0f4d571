//! The integration and end-to-end tests against the local stack, as one test binary: one link
//! of the AWS SDKs instead of one per file. The shared helpers are the crate's library
//! (`tests/support`); a module per area here.
//!
//! `disruptive` holds the tests that stop or freeze a service of the shared stack (the SES
//! emulator): scripts/test.sh runs them on their own, after everything else.

mod abuse;
mod account_integrity;
mod address_approval;
mod address_requests;
mod admin_cognito;
mod admin_import;
mod admin_mail_queue;
mod admin_policy;
mod admin_support;
mod admin_users;
mod audit_chain;
mod breached_passwords;
mod cognito_change;
mod cognito_store;
mod disruptive;
mod docs_drift;
mod events;
mod faults;
mod feature_graph;
mod iam_policies;
mod json_api;
mod logs;
mod mail_events;
mod mail_jobs;
mod over_http;
mod policy_drift;
mod pre_traffic;
mod probe;
mod reset_flow;
mod sign_in;
mod template_drift;
