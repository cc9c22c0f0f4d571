//! `reset-admin` on a Cognito user pool (issue 27, point 5): the CLI binary changes the pool's
//! user through its admin API and moves the account's credential epoch in the account-state
//! table, audited in the same transaction, so a change kills every outstanding link whatever the
//! pool reports of its revision (moto moves `UserLastModifiedDate` on attribute edits only; see
//! DESIGN.md). Against the pool in moto, in make test's Cognito pass (scripts/test-cognito.sh).

use crate::address_requests::mail_with_subject;
use crate::admin_support::*;
use anyhow::{anyhow, bail, Result};
use password_reset_tests::reset_core::config::PasswordStore;
use password_reset_tests::reset_core::domain::{
    address_fingerprint, AccountStatus, AddressRequest, AddressRequestForm, AddressRequestState, Clock, Language,
    NoticeFate, SystemClock, User, Username,
};
use password_reset_tests::reset_core::store::initial_epoch;
use password_reset_tests::reset_core::App;
use password_reset_tests::*;

const NEW_PASSWORD: &str = "Kanagawa2026x";

async fn pool_app() -> Result<(App, String)> {
    let app = local_app().await?;
    let PasswordStore::Cognito { user_pool_id } = app.settings.password_store.clone() else {
        bail!("run with PASSWORD_STORE=cognito (scripts/test-cognito.sh does)");
    };
    Ok((app, user_pool_id))
}

/// What the pool says of the user: its `sub`, address, whether the address is verified, and
/// whether the user is enabled.
struct PoolView {
    sub: String,
    email: Option<String>,
    email_verified: bool,
    enabled: bool,
}

async fn pool_view(pool_id: &str, username: &Username) -> Result<PoolView> {
    let user = pool::client()
        .await
        .admin_get_user()
        .user_pool_id(pool_id)
        .username(username.as_str())
        .send()
        .await?;
    let attribute = |name: &str| {
        user.user_attributes()
            .iter()
            .find(|a| a.name() == name)
            .and_then(|a| a.value())
            .map(str::to_owned)
    };
    Ok(PoolView {
        sub: attribute("sub").ok_or_else(|| anyhow!("no sub"))?,
        email: attribute("email"),
        email_verified: attribute("email_verified").as_deref() == Some("true"),
        enabled: user.enabled(),
    })
}

/// The account-state item's epoch and the `sub` it belongs to.
async fn state_epoch(app: &App, username: &Username) -> Result<(Option<u64>, Option<String>)> {
    let sub = pool::state_item(app, username)
        .await?
        .get("account_sub")
        .and_then(|v| v.as_s().ok())
        .cloned();
    Ok((pool::state_epoch(app, username).await?, sub))
}

fn confirm(token: &str) -> EventBuilder {
    EventBuilder::get(&format!("/password-reset/confirm?token={token}"))
}

fn complete_form(token: &str) -> EventBuilder {
    EventBuilder::form(
        "/password-reset/complete",
        &[
            ("token", token),
            ("new_password", NEW_PASSWORD),
            ("new_password_confirmation", NEW_PASSWORD),
        ],
    )
}

/// Neither step of the link works any more, and the password did not change.
async fn assert_link_dead(app: &App, user: &User, token: &str, what: &str) -> Result<()> {
    let opened = invoke(app, Function::VerifyToken, confirm(token)).await?;
    assert_eq!(
        opened.status, 400,
        "after {what}, the older link still opens: {}",
        opened.body
    );
    let changed = invoke(app, Function::ChangePassword, complete_form(token)).await?;
    assert_eq!(changed.status, 400, "after {what}: {}", changed.body);
    // A disabled user signs in with nothing; the password is checked once it is enabled again.
    if app.accounts.find_account(&user.username).await?.map(|a| a.status) == Some(AccountStatus::Active) {
        assert!(
            signs_in(app, &user.username, INITIAL_PASSWORD).await?,
            "after {what} the older link changed the password"
        );
    }
    Ok(())
}

/// `reset-admin ARGS` succeeded; what it printed.
fn admin_ok(args: &[&str]) -> Result<String> {
    let output = reset_admin(args)?;
    if !output.status.success() {
        bail!("reset-admin {args:?} failed: {}", text(&output));
    }
    Ok(text(&output))
}

