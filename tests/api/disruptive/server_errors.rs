//! The canary's eyes on the real path: with the shared DynamoDB Local frozen, request-reset
//! (the real binary under `cargo lambda watch`) answers 503, and its output, which Lambda would
//! ship to CloudWatch Logs, carries the EMF line that the rollback alarm
//! `RequestResetServerErrorsAlarm` counts: metric `ServerErrors` = 1 in the stack's namespace,
//! dimension `Function` = `request-reset` (infra/tests/test_rollback_alarms.py checks the alarm).

use anyhow::{anyhow, Context, Result};
use password_reset_tests::{http, local_app, watch_url};
use serde_json::{json, Value};

fn env(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("{name} is not set: run the tests through `make test`"))
}

fn server_error_lines(log: &str, namespace: &str) -> Vec<Value> {
    log.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|doc| {
            doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == json!(namespace)
                && doc["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] == json!("ServerErrors")
        })
        .collect()
}

#[tokio::test]
async fn a_5xx_answer_emits_the_metric_its_rollback_alarm_counts() -> Result<()> {
    let _alone = super::SHARED_STACK.write().await;
    let watch_log = env("WATCH_LOG")?;
    let app = local_app().await?;
    let namespace = app.settings.metrics_namespace.clone();
    let before = server_error_lines(&std::fs::read_to_string(&watch_log)?, &namespace).len();

    let frozen = super::freeze_dynamodb().await?;
    let answer = http()?
        .post(format!("{}/password-reset", watch_url()?))
        .header("origin", &app.settings.public_base_url)
        .form(&[("username", "ex000001")])
        .send()
        .await?;
    frozen.thaw().await?;
    assert_eq!(answer.status(), 503, "a frozen DynamoDB is a 503");

    // cargo lambda watch copies the function's stdout into its log as it comes.
    let mut lines = Vec::new();
    for _ in 0..20 {
        lines = server_error_lines(&std::fs::read_to_string(&watch_log)?, &namespace);
        if lines.len() > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let line = lines
        .get(before..)
        .and_then(<[Value]>::first)
        .ok_or_else(|| anyhow!("no ServerErrors line in {watch_log} after the 503"))?;
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Function"]])
    );
    assert_eq!(line["Function"], json!("request-reset"));
    assert_eq!(line["ServerErrors"], json!(1));
    Ok(())
}
