//! Unit tests of the address-change request over the in-memory stores, the recording queue and
//! the recording mailer. The same paths run against the local stack in `tests/address_requests.rs`.

use super::fixture::{fixture, Fixture};
use super::*;
use crate::domain::address_request::tests::form;
use crate::domain::address_request::VerificationRejection;
use crate::domain::{AddressRequestId, AddressRequestState, Clock, Language, ResetToken, User};
use crate::error::AppError;
use crate::store::{AddressRequestStore, UserDirectory};

impl Fixture {
    async fn deliver_queued_codes(&self) -> Vec<&'static str> {
        let mut codes = Vec::new();
        for job in self.queue.drain() {
            match deliver(&self.sender, &job).await {
                Ok(delivery) => codes.push(delivery.code()),
                Err(error) => codes.push(error.code()),
            }
        }
        codes
    }

    /// The id and token of the newest verification mail.
    fn last_link(&self) -> (AddressRequestId, ResetToken) {
        let mail = self
            .mailer
            .sent()
            .into_iter()
            .rev()
            .find(|m| m.text.contains("/address-change/verify?"))
            .unwrap_or_else(|| panic!("no verification mail"));
        let link = mail
            .text
            .split_whitespace()
            .find(|w| w.contains("/address-change/verify?"))
            .unwrap_or_default()
            .to_owned();
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(link.split_once('?').map(|(_, q)| q).unwrap_or_default()).unwrap_or_default();
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        (
            AddressRequestId::parse(&get("id")).unwrap_or_else(|e| panic!("{e}")),
            ResetToken::parse(&get("token")).unwrap_or_else(|_| panic!("token")),
        )
    }
}

fn client_key(address: Option<&str>) -> crate::domain::ClientKey {
    address
        .and_then(crate::domain::ClientKey::from_address)
        .unwrap_or_else(crate::domain::ClientKey::unknown)
}

async fn user(store: &dyn UserDirectory, name: &str) -> User {
    let user = User::sample(name);
    store.create_user(&user).await.unwrap_or_else(|e| panic!("{e}"));
    user
}

fn input(name: &str) -> crate::domain::AddressRequestInput {
    let mut typed = form();
    typed.username = name.into();
    typed.parse().unwrap_or_else(|e| panic!("{e:?}"))
}

#[tokio::test]
async fn known_and_unknown_usernames_do_the_same_work_and_only_the_known_is_mailed() {
    let f = fixture();
    user(f.store.as_ref(), "ex000001").await;
    for name in ["ex000001", "ex000002"] {
        let outcome = request_address_change(
            (&f.desk).into(),
            input(name),
            Language::Ja,
            &client_key(Some("192.0.2.1")),
        )
        .await;
        assert!(matches!(outcome, Ok(AddressRequestOutcome::Queued)), "{outcome:?}");
    }
    assert_eq!(f.deliver_queued_codes().await, ["sent", "unknown_account"]);
    let stored = f.requests.all();
    assert_eq!(stored.len(), 2, "both stored: the same work");
    assert!(stored.iter().all(|r| r.state == AddressRequestState::Unverified));
    for request in stored {
        // No link was minted for the unknown username: it can never be confirmed.
        assert_eq!(
            request.verification_hash.is_some(),
            request.username.as_str() == "ex000001",
            "{}",
            request.username
        );
    }
    assert_eq!(f.mailer.sent().len(), 1);
}