/// `reset-admin audit verify` finds the account's chain intact; the actions, newest first.
fn audited(username: &Username) -> Result<Vec<String>> {
    let verified = admin_ok(&["audit", "verify", username.as_str()])?;
    assert!(verified.contains("the chain is intact"), "{verified}");
    let log = admin_ok(&["audit", username.as_str()])?;
    Ok(log
        .lines()
        .filter_map(|line| line.split_whitespace().nth(3).map(str::to_owned))
        .collect())
}

#[tokio::test]
#[ignore = "needs PASSWORD_STORE=cognito: scripts/test-cognito.sh runs it"]
async fn disable_kills_an_outstanding_link_and_enable_does_not_revive_it() -> Result<()> {
    let (app, pool_id) = pool_app().await?;
    let user = create_user(&app, Language::Ja).await?;
    let name = user.username.as_str();
    let token = request_link(&app, &user).await?;
    let sub = pool_view(&pool_id, &user.username).await?.sub;

    let disabled = admin_ok(&["user", "disable", name, "--reason", "left the institution"])?;
    assert!(disabled.contains(&format!("disabled {name}")), "{disabled}");
    assert!(!pool_view(&pool_id, &user.username).await?.enabled);
    assert_link_dead(&app, &user, &token, "disable").await?;
    // The account's first stored epoch: its pool identity's, moved on once.
    assert_eq!(
        state_epoch(&app, &user.username).await?,
        (Some(initial_epoch(&sub).next().value()), Some(sub.clone()))
    );

    // Run again (as after a failure between the pool call and the table): the pool is already
    // so, the epoch moves again, the change is audited, and the output says so.
    let again = admin_ok(&["user", "disable", name, "--reason", "second run"])?;
    assert!(again.contains("already disabled in the pool"), "{again}");
    assert_eq!(
        state_epoch(&app, &user.username).await?.0,
        Some(initial_epoch(&sub).next().next().value())
    );

    let enabled = admin_ok(&["user", "enable", name, "--reason", "came back"])?;
    assert!(enabled.contains(&format!("enabled {name}")), "{enabled}");
    assert!(pool_view(&pool_id, &user.username).await?.enabled);
    // The pool reports the same revision as before the disable (moto keeps the modification
    // date), yet the link stays dead: the epoch moved.
    assert_link_dead(&app, &user, &token, "disable and enable").await?;

    let shown: serde_json::Value = serde_json::from_str(&admin_ok(&["user", "show", name])?)?;
    assert_eq!(shown["username"], name);
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["email"], user.email.masked());
    assert_eq!(shown["pool"]["user_status"], "CONFIRMED", "{shown}");
    assert_eq!(shown["pool"]["email_verified"], true, "{shown}");

    // A new link works.
    let fresh = request_link(&app, &user).await?;
    assert_eq!(invoke(&app, Function::VerifyToken, confirm(&fresh)).await?.status, 200);

    assert_eq!(audited(&user.username)?, ["enable", "disable", "disable"]);
    Ok(())
}

#[tokio::test]
#[ignore = "needs PASSWORD_STORE=cognito: scripts/test-cognito.sh runs it"]
async fn set_email_kills_older_links_and_the_next_mail_goes_to_the_new_address() -> Result<()> {
    let (app, pool_id) = pool_app().await?;
    let user = create_user(&app, Language::Ja).await?;
    let name = user.username.as_str();
    let token = request_link(&app, &user).await?;
    let new_address = format!("{name}.moved@hospital.example.jp");

    let moved = admin_ok(&["user", "set-email", name, &new_address, "--reason", "ticket 4711"])?;
    assert!(
        moved.contains(&format!("{} -> t***@hospital.example.jp", user.email.masked())),
        "{moved}"
    );
    assert!(
        moved.contains("notices queued to the old and the new address"),
        "{moved}"
    );
    let shown: serde_json::Value = serde_json::from_str(&admin_ok(&["user", "show", name])?)?;
    assert!(
        shown["email_changed_at"].is_string(),
        "user show says when the address changed: {shown}"
    );
    let pool = pool_view(&pool_id, &user.username).await?;
    assert_eq!(pool.email.as_deref(), Some(new_address.as_str()));
    assert!(pool.email_verified, "the administrator vouches for the new address");
    assert_link_dead(&app, &user, &token, "an address change").await?;

    // Both addresses are told, as with the users table: send-mail finds the old one's
    // fingerprint in the account-state table and lets its notice through.
    mail_with_subject(user.email.as_str(), "登録メールアドレスが変更されました").await?;
    mail_with_subject(&new_address, "このアドレスが登録メールアドレスになりました").await?;
    assert!(
        !mails_to(user.email.as_str())
            .await?
            .iter()
            .any(|m| m.text().contains(&new_address)),
        "the old address is not told the new one"
    );

    // The next reset mail goes to the new address, and only there.
    let old_count = mails_to(user.email.as_str()).await?.len();
    let relocated = User {
        email: password_reset_tests::reset_core::domain::Email::parse(&new_address)?,
        ..user.clone()
    };
    let fresh = request_link(&app, &relocated).await?;
    assert_eq!(invoke(&app, Function::VerifyToken, confirm(&fresh)).await?.status, 200);
    assert_eq!(settled_mails_to(user.email.as_str()).await?.len(), old_count);

    // Run again: the pool already has it; the epoch still moves (the fresh link dies), audited.
    let again = admin_ok(&["user", "set-email", name, &new_address, "--reason", "second run"])?;
    assert!(again.contains("already had"), "{again}");
    assert_link_dead(&app, &relocated, &fresh, "a repeated address change").await?;

    assert_eq!(audited(&user.username)?, ["set-email", "set-email"]);
    Ok(())
}

