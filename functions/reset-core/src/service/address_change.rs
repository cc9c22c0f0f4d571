//! The address-change request: the guide's fallback when the registered mailbox no longer
//! works, made online. Three steps on the request path, none of which sends mail:
//!
//! 1. `request_address_change`: two counters, one new unverified request, one queued
//!    verification job — the same work whether the username exists or not (the account is
//!    never read here), so neither the answer nor its timing tells.
//! 2. `open_verification` (GET of the mailed link): checks only; mail scanners prefetch links.
//! 3. `confirm_verification` (POST): unverified → pending in one conditional update; queues the
//!    notice to the registered address and, if configured, the administrators' note.
//!
//! The mails themselves are composed and sent by `send-mail` (see `service::send`).

use super::ports::AddressPorts;
use super::{count_network, day_window, hour_window};
use crate::app::App;
use crate::domain::address_request::VerificationRejection;
use crate::domain::{
    AddressRequest, AddressRequestId, AddressRequestInput, ClientKey, Language, MailJob, MaskedEmail, NoticeOutcome,
    QueuedMail, ResetToken, Timestamp,
};
use crate::error::AppError;
use crate::metrics;
use crate::store::{AddressRequestStore, CounterKey};
use std::sync::Arc;

/// What the `address-change` function works with: the shared dependencies and the requests.
pub struct AddressDesk {
    pub app: App,
    pub requests: Arc<dyn AddressRequestStore>,
}

impl AddressDesk {
    pub fn new(app: App, requests: Arc<dyn AddressRequestStore>) -> Self {
        Self { app, requests }
    }
}

/// What happened behind the one "check your new mailbox" answer. Only logs see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressRequestOutcome {
    /// Stored unverified; its verification mail is queued.
    Queued,
    /// This client's daily allowance for the username is spent: nothing stored, nothing mailed.
    UsernameLimited,
}

impl AddressRequestOutcome {
    pub fn code(self) -> &'static str {
        match self {
            AddressRequestOutcome::Queued => "queued",
            AddressRequestOutcome::UsernameLimited => "username_limited",
        }
    }
}

/// Step 1. Emits one metrics line per call (a 429 counts as a refusal, nothing else).
pub async fn request_address_change(
    app: AddressPorts<'_>,
    input: AddressRequestInput,
    language: Language,
    client: &ClientKey,
) -> Result<AddressRequestOutcome, AppError> {
    let now = app.clock.now();
    let result = limit_store_and_queue(app, input, language, client, now).await;
    let oldest = match result {
        Err(AppError::RateLimited { .. }) => None,
        _ => oldest_pending_age(app.requests, now).await,
    };
    metrics::emit(
        &app.settings.metrics_namespace,
        now,
        &address_request_metric_counts(&result, oldest),
    );
    result
}

/// The metrics line of one address-change submission; `oldest` the age of the oldest pending
/// request when it was read.
pub fn address_request_metric_counts(
    result: &Result<AddressRequestOutcome, AppError>,
    oldest: Option<u64>,
) -> Vec<(&'static str, u64)> {
    let (passed, queued, failed, refused) = match result {
        Ok(AddressRequestOutcome::Queued) => (1, 1, 0, 0),
        Ok(AddressRequestOutcome::UsernameLimited) => (1, 0, 0, 1),
        Err(AppError::RateLimited { .. }) => (0, 0, 0, 1),
        Err(AppError::Unavailable(_)) => (1, 0, 1, 0),
        Err(_) => (1, 0, 0, 0),
    };
    let mut counts = vec![
        (metrics::ADDRESS_REQUESTS, passed),
        (metrics::MAILS_QUEUED, queued),
        (metrics::MAIL_QUEUE_FAILURES, failed),
        (metrics::RATE_LIMIT_REFUSALS, refused),
    ];
    counts.extend(oldest.map(|age| (metrics::OLDEST_PENDING_ADDRESS_REQUEST_AGE, age)));
    counts
}

async fn limit_store_and_queue(
    app: AddressPorts<'_>,
    input: AddressRequestInput,
    language: Language,
    client: &ClientKey,
    now: Timestamp,
) -> Result<AddressRequestOutcome, AppError> {
    let (hour_start, hour_end) = hour_window(now);
    let per_client = CounterKey::address_requests_per_client(client.as_str(), hour_start);
    let (client_hits, network_hits) = tokio::try_join!(
        app.counters.increment_counter(&per_client, hour_end),
        count_network(
            app.counters,
            client,
            |n| CounterKey::address_requests_per_network(n, hour_start),
            hour_end
        ),
    )?;
    let limits = &app.settings.address;
    let network_full = network_hits.is_some_and(|hits| hits > limits.per_ipv6_48_per_hour);
    if client_hits > limits.per_client_per_hour || network_full {
        return Err(AppError::RateLimited {
            retry_after_secs: (hour_end - now.as_secs()).max(1),
        });
    }
    // Counted only once the client is let through, so that a 429 spends nothing; and per
    // client, so that strangers elsewhere cannot spend the allowance of the owner's client.
    // (Unknown and known usernames still cost the same work: nothing here reads the account.)
    let (day_start, day_end) = day_window(now);
    let per_username =
        CounterKey::address_requests_per_username_and_client(&input.username, client.as_str(), day_start);
    let username_hits = app.counters.increment_counter(&per_username, day_end).await?;
    if username_hits > limits.per_username_per_day {
        Ok(AddressRequestOutcome::UsernameLimited)
    } else {
        store_and_queue(app, input, language, now).await
    }
}

