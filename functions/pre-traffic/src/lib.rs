//! `pre-traffic`: the PreTraffic hook of every function's canary deployment.
//!
//! CodeDeploy invokes it (asynchronously, by its name) after a deployment has published the new
//! versions and before it shifts any traffic to them. It runs the [`checks`] against the new
//! versions, invoking each directly (they are not behind the API yet), and reports the verdict
//! through the [`report`] port: `Succeeded` lets the canary start, `Failed` stops the deployment
//! with the alias still on the old version.
//!
//! Layout: `checks` (what a healthy release answers; no CodeDeploy in it) · `report` (the port
//! and CodeDeploy's implementation) · this file (the wiring of one execution, and the Lambda
//! Invoke adapter of the checks' `FunctionInvoker` port) · `main.rs` (builds it once per
//! container).

pub mod checks;
pub mod report;

use async_trait::async_trait;
use checks::{run_checks, FunctionInvoker, InvokeError, Probe, Targets, Verdict};
use report::{CodeDeployReporter, HookExecution, HookReporter, HookStatus, ReportError};
use reset_core::app::{sdk_config_with, SdkBounds};
use reset_core::config::{ConfigError, Settings, Variables};
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// The event CodeDeploy invokes a lifecycle hook with.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleEvent {
    pub deployment_id: String,
    pub lifecycle_event_hook_execution_id: String,
}

/// One invocation of a new version may meet its cold start and, for send-mail, a 30 s function
/// timeout: one attempt (a retried check would count twice), bounded inside the hook's 60 s.
const INVOKE_BOUNDS: SdkBounds = SdkBounds {
    max_attempts: 1,
    connect_timeout: Duration::from_secs(2),
    attempt_timeout: Duration::from_secs(40),
    operation_timeout: Duration::from_secs(40),
};

/// The report is small and must arrive: three attempts, well inside what the checks leave.
const REPORT_BOUNDS: SdkBounds = SdkBounds {
    max_attempts: 3,
    connect_timeout: Duration::from_secs(2),
    attempt_timeout: Duration::from_secs(4),
    operation_timeout: Duration::from_secs(12),
};

/// The hook's dependencies, built once per container.
pub struct Hook {
    pub invoker: Arc<dyn FunctionInvoker>,
    pub reporter: Arc<dyn HookReporter>,
    pub targets: Targets,
    pub probe: Probe,
}

impl Hook {
    /// Reads the functions' own settings (the template gives the hook the same globals) and the
    /// new versions to check, and builds the Lambda and CodeDeploy clients. Touches no network.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let vars = Variables::from_env();
        let settings = Settings::read(&vars)?;
        let targets = Targets::read(&vars)?;
        let invoke_config = sdk_config_with(INVOKE_BOUNDS).await;
        let report_config = sdk_config_with(REPORT_BOUNDS).await;
        Ok(Self {
            invoker: Arc::new(LambdaInvoker::new(aws_sdk_lambda::Client::new(&invoke_config))),
            reporter: Arc::new(CodeDeployReporter::new(aws_sdk_codedeploy::Client::new(&report_config))),
            targets,
            probe: Probe::from_settings(&settings),
        })
    }
}

/// One hook execution: the checks, their log lines, the report. The answer is the status that
/// was reported; an error only when the report could not be delivered.
pub async fn handle(hook: &Hook, event: LifecycleEvent) -> Result<HookStatus, ReportError> {
    let verdict = run_checks(hook.invoker.as_ref(), &hook.targets, &hook.probe).await;
    log_verdict(&verdict, &event.deployment_id);
    let status = if verdict.passed() {
        HookStatus::Succeeded
    } else {
        HookStatus::Failed
    };
    let execution = HookExecution {
        deployment_id: event.deployment_id,
        lifecycle_event_hook_execution_id: event.lifecycle_event_hook_execution_id,
    };
    hook.reporter.report(&execution, status).await?;
    tracing::info!(deployment_id = %execution.deployment_id, status = ?status, "pre-traffic verdict reported");
    Ok(status)
}

fn log_verdict(verdict: &Verdict, deployment_id: &str) {
    for outcome in &verdict.outcomes {
        let took_ms = outcome.took.as_millis() as u64;
        match &outcome.result {
            Ok(()) => {
                tracing::info!(deployment_id, check = outcome.check, target = %outcome.target, took_ms, "check passed")
            }
            Err(failure) => tracing::error!(
                deployment_id,
                check = outcome.check,
                target = %outcome.target,
                took_ms,
                failure = %failure,
                "check failed"
            ),
        }
    }
}

/// The checks' way to the functions: Lambda's Invoke API (RequestResponse), by name or by
/// version ARN. `cargo lambda watch` serves the same API locally
/// (`/2015-03-31/functions/<name>/invocations`), reached through `AWS_ENDPOINT_URL_LAMBDA` or
/// [`LambdaInvoker::with_endpoint`].
pub struct LambdaInvoker {
    client: aws_sdk_lambda::Client,
}

impl LambdaInvoker {
    pub fn new(client: aws_sdk_lambda::Client) -> Self {
        Self { client }
    }

    /// The same, with the hook's invoke bounds and an explicit endpoint (a local server).
    pub async fn with_endpoint(endpoint_url: &str) -> Self {
        let config = sdk_config_with(INVOKE_BOUNDS).await;
        let lambda = aws_sdk_lambda::config::Builder::from(&config)
            .endpoint_url(endpoint_url)
            .build();
        Self::new(aws_sdk_lambda::Client::from_conf(lambda))
    }
}

/// How much of a failed function's own error the log keeps.
const DETAIL_CHARS: usize = 300;

#[async_trait]
impl FunctionInvoker for LambdaInvoker {
    async fn invoke(&self, function: &str, payload: Vec<u8>) -> Result<Vec<u8>, InvokeError> {
        let output = self
            .client
            .invoke()
            .function_name(function)
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await
            .map_err(|e| InvokeError::Call(aws_sdk_lambda::error::DisplayErrorContext(e).to_string()))?;
        let answer = output.payload().map(|b| b.as_ref().to_vec()).unwrap_or_default();
        if let Some(kind) = output.function_error() {
            let detail: String = String::from_utf8_lossy(&answer).chars().take(DETAIL_CHARS).collect();
            return Err(InvokeError::Function {
                kind: kind.to_owned(),
                detail,
            });
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests;
