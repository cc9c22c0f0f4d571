//! `reset-admin`: the administrator's tool. Uses the same environment variables as the
//! functions (`USERS_TABLE`, `AUDIT_LOG_TABLE`, …; `AWS_ENDPOINT_URL_DYNAMODB` locally) and
//! works the same on the local stack and in the cloud. Every change is audited: who (`--actor`,
//! else the login name), when, why (`--reason`).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use reset_admin::accounts::{AccountRecord, StatusChange};
use reset_admin::import::{self, RetryPolicy};
use reset_admin::tables::{create_table, Created};
use reset_admin::template::Template;
use reset_admin::times::{jst_display, jst_iso};
use reset_admin::users::{create_user, generate_initial_password, NewUser};
use reset_admin::{Accounts, Actor, AdminError, Change, Reason};
use reset_core::domain::{AccountStatus, Clock, Email, Language, SystemClock, Username};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "reset-admin",
    about = "Administer the password-reset service: accounts, registered addresses, bulk imports, mail problems"
)]
struct Cli {
    /// Who is making the change, for the audit log (default: $RESET_ADMIN_ACTOR, then the login name).
    #[arg(long, global = true, env = "RESET_ADMIN_ACTOR")]
    actor: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tables defined in infra/template.yaml (for the local stack).
    Tables {
        #[command(subcommand)]
        command: TablesCommand,
    },
    /// One user account.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The audit log of one account, newest first.
    Audit { username: String },
    /// Create the accounts of a CSV file (username,email[,language]). Checks only, unless --apply.
    Import {
        /// UTF-8 CSV whose first line names the columns username,email (language optional,
        /// ja/en; other columns are ignored).
        file: PathBuf,
        /// Write the new accounts (only when no line is rejected).
        #[arg(long)]
        apply: bool,
        /// Why, for the audit log (default: "import of <file name>").
        #[arg(long)]
        reason: Option<String>,
    },
    /// Accounts whose latest reset mail bounced, drew a complaint or was rejected, newest first.
    MailProblems {
        #[arg(long, default_value_t = 100)]
        limit: usize,
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
        /// Why, for the audit log.
        #[arg(long, default_value = "account created")]
        reason: String,
    },
    /// Show a user (the address masked, no hash) with its latest reset mail and mail problem.
    Show { username: String },
    /// Stop reset mails and links for the account.
    Disable {
        username: String,
        #[arg(long)]
        reason: String,
    },
    /// Allow resets again.
    Enable {
        username: String,
        #[arg(long)]
        reason: String,
    },
    /// Change the registered address (takes effect at once for the next reset request).
    SetEmail {
        username: String,
        /// The new registered address (checked; shown masked from now on).
        new_email: String,
        #[arg(long)]
        reason: String,
    },
}

fn username(typed: &str) -> Result<Username, AdminError> {
    Username::parse(typed.trim()).map_err(|reason| AdminError::invalid_username(typed, reason))
}

fn change(actor: Option<&str>, reason: &str) -> Result<Change, AdminError> {
    Ok(Change {
        actor: Actor::resolve(actor)?,
        reason: Reason::parse(reason)?,
        at: SystemClock.now(),
    })
}

/// `user show`: field order as an administrator reads it; times in JST.
#[derive(Serialize)]
struct AccountView<'a> {
    username: &'a str,
    email: String,
    status: AccountStatus,
    language: Language,
    has_password: bool,
    created_at: String,
    password_changed_at: Option<String>,
    email_changed_at: Option<String>,
    last_reset_mail_at: Option<String>,
    last_mail_event: Option<MailEventView<'a>>,
    mail_problem: Option<MailEventView<'a>>,
}

#[derive(Serialize)]
struct MailEventView<'a> {
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    at: Option<String>,
}

impl<'a> AccountView<'a> {
    fn of(account: &'a AccountRecord) -> Self {
        let time = |ms: Option<i64>| ms.map(jst_iso);
        Self {
            username: account.username.as_str(),
            email: account.email.masked(),
            status: account.status,
            language: account.language,
            has_password: account.has_password,
            created_at: jst_iso(account.created_at),
            password_changed_at: time(account.password_changed_at),
            email_changed_at: time(account.email_changed_at),
            last_reset_mail_at: time(account.reset_mail_sent_at),
            last_mail_event: account.last_mail_event.as_deref().map(|kind| MailEventView {
                kind,
                detail: None,
                at: time(account.last_mail_event_at),
            }),
            mail_problem: account.mail_problem.as_deref().map(|kind| MailEventView {
                kind,
                detail: account.mail_problem_detail.as_deref(),
                at: time(account.mail_problem_at),
            }),
        }
    }
}

