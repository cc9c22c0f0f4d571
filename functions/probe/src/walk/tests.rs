//! The walk over fakes: a healthy stack passes every step; each broken part fails its own step
//! and the steps after it are not run.

use super::*;
use reset_core::domain::FixedClock;
use std::sync::Mutex;

fn username(name: &str) -> Username {
    Username::parse(name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What the fake stack does wrong.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    RequestAnswers(u16),
    SiteUnreachable,
    NoMailSent,
    TableDown,
    LinkRefused,
}

/// A stack in memory: a reset request "sends" a mail (a new message id) unless told not to;
/// the links it knows are the ones minted through it.
pub(crate) struct FakeStack {
    fault: Fault,
    message_id: Mutex<Option<String>>,
    sent: Mutex<u32>,
    links: Mutex<Vec<String>>,
    turns_freed: Mutex<u32>,
}

impl FakeStack {
    pub(crate) fn new(fault: Fault) -> Self {
        Self {
            fault,
            message_id: Mutex::new(Some("older-message".into())),
            sent: Mutex::new(0),
            links: Mutex::new(Vec::new()),
            turns_freed: Mutex::new(0),
        }
    }

    fn table(&self) -> Result<(), ProbeStoreError> {
        if self.fault == Fault::TableDown {
            return Err(ProbeStoreError::Unavailable("dispatch failure".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl PublicSite for FakeStack {
    async fn get(&self, path_and_query: &str) -> Result<SiteAnswer, SiteError> {
        if self.fault == Fault::SiteUnreachable {
            return Err(SiteError("connection refused".into()));
        }
        let known = path_and_query
            .split_once("token=")
            .is_some_and(|(_, t)| self.links.lock().is_ok_and(|l| l.iter().any(|k| k == t)));
        Ok(if known && self.fault != Fault::LinkRefused {
            SiteAnswer {
                status: 200,
                body: r#"<form><input type="hidden" name="token" value="x"></form>"#.into(),
            }
        } else {
            SiteAnswer {
                status: 400,
                body: "invalid link".into(),
            }
        })
    }

    async fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<SiteAnswer, SiteError> {
        if self.fault == Fault::SiteUnreachable {
            return Err(SiteError("connection refused".into()));
        }
        if path == reset_core::web::routes::REQUEST_API {
            if let Fault::RequestAnswers(status) = self.fault {
                return Ok(SiteAnswer {
                    status,
                    body: "{}".into(),
                });
            }
            if self.fault != Fault::NoMailSent {
                let mut sent = self.sent.lock().map_err(|_| SiteError("poisoned".into()))?;
                *sent += 1;
                if let Ok(mut id) = self.message_id.lock() {
                    *id = Some(format!("message-{sent}"));
                }
            }
            return Ok(SiteAnswer {
                status: 202,
                body: "{}".into(),
            });
        }
        let token = body
            .get("token")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let known = self.links.lock().is_ok_and(|l| l.iter().any(|k| k == token));
        Ok(if known && self.fault != Fault::LinkRefused {
            SiteAnswer {
                status: 200,
                body: r#"{"valid":true,"username":"pr000001"}"#.into(),
            }
        } else {
            SiteAnswer {
                status: 400,
                body: r#"{"error":"invalid_link"}"#.into(),
            }
        })
    }
}

#[async_trait]
impl ProbeStore for FakeStack {
    async fn probe_account(&self, name: &Username) -> Result<Option<ProbeAccount>, ProbeStoreError> {
        self.table()?;
        if name.as_str() != "pr000001" {
            return Ok(None);
        }
        Ok(Some(ProbeAccount {
            credential_epoch: CredentialEpoch::default(),
            reset_mail_message_id: self.message_id.lock().ok().and_then(|m| m.clone()),
        }))
    }

    async fn free_mail_turn(&self, _: &Username) -> Result<(), ProbeStoreError> {
        self.table()?;
        if let Ok(mut freed) = self.turns_freed.lock() {
            *freed += 1;
        }
        Ok(())
    }

    async fn mint_link(
        &self,
        _: &Username,
        _: CredentialEpoch,
        _: Timestamp,
        _: i64,
    ) -> Result<String, ProbeStoreError> {
        self.table()?;
        let token = format!("link-{}", self.links.lock().map(|l| l.len()).unwrap_or(0));
        if let Ok(mut links) = self.links.lock() {
            links.push(token.clone());
        }
        Ok(token)
    }

    async fn oldest_pending_address_request_secs(&self, _: Timestamp) -> Result<u64, ProbeStoreError> {
        self.table()?;
        Ok(7200)
    }
}

fn pacing() -> Pacing {
    Pacing {
        mail_wait: Duration::from_secs(3),
        mail_poll: Duration::from_millis(500),
        link_lifetime_secs: 3600,
    }
}

async fn walk_over(stack: &FakeStack, name: &str) -> Report {
    let clock = FixedClock::at(Timestamp::from_millis(1_767_225_600_000));
    walk(stack, stack, &username(name), &pacing(), &clock).await
}

fn failures(report: &Report) -> Vec<(&'static str, String)> {
    report
        .steps
        .iter()
        .filter_map(|s| s.result.as_ref().err().map(|e| (s.step, e.to_string())))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_healthy_stack_passes_every_step_and_frees_the_turn_once() {
    let stack = FakeStack::new(Fault::None);
    let report = walk_over(&stack, "pr000001").await;
    assert!(report.passed(), "{report:?}");
    assert_eq!(report.steps.iter().map(|s| s.step).collect::<Vec<_>>(), STEPS);
    assert_eq!(report.oldest_pending_address_request_secs, Some(7200));
    assert_eq!(stack.turns_freed.lock().map(|t| *t).ok(), Some(1));
    assert_eq!(stack.sent.lock().map(|t| *t).ok(), Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_refused_request_fails_the_request_step_and_runs_no_other() {
    let stack = FakeStack::new(Fault::RequestAnswers(503));
    let report = walk_over(&stack, "pr000001").await;
    assert!(!report.passed());
    assert_eq!(report.failed_step().map(|s| s.step), Some("request"));
    assert!(matches!(
        report.steps[0].result,
        Err(StepFailure::Status {
            expected: 202,
            got: 503,
            ..
        })
    ));
    assert!(report.steps[1..]
        .iter()
        .all(|s| matches!(s.result, Err(StepFailure::NotRun))));
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_endpoint_fails_the_request_step() {
    let report = walk_over(&FakeStack::new(Fault::SiteUnreachable), "pr000001").await;
    assert_eq!(report.failed_step().map(|s| s.step), Some("request"));
    assert!(
        matches!(report.steps[0].result, Err(StepFailure::Site(_))),
        "{report:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn no_new_message_id_fails_the_mail_step_after_the_wait() {
    let stack = FakeStack::new(Fault::NoMailSent);
    let report = walk_over(&stack, "pr000001").await;
    assert_eq!(
        failures(&report),
        vec![
            ("mail", "no new reset mail was accepted within 3 s".to_owned()),
            ("link", "not run: an earlier step failed".to_owned())
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_table_down_fails_the_first_step_and_the_queue_age_goes_missing() {
    let report = walk_over(&FakeStack::new(Fault::TableDown), "pr000001").await;
    assert_eq!(report.failed_step().map(|s| s.step), Some("request"));
    assert!(matches!(report.steps[0].result, Err(StepFailure::Store(_))));
    assert_eq!(report.oldest_pending_address_request_secs, None);
}

#[tokio::test(start_paused = true)]
async fn a_refused_link_fails_the_link_step() {
    let report = walk_over(&FakeStack::new(Fault::LinkRefused), "pr000001").await;
    assert_eq!(
        failures(&report),
        vec![("link", "the link answered 400, expected 200".to_owned())]
    );
}

#[tokio::test(start_paused = true)]
async fn a_missing_probe_account_says_so() {
    let report = walk_over(&FakeStack::new(Fault::None), "pr000009").await;
    assert_eq!(
        failures(&report)[0],
        ("request", "the probe account pr000009 does not exist".to_owned())
    );
}

#[test]
fn the_accounts_take_turns_by_five_minute_slot() {
    let accounts = ProbeAccounts::new(vec![username("pr000001"), username("pr000002"), username("pr000003")])
        .unwrap_or_else(|| panic!("three accounts"));
    let at = |secs: i64| accounts.of_run(Timestamp::from_millis(secs * 1000)).as_str().to_owned();
    // Slots 0, 1, 2, 3 of 300 s: each account once, then the first again.
    assert_eq!(
        [at(0), at(299), at(300), at(600), at(900)],
        ["pr000001", "pr000001", "pr000002", "pr000003", "pr000001"]
    );
    // Twelve runs an hour over three accounts: four each.
    let mut counts = std::collections::HashMap::new();
    for run in 0..12 {
        *counts.entry(at(1_767_225_600 + run * 300)).or_insert(0) += 1;
    }
    assert!(counts.values().all(|&n| n == 4), "{counts:?}");
    assert!(ProbeAccounts::new(Vec::new()).is_none());
}
