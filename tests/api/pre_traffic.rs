//! The PreTraffic hook against the local stack: its checks invoke the functions through the
//! Lambda Invoke API that `cargo lambda watch` serves (`/2015-03-31/functions/<name>/invocations`,
//! the path the SDK's Invoke calls), exactly as they invoke the new versions in the cloud, and the
//! verdict goes to a recording reporter in place of CodeDeploy (moto 5.2.5 has no
//! PutLifecycleEventHookExecutionStatus; the CodeDeploy adapter is not exercised here).
//!
//! DynamoDB down is in `disruptive::pre_traffic`: it freezes the shared DynamoDB Local.

use anyhow::Result;
use async_trait::async_trait;
use password_reset_tests::{local_app, watch_url};
use pre_traffic::checks::{CheckFailure, InvokeError, Probe, Targets, CHECKS};
use pre_traffic::report::{HookExecution, HookReporter, HookStatus, ReportError};
use pre_traffic::{handle, Hook, LambdaInvoker, LifecycleEvent};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Stands in for CodeDeploy: keeps every verdict.
#[derive(Default)]
pub(crate) struct Verdicts(Mutex<Vec<(HookExecution, HookStatus)>>);

#[async_trait]
impl HookReporter for Verdicts {
    async fn report(&self, execution: &HookExecution, status: HookStatus) -> Result<(), ReportError> {
        self.0
            .lock()
            .map_err(|_| ReportError("poisoned".into()))?
            .push((execution.clone(), status));
        Ok(())
    }
}

impl Verdicts {
    pub(crate) fn statuses(&self) -> Vec<HookStatus> {
        self.0
            .lock()
            .map(|v| v.iter().map(|(_, s)| *s).collect())
            .unwrap_or_default()
    }
}

pub(crate) fn lifecycle_event() -> LifecycleEvent {
    LifecycleEvent {
        deployment_id: "d-LOCAL0001".into(),
        lifecycle_event_hook_execution_id: "local-execution".into(),
    }
}

/// The hook as `main.rs` builds it, but reaching `endpoint` and reporting to `verdicts`.
pub(crate) async fn local_hook(endpoint: &str, targets: Targets, verdicts: Arc<Verdicts>) -> Result<Hook> {
    let settings = local_app().await?.settings;
    Ok(Hook {
        invoker: Arc::new(LambdaInvoker::with_endpoint(endpoint).await),
        reporter: verdicts,
        targets,
        probe: Probe::from_settings(&settings),
    })
}

pub(crate) fn failed_checks(outcomes: &[pre_traffic::checks::CheckOutcome]) -> Vec<&'static str> {
    outcomes.iter().filter(|o| o.result.is_err()).map(|o| o.check).collect()
}

#[tokio::test]
async fn the_hook_passes_a_healthy_stack_and_reports_succeeded() -> Result<()> {
    let verdicts = Arc::new(Verdicts::default());
    let hook = local_hook(&watch_url()?, Targets::local(), verdicts.clone()).await?;
    let verdict = pre_traffic::checks::run_checks(hook.invoker.as_ref(), &hook.targets, &hook.probe).await;
    for outcome in &verdict.outcomes {
        assert!(outcome.result.is_ok(), "{}: {:?}", outcome.check, outcome.result);
    }
    assert_eq!(verdict.outcomes.len(), CHECKS.len());

    let status = handle(&hook, lifecycle_event()).await?;
    assert_eq!(status, HookStatus::Succeeded);
    assert_eq!(verdicts.statuses(), vec![HookStatus::Succeeded]);
    Ok(())
}

#[tokio::test]
async fn the_hook_fails_when_the_functions_cannot_be_reached() -> Result<()> {
    // A port nothing listens on: the Lambda endpoint is gone.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?.port()
    };
    let verdicts = Arc::new(Verdicts::default());
    let hook = local_hook(
        &format!("http://127.0.0.1:{closed}"),
        Targets::local(),
        verdicts.clone(),
    )
    .await?;
    let verdict = pre_traffic::checks::run_checks(hook.invoker.as_ref(), &hook.targets, &hook.probe).await;
    assert_eq!(failed_checks(&verdict.outcomes), CHECKS.to_vec());
    for outcome in &verdict.outcomes {
        assert!(
            matches!(outcome.result, Err(CheckFailure::Invoke(InvokeError::Call(_)))),
            "{}: {:?}",
            outcome.check,
            outcome.result
        );
    }
    assert_eq!(handle(&hook, lifecycle_event()).await?, HookStatus::Failed);
    assert_eq!(verdicts.statuses(), vec![HookStatus::Failed]);
    Ok(())
}

#[tokio::test]
async fn the_hook_fails_when_one_function_is_not_there() -> Result<()> {
    // A version that does not exist (in the cloud: a deleted or never-published version) under
    // the same server as the healthy others: only the checks of that function fail.
    let targets = Targets {
        verify_token: "verify-token-stopped".into(),
        ..Targets::local()
    };
    let verdicts = Arc::new(Verdicts::default());
    let hook = local_hook(&watch_url()?, targets, verdicts.clone()).await?;
    let verdict = pre_traffic::checks::run_checks(hook.invoker.as_ref(), &hook.targets, &hook.probe).await;
    assert_eq!(failed_checks(&verdict.outcomes), vec![CHECKS[2]], "{verdict:?}");
    assert_eq!(handle(&hook, lifecycle_event()).await?, HookStatus::Failed);
    assert_eq!(verdicts.statuses(), vec![HookStatus::Failed]);
    Ok(())
}

/// The floor check reads the real answer's time: the local functions run with
/// `REQUEST_MIN_RESPONSE_MS=0` (scripts/test-env.sh), so a hook that expects a floor of seconds
/// must see it missing.
#[tokio::test]
async fn the_hook_fails_when_the_floor_is_not_applied() -> Result<()> {
    let verdicts = Arc::new(Verdicts::default());
    let mut hook = local_hook(&watch_url()?, Targets::local(), verdicts).await?;
    hook.probe.floor = Duration::from_secs(5);
    let verdict = pre_traffic::checks::run_checks(hook.invoker.as_ref(), &hook.targets, &hook.probe).await;
    assert_eq!(failed_checks(&verdict.outcomes), vec![CHECKS[1]]);
    let unknown = verdict.outcomes.iter().find(|o| o.check == CHECKS[1]);
    assert!(
        matches!(unknown.map(|o| &o.result), Some(Err(CheckFailure::UnderFloor { .. }))),
        "{unknown:?}"
    );
    Ok(())
}
