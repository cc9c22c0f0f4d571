//! `reset-admin`: the administrator's tool. Uses the same environment variables as the
//! functions (`USERS_TABLE`, `AUDIT_LOG_TABLE`, …; `AWS_ENDPOINT_URL_DYNAMODB` locally) and
//! works the same on the local stack and in the cloud. With `PASSWORD_STORE=cognito` (and
//! `USER_POOL_ID`) the account commands work on the user pool instead (`reset_admin::source`). Every change is audited: who (`--actor`,
//! else the login name, beside the AWS identity from STS GetCallerIdentity), when, why
//! (`--reason`). Credentials come from the SDK's standard chain, SSO (IAM Identity Center) and
//! credential_process profiles included.
//!
//! This file is the command line and its dispatch; each command is a function of `commands/`, and
//! all that the tool prints is made in `reset_admin::render`.

mod commands;

use anyhow::Result;
use clap::{Parser, Subcommand};
use commands::address_requests::Desk;
use commands::user::NewAccount;
use commands::{audit, import, mail_problems, mail_queue, tables, user, users, Session};
use reset_admin::render::error_line;
use reset_admin::{source, Accounts};
use reset_core::config::StoreKind;
use reset_core::domain::{AccountStatus, Language};
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
    /// Where the accounts live: `dynamodb` (the users table) or `cognito` (the user pool
    /// USER_POOL_ID, beside the account-state table).
    #[arg(
        long,
        global = true,
        env = "PASSWORD_STORE",
        hide_env_values = true,
        default_value = "dynamodb"
    )]
    password_store: String,
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
    /// All the accounts: `users check` reads each one as the functions do.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// One user account.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The audit log of one account (or of the mail queue: `audit mail-queue`), newest first;
    /// `audit verify USERNAME` checks its hash chain against the mirror.
    #[command(args_conflicts_with_subcommands = true)]
    Audit {
        #[command(subcommand)]
        command: Option<AuditCommand>,
        /// A username, or `mail-queue` for the re-drives of dead-lettered mail.
        username: Option<String>,
    },
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
    /// How much mail waits in the mail queue and its dead-letter queue (counts and ages only).
    MailQueue {
        #[command(subcommand)]
        command: Option<MailQueueCommand>,
    },
    /// Address-change requests confirmed from their new address, waiting for a decision.
    AddressRequests {
        #[command(subcommand)]
        command: AddressRequestsCommand,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// List the accounts the functions can no longer read (username, address, language), each
    /// with its fix; exits 1 when there is one. Run it before deploying a release that tightens a
    /// rule (docs/operations.md). Reads the whole users table (a Scan).
    Check,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of one account's (or the mail queue's) audit log and compare it with
    /// the mirror in AUDIT_LOG_GROUP; names the first broken link and fails if there is one.
    Verify {
        /// A username, or `mail-queue`.
        username: String,
    },
}

