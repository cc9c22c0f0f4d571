//! `address-requests list | show | approve | reject`.

use super::Session;
use anyhow::Result;
use reset_admin::address_requests::AddressRequests;
use reset_admin::metrics;
use reset_admin::render::{approval_line, pending_table, rejection_line, request_json};
use reset_admin::text::visible;
use reset_admin::users::mail_queue_from_env;
use reset_admin::{source, AccountSource, Accounts, AdminError, Reason};
use reset_core::config::{Variables, DEFAULT_METRICS_NAMESPACE};
use reset_core::domain::{AddressRequestId, Clock, SystemClock};
use std::process::ExitCode;

fn request_id(typed: &str) -> Result<AddressRequestId, AdminError> {
    AddressRequestId::parse(typed).map_err(|_| AdminError::MalformedRequestId(visible(typed.trim()).into_owned()))
}

/// What every `address-requests` command works with: the requests table and the namespace of
/// the metrics it publishes.
pub struct Desk<'a> {
    session: Session<'a>,
    requests: AddressRequests,
    namespace: String,
}

impl<'a> Desk<'a> {
    pub fn open(session: Session<'a>) -> Result<Self> {
        let requests = AddressRequests::from_config(session.config)?;
        let namespace = Variables::from_env()
            .optional("METRICS_NAMESPACE")
            .unwrap_or_else(|| DEFAULT_METRICS_NAMESPACE.to_owned());
        Ok(Self {
            session,
            requests,
            namespace,
        })
    }

    /// `address-requests list`: the pending requests, and the oldest one's age as a metric.
    pub async fn list(&self) -> Result<ExitCode> {
        let now = SystemClock.now();
        let pending = self.requests.pending(now).await?;
        print!("{}", pending_table(&pending, now));
        let oldest = pending.first().map_or(0, |row| row.waiting_secs(now));
        metrics::publish(
            self.session.config,
            &self.namespace,
            now,
            &[(
                reset_core::metrics::OLDEST_PENDING_ADDRESS_REQUEST_AGE,
                u64::try_from(oldest).unwrap_or(0),
            )],
        )
        .await;
        Ok(ExitCode::SUCCESS)
    }

    /// `address-requests show ID`: the request and its account, as JSON.
    pub async fn show(&self, typed: &str) -> Result<ExitCode> {
        let id = request_id(typed)?;
        let request = self.requests.find(&id).await?;
        let accounts = self.accounts()?;
        let account = accounts.find(&request.username).await?;
        let shown = request_json(
            &request,
            account.as_ref(),
            SystemClock.now(),
            self.requests.objection_window_secs(),
        )?;
        println!("{shown}");
        Ok(ExitCode::SUCCESS)
    }

    /// `address-requests approve ID`: the account's address changed to the request's, audited.
    pub async fn approve(&self, typed: &str, reason: &str, override_reason: Option<&str>) -> Result<ExitCode> {
        let id = request_id(typed)?;
        let overriding = override_reason.map(Reason::parse).transpose()?;
        let accounts = self.accounts()?;
        let change = self.session.change(reason).await?;
        let queue = mail_queue_from_env(self.session.config)?;
        let approval = match &overriding {
            Some(why) => {
                self.requests
                    .approve_overriding(accounts.as_ref(), &queue, &id, &change, why)
                    .await?
            }
            None => self.requests.approve(accounts.as_ref(), &queue, &id, &change).await?,
        };
        println!("{}", approval_line(&id, &approval));
        self.count(change.at, reset_core::metrics::ADDRESS_REQUESTS_APPROVED)
            .await;
        Ok(ExitCode::SUCCESS)
    }

    /// `address-requests reject ID`: the request marked rejected, the account unchanged.
    pub async fn reject(&self, typed: &str, reason: &str) -> Result<ExitCode> {
        let id = request_id(typed)?;
        let accounts = Accounts::from_config(self.session.config)?;
        let change = self.session.change(reason).await?;
        let request = self.requests.reject(&accounts, &id, &change).await?;
        println!("{}", rejection_line(&id, &request));
        self.count(change.at, reset_core::metrics::ADDRESS_REQUESTS_REJECTED)
            .await;
        Ok(ExitCode::SUCCESS)
    }

    /// The accounts the requests are about, where `PASSWORD_STORE` says they live.
    fn accounts(&self) -> Result<Box<dyn AccountSource>, AdminError> {
        source::open(self.session.config, self.session.store)
    }

    /// One decision, as a metric.
    async fn count(&self, at: reset_core::domain::Timestamp, metric: &str) {
        metrics::publish(self.session.config, &self.namespace, at, &[(metric, 1)]).await;
    }
}
