//! Approving an address request follows the account (issue 23, point 3): the request records
//! the account as its registered address was told; approve refuses when the account changed
//! since, before the notice was sent and the objection window passed (unless the registered
//! address bounces), and approve and reject are one transaction each, so they cannot
//! interleave. Against DynamoDB Local, moto (SQS, STS) and send-mail under `cargo lambda watch`.

use crate::admin_support::*;
use anyhow::{anyhow, bail, Result};
use password_reset_tests::reset_core::domain::{
    address_fingerprint, AddressRequest, AddressRequestForm, AddressRequestId, AddressRequestState, Clock, Email,
    Language, NoticeFate, SystemClock, Timestamp, User,
};
use password_reset_tests::reset_core::store::attributes;
use password_reset_tests::*;
use reset_admin::accounts::AccountRecord;
use reset_admin::address_requests::{AddressRequests, Refusal};
use reset_admin::audit::AuditAction;
use reset_admin::render::RequestView;
use reset_admin::{Accounts, AdminError, Reason};

const HOUR: i64 = 3600;
const WINDOW: i64 = 72 * HOUR;

async fn config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

async fn requests() -> Result<AddressRequests> {
    Ok(AddressRequests::from_config(&config().await)?)
}

async fn queue() -> Result<password_reset_tests::reset_core::mail::SqsMailQueue> {
    Ok(reset_admin::users::mail_queue_from_env(&config().await)?)
}

/// An administrator's change at `secs` from now.
async fn change_in(secs: i64, reason: &str) -> Result<reset_admin::Change> {
    let mut change = admin_change("helpdesk-test", reason).await?;
    change.at = SystemClock.now().plus_secs(secs);
    Ok(change)
}

async fn account(accounts: &Accounts, user: &User) -> Result<AccountRecord> {
    accounts
        .find(&user.username)
        .await?
        .ok_or_else(|| anyhow!("no account"))
}

fn new_address() -> String {
    format!("approve-{}@clinic.example.jp", random_username())
}

/// A request for `user` as the real path leaves it once its notice went out: pending, the
/// notice sent at `sent_at`, the account recorded as it is now.
async fn pending_request(accounts: &Accounts, user: &User, sent_at: Timestamp) -> Result<AddressRequest> {
    let input = AddressRequestForm {
        username: user.username.as_str().into(),
        institution: "さくら内科クリニック".into(),
        location: "東京都千代田区霞が関1-2-2".into(),
        contact_person: "山田 花子".into(),
        new_email: new_address(),
    }
    .parse()
    .map_err(|e| anyhow!("{e:?}"))?;
    let now = SystemClock.now();
    let mut request = AddressRequest::new(input, Language::Ja, now, 14)?;
    let current = account(accounts, user).await?;
    request.state = AddressRequestState::Pending;
    request.pending_flag = Some("pending".into());
    request.verified_at = Some(now.as_millis());
    request.notice = Some(NoticeFate::Sent);
    request.notice_sent_at = Some(sent_at.as_millis());
    request.account_epoch = Some(current.credential_epoch);
    request.account_address_sha256 = Some(address_fingerprint(current.email.as_str()));
    local_desk().await?.requests.create_request(&request).await?;
    Ok(request)
}

/// The app, the admin tool's accounts and requests, on the local stack.
async fn stack() -> Result<(password_reset_tests::reset_core::App, Accounts, AddressRequests)> {
    Ok((local_app().await?, Accounts::from_env().await?, requests().await?))
}

/// A new account with a pending request whose notice went out just now.
async fn user_with_request(
    app: &password_reset_tests::reset_core::App,
    accounts: &Accounts,
) -> Result<(User, AddressRequest)> {
    let user = create_user(app, Language::Ja).await?;
    let request = pending_request(accounts, &user, SystemClock.now()).await?;
    Ok((user, request))
}

/// How many `set-email` entries the account's audit log holds.
async fn address_changes_audited(accounts: &Accounts, user: &User) -> Result<usize> {
    Ok(accounts
        .audit_trail(&user.username)
        .await?
        .iter()
        .filter(|e| e.action == AuditAction::SetEmail)
        .count())
}

