//! Every sample event in events/ goes through the handler of the function the template routes
//! it to, and must get the status events/README.md promises. An event that no longer matches
//! the code, or a new event without a row in the README, fails here.

use anyhow::{anyhow, bail, Context, Result};
use password_reset_tests::reset_core::domain::{Clock, Email, Language, SystemClock, User, Username};
use password_reset_tests::reset_core::store::{CreateUserError, UserDirectory};
use password_reset_tests::*;
use reset_admin::template::Template;
use std::path::Path;

/// `| file.json | route | status |` rows of events/README.md.
fn expected_statuses(readme: &str) -> Vec<(String, u16)> {
    readme
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(|c| c.trim().trim_matches('`')).collect();
            let file = cells.iter().find(|c| c.ends_with(".json"))?;
            let status = cells.iter().rev().find_map(|c| {
                let digits: String = c.chars().take_while(char::is_ascii_digit).collect();
                (digits.len() == 3).then(|| digits.parse::<u16>().ok()).flatten()
            })?;
            Some((file.to_string(), status))
        })
        .collect()
}

#[tokio::test]
async fn every_event_file_gets_its_documented_answer() -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let routes = Template::load(&root.join("infra/template.yaml"))?.routes()?;
    let readme = std::fs::read_to_string(root.join("events/README.md"))?;
    let expected = expected_statuses(&readme);

    // The events are written for the production origin and the demo user.
    let app = local_app_with(
        |s| s.public_base_url = "https://id.example.jp".into(),
        std::sync::Arc::new(SystemClock),
    )
    .await?;
    let desk = local_desk_with(
        |s| s.public_base_url = "https://id.example.jp".into(),
        None,
        std::sync::Arc::new(SystemClock),
    )
    .await?;
    let demo = User::new_active(
        Username::parse("ex000000").map_err(|e| anyhow!(e))?,
        Email::parse("ex000000@example.jp").map_err(|e| anyhow!(e))?,
        Language::Ja,
        password_reset_tests::reset_core::domain::SystemClock.now(),
    )?;
    match tables(&app.settings).await.create_user(&demo).await {
        Ok(()) | Err(CreateUserError::AlreadyExists(_)) => {}
        Err(error) => return Err(error.into()),
    }

    let mut checked = 0;
    let mut files: Vec<_> = std::fs::read_dir(root.join("events"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    for path in files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let text = std::fs::read_to_string(&path)?;
        let event: serde_json::Value = serde_json::from_str(&text).with_context(|| name.clone())?;
        // Only API Gateway events here; the SNS-shaped SES events (mail-*.json) go through
        // mail-events in tests/api/mail_events.rs.
        if event["version"] != "2.0" || event.get("routeKey").is_none() {
            continue;
        }
        let method = event["requestContext"]["http"]["method"].as_str().unwrap_or_default();
        let raw_path = event["rawPath"].as_str().unwrap_or_default();
        let route = routes
            .iter()
            .find(|r| r.method == method && route_matches(&r.path, raw_path))
            .ok_or_else(|| anyhow!("{name}: no template route for {method} {raw_path}"))?;
        let Some((_, status)) = expected.iter().find(|(file, _)| *file == name) else {
            bail!("{name} has no row in events/README.md");
        };
        let request =
            lambda_http::request::from_str(&text).with_context(|| format!("{name} is not an API Gateway v2 event"))?;
        // address-change is served over an AddressDesk, the others over the App.
        let answer = if route.binary == "address-change" {
            invoke_address_request(&desk, request).await?
        } else {
            let function = Function::from_binary(&route.binary)
                .ok_or_else(|| anyhow!("{name}: unknown function {}", route.binary))?;
            invoke_request(&app, function, request).await?
        };
        assert_eq!(
            answer.status,
            *status,
            "{name}: {}",
            answer.body.chars().take(300).collect::<String>()
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} events checked");
    Ok(())
}

fn route_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(a, b)| a == b || (a.starts_with('{') && a.ends_with('}')))
}