fn progress_bar(message: &'static str) -> ProgressBar {
    // Drawn on stderr only when it is a terminal, so redirected output stays clean.
    let bar = ProgressBar::new(0).with_message(message);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let actor = cli.actor.as_deref();
    match cli.command {
        Command::Tables {
            command: TablesCommand::Create { template },
        } => {
            let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
            let client = aws_sdk_dynamodb::Client::new(&config);
            for table in Template::load(&template)?.tables()? {
                let name = std::env::var(&table.env_var)
                    .with_context(|| format!("environment variable {} is not set", table.env_var))?;
                let created = create_table(&client, &name, &table).await?;
                let state = if created == Created::New {
                    "created"
                } else {
                    "already exists"
                };
                println!("table {name} ({}, from {}): {state}", table.env_var, table.logical_id);
            }
        }
        Command::User { command } => return user_command(actor, command).await,
        Command::Audit { username: typed } => {
            let username = username(&typed)?;
            let accounts = Accounts::from_env().await?;
            let entries = accounts.audit_trail(&username).await?;
            if entries.is_empty() {
                println!("no audit entries for {username}");
            }
            for entry in entries {
                let emails = match (&entry.old_email_masked, &entry.new_email_masked) {
                    (Some(old), Some(new)) => format!("  {old} -> {new}"),
                    (None, Some(new)) => format!("  {new}"),
                    _ => String::new(),
                };
                println!(
                    "{} JST  {:<9}  by {}{emails}  reason: {}",
                    jst_display(entry.at),
                    entry.action.code(),
                    entry.actor,
                    entry.reason
                );
            }
        }
        Command::Import { file, apply, reason } => {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let reader = std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
            let parsed = import::read_csv(std::io::BufReader::new(reader))?;
            let accounts = Accounts::from_env().await?;
            let checking = progress_bar("checking");
            let plan = import::plan(&accounts, parsed, &checking).await?;
            checking.finish_and_clear();
            println!("{}: {} row(s) below the header line", file.display(), plan.lines());
            for rejected in &plan.rejected {
                println!("  rejected {rejected}");
            }
            println!(
                "new: {}, already registered (unchanged): {}, rejected: {}",
                plan.to_create.len(),
                plan.already_registered.len(),
                plan.rejected.len()
            );
            if !plan.rejected.is_empty() {
                println!("nothing written: fix the rejected lines and run the import again");
                return Ok(ExitCode::FAILURE);
            }
            if !apply {
                println!("dry run: nothing written; add --apply to create the new accounts");
                return Ok(ExitCode::SUCCESS);
            }
            let change = change(actor, reason.as_deref().unwrap_or(&format!("import of {name}")))?;
            let writing = progress_bar("writing");
            let written = import::apply(&accounts, &plan, &change, &writing, RetryPolicy::default()).await?;
            writing.finish_and_clear();
            if written == 0 {
                println!("written: 0 account(s): every account of the file is already registered");
            } else {
                println!("written: {written} account(s) (no password yet: each owner sets one with the reset page)");
            }
        }
        Command::MailProblems { limit } => {
            let accounts = Accounts::from_env().await?;
            let rows = accounts.mail_problems(limit).await?;
            if rows.is_empty() {
                println!("no account has an unresolved mail problem");
            } else {
                println!(
                    "{:<23}  {:<8}  {:<9}  {:<28}  {:<24}  status",
                    "time of the problem", "username", "problem", "detail", "registered address"
                );
            }
            for row in rows {
                println!(
                    "{} JST  {}  {:<9}  {:<28}  {:<24}  {}",
                    jst_display(row.mail_problem_at),
                    row.username,
                    row.mail_problem,
                    row.mail_problem_detail.as_deref().unwrap_or("-"),
                    row.email.masked(),
                    if row.status == AccountStatus::Disabled {
                        "disabled"
                    } else {
                        "active"
                    },
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn user_command(actor: Option<&str>, command: UserCommand) -> Result<ExitCode> {
    let accounts = Accounts::from_env().await?;
    match command {
        UserCommand::Create {
            username: typed,
            email,
            language,
            password_env,
            if_missing,
            reason,
        } => {
            let username = username(&typed)?;
            let email = Email::parse(&email).map_err(AdminError::InvalidEmail)?;
            let (password, generated) = match password_env {
                Some(var) => (
                    std::env::var(&var).with_context(|| format!("environment variable {var} is not set"))?,
                    false,
                ),
                None => (generate_initial_password()?, true),
            };
            let language = match language {
                LanguageArg::Ja => Language::Ja,
                LanguageArg::En => Language::En,
            };
            let new_user = NewUser {
                username: username.clone(),
                email,
                language,
                password: Some(password.clone()),
            };
            match create_user(&accounts, new_user, &change(actor, &reason)?).await {
                Ok(user) => {
                    println!("created user {} <{}>", user.username, user.email.masked());
                    if generated {
                        println!("initial password: {password}");
                    }
                }
                Err(AdminError::AlreadyExists(_)) if if_missing => {
                    println!("user {username} already exists; left unchanged");
                }
                Err(error) => return Err(error.into()),
            }
        }
        UserCommand::Show { username: typed } => {
            let username = username(&typed)?;
            let account = accounts
                .find(&username)
                .await?
                .ok_or(AdminError::NoSuchUser(username))?;
            println!("{}", serde_json::to_string_pretty(&AccountView::of(&account))?);
        }
        UserCommand::Disable {
            username: typed,
            reason,
        } => {
            let username = username(&typed)?;
            match accounts
                .set_status(&username, AccountStatus::Disabled, &change(actor, &reason)?)
                .await?
            {
                StatusChange::Changed => println!("disabled {username}: no reset mail, no working link"),
                StatusChange::AlreadySo => println!("{username} was already disabled; nothing changed"),
            }
        }
        UserCommand::Enable {
            username: typed,
            reason,
        } => {
            let username = username(&typed)?;
            match accounts
                .set_status(&username, AccountStatus::Active, &change(actor, &reason)?)
                .await?
            {
                StatusChange::Changed => println!("enabled {username}"),
                StatusChange::AlreadySo => println!("{username} was already enabled; nothing changed"),
            }
        }
        UserCommand::SetEmail {
            username: typed,
            new_email,
            reason,
        } => {
            let username = username(&typed)?;
            let new_email = Email::parse(&new_email).map_err(AdminError::InvalidEmail)?;
            let changed = accounts
                .set_email(&username, &new_email, &change(actor, &reason)?)
                .await?;
            println!(
                "changed the address of {username}: {} -> {} (in effect for the next reset request)",
                changed.old_masked, changed.new_masked
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
