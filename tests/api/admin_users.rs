//! `reset-admin user …` and `audit` through the library against DynamoDB Local, with their
//! effect on the reset flow (real handlers, the SES v2 emulator), and the CLI binary itself.

use crate::admin_support::*;
use anyhow::{anyhow, Result};
use password_reset_tests::reset_core::domain::{AccountStatus, Email, Language, Username};
use password_reset_tests::*;
use reset_admin::accounts::StatusChange;
use reset_admin::audit::AuditAction;
use reset_admin::users::{checked_first_password, create_user as admin_create_user, NewUser};
use reset_admin::{Accounts, AdminError, Change};

async fn change(reason: &str) -> Result<Change> {
    admin_change("helpdesk-test", reason).await
}

fn email(address: &str) -> Result<Email> {
    Email::parse(address).map_err(|e| anyhow!(e))
}

/// Everything stored in the audit log table for `username`, as DynamoDB returns it.
async fn raw_audit_items(accounts: &Accounts, username: &Username) -> Result<String> {
    let output = accounts
        .client()
        .query()
        .table_name(accounts.audit_table())
        .key_condition_expression("username = :u")
        .expression_attribute_values(":u", aws_sdk_dynamodb::types::AttributeValue::S(username.to_string()))
        .send()
        .await?;
    Ok(format!("{:?}", output.items()))
}

