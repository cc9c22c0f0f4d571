//! `reset-admin`: the administrator's tool. Uses the same environment variables as the
//! functions (and `AWS_ENDPOINT_URL_DYNAMODB` locally).

use anyhow::{anyhow, Context, Result};
use aws_config::BehaviorVersion;
use clap::{Parser, Subcommand, ValueEnum};
use reset_admin::tables::{create_table, Created};
use reset_admin::template::Template;
use reset_admin::users::{create_user, generate_initial_password, NewUser};
use reset_core::domain::{Clock, Email, Language, SystemClock, Username};
use reset_core::store::{DynamoStore, ResetStore};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "reset-admin",
    about = "Administer the password-reset service's users and tables"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tables defined in infra/template.yaml.
    Tables {
        #[command(subcommand)]
        command: TablesCommand,
    },
    /// User accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum TablesCommand {
    /// Create every table of the template, named by the environment variables that refer to
    /// them (USERS_TABLE, …). Existing tables are left alone.
    Create {
        #[arg(long, default_value = "infra/template.yaml")]
        template: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LanguageArg {
    Ja,
    En,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user with a first password (generated and printed unless given).
    Create {
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_enum, default_value = "ja")]
        language: LanguageArg,
        /// Read the first password from this environment variable instead of generating one.
        #[arg(long)]
        password_env: Option<String>,
        /// Succeed without changes if the user already exists.
        #[arg(long)]
        if_missing: bool,
    },
    /// Show a user (the address masked, no hash).
    Show { username: String },
}

fn env(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("environment variable {name} is not set"))
}

async fn dynamodb() -> aws_sdk_dynamodb::Client {
    let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
    aws_sdk_dynamodb::Client::new(&config)
}

async fn store() -> Result<DynamoStore> {
    Ok(DynamoStore::new(
        dynamodb().await,
        env("USERS_TABLE")?,
        env("RESET_TOKENS_TABLE")?,
        env("RATE_LIMITS_TABLE")?,
    ))
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Tables {
            command: TablesCommand::Create { template },
        } => {
            let client = dynamodb().await;
            for table in Template::load(&template)?.tables()? {
                let name = env(&table.env_var)?;
                let created = create_table(&client, &name, &table).await?;
                let state = if created == Created::New {
                    "created"
                } else {
                    "already exists"
                };
                println!("table {name} ({}, from {}): {state}", table.env_var, table.logical_id);
            }
        }
        Command::User { command } => match command {
            UserCommand::Create {
                username,
                email,
                language,
                password_env,
                if_missing,
            } => {
                let username = Username::parse(&username).map_err(|e| anyhow!("{username}: {e}"))?;
                let email = Email::parse(&email).map_err(|e| anyhow!("{e}"))?;
                let (password, generated) = match password_env {
                    Some(var) => (env(&var)?, false),
                    None => (generate_initial_password()?, true),
                };
                let language = match language {
                    LanguageArg::Ja => Language::Ja,
                    LanguageArg::En => Language::En,
                };
                let store = store().await?;
                let new_user = NewUser {
                    username: username.clone(),
                    email,
                    language,
                    password: password.clone(),
                };
                match create_user(&store, new_user, SystemClock.now()).await {
                    Ok(user) => {
                        println!("created user {} <{}>", user.username, user.email.masked());
                        if generated {
                            println!("initial password: {password}");
                        }
                    }
                    Err(reset_core::store::CreateUserError::AlreadyExists(_)) if if_missing => {
                        println!("user {username} already exists; left unchanged");
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            UserCommand::Show { username } => {
                let username = Username::parse(&username).map_err(|e| anyhow!("{username}: {e}"))?;
                let user = store()
                    .await?
                    .find_user(&username)
                    .await?
                    .ok_or_else(|| anyhow!("no user {username}"))?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "username": user.username.as_str(),
                        "email": user.email.masked(),
                        "status": user.status,
                        "language": user.language,
                        "password_changed_at": user.password_changed_at,
                        "created_at": user.created_at,
                    }))?
                );
            }
        },
    }
    Ok(())
}
