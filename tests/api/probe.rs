//! The synthetic probe (functions/probe) against the local stack: its walk goes through the
//! public endpoint (`cargo lambda watch`, the origin of `PUBLIC_BASE_URL` locally), the mail
//! queue, the local SQS trigger and send-mail to the SES emulator, and reads and writes the
//! local DynamoDB tables, exactly as it does in the cloud every 5 minutes.
//!
//! DynamoDB down is in `disruptive::probe`: it freezes the shared DynamoDB Local.

use anyhow::Result;
use async_trait::async_trait;
use password_reset_tests::{local_app, tables, watch_url, TestUser};
use probe::site::HttpSite;
use probe::walk::{ProbeAccounts, PublicSite, SiteAnswer, SiteError, StepFailure, STEPS};
use probe::{Probe, ProbeSettings, SITE_TIMEOUT};
use reset_core::store::UserDirectory;
use std::sync::Arc;
use std::time::Duration;

/// A probe account of its own (an ordinary active user: locally the mail goes to the emulator,
/// in the cloud to SES's mailbox simulator), and the probe over `site`.
pub(crate) async fn local_probe(site: Arc<dyn PublicSite>) -> Result<Probe> {
    let app = local_app().await?;
    let user = TestUser::random().build()?;
    tables(&app.settings).await.create_user(&user).await?;
    let own = ProbeSettings {
        accounts: ProbeAccounts::new(vec![user.username.clone()]).ok_or_else(|| anyhow::anyhow!("no account"))?,
        mail_wait: Duration::from_secs(30),
    };
    Ok(Probe::new(&app.settings, own, site).await)
}

pub(crate) fn public_site(base_url: &str) -> Result<Arc<dyn PublicSite>> {
    Ok(Arc::new(HttpSite::new(base_url, SITE_TIMEOUT)?))
}

pub(crate) fn failed_steps(report: &probe::walk::Report) -> Vec<&'static str> {
    report
        .steps
        .iter()
        .filter(|s| s.result.is_err())
        .map(|s| s.step)
        .collect()
}

#[tokio::test]
async fn the_probe_passes_a_healthy_stack_run_after_run() -> Result<()> {
    let probe = local_probe(public_site(&watch_url()?)?).await?;
    let first = probe::run(&probe).await;
    assert!(first.passed(), "{first:?}");
    assert_eq!(first.steps.iter().map(|s| s.step).collect::<Vec<_>>(), STEPS);
    assert!(first.oldest_pending_address_request_secs.is_some(), "{first:?}");
    let counts = probe::metric_counts(&first);
    assert!(counts.contains(&(reset_core::metrics::PROBE_SUCCESS, 1)), "{counts:?}");
    for metric in [
        reset_core::metrics::PROBE_REQUEST_MS,
        reset_core::metrics::PROBE_MAIL_MS,
        reset_core::metrics::PROBE_LINK_MS,
        reset_core::metrics::OLDEST_PENDING_ADDRESS_REQUEST_AGE,
    ] {
        assert!(counts.iter().any(|(name, _)| *name == metric), "{metric}: {counts:?}");
    }
    // Five minutes later the same account is asked again: its mail turn (hours apart for a
    // person) must not stop the probe's next mail.
    let second = probe::run(&probe).await;
    assert!(second.passed(), "{second:?}");
    Ok(())
}

#[tokio::test]
async fn the_probe_fails_its_first_step_when_the_endpoint_does_not_answer() -> Result<()> {
    // A port nothing listens on: the public endpoint is gone.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?.port()
    };
    let probe = local_probe(public_site(&format!("http://127.0.0.1:{closed}"))?).await?;
    let report = probe::run(&probe).await;
    assert_eq!(failed_steps(&report), STEPS.to_vec(), "{report:?}");
    assert!(
        matches!(report.steps[0].result, Err(StepFailure::Site(_))),
        "{report:?}"
    );
    assert!(probe::metric_counts(&report).contains(&(reset_core::metrics::PROBE_SUCCESS, 0)));
    Ok(())
}

/// The public endpoint with one function not served: its routes answer nothing (a closed port),
/// the others go to `cargo lambda watch`.
struct OneFunctionStopped {
    served: Arc<dyn PublicSite>,
    stopped: Arc<dyn PublicSite>,
    stopped_paths: &'static [&'static str],
}

impl OneFunctionStopped {
    fn site_for(&self, path: &str) -> &dyn PublicSite {
        let path = path.split('?').next().unwrap_or(path);
        if self.stopped_paths.contains(&path) {
            self.stopped.as_ref()
        } else {
            self.served.as_ref()
        }
    }
}

#[async_trait]
impl PublicSite for OneFunctionStopped {
    async fn get(&self, path_and_query: &str) -> Result<SiteAnswer, SiteError> {
        self.site_for(path_and_query).get(path_and_query).await
    }

    async fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<SiteAnswer, SiteError> {
        self.site_for(path).post_json(path, body).await
    }
}

#[tokio::test]
async fn the_probe_fails_the_link_step_when_verify_token_is_not_served() -> Result<()> {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.local_addr()?.port()
    };
    let site = OneFunctionStopped {
        served: public_site(&watch_url()?)?,
        stopped: public_site(&format!("http://127.0.0.1:{closed}"))?,
        stopped_paths: &[
            reset_core::web::routes::CONFIRM_PAGE,
            reset_core::web::routes::VERIFY_API,
        ],
    };
    let probe = local_probe(Arc::new(site)).await?;
    let report = probe::run(&probe).await;
    assert_eq!(failed_steps(&report), vec!["link"], "{report:?}");
    assert!(
        matches!(report.steps[2].result, Err(StepFailure::Site(_))),
        "{report:?}"
    );
    // The steps before it passed, with their latencies; success is 0.
    let counts = probe::metric_counts(&report);
    assert!(counts.contains(&(reset_core::metrics::PROBE_SUCCESS, 0)), "{counts:?}");
    assert!(
        counts.iter().any(|(n, _)| *n == reset_core::metrics::PROBE_MAIL_MS),
        "{counts:?}"
    );
    Ok(())
}

#[tokio::test]
async fn the_probe_fails_the_mail_step_when_no_mail_is_accepted_for_its_account() -> Result<()> {
    // A disabled probe account: request-reset answers as for anyone, send-mail sends nothing
    // (the same as send-mail stopped, from the probe's side: no new message id).
    let app = local_app().await?;
    let user = TestUser::random().disabled().build()?;
    tables(&app.settings).await.create_user(&user).await?;
    let own = ProbeSettings {
        accounts: ProbeAccounts::new(vec![user.username.clone()]).ok_or_else(|| anyhow::anyhow!("no account"))?,
        mail_wait: Duration::from_secs(5),
    };
    let probe = Probe::new(&app.settings, own, public_site(&watch_url()?)?).await;
    let report = probe::run(&probe).await;
    assert_eq!(failed_steps(&report), vec!["mail", "link"], "{report:?}");
    assert!(
        matches!(report.steps[1].result, Err(StepFailure::NoMail(5))),
        "{report:?}"
    );
    Ok(())
}
