use super::queue::{MailQueue, QueueError};
use super::{MailError, Mailer, OutgoingMail};
use crate::domain::MailJob;
use async_trait::async_trait;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Keeps every mail it is asked to send; for unit tests of the service.
#[derive(Debug, Default)]
pub struct RecordingMailer {
    sent: Mutex<Vec<OutgoingMail>>,
    down: AtomicBool,
}

impl RecordingMailer {
    pub fn sent(&self) -> Vec<OutgoingMail> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

#[async_trait]
impl Mailer for RecordingMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(MailError::Unavailable("recording mailer switched off".into()));
        }
        let mut sent = self
            .sent
            .lock()
            .map_err(|_| MailError::Unavailable("poisoned".into()))?;
        sent.push(mail.clone());
        Ok(format!("recorded-{}", sent.len()))
    }
}

/// Keeps every job it is handed, in order; for unit tests of the request side.
#[derive(Debug, Default)]
pub struct RecordingQueue {
    jobs: Mutex<Vec<MailJob>>,
    /// Each job's delay, in the order of `jobs`.
    delays: Mutex<Vec<u32>>,
    down: AtomicBool,
}

impl RecordingQueue {
    /// Every job handed over so far, oldest first; the queue keeps them.
    pub fn jobs(&self) -> Vec<MailJob> {
        self.jobs.lock().map(|j| j.clone()).unwrap_or_default()
    }

    /// The delay each job was handed over with, in the order of `jobs`.
    pub fn delays(&self) -> Vec<u32> {
        self.delays.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// Takes the jobs out, as the sender would.
    pub fn drain(&self) -> Vec<MailJob> {
        if let Ok(mut delays) = self.delays.lock() {
            delays.clear();
        }
        self.jobs.lock().map(|mut j| j.drain(..).collect()).unwrap_or_default()
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

#[async_trait]
impl MailQueue for RecordingQueue {
    async fn enqueue_after(&self, job: &MailJob, delay_secs: u32) -> Result<(), QueueError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(QueueError::Unavailable("recording queue switched off".into()));
        }
        let mut jobs = self
            .jobs
            .lock()
            .map_err(|_| QueueError::Unavailable("poisoned".into()))?;
        self.delays
            .lock()
            .map_err(|_| QueueError::Unavailable("poisoned".into()))?
            .push(delay_secs);
        jobs.push(job.clone());
        Ok(())
    }
}
