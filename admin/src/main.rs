//! `reset-admin`: the administrator's tool. Uses the same environment variables as the
//! functions (`USERS_TABLE`, `AUDIT_LOG_TABLE`, …; `AWS_ENDPOINT_URL_DYNAMODB` locally) and
//! works the same on the local stack and in the cloud. Every change is audited: who (`--actor`,
//! else the login name, beside the AWS identity from STS GetCallerIdentity), when, why
//! (`--reason`). Credentials come from the SDK's standard chain, SSO (IAM Identity Center) and
//! credential_process profiles included.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use reset_admin::accounts::StatusChange;
use reset_admin::address_requests::AddressRequests;
use reset_admin::audit::{AuditAction, AuditEntry};
use reset_admin::audit_chain::{check_chain, MIRROR_VARIABLE};
use reset_admin::check::check_users;
use reset_admin::import;
use reset_admin::mail_queue::MailQueues;
use reset_admin::metrics;
use reset_admin::render::{
    audit_log, chain_report, depth_line, import_outcome, import_plan, mail_problems_table, oldest_dead_letter,
    pending_table, progress_bar, redrive_line, table_line, unreadable_accounts, AccountView, RequestView,
};
use reset_admin::tables::{create_table, Created};
use reset_admin::template::{Store, Template};
use reset_admin::text::visible;
use reset_admin::users::{checked_first_password, create_user, generate_first_password, NewUser};
use reset_admin::{Accounts, Actor, AdminError, AuditSubject, CallerIdentity, Change, Reason};
use reset_core::config::{Variables, DEFAULT_METRICS_NAMESPACE};
use reset_core::domain::{AccountStatus, AddressRequestId, Clock, Email, Language, SystemClock, Username};
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
        /// Where passwords live: `dynamodb` (the users table) or `cognito` (the account-state
        /// table beside the pool).
        #[arg(long, env = "PASSWORD_STORE", default_value = "dynamodb")]
        password_store: String,
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

fn username(typed: &str) -> Result<Username, AdminError> {
    Username::parse(typed.trim()).map_err(|reason| AdminError::invalid_username(typed, reason))
}

fn audit_subject(typed: &str) -> Result<AuditSubject, AdminError> {
    if typed.trim() == AuditSubject::MAIL_QUEUE_KEY {
        return Ok(AuditSubject::MailQueue);
    }
    username(typed).map(AuditSubject::Account)
}

/// Who, why and when of a change. The typed parts are checked first, so a typo costs no call;
/// then STS says who is really calling, and without that answer nothing is written.
async fn change(config: &aws_config::SdkConfig, actor: Option<&str>, reason: &str) -> Result<Change, AdminError> {
    let actor = Actor::resolve(actor)?;
    let reason = Reason::parse(reason)?;
    let caller = CallerIdentity::look_up(config).await?;
    Ok(Change {
        actor,
        caller,
        reason,
        at: SystemClock.now(),
    })
}

