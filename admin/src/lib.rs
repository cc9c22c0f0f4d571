//! Library half of the admin tool: reading `infra/template.yaml` (shared with the drift
//! tests), the table creation of the local stack, and the audited account operations behind
//! the CLI, the mail queue's status and redrive, and what the CLI prints (`render`). Everything here works the same on the
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
pub mod refusal;
pub mod render;
pub mod tables;
pub mod template;
pub mod text;
pub mod times;
pub mod users;

pub use accounts::Accounts;
pub use audit::{Actor, AuditSubject, CallerIdentity, Change, Reason};
pub use error::AdminError;
