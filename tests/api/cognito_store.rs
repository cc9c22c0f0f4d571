//! What only the Cognito store has: the change's claim in the account-state table and the
//! pool's password policy read at cold start. Against the pool in moto, in make test's Cognito
//! pass (scripts/test-cognito.sh runs the ignored tests of this module there).

use anyhow::{anyhow, bail, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use password_reset_tests::reset_core::app::sdk_config;
use password_reset_tests::reset_core::config::{ConfigError, PasswordStore};
use password_reset_tests::reset_core::domain::{Clock, Language, PasswordRule, SystemClock, Username};
use password_reset_tests::reset_core::store::{initial_epoch, state_attributes, CHANGE_CLAIM_LEASE_SECS};
use password_reset_tests::reset_core::web::pages::{password_form, PageContext};
use password_reset_tests::reset_core::{App, Wiring};
use password_reset_tests::*;

const NEW_PASSWORD: &str = "Kanagawa2026x";
/// What a change that died after setting the password had set.
const HALF_SET_PASSWORD: &str = "Halfway2026pwx";

fn complete_form(token: &str, password: &str) -> EventBuilder {
    EventBuilder::form(
        "/password-reset/complete",
        &[
            ("token", token),
            ("new_password", password),
            ("new_password_confirmation", password),
        ],
    )
}

async fn pool_app() -> Result<(App, String)> {
    let app = local_app().await?;
    let PasswordStore::Cognito { user_pool_id } = app.settings.password_store.clone() else {
        bail!("run with PASSWORD_STORE=cognito (scripts/test-cognito.sh does)");
    };
    Ok((app, user_pool_id))
}

async fn sub_of(pool_id: &str, username: &Username) -> Result<String> {
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

    // It died after setting a password of its own; once its claim lapses the same link works
    // again and the next attempt sets the password, ends the sessions and finishes.
    pool::client()
        .await
        .admin_set_user_password()
        .user_pool_id(&pool_id)
        .username(user.username.as_str())
        .password(HALF_SET_PASSWORD)
        .permanent(true)
        .send()
        .await?;
    leave_claim(&app, &user.username, &sub, (CHANGE_CLAIM_LEASE_SECS + 1) * 1000).await?;
    let done = invoke(&app, Function::ChangePassword, complete_form(&token, NEW_PASSWORD)).await?;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(signs_in(&app, &user.username, NEW_PASSWORD).await?);
    assert!(!signs_in(&app, &user.username, HALF_SET_PASSWORD).await?);

    // Finished: the link is used and the account moved past the link's epoch.
    let again = invoke(&app, Function::ChangePassword, complete_form(&token, "Another2026pwx")).await?;
    assert_eq!(again.status, 400);
    let account = app
        .accounts
        .find_account(&user.username)
        .await?
        .ok_or_else(|| anyhow!("account vanished"))?;
    assert_eq!(account.credential_epoch, initial_epoch(&sub).next());
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