fn refusals_of(result: Result<reset_admin::address_requests::Approval, AdminError>) -> Vec<Refusal> {
    match result {
        Err(AdminError::ApprovalRefused { refusals, .. }) => refusals,
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test]
async fn the_real_path_records_the_notice_and_approve_waits_for_the_objection_window() -> Result<()> {
    let app = local_app().await?;
    let desk = local_desk().await?;
    let user = create_user(&app, Language::Ja).await?;
    let new_email = new_address();
    let client = random_client_ip();
    let form = EventBuilder::form(
        "/password-reset/address-change",
        &[
            ("username", user.username.as_str()),
            ("institution", "さくら内科クリニック"),
            ("location", "東京都千代田区霞が関1-2-2"),
            ("contact_person", "山田 花子"),
            ("new_email", &new_email),
        ],
    )
    .source_ip(&client);
    assert_eq!(invoke_address(&desk, form).await?.status, 200);
    let mails = wait_for_mails(&new_email, 1).await?;
    let (_, id, token) = mails
        .last()
        .and_then(Mail::address_link)
        .ok_or_else(|| anyhow!("no verification link"))?;
    let id = AddressRequestId::parse(&id)?;
    let confirmed = invoke_address(
        &desk,
        EventBuilder::form(
            "/password-reset/address-change/verify",
            &[("id", id.as_str()), ("token", &token)],
        ),
    )
    .await?;
    assert_eq!(confirmed.status, 200, "{}", confirmed.body);

    // send-mail tells the registered address and records what it found.
    let requests = requests().await?;
    let mut stored = requests.find(&id).await?;
    for _ in 0..300 {
        if stored.notice == Some(NoticeFate::Sent) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        stored = requests.find(&id).await?;
    }
    assert_eq!(
        stored.notice,
        Some(NoticeFate::Sent),
        "the notice was not recorded as sent"
    );
    wait_for_mails(user.email.as_str(), 1).await?;
    let accounts = Accounts::from_env().await?;
    let current = account(&accounts, &user).await?;
    assert_eq!(stored.account_epoch, Some(current.credential_epoch));
    assert_eq!(
        stored.account_address_sha256,
        Some(address_fingerprint(user.email.as_str()))
    );
    let sent_at = stored.notice_sent_at.ok_or_else(|| anyhow!("no sending time"))?;

    // `show` says so, and what approve would answer.
    let view = serde_json::to_value(RequestView::of(
        &stored,
        Some(&current),
        SystemClock.now(),
        requests.objection_window_secs(),
    ))?;
    assert_eq!(view["notice"]["fate"], "sent", "{view}");
    assert!(view["notice"]["objection_window_ends_at"].is_string(), "{view}");
    assert_eq!(view["account"]["registered_address_bouncing"], false, "{view}");
    let said = view["approval_refused_because"].to_string();
    assert!(said.contains("may object until"), "{view}");

    // Inside the window: refused, nothing changed. Just after it: approved.
    let queue = queue().await?;
    let inside = Timestamp::from_millis(sent_at + WINDOW * 1000 - 60_000);
    let mut change = change_in(0, "matches the prefecture's list").await?;
    change.at = inside;
    let refused = refusals_of(requests.approve(&accounts, &queue, &id, &change).await);
    assert!(
        matches!(refused.as_slice(), [Refusal::ObjectionWindowOpen { .. }]),
        "{refused:?}"
    );
    assert_eq!(account(&accounts, &user).await?.email, user.email);
    assert_eq!(requests.find(&id).await?.state, AddressRequestState::Pending);
    change.at = Timestamp::from_millis(sent_at + WINDOW * 1000 + 60_000);
    let approval = requests.approve(&accounts, &queue, &id, &change).await?;
    assert!(approval.change.is_some());
    assert_eq!(account(&accounts, &user).await?.email.as_str(), new_email);
    assert_eq!(requests.find(&id).await?.state, AddressRequestState::Approved);
    Ok(())
}

#[tokio::test]
async fn approve_refuses_after_an_epoch_or_address_change_unless_overridden_and_audited() -> Result<()> {
    let (app, accounts, requests) = stack().await?;
    let queue = queue().await?;
    let (user, request) = user_with_request(&app, &accounts).await?;
    let after_window = WINDOW + HOUR;

    // Disable and enable: the epoch moves on twice (a password change would do the same).
    let status = change_in(0, "locked by mistake").await?;
    accounts
        .set_status(&user.username, reset_core_status(false), &status)
        .await?;
    accounts
        .set_status(&user.username, reset_core_status(true), &status)
        .await?;
    let change = change_in(after_window, "matches the prefecture's list").await?;
    let refused = refusals_of(requests.approve(&accounts, &queue, &request.request_id, &change).await);
    assert_eq!(refused, [Refusal::EpochChanged]);
    assert_eq!(
        account(&accounts, &user).await?.email,
        user.email,
        "refused, yet changed"
    );

    let why = Reason::parse("owner confirmed by phone, ticket 4711")?;
    requests
        .approve_overriding(&accounts, &queue, &request.request_id, &change, &why)
        .await?;
    assert_eq!(account(&accounts, &user).await?.email, request.new_email);
    let trail = accounts.audit_trail(&user.username).await?;
    let approved = trail
        .iter()
        .find(|e| e.action == AuditAction::ApproveAddressRequest)
        .ok_or_else(|| anyhow!("no approval audited"))?;
    assert!(
        approved.reason.contains("overriding") && approved.reason.contains("ticket 4711"),
        "{}",
        approved.reason
    );

    // An address changed by hand since: refused too (the epoch moved with it).
    let other = create_user(&app, Language::Ja).await?;
    let second = pending_request(&accounts, &other, SystemClock.now()).await?;
    let by_hand = Email::parse(&format!("{}@moved.example.jp", other.username))?;
    accounts
        .set_email(&other.username, &by_hand, &change_in(0, "ticket 12").await?)
        .await?;
    let refused = refusals_of(requests.approve(&accounts, &queue, &second.request_id, &change).await);
    assert!(refused.contains(&Refusal::AddressChanged), "{refused:?}");
    assert!(refused.contains(&Refusal::EpochChanged), "{refused:?}");
    assert_eq!(account(&accounts, &other).await?.email, by_hand);
    Ok(())
}

/// `AccountStatus` without naming reset-core's path twice.
fn reset_core_status(active: bool) -> password_reset_tests::reset_core::domain::AccountStatus {
    use password_reset_tests::reset_core::domain::AccountStatus;
    if active {
        AccountStatus::Active
    } else {
        AccountStatus::Disabled
    }
}

#[tokio::test]
async fn a_bouncing_registered_address_cannot_object_so_approve_need_not_wait() -> Result<()> {
    let (app, accounts, requests) = stack().await?;
    let (user, request) = user_with_request(&app, &accounts).await?;
    // What mail-events records for a bounced reset mail.
    accounts
        .client()
        .update_item()
        .table_name(accounts.users_table())
        .key(
            attributes::USERNAME,
            aws_sdk_dynamodb::types::AttributeValue::S(user.username.as_str().into()),
        )
        .update_expression("SET mail_problem = :bounce, mail_problem_at = :at")
        .expression_attribute_values(":bounce", aws_sdk_dynamodb::types::AttributeValue::S("bounce".into()))
        .expression_attribute_values(
            ":at",
            aws_sdk_dynamodb::types::AttributeValue::N(SystemClock.now().as_millis().to_string()),
        )
        .send()
        .await?;
    let current = account(&accounts, &user).await?;
    let view = serde_json::to_value(RequestView::of(
        &request,
        Some(&current),
        SystemClock.now(),
        requests.objection_window_secs(),
    ))?;
    assert_eq!(view["account"]["registered_address_bouncing"], true, "{view}");
    assert_eq!(view["notice"]["fate"], "bounced", "{view}");
    assert_eq!(view["approval_refused_because"], serde_json::json!([]), "{view}");
    requests
        .approve(
            &accounts,
            &queue().await?,
            &request.request_id,
            &change_in(0, "bouncing").await?,
        )
        .await?;
    assert_eq!(account(&accounts, &user).await?.email, request.new_email);
    Ok(())
}

#[tokio::test]
async fn show_states_a_queued_notice_then_its_expiry_and_approve_refuses_both() -> Result<()> {
    let (app, accounts, requests) = stack().await?;
    let (user, mut request) = user_with_request(&app, &accounts).await?;
    // As confirmed, before send-mail got to it (or with the job lost).
    request.notice = Some(NoticeFate::Queued);
    request.notice_sent_at = None;
    request.account_epoch = None;
    request.account_address_sha256 = None;
    request.notice_send_before = Some(SystemClock.now().plus_secs(24 * HOUR).as_secs());
    request.request_id = AddressRequestId::generate()?;
    local_desk().await?.requests.create_request(&request).await?;
    let current = account(&accounts, &user).await?;
    let fate_at = |secs: i64| {
        serde_json::to_value(RequestView::of(
            &request,
            Some(&current),
            SystemClock.now().plus_secs(secs),
            WINDOW,
        ))
        .map(|v| v["notice"]["fate"].clone())
    };
    assert_eq!(fate_at(0)?, "queued");
    assert_eq!(fate_at(25 * HOUR)?, "expired");
    let queue = queue().await?;
    for (secs, fate) in [(HOUR, "queued"), (WINDOW + HOUR, "expired")] {
        let refused = refusals_of(
            requests
                .approve(
                    &accounts,
                    &queue,
                    &request.request_id,
                    &change_in(secs, "too early").await?,
                )
                .await,
        );
        assert!(refused.contains(&Refusal::NoticeNotSent(fate)), "{refused:?}");
        // Nothing of the account was recorded either; an override cannot skip the notice.
        let overridden = requests
            .approve_overriding(
                &accounts,
                &queue,
                &request.request_id,
                &change_in(secs, "too early").await?,
                &Reason::parse("try")?,
            )
            .await;
        assert_eq!(refusals_of(overridden), [Refusal::NoticeNotSent(fate)]);
    }
    assert_eq!(account(&accounts, &user).await?.email, user.email);
    Ok(())
}

/// Approve and reject of one request, run at the same moment, many times over: each time
/// exactly one commits, and the account agrees with the request's state.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_approve_and_reject_leave_the_account_and_the_request_consistent() -> Result<()> {
    let (app, accounts, requests) = stack().await?;
    let queue = queue().await?;
    let shared = std::sync::Arc::new(self::requests().await?);
    let (mut approved, mut rejected) = (0, 0);
    for round in 0..8 {
        let (user, request) = user_with_request(&app, &accounts).await?;
        let change = change_in(WINDOW + HOUR, "race").await?;
        let id = &request.request_id;
        // Two tasks on two worker threads, as two administrators' terminals would be.
        let approving = {
            let (requests, accounts, queue, id, change) = (
                shared.clone(),
                accounts.clone(),
                queue.clone(),
                id.clone(),
                change.clone(),
            );
            tokio::spawn(async move { requests.approve(&accounts, &queue, &id, &change).await })
        };
        let rejecting = {
            let (requests, accounts, id, change) = (shared.clone(), accounts.clone(), id.clone(), change.clone());
            tokio::spawn(async move { requests.reject(&accounts, &id, &change).await.map(|_| ()) })
        };
        let (approve, reject) = (approving.await?, rejecting.await?);
        let state = requests.find(id).await?.state;
        let email = account(&accounts, &user).await?.email;
        match (approve.is_ok(), reject.is_ok()) {
            (true, false) => approved += 1,
            (false, true) => rejected += 1,
            other => bail!("round {round}: both or neither committed: {other:?} ({approve:?}, {reject:?})"),
        }
        match state {
            AddressRequestState::Approved => assert_eq!(email, request.new_email, "round {round}"),
            AddressRequestState::Rejected => assert_eq!(email, user.email, "round {round}: rejected, yet changed"),
            other => bail!("round {round}: still {other:?}"),
        }
        let set_emails = address_changes_audited(&accounts, &user).await?;
        assert_eq!(
            set_emails,
            usize::from(state == AddressRequestState::Approved),
            "round {round}"
        );
    }
    assert_eq!(approved + rejected, 8);

    // Two approvals at once: one changes the address, the other is told it was decided.
    let (user, request) = user_with_request(&app, &accounts).await?;
    let change = change_in(WINDOW + HOUR, "double click").await?;
    let (first, second) = tokio::join!(
        requests.approve(&accounts, &queue, &request.request_id, &change),
        requests.approve(&accounts, &queue, &request.request_id, &change)
    );
    assert_eq!(
        usize::from(first.is_ok()) + usize::from(second.is_ok()),
        1,
        "{first:?} {second:?}"
    );
    let set_emails = address_changes_audited(&accounts, &user).await?;
    assert_eq!(set_emails, 1);
    Ok(())
}
