//! What each use case may touch: one small struct of borrowed ports per use case, so that a use
//! case's signature says which stores it reads and writes (and the IAM policy of its function
//! can be checked against that), instead of every port reaching every use case through `App`.
//! The routers build them from their function's dependencies with `From`.

use super::AddressDesk;
use crate::app::App;
use crate::breach::BreachCorpus;
use crate::config::Settings;
use crate::domain::Clock;
use crate::mail::MailQueue;
use crate::store::{AccountStore, AddressRequestStore, RateCounters, TokenStore};

/// `request_reset`: two counters and one queue write; never the account.
#[derive(Clone, Copy)]
pub struct RequestPorts<'a> {
    pub settings: &'a Settings,
    pub counters: &'a dyn RateCounters,
    pub mail_queue: &'a dyn MailQueue,
    pub clock: &'a dyn Clock,
}

/// `verify_link`: the link and its account, read only.
#[derive(Clone, Copy)]
pub struct VerifyPorts<'a> {
    pub accounts: &'a dyn AccountStore,
    pub tokens: &'a dyn TokenStore,
    pub clock: &'a dyn Clock,
}

/// `change_password`: the link, the account (whose store consumes the link with the change),
/// the breach corpus when the check is on, and the queue for the notice.
#[derive(Clone, Copy)]
pub struct ChangePorts<'a> {
    pub settings: &'a Settings,
    pub accounts: &'a dyn AccountStore,
    pub tokens: &'a dyn TokenStore,
    pub mail_queue: &'a dyn MailQueue,
    pub clock: &'a dyn Clock,
    pub breach_corpus: Option<&'a dyn BreachCorpus>,
}

/// The address-change request's three steps: counters, the requests, the queue; never the
/// account (send-mail reads it).
#[derive(Clone, Copy)]
pub struct AddressPorts<'a> {
    pub settings: &'a Settings,
    pub counters: &'a dyn RateCounters,
    pub requests: &'a dyn AddressRequestStore,
    pub mail_queue: &'a dyn MailQueue,
    pub clock: &'a dyn Clock,
}

impl<'a> From<&'a App> for RequestPorts<'a> {
    fn from(app: &'a App) -> Self {
        Self {
            settings: &app.settings,
            counters: app.counters.as_ref(),
            mail_queue: app.mail_queue.as_ref(),
            clock: app.clock.as_ref(),
        }
    }
}

impl<'a> From<&'a App> for VerifyPorts<'a> {
    fn from(app: &'a App) -> Self {
        Self {
            accounts: app.accounts.as_ref(),
            tokens: app.tokens.as_ref(),
            clock: app.clock.as_ref(),
        }
    }
}

impl<'a> From<ChangePorts<'a>> for VerifyPorts<'a> {
    fn from(ports: ChangePorts<'a>) -> Self {
        Self {
            accounts: ports.accounts,
            tokens: ports.tokens,
            clock: ports.clock,
        }
    }
}

impl<'a> From<&'a App> for ChangePorts<'a> {
    fn from(app: &'a App) -> Self {
        Self {
            settings: &app.settings,
            accounts: app.accounts.as_ref(),
            tokens: app.tokens.as_ref(),
            mail_queue: app.mail_queue.as_ref(),
            clock: app.clock.as_ref(),
            breach_corpus: app.breach_corpus.as_deref(),
        }
    }
}

impl<'a> From<&'a AddressDesk> for AddressPorts<'a> {
    fn from(desk: &'a AddressDesk) -> Self {
        Self {
            settings: &desk.app.settings,
            counters: desk.app.counters.as_ref(),
            requests: desk.requests.as_ref(),
            mail_queue: desk.app.mail_queue.as_ref(),
            clock: desk.app.clock.as_ref(),
        }
    }
}
