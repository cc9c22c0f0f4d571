//! What only the Cognito store has: the change's claim in the account-state table and the
//! pool's password policy read at cold start. Against the pool in moto, in make test's Cognito
//! pass (scripts/test-cognito.sh runs the ignored tests of this module there).

use anyhow::{anyhow, bail, Result};
use aws_sdk_cognitoidentityprovider::types::AttributeType;
use aws_sdk_dynamodb::types::AttributeValue;
use password_reset_tests::reset_core::app::sdk_config;
use password_reset_tests::reset_core::config::{ConfigError, PasswordStore};
use password_reset_tests::reset_core::domain::{Clock, Language, PasswordRule, SystemClock, User, Username};
use password_reset_tests::reset_core::store::{initial_epoch, state_attributes, CHANGE_CLAIM_LEASE_SECS};
use password_reset_tests::reset_core::web::pages::{password_form, PageContext};
use password_reset_tests::reset_core::{App, Wiring};
use password_reset_tests::*;

pub(super) const NEW_PASSWORD: &str = "Kanagawa2026x";
/// What a change that died after setting the password had set.
const HALF_SET_PASSWORD: &str = "Halfway2026pwx";

pub(super) fn complete_form(token: &str, password: &str) -> EventBuilder {
    EventBuilder::form(
        "/password-reset/complete",
        &[
            ("token", token),
            ("new_password", password),
            ("new_password_confirmation", password),
        ],
    )
}

pub(super) async fn pool_app() -> Result<(App, String)> {
    let app = local_app().await?;
    let PasswordStore::Cognito { user_pool_id } = app.settings.password_store.clone() else {
        bail!("run with PASSWORD_STORE=cognito (scripts/test-cognito.sh does)");
    };
    Ok((app, user_pool_id))
}

pub(super) async fn sub_of(pool_id: &str, username: &Username) -> Result<String> {
    let user = pool::client()
        .await
        .admin_get_user()
        .user_pool_id(pool_id)
        .username(username.as_str())
        .send()
        .await?;
    user.user_attributes()
        .iter()
        .find(|a| a.name() == "sub")
        .and_then(|a| a.value())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no sub"))
}

