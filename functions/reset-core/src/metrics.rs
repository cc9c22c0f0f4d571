//! CloudWatch metrics as embedded metric format (EMF) lines on stdout. Lambda sends stdout to
//! CloudWatch Logs, which turns every such line into metric data points: no PutMetricData call
//! on the request path and no extra permission. The alarms in `infra/template.yaml` watch
//! these names in the stack's namespace (`METRICS_NAMESPACE`).
//!
//! Every line carries all metrics of its kind, zeros included, so that sums over a period are
//! the denominators the alarms' rates need (e.g. send failures / send attempts).

use crate::domain::Timestamp;
use serde_json::{json, Map, Value};

/// One per reset request that got past the per-client limit (form or JSON).
pub const RESET_REQUESTS: &str = "ResetRequests";
/// A mail job handed to the mail queue (reset link or notice).
pub const MAILS_QUEUED: &str = "MailsQueued";
/// A mail the request path could not hand to the queue (the request answered 503, or, for a
/// password-changed notice, the change stood without its notice).
pub const MAIL_QUEUE_FAILURES: &str = "MailQueueFailures";
/// A mail SES accepted.
pub const MAILS_SENT: &str = "MailsSent";
/// A send attempt that failed; the job comes back through the queue with backoff.
pub const MAIL_SEND_FAILURES: &str = "MailSendFailures";
/// A job dropped because its link would already have expired when sent.
pub const MAILS_EXPIRED_BEFORE_SENDING: &str = "MailsExpiredBeforeSending";
/// A job that goes to the dead-letter queue: malformed, or failing on its last delivery.
pub const MAILS_DEAD_LETTERED: &str = "MailsDeadLettered";
/// A redelivered job whose mail had already been sent: nothing sent twice.
pub const MAIL_DUPLICATES_SUPPRESSED: &str = "MailDuplicatesSuppressed";
/// A reset job that sent nothing on purpose: unknown or disabled account, or the account's
/// hourly mail budget spent. Address-request mails with nobody to send to (the request expired
/// or was confirmed meanwhile, an unknown account, no administrators' address) count here too.
pub const RESET_JOBS_WITHOUT_MAIL: &str = "ResetJobsWithoutMail";
/// SES events about sent mail, counted by `mail-events`.
pub const MAIL_DELIVERIES: &str = "MailDeliveries";
pub const MAIL_BOUNCES: &str = "MailBounces";
pub const MAIL_COMPLAINTS: &str = "MailComplaints";
pub const MAIL_REJECTS: &str = "MailRejects";
/// Events whose message id belongs to no account's latest reset mail (an older mail, the
/// password-changed notice, or an address changed since).
pub const MAIL_EVENTS_UNMATCHED: &str = "MailEventsUnmatched";
/// SNS messages from another topic than the stack's own: refused.
pub const MAIL_EVENTS_FOREIGN: &str = "MailEventsForeign";
/// SNS messages that were not SES event notifications this function understands.
pub const MAIL_EVENTS_MALFORMED: &str = "MailEventsMalformed";

/// An address-change request that got past the per-client limit (stored or, beyond the
/// per-username limit, silently dropped), from `address-change`.
pub const ADDRESS_REQUESTS: &str = "AddressRequests";
/// A request confirmed from its new address: it entered the administrators' queue.
pub const ADDRESS_REQUESTS_VERIFIED: &str = "AddressRequestsVerified";
/// Decided by an administrator (`reset-admin address-requests approve / reject`).
pub const ADDRESS_REQUESTS_APPROVED: &str = "AddressRequestsApproved";
pub const ADDRESS_REQUESTS_REJECTED: &str = "AddressRequestsRejected";
/// Seconds the oldest pending request has waited since it was verified (0 when none waits):
/// a Query on the sparse pending index, made by `address-change` after every submission and
/// confirmation, by the synthetic probe every 5 minutes (so the age alarm sees it on a quiet
/// day) and by `reset-admin address-requests list`.
pub const OLDEST_PENDING_ADDRESS_REQUEST_AGE: &str = "OldestPendingAddressRequestAge";

