//! SES events through the real path: a reset mail sent by the request-reset handler through
//! the SES v2 emulator, the emulator's message id stored on the account in DynamoDB Local, the
//! SNS-shaped samples of events/ (with that message id) sent to the real `mail-events` binary
//! served by `cargo lambda watch`, and the result read back as `reset-admin` reads it.

use crate::admin_support::*;
use anyhow::{anyhow, bail, Context, Result};
use password_reset_tests::reset_core::domain::{AccountStatus, Clock, Email, Language, SystemClock, User};
use password_reset_tests::reset_core::metrics;
use password_reset_tests::reset_core::store::{attributes, indexes};
use password_reset_tests::*;
use reset_admin::accounts::{AccountRecord, MailProblemRow};
use reset_admin::template::Template;
use reset_admin::Accounts;
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// The SES message id every sample in events/ carries.
const SAMPLE_MESSAGE_ID: &str = "0106019a2b3c4d5e-1f2e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b-000000";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What `mail-events` answers: its counts.
#[derive(Debug, Default, Deserialize, PartialEq, Eq)]
pub(crate) struct Summary {
    deliveries: u64,
    bounces: u64,
    complaints: u64,
    rejects: u64,
    pub(crate) recorded: u64,
    stale: u64,
    unmatched: u64,
    ignored: u64,
    malformed: u64,
    foreign: u64,
    clamped: u64,
}

#[derive(Deserialize)]
struct StoredMail {
    #[serde(rename = "messageId")]
    message_id: String,
    destination: StoredDestination,
}

#[derive(Deserialize)]
struct StoredDestination {
    to: Vec<String>,
}

#[derive(Deserialize)]
struct EmulatorStore {
    emails: Vec<StoredMail>,
}

/// The SES message ids of every mail the emulator holds for `address`, oldest first.
async fn message_ids_to(address: &str) -> Result<Vec<String>> {
    let url = format!("{}/store", std::env::var("SES_STORE_URL")?);
    let store: EmulatorStore = reqwest::get(&url).await?.error_for_status()?.json().await?;
    Ok(store
        .emails
        .into_iter()
        .filter(|m| m.destination.to.iter().any(|to| to == address))
        .map(|m| m.message_id)
        .collect())
}

