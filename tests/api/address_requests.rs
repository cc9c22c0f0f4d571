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
pub(crate) async fn mail_with_subject(address: &str, subject: &str) -> Result<()> {
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

    // The registered address is told (without the requester's address, even masked: its
    // domain is typed text), and the administrators' address.
    let notices = wait_for_mails(user.email.as_str(), 1).await?;
    let notice = notices.last().ok_or_else(|| anyhow!("no notice"))?;
    assert!(notice.subject.contains("変更が申請されました"), "{}", notice.subject);
    assert!(!notice.text().contains(&Email::parse(&new_email)?.masked()));
    assert!(
        !notice.text().contains("clinic.example.jp"),
        "the notice shows the typed address"
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
    // Approve waits for the notice to the registered address and the owner's time to object.
    let mut sent_at = None;
    for _ in 0..300 {
        sent_at = requests.find(&id).await?.notice_sent_at;
        if sent_at.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let sent_at = sent_at.ok_or_else(|| anyhow!("the notice was never recorded as sent"))?;
    let mut change = admin_change("helpdesk-test", "matches the prefecture's list").await?;
    change.at = password_reset_tests::reset_core::domain::Timestamp::from_millis(sent_at)
        .plus_secs(requests.objection_window_secs() + 60);
    let approval = requests.approve(&accounts, &queue().await?, &id, &change).await?;
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

    // One username from one client: the third request stores and mails nothing, and gets the
    // same answer. (Other clients have allowances of their own: see the fallback bound below.)
    let username = random_username();
    let one_client = random_client_ip();
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(invoke_address(&desk, form_event(username.as_str(), &new_email, &one_client)).await?);
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

/// The form with the typed items of the caller's choosing.
fn typed_form(username: &str, items: [&str; 3], new_email: &str, client: &str) -> EventBuilder {
    EventBuilder::form(
        FORM,
        &[
            ("username", username),
            ("institution", items[0]),
            ("location", items[1]),
            ("contact_person", items[2]),
            ("new_email", new_email),
        ],
    )
    .source_ip(client)
}

/// Every stored request for `username`. A scan, which only a test may do: no request path needs
/// to find requests by username.
async fn stored_requests_for(
    desk: &reset_core::service::AddressDesk,
    username: &str,
) -> Result<Vec<reset_core::domain::AddressRequest>> {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let output = client
            .scan()
            .table_name(&desk.app.settings.address.requests_table)
            .filter_expression("username = :u")
            .expression_attribute_values(":u", aws_sdk_dynamodb::types::AttributeValue::S(username.to_owned()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        items.extend(output.items.unwrap_or_default());
        start = output.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    let mut found = Vec::new();
    for item in items {
        let id = item
            .get("request_id")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| anyhow!("an item without request_id"))?;
        let request = desk
            .requests
            .find_request(&AddressRequestId::parse(id)?)
            .await?
            .ok_or_else(|| anyhow!("{id} vanished"))?;
        found.push(request);
    }
    Ok(found)
}

/// The address-change function and send-mail in-process over a queue of the test's own, so
/// that "no mail" is decided when the queue is empty, not after a sleep.
async fn own_desk_and_sender(
    tag: &str,
    change: impl FnOnce(&mut reset_core::Settings),
    clock: Arc<dyn Clock>,
) -> Result<(OwnMailQueue, reset_core::service::AddressDesk, send_mail::SendMail)> {
    let own = OwnMailQueue::create(&format!("{tag}-{}", random_username())).await?;
    let desk = local_desk_with(
        change,
        Some(Arc::new(own.mail_queue()) as Arc<dyn MailQueue>),
        clock.clone(),
    )
    .await?;
    let sender = in_process_sender_with_clock(desk.app.settings.clone(), &own, clock).await?;
    Ok((own, desk, sender))
}

#[tokio::test]
async fn an_unknown_username_is_answered_alike_but_never_mailed_verifiable_or_listed() -> Result<()> {
    let (own, desk, sender) = own_desk_and_sender("unknown", |_| {}, Arc::new(SystemClock)).await?;
    let app = local_app().await?;
    let user = create_user(&app, Language::Ja).await?;
    let unknown = random_username();
    // One typed address for both: the pages repeat it, so they can be compared byte for byte.
    let new_email = new_address("stranger");
    let client = random_client_ip();
    let known_answer = invoke_address(&desk, form_event(user.username.as_str(), &new_email, &client)).await?;
    let unknown_answer = invoke_address(&desk, form_event(unknown.as_str(), &new_email, &client)).await?;
    assert_eq!(known_answer.status, 200, "{}", known_answer.body);
    assert_eq!(
        (known_answer.status, &known_answer.headers, &known_answer.body),
        (unknown_answer.status, &unknown_answer.headers, &unknown_answer.body)
    );
    assert_eq!(own.deliver(&sender).await?, 2, "both requests were queued alike");

    // The queue is empty and send-mail idle: what the typed address got is all it will get.
    let mails = mails_to(&new_email).await?;
    assert_eq!(mails.len(), 1, "the typed address was mailed for an unknown username");
    assert!(mails[0].text().contains(user.username.as_str()));
    assert!(mails.iter().all(|m| !m.text().contains(unknown.as_str())));

    // Stored, so the request cost the same work, but never verifiable and never listed.
    let stored = stored_requests_for(&desk, unknown.as_str()).await?;
    assert_eq!(stored.len(), 1);
    let request = &stored[0];
    assert_eq!(request.state, AddressRequestState::Unverified);
    assert_eq!(request.verification_hash, None, "a link exists for an unknown username");
    let guess = confirm(&desk, &request.request_id, &"A".repeat(43)).await?;
    assert_eq!(guess.status, 400);
    assert!(!pending_ids(&desk).await?.contains(&request.request_id));
    let requests =
        AddressRequests::from_config(&aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await)?;
    let listed = requests.pending(SystemClock.now()).await?;
    assert!(
        listed.iter().all(|row| row.username != unknown),
        "the administrators see it"
    );
    Ok(())
}

#[tokio::test]
async fn the_confirmation_mail_carries_none_of_the_typed_details_and_the_page_shows_them() -> Result<()> {
    let (own, desk, sender) = own_desk_and_sender("typed", |_| {}, Arc::new(SystemClock)).await?;
    let app = local_app().await?;
    let user = create_user(&app, Language::Ja).await?;
    let new_email = new_address("typed");
    // What a phisher would type: a link, a telephone number, an instruction.
    let items = [
        "至急 https://evil.example/login 本人確認",
        "お電話ください 0120-999-999",
        "下のURLからログインしてください",
    ];
    let answer = invoke_address(
        &desk,
        typed_form(user.username.as_str(), items, &new_email, &random_client_ip()),
    )
    .await?;
    assert_eq!(answer.status, 200, "{}", answer.body);
    own.deliver(&sender).await?;
    let mails = wait_for_mails(&new_email, 1).await?;
    let mail = &mails[0];
    for typed in items.iter().chain(["evil.example", "0120-999-999"].iter()) {
        for (part, text) in [
            ("subject", mail.subject.as_str()),
            ("text", mail.text()),
            ("html", mail.body.html.as_deref().unwrap_or_default()),
        ] {
            assert!(!text.contains(typed), "the mail's {part} carries the typed {typed:?}");
        }
    }
    assert!(
        mail.text().contains(user.username.as_str()),
        "the username names the account"
    );
    // Behind the link, the requester sees what will be confirmed.
    let (_, id, token) = mail.address_link().ok_or_else(|| anyhow!("no link"))?;
    let page = invoke_address(&desk, EventBuilder::get(&format!("{VERIFY}?id={id}&token={token}"))).await?;
    assert_eq!(page.status, 200, "{}", page.body);
    for typed in items {
        assert!(
            page.body.contains(typed),
            "the confirmation page does not show {typed:?}"
        );
    }
    // The notice to the registered address, once confirmed, carries no typed text either.
    assert_eq!(
        confirm(&desk, &AddressRequestId::parse(&id)?, &token).await?.status,
        200
    );
    own.deliver(&sender).await?;
    let notices = wait_for_mails(user.email.as_str(), 1).await?;
    for notice in &notices {
        for typed in items.iter().chain(["clinic.example.jp", "evil.example"].iter()) {
            assert!(!notice.text().contains(typed), "the notice carries the typed {typed:?}");
            assert!(!notice.subject.contains(typed));
        }
    }
    Ok(())
}

/// The verification jobs in `queue`, as (username, new address) of the requests they are for.
async fn queued_requests(
    desk: &reset_core::service::AddressDesk,
    queue: &RecordingQueue,
) -> Result<Vec<(String, String)>> {
    let mut found = Vec::new();
    for job in queue.drain() {
        if let reset_core::domain::QueuedMail::AddressVerification { request_id, .. } = &job.mail {
            let request = desk
                .requests
                .find_request(request_id)
                .await?
                .ok_or_else(|| anyhow!("queued, not stored"))?;
            found.push((request.username.to_string(), request.new_email.as_str().to_owned()));
        }
    }
    Ok(found)
}

#[tokio::test]
async fn strangers_on_three_clients_cannot_shut_the_fallback_and_a_429_spends_nothing() -> Result<()> {
    let queue = Arc::new(RecordingQueue::default());
    // Tomorrow, one minute into an hour: the windows are the test's own and nothing expires early.
    let start = SystemClock.now().plus_secs(24 * 3600);
    let start = start.plus_secs(60 - start.as_secs().rem_euclid(3600));
    let clock = Arc::new(FixedClock::at(start));
    let desk = local_desk_with(
        |s| {
            s.address.per_client_per_hour = 10;
            s.address.per_username_per_day = 3;
        },
        Some(queue.clone() as Arc<dyn MailQueue>),
        clock.clone(),
    )
    .await?;
    let owner = random_username();

    // Three strangers ask as often as they like for the owner's username: same answer each time.
    let mut answers = Vec::new();
    for stranger in 0..3 {
        let client = random_client_ip();
        for attempt in 0..5 {
            let typed = new_address(&format!("s{stranger}a{attempt}"));
            let answer = invoke_address(&desk, form_event(owner.as_str(), &typed, &client)).await?;
            assert_eq!(answer.status, 200);
            // The page shows the requester what was typed; everything else is one page.
            answers.push(answer.body.replace(&typed, "TYPED"));
        }
    }
    assert!(
        answers.iter().all(|a| *a == answers[0]),
        "the answers differ beyond the typed address"
    );
    let from_strangers = queued_requests(&desk, &queue).await?;
    assert_eq!(
        from_strangers.len(),
        9,
        "each client stores at most its allowance for one username"
    );

    // The owner, from the owner's own client, is not walled out by them.
    let owners_address = new_address("owner");
    let answer = invoke_address(&desk, form_event(owner.as_str(), &owners_address, &random_client_ip())).await?;
    assert_eq!(answer.status, 200);
    assert_eq!(
        queued_requests(&desk, &queue).await?,
        vec![(owner.to_string(), owners_address.clone())],
        "the owner's request was dropped because strangers asked first"
    );

    // A client at its hourly limit gets 429s, and those spend nothing of a username's allowance.
    let colleague = random_username();
    let busy = random_client_ip();
    for _ in 0..10 {
        let other = invoke_address(
            &desk,
            form_event(random_username().as_str(), &new_address("busy"), &busy),
        )
        .await?;
        assert_eq!(other.status, 200);
    }
    queue.drain();
    for _ in 0..3 {
        let limited = invoke_address(&desk, form_event(colleague.as_str(), &new_address("limited"), &busy)).await?;
        assert_eq!(limited.status, 429);
    }
    assert!(queue.drain().is_empty());
    clock.advance_secs(3600);
    for _ in 0..3 {
        let later = invoke_address(&desk, form_event(colleague.as_str(), &new_address("later"), &busy)).await?;
        assert_eq!(later.status, 200);
    }
    assert_eq!(
        queued_requests(&desk, &queue).await?.len(),
        3,
        "the 429s spent the colleague's allowance"
    );
    Ok(())
}

/// Delivers `own` until `address` has `count` mails: over-cap jobs come back after a short real
/// delay (the seconds left in the window on the test's clock), so this polls, bounded.
async fn deliver_until(own: &OwnMailQueue, sender: &send_mail::SendMail, address: &str, count: usize) -> Result<()> {
    for _ in 0..100 {
        own.deliver(sender).await?;
        if mails_to(address).await?.len() >= count {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    bail!("{address} never got {count} mail(s)")
}

#[tokio::test]
async fn the_service_wide_cap_holds_and_over_cap_confirmations_wait_and_are_mailed_after_it() -> Result<()> {
    // Two seconds before 23:00 of a day ahead: the windows are this test's own, and each wait
    // ends two real seconds later (a deferred job comes back when its window ends).
    let day = SystemClock.now().plus_secs(5 * 24 * 3600);
    let day = day.plus_secs(-day.as_secs().rem_euclid(24 * 3600));
    let clock = Arc::new(FixedClock::at(day.plus_secs(23 * 3600 - 2)));
    let (own, desk, sender) = own_desk_and_sender(
        "cap",
        |s| {
            s.address.confirmations_per_hour = 2;
            s.address.confirmations_per_day = 3;
        },
        clock.clone(),
    )
    .await?;
    let app = local_app().await?;
    let mut addresses = Vec::new();
    let submit = |n: usize| {
        let (app, desk) = (&app, &desk);
        async move {
            let user = create_user(app, Language::Ja).await?;
            let address = new_address(&format!("cap{n}"));
            let answer =
                invoke_address(desk, form_event(user.username.as_str(), &address, &random_client_ip())).await?;
            assert_eq!(answer.status, 200, "over the cap, the requester sees nothing different");
            Ok::<_, anyhow::Error>(address)
        }
    };
    let mailed = |addresses: &[String]| {
        let addresses = addresses.to_vec();
        async move {
            let mut count = 0;
            for address in &addresses {
                count += mails_to(address).await?.len();
            }
            Ok::<_, anyhow::Error>(count)
        }
    };
    for n in 0..3 {
        addresses.push(submit(n).await?);
    }
    own.deliver(&sender).await?;
    assert_eq!(mailed(&addresses).await?, 2, "the hourly cap let more through");

    // 23:00: a new hour, and the job that waited is mailed (the day's third).
    clock.advance_secs(3);
    deliver_until(&own, &sender, &addresses[2], 1).await?;
    assert_eq!(mailed(&addresses).await?, 3);

    // 23:59:58: a fourth request waits for the next day.
    clock.advance_secs(3600 - 4);
    addresses.push(submit(3).await?);
    own.deliver(&sender).await?;
    assert_eq!(mailed(&addresses).await?, 3, "the daily cap let a fourth through");
    clock.advance_secs(3);
    deliver_until(&own, &sender, &addresses[3], 1).await?;
    // None lost, none twice.
    for address in &addresses {
        let mails = mails_to(address).await?;
        assert_eq!(mails.len(), 1, "{address}");
        assert!(mails[0].address_link().is_some());
    }
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
