//! Links follow the account's history exactly: every administrator's change and every password
//! change kills the links mailed before it, whatever the clocks say, and nothing brings them
//! back. Through the real path: the admin library against DynamoDB Local, the reset handlers
//! in-process, a mail queue of the test's own delivered by send-mail's real handler, the SES
//! v2 emulator.

use crate::admin_support::admin_change;
use anyhow::{anyhow, Result};
use password_reset_tests::reset_core::domain::{AccountStatus, Email, Language, SystemClock, User};
use password_reset_tests::reset_core::App;
use password_reset_tests::*;
use proptest::prelude::*;
use reset_admin::users::{create_user as admin_create_user, NewUser};
use reset_admin::{Accounts, Change};
use send_mail::SendMail;
use std::sync::Arc;

/// The reset side wired to a queue of the test's own, and the admin library.
struct Rig {
    app: App,
    sender: SendMail,
    queue: OwnMailQueue,
    accounts: Accounts,
}

impl Rig {
    async fn new() -> Result<Self> {
        let queue = OwnMailQueue::create(&format!("integrity-{}", random_username())).await?;
        let shared = local_app().await?;
        let app = App::new(
            shared.settings.clone(),
            Arc::new(tables(&shared.settings).await),
            Arc::new(queue.mail_queue()),
            Arc::new(SystemClock),
        );
        let sender = in_process_sender(shared.settings.clone(), &queue).await?;
        Ok(Self {
            app,
            sender,
            queue,
            accounts: Accounts::from_env().await?,
        })
    }

    /// A new account made the way administrators make them.
    async fn create(&self, username: &password_reset_tests::reset_core::domain::Username) -> Result<User> {
        let email = Email::parse(&format!("{username}.{}@example.jp", random_username())).map_err(|e| anyhow!(e))?;
        let user = admin_create_user(
            &self.accounts,
            NewUser {
                username: username.clone(),
                email,
                language: Language::Ja,
                password: None,
            },
            &change("new account").await?,
        )
        .await?;
        Ok(user)
    }

    /// Asks for a link and delivers it; the token, or None when no mail went out.
    async fn mint(&self, user: &User) -> Result<Option<String>> {
        let address = self.current_address(user).await?;
        let before = mails_to(&address).await?.len();
        let answer = invoke(
            &self.app,
            Function::RequestReset,
            EventBuilder::form("/password-reset", &[("username", user.username.as_str())]),
        )
        .await?;
        assert_eq!(answer.status, 200);
        self.queue.deliver(&self.sender).await?;
        let mails = mails_to(&address).await?;
        if mails.len() == before {
            return Ok(None);
        }
        Ok(mails.last().and_then(Mail::token))
    }

    async fn current_address(&self, user: &User) -> Result<String> {
        Ok(self
            .accounts
            .find(&user.username)
            .await?
            .ok_or_else(|| anyhow!("no account {}", user.username))?
            .email
            .as_str()
            .to_owned())
    }

    /// Whether the link still opens the 「パスワードをリセットしますか？」 page.
    /// Deletes the account's item, as an operator removing a user would.
    async fn delete(&self, username: &password_reset_tests::reset_core::domain::Username) -> Result<()> {
        self.accounts
            .client()
            .delete_item()
            .table_name(self.accounts.users_table())
            .key(
                "username",
                aws_sdk_dynamodb::types::AttributeValue::S(username.to_string()),
            )
            .send()
            .await?;
        Ok(())
    }

    /// Whether the link opens the page (200) or gets the invalid-link page (400); any other
    /// answer, a 5xx above all, is an error, never a dead link.
    async fn works(&self, token: &str) -> Result<bool> {
        let answer = invoke(
            &self.app,
            Function::VerifyToken,
            EventBuilder::get(&format!("/password-reset/confirm?token={token}")),
        )
        .await?;
        match answer.status {
            200 => Ok(true),
            400 => Ok(false),
            other => Err(anyhow!("opening a link answered {other}: {}", answer.body)),
        }
    }

    async fn change_password(&self, token: &str) -> Result<u16> {
        // A new password each time: reusing one must not be what decides the answer.
        let password = format!("Ka9{}", random_username());
        let password = password.as_str();
        let answer = invoke(
            &self.app,
            Function::ChangePassword,
            EventBuilder::form(
                "/password-reset/complete",
                &[
                    ("token", token),
                    ("new_password", password),
                    ("new_password_confirmation", password),
                ],
            ),
        )
        .await?;
        Ok(answer.status)
    }
}

async fn change(reason: &str) -> Result<Change> {
    admin_change("integrity-test", reason).await
}

#[tokio::test]
async fn a_link_from_before_a_disable_stays_dead_after_enable() -> Result<()> {
    let rig = Rig::new().await?;
    let user = rig.create(&random_username()).await?;
    let token = rig.mint(&user).await?.ok_or_else(|| anyhow!("no link"))?;
    assert!(rig.works(&token).await?);

    let why = change("left the clinic for a month").await?;
    rig.accounts
        .set_status(&user.username, AccountStatus::Disabled, &why)
        .await?;
    rig.accounts
        .set_status(&user.username, AccountStatus::Active, &why)
        .await?;
    assert!(
        !rig.works(&token).await?,
        "enabling must not revive a link mailed before the disable"
    );
    assert_ne!(rig.change_password(&token).await?, 200);
    let fresh = rig.mint(&user).await?.ok_or_else(|| anyhow!("no new link"))?;
    assert!(rig.works(&fresh).await?);
    Ok(())
}