/// The state a change leaves when its function dies after the claim: the account claimed
/// `age_ms` ago at its first epoch.
async fn leave_claim(app: &App, username: &Username, sub: &str, age_ms: i64) -> Result<()> {
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let now = SystemClock.now().as_millis();
    dynamo
        .put_item()
        .table_name(&app.settings.users_table)
        .item("username", AttributeValue::S(username.to_string()))
        .item(state_attributes::ACCOUNT_SUB, AttributeValue::S(sub.to_owned()))
        .item(
            "credential_epoch",
            AttributeValue::N(initial_epoch(sub).value().to_string()),
        )
        .item(state_attributes::CHANGE_CLAIM, AttributeValue::S("died-mid-way".into()))
        .item(
            state_attributes::CHANGE_CLAIMED_AT,
            AttributeValue::N((now - age_ms).to_string()),
        )
        .send()
        .await?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs PASSWORD_STORE=cognito: scripts/test-cognito.sh runs it"]
async fn a_change_that_died_after_its_claim_is_finished_by_the_next_attempt() -> Result<()> {
    let (app, pool_id) = pool_app().await?;
    let user = create_user(&app, Language::Ja).await?;
    let token = request_link(&app, &user).await?;
    let sub = sub_of(&pool_id, &user.username).await?;

    // The claim is live: no other change may run, and the password stays.
    leave_claim(&app, &user.username, &sub, 1_000).await?;
    let held = invoke(&app, Function::ChangePassword, complete_form(&token, NEW_PASSWORD)).await?;
    assert_eq!(held.status, 400, "{}", held.body);
    assert!(signs_in(&app, &user.username, INITIAL_PASSWORD).await?);

    // It died after setting a password of its own. Once its claim lapses, the next attempt
    // finishes that change first, as it would have finished (it may have set the password):
    // the sessions end and the epoch moves on, so this link, minted before, is dead; a new one
    // works.
    pool::client()
        .await
        .admin_set_user_password()
        .user_pool_id(&pool_id)
        .username(user.username.as_str())
        .password(HALF_SET_PASSWORD)
        .permanent(true)
        .send()
        .await?;
    let session = pool::sign_in(&pool_id, &user.username, HALF_SET_PASSWORD)
        .await?
        .ok_or_else(|| anyhow!("the half-set password does not sign in"))?;
    leave_claim(&app, &user.username, &sub, (CHANGE_CLAIM_LEASE_SECS + 1) * 1000).await?;
    let late = invoke(&app, Function::ChangePassword, complete_form(&token, NEW_PASSWORD)).await?;
    assert_eq!(late.status, 400, "{}", late.body);
    assert!(signs_in(&app, &user.username, HALF_SET_PASSWORD).await?);
    assert!(!signs_in(&app, &user.username, NEW_PASSWORD).await?);
    assert!(
        !pool::refresh_works(&pool_id, &session).await?,
        "the died change's sessions are ended when it is finished"
    );
    assert_eq!(
        pool::state_epoch(&app, &user.username).await?,
        Some(initial_epoch(&sub).next().value())
    );
    let fresh = request_link(&app, &user).await?;
    let done = invoke(&app, Function::ChangePassword, complete_form(&fresh, NEW_PASSWORD)).await?;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(signs_in(&app, &user.username, NEW_PASSWORD).await?);
    Ok(())
}

/// The link no longer changes the password: refused, and the new password does not sign in.
async fn assert_link_dead(app: &App, user: &User, token: &str, what: &str) -> Result<()> {
    let answer = invoke(app, Function::ChangePassword, complete_form(token, NEW_PASSWORD)).await?;
    assert_eq!(answer.status, 400, "after {what}: {}", answer.body);
    assert!(
        !signs_in(app, &user.username, NEW_PASSWORD).await?,
        "after {what} the older link still changed the password"
    );
    Ok(())
}

/// An administrator's edits in the pool itself, not through this service, kill the links
/// minted before them: the link's epoch binds what the pool reports of the user. moto moves
/// `UserLastModifiedDate` on attribute edits only, so this proves the edits whose trace moto
/// keeps (an attribute, the status an administrator's reset or temporary password sets); see
/// DESIGN.md for disabling, enabling and a permanent password set in the console.
#[tokio::test]
#[ignore = "needs PASSWORD_STORE=cognito: scripts/test-cognito.sh runs it"]
async fn an_edit_in_the_pool_kills_older_links() -> Result<()> {
    let (app, pool_id) = pool_app().await?;
    let client = pool::client().await;

    let user = create_user(&app, Language::Ja).await?;
    let token = request_link(&app, &user).await?;
    client
        .admin_update_user_attributes()
        .user_pool_id(&pool_id)
        .username(user.username.as_str())
        .user_attributes(AttributeType::builder().name("locale").value("en").build()?)
        .send()
        .await?;
    assert_link_dead(&app, &user, &token, "an attribute edit").await?;

    let user = create_user(&app, Language::Ja).await?;
    let token = request_link(&app, &user).await?;
    client
        .admin_set_user_password()
        .user_pool_id(&pool_id)
        .username(user.username.as_str())
        .password(HALF_SET_PASSWORD)
        .permanent(false)
        .send()
        .await?;
    assert_link_dead(&app, &user, &token, "a temporary password set by an administrator").await?;

    // An administrator's reset (RESET_REQUIRED) kills the older link; the user may then reset
    // here, with a new link.
    let user = create_user(&app, Language::Ja).await?;
    let token = request_link(&app, &user).await?;
    client
        .admin_reset_user_password()
        .user_pool_id(&pool_id)
        .username(user.username.as_str())
        .send()
        .await?;
    assert_link_dead(&app, &user, &token, "an administrator's reset").await?;
    Ok(())
}

/// Only a confirmed user, or one an administrator asked to reset, gets a link: a user holding
/// an administrator's temporary password (FORCE_CHANGE_PASSWORD) gets the page everyone gets
/// and no mail. (Every status is unit-tested in `store::cognito`; these two are the ones an
/// administrator sets.)
#[tokio::test]
#[ignore = "needs PASSWORD_STORE=cognito: scripts/test-cognito.sh runs it"]
async fn only_confirmed_or_reset_required_users_get_a_link() -> Result<()> {
    let (app, pool_id) = pool_app().await?;
    let client = pool::client().await;
    let submit = |username: &Username| EventBuilder::form("/password-reset", &[("username", username.as_str())]);

    let temporary = create_user(&app, Language::Ja).await?;
    client
        .admin_set_user_password()
        .user_pool_id(&pool_id)
        .username(temporary.username.as_str())
        .password(HALF_SET_PASSWORD)
        .permanent(false)
        .send()
        .await?;
    let answer = invoke(&app, Function::RequestReset, submit(&temporary.username)).await?;
    assert_eq!(answer.status, 200, "{}", answer.body);

    let asked_to_reset = create_user(&app, Language::Ja).await?;
    client
        .admin_reset_user_password()
        .user_pool_id(&pool_id)
        .username(asked_to_reset.username.as_str())
        .send()
        .await?;
    let token = request_link(&app, &asked_to_reset).await?;
    let done = invoke(&app, Function::ChangePassword, complete_form(&token, NEW_PASSWORD)).await?;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(signs_in(&app, &asked_to_reset.username, NEW_PASSWORD).await?);

    assert!(
        settled_mails_to(temporary.email.as_str()).await?.is_empty(),
        "a user with a temporary password got a link"
    );
    Ok(())
}

async fn pool_with(min_length: i32, symbols: bool) -> Result<String> {
    use aws_sdk_cognitoidentityprovider::types::{PasswordPolicyType, UserPoolPolicyType};
    let policy = PasswordPolicyType::builder()
        .minimum_length(min_length)
        .require_uppercase(true)
        .require_lowercase(true)
        .require_numbers(true)
        .require_symbols(symbols)
        .build();
    let pool = pool::client()
        .await
        .create_user_pool()
        .pool_name(format!("policy-{min_length}-{symbols}"))
        .policies(UserPoolPolicyType::builder().password_policy(policy).build())
        .send()
        .await?;
    pool.user_pool()
        .and_then(|p| p.id())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("no pool id"))
}

