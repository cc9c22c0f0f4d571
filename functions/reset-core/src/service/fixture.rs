//! The one fixture of the use cases' unit tests: every port over the in-memory fakes (the
//! store, the address requests, the recording queue and mailer, a fixed clock), wired the way
//! `wiring::Wiring` wires the real adapters: the HTTP functions' `App`, address-change's
//! `AddressDesk` and send-mail's `MailSender`, all over the same fakes.

use super::{AddressDesk, MailSender};
use crate::app::App;
use crate::config::tests::sample_settings;
use crate::domain::{Email, FixedClock, Timestamp};
use crate::mail::{RecordingMailer, RecordingQueue};
use crate::store::{MemoryAddressRequests, MemoryStore};
use std::sync::Arc;

pub(super) struct Fixture {
    pub app: App,
    pub desk: AddressDesk,
    pub sender: MailSender,
    pub store: Arc<MemoryStore>,
    pub requests: Arc<MemoryAddressRequests>,
    pub queue: Arc<RecordingQueue>,
    pub mailer: Arc<RecordingMailer>,
    pub clock: Arc<FixedClock>,
}

/// 2026-11-25T12:00:00Z, with the administrators' address configured.
pub(super) fn fixture() -> Fixture {
    let store = Arc::new(MemoryStore::default());
    let requests = Arc::new(MemoryAddressRequests::default());
    let queue = Arc::new(RecordingQueue::default());
    let mailer = Arc::new(RecordingMailer::default());
    let clock = Arc::new(FixedClock::at(Timestamp::from_millis(1_795_608_000_000)));
    let mut settings = sample_settings();
    settings.address.notify_address = Email::parse("admins@example.jp").ok();
    let app = || App::new(settings.clone(), store.clone(), queue.clone(), clock.clone());
    let sender = MailSender {
        settings: settings.clone(),
        accounts: store.clone(),
        tokens: store.clone(),
        counters: store.clone(),
        ledger: store.clone(),
        mailer: mailer.clone(),
        clock: clock.clone(),
        address_requests: requests.clone(),
    };
    Fixture {
        app: app(),
        desk: AddressDesk::new(app(), requests.clone()),
        sender,
        store,
        requests,
        queue,
        mailer,
        clock,
    }
}