async fn users_check(config: &aws_config::SdkConfig) -> Result<ExitCode> {
    let accounts = Accounts::from_config(config)?;
    let report = check_users(&accounts, |read| eprint!("\r    {read} accounts read")).await?;
    eprintln!();
    print!("{}", unreadable_accounts(&report));
    Ok(if report.unreadable.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let actor = cli.actor.as_deref();
    // Loaded once: region, credentials (SSO and credential_process profiles too), endpoints.
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    match cli.command {
        Command::Tables {
            command: TablesCommand::Create {
                template,
                password_store,
            },
        } => tables_create(&config, &template, &password_store).await,
        Command::User { command } => user_command(&config, actor, command).await,
        Command::Users {
            command: UsersCommand::Check,
        } => users_check(&config).await,
        Command::AddressRequests { command } => {
            address_requests_command(&config, actor, command).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit {
            command: Some(AuditCommand::Verify { username }),
            ..
        } => audit_verify(&config, &username).await,
        Command::Audit {
            command: None,
            username: Some(username),
        } => audit_show(&config, &username).await,
        Command::Audit {
            command: None,
            username: None,
        } => {
            println!("name an account (`reset-admin audit USERNAME`) or `reset-admin audit verify USERNAME`");
            Ok(ExitCode::FAILURE)
        }
        Command::Import { file, apply, reason } => import_file(&config, actor, &file, apply, reason.as_deref()).await,
        Command::MailQueue { command: None } => mail_queue_status(&config).await,
        Command::MailQueue {
            command: Some(MailQueueCommand::Redrive { reason }),
        } => mail_queue_redrive(&config, actor, &reason).await,
        Command::MailProblems { limit } => mail_problems(&config, limit).await,
    }
}

/// `tables create`: the tables of the template for the store, each named by its variable.
async fn tables_create(
    config: &aws_config::SdkConfig,
    template: &std::path::Path,
    password_store: &str,
) -> Result<ExitCode> {
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

/// `audit verify USERNAME`: the hash chain of the account's audit log, against its mirror.
async fn audit_verify(config: &aws_config::SdkConfig, typed: &str) -> Result<ExitCode> {
    let subject = audit_subject(typed)?;
    let accounts = Accounts::from_config(config)?;
    let entries = accounts.audit_trail(subject.clone()).await?;
    let mirrored = match accounts.mirror() {
        Some(mirror) => Some(mirror.entries(&subject).await.map_err(AdminError::Unavailable)?),
        None => {
            eprintln!("note: {MIRROR_VARIABLE} is not set: the chain is checked without its mirror");
            None
        }
    };
    let report = check_chain(&entries, mirrored.as_deref());
    print!("{}", chain_report(&subject, &report));
    Ok(if report.first_break.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `audit USERNAME`: the account's audit log, newest first.
async fn audit_show(config: &aws_config::SdkConfig, typed: &str) -> Result<ExitCode> {
    let subject = audit_subject(typed)?;
    let accounts = Accounts::from_config(config)?;
    let entries = accounts.audit_trail(subject.clone()).await?;
    print!("{}", audit_log(&subject, &entries));
    Ok(ExitCode::SUCCESS)
}

/// `import FILE [--apply]`: checks every line, then (with --apply) creates the new accounts.
async fn import_file(
    config: &aws_config::SdkConfig,
    actor: Option<&str>,
    file: &std::path::Path,
    apply: bool,
    reason: Option<&str>,
) -> Result<ExitCode> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let reader = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let parsed = import::read_csv(std::io::BufReader::new(reader))?;
    let accounts = Accounts::from_config(config)?;
    let checking = progress_bar("checking");
    let plan = import::plan(&accounts, parsed, &checking).await?;
    checking.finish_and_clear();
    print!("{}", import_plan(file, &plan));
    if !plan.rejected.is_empty() {
        println!("nothing written: fix the rejected lines and run the import again");
        return Ok(ExitCode::FAILURE);
    }
    if !apply {
        println!("dry run: nothing written; add --apply to create the new accounts");
        return Ok(ExitCode::SUCCESS);
    }
    let change = change(config, actor, reason.unwrap_or(&format!("import of {name}"))).await?;
    let writing = progress_bar("writing");
    let outcome = import::apply(&accounts, &plan, &change, &writing).await;
    writing.finish_and_clear();
    print!("{}", import_outcome(&outcome?));
    Ok(ExitCode::SUCCESS)
}

/// `mail-queue`: both queues' depths and the oldest dead letter.
async fn mail_queue_status(config: &aws_config::SdkConfig) -> Result<ExitCode> {
    let queues = MailQueues::from_config(config)?;
    let main = queues.main_depth().await?;
    let dead = queues.dead_letter_depth().await?;
    println!("{}", depth_line("mail queue", queues.main_url(), &main));
    println!("{}", depth_line("dead-letter queue", queues.dead_letter_url(), &dead));
    if dead.total() > 0 {
        let oldest = queues.oldest_dead_letter_sent_at().await?;
        println!("{}", oldest_dead_letter(oldest, SystemClock.now()));
    } else {
        println!("no dead-lettered mail");
    }
    Ok(ExitCode::SUCCESS)
}

/// `mail-queue redrive --reason ...`: the dead letters back to the mail queue, audited.
async fn mail_queue_redrive(config: &aws_config::SdkConfig, actor: Option<&str>, reason: &str) -> Result<ExitCode> {
    let queues = MailQueues::from_config(config)?;
    let accounts = Accounts::from_config(config)?;
    let change = change(config, actor, reason).await?;
    let moving = progress_bar("moving");
    let result = queues.redrive(|_| moving.inc(1)).await;
    moving.finish_and_clear();
    let moved = match &result {
        Ok(moved) => *moved,
        Err(AdminError::RedriveInterrupted { moved, .. }) => *moved,
        Err(_) => 0,
    };
    if moved > 0 {
        // Recorded even when the move stopped midway: what moved, moved.
        let entry = AuditEntry::new(AuditSubject::MailQueue, AuditAction::Redrive, &change)?
            .with_count(u64::try_from(moved).unwrap_or(u64::MAX));
        accounts.record(&entry).await.with_context(|| {
            format!("{moved} message(s) were moved back to the mail queue, but the audit record could not be written")
        })?;
    }
    println!("{}", redrive_line(result?, queues.dead_letter_url(), queues.main_url()));
    Ok(ExitCode::SUCCESS)
}

/// `mail-problems`: the accounts whose mail does not arrive, newest first.
async fn mail_problems(config: &aws_config::SdkConfig, limit: usize) -> Result<ExitCode> {
    let accounts = Accounts::from_config(config)?;
    let rows = accounts.mail_problems(limit).await?;
    print!("{}", mail_problems_table(&rows));
    Ok(ExitCode::SUCCESS)
}

async fn user_command(config: &aws_config::SdkConfig, actor: Option<&str>, command: UserCommand) -> Result<ExitCode> {
    let accounts = Accounts::from_config(config)?;
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
            // Every password the tool sets passes the service's own policy, given or generated.
            let (password, generated) = match password_env {
                Some(var) => {
                    let given = Variables::from_env()
                        .optional(&var)
                        .with_context(|| format!("environment variable {var} is not set"))?;
                    (checked_first_password(&given, &username, &var)?, false)
                }
                None => (generate_first_password(&username)?, true),
            };
            let new_user = NewUser {
                username: username.clone(),
                email,
                language,
                password: Some(password.clone()),
            };
            match create_user(&accounts, new_user, &change(config, actor, &reason).await?).await {
                Ok(user) => {
                    println!("created user {} <{}>", user.username, user.email.masked());
                    if generated {
                        println!("initial password: {}", password.expose());
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
                .set_status(
                    &username,
                    AccountStatus::Disabled,
                    &change(config, actor, &reason).await?,
                )
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
                .set_status(&username, AccountStatus::Active, &change(config, actor, &reason).await?)
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
            let queue = reset_admin::users::mail_queue_from_env(config)?;
            let changed = reset_admin::users::change_address(
                &accounts,
                &queue,
                &username,
                &new_email,
                &change(config, actor, &reason).await?,
            )
            .await?;
            println!(
                "changed the address of {username}: {} -> {} (in effect for the next reset request; \
                 links mailed before are dead)",
                changed.old_masked, changed.new_masked
            );
            println!(
                "notices queued to {}the new address",
                if changed.old_address.is_some() {
                    "the old and "
                } else {
                    ""
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn request_id(typed: &str) -> Result<AddressRequestId, AdminError> {
    AddressRequestId::parse(typed).map_err(|_| AdminError::MalformedRequestId(visible(typed.trim()).into_owned()))
}

async fn address_requests_command(
    config: &aws_config::SdkConfig,
    actor: Option<&str>,
    command: AddressRequestsCommand,
) -> Result<()> {
    let requests = AddressRequests::from_config(config)?;
    let namespace = Variables::from_env()
        .optional("METRICS_NAMESPACE")
        .unwrap_or_else(|| DEFAULT_METRICS_NAMESPACE.to_owned());
    match command {
        AddressRequestsCommand::List => {
            let now = SystemClock.now();
            let pending = requests.pending(now).await?;
            print!("{}", pending_table(&pending, now));
            let oldest = pending.first().map_or(0, |row| row.waiting_secs(now));
            metrics::publish(
                config,
                &namespace,
                now,
                &[(
                    reset_core::metrics::OLDEST_PENDING_ADDRESS_REQUEST_AGE,
                    u64::try_from(oldest).unwrap_or(0),
                )],
            )
            .await;
        }
        AddressRequestsCommand::Show { id } => {
            let id = request_id(&id)?;
            let request = requests.find(&id).await?;
            let accounts = Accounts::from_config(config)?;
            let account = accounts.find(&request.username).await?;
            let view = RequestView::of(
                &request,
                account.as_ref(),
                SystemClock.now(),
                requests.objection_window_secs(),
            );
            println!("{}", serde_json::to_string_pretty(&view)?);
        }
        AddressRequestsCommand::Approve {
            id,
            reason,
            override_reason,
        } => {
            let id = request_id(&id)?;
            let overriding = override_reason.as_deref().map(Reason::parse).transpose()?;
            let accounts = Accounts::from_config(config)?;
            let change = change(config, actor, &reason).await?;
            let queue = reset_admin::users::mail_queue_from_env(config)?;
            let approval = match &overriding {
                Some(why) => {
                    requests
                        .approve_overriding(&accounts, &queue, &id, &change, why)
                        .await?
                }
                None => requests.approve(&accounts, &queue, &id, &change).await?,
            };
            let username = &approval.request.username;
            match approval.change {
                Some(changed) => println!(
                    "approved address request {id}: changed the address of {username}: {} -> {} (older reset links are dead; audited under `reset-admin audit {username}`)",
                    changed.old_masked, changed.new_masked
                ),
                None => println!(
                    "approved address request {id}: {username} already had the address {}; the request is marked approved",
                    approval.request.new_email.masked()
                ),
            }
            metrics::publish(
                config,
                &namespace,
                change.at,
                &[(reset_core::metrics::ADDRESS_REQUESTS_APPROVED, 1)],
            )
            .await;
        }
        AddressRequestsCommand::Reject { id, reason } => {
            let id = request_id(&id)?;
            let accounts = Accounts::from_config(config)?;
            let change = change(config, actor, &reason).await?;
            let request = requests.reject(&accounts, &id, &change).await?;
            println!(
                "rejected address request {id} for {}: the account is unchanged (audited under `reset-admin audit {}`)",
                request.username, request.username
            );
            metrics::publish(
                config,
                &namespace,
                change.at,
                &[(reset_core::metrics::ADDRESS_REQUESTS_REJECTED, 1)],
            )
            .await;
        }
    }
    Ok(())
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
