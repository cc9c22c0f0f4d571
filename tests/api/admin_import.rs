//! `reset-admin import` against DynamoDB Local: a bad file is reported line by line and writes
//! nothing; a good file is written whole with its audit entries; the same import again writes
//! nothing; an imported account sets its first password through the reset flow.

use crate::admin_support::*;
use anyhow::{anyhow, Result};
use password_reset_tests::reset_core::domain::{AccountStatus, Email, Language, User, Username};
use password_reset_tests::*;
use reset_admin::audit::AuditAction;
use reset_admin::audit::AuditEntry;
use reset_admin::import::{self, AccountWriter, ImportPlan, ProgressBar, RowProblem};
use reset_admin::{Accounts, AdminError, Change};

async fn change() -> Result<Change> {
    admin_change("import-test", "list of 2026-04 from the prefecture").await
}

async fn plan_of(accounts: &Accounts, csv: &str) -> Result<ImportPlan> {
    let parsed = import::read_csv(csv.as_bytes())?;
    Ok(import::plan(accounts, parsed, &ProgressBar::hidden()).await?)
}

fn csv_of(users: &[(Username, String)]) -> String {
    let mut csv = String::from("username,email,language\n");
    for (i, (username, email)) in users.iter().enumerate() {
        let language = if i % 3 == 0 { "en" } else { "ja" };
        csv.push_str(&format!("{username},{email},{language}\n"));
    }
    csv
}

fn fresh_users(count: usize) -> Vec<(Username, String)> {
    (0..count)
        .map(|_| {
            let username = random_username();
            let email = format!("{username}@clinic.example.jp");
            (username, email)
        })
        .collect()
}

#[tokio::test]
async fn a_bad_file_is_reported_line_by_line_and_nothing_is_written() -> Result<()> {
    let app = local_app().await?;
    let accounts = Accounts::from_env().await?;
    let registered = create_user(&app, Language::Ja).await?;
    let good = fresh_users(2);
    let csv = format!(
        "username,email\n\
         {good0},{good0}@example.jp\n\
         tz12,short@example.jp\n\
         {good1},not-an-address\n\
         {good0},again@example.jp\n\
         {registered},{registered}@elsewhere.example.jp\n\
         ,nobody@example.jp\n",
        good0 = good[0].0,
        good1 = good[1].0,
        registered = registered.username,
    );
    let plan = plan_of(&accounts, &csv).await?;
    assert_eq!(plan.lines(), 6);
    assert_eq!(plan.to_create.len(), 1);
    let report: Vec<(u64, RowProblem)> = plan.rejected.iter().map(|r| (r.line, r.problem.clone())).collect();
    assert!(matches!(report[0], (3, RowProblem::BadUsername(_))), "{report:?}");
    assert!(matches!(report[1], (4, RowProblem::BadAddress(_))), "{report:?}");
    assert_eq!(report[2], (5, RowProblem::Duplicate { first_line: 2 }));
    assert_eq!(
        report[3],
        (
            6,
            RowProblem::RegisteredWithAnotherAddress {
                masked: registered.email.masked()
            }
        )
    );
    assert_eq!(report[4], (7, RowProblem::MissingField("username")));

    let refused = import::apply(&accounts, &plan, &change().await?, &ProgressBar::hidden()).await;
    assert!(matches!(refused, Err(AdminError::RowsRejected(5))), "{refused:?}");
    // Not even the good line was written.
    assert!(accounts.find(&good[0].0).await?.is_none());
    assert!(accounts.audit_trail(&good[0].0).await?.is_empty());
    // And the registered account kept its address.
    assert_eq!(
        accounts.find(&registered.username).await?.and_then(|a| a.email.email()),
        Some(registered.email.clone())
    );
    Ok(())
}

#[tokio::test]
async fn a_good_file_is_written_whole_and_a_rerun_changes_nothing() -> Result<()> {
    let accounts = Accounts::from_env().await?;
    // More than one BatchGetItem (100 keys); one transaction per account.
    let users = fresh_users(130);
    let csv = csv_of(&users);

    let dry_run = plan_of(&accounts, &csv).await?;
    assert_eq!((dry_run.to_create.len(), dry_run.already_registered.len()), (130, 0));
    assert!(dry_run.rejected.is_empty());
    assert!(accounts.find(&users[0].0).await?.is_none(), "planning writes nothing");

    let progress = ProgressBar::hidden();
    let outcome = import::apply(&accounts, &dry_run, &change().await?, &progress).await?;
    assert_eq!((outcome.created.len(), outcome.taken_meanwhile.len()), (130, 0));
    assert_eq!(progress.position(), 130);
    for (i, (username, email)) in users.iter().enumerate() {
        let account = accounts
            .find(username)
            .await?
            .ok_or_else(|| anyhow!("{username} not imported"))?;
        assert_eq!(account.email.as_str(), email);
        assert_eq!(account.status, AccountStatus::Active);
        assert_eq!(account.language, if i % 3 == 0 { Language::En } else { Language::Ja });
        assert!(
            !account.has_password,
            "owners set their first password with the reset page"
        );
    }
    let trail = accounts.audit_trail(&users[7].0).await?;
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0].action, AuditAction::Import);
    assert_eq!(trail[0].actor, "import-test");
    assert_eq!(trail[0].caller_arn.as_deref(), Some(LOCAL_CALLER_ARN));
    assert_eq!(trail[0].new_email_masked.as_deref(), Some("t***@clinic.example.jp"));

    // The same file again: everything is already there, nothing is written.
    let rerun = plan_of(&accounts, &csv).await?;
    assert_eq!((rerun.to_create.len(), rerun.already_registered.len()), (0, 130));
    let written_again = import::apply(&accounts, &rerun, &change().await?, &ProgressBar::hidden()).await?;
    assert_eq!(written_again, import::ImportOutcome::default());
    assert_eq!(
        accounts.audit_trail(&users[7].0).await?.len(),
        1,
        "no second audit entry"
    );
    Ok(())
}

