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
/// A reset mail SES accepted.
pub const RESET_MAILS_SENT: &str = "ResetMailsSent";
/// A reset mail SES refused or could not be reached for.
pub const RESET_MAIL_SEND_FAILURES: &str = "ResetMailSendFailures";
/// The password-changed notice after a completed change: sent, or not (the change stands
/// either way, so only this metric and its alarm tell anyone).
pub const NOTICE_MAILS_SENT: &str = "NoticeMailsSent";
pub const NOTICE_MAIL_SEND_FAILURES: &str = "NoticeMailSendFailures";
/// SES events about sent mail, counted by `mail-events`.
pub const MAIL_DELIVERIES: &str = "MailDeliveries";
pub const MAIL_BOUNCES: &str = "MailBounces";
pub const MAIL_COMPLAINTS: &str = "MailComplaints";
pub const MAIL_REJECTS: &str = "MailRejects";
/// Events whose message id belongs to no account's latest reset mail (an older mail, the
/// password-changed notice, or an address changed since).
pub const MAIL_EVENTS_UNMATCHED: &str = "MailEventsUnmatched";
/// SNS messages that were not SES event notifications this function understands.
pub const MAIL_EVENTS_MALFORMED: &str = "MailEventsMalformed";

/// Every metric name the code emits; the template's alarms may only use these.
pub const ALL: [&str; 11] = [
    RESET_REQUESTS,
    RESET_MAILS_SENT,
    RESET_MAIL_SEND_FAILURES,
    NOTICE_MAILS_SENT,
    NOTICE_MAIL_SEND_FAILURES,
    MAIL_DELIVERIES,
    MAIL_BOUNCES,
    MAIL_COMPLAINTS,
    MAIL_REJECTS,
    MAIL_EVENTS_UNMATCHED,
    MAIL_EVENTS_MALFORMED,
];

/// One EMF document: counts without dimensions in `namespace`, stamped `at`.
pub fn emf_line(namespace: &str, at: Timestamp, counts: &[(&str, u64)]) -> String {
    let definitions: Vec<Value> = counts
        .iter()
        .map(|(name, _)| json!({ "Name": name, "Unit": "Count" }))
        .collect();
    let mut document = Map::new();
    document.insert(
        "_aws".into(),
        json!({
            "Timestamp": at.as_millis(),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                // One empty dimension set: the metrics are published without dimensions, which
                // is what the alarms query.
                "Dimensions": [[]],
                "Metrics": definitions,
            }],
        }),
    );
    for (name, value) in counts {
        document.insert((*name).to_owned(), json!(value));
    }
    Value::Object(document).to_string()
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
            &[(RESET_REQUESTS, 1), (RESET_MAIL_SEND_FAILURES, 0)],
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
                { "Name": "ResetMailSendFailures", "Unit": "Count" }
            ])
        );
        // Every declared metric has its value as a top-level member of the same document.
        assert_eq!(document["ResetRequests"], json!(1));
        assert_eq!(document["ResetMailSendFailures"], json!(0));
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
