//! `user create | show | disable | enable | set-email`.

use super::{username, Session};
use anyhow::{Context, Result};
use reset_admin::render::{account_json, address_changed, status_line, user_created, user_left_unchanged};
use reset_admin::users::{checked_first_password, create_user, generate_first_password, mail_queue_from_env, NewUser};
use reset_admin::{AccountSource, Accounts, AdminError};
use reset_core::config::Variables;
use reset_core::domain::{AccountStatus, Email, Language, NewPassword, Username};
use std::process::ExitCode;

/// `user create`'s arguments, as typed.
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub language: Language,
    /// The variable holding the first password; `None`: generate one.
    pub password_env: Option<String>,
    /// Succeed without changes when the account exists.
    pub if_missing: bool,
    pub reason: String,
}

/// The first password: from the variable named, or generated. Either way it passes the
/// service's own policy. `true` when generated (and so to be printed).
fn first_password(username: &Username, password_env: Option<&str>) -> Result<(NewPassword, bool)> {
    Ok(match password_env {
        Some(var) => {
            let given = Variables::from_env()
                .optional(var)
                .with_context(|| format!("environment variable {var} is not set"))?;
            (checked_first_password(&given, username, var)?, false)
        }
        None => (generate_first_password(username)?, true),
    })
}

/// `user create`: the account with its first password, audited.
pub async fn create(session: Session<'_>, accounts: &Accounts, typed: NewAccount) -> Result<ExitCode> {
    let username = username(&typed.username)?;
    let email = Email::parse(&typed.email).map_err(AdminError::InvalidEmail)?;
    let (password, generated) = first_password(&username, typed.password_env.as_deref())?;
    let new_user = NewUser {
        username: username.clone(),
        email,
        language: typed.language,
        password: Some(password.clone()),
    };
    match create_user(accounts, new_user, &session.change(&typed.reason).await?).await {
        Ok(user) => println!("{}", user_created(&user, generated.then(|| password.expose()))),
        Err(AdminError::AlreadyExists(_)) if typed.if_missing => println!("{}", user_left_unchanged(&username)),
        Err(error) => return Err(error.into()),
    }
    Ok(ExitCode::SUCCESS)
}

/// `user show`: the account (the address masked, no hash) as JSON.
pub async fn show(accounts: &dyn AccountSource, typed: &str) -> Result<ExitCode> {
    let username = username(typed)?;
    let account = accounts
        .find(&username)
        .await?
        .ok_or(AdminError::NoSuchUser(username))?;
    println!("{}", account_json(&account)?);
    Ok(ExitCode::SUCCESS)
}

/// `user disable` and `user enable`: the account's status, audited when it changes.
pub async fn set_status(
    session: Session<'_>,
    accounts: &dyn AccountSource,
    typed: &str,
    status: AccountStatus,
    reason: &str,
) -> Result<ExitCode> {
    let username = username(typed)?;
    let outcome = accounts
        .set_status(&username, status, &session.change(reason).await?)
        .await?;
    println!("{}", status_line(&username, status, outcome));
    Ok(ExitCode::SUCCESS)
}

/// `user set-email`: the registered address, changed at once, both addresses told.
pub async fn set_email(
    session: Session<'_>,
    accounts: &dyn AccountSource,
    typed: &str,
    new_email: &str,
    reason: &str,
) -> Result<ExitCode> {
    let username = username(typed)?;
    let new_email = Email::parse(new_email).map_err(AdminError::InvalidEmail)?;
    let queue = mail_queue_from_env(session.config)?;
    let changed =
        reset_admin::users::change_address(accounts, &queue, &username, &new_email, &session.change(reason).await?)
            .await?;
    println!("{}", address_changed(&username, &changed));
    Ok(ExitCode::SUCCESS)
}
