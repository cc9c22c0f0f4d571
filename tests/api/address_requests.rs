//! The address-change request through the real path: the address-change handler over DynamoDB
//! Local and moto's SQS, send-mail under `cargo lambda watch` (fed by the local event source
//! mapping) mailing to the SES v2 emulator, and the admin tool's library for the decisions.

use crate::admin_support::*;
use anyhow::{anyhow, bail, Result};
use password_reset_tests::reset_core::domain::{
    AddressRequestId, AddressRequestState, Clock, Email, FixedClock, Language, SystemClock, User,
};
use password_reset_tests::reset_core::mail::{MailQueue, RecordingQueue};
use password_reset_tests::*;
use reset_admin::address_requests::AddressRequests;
use reset_admin::audit::AuditAction;
use reset_admin::{Accounts, AdminError};
use std::sync::Arc;

const FORM: &str = "/password-reset/address-change";
const VERIFY: &str = "/password-reset/address-change/verify";

/// A unique new address, so that each test reads only its own mail.
fn new_address(tag: &str) -> String {
    format!("{tag}-{}@clinic.example.jp", random_username())
}

fn form_event(username: &str, new_email: &str, client: &str) -> EventBuilder {
    EventBuilder::form(
        FORM,
        &[
            ("username", username),
            ("institution", "さくら内科クリニック"),
            ("location", "東京都千代田区霞が関1-2-2"),
            ("contact_person", "山田 花子"),
            ("new_email", new_email),
        ],
    )
    .source_ip(client)
}

/// Submits a request and returns the verification link's id and token from the mail.
async fn request_and_read_link(
    desk: &reset_core::service::AddressDesk,
    username: &str,
    new_email: &str,
) -> Result<(AddressRequestId, String)> {
    let before = mails_to(new_email).await?.len();
    let answer = invoke_address(desk, form_event(username, new_email, &random_client_ip())).await?;
    if answer.status != 200 {
        bail!("request answered {}: {}", answer.status, answer.body);
    }
    let mails = wait_for_mails(new_email, before + 1).await?;
    let (_, id, token) = mails
        .last()
        .and_then(Mail::address_link)
        .ok_or_else(|| anyhow!("no verification link in the mail"))?;
    Ok((AddressRequestId::parse(&id)?, token))
}

async fn pending_ids(desk: &reset_core::service::AddressDesk) -> Result<Vec<AddressRequestId>> {
    Ok(desk
        .requests
        .pending_requests(SystemClock.now())
        .await?
        .into_iter()
        .map(|r| r.request_id)
        .collect())
}

async fn confirm(desk: &reset_core::service::AddressDesk, id: &AddressRequestId, token: &str) -> Result<Answer> {
    invoke_address(
        desk,
        EventBuilder::form(VERIFY, &[("id", id.as_str()), ("token", token)]),
    )
    .await
}