#[tokio::test]
async fn an_imported_account_sets_its_first_password_through_the_reset_flow() -> Result<()> {
    let app = local_app().await?;
    let accounts = Accounts::from_env().await?;
    let users = fresh_users(1);
    let plan = plan_of(&accounts, &csv_of(&users)).await?;
    import::apply(&accounts, &plan, &change().await?, &ProgressBar::hidden()).await?;

    let (username, address) = &users[0];
    let user = User::new_active(
        username.clone(),
        Email::parse(address).map_err(|e| anyhow!(e))?,
        Language::En,
        password_reset_tests::reset_core::domain::Timestamp::from_millis(0),
    )?;
    let token = request_link(&app, &user).await?;
    let done = invoke(
        &app,
        Function::ChangePassword,
        EventBuilder::form(
            "/password-reset/complete",
            &[
                ("token", token.as_str()),
                ("new_password", "FirstPass2026"),
                ("new_password_confirmation", "FirstPass2026"),
            ],
        ),
    )
    .await?;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(accounts.find(username).await?.is_some_and(|a| a.has_password));
    Ok(())
}

#[tokio::test]
async fn the_cli_checks_by_default_applies_on_request_and_is_idempotent() -> Result<()> {
    let accounts = Accounts::from_env().await?;
    let dir = std::env::temp_dir().join(format!("reset-admin-import-{}", random_username()));
    std::fs::create_dir_all(&dir)?;
    let users = fresh_users(3);
    let good = dir.join("users.csv");
    std::fs::write(&good, csv_of(&users))?;
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        format!("username,email\n{},{}\nTZ-00001,x@example.jp\n", users[0].0, users[0].1),
    )?;
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();

    let rejected = reset_admin(&["import", &path(&bad), "--apply"])?;
    let out = String::from_utf8_lossy(&rejected.stdout).into_owned();
    assert!(!rejected.status.success(), "{out}");
    assert!(out.contains("rejected line 3 (TZ-00001): bad username"), "{out}");
    assert!(out.contains("nothing written"), "{out}");
    assert!(accounts.find(&users[0].0).await?.is_none());

    let dry_run = reset_admin(&["import", &path(&good)])?;
    let out = String::from_utf8_lossy(&dry_run.stdout).into_owned();
    assert!(dry_run.status.success(), "{out}");
    assert!(
        out.contains("new: 3, already registered (unchanged): 0, rejected: 0"),
        "{out}"
    );
    assert!(out.contains("dry run: nothing written"), "{out}");
    assert!(accounts.find(&users[0].0).await?.is_none());

    let applied = reset_admin(&["import", &path(&good), "--apply"])?;
    let out = String::from_utf8_lossy(&applied.stdout).into_owned();
    assert!(
        applied.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    assert!(out.contains("written: 3 account(s)"), "{out}");
    assert!(out.contains("each with its audit record"), "{out}");
    let trail = accounts.audit_trail(&users[2].0).await?;
    assert_eq!(
        trail.first().map(|e| (e.actor.as_str(), e.reason.as_str())),
        Some(("cli-test", "import of users.csv"))
    );

    let again = reset_admin(&["import", &path(&good), "--apply"])?;
    let out = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(again.status.success(), "{out}");
    assert!(
        out.contains("new: 0, already registered (unchanged): 3, rejected: 0"),
        "{out}"
    );
    assert!(out.contains("written: 0 account(s)"), "{out}");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// The real tables, until `budget` accounts are written; then a failure, as when DynamoDB
/// throttles or the network drops halfway through a long file.
struct FailsAfter<'a> {
    accounts: &'a Accounts,
    budget: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl AccountWriter for FailsAfter<'_> {
    async fn create_with_audit(&self, user: &User, entry: &AuditEntry) -> Result<bool, AdminError> {
        use std::sync::atomic::Ordering;
        if self
            .budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_err()
        {
            return Err(AdminError::Unavailable("connection reset".into()));
        }
        self.accounts.create_user_with_audit(user, entry).await
    }
}