#[tokio::test]
async fn a_disabled_account_gets_no_confirmation_mail_either() {
    let f = fixture();
    let disabled = User::sample("ex000003").with_status(crate::domain::AccountStatus::Disabled);
    f.store.create_user(&disabled).await.unwrap_or_else(|e| panic!("{e}"));
    request_address_change((&f.desk).into(), input("ex000003"), Language::Ja, &client_key(None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.deliver_queued_codes().await, ["account_disabled"]);
    assert!(f.mailer.sent().is_empty());
}

#[tokio::test]
async fn the_service_wide_cap_makes_jobs_wait_and_a_failed_send_gives_its_place_back() {
    let mut f = fixture();
    f.sender.settings.address.confirmations_per_hour = 2;
    f.sender.settings.address.confirmations_per_day = 3;
    for n in 1..=4 {
        let name = format!("ex00000{n}");
        user(f.store.as_ref(), &name).await;
        request_address_change((&f.desk).into(), input(&name), Language::Ja, &client_key(None))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let jobs = f.queue.drain();
    // A failed send spends no place: the first job fails, then the cap counts two sent.
    f.mailer.set_down(true);
    assert!(matches!(
        deliver(&f.sender, &jobs[0]).await,
        Err(DeliveryError::Mail(_))
    ));
    f.mailer.set_down(false);
    let mut outcomes = Vec::new();
    for job in &jobs {
        outcomes.push(deliver(&f.sender, job).await.map_err(|e| e.code()));
    }
    let (_, hour_end) = super::hour_window(f.clock.now());
    assert_eq!(
        outcomes,
        [
            Ok(Delivery::Sent {
                message_id: "recorded-1".into()
            }),
            Ok(Delivery::Sent {
                message_id: "recorded-2".into()
            }),
            Ok(Delivery::Deferred { until_secs: hour_end }),
            Ok(Delivery::Deferred { until_secs: hour_end }),
        ]
    );
    // The next hour: the day's third place, then the day is full.
    f.clock.advance_secs(hour_end - f.clock.now().as_secs());
    let (_, day_end) = super::day_window(f.clock.now());
    assert!(matches!(deliver(&f.sender, &jobs[2]).await, Ok(Delivery::Sent { .. })));
    assert_eq!(
        deliver(&f.sender, &jobs[3]).await.map_err(|e| e.code()),
        Ok(Delivery::Deferred { until_secs: day_end })
    );
    // A waiting job is not done: after the day it is mailed, once.
    f.clock.advance_secs(day_end - f.clock.now().as_secs());
    assert!(matches!(deliver(&f.sender, &jobs[3]).await, Ok(Delivery::Sent { .. })));
    assert_eq!(
        deliver(&f.sender, &jobs[3]).await.map_err(|e| e.code()),
        Ok(Delivery::Duplicate)
    );
    assert_eq!(f.mailer.sent().len(), 4);
}

#[tokio::test]
async fn only_the_confirmed_request_is_pending_and_the_registered_address_is_told() {
    let f = fixture();
    let owner = user(f.store.as_ref(), "ex000001").await;
    request_address_change((&f.desk).into(), input("ex000001"), Language::Ja, &client_key(None))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    f.deliver_queued_codes().await;
    let (id, token) = f.last_link();
    let now = f.clock.now();
    assert!(f.requests.pending_requests(now).await.unwrap_or_default().is_empty());
    open_verification((&f.desk).into(), &id, &token)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(f.requests.pending_requests(now).await.unwrap_or_default().is_empty());
    confirm_verification((&f.desk).into(), &id, &token)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pending = f.requests.pending_requests(now).await.unwrap_or_default();
    assert_eq!(pending.iter().map(|p| &p.request_id).collect::<Vec<_>>(), [&id]);
    assert!(matches!(
        confirm_verification((&f.desk).into(), &id, &token).await,
        Err(AppError::InvalidAddressLink(VerificationRejection::WrongToken))
    ));
    assert_eq!(f.deliver_queued_codes().await, ["sent", "sent"]);
    let sent = f.mailer.sent();
    assert!(sent
        .iter()
        .any(|m| m.to == owner.email && m.subject.contains("変更が申請されました")));
    assert!(sent
        .iter()
        .any(|m| m.to.as_str() == "admins@example.jp" && m.text.contains(id.as_str())));
}

#[tokio::test]
async fn links_expire_on_the_clock_and_the_per_client_limit_answers_429() {
    let f = fixture();
    user(f.store.as_ref(), "ex000001").await;
    request_address_change(
        (&f.desk).into(),
        input("ex000001"),
        Language::Ja,
        &client_key(Some("192.0.2.9")),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    f.deliver_queued_codes().await;
    let (id, token) = f.last_link();
    f.clock.advance_secs(24 * 3600);
    assert!(matches!(
        confirm_verification((&f.desk).into(), &id, &token).await,
        Err(AppError::InvalidAddressLink(VerificationRejection::LinkExpired))
    ));
    let limit = f.desk.app.settings.address.per_client_per_hour;
    for _ in 0..limit {
        let _ = request_address_change(
            (&f.desk).into(),
            input("ex000002"),
            Language::Ja,
            &client_key(Some("192.0.2.10")),
        )
        .await;
    }
    assert!(matches!(
        request_address_change(
            (&f.desk).into(),
            input("ex000003"),
            Language::Ja,
            &client_key(Some("192.0.2.10"))
        )
        .await,
        Err(AppError::RateLimited { .. })
    ));
}

/// A submission refused by a rate limit is counted as one (RateLimitRefusals), whether the
/// client got a 429 or the username's daily allowance silently dropped it; a 429 is not an
/// address request that got past the per-client limit.
#[tokio::test]
async fn rate_limit_refusals_of_the_address_form_are_counted() {
    let f = fixture();
    let count = |counts: &[(&'static str, u64)], name: &str| counts.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    let client = client_key(Some("192.0.2.20"));
    let per_day = f.desk.app.settings.address.per_username_per_day;
    let mut last = Ok(AddressRequestOutcome::Queued);
    for _ in 0..=per_day {
        last = request_address_change((&f.desk).into(), input("ex000004"), Language::Ja, &client).await;
    }
    assert!(matches!(last, Ok(AddressRequestOutcome::UsernameLimited)), "{last:?}");
    let dropped = address_request_metric_counts(&last, None);
    assert_eq!(count(&dropped, crate::metrics::RATE_LIMIT_REFUSALS), Some(1));
    assert_eq!(count(&dropped, crate::metrics::MAILS_QUEUED), Some(0));
    let limit = f.desk.app.settings.address.per_client_per_hour;
    for _ in 0..limit {
        last = request_address_change((&f.desk).into(), input("ex000005"), Language::Ja, &client).await;
    }
    assert!(matches!(last, Err(AppError::RateLimited { .. })), "{last:?}");
    let blocked = address_request_metric_counts(&last, None);
    assert_eq!(count(&blocked, crate::metrics::RATE_LIMIT_REFUSALS), Some(1));
    assert_eq!(count(&blocked, crate::metrics::ADDRESS_REQUESTS), Some(0));
    let queued = address_request_metric_counts(&Ok(AddressRequestOutcome::Queued), Some(7));
    assert_eq!(count(&queued, crate::metrics::RATE_LIMIT_REFUSALS), Some(0));
    assert_eq!(
        count(&queued, crate::metrics::OLDEST_PENDING_ADDRESS_REQUEST_AGE),
        Some(7)
    );
}