/// An HTTP answer with a 5xx status (a caught panic, a dependency down), with the dimension
/// `Function`: Lambda counts these handled answers as successes, so the canary's rollback
/// alarms watch this count instead.
pub const SERVER_ERRORS: &str = "ServerErrors";

/// A queue job send-mail refused because no producer of this service writes such a job (a
/// notice to an address the account does not have): dropped, never sent. Alarmed: someone
/// other than the service's functions wrote to the queue, or a producer is broken.
pub const MAIL_JOBS_REFUSED: &str = "MailJobsRefused";
/// A new password found in the Pwned Passwords corpus, refused by change-password.
pub const BREACHED_PASSWORDS_REFUSED: &str = "BreachedPasswordsRefused";
/// The breached-password check could not answer (timeout, refused connection, bad answer):
/// the change went on without it (fail open). Alarmed.
pub const BREACH_CHECK_UNAVAILABLE: &str = "BreachCheckUnavailable";

/// A confirmation mail of an address-change request put back to wait because the service-wide
/// cap (per hour or per day) is reached, counted by `send-mail`: a stranger may be filling it.
pub const ADDRESS_CONFIRMATIONS_OVER_CAP: &str = "AddressConfirmationsOverCap";

/// A request refused by the rate limits: a 429 for a client (or IPv6 /48) over its hourly
/// budget, or a reset or address-change request dropped because one client asked too often for
/// one username (the same page, nothing queued). Alarmed: the person behind it gets no mail.
pub const RATE_LIMIT_REFUSALS: &str = "RateLimitRefusals";
/// An SES DeliveryDelay event (the receiving server is down, greylists or its mailbox is full),
/// counted by `mail-events`. Alarmed: the link may expire before the mail arrives.
pub const MAIL_DELIVERY_DELAYS: &str = "MailDeliveryDelays";
/// A send SES refused for pacing (TooManyRequests, sending rate exceeded), counted by
/// `send-mail`: the job waits in the queue and is tried again; not a failure and no retry spent.
pub const MAIL_SENDS_THROTTLED: &str = "MailSendsThrottled";

/// One per run of the synthetic probe (`functions/probe`): 1 when the whole public flow passed
/// for its account (request, mail accepted by SES, link opened and confirmed), else 0. Alarmed
/// when below 1 or missing: a quiet night still proves the service works.
pub const PROBE_SUCCESS: &str = "ProbeSuccess";
/// The probe's step latencies in milliseconds (published with the unit Count, like every EMF
/// line here), each only when the step passed: the reset request's answer, the wait until SES
/// accepted its mail, a link opened and confirmed.
pub const PROBE_REQUEST_MS: &str = "ProbeRequestMs";
pub const PROBE_MAIL_MS: &str = "ProbeMailMs";
pub const PROBE_LINK_MS: &str = "ProbeLinkMs";

/// Every metric name the code emits; the template's alarms may only use these.
pub const ALL: [&str; 33] = [
    RESET_REQUESTS,
    MAILS_QUEUED,
    MAIL_QUEUE_FAILURES,
    MAILS_SENT,
    MAIL_SEND_FAILURES,
    MAILS_EXPIRED_BEFORE_SENDING,
    MAILS_DEAD_LETTERED,
    MAIL_DUPLICATES_SUPPRESSED,
    RESET_JOBS_WITHOUT_MAIL,
    MAIL_DELIVERIES,
    MAIL_BOUNCES,
    MAIL_COMPLAINTS,
    MAIL_REJECTS,
    MAIL_EVENTS_UNMATCHED,
    MAIL_EVENTS_MALFORMED,
    MAIL_EVENTS_FOREIGN,
    ADDRESS_REQUESTS,
    ADDRESS_REQUESTS_VERIFIED,
    ADDRESS_REQUESTS_APPROVED,
    ADDRESS_REQUESTS_REJECTED,
    OLDEST_PENDING_ADDRESS_REQUEST_AGE,
    SERVER_ERRORS,
    MAIL_JOBS_REFUSED,
    BREACHED_PASSWORDS_REFUSED,
    BREACH_CHECK_UNAVAILABLE,
    ADDRESS_CONFIRMATIONS_OVER_CAP,
    RATE_LIMIT_REFUSALS,
    MAIL_DELIVERY_DELAYS,
    MAIL_SENDS_THROTTLED,
    PROBE_SUCCESS,
    PROBE_REQUEST_MS,
    PROBE_MAIL_MS,
    PROBE_LINK_MS,
];

