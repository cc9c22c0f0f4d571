//! Library half of the admin tool: reading `infra/template.yaml` (shared with the drift
//! tests), the table creation of the local stack, and the audited account operations behind
//! the CLI. Everything here works the same on DynamoDB Local and in the cloud.

pub mod accounts;
pub mod audit;
pub mod error;
pub mod import;
pub mod tables;
pub mod template;
pub mod times;
pub mod users;

pub use accounts::Accounts;
pub use audit::{Actor, Change, Reason};
pub use error::AdminError;
