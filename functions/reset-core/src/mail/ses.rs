use super::{MailError, Mailer, OutgoingMail};
use crate::domain::Email;
use async_trait::async_trait;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use aws_sdk_sesv2::Client;

#[derive(Debug, Clone)]
pub struct SesMailer {
    client: Client,
    sender: Email,
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(client: Client, sender: Email, configuration_set: Option<String>) -> Self {
        Self {
            client,
            sender,
            configuration_set,
        }
    }
}

fn utf8(text: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError::Rejected(e.to_string()))
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        let message = Message::builder()
            .subject(utf8(&mail.subject)?)
            .body(Body::builder().text(utf8(&mail.text)?).html(utf8(&mail.html)?).build())
            .build();
        let output = self
            .client
            .send_email()
            .from_email_address(self.sender.as_str())
            .destination(Destination::builder().to_addresses(mail.to.as_str()).build())
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(|error| {
                let kind = crate::aws_errors::describe(&error);
                match error.as_service_error() {
                    Some(e) if e.is_too_many_requests_exception() || e.is_limit_exceeded_exception() => {
                        MailError::Throttled(kind)
                    }
                    Some(e)
                        if e.is_message_rejected()
                            || e.is_mail_from_domain_not_verified_exception()
                            || e.is_sending_paused_exception()
                            || e.is_account_suspended_exception()
                            || e.is_not_found_exception()
                            || e.is_bad_request_exception() =>
                    {
                        MailError::Rejected(kind)
                    }
                    _ => MailError::Unavailable(kind),
                }
            })?;
        Ok(output.message_id.unwrap_or_default())
    }
}