async fn app_on(pool_id: String) -> Result<App, ConfigError> {
    let mut settings = local_app()
        .await
        .map_err(|e| ConfigError::PoolUnreadable(e.to_string()))?
        .settings;
    settings.password_store = PasswordStore::Cognito { user_pool_id: pool_id };
    settings.password_min_chars = 8;
    settings.password_requires_symbol = false;
    Wiring::new(settings, sdk_config().await).app().await
}

#[tokio::test]
#[ignore = "needs PASSWORD_STORE=cognito: scripts/test-cognito.sh runs it"]
async fn the_pools_password_policy_is_read_at_cold_start() -> Result<()> {
    pool_app().await?;
    // Weaker than the guide (6 characters): the function does not start.
    let weak = app_on(pool_with(6, false).await?).await;
    assert!(
        matches!(weak, Err(ConfigError::PoolPolicyTooWeak(ref why)) if why.contains("6 < 8")),
        "{:?}",
        weak.err()
    );

    // Stricter (12 characters and a symbol): the stricter rules are asked and shown.
    let app = app_on(pool_with(12, true).await?).await?;
    assert_eq!(app.settings.password_min_chars, 12);
    assert!(app.settings.password_requires_symbol);
    let ctx = PageContext {
        language: Language::Ja,
        service_name: &app.settings.service_name,
        min_password_chars: app.settings.password_min_chars,
        password_requires_symbol: app.settings.password_requires_symbol,
        breach_check: app.settings.breach_check.is_some(),
        sign_in_url: &app.settings.sign_in_url,
        switch_base: "/password-reset/confirm".into(),
    };
    let page = password_form(&ctx, "token", Some("ex000000"), &[]).into_string();
    assert!(
        page.contains(&format!("data-rule=\"{}\"", PasswordRule::Symbol.code())),
        "{page}"
    );
    assert!(page.contains("12文字以上"), "the longer minimum is shown");
    assert!(page.contains("required: special;"));
    Ok(())
}

/// The local sign-in page on the pool (AdminInitiateAuth): after a reset the new password
/// signs in there and the old one is refused.
#[tokio::test]
#[ignore = "needs PASSWORD_STORE=cognito: scripts/test-cognito.sh runs it"]
async fn the_local_sign_in_page_checks_the_pool() -> Result<()> {
    let (app, _) = pool_app().await?;
    let user = create_user(&app, Language::En).await?;
    let token = request_link(&app, &user).await?;
    let done = invoke(&app, Function::ChangePassword, complete_form(&token, NEW_PASSWORD)).await?;
    assert_eq!(done.status, 200, "{}", done.body);

    let client = http()?;
    let page = format!("{}/sign-in?lang=en", watch_url()?);
    let sign_in = |password: &'static str| {
        client
            .post(&page)
            .header("origin", &app.settings.public_base_url)
            .form(&[("username", user.username.as_str()), ("password", password)])
            .send()
    };
    let signed_in = sign_in(NEW_PASSWORD).await?;
    assert_eq!(signed_in.status().as_u16(), 200);
    assert!(signed_in.text().await?.contains(user.username.as_str()));
    assert_eq!(sign_in(INITIAL_PASSWORD).await?.status().as_u16(), 401);
    Ok(())
}
