//! The synthetic probe with the shared DynamoDB Local frozen: its first step reads the probe
//! account and fails (so would request-reset's counters), the run reports success 0 and no
//! queue age (the age alarm must not calm down on a read that failed); thawed, it passes again.

use crate::probe::{failed_steps, local_probe, public_site};
use anyhow::Result;
use password_reset_tests::watch_url;
use probe::walk::{StepFailure, STEPS};

#[tokio::test]
async fn the_probe_fails_while_dynamodb_is_down() -> Result<()> {
    let _alone = super::SHARED_STACK.write().await;
    let probe = local_probe(public_site(&watch_url()?)?).await?;

    let frozen = super::freeze_dynamodb().await?;
    let report = probe::run(&probe).await;
    frozen.thaw().await?;

    assert_eq!(failed_steps(&report), STEPS.to_vec(), "{report:?}");
    assert!(
        matches!(report.steps[0].result, Err(StepFailure::Store(_))),
        "{report:?}"
    );
    assert_eq!(report.oldest_pending_address_request_secs, None);
    let counts = probe::metric_counts(&report);
    assert_eq!(counts, vec![(reset_core::metrics::PROBE_SUCCESS, 0)]);

    // Thawed, the same probe passes again: the failure was DynamoDB's.
    let again = probe::run(&probe).await;
    assert!(again.passed(), "{again:?}");
    Ok(())
}
