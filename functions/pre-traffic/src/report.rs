//! The verdict's way out: the one port through which the hook tells the deployment whether the
//! new versions may take traffic, and its CodeDeploy implementation.
//!
//! CodeDeploy waits for exactly one `PutLifecycleEventHookExecutionStatus` per hook execution
//! (up to an hour, then it fails the deployment). A report that cannot be delivered is the
//! hook's error: Lambda's asynchronous invocation retries the hook (the checks run again), and
//! if no report ever arrives the deployment fails, which rolls nothing forward.

use async_trait::async_trait;
use aws_sdk_codedeploy::types::LifecycleEventStatus;
use serde::Serialize;

/// What the hook tells CodeDeploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum HookStatus {
    /// Every check passed: traffic may shift to the new versions.
    Succeeded,
    /// A check failed: CodeDeploy stops the deployment and the alias stays on the old version.
    Failed,
}

/// Which hook execution a report answers (from CodeDeploy's event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookExecution {
    pub deployment_id: String,
    pub lifecycle_event_hook_execution_id: String,
}

#[derive(Debug, thiserror::Error)]
#[error("the hook's status could not be reported: {0}")]
pub struct ReportError(pub String);

/// The port: one report per hook execution.
#[async_trait]
pub trait HookReporter: Send + Sync {
    async fn report(&self, execution: &HookExecution, status: HookStatus) -> Result<(), ReportError>;
}

/// CodeDeploy's `PutLifecycleEventHookExecutionStatus`.
pub struct CodeDeployReporter {
    client: aws_sdk_codedeploy::Client,
}

impl CodeDeployReporter {
    pub fn new(client: aws_sdk_codedeploy::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl HookReporter for CodeDeployReporter {
    async fn report(&self, execution: &HookExecution, status: HookStatus) -> Result<(), ReportError> {
        let status = match status {
            HookStatus::Succeeded => LifecycleEventStatus::Succeeded,
            HookStatus::Failed => LifecycleEventStatus::Failed,
        };
        self.client
            .put_lifecycle_event_hook_execution_status()
            .deployment_id(&execution.deployment_id)
            .lifecycle_event_hook_execution_id(&execution.lifecycle_event_hook_execution_id)
            .status(status)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| ReportError(aws_sdk_codedeploy::error::DisplayErrorContext(e).to_string()))
    }
}

/// The test fake: records every report; `failing` refuses them all.
#[cfg(test)]
#[derive(Default)]
pub struct RecordingReporter {
    pub reports: std::sync::Mutex<Vec<(HookExecution, HookStatus)>>,
    pub failing: bool,
}

#[cfg(test)]
#[async_trait]
impl HookReporter for RecordingReporter {
    async fn report(&self, execution: &HookExecution, status: HookStatus) -> Result<(), ReportError> {
        if self.failing {
            return Err(ReportError("refused by the test".into()));
        }
        self.reports
            .lock()
            .map_err(|_| ReportError("poisoned".into()))?
            .push((execution.clone(), status));
        Ok(())
    }
}