async fn store_and_queue(
    app: AddressPorts<'_>,
    input: AddressRequestInput,
    language: Language,
    now: Timestamp,
) -> Result<AddressRequestOutcome, AppError> {
    let request = AddressRequest::new(input, language, now, app.settings.address.keep_days)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    app.requests.create_request(&request).await?;
    let mut job = MailJob::address_mail(
        QueuedMail::AddressVerification {
            username: request.username.clone(),
            request_id: request.request_id.clone(),
        },
        now,
    )
    .map_err(|e| AppError::Internal(e.to_string()))?;
    // Over the service-wide cap on confirmation mails the job waits in the queue: it stays
    // worth sending as long as its request lives, not only the notices' one day.
    job.send_before = request.expires_at;
    // If this fails the request stays unverified and simply expires: it never reaches anyone.
    app.mail_queue
        .enqueue(&job)
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    tracing::info!(request_id = %request.request_id, username = %request.username, "address request stored");
    Ok(AddressRequestOutcome::Queued)
}

/// The request behind a verification link, if the link is live. Changes nothing.
pub async fn open_verification(
    app: AddressPorts<'_>,
    id: &AddressRequestId,
    token: &ResetToken,
) -> Result<AddressRequest, AppError> {
    let now = app.clock.now();
    let request = app
        .requests
        .find_request(id)
        .await?
        .ok_or(AppError::InvalidAddressLink(VerificationRejection::UnknownRequest))?;
    request
        .check_verification(token, now)
        .map_err(AppError::InvalidAddressLink)?;
    Ok(request)
}

/// Step 3: the new address confirmed. The request enters the administrators' queue; the
/// registered address is told (by `send-mail`, which looks the account up), and the
/// administrators' address if one is configured. A notice that cannot be queued does not undo
/// the confirmation: it is logged and counted, like the password-changed notice.
pub async fn confirm_verification(
    app: AddressPorts<'_>,
    id: &AddressRequestId,
    token: &ResetToken,
) -> Result<AddressRequest, AppError> {
    let now = app.clock.now();
    let request = open_verification(app, id, token).await?;
    if !app.requests.mark_verified(id, &token.hash(), now).await? {
        // Confirmed by a concurrent click, or expired in between.
        return Err(AppError::InvalidAddressLink(VerificationRejection::NotUnverified));
    }
    let mut mails = vec![QueuedMail::AddressChangeRequested {
        username: request.username.clone(),
        request_id: request.request_id.clone(),
        institution: request.institution.clone(),
        new_email_masked: MaskedEmail::of(&request.new_email),
        requested_at: now.as_millis(),
    }];
    if app.settings.address.notify_address.is_some() {
        mails.push(QueuedMail::AddressRequestArrived {
            username: request.username.clone(),
            request_id: request.request_id.clone(),
        });
    }
    let (mut queued, mut failed) = (0, 0);
    for mail in mails {
        let kind = mail.kind();
        let result = match MailJob::address_mail(mail, now) {
            Ok(job) => app.mail_queue.enqueue(&job).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) => queued += 1,
            Err(error) => {
                failed += 1;
                tracing::error!(error = %error, request_id = %request.request_id, kind, "an address-request notice could not be queued");
                // `show` must say so, and approve must not wait for a notice that never comes.
                if kind == "address_change_requested" {
                    if let Err(error) = app.requests.record_notice(id, &NoticeOutcome::Failed).await {
                        tracing::warn!(error = %error, request_id = %request.request_id, "the notice's failure could not be recorded");
                    }
                }
            }
        }
    }
    let oldest = oldest_pending_age(app.requests, now).await;
    let mut counts = vec![
        (metrics::ADDRESS_REQUESTS_VERIFIED, 1),
        (metrics::MAILS_QUEUED, queued),
        (metrics::MAIL_QUEUE_FAILURES, failed),
    ];
    counts.extend(oldest.map(|age| (metrics::OLDEST_PENDING_ADDRESS_REQUEST_AGE, age)));
    metrics::emit(&app.settings.metrics_namespace, now, &counts);
    tracing::info!(request_id = %request.request_id, username = %request.username, "address request verified");
    Ok(request)
}

/// Seconds the oldest pending request has waited (0 for none); `None` if the index could not
/// be read, which must not fail the request that asked.
pub async fn oldest_pending_age(requests: &dyn AddressRequestStore, now: Timestamp) -> Option<u64> {
    match requests.pending_requests(now).await {
        Ok(pending) => Some(
            pending
                .first()
                .map_or(0, |r| u64::try_from(r.waiting_secs(now)).unwrap_or(0)),
        ),
        Err(error) => {
            tracing::warn!(error = %error, "the pending address requests could not be read");
            None
        }
    }
}