/// Requests a reset for `user` through the request-reset handler; returns the SES message id
/// of the mail, as the emulator assigned it, once send-mail has stored it on the account (it
/// does so right after SES accepts the mail; SES's own events come seconds later).
pub(crate) async fn send_reset_mail(user: &User) -> Result<String> {
    let app = local_app().await?;
    request_link(&app, user).await?;
    let message_id = message_ids_to(user.email.as_str())
        .await?
        .pop()
        .ok_or_else(|| anyhow!("no mail for {}", user.username))?;
    let accounts = Accounts::from_env().await?;
    for _ in 0..100 {
        if stored_message_id(&accounts, user).await?.as_deref() == Some(message_id.as_str()) {
            return Ok(message_id);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Err(anyhow!(
        "send-mail never stored the message id of {}'s mail",
        user.username
    ))
}

/// An events/ sample about `message_id` sent to `address`, with its event time set to `at`.
pub(crate) fn sample_event(file: &str, message_id: &str, address: &str, at: &str) -> Result<Value> {
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(root().join("events").join(file))?)?;
    let sns = &mut event["Records"][0]["Sns"];
    let message = sns["Message"]
        .as_str()
        .ok_or_else(|| anyhow!("{file}: no Message"))?
        .replace(SAMPLE_MESSAGE_ID, message_id)
        .replace("ex000000@example.jp", address);
    let mut record: Value = serde_json::from_str(&message)?;
    for details in ["bounce", "complaint", "delivery"] {
        if record[details].is_object() {
            record[details]["timestamp"] = Value::from(at);
        }
    }
    if record["eventType"] == "Reject" {
        record["mail"]["timestamp"] = Value::from(at);
    }
    sns["Message"] = Value::from(record.to_string());
    Ok(event)
}

/// Invokes the `mail-events` binary through `cargo lambda watch`'s Lambda Invoke API.
pub(crate) async fn invoke_mail_events(event: &Value) -> Result<Summary> {
    let url = format!("{}/2015-03-31/functions/mail-events/invocations", watch_url()?);
    let response = http()?
        .post(&url)
        .timeout(Duration::from_secs(300))
        .json(event)
        .send()
        .await
        .context("is `cargo lambda watch` running (make test)?")?;
    let status = response.status();
    let body = response.text().await?;
    if !status.is_success() {
        bail!("mail-events answered {status}: {body}");
    }
    serde_json::from_str(&body).with_context(|| format!("mail-events answered {body}"))
}

async fn account(accounts: &Accounts, user: &User) -> Result<AccountRecord> {
    accounts
        .find(&user.username)
        .await?
        .ok_or_else(|| anyhow!("{} vanished", user.username))
}

/// The mail-problems rows (the index is eventually consistent: wait briefly for `expect`).
async fn mail_problems_until(
    accounts: &Accounts,
    expect: impl Fn(&[MailProblemRow]) -> bool,
) -> Result<Vec<MailProblemRow>> {
    for _ in 0..40 {
        let rows = accounts.mail_problems(1000).await?;
        if expect(&rows) {
            return Ok(rows);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(accounts.mail_problems(1000).await?)
}

/// `reset_mail_message_id` as stored (the admin view does not show it).
async fn stored_message_id(accounts: &Accounts, user: &User) -> Result<Option<String>> {
    let item = accounts
        .client()
        .get_item()
        .table_name(accounts.users_table())
        .key(
            attributes::USERNAME,
            aws_sdk_dynamodb::types::AttributeValue::S(user.username.to_string()),
        )
        .consistent_read(true)
        .send()
        .await?
        .item
        .unwrap_or_default();
    Ok(item
        .get(attributes::RESET_MAIL_MESSAGE_ID)
        .and_then(|v| v.as_s().ok())
        .cloned())
}

pub(crate) fn iso(millis: i64) -> String {
    let seconds = millis.div_euclid(1000);
    let time = time_of(seconds);
    format!("{}.{:03}Z", time, millis.rem_euclid(1000))
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) of epoch seconds, without a date library in the tests.
fn time_of(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[test]
fn iso_times_are_right() {
    assert_eq!(iso(1_775_005_203_250), "2026-04-01T01:00:03.250Z");
    assert_eq!(iso(0), "1970-01-01T00:00:00.000Z");
}

#[tokio::test]
async fn the_reset_mail_leaves_its_message_id_on_the_account() -> Result<()> {
    let app = local_app().await?;
    let accounts = Accounts::from_env().await?;
    let user = create_user(&app, Language::Ja).await?;
    let first = send_reset_mail(&user).await?;
    assert_eq!(
        account(&accounts, &user).await?.last_mail_event,
        None,
        "no event before SES reports one"
    );
    assert_eq!(stored_message_id(&accounts, &user).await?, Some(first.clone()));
    let second = send_reset_mail(&user).await?;
    assert_ne!(first, second);
    assert_eq!(
        stored_message_id(&accounts, &user).await?,
        Some(second),
        "only the latest mail's id is kept"
    );
    Ok(())
}

#[tokio::test]
async fn every_event_type_is_recorded_on_the_account_of_its_mail() -> Result<()> {
    let app = local_app().await?;
    let accounts = Accounts::from_env().await?;
    let now = SystemClock.now().as_millis();
    let cases = [
        ("mail-bounce.json", Some(("bounce", Some("Permanent/General 5.1.1")))),
        ("mail-complaint.json", Some(("complaint", Some("abuse")))),
        ("mail-reject.json", Some(("reject", Some("Bad content")))),
        ("mail-delivery.json", None),
    ];
    for (i, (file, problem)) in cases.into_iter().enumerate() {
        let user = create_user(&app, Language::Ja).await?;
        let message_id = send_reset_mail(&user).await?;
        let at = now + i64::try_from(i)? * 1000;
        let summary = invoke_mail_events(&sample_event(file, &message_id, user.email.as_str(), &iso(at))?).await?;
        assert_eq!(summary.recorded, 1, "{file}: {summary:?}");
        assert_eq!(
            summary.bounces + summary.complaints + summary.rejects + summary.deliveries,
            1,
            "{file}"
        );

        let stored = account(&accounts, &user).await?;
        let kind = file.trim_start_matches("mail-").trim_end_matches(".json");
        assert_eq!(stored.last_mail_event.as_deref(), Some(kind), "{file}");
        assert_eq!(stored.last_mail_event_at, Some(at), "{file}");
        assert_eq!(
            stored
                .mail_problem
                .as_deref()
                .map(|p| (p, stored.mail_problem_detail.as_deref())),
            problem,
            "{file}"
        );
        let rows = mail_problems_until(&accounts, |rows| {
            rows.iter().any(|r| r.username == user.username) == problem.is_some()
        })
        .await?;
        let listed = rows.iter().find(|r| r.username == user.username);
        assert_eq!(listed.is_some(), problem.is_some(), "{file}: listed by mail-problems");
        if let Some(row) = listed {
            assert_eq!(row.mail_problem_at, at);
            assert_eq!(row.email, user.email);
        }
    }
    Ok(())
}

#[tokio::test]
async fn mail_problems_are_listed_newest_first() -> Result<()> {
    let app = local_app().await?;
    let accounts = Accounts::from_env().await?;
    let now = SystemClock.now().as_millis();
    let mut users = Vec::new();
    // Sent in one order, bounced in the other: the list follows the problem's time.
    for offset in [3_000, 1_000, 2_000] {
        let user = create_user(&app, Language::En).await?;
        let message_id = send_reset_mail(&user).await?;
        let event = sample_event("mail-bounce.json", &message_id, user.email.as_str(), &iso(now + offset))?;
        assert_eq!(invoke_mail_events(&event).await?.recorded, 1);
        users.push((offset, user));
    }
    let rows = mail_problems_until(&accounts, |rows| {
        users.iter().all(|(_, u)| rows.iter().any(|r| r.username == u.username))
    })
    .await?;
    let times: Vec<i64> = rows.iter().map(|r| r.mail_problem_at).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first: {times:?}");
    let ours: Vec<i64> = rows
        .iter()
        .filter(|r| users.iter().any(|(_, u)| u.username == r.username))
        .map(|r| r.mail_problem_at - now)
        .collect();
    assert_eq!(ours, vec![3_000, 2_000, 1_000]);
    Ok(())
}

#[tokio::test]
async fn a_newer_delivered_mail_clears_the_problem_but_a_late_delivery_of_the_same_mail_does_not() -> Result<()> {
    let app = local_app().await?;
    let accounts = Accounts::from_env().await?;
    let user = create_user(&app, Language::Ja).await?;
    let now = SystemClock.now().as_millis();
    let first = send_reset_mail(&user).await?;

    let complaint = sample_event("mail-complaint.json", &first, user.email.as_str(), &iso(now + 5_000))?;
    assert_eq!(invoke_mail_events(&complaint).await?.recorded, 1);
    // SNS does not keep order: the same mail's delivery may arrive after its complaint.
    let late_delivery = sample_event("mail-delivery.json", &first, user.email.as_str(), &iso(now + 1_000))?;
    let summary = invoke_mail_events(&late_delivery).await?;
    assert_eq!((summary.deliveries, summary.stale), (1, 1));
    assert_eq!(
        account(&accounts, &user).await?.mail_problem.as_deref(),
        Some("complaint")
    );
    // SNS delivers at least once: the same event twice changes nothing.
    assert_eq!(invoke_mail_events(&complaint).await?.recorded, 1);
    assert_eq!(account(&accounts, &user).await?.mail_problem_at, Some(now + 5_000));

    let second = send_reset_mail(&user).await?;
    // An event about the older mail no longer matches the account.
    let old_bounce = sample_event("mail-bounce.json", &first, user.email.as_str(), &iso(now + 6_000))?;
    assert_eq!(invoke_mail_events(&old_bounce).await?.unmatched, 1);
    let delivered = sample_event("mail-delivery.json", &second, user.email.as_str(), &iso(now + 7_000))?;
    assert_eq!(invoke_mail_events(&delivered).await?.recorded, 1);
    let stored = account(&accounts, &user).await?;
    assert_eq!(stored.mail_problem, None);
    assert_eq!(stored.last_mail_event.as_deref(), Some("delivery"));
    let rows = mail_problems_until(&accounts, |rows| rows.iter().all(|r| r.username != user.username)).await?;
    assert!(rows.iter().all(|r| r.username != user.username));
    Ok(())
}

#[tokio::test]
async fn an_address_change_resolves_the_problem_and_the_next_mail_goes_to_the_new_address() -> Result<()> {
    let app = local_app().await?;
    let accounts = Accounts::from_env().await?;
    let user = create_user(&app, Language::Ja).await?;
    let now = SystemClock.now().as_millis();
    let bounced = send_reset_mail(&user).await?;
    let bounce = sample_event("mail-bounce.json", &bounced, user.email.as_str(), &iso(now))?;
    assert_eq!(invoke_mail_events(&bounce).await?.recorded, 1);
    mail_problems_until(&accounts, |rows| rows.iter().any(|r| r.username == user.username)).await?;

    let new_address = Email::parse(&format!("{}@new.example.jp", user.username)).map_err(|e| anyhow!(e))?;
    let change = admin_change("helpdesk-test", "address abolished; new one confirmed by phone").await?;
    accounts.set_email(&user.username, &new_address, &change).await?;
    let rows = mail_problems_until(&accounts, |rows| rows.iter().all(|r| r.username != user.username)).await?;
    assert!(
        rows.iter().all(|r| r.username != user.username),
        "resolved by the change"
    );
    // A late event about the mail to the old address changes nothing.
    assert_eq!(invoke_mail_events(&bounce).await?.unmatched, 1);
    assert_eq!(account(&accounts, &user).await?.mail_problem, None);

    let moved = User {
        email: new_address.clone(),
        ..user.clone()
    };
    let delivered_to = send_reset_mail(&moved).await?;
    assert_ne!(delivered_to, bounced);
    assert_eq!(
        message_ids_to(user.email.as_str()).await?.len(),
        1,
        "nothing more to the old address"
    );
    Ok(())
}

#[tokio::test]
async fn the_samples_as_they_are_match_no_account_and_garbage_is_not_retried() -> Result<()> {
    for file in [
        "mail-bounce.json",
        "mail-complaint.json",
        "mail-delivery.json",
        "mail-reject.json",
    ] {
        let event: Value = serde_json::from_str(&std::fs::read_to_string(root().join("events").join(file))?)?;
        let summary = invoke_mail_events(&event).await?;
        assert_eq!((summary.unmatched, summary.recorded), (1, 0), "{file}");
    }
    let mut garbage: Value = serde_json::from_str(&std::fs::read_to_string(root().join("events/mail-bounce.json"))?)?;
    garbage["Records"][0]["Sns"]["Message"] = Value::from("Hello from a misconfigured topic");
    let summary = invoke_mail_events(&garbage).await?;
    assert_eq!(
        summary.malformed, 1,
        "counted and acknowledged, not failed (a retry cannot fix it)"
    );
    Ok(())
}

/// The template's indexes, IAM attribute lists and alarms name what the code uses.
#[test]
fn the_template_agrees_with_the_code_on_indexes_attributes_and_metrics() -> Result<()> {
    let text = std::fs::read_to_string(root().join("infra/template.yaml"))?;
    let template = Template::parse(&text)?;
    let users = template
        .tables()?
        .into_iter()
        .find(|t| t.env_var == "USERS_TABLE")
        .ok_or_else(|| anyhow!("no users table"))?;
    let index = |name: &str| {
        users
            .global_secondary_indexes
            .iter()
            .find(|i| i.name == name)
            .ok_or_else(|| anyhow!("no index {name}"))
    };
    let by_message = index(indexes::BY_RESET_MAIL_MESSAGE)?;
    assert_eq!(by_message.key_schema[0].name, attributes::RESET_MAIL_MESSAGE_ID);
    let problems = index(indexes::MAIL_PROBLEMS)?;
    assert_eq!(
        problems.key_schema.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        vec![attributes::MAIL_PROBLEM_FLAG, attributes::MAIL_PROBLEM_AT]
    );
    assert!(!problems.non_key_attributes.iter().any(|a| a == "password_hash"));
    let audit = template
        .tables()?
        .into_iter()
        .find(|t| t.env_var == "AUDIT_LOG_TABLE")
        .ok_or_else(|| anyhow!("no audit log table"))?;
    assert_eq!(
        audit.key_schema.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
        vec![attributes::USERNAME, attributes::AUDIT_ID]
    );

    // mail-events may write exactly the attributes the store writes.
    let yaml: serde_norway::Value = serde_norway::from_str(&text)?;
    let statements = yaml["Resources"]["MailEventsFunction"]["Properties"]["Policies"][0]["Statement"]
        .as_sequence()
        .ok_or_else(|| anyhow!("no mail-events policy"))?;
    let allowed: Vec<&str> = statements
        .iter()
        .find(|s| s["Sid"] == "RecordMailEvent")
        .and_then(|s| s["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"].as_sequence())
        .ok_or_else(|| anyhow!("no attribute list"))?
        .iter()
        .filter_map(serde_norway::Value::as_str)
        .collect();
    for attribute in attributes::MAIL_EVENT_ATTRIBUTES {
        assert!(allowed.contains(&attribute), "mail-events may not write {attribute}");
    }

    // Every metric an alarm watches in the service's own namespace is one the code emits
    // (alarms also watch AWS/Lambda, AWS/ApiGateway, AWS/SES and AWS/SQS metrics).
    let own_namespace = |namespace: &serde_norway::Value| {
        let namespace = match namespace {
            serde_norway::Value::Tagged(tagged) => &tagged.value,
            plain => plain,
        };
        namespace.as_str().is_some_and(|n| n.starts_with("PasswordReset/"))
    };
    let mut watched = Vec::new();
    for (_, resource) in yaml["Resources"].as_mapping().into_iter().flatten() {
        if resource["Type"] != "AWS::CloudWatch::Alarm" {
            continue;
        }
        let properties = &resource["Properties"];
        let single = std::iter::once(properties);
        let math = properties["Metrics"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|metric| &metric["MetricStat"]["Metric"]);
        for metric in single.chain(math) {
            if let (true, Some(name)) = (own_namespace(&metric["Namespace"]), metric["MetricName"].as_str()) {
                watched.push(name.to_owned());
            }
        }
    }
    assert!(watched.len() >= 4, "{watched:?}");
    for name in &watched {
        assert!(metrics::ALL.contains(&name.as_str()), "alarm on unknown metric {name}");
    }
    Ok(())
}

#[tokio::test]
async fn a_disabled_account_keeps_its_problem_listed_with_its_status() -> Result<()> {
    let app = local_app().await?;
    let accounts = Accounts::from_env().await?;
    let user = create_user(&app, Language::Ja).await?;
    let message_id = send_reset_mail(&user).await?;
    let event = sample_event(
        "mail-reject.json",
        &message_id,
        user.email.as_str(),
        &iso(SystemClock.now().as_millis()),
    )?;
    assert_eq!(invoke_mail_events(&event).await?.recorded, 1);
    let change = admin_change("helpdesk-test", "left the institution").await?;
    accounts
        .set_status(&user.username, AccountStatus::Disabled, &change)
        .await?;
    let rows = mail_problems_until(&accounts, |rows| {
        rows.iter()
            .any(|r| r.username == user.username && r.status == AccountStatus::Disabled)
    })
    .await?;
    let row = rows
        .iter()
        .find(|r| r.username == user.username)
        .ok_or_else(|| anyhow!("not listed"))?;
    assert_eq!(row.mail_problem, "reject");
    Ok(())
}

#[tokio::test]
async fn a_complaint_published_to_another_topic_is_refused() -> Result<()> {
    let app = local_app().await?;
    let accounts = Accounts::from_env().await?;
    let user = create_user(&app, Language::Ja).await?;
    let message_id = send_reset_mail(&user).await?;
    let mut forged = sample_event(
        "mail-complaint.json",
        &message_id,
        user.email.as_str(),
        &iso(SystemClock.now().as_millis()),
    )?;
    forged["Records"][0]["Sns"]["TopicArn"] = Value::from("arn:aws:sns:ap-northeast-1:999999999999:anyone");
    let summary = invoke_mail_events(&forged).await?;
    assert_eq!((summary.foreign, summary.recorded), (1, 0), "{summary:?}");
    assert_eq!(account(&accounts, &user).await?.mail_problem, None);
    Ok(())
}
