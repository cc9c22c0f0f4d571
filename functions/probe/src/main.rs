//! The `probe` Lambda function: build the dependencies once per container, then walk the flow
//! on each scheduled invocation.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use probe::Probe;
use reset_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let probe = Probe::from_env().await?;
    let probe = &probe;
    run(service_fn(move |_event: LambdaEvent<serde_json::Value>| async move {
        let report = probe::run(probe).await;
        Ok::<_, Error>(serde_json::json!({
            "passed": report.passed(),
            "failed_step": report.failed_step().map(|s| s.step),
        }))
    }))
    .await
}