#[derive(Subcommand)]
enum AddressRequestsCommand {
    /// The pending requests, oldest first (a Query on the pending index; expired ones left out).
    List,
    /// One request: the institution's four items, the new address, the account it is about.
    Show { id: String },
    /// Change the account's address to the request's and mark the request approved, in one
    /// audited transaction. Refused while the owner may still object (the notice to the
    /// registered address must be sent and ADDRESS_REQUEST_OBJECTION_HOURS, default 72, past,
    /// unless that address bounces) and when the account changed since it was told.
    Approve {
        id: String,
        /// Why, for the audit log.
        #[arg(long, default_value = "verified request of the institution")]
        reason: String,
        /// Approve although the account changed since its registered address was told (its
        /// credential epoch or address): why, for the audit log.
        #[arg(long)]
        override_reason: Option<String>,
    },
    /// Mark the request rejected; the account is not changed.
    Reject {
        id: String,
        /// Why, for the audit log (e.g. "institution name does not match the account").
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum MailQueueCommand {
    /// Move every dead-lettered mail back to the mail queue (after fixing what made it fail).
    Redrive {
        /// Why, for the audit log (e.g. "SES outage of 11/29 over").
        #[arg(long)]
        reason: String,
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

/// A language the service speaks, by its code (`ja`, `en`, `en-US` …).
fn parse_language(tag: &str) -> Result<Language, String> {
    Language::from_tag(tag).ok_or_else(|| {
        let known: Vec<&str> = Language::ALL.iter().map(|language| language.code()).collect();
        format!("not a language of the service: use one of {}", known.join(", "))
    })
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user with a first password (generated and printed unless given).
    Create {
        username: String,
        #[arg(long)]
        email: String,
        /// The account's language (a code of domain::Language: ja, en).
        #[arg(long, value_parser = parse_language, default_value = "ja")]
        language: Language,
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

async fn run(cli: Cli) -> Result<ExitCode> {
    // Loaded once: region, credentials (SSO and credential_process profiles too), endpoints.
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let session = Session {
        config: &config,
        actor: cli.actor.as_deref(),
        store: StoreKind::parse(&cli.password_store)?,
    };
    match cli.command {
        Command::Tables {
            command: TablesCommand::Create { template },
        } => tables::create(&config, &template, &cli.password_store).await,
        Command::User { command } => user_command(session, command).await,
        Command::Users {
            command: UsersCommand::Check,
        } => {
            session.users_table_only("users check")?;
            users::check(&config).await
        }
        Command::AddressRequests { command } => address_requests_command(session, command).await,
        Command::Audit {
            command: Some(AuditCommand::Verify { username }),
            ..
        } => audit::verify(session, &username).await,
        Command::Audit {
            command: None,
            username: Some(username),
        } => audit::show(session, &username).await,
        Command::Audit {
            command: None,
            username: None,
        } => Ok(audit::usage()),
        Command::Import { file, apply, reason } => {
            session.users_table_only("import")?;
            import::file(session, &file, apply, reason.as_deref()).await
        }
        Command::MailQueue { command: None } => mail_queue::status(&config).await,
        Command::MailQueue {
            command: Some(MailQueueCommand::Redrive { reason }),
        } => mail_queue::redrive(session, &reason).await,
        Command::MailProblems { limit } => {
            mail_problems::list(source::open(session.config, session.store)?.as_ref(), limit).await
        }
    }
}

async fn user_command(session: Session<'_>, command: UserCommand) -> Result<ExitCode> {
    // Every command but `create` works on either store.
    let open = || source::open(session.config, session.store);
    match command {
        UserCommand::Create {
            username,
            email,
            language,
            password_env,
            if_missing,
            reason,
        } => {
            session.users_table_only("user create")?;
            let typed = NewAccount {
                username,
                email,
                language,
                password_env,
                if_missing,
                reason,
            };
            user::create(session, &Accounts::from_config(session.config)?, typed).await
        }
        UserCommand::Show { username } => user::show(open()?.as_ref(), &username).await,
        UserCommand::Disable { username, reason } => {
            user::set_status(session, open()?.as_ref(), &username, AccountStatus::Disabled, &reason).await
        }
        UserCommand::Enable { username, reason } => {
            user::set_status(session, open()?.as_ref(), &username, AccountStatus::Active, &reason).await
        }
        UserCommand::SetEmail {
            username,
            new_email,
            reason,
        } => user::set_email(session, open()?.as_ref(), &username, &new_email, &reason).await,
    }
}

async fn address_requests_command(session: Session<'_>, command: AddressRequestsCommand) -> Result<ExitCode> {
    let desk = Desk::open(session)?;
    match command {
        AddressRequestsCommand::List => desk.list().await,
        AddressRequestsCommand::Show { id } => desk.show(&id).await,
        AddressRequestsCommand::Approve {
            id,
            reason,
            override_reason,
        } => desk.approve(&id, &reason, override_reason.as_deref()).await,
        AddressRequestsCommand::Reject { id, reason } => desk.reject(&id, &reason).await,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("{}", error_line(&error));
            ExitCode::FAILURE
        }
    }
}