/// A request for `user` as the real path leaves it once its notice went out long enough ago:
/// pending, the account recorded as send-mail records it (its link epoch and address).
async fn approvable_request(app: &App, user: &User) -> Result<AddressRequest> {
    let input = AddressRequestForm {
        username: user.username.as_str().into(),
        institution: "さくら内科クリニック".into(),
        location: "東京都千代田区霞が関1-2-2".into(),
        contact_person: "山田 花子".into(),
        new_email: format!("approved-{}@clinic.example.jp", user.username),
    }
    .parse()
    .map_err(|e| anyhow!("{e:?}"))?;
    let now = SystemClock.now();
    let current = app
        .accounts
        .find_account(&user.username)
        .await?
        .ok_or_else(|| anyhow!("{} vanished", user.username))?;
    let mut request = AddressRequest::new(input, Language::Ja, now, 14)?;
    request.state = AddressRequestState::Pending;
    request.pending_flag = Some("pending".into());
    request.verified_at = Some(now.as_millis());
    request.notice = Some(NoticeFate::Sent);
    // The objection window (72 hours) is over.
    request.notice_sent_at = Some(now.as_millis() - 73 * 3600 * 1000);
    request.account_epoch = Some(current.credential_epoch);
    request.account_address_sha256 = Some(address_fingerprint(current.email.as_str()));
    local_desk().await?.requests.create_request(&request).await?;
    Ok(request)
}

#[tokio::test]
#[ignore = "needs PASSWORD_STORE=cognito: scripts/test-cognito.sh runs it"]
async fn approve_changes_the_pool_address_and_kills_links() -> Result<()> {
    let (app, pool_id) = pool_app().await?;
    let user = create_user(&app, Language::Ja).await?;
    let token = request_link(&app, &user).await?;
    let request = approvable_request(&app, &user).await?;
    let id = request.request_id.as_str();

    let approved = admin_ok(&["address-requests", "approve", id, "--reason", "matches the list"])?;
    assert!(
        approved.contains(&format!("approved address request {id}")),
        "{approved}"
    );
    let pool = pool_view(&pool_id, &user.username).await?;
    assert_eq!(pool.email.as_deref(), Some(request.new_email.as_str()));
    assert!(pool.email_verified);
    assert_link_dead(&app, &user, &token, "an approved address request").await?;
    mail_with_subject(user.email.as_str(), "登録メールアドレスが変更されました").await?;
    let stored = local_desk()
        .await?
        .requests
        .find_request(&request.request_id)
        .await?
        .ok_or_else(|| anyhow!("the request vanished"))?;
    assert_eq!(stored.state, AddressRequestState::Approved);

    // Decided: a second approve changes nothing.
    let twice = reset_admin(&["address-requests", "approve", id])?;
    assert_refused(&twice, "not pending");

    // Both entries come from one transaction, often within one millisecond: in either order.
    let mut actions = audited(&user.username)?;
    actions.sort();
    assert_eq!(actions, ["approve-address-request", "set-email"]);
    Ok(())
}