#[tokio::test]
async fn an_interrupted_import_is_resumed_by_running_it_again() -> Result<()> {
    let accounts = Accounts::from_env().await?;
    let dir = std::env::temp_dir().join(format!("reset-admin-resume-{}", random_username()));
    std::fs::create_dir_all(&dir)?;
    let users = fresh_users(5);
    let file = dir.join("prefecture.csv");
    std::fs::write(&file, csv_of(&users))?;

    let plan = plan_of(&accounts, &csv_of(&users)).await?;
    let writer = FailsAfter {
        accounts: &accounts,
        budget: 2.into(),
    };
    let interrupted = import::apply(&writer, &plan, &change().await?, &ProgressBar::hidden()).await;
    assert!(
        matches!(
            interrupted,
            Err(AdminError::ImportInterrupted {
                created: 2,
                total: 5,
                ..
            })
        ),
        "{interrupted:?}"
    );
    // What was written is whole: each account with its one audit record, nothing else.
    for (i, (username, _)) in users.iter().enumerate() {
        let trail = accounts.audit_trail(username).await?;
        if i < 2 {
            assert!(accounts.find(username).await?.is_some());
            assert_eq!(trail.len(), 1);
        } else {
            assert!(accounts.find(username).await?.is_none());
            assert!(trail.is_empty());
        }
    }

    let resumed = reset_admin(&["import", &file.to_string_lossy(), "--apply"])?;
    let out = String::from_utf8_lossy(&resumed.stdout).into_owned();
    assert!(
        resumed.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert!(
        out.contains("new: 3, already registered (unchanged): 2, rejected: 0"),
        "{out}"
    );
    assert!(
        out.contains("written: 3 account(s), each with its audit record"),
        "{out}"
    );
    for (username, email) in &users {
        assert_eq!(
            accounts.find(username).await?.map(|a| a.email.as_str().to_owned()),
            Some(email.clone())
        );
        let trail = accounts.audit_trail(username).await?;
        assert_eq!(trail.len(), 1, "one audit record per account: {trail:?}");
        assert_eq!(trail[0].caller_arn.as_deref(), Some(LOCAL_CALLER_ARN));
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[tokio::test]
async fn an_account_created_between_check_and_write_is_left_alone() -> Result<()> {
    let accounts = Accounts::from_env().await?;
    let users = fresh_users(3);
    let plan = plan_of(&accounts, &csv_of(&users)).await?;
    assert_eq!(plan.to_create.len(), 3);

    // Another administrator creates one of them, with another address, meanwhile.
    let (taken, _) = &users[1];
    let other = User::new_active(
        taken.clone(),
        Email::parse(&format!("{taken}@elsewhere.example.jp")).map_err(|e| anyhow!(e))?,
        Language::Ja,
        password_reset_tests::reset_core::domain::Timestamp::from_millis(0),
    )?;
    accounts
        .create_user(
            &other,
            AuditAction::Create,
            &admin_change("other-admin", "walk-in").await?,
        )
        .await?;

    let outcome = import::apply(&accounts, &plan, &change().await?, &ProgressBar::hidden()).await?;
    assert_eq!(outcome.created.len(), 2);
    assert_eq!(
        outcome
            .taken_meanwhile
            .iter()
            .map(|r| r.username.clone())
            .collect::<Vec<_>>(),
        vec![taken.clone()]
    );
    // Not overwritten, and no import record for it.
    assert_eq!(
        accounts.find(taken).await?.and_then(|a| a.email.email()),
        Some(other.email)
    );
    let trail = accounts.audit_trail(taken).await?;
    assert_eq!(
        trail.iter().map(|e| e.action).collect::<Vec<_>>(),
        vec![AuditAction::Create]
    );
    Ok(())
}

#[tokio::test]
async fn hidden_characters_in_any_field_reject_the_line_by_number() -> Result<()> {
    let accounts = Accounts::from_env().await?;
    let dir = std::env::temp_dir().join(format!("reset-admin-hidden-{}", random_username()));
    std::fs::create_dir_all(&dir)?;
    let users = fresh_users(3);
    let file = dir.join("hidden.csv");
    std::fs::write(
        &file,
        format!(
            "username,email,note\n{},{},ok\n{},{},refund\u{202E}4321\n{},{}\u{200B},\n",
            users[0].0, users[0].1, users[1].0, users[1].1, users[2].0, users[2].1
        ),
    )?;
    let refused = reset_admin(&["import", &file.to_string_lossy(), "--apply"])?;
    let out = String::from_utf8_lossy(&refused.stdout).into_owned();
    assert!(!refused.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "rejected line 3 ({}): the field note contains U+202E",
            users[1].0
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "rejected line 4 ({}): the field email contains U+200B",
            users[2].0
        )),
        "{out}"
    );
    assert!(
        !out.contains('\u{202E}') && !out.contains('\u{200B}'),
        "never echoed: {out:?}"
    );
    assert!(out.contains("nothing written"), "{out}");
    assert!(accounts.find(&users[0].0).await?.is_none());
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
