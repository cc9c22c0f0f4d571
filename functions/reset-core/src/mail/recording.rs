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
    down: AtomicBool,
}

impl RecordingQueue {
    /// Every job handed over so far, oldest first; the queue keeps them.
    pub fn jobs(&self) -> Vec<MailJob> {
        self.jobs.lock().map(|j| j.clone()).unwrap_or_default()
    }

    /// Takes the jobs out, as the sender would.
    pub fn drain(&self) -> Vec<MailJob> {
        self.jobs.lock().map(|mut j| j.drain(..).collect()).unwrap_or_default()
    }

    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
}

#[async_trait]
impl MailQueue for RecordingQueue {
    async fn enqueue(&self, job: &MailJob) -> Result<(), QueueError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(QueueError::Unavailable("recording queue switched off".into()));
        }
        self.jobs
            .lock()
            .map_err(|_| QueueError::Unavailable("poisoned".into()))?
            .push(job.clone());
        Ok(())
    }
}
