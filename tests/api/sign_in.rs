//! Sign-in with the new password, proven through the real path: a reset over HTTP through
//! `cargo lambda watch` (request, mail from the SES emulator, link, new password), then the
//! completion page's link to the local sign-in page (local/sign-in, which checks the users
//! table with `reset_core::credentials::verify`).

use anyhow::{anyhow, Result};
use password_reset_tests::reset_core::domain::{AccountStatus, Clock, Email, Language, SystemClock, User, Username};
use password_reset_tests::reset_core::hashing::hash_password_blocking;
use password_reset_tests::reset_core::store::UserDirectory;
use password_reset_tests::*;

const NEW_PASSWORD: &str = "Kanagawa2026x";
const FAILED_JA: &str = "ユーザ名またはパスワードが正しくありません。";

/// Walks the reset over HTTP and returns the completion page.
async fn reset_over_http(client: &reqwest::Client, base: &str, origin: &str, username: &Username) -> Result<String> {
    let email = format!("{username}@example.jp");
    let sent = client
        .post(format!("{base}/password-reset?lang=ja"))
        .header("origin", origin)
        .form(&[("username", username.as_str())])
        .send()
        .await?;
    assert_eq!(sent.status(), 200);
    let mail = wait_for_mails(&email, 1).await?.remove(0);
    let link = mail.link().ok_or_else(|| anyhow!("no link"))?.to_owned();
    let token = mail.token().ok_or_else(|| anyhow!("no token"))?;
    assert_eq!(client.get(&link).send().await?.status(), 200);
    let form = client
        .post(format!("{base}/password-reset/confirm?lang=ja"))
        .header("origin", origin)
        .form(&[("token", token.as_str())])
        .send()
        .await?;
    assert_eq!(form.status(), 200);
    let done = client
        .post(format!("{base}/password-reset/complete?lang=ja"))
        .header("origin", origin)
        .form(&[
            ("token", token.as_str()),
            ("new_password", NEW_PASSWORD),
            ("new_password_confirmation", NEW_PASSWORD),
        ])
        .send()
        .await?;
    assert_eq!(done.status(), 200);
    let page = done.text().await?;
    assert!(page.contains("以上で、パスワードの再設定は完了となります。"));
    Ok(page)
}

async fn sign_in(
    client: &reqwest::Client,
    url: &str,
    origin: &str,
    username: &str,
    password: &str,
) -> Result<(u16, String)> {
    let answer = client
        .post(url)
        .header("origin", origin)
        .form(&[("username", username), ("password", password)])
        .send()
        .await?;
    Ok((answer.status().as_u16(), answer.text().await?))
}

#[tokio::test]
async fn the_new_password_signs_in_and_the_old_one_no_longer_does() -> Result<()> {
    let app = local_app().await?;
    let base = watch_url()?;
    let client = http()?;
    let origin = app.settings.public_base_url.clone();
    let user = create_user(&app, Language::Ja).await?;
    let username = user.username.as_str();

    // Before the reset the initial password works: the page checks the real users table.
    let sign_in_url = format!("{base}/sign-in");
    let (status, _) = sign_in(&client, &sign_in_url, &origin, username, INITIAL_PASSWORD).await?;
    assert_eq!(status, 200, "the initial password signs in before the reset");

    let done = reset_over_http(&client, &base, &origin, &user.username).await?;
    // The completion page sends the person to the sign-in page, which is served here.
    assert_eq!(
        app.settings.sign_in_url, sign_in_url,
        "make test sets SIGN_IN_URL to the local page"
    );
    assert!(
        done.contains(&format!("class=\"button\" href=\"{sign_in_url}\"")),
        "the completion page's button leads to the sign-in page"
    );
    let form = client.get(&sign_in_url).send().await?;
    assert_eq!(form.status(), 200);
    assert_eq!(
        form.headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok()),
        Some(password_reset_tests::reset_core::web::respond::CONTENT_SECURITY_POLICY)
    );
    let form = form.text().await?;
    assert!(form.contains("<h1>サインイン</h1>") && form.contains("autocomplete=\"current-password\""));

    let (status, page) = sign_in(&client, &sign_in_url, &origin, username, NEW_PASSWORD).await?;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1>サインインしました</h1>"));
    assert!(page.contains(&format!("<code id=\"signed-in-username\">{username}</code>")));
    let stored = app
        .accounts
        .find_account(&user.username)
        .await?
        .ok_or_else(|| anyhow!("user vanished"))?;
    let changed_at = stored
        .password_changed_at
        .ok_or_else(|| anyhow!("no password_changed_at"))?;
    let shown = password_reset_tests::reset_core::lang::words(Language::Ja).jst(
        password_reset_tests::reset_core::domain::Timestamp::from_millis(changed_at),
    );
    assert!(
        page.contains(&format!("{shown} （日本時間）")),
        "the page says when the password changed ({shown})"
    );

    let (status, page) = sign_in(&client, &sign_in_url, &origin, username, INITIAL_PASSWORD).await?;
    assert_eq!(status, 401, "the old password no longer signs in");
    assert!(page.contains(FAILED_JA));
    assert!(!page.contains(INITIAL_PASSWORD), "the password is never echoed");
    Ok(())
}

#[tokio::test]
async fn wrong_unknown_and_disabled_all_get_the_same_refusal() -> Result<()> {
    let app = local_app().await?;
    let base = watch_url()?;
    let client = http()?;
    let origin = app.settings.public_base_url.clone();
    let url = format!("{base}/sign-in?lang=en");
    let active = create_user(&app, Language::En).await?;
    // A disabled account whose password is right: still the same refusal.
    let disabled_name = random_username();
    let disabled = User {
        password_hash: Some(hash_password_blocking(INITIAL_PASSWORD)?),
        status: AccountStatus::Disabled,
        ..User::new_active(
            disabled_name.clone(),
            Email::parse(&format!("{disabled_name}@example.jp")).map_err(|e| anyhow!(e))?,
            Language::En,
            SystemClock.now(),
        )?
    };
    tables(&app.settings).await.create_user(&disabled).await?;
    let unknown = random_username();

    let cases = [
        (active.username.as_str(), "Wrong2026pw"),
        (disabled.username.as_str(), INITIAL_PASSWORD),
        (unknown.as_str(), INITIAL_PASSWORD),
    ];
    let mut pages = Vec::new();
    for (username, password) in cases {
        let (status, page) = sign_in(&client, &url, &origin, username, password).await?;
        assert_eq!(status, 401, "{username}");
        assert!(page.contains("The username or password is incorrect."), "{page}");
        pages.push(page.replace(username, "USERNAME"));
    }
    assert!(pages.windows(2).all(|w| w[0] == w[1]), "the refusals differ");

    let (status, page) = sign_in(&client, &url, &origin, active.username.as_str(), INITIAL_PASSWORD).await?;
    assert_eq!(status, 200);
    assert!(page.contains("<h1>Signed in</h1>") && page.contains("never changed"));
    Ok(())
}
