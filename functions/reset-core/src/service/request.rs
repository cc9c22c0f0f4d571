use super::ports::RequestPorts;
use super::{count_network, hour_window};
use crate::domain::{ClientKey, MailJob, Username};
use crate::error::AppError;
use crate::metrics;
use crate::store::CounterKey;

/// What happened behind the one generic "mail sent" answer. Only logs and metrics see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A reset job is in the mail queue; `send-mail` decides whether the account gets a mail.
    Queued,
    /// This client asked for this username too often this hour: nothing queued.
    ClientUsernameLimited,
}

impl RequestOutcome {
    pub fn code(self) -> &'static str {
        match self {
            RequestOutcome::Queued => "queued",
            RequestOutcome::ClientUsernameLimited => "client_username_limited",
        }
    }
}

/// Queues a reset link for `username`. The request neither reads the account nor sends mail,
/// so it does exactly the same work whether the username exists or not: two counters and one
/// queue write. The caller shows the same answer in every case but a per-client rate limit.
/// Emits one metrics line per call.
pub async fn request_reset(
    app: RequestPorts<'_>,
    username: &Username,
    client: &ClientKey,
) -> Result<RequestOutcome, AppError> {
    let result = queue_reset_link(app, username, client).await;
    metrics::emit(
        &app.settings.metrics_namespace,
        app.clock.now(),
        &request_metric_counts(&result),
    );
    result
}

/// The metrics line of one reset request.
pub fn request_metric_counts(result: &Result<RequestOutcome, AppError>) -> Vec<(&'static str, u64)> {
    let (queued, failed, refused) = match result {
        Ok(RequestOutcome::Queued) => (1, 0, 0),
        Ok(RequestOutcome::ClientUsernameLimited) => (0, 0, 1),
        Err(AppError::RateLimited { .. }) => (0, 0, 1),
        Err(AppError::Unavailable(_)) => (0, 1, 0),
        Err(_) => (0, 0, 0),
    };
    vec![
        (metrics::RESET_REQUESTS, 1),
        (metrics::MAILS_QUEUED, queued),
        (metrics::MAIL_QUEUE_FAILURES, failed),
        (metrics::RATE_LIMIT_REFUSALS, refused),
    ]
}

async fn queue_reset_link(
    app: RequestPorts<'_>,
    username: &Username,
    client: &ClientKey,
) -> Result<RequestOutcome, AppError> {
    let now = app.clock.now();
    let (window_start, window_end) = hour_window(now);
    let per_client = CounterKey::per_client(client.as_str(), window_start);
    let per_username_and_client = CounterKey::per_username_and_client(username, client.as_str(), window_start);
    let (client_hits, network_hits, client_username_hits) = tokio::try_join!(
        app.counters.increment_counter(&per_client, window_end),
        count_network(
            app.counters,
            client,
            |n| CounterKey::per_network(n, window_start),
            window_end
        ),
        app.counters.increment_counter(&per_username_and_client, window_end),
    )?;
    let network_full = network_hits.is_some_and(|hits| hits > app.settings.rate_limit_per_ipv6_48_per_hour);
    if client_hits > app.settings.rate_limit_per_ip_per_hour || network_full {
        return Err(AppError::RateLimited {
            retry_after_secs: (window_end - now.as_secs()).max(1),
        });
    }
    if client_username_hits > app.settings.rate_limit_per_username_and_client_per_hour {
        return Ok(RequestOutcome::ClientUsernameLimited);
    }
    let job = MailJob::reset_link(username.clone(), now, app.settings.token_ttl_secs())
        .map_err(|e| AppError::Internal(e.to_string()))?;
    app.mail_queue
        .enqueue(&job)
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    Ok(RequestOutcome::Queued)
}