/// An approval whose run died after its pool call (the pool holds the request's address, the
/// epoch did not move, nothing is audited, the request is pending) is completed by approving
/// again: the account's changed revision and address are its own doing, not refusals.
#[tokio::test]
#[ignore = "needs PASSWORD_STORE=cognito: scripts/test-cognito.sh runs it"]
async fn an_approval_interrupted_after_its_pool_call_is_completed_by_approving_again() -> Result<()> {
    use aws_sdk_cognitoidentityprovider::types::AttributeType;
    let (app, pool_id) = pool_app().await?;
    let user = create_user(&app, Language::Ja).await?;
    let request = approvable_request(&app, &user).await?;
    let id = request.request_id.as_str();
    let sub = pool_view(&pool_id, &user.username).await?.sub;
    // What the interrupted run did: the pool call, nothing else.
    pool::client()
        .await
        .admin_update_user_attributes()
        .user_pool_id(&pool_id)
        .username(user.username.as_str())
        .user_attributes(
            AttributeType::builder()
                .name("email")
                .value(request.new_email.as_str())
                .build()?,
        )
        .user_attributes(AttributeType::builder().name("email_verified").value("true").build()?)
        .send()
        .await?;

    let completed = admin_ok(&["address-requests", "approve", id])?;
    assert!(completed.contains("interrupted approval, completed now"), "{completed}");
    assert_eq!(
        state_epoch(&app, &user.username).await?,
        (Some(initial_epoch(&sub).next().value()), Some(sub))
    );
    let stored = local_desk()
        .await?
        .requests
        .find_request(&request.request_id)
        .await?
        .ok_or_else(|| anyhow!("the request vanished"))?;
    assert_eq!(stored.state, AddressRequestState::Approved);
    let mut actions = audited(&user.username)?;
    actions.sort();
    assert_eq!(actions, ["approve-address-request", "set-email"]);

    // The commands that write the users table themselves are refused on a pool, with the reason.
    let other = random_username();
    let refused = reset_admin(&["user", "create", other.as_str(), "--email", "someone@example.jp"])?;
    assert_refused(&refused, "works on the users table only");
    Ok(())
}

/// `mail-problems` on a pool: the account-state table says whose reset mail bounced (recorded by
/// mail-events from SES's event, as in the cloud), the pool says the account's address and status
/// now; a username the pool no longer has is left out.
#[tokio::test]
#[ignore = "needs PASSWORD_STORE=cognito: scripts/test-cognito.sh runs it"]
async fn mail_problems_lists_pool_accounts_with_the_pools_address_and_status() -> Result<()> {
    use crate::mail_events::{invoke_mail_events, iso, sample_event, send_reset_mail};
    let (app, pool_id) = pool_app().await?;
    let now = SystemClock.now().as_millis();
    let bounced = create_user(&app, Language::Ja).await?;
    let removed = create_user(&app, Language::Ja).await?;
    for (offset, user) in [(1_000, &bounced), (2_000, &removed)] {
        let message_id = send_reset_mail(user).await?;
        let event = sample_event("mail-bounce.json", &message_id, user.email.as_str(), &iso(now + offset))?;
        assert_eq!(invoke_mail_events(&event).await?.recorded, 1, "{}", user.username);
    }
    admin_ok(&[
        "user",
        "disable",
        bounced.username.as_str(),
        "--reason",
        "left the clinic",
    ])?;
    pool::client()
        .await
        .admin_delete_user()
        .user_pool_id(&pool_id)
        .username(removed.username.as_str())
        .send()
        .await?;

    // The index is eventually consistent: a few tries.
    let mut listed = String::new();
    for _ in 0..40 {
        listed = admin_ok(&["mail-problems", "--limit", "1000"])?;
        if listed.contains(bounced.username.as_str()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let line = listed
        .lines()
        .find(|line| line.contains(bounced.username.as_str()))
        .ok_or_else(|| anyhow!("{} not listed: {listed}", bounced.username))?;
    assert!(
        line.contains(&bounced.email.masked()),
        "the pool's address, masked: {line}"
    );
    assert!(line.contains("disabled"), "the pool's status now: {line}");
    assert!(line.contains("bounce"), "{line}");
    assert!(
        !listed.contains(removed.username.as_str()),
        "a username the pool no longer has is left out: {listed}"
    );
    Ok(())
}
