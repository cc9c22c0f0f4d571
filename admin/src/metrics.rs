//! The admin tool's metrics. The functions write EMF lines to their log streams; a command run
//! on an administrator's machine has none, so it calls CloudWatch PutMetricData into the same
//! namespace (`METRICS_NAMESPACE`, the stack's `PasswordReset/<stack>`). A metric that cannot
//! be published is reported on stderr and never fails the command: the change it counts is
//! already made and audited.

use aws_sdk_cloudwatch::types::{MetricDatum, StandardUnit};
use std::time::SystemTime;

/// Publishes `counts` (name, value) without dimensions, like the functions' EMF lines. Ages
/// (names ending in `Age`) are in seconds, everything else a count.
pub async fn publish(config: &aws_config::SdkConfig, namespace: &str, counts: &[(&str, u64)]) {
    let data: Vec<MetricDatum> = counts
        .iter()
        .map(|(name, value)| {
            let unit = if name.ends_with("Age") {
                StandardUnit::Seconds
            } else {
                StandardUnit::Count
            };
            MetricDatum::builder()
                .metric_name(*name)
                .value(*value as f64)
                .unit(unit)
                .timestamp(SystemTime::now().into())
                .build()
        })
        .collect();
    let result = aws_sdk_cloudwatch::Client::new(config)
        .put_metric_data()
        .namespace(namespace)
        .set_metric_data(Some(data))
        .send()
        .await;
    if let Err(error) = result {
        eprintln!(
            "warning: the metric(s) {} could not be published to CloudWatch ({}); the change itself is done",
            counts.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
            aws_sdk_cloudwatch::error::DisplayErrorContext(error)
        );
    }
}
