//! `tables create`.

use anyhow::{Context, Result};
use reset_admin::render::table_line;
use reset_admin::tables::{create_table, Created};
use reset_admin::template::{Store, Template};
use reset_core::config::Variables;
use std::path::Path;
use std::process::ExitCode;

/// `tables create`: the tables of the template for the store, each named by its variable.
pub async fn create(config: &aws_config::SdkConfig, template: &Path, password_store: &str) -> Result<ExitCode> {
    let client = aws_sdk_dynamodb::Client::new(config);
    let store = Store::parse(password_store)?;
    for table in Template::load(template)?.tables_for(store)? {
        let name = Variables::from_env()
            .optional(&table.env_var)
            .with_context(|| format!("environment variable {} is not set", table.env_var))?;
        let created = create_table(&client, &name, &table).await?;
        println!("{}", table_line(&name, &table, created == Created::New));
    }
    Ok(ExitCode::SUCCESS)
}
