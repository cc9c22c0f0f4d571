//! Library half of the admin tool: reading `infra/template.yaml` (shared with the drift
//! tests), the table creation of the local stack, and the audited account operations behind
//! the CLI (on the users table, or on a Cognito user pool: `source`), the mail queue's status and redrive, and what the CLI prints (`render`). Everything here works the same on the
//! local stack (DynamoDB Local, moto's SQS and STS) and in the cloud.

pub mod accounts;
pub mod address_requests;
pub mod audit;
pub mod audit_chain;
pub mod check;
pub mod error;
pub mod import;
pub mod mail_queue;
pub mod metrics;
pub mod pool;
pub mod refusal;
pub mod render;
pub mod source;
pub mod tables;
pub mod template;
pub mod text;
pub mod times;
pub mod users;

pub use accounts::Accounts;
pub use audit::{Actor, AuditSubject, CallerIdentity, Change, Reason};
pub use error::AdminError;
pub use source::AccountSource;

/// The variables the tool reads beside the functions' own (`reset_core::config::
/// ENVIRONMENT_VARIABLES`): docs/architecture.md's "reset-admin's own settings" lists exactly
/// these (the template drift test holds it to them).
pub const OWN_VARIABLES: [&str; 4] = [
    audit_chain::MIRROR_VARIABLE,
    address_requests::OBJECTION_HOURS_VARIABLE,
    metrics::LOG_GROUP_VARIABLE,
    "RESET_ADMIN_ACTOR",
];
