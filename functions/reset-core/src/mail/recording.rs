use super::{MailError, Mailer, OutgoingMail};
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