/// One EMF document: counts without dimensions in `namespace`, stamped `at`.
pub fn emf_line(namespace: &str, at: Timestamp, counts: &[(&str, u64)]) -> String {
    emf_line_with_dimensions(namespace, at, &[], counts)
}

/// One EMF document whose counts are published under one dimension set (`dimensions`, name and
/// value); empty publishes them without dimensions.
pub fn emf_line_with_dimensions(
    namespace: &str,
    at: Timestamp,
    dimensions: &[(&str, &str)],
    counts: &[(&str, u64)],
) -> String {
    let definitions: Vec<Value> = counts
        .iter()
        .map(|(name, _)| json!({ "Name": name, "Unit": "Count" }))
        .collect();
    let dimension_names: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
    let mut document = Map::new();
    document.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.as_millis(),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                // One dimension set, exactly the one the alarms query (empty: no dimensions).
                "Dimensions": [dimension_names],
                "Metrics": definitions,
            }],
        }),
    );
    for (name, value) in dimensions {
        document.insert((*name).to_owned(), json!(value));
    }
    for (name, value) in counts {
        document.insert((*name).to_owned(), json!(value));
    }
    Value::Object(document).to_string()
}

/// Counts one 5xx answer of `function` (the alarms' dimension `Function`).
pub fn emit_server_error(namespace: &str, at: Timestamp, function: &str) {
    println!(
        "{}",
        emf_line_with_dimensions(namespace, at, &[("Function", function)], &[(SERVER_ERRORS, 1)])
    );
}

/// Writes one EMF line to stdout (Lambda's stdout is its log stream). `println!` rather than a
/// raw stdout handle so that the test harness captures the lines of passing tests.
pub fn emit(namespace: &str, at: Timestamp, counts: &[(&str, u64)]) {
    println!("{}", emf_line(namespace, at, counts));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_the_emf_specification() -> Result<(), serde_json::Error> {
        let line = emf_line(
            "PasswordReset/test",
            Timestamp::from_millis(1_767_225_600_000),
            &[(RESET_REQUESTS, 1), (MAIL_SEND_FAILURES, 0)],
        );
        assert!(!line.contains('\n'), "one line per document");
        let document: Value = serde_json::from_str(&line)?;
        let aws = &document["_aws"];
        assert_eq!(aws["Timestamp"], json!(1_767_225_600_000_i64));
        let directive = &aws["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], json!("PasswordReset/test"));
        assert_eq!(directive["Dimensions"], json!([[]]));
        assert_eq!(
            directive["Metrics"],
            json!([
                { "Name": "ResetRequests", "Unit": "Count" },
                { "Name": "MailSendFailures", "Unit": "Count" }
            ])
        );
        // Every declared metric has its value as a top-level member of the same document.
        assert_eq!(document["ResetRequests"], json!(1));
        assert_eq!(document["MailSendFailures"], json!(0));
        Ok(())
    }

    #[test]
    fn a_server_error_is_counted_under_its_function() -> Result<(), serde_json::Error> {
        let line = emf_line_with_dimensions(
            "PasswordReset/test",
            Timestamp::from_millis(1_767_225_600_000),
            &[("Function", "verify-token")],
            &[(SERVER_ERRORS, 1)],
        );
        let document: Value = serde_json::from_str(&line)?;
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], json!([["Function"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{ "Name": "ServerErrors", "Unit": "Count" }])
        );
        assert_eq!(document["Function"], json!("verify-token"));
        assert_eq!(document["ServerErrors"], json!(1));
        Ok(())
    }

    #[test]
    fn metric_names_are_unique_and_short() {
        let mut names = ALL.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        assert!(ALL.iter().all(|n| n.len() <= 255 && n.is_ascii()));
    }
}
