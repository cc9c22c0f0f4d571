//! The flow over HTTP through `cargo lambda watch` (one origin, the workspace router), as a
//! browser without JavaScript would do it.

use anyhow::{anyhow, Result};
use password_reset_tests::reset_core::domain::Language;
use password_reset_tests::*;

#[tokio::test]
async fn whole_flow_over_http() -> Result<()> {
    let app = local_app().await?;
    let base = watch_url()?;
    let client = http()?;
    let user = create_user(&app, Language::Ja).await?;
    let origin = app.settings.public_base_url.clone();

    let form = client.get(format!("{base}/password-reset")).send().await?;
    assert_eq!(form.status(), 200);
    assert_eq!(
        form.headers().get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );

    let sent = client
        .post(format!("{base}/password-reset?lang=ja"))
        .header("origin", &origin)
        .form(&[("username", user.username.as_str())])
        .send()
        .await?;
    assert_eq!(sent.status(), 200);
    assert!(sent.text().await?.contains("メールを送信しました"));

    let mail = wait_for_mails(user.email.as_str(), 1).await?.remove(0);
    let link = mail.link().ok_or_else(|| anyhow!("no link"))?.to_owned();
    assert!(link.starts_with(&format!("{origin}/password-reset/confirm?token=")));
    let token = mail.token().ok_or_else(|| anyhow!("no token"))?;

    let confirm = client.get(&link).send().await?;
    assert_eq!(confirm.status(), 200);
    assert_eq!(
        confirm.headers().get("referrer-policy").and_then(|v| v.to_str().ok()),
        Some("no-referrer")
    );
    assert!(confirm.text().await?.contains("パスワードをリセットしますか？"));

    let password_form = client
        .post(format!("{base}/password-reset/confirm?lang=ja"))
        .header("origin", &origin)
        .form(&[("token", token.as_str())])
        .send()
        .await?;
    assert_eq!(password_form.status(), 200);
    assert!(password_form.text().await?.contains("新しいパスワードの確認"));

    let done = client
        .post(format!("{base}/password-reset/complete?lang=ja"))
        .header("origin", &origin)
        .form(&[
            ("token", token.as_str()),
            ("new_password", "Kanagawa2026x"),
            ("new_password_confirmation", "Kanagawa2026x"),
        ])
        .send()
        .await?;
    assert_eq!(done.status(), 200);
    assert!(done
        .text()
        .await?
        .contains("以上で、パスワードの再設定は完了となります。"));
    wait_for_mails(user.email.as_str(), 2).await?;
    Ok(())
}

#[tokio::test]
async fn json_api_and_assets_over_http() -> Result<()> {
    let base = watch_url()?;
    let client = http()?;
    let accepted = client
        .post(format!("{base}/api/password-reset/request"))
        .json(&serde_json::json!({ "username": random_username().as_str() }))
        .send()
        .await?;
    assert_eq!(accepted.status(), 202);
    let script = client
        .get(format!("{base}/password-reset/assets/policy.js"))
        .send()
        .await?;
    assert_eq!(script.status(), 200);
    assert!(script
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .starts_with("text/javascript"));
    let css = client
        .get(format!("{base}/password-reset/assets/style.css"))
        .send()
        .await?;
    assert_eq!(css.status(), 200);
    let icon = client
        .get(format!("{base}/password-reset/assets/favicon.svg"))
        .send()
        .await?;
    assert_eq!(
        icon.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("image/svg+xml")
    );
    Ok(())
}
