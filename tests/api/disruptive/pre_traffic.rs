//! The PreTraffic hook with the shared DynamoDB Local frozen: the checks that reach a table
//! (the reset request's counters and queue write answer 503; send-mail cannot look the account
//! up and reports the job for retry) fail, so the hook reports Failed and no traffic would shift.
//! The checks that read no table (the two forms, the malformed link refused before any lookup)
//! still pass: the verdict says which function needs what.

use crate::pre_traffic::{failed_checks, lifecycle_event, local_hook, Verdicts};
use anyhow::Result;
use password_reset_tests::watch_url;
use pre_traffic::checks::{run_checks, CheckFailure, Targets, CHECKS};
use pre_traffic::handle;
use pre_traffic::report::HookStatus;
use std::sync::Arc;

#[tokio::test]
async fn the_hook_fails_while_dynamodb_is_down() -> Result<()> {
    let _alone = super::SHARED_STACK.write().await;
    let verdicts = Arc::new(Verdicts::default());
    let hook = local_hook(&watch_url()?, Targets::local(), verdicts.clone()).await?;

    let frozen = super::freeze_dynamodb().await?;
    let verdict = run_checks(hook.invoker.as_ref(), &hook.targets, &hook.probe).await;
    let status = handle(&hook, lifecycle_event()).await?;
    frozen.thaw().await?;

    assert_eq!(
        failed_checks(&verdict.outcomes),
        vec![CHECKS[1], CHECKS[5]],
        "{verdict:?}"
    );
    let failure = |check: &str| verdict.outcomes.iter().find(|o| o.check == check).map(|o| &o.result);
    assert!(
        matches!(
            failure(CHECKS[1]),
            Some(Err(CheckFailure::Status {
                expected: 200,
                got: 503
            }))
        ),
        "{:?}",
        failure(CHECKS[1])
    );
    assert!(
        matches!(failure(CHECKS[5]), Some(Err(CheckFailure::BatchItemFailures(1)))),
        "{:?}",
        failure(CHECKS[5])
    );
    assert_eq!(status, HookStatus::Failed);
    assert_eq!(verdicts.statuses(), vec![HookStatus::Failed]);

    // Thawed, the same hook passes again: the failure was DynamoDB's, not the hook's.
    let again = run_checks(hook.invoker.as_ref(), &hook.targets, &hook.probe).await;
    assert!(again.passed(), "{again:?}");
    Ok(())
}
