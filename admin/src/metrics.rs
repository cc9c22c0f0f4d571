//! The admin tool's metrics. The functions write EMF lines to their log streams, and CloudWatch
//! Logs turns them into metrics; a command run on an administrator's machine has no log stream,
//! so it writes the same EMF lines (`reset_core::metrics::emf_line`, the stack's namespace) into
//! the stack's admin-metrics log group (`ADMIN_METRICS_LOG_GROUP`, the template's
//! `AdminMetricsLogGroup`), one new stream per command. A metric that cannot be written is
//! reported on stderr and never fails the command: the change it counts is already made and
//! audited.

use reset_core::domain::Timestamp;
use reset_core::metrics::emf_line;

/// The variable naming the log group (the stack output `AdminMetricsLogGroupName`).
pub const LOG_GROUP_VARIABLE: &str = "ADMIN_METRICS_LOG_GROUP";

/// Writes one EMF line with `counts` at `at` into the admin-metrics log group.
pub async fn publish(config: &aws_config::SdkConfig, namespace: &str, at: Timestamp, counts: &[(&str, u64)]) {
    let names = counts.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
    let Some(group) = reset_core::config::Variables::from_env().optional(LOG_GROUP_VARIABLE) else {
        eprintln!("note: {LOG_GROUP_VARIABLE} is not set, so the metric(s) {names} were not published");
        return;
    };
    if let Err(error) = write(config, &group, emf_line(namespace, at, counts), at).await {
        eprintln!(
            "warning: the metric(s) {names} could not be written to {group} ({error}); the change itself is done"
        );
    }
}

async fn write(config: &aws_config::SdkConfig, group: &str, line: String, at: Timestamp) -> Result<(), String> {
    let client = aws_sdk_cloudwatchlogs::Client::new(config);
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| e.to_string())?;
    let stream = format!(
        "reset-admin/{}/{}",
        at.as_secs(),
        random.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    client
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(&stream)
        .send()
        .await
        .map_err(|e| aws_sdk_cloudwatchlogs::error::DisplayErrorContext(e).to_string())?;
    let event = aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
        .timestamp(at.as_millis())
        .message(line)
        .build()
        .map_err(|e| e.to_string())?;
    client
        .put_log_events()
        .log_group_name(group)
        .log_stream_name(&stream)
        .log_events(event)
        .send()
        .await
        .map_err(|e| aws_sdk_cloudwatchlogs::error::DisplayErrorContext(e).to_string())?;
    Ok(())
}