#[tokio::test]
async fn create_show_and_the_create_audit_entry() -> Result<()> {
    let accounts = Accounts::from_env().await?;
    let username = random_username();
    let address = email(&format!("{username}@example.jp"))?;
    let new_user = NewUser {
        username: username.clone(),
        email: address.clone(),
        language: Language::En,
        password: Some(checked_first_password("Initial2026pw", &username, "test")?),
    };
    admin_create_user(&accounts, new_user, &change("new staff member").await?).await?;

    let shown = accounts.find(&username).await?.ok_or_else(|| anyhow!("not created"))?;
    assert_eq!(shown.email, address);
    assert_eq!(shown.status, AccountStatus::Active);
    assert_eq!(shown.language, Language::En);
    assert!(shown.has_password);
    assert_eq!(shown.mail_problem, None);

    // The stored hash is a real argon2id hash of the first password.
    let app = local_app().await?;
    assert!(signs_in(&app, &username, "Initial2026pw").await?);

    // Never overwritten.
    let again = NewUser {
        username: username.clone(),
        email: email("someone.else@example.jp")?,
        language: Language::Ja,
        password: None,
    };
    let refused = admin_create_user(&accounts, again, &change("second try").await?).await;
    assert!(matches!(refused, Err(AdminError::AlreadyExists(_))), "{refused:?}");
    assert_eq!(
        accounts.find(&username).await?.and_then(|a| a.email.email()),
        Some(address)
    );

    let trail = accounts.audit_trail(&username).await?;
    assert_eq!(trail.len(), 1, "the refused create left no audit entry");
    assert_eq!(trail[0].action, AuditAction::Create);
    assert_eq!(trail[0].actor, "helpdesk-test");
    assert_eq!(trail[0].reason, "new staff member");
    assert_eq!(trail[0].new_email_masked.as_deref(), Some("t***@example.jp"));

    assert!(accounts.find(&random_username()).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn disable_stops_reset_mail_and_enable_brings_it_back() -> Result<()> {
    let app = local_app().await?;
    let accounts = Accounts::from_env().await?;
    let user = create_user(&app, Language::Ja).await?;
    let live_token = request_link(&app, &user).await?;

    let disabled = accounts
        .set_status(
            &user.username,
            AccountStatus::Disabled,
            &change("left the institution").await?,
        )
        .await?;
    assert_eq!(disabled, StatusChange::Changed);
    let twice = accounts
        .set_status(&user.username, AccountStatus::Disabled, &change("again").await?)
        .await?;
    assert_eq!(twice, StatusChange::AlreadySo);

    // No mail for a disabled account, and the link it already had no longer works.
    let before = mails_to(user.email.as_str()).await?.len();
    let answer = invoke(
        &app,
        Function::RequestReset,
        EventBuilder::form("/password-reset", &[("username", user.username.as_str())]),
    )
    .await?;
    assert_eq!(answer.status, 200, "the same page as for any username");
    assert_eq!(settled_mails_to(user.email.as_str()).await?.len(), before);
    let confirm = invoke(
        &app,
        Function::VerifyToken,
        EventBuilder::get(&format!("/password-reset/confirm?token={live_token}")),
    )
    .await?;
    assert_eq!(confirm.status, 400);

    assert_eq!(
        accounts
            .set_status(&user.username, AccountStatus::Active, &change("came back").await?)
            .await?,
        StatusChange::Changed
    );
    request_link(&app, &user).await?;

    let actions: Vec<AuditAction> = accounts
        .audit_trail(&user.username)
        .await?
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        vec![AuditAction::Enable, AuditAction::Disable],
        "newest first; the no-op left no entry"
    );

    let missing = accounts
        .set_status(&random_username(), AccountStatus::Disabled, &change("typo").await?)
        .await;
    assert!(matches!(missing, Err(AdminError::NoSuchUser(_))), "{missing:?}");
    Ok(())
}

#[tokio::test]
async fn set_email_takes_effect_at_once_and_is_audited_masked() -> Result<()> {
    let app = local_app().await?;
    let accounts = Accounts::from_env().await?;
    let user = create_user(&app, Language::Ja).await?;
    let new_address = email(&format!("{}.new@hospital.example.jp", user.username))?;

    let changed = accounts
        .set_email(
            &user.username,
            &new_address,
            &change("ticket 4711: old address abolished").await?,
        )
        .await?;
    assert_eq!(changed.old_masked, user.email.masked());
    assert_eq!(changed.new_masked, "t***@hospital.example.jp");

    // The very next request mails the new address, and only it.
    let old_count = mails_to(user.email.as_str()).await?.len();
    let moved = password_reset_tests::reset_core::domain::User {
        email: new_address.clone(),
        ..user.clone()
    };
    request_link(&app, &moved).await?;
    assert_eq!(settled_mails_to(user.email.as_str()).await?.len(), old_count);
    let stored = accounts.find(&user.username).await?.ok_or_else(|| anyhow!("gone"))?;
    assert_eq!(stored.email, new_address);
    assert!(stored.email_changed_at.is_some());

    let same = accounts
        .set_email(&user.username, &new_address, &change("again").await?)
        .await;
    assert!(matches!(same, Err(AdminError::SameAddress { .. })), "{same:?}");
    let missing = accounts
        .set_email(&random_username(), &new_address, &change("typo").await?)
        .await;
    assert!(matches!(missing, Err(AdminError::NoSuchUser(_))), "{missing:?}");

    let trail = accounts.audit_trail(&user.username).await?;
    assert_eq!(trail.len(), 1);
    let entry = &trail[0];
    assert_eq!(entry.action, AuditAction::SetEmail);
    assert_eq!(entry.reason, "ticket 4711: old address abolished");
    assert_eq!(entry.actor, "helpdesk-test");
    assert_eq!(entry.old_email_masked.as_deref(), Some(user.email.masked().as_str()));
    assert_eq!(entry.new_email_masked.as_deref(), Some("t***@hospital.example.jp"));
    // Neither address is stored in full anywhere in the audit log.
    let raw = raw_audit_items(&accounts, &user.username).await?;
    assert!(
        !raw.contains(user.email.as_str()) && !raw.contains(new_address.as_str()),
        "{raw}"
    );
    Ok(())
}

#[tokio::test]
async fn the_audit_log_lists_newest_first() -> Result<()> {
    let app = local_app().await?;
    let accounts = Accounts::from_env().await?;
    let user = create_user(&app, Language::Ja).await?;
    for (i, reason) in ["first", "second", "third", "fourth"].iter().enumerate() {
        let status = if i % 2 == 0 {
            AccountStatus::Disabled
        } else {
            AccountStatus::Active
        };
        accounts
            .set_status(&user.username, status, &change(reason).await?)
            .await?;
        // Distinct milliseconds, so "newest first" is well defined.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let reasons: Vec<String> = accounts
        .audit_trail(&user.username)
        .await?
        .into_iter()
        .map(|e| e.reason)
        .collect();
    assert_eq!(reasons, vec!["fourth", "third", "second", "first"]);
    assert!(accounts.audit_trail(&random_username()).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn the_cli_binary_changes_shows_and_audits() -> Result<()> {
    let username = random_username();
    let name = username.as_str();
    let address = format!("{name}@example.jp");

    let created = reset_admin(&["user", "create", name, "--email", &address, "--language", "en"])?;
    assert!(created.status.success(), "{}", text(&created));
    assert!(text(&created).contains(&format!("created user {name} <t***@example.jp>")));
    assert!(text(&created).contains("initial password: "));

    let moved = reset_admin(&[
        "user",
        "set-email",
        name,
        &format!("{name}@new.example.jp"),
        "--reason",
        "ticket 99",
    ])?;
    assert!(moved.status.success(), "{}", text(&moved));
    assert!(text(&moved).contains("t***@example.jp -> t***@new.example.jp"));

    let disabled = reset_admin(&["user", "disable", name, "--reason", "on leave"])?;
    assert!(disabled.status.success(), "{}", text(&disabled));

    let shown = reset_admin(&["user", "show", name])?;
    assert!(shown.status.success(), "{}", text(&shown));
    let json: serde_json::Value = serde_json::from_slice(&shown.stdout)?;
    assert_eq!(json["username"], name);
    assert_eq!(json["email"], "t***@new.example.jp");
    assert_eq!(json["status"], "disabled");
    assert_eq!(json["language"], "en");
    assert_eq!(json["has_password"], true);
    assert!(!text(&shown).contains("argon2"), "no hash in the output");

    let audit = reset_admin(&["audit", name])?;
    assert!(audit.status.success(), "{}", text(&audit));
    let lines: Vec<String> = String::from_utf8_lossy(&audit.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].contains("disable") && lines[0].contains("by cli-test") && lines[0].contains("reason: on leave"));
    assert!(
        lines.iter().all(|l| l.contains(&format!("[{LOCAL_CALLER_ARN}]"))),
        "every entry names the caller from STS: {lines:?}"
    );
    assert!(lines[1].contains("set-email") && lines[1].contains("t***@example.jp -> t***@new.example.jp"));
    assert!(lines[2].contains("create"));

    // Mistakes are refused with a message and a failure status, and change nothing.
    let stranger = random_username();
    for (args, message) in [
        (
            vec!["user", "show", "nobody"],
            "nobody: the username must be exactly 8 characters",
        ),
        (vec!["user", "enable", name, "--reason", " "], "the reason is empty"),
        (
            vec!["user", "set-email", name, "not-an-address", "--reason", "x"],
            "the new address",
        ),
        (vec!["user", "show", stranger.as_str()], "no user"),
    ] {
        let refused = reset_admin(&args)?;
        assert!(!refused.status.success(), "{args:?}: {}", text(&refused));
        assert!(text(&refused).contains(message), "{args:?}: {}", text(&refused));
    }
    let unchanged = reset_admin(&["audit", name])?;
    assert_eq!(String::from_utf8_lossy(&unchanged.stdout).lines().count(), 3);
    Ok(())
}

#[tokio::test]
async fn links_mailed_to_the_old_address_die_when_an_administrator_changes_it() -> Result<()> {
    let app = local_app().await?;
    let accounts = Accounts::from_env().await?;
    let user = create_user(&app, Language::Ja).await?;
    let old_link = request_link(&app, &user).await?;
    let confirm = |token: &str| EventBuilder::get(&format!("/password-reset/confirm?token={token}"));
    assert_eq!(
        invoke(&app, Function::VerifyToken, confirm(&old_link)).await?.status,
        200
    );

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let new_address = email(&format!("{}.moved@hospital.example.jp", user.username))?;
    accounts
        .set_email(&user.username, &new_address, &change("address abolished").await?)
        .await?;

    // Whoever still reads the old mailbox can no longer use its link, in either step.
    assert_eq!(
        invoke(&app, Function::VerifyToken, confirm(&old_link)).await?.status,
        400
    );
    let good = "Kanagawa2026x";
    let change_attempt = EventBuilder::form(
        "/password-reset/complete",
        &[
            ("token", old_link.as_str()),
            ("new_password", good),
            ("new_password_confirmation", good),
        ],
    );
    assert_eq!(
        invoke(&app, Function::ChangePassword, change_attempt).await?.status,
        400
    );

    // A link mailed to the new address works.
    let moved = password_reset_tests::reset_core::domain::User {
        email: new_address,
        ..user.clone()
    };
    let new_link = request_link(&app, &moved).await?;
    assert_eq!(
        invoke(&app, Function::VerifyToken, confirm(&new_link)).await?.status,
        200
    );
    Ok(())
}

#[tokio::test]
async fn without_an_answer_from_sts_nothing_is_written() -> Result<()> {
    let accounts = Accounts::from_env().await?;
    let username = created_by_admin()?;
    let name = username.as_str();

    // Nothing listens on port 9: GetCallerIdentity cannot be answered.
    let no_sts = [("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")];
    let other = random_username();
    for args in [
        vec!["user", "disable", name, "--reason", "on leave"],
        vec!["user", "set-email", name, "moved@example.jp", "--reason", "ticket 7"],
        vec!["user", "create", other.as_str(), "--email", "someone@example.jp"],
    ] {
        let refused = reset_admin_with(&args, &no_sts, &[])?;
        assert!(!refused.status.success(), "{args:?}: {}", text(&refused));
        assert!(
            text(&refused).contains("cannot tell who is running this command, so nothing was written"),
            "{args:?}: {}",
            text(&refused)
        );
    }
    let account = accounts.find(&username).await?.ok_or_else(|| anyhow!("gone"))?;
    assert_eq!(account.status, AccountStatus::Active);
    assert_eq!(account.email.as_str(), format!("{name}@example.jp"));
    assert_eq!(accounts.audit_trail(&username).await?.len(), 1, "only the create");
    assert!(accounts.find(&other).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn hidden_characters_in_actor_or_reason_are_refused() -> Result<()> {
    let accounts = Accounts::from_env().await?;
    let username = created_by_admin()?;
    let name = username.as_str();

    // Printed, this reason reads "refund ticket 4321"; stored, it is something else.
    let refused = reset_admin(&["user", "disable", name, "--reason", "refund\u{202E}1234 tekcit"])?;
    assert_refused(&refused, "the reason contains U+202E (a bidirectional control");
    let refused = reset_admin(&["user", "disable", name, "--reason", "x", "--actor", "ya\u{200B}mada"])?;
    assert_refused(&refused, "the actor contains U+200B");
    let refused = reset_admin_with(
        &["user", "disable", name, "--reason", "x"],
        &[("RESET_ADMIN_ACTOR", "admin\u{2067}")],
        &[],
    )?;
    assert!(
        text(&refused).contains("the actor contains U+2067"),
        "{}",
        text(&refused)
    );

    assert_eq!(
        accounts.find(&username).await?.map(|a| a.status),
        Some(AccountStatus::Active)
    );
    assert_eq!(accounts.audit_trail(&username).await?.len(), 1, "only the create");
    Ok(())
}

#[tokio::test]
async fn a_first_password_must_pass_the_service_policy() -> Result<()> {
    let accounts = Accounts::from_env().await?;
    let username = random_username();
    let name = username.as_str();
    let address = format!("{name}@example.jp");
    let weak = reset_admin_with(
        &[
            "user",
            "create",
            name,
            "--email",
            &address,
            "--password-env",
            "FIRST_PASSWORD",
        ],
        &[("FIRST_PASSWORD", "a")],
        &[],
    )?;
    assert!(!weak.status.success(), "{}", text(&weak));
    assert!(
        text(&weak).contains(
            "the password from FIRST_PASSWORD breaks the password policy: at least 8 characters, an uppercase letter, a digit"
        ),
        "{}",
        text(&weak)
    );
    let with_username = format!("X{name}9");
    let weak = reset_admin_with(
        &[
            "user",
            "create",
            name,
            "--email",
            &address,
            "--password-env",
            "FIRST_PASSWORD",
        ],
        &[("FIRST_PASSWORD", with_username.as_str())],
        &[],
    )?;
    assert!(text(&weak).contains("must not contain the username"), "{}", text(&weak));
    assert!(accounts.find(&username).await?.is_none(), "nothing written");

    let good = reset_admin_with(
        &[
            "user",
            "create",
            name,
            "--email",
            &address,
            "--password-env",
            "FIRST_PASSWORD",
        ],
        &[("FIRST_PASSWORD", "Kanagawa2026x")],
        &[],
    )?;
    assert!(good.status.success(), "{}", text(&good));
    assert!(!text(&good).contains("Kanagawa2026x"), "a given password is not echoed");
    let app = local_app().await?;
    assert!(signs_in(&app, &username, "Kanagawa2026x").await?);
    Ok(())
}

#[tokio::test]
async fn addresses_that_smuggle_another_mailbox_are_refused() -> Result<()> {
    let accounts = Accounts::from_env().await?;
    let username = random_username();
    let name = username.as_str();
    let address = format!("{name}@example.jp");
    for smuggled in [
        "x<attacker@evil.jp>",
        "victim@hospital.jp>;attacker",
        "Victim <victim@hospital.jp>",
        "victim@hospital.jp,attacker@evil.jp",
        "\"victim\"@hospital.jp",
    ] {
        let refused = reset_admin(&["user", "create", name, "--email", smuggled])?;
        assert!(!refused.status.success(), "{smuggled}: {}", text(&refused));
        assert!(text(&refused).contains("name@domain.example"), "{}", text(&refused));
    }
    assert!(accounts.find(&username).await?.is_none());
    let created = reset_admin(&["user", "create", name, "--email", &address])?;
    assert!(created.status.success(), "{}", text(&created));
    let refused = reset_admin(&[
        "user",
        "set-email",
        name,
        "victim@hospital.jp>;attacker",
        "--reason",
        "x",
    ])?;
    assert!(!refused.status.success());
    assert!(text(&refused).contains("the new address"), "{}", text(&refused));
    assert_eq!(
        accounts.find(&username).await?.map(|a| a.email.as_str().to_owned()),
        Some(address)
    );
    Ok(())
}

/// A profile whose credentials come from a program (`credential_process`), as organisations
/// hand them out: the admin tool runs it, signs with its keys, and STS names the caller.
#[tokio::test]
async fn credential_process_profiles_work() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("reset-admin-profile-{}", random_username()));
    std::fs::create_dir_all(&dir)?;
    let helper = dir.join("credentials.sh");
    std::fs::write(
        &helper,
        "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"process\", \"SecretAccessKey\": \"process\"}'\n",
    )?;
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let config = dir.join("config");
    std::fs::write(
        &config,
        format!(
            "[profile helpdesk]\nregion = ap-northeast-1\ncredential_process = {}\n",
            helper.display()
        ),
    )?;
    let username = random_username();
    let name = username.as_str();
    let static_keys = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];
    let config = config.to_string_lossy().into_owned();
    let helpdesk = [
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ("AWS_PROFILE", "helpdesk"),
    ];
    let created = reset_admin_with(
        &["user", "create", name, "--email", &format!("{name}@example.jp")],
        &helpdesk,
        &static_keys,
    )?;
    assert!(created.status.success(), "{}", text(&created));
    let audit = reset_admin_with(&["audit", name], &helpdesk, &static_keys)?;
    assert!(text(&audit).contains(LOCAL_CALLER_ARN), "{}", text(&audit));

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Plays the IAM Identity Center portal (GetRoleCredentials) for one SSO sign-in: answers
/// role credentials to a request that carries `token`, and counts the requests it answered.
fn fake_sso_portal(token: &'static str) -> Result<(String, std::sync::Arc<std::sync::atomic::AtomicUsize>)> {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = format!("http://{}", listener.local_addr()?);
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = answered.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = Vec::new();
            let mut buffer = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request).to_ascii_lowercase();
            let authorised = request.starts_with("get /federation/credentials?")
                && request.contains("role_name=resetadmin")
                && request.contains(&format!("x-amz-sso_bearer_token: {token}"));
            let (status, body) = if authorised {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                (
                    "200 OK",
                    r#"{"roleCredentials":{"accessKeyId":"sso","secretAccessKey":"sso","sessionToken":"sso","expiration":4102444800000}}"#,
                )
            } else {
                ("401 Unauthorized", r#"{"message":"bad token"}"#)
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Ok((address, answered))
}

/// An IAM Identity Center (SSO) profile, as `aws sso login` leaves it: the tool reads the
/// cached sign-in, gets role credentials from the portal, and records the caller from STS.
#[tokio::test]
async fn sso_profiles_work() -> Result<()> {
    let accounts = Accounts::from_env().await?;
    let home = std::env::temp_dir().join(format!("reset-admin-sso-{}", random_username()));
    let cache = home.join(".aws/sso/cache");
    std::fs::create_dir_all(&cache)?;
    std::fs::write(
        home.join("config"),
        "[profile sso-admin]\nregion = ap-northeast-1\nsso_session = corp\nsso_account_id = 123456789012\n\
         sso_role_name = ResetAdmin\n[sso-session corp]\nsso_region = ap-northeast-1\n\
         sso_start_url = https://corp.awsapps.example/start\n",
    )?;
    let config = home.join("config").to_string_lossy().into_owned();
    let home_dir = home.to_string_lossy().into_owned();
    // rustup (behind `cargo run`) looks for its toolchains under HOME unless told.
    let real_home = std::env::var("HOME").unwrap_or_default();
    let rustup_home = std::env::var("RUSTUP_HOME").unwrap_or_else(|_| format!("{real_home}/.rustup"));
    let cargo_home = std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{real_home}/.cargo"));
    let (portal, answered) = fake_sso_portal("cached-sign-in")?;
    let sso_admin = [
        ("HOME", home_dir.as_str()),
        ("RUSTUP_HOME", rustup_home.as_str()),
        ("CARGO_HOME", cargo_home.as_str()),
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
        ("AWS_PROFILE", "sso-admin"),
        ("AWS_ENDPOINT_URL_SSO", portal.as_str()),
    ];
    let static_keys = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];
    let username = random_username();
    let name = username.as_str();
    let create = ["user", "create", name, "--email", "sso@example.jp"];

    // Not signed in yet: a clear refusal, nothing written.
    let refused = reset_admin_with(&create, &sso_admin, &static_keys)?;
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(text(&refused).contains("SSO token"), "{}", text(&refused));
    assert!(accounts.find(&username).await?.is_none());

    // What `aws sso login` caches: the sign-in of the session, under the SHA-1 of its name
    // (`printf corp | sha1sum`).
    let key = "ee0bfd2552fbd840c02cc48b6e823320543c450f";
    std::fs::write(
        cache.join(format!("{key}.json")),
        r#"{"accessToken":"cached-sign-in","expiresAt":"2099-01-01T00:00:00Z","region":"ap-northeast-1","startUrl":"https://corp.awsapps.example/start"}"#,
    )?;
    let created = reset_admin_with(&create, &sso_admin, &static_keys)?;
    assert!(created.status.success(), "{}", text(&created));
    assert!(
        answered.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "the portal was asked"
    );
    let trail = accounts.audit_trail(&username).await?;
    assert_eq!(
        trail.first().and_then(|e| e.caller_arn.as_deref()),
        Some(LOCAL_CALLER_ARN)
    );
    std::fs::remove_dir_all(&home)?;
    Ok(())
}

/// Entries written before hidden characters were refused (and without a caller) still print
/// truthfully: each hidden character as its code point.
#[tokio::test]
async fn old_audit_entries_print_their_hidden_characters_visibly() -> Result<()> {
    let accounts = Accounts::from_env().await?;
    let username = random_username();
    let old = reset_admin::audit::AuditEntry {
        subject: username.clone().into(),
        audit_id: "0001700000000000#0000abcd".into(),
        at: 1_700_000_000_000,
        actor: "ya\u{200B}mada".into(),
        caller_arn: None,
        action: AuditAction::Disable,
        reason: "refund\u{202E}4321 tekcit".into(),
        old_email_masked: None,
        new_email_masked: None,
        count: None,
        prev_hash: None,
        hash: None,
    };
    accounts.record(&old).await?;
    let audit = reset_admin(&["audit", username.as_str()])?;
    let out = String::from_utf8_lossy(&audit.stdout).into_owned();
    assert!(audit.status.success(), "{}", text(&audit));
    assert!(
        out.contains("by ya<U+200B>mada [caller not recorded]  reason: refund<U+202E>4321 tekcit"),
        "{out}"
    );
    assert!(!out.contains('\u{202E}') && !out.contains('\u{200B}'), "{out:?}");
    Ok(())
}

/// An address stored before the strict check (as the old admin tool accepted it) no longer
/// parses; its account stays readable to administrators, shows no part of that address, and
/// `user set-email` replaces it.
#[tokio::test]
async fn an_address_stored_before_the_strict_check_can_be_replaced() -> Result<()> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let accounts = Accounts::from_env().await?;
    let username = random_username();
    let name = username.as_str();
    accounts
        .client()
        .put_item()
        .table_name(accounts.users_table())
        .item("username", AttributeValue::S(name.to_owned()))
        .item(
            "email",
            AttributeValue::S("victim@hospital.jp>;attacker@evil.example".into()),
        )
        .item("status", AttributeValue::S("active".into()))
        .item("language", AttributeValue::S("ja".into()))
        .item("created_at", AttributeValue::N("1700000000000".into()))
        .send()
        .await?;

    let shown = reset_admin(&["user", "show", name])?;
    assert!(shown.status.success(), "{}", text(&shown));
    let json: serde_json::Value = serde_json::from_slice(&shown.stdout)?;
    assert_eq!(json["email"], "(not a valid address)");
    assert!(!text(&shown).contains("attacker") && !text(&shown).contains("victim"));

    let fixed = reset_admin(&[
        "user",
        "set-email",
        name,
        &format!("{name}@hospital.example.jp"),
        "--reason",
        "ticket 12: address from the old import",
    ])?;
    assert!(fixed.status.success(), "{}", text(&fixed));
    assert!(
        text(&fixed).contains("(not a valid address) -> t***@hospital.example.jp"),
        "{}",
        text(&fixed)
    );
    let account = accounts.find(&username).await?.ok_or_else(|| anyhow!("gone"))?;
    assert_eq!(
        account.email.email().map(|e| e.as_str().to_owned()),
        Some(format!("{name}@hospital.example.jp"))
    );
    Ok(())
}

#[tokio::test]
async fn an_address_change_is_announced_to_the_old_and_the_new_address() -> Result<()> {
    let app = local_app().await?;
    let accounts = Accounts::from_env().await?;
    let user = create_user(&app, Language::Ja).await?;
    let new_address = email(&format!("{}@moved.example.jp", user.username))?;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let queue = reset_admin::users::mail_queue_from_env(&config)?;
    reset_admin::users::change_address(
        &accounts,
        &queue,
        &user.username,
        &new_address,
        &change("old address abolished").await?,
    )
    .await?;

    let to_old = wait_for_mails(user.email.as_str(), 1).await?;
    assert!(
        to_old[0].subject.contains("登録メールアドレスが変更されました"),
        "{}",
        to_old[0].subject
    );
    assert!(to_old[0].text().contains("お心当たりがない場合"));
    assert!(
        !to_old[0].text().contains(new_address.as_str()),
        "the old address is not told the new one"
    );
    let to_new = wait_for_mails(new_address.as_str(), 1).await?;
    assert!(to_new[0]
        .subject
        .contains("このアドレスが登録メールアドレスになりました"));
    Ok(())
}

/// `users check` reads every account as the functions do: an item whose address breaks the
/// rules (stored before they tightened, or by hand) is listed with its fix and the command
/// exits 1, so a deploy that tightens a rule can be stopped first.
#[tokio::test]
async fn users_check_lists_the_accounts_the_functions_cannot_read() -> Result<()> {
    let accounts = Accounts::from_env().await?;
    let readable = created_by_admin()?;
    let broken = created_by_admin()?;
    accounts
        .client()
        .update_item()
        .table_name(accounts.users_table())
        .key(
            "username",
            aws_sdk_dynamodb::types::AttributeValue::S(broken.to_string()),
        )
        .update_expression("SET email = :e")
        .expression_attribute_values(
            ":e",
            aws_sdk_dynamodb::types::AttributeValue::S("two@@example.jp".into()),
        )
        .send()
        .await?;

    let output = reset_admin(&["users", "check"])?;
    let said = text(&output);
    assert_eq!(output.status.code(), Some(1), "{said}");
    let line = said
        .lines()
        .find(|l| l.contains(broken.as_str()))
        .ok_or_else(|| anyhow!("{broken} not listed: {said}"))?;
    assert!(line.contains("address"), "{line}");
    assert!(said.contains("fix: user set-email"), "{said}");
    assert!(!said.contains(readable.as_str()), "a readable account listed: {said}");
    assert!(!said.contains("two@@example.jp"), "the stored address printed: {said}");
    Ok(())
}
