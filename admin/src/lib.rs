//! Library half of the admin tool: reading `infra/template.yaml` (shared with the drift
//! tests) and the table and user operations behind the CLI.

pub mod tables;
pub mod template;
pub mod users;
