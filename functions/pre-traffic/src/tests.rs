//! One hook execution over the fakes: the verdict reaches the reporter with CodeDeploy's ids,
//! and a report that cannot be delivered is the execution's error.

use super::*;
use crate::checks::tests::{probe, Fault, ScriptedRelease};
use crate::report::RecordingReporter;

fn event() -> LifecycleEvent {
    serde_json::from_str(r#"{"DeploymentId":"d-ABCDEF123","LifecycleEventHookExecutionId":"eyJlbmNyeXB0ZWREYXRhIjoi"}"#)
        .unwrap_or_else(|e| panic!("CodeDeploy's event shape: {e}"))
}

fn hook(release: ScriptedRelease, reporter: Arc<RecordingReporter>) -> Hook {
    Hook {
        invoker: Arc::new(release),
        reporter,
        targets: Targets::local(),
        probe: probe(),
    }
}

fn reports(reporter: &RecordingReporter) -> Vec<(HookExecution, HookStatus)> {
    reporter.reports.lock().map(|r| r.clone()).unwrap_or_default()
}

#[tokio::test]
async fn a_healthy_release_is_reported_succeeded_once() {
    let reporter = Arc::new(RecordingReporter::default());
    let status = handle(&hook(ScriptedRelease::healthy(), reporter.clone()), event()).await;
    assert!(matches!(status, Ok(HookStatus::Succeeded)), "{status:?}");
    let expected = HookExecution {
        deployment_id: "d-ABCDEF123".into(),
        lifecycle_event_hook_execution_id: "eyJlbmNyeXB0ZWREYXRhIjoi".into(),
    };
    assert_eq!(reports(&reporter), vec![(expected, HookStatus::Succeeded)]);
}

#[tokio::test]
async fn one_failed_check_is_reported_failed() {
    let reporter = Arc::new(RecordingReporter::default());
    let release = ScriptedRelease::with("send-mail", Fault::Unreachable);
    let status = handle(&hook(release, reporter.clone()), event()).await;
    assert!(matches!(status, Ok(HookStatus::Failed)), "{status:?}");
    let statuses: Vec<HookStatus> = reports(&reporter).into_iter().map(|(_, s)| s).collect();
    assert_eq!(statuses, vec![HookStatus::Failed]);
}

#[tokio::test]
async fn an_undelivered_report_is_the_executions_error() {
    let reporter = Arc::new(RecordingReporter {
        failing: true,
        ..RecordingReporter::default()
    });
    let status = handle(&hook(ScriptedRelease::healthy(), reporter.clone()), event()).await;
    assert!(status.is_err(), "{status:?}");
    assert!(reports(&reporter).is_empty());
}