/// Waits until `address` has a mail whose subject contains `subject` (other mails to it come
/// first: the verification link, the notice of the request).
async fn mail_with_subject(address: &str, subject: &str) -> Result<()> {
    for _ in 0..300 {
        if mails_to(address).await?.iter().any(|m| m.subject.contains(subject)) {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    bail!("no mail \"{subject}\" for {address}")
}

/// The service's mail queue, as `reset-admin` reaches it.
async fn queue() -> Result<password_reset_tests::reset_core::mail::SqsMailQueue> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    Ok(reset_admin::users::mail_queue_from_env(&config)?)
}

#[tokio::test]
async fn known_and_unknown_usernames_get_the_identical_answer_and_the_same_mail() -> Result<()> {
    let app = local_app().await?;
    let desk = local_desk().await?;
    let user = create_user(&app, Language::Ja).await?;
    let unknown = random_username();
    // One new address for both, so that the pages (which show it) can be compared byte for byte.
    let new_email = new_address("enum");
    let client = random_client_ip();
    let known_answer = invoke_address(&desk, form_event(user.username.as_str(), &new_email, &client)).await?;
    let unknown_answer = invoke_address(&desk, form_event(unknown.as_str(), &new_email, &client)).await?;
    assert_eq!(known_answer.status, 200, "{}", known_answer.body);
    assert_eq!(known_answer.status, unknown_answer.status);
    assert_eq!(known_answer.headers, unknown_answer.headers);
    // The pages differ only in the username they repeat? They do not repeat it at all.
    assert_eq!(known_answer.body, unknown_answer.body);
    assert_eq!(known_answer.title(), "確認のメールを送信しました");
    // Both get their verification mail: the new mailbox cannot tell them apart either.
    let mails = wait_for_mails(&new_email, 2).await?;
    assert!(mails.iter().all(|m| m.address_link().is_some()));
    assert!(mails.iter().any(|m| m.text().contains(user.username.as_str())));
    assert!(mails.iter().any(|m| m.text().contains(unknown.as_str())));
    Ok(())
}

#[tokio::test]
async fn a_request_enters_the_queue_only_when_confirmed_from_the_new_address() -> Result<()> {
    let app = local_app().await?;
    let desk = local_desk().await?;
    let user = create_user(&app, Language::Ja).await?;
    let new_email = new_address("verify");
    let (id, token) = request_and_read_link(&desk, user.username.as_str(), &new_email).await?;
    let stored = desk
        .requests
        .find_request(&id)
        .await?
        .ok_or_else(|| anyhow!("not stored"))?;
    assert_eq!(stored.state, AddressRequestState::Unverified);
    assert!(!pending_ids(&desk).await?.contains(&id), "unverified, yet queued");

    // Opening the link (what a mail scanner does) shows the button and changes nothing.
    for _ in 0..3 {
        let opened = invoke_address(&desk, EventBuilder::get(&format!("{VERIFY}?id={id}&token={token}"))).await?;
        assert_eq!(opened.status, 200, "{}", opened.body);
        assert_eq!(opened.title(), "申請を確定しますか？");
    }
    assert!(!pending_ids(&desk).await?.contains(&id), "a GET confirmed the request");

    // A wrong token for the right id confirms nothing.
    let wrong = confirm(&desk, &id, "A".repeat(43).as_str()).await?;
    assert_eq!(wrong.status, 400);
    assert!(!pending_ids(&desk).await?.contains(&id));

    let confirmed = confirm(&desk, &id, &token).await?;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);
    assert_eq!(confirmed.title(), "申請を受け付けました");
    assert!(pending_ids(&desk).await?.contains(&id), "confirmed, yet not queued");
    // The link works once.
    assert_eq!(confirm(&desk, &id, &token).await?.status, 400);

    // The registered address is told (masked new address), and the administrators' address.
    let notices = wait_for_mails(user.email.as_str(), 1).await?;
    let notice = notices.last().ok_or_else(|| anyhow!("no notice"))?;
    assert!(notice.subject.contains("変更が申請されました"), "{}", notice.subject);
    assert!(notice.text().contains(&Email::parse(&new_email)?.masked()));
    assert!(
        !notice.text().contains(&new_email),
        "the notice shows the new address in full"
    );
    // The administrators' address is shared by every test: wait for this request's note.
    if let Some(admins) = &app.settings.address.notify_address {
        let mut found = false;
        for _ in 0..300 {
            found = mails_to(admins.as_str())
                .await?
                .iter()
                .any(|m| m.text().contains(id.as_str()));
            if found {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(found, "no note about {id} for the administrators");
    }
    Ok(())
}

#[tokio::test]
async fn a_never_confirmed_request_never_reaches_the_queue_and_dies_with_its_link() -> Result<()> {
    let app = local_app().await?;
    let user = create_user(&app, Language::En).await?;
    let new_email = new_address("never");
    let desk = local_desk().await?;
    let (id, token) = request_and_read_link(&desk, user.username.as_str(), &new_email).await?;
    assert!(!pending_ids(&desk).await?.contains(&id));
    // A day later (the link's lifetime) the link is dead, on the clock: the item is still stored.
    let later = Arc::new(FixedClock::at(SystemClock.now().plus_secs(24 * 3600 + 60)));
    let desk_later = local_desk_with(|_| {}, None, later).await?;
    let opened = invoke_address(
        &desk_later,
        EventBuilder::get(&format!("{VERIFY}?id={id}&token={token}&lang=en")),
    )
    .await?;
    assert_eq!(opened.status, 400);
    assert_eq!(opened.title(), "This link is invalid or has expired");
    assert_eq!(confirm(&desk_later, &id, &token).await?.status, 400);
    assert!(
        desk.requests.find_request(&id).await?.is_some(),
        "the item is still stored"
    );
    assert!(!pending_ids(&desk).await?.contains(&id));
    // The registered address heard nothing of a request that was never confirmed.
    assert!(settled_mails_to(user.email.as_str()).await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_pending_request_expires_on_the_clock_for_the_queue_and_the_administrators() -> Result<()> {
    let app = local_app().await?;
    let user = create_user(&app, Language::Ja).await?;
    let desk = local_desk().await?;
    let (id, token) = request_and_read_link(&desk, user.username.as_str(), &new_address("expiry")).await?;
    assert_eq!(confirm(&desk, &id, &token).await?.status, 200);
    let keep = i64::from(app.settings.address.keep_days) * 24 * 3600;
    let after = SystemClock.now().plus_secs(keep + 60);
    let listed: Vec<_> = desk.requests.pending_requests(after).await?;
    assert!(
        listed.iter().all(|r| r.request_id != id),
        "an expired request is listed"
    );
    let accounts = Accounts::from_env().await?;
    let requests =
        AddressRequests::from_config(&aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await)?;
    let mut change = admin_change("helpdesk-test", "too late").await?;
    change.at = after;
    let refused = requests.approve(&accounts, &queue().await?, &id, &change).await;
    assert!(matches!(refused, Err(AdminError::RequestExpired(_))), "{refused:?}");
    let account = accounts.find(&user.username).await?.ok_or_else(|| anyhow!("gone"))?;
    assert_eq!(account.email, user.email, "an expired request changed the address");
    Ok(())
}

#[tokio::test]
async fn rejecting_leaves_the_account_alone_and_is_audited() -> Result<()> {
    let app = local_app().await?;
    let user = create_user(&app, Language::Ja).await?;
    let desk = local_desk().await?;
    let (id, token) = request_and_read_link(&desk, user.username.as_str(), &new_address("reject")).await?;
    assert_eq!(confirm(&desk, &id, &token).await?.status, 200);
    let accounts = Accounts::from_env().await?;
    let requests =
        AddressRequests::from_config(&aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await)?;
    let change = admin_change("helpdesk-test", "institution unknown to the prefecture").await?;
    requests.reject(&accounts, &id, &change).await?;

    let stored = requests.find(&id).await?;
    assert_eq!(stored.state, AddressRequestState::Rejected);
    assert_eq!(stored.decided_by.as_deref(), Some("helpdesk-test"));
    assert!(!pending_ids(&desk).await?.contains(&id));
    let account = accounts.find(&user.username).await?.ok_or_else(|| anyhow!("gone"))?;
    assert_eq!(account.email, user.email);
    let trail = accounts.audit_trail(&user.username).await?;
    let entry = trail
        .iter()
        .find(|e| e.action == AuditAction::RejectAddressRequest)
        .ok_or_else(|| anyhow!("no audit entry"))?;
    assert!(entry.reason.contains(id.as_str()) && entry.reason.contains("institution unknown"));
    assert_eq!(entry.caller_arn.as_deref(), Some(LOCAL_CALLER_ARN));
    // Decided once: neither a second reject nor an approve changes anything.
    assert!(matches!(
        requests.approve(&accounts, &queue().await?, &id, &change).await,
        Err(AdminError::RequestNotPending { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn approving_changes_the_address_through_set_email_and_kills_older_links() -> Result<()> {
    let app = local_app().await?;
    let user: User = create_user(&app, Language::Ja).await?;
    let old_link = request_link(&app, &user).await?;
    let desk = local_desk().await?;
    let new_email = new_address("approve");
    let (id, token) = request_and_read_link(&desk, user.username.as_str(), &new_email).await?;
    assert_eq!(confirm(&desk, &id, &token).await?.status, 200);
    let accounts = Accounts::from_env().await?;
    let requests =
        AddressRequests::from_config(&aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await)?;
    let approval = requests
        .approve(
            &accounts,
            &queue().await?,
            &id,
            &admin_change("helpdesk-test", "matches the prefecture's list").await?,
        )
        .await?;
    assert!(approval.change.is_some());
    let account = accounts.find(&user.username).await?.ok_or_else(|| anyhow!("gone"))?;
    assert_eq!(account.email.as_str(), new_email);
    // Approving is the administrators' address change: both addresses are told.
    mail_with_subject(user.email.as_str(), "登録メールアドレスが変更されました").await?;
    mail_with_subject(&new_email, "このアドレスが登録メールアドレスになりました").await?;
    assert_eq!(requests.find(&id).await?.state, AddressRequestState::Approved);
    assert!(!pending_ids(&desk).await?.contains(&id));
    let actions: Vec<AuditAction> = accounts
        .audit_trail(&user.username)
        .await?
        .iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&AuditAction::SetEmail) && actions.contains(&AuditAction::ApproveAddressRequest));
    // The link mailed to the old address is dead.
    let opened = invoke(
        &app,
        Function::VerifyToken,
        EventBuilder::get(&format!("/password-reset/confirm?token={old_link}")),
    )
    .await?;
    assert_eq!(opened.status, 400);
    Ok(())
}

#[tokio::test]
async fn per_client_and_per_username_limits() -> Result<()> {
    let queue = Arc::new(RecordingQueue::default());
    let desk = local_desk_with(
        |s| {
            s.address.per_client_per_hour = 3;
            s.address.per_username_per_day = 2;
        },
        Some(queue.clone() as Arc<dyn MailQueue>),
        Arc::new(SystemClock),
    )
    .await?;
    let new_email = new_address("limits");

    // One username from three clients: the third request stores and mails nothing, and gets
    // the same answer.
    let username = random_username();
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(invoke_address(&desk, form_event(username.as_str(), &new_email, &random_client_ip())).await?);
    }
    assert!(answers.iter().all(|a| a.status == 200 && a.body == answers[0].body));
    assert_eq!(
        queue.drain().len(),
        2,
        "the per-username limit let a third request through"
    );

    // One client, three different usernames, then a fourth: 429 with Retry-After.
    let client = random_client_ip();
    for _ in 0..3 {
        let answer = invoke_address(&desk, form_event(random_username().as_str(), &new_email, &client)).await?;
        assert_eq!(answer.status, 200);
    }
    let limited = invoke_address(&desk, form_event(random_username().as_str(), &new_email, &client)).await?;
    assert_eq!(limited.status, 429);
    assert!(limited.header("retry-after").is_some());
    assert_eq!(queue.drain().len(), 3);
    Ok(())
}

#[tokio::test]
async fn bad_items_are_listed_on_the_form_and_nothing_is_stored() -> Result<()> {
    let queue = Arc::new(RecordingQueue::default());
    let desk = local_desk_with(|_| {}, Some(queue.clone() as Arc<dyn MailQueue>), Arc::new(SystemClock)).await?;
    let answer = invoke_address(
        &desk,
        EventBuilder::form(
            FORM,
            &[
                ("username", "ex0"),
                ("institution", ""),
                ("location", "東京都"),
                ("contact_person", "山田\u{202E}花子"),
                ("new_email", "not-an-address"),
            ],
        ),
    )
    .await?;
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains("error-summary"));
    assert!(answer.body.contains("value=\"東京都\""), "the typed location is kept");
    for id in ["#username", "#institution", "#contact_person", "#new_email"] {
        assert!(answer.body.contains(&format!("href=\"{id}\"")), "{id} not listed");
    }
    assert!(queue.drain().is_empty());
    // Garbage links are refused before any database call.
    let garbage = invoke_address(&desk, EventBuilder::get(&format!("{VERIFY}?id=../x&token=y"))).await?;
    assert_eq!(garbage.status, 400);
    Ok(())
}

/// `RequestMinResponseMs` holds for address-change submissions too (README: the floor hides how
/// long the counters took): known, unknown, refused and limited answers alike.
#[tokio::test]
async fn every_submission_takes_at_least_the_response_floor() -> Result<()> {
    let floor = std::time::Duration::from_millis(300);
    let app = local_app().await?;
    let desk = local_desk_with(
        |s| {
            s.request_min_response = floor;
            s.address.per_client_per_hour = 1;
        },
        None,
        Arc::new(SystemClock),
    )
    .await?;
    let user = create_user(&app, Language::Ja).await?;
    let client = random_client_ip();
    let cases = [
        (
            "known",
            form_event(user.username.as_str(), &new_address("floor"), &client),
            200,
        ),
        (
            "limited",
            form_event(random_username().as_str(), &new_address("floor"), &client),
            429,
        ),
        (
            "unknown",
            form_event(random_username().as_str(), &new_address("floor"), &random_client_ip()),
            200,
        ),
        ("refused", form_event("ex0", "not-an-address", &random_client_ip()), 400),
    ];
    for (case, event, status) in cases {
        let started = std::time::Instant::now();
        let answer = invoke_address(&desk, event).await?;
        let took = started.elapsed();
        assert_eq!(answer.status, status, "{case}: {}", answer.body);
        assert!(took >= floor, "{case} answered in {took:?}, before the {floor:?} floor");
    }
    Ok(())
}