#[tokio::test]
async fn an_address_change_recorded_by_a_slow_clock_still_kills_older_links() -> Result<()> {
    let rig = Rig::new().await?;
    let user = rig.create(&random_username()).await?;
    let token = rig.mint(&user).await?.ok_or_else(|| anyhow!("no link"))?;

    // The administrator's workstation runs 5 s slow: the change says it happened before the link.
    let mut slow = change("address abolished").await?;
    slow.at = slow.at.plus_secs(-5);
    let new_address = Email::parse(&format!("{}@new.example.jp", user.username)).map_err(|e| anyhow!(e))?;
    rig.accounts.set_email(&user.username, &new_address, &slow).await?;
    assert!(
        !rig.works(&token).await?,
        "a link mailed to the abolished address must die"
    );
    assert_ne!(rig.change_password(&token).await?, 200);
    Ok(())
}

#[tokio::test]
async fn a_recreated_username_does_not_inherit_the_old_owners_links() -> Result<()> {
    let rig = Rig::new().await?;
    let username = random_username();
    let old_owner = rig.create(&username).await?;
    let token = rig.mint(&old_owner).await?.ok_or_else(|| anyhow!("no link"))?;

    rig.delete(&username).await?;
    let new_owner = rig.create(&username).await?;
    assert_ne!(new_owner.email, old_owner.email);
    assert!(!rig.works(&token).await?, "the new owner must not inherit a live link");
    assert_ne!(rig.change_password(&token).await?, 200);
    Ok(())
}

/// What a sequence can do to one account.
#[derive(Debug, Clone, Copy)]
enum Step {
    AskForLink,
    Disable,
    Enable,
    SetEmail,
    /// With the newest link, if it still works.
    ChangePassword,
    Recreate,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::AskForLink),
        1 => Just(Step::Disable),
        1 => Just(Step::Enable),
        1 => Just(Step::SetEmail),
        2 => Just(Step::ChangePassword),
        1 => Just(Step::Recreate),
    ]
}

/// Runs `steps` and checks after each one that every link a change has killed stays dead and
/// every other link still works.
async fn no_link_comes_back(rig: &Rig, steps: Vec<Step>) -> Result<()> {
    let username = random_username();
    let mut user = rig.create(&username).await?;
    let mut active = true;
    let mut live: Vec<String> = Vec::new();
    let mut dead: Vec<String> = Vec::new();
    for step in steps {
        let why = change("property test").await?;
        match step {
            Step::AskForLink => {
                let minted = rig.mint(&user).await?;
                assert_eq!(
                    minted.is_some(),
                    active,
                    "a link is mailed exactly when the account is active"
                );
                live.extend(minted);
            }
            Step::Disable | Step::Enable => {
                let status = if matches!(step, Step::Disable) {
                    AccountStatus::Disabled
                } else {
                    AccountStatus::Active
                };
                if rig.accounts.set_status(&username, status, &why).await?
                    == reset_admin::accounts::StatusChange::Changed
                {
                    dead.append(&mut live);
                }
                active = matches!(step, Step::Enable);
            }
            Step::SetEmail => {
                let address = Email::parse(&format!("{username}.{}@moved.example.jp", random_username()))
                    .map_err(|e| anyhow!(e))?;
                rig.accounts.set_email(&username, &address, &why).await?;
                dead.append(&mut live);
            }
            Step::ChangePassword => {
                if let Some(token) = live.last().cloned() {
                    assert_eq!(
                        rig.change_password(&token).await?,
                        200,
                        "a live link changes the password"
                    );
                    dead.append(&mut live);
                }
            }
            Step::Recreate => {
                rig.delete(&username).await?;
                user = rig.create(&username).await?;
                active = true;
                dead.append(&mut live);
            }
        }
        for token in &dead {
            assert!(!rig.works(token).await?, "a killed link came back after {step:?}");
        }
        for token in &live {
            assert!(
                rig.works(token).await?,
                "a link no change killed stopped working after {step:?}"
            );
        }
    }
    Ok(())
}

/// One runtime and one rig (its queues, clients and sender) for every case: the SDK clients'
/// connections belong to the runtime that made them, and 64 rigs would be 128 queues.
fn shared_rig() -> Result<&'static (tokio::runtime::Runtime, Rig)> {
    static RIG: std::sync::OnceLock<(tokio::runtime::Runtime, Rig)> = std::sync::OnceLock::new();
    if let Some(rig) = RIG.get() {
        return Ok(rig);
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let rig = runtime.block_on(Rig::new())?;
    Ok(RIG.get_or_init(|| (runtime, rig)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_of_admin_changes_and_resets_revives_a_link(steps in proptest::collection::vec(step(), 3..9)) {
        let (runtime, rig) = shared_rig().map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
        runtime.block_on(no_link_comes_back(rig, steps)).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
    }
}
