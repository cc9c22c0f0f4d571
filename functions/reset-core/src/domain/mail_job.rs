//! A mail waiting to be sent: what a request hands to the mail queue and the sender reads back.
//!
//! A job carries only what the sender needs. A reset-link job carries no link at all: the
//! sender mints the token when it sends, so the secret exists only in the mail and its hash
//! only in the token table; a queued job is worth nothing to whoever reads the queue.

use crate::domain::token::RandomnessUnavailable;
use crate::domain::{AddressRequestId, Email, Language, MaskedEmail, RequestText, Timestamp, Username};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Random and unique per job: the mail ledger's key, so that a redelivered job sends nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a mail job id")]
pub struct MalformedJobId;

const JOB_ID_BYTES: usize = 16;

impl JobId {
    pub fn generate() -> Result<Self, RandomnessUnavailable> {
        let mut bytes = [0u8; JOB_ID_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| RandomnessUnavailable(e.to_string()))?;
        Ok(Self(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for JobId {
    type Error = MalformedJobId;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let well_formed =
            value.len() == JOB_ID_BYTES * 2 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if well_formed {
            Ok(Self(value))
        } else {
            Err(MalformedJobId)
        }
    }
}

impl From<JobId> for String {
    fn from(id: JobId) -> Self {
        id.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which mail, for whom.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum QueuedMail {
    /// A reset link for the account's registered address, if the account exists, is active and
    /// has mail budget left when the sender gets to it. The request never reads the account:
    /// known and unknown usernames cost the request exactly the same work.
    ResetLink { username: Username, requested_at: i64 },
    /// The notice that the password was changed, to the address registered at that moment.
    PasswordChanged {
        username: Username,
        to: Email,
        language: Language,
        changed_at: i64,
        /// A change in a store that cannot commit it in one step (`store::claimed_change`): the
        /// notice was queued before the password was set, and finishes the change (sessions
        /// ended, link used, epoch moved on) before it is mailed; a change that was not made
        /// mails nothing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        completes: Option<PendingChange>,
    },
    /// The notice that an administrator changed the registered address: one to the old address
    /// ("if this was not you …"), one to the new.
    AddressChanged {
        username: Username,
        to: Email,
        language: Language,
        changed_at: i64,
        /// True for the mail to the address that was replaced.
        to_old_address: bool,
    },
    /// The verification link of an address-change request, to the request's new address. Like
    /// a reset job it carries no link: the sender mints the token and stores its hash on the
    /// request when it sends.
    AddressVerification {
        username: Username,
        request_id: AddressRequestId,
    },
    /// To the account's registered address (looked up by the sender; nothing for an unknown
    /// username): a verified request asks to replace it. Carries no full address.
    AddressChangeRequested {
        username: Username,
        request_id: AddressRequestId,
        institution: RequestText,
        new_email_masked: MaskedEmail,
        requested_at: i64,
    },
    /// To the administrators' address (`ADDRESS_REQUEST_NOTIFY_ADDRESS`): a verified request
    /// waits in the queue. Only the id and the username.
    AddressRequestArrived {
        username: Username,
        request_id: AddressRequestId,
    },
}

/// A claimed change the notice finishes: the account as the ledger keys it, and the claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingChange {
    pub account: Username,
    pub claim: String,
}

/// Every kind of queued mail, without its fields: what logs, metrics and the tests that must
/// cover every mail iterate over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    ResetLink,
    PasswordChanged,
    AddressChanged,
    AddressVerification,
    AddressChangeRequested,
    AddressRequestArrived,
}

impl MailKind {
    /// Every kind, each at its `index`: a new variant fails to compile in `index` and `code`
    /// until it has a place, and the check below fails the build until `ALL` holds it there.
    pub const ALL: [MailKind; 6] = [
        MailKind::ResetLink,
        MailKind::PasswordChanged,
        MailKind::AddressChanged,
        MailKind::AddressVerification,
        MailKind::AddressChangeRequested,
        MailKind::AddressRequestArrived,
    ];

    const fn index(self) -> usize {
        match self {
            MailKind::ResetLink => 0,
            MailKind::PasswordChanged => 1,
            MailKind::AddressChanged => 2,
            MailKind::AddressVerification => 3,
            MailKind::AddressChangeRequested => 4,
            MailKind::AddressRequestArrived => 5,
        }
    }

    /// The job's `kind` tag, for logs and metrics: never an address.
    pub fn code(self) -> &'static str {
        match self {
            MailKind::ResetLink => "reset_link",
            MailKind::PasswordChanged => "password_changed",
            MailKind::AddressChanged => "address_changed",
            MailKind::AddressVerification => "address_verification",
            MailKind::AddressChangeRequested => "address_change_requested",
            MailKind::AddressRequestArrived => "address_request_arrived",
        }
    }
}

// `ALL` lists every kind once, each at its `index`.
const _: () = {
    let mut i = 0;
    while i < MailKind::ALL.len() {
        assert!(
            MailKind::ALL[i].index() == i,
            "MailKind::ALL must list each kind at its index"
        );
        i += 1;
    }
};

impl QueuedMail {
    pub fn mail_kind(&self) -> MailKind {
        match self {
            QueuedMail::ResetLink { .. } => MailKind::ResetLink,
            QueuedMail::PasswordChanged { .. } => MailKind::PasswordChanged,
            QueuedMail::AddressChanged { .. } => MailKind::AddressChanged,
            QueuedMail::AddressVerification { .. } => MailKind::AddressVerification,
            QueuedMail::AddressChangeRequested { .. } => MailKind::AddressChangeRequested,
            QueuedMail::AddressRequestArrived { .. } => MailKind::AddressRequestArrived,
        }
    }

    /// For logs and metrics: never an address.
    pub fn kind(&self) -> &'static str {
        self.mail_kind().code()
    }

    pub fn username(&self) -> &Username {
        match self {
            QueuedMail::ResetLink { username, .. }
            | QueuedMail::PasswordChanged { username, .. }
            | QueuedMail::AddressChanged { username, .. }
            | QueuedMail::AddressVerification { username, .. }
            | QueuedMail::AddressChangeRequested { username, .. }
            | QueuedMail::AddressRequestArrived { username, .. } => username,
        }
    }
}

impl fmt::Debug for QueuedMail {
    /// The username and kind only: the address stays out of every log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueuedMail")
            .field("kind", &self.kind())
            .field("username", self.username())
            .finish_non_exhaustive()
    }
}

/// One message of the mail queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailJob {
    pub job_id: JobId,
    /// Epoch seconds after which the mail is not worth sending (a reset link would already have
    /// expired): the sender drops it and counts it.
    pub send_before: i64,
    pub mail: QueuedMail,
}

/// How long a password-changed notice stays worth sending: as long as the queue keeps it.
pub const NOTICE_SEND_WITHIN_SECS: i64 = 24 * 3600;

impl MailJob {
    /// A reset link requested at `now`, worth sending while a link minted now would still live.
    pub fn reset_link(
        username: Username,
        now: Timestamp,
        link_lifetime_secs: i64,
    ) -> Result<Self, RandomnessUnavailable> {
        Ok(Self {
            job_id: JobId::generate()?,
            send_before: now.plus_secs(link_lifetime_secs).as_secs(),
            mail: QueuedMail::ResetLink {
                username,
                requested_at: now.as_millis(),
            },
        })
    }

    pub fn password_changed(
        username: Username,
        to: Email,
        language: Language,
        now: Timestamp,
    ) -> Result<Self, RandomnessUnavailable> {
        Ok(Self {
            job_id: JobId::generate()?,
            send_before: now.plus_secs(NOTICE_SEND_WITHIN_SECS).as_secs(),
            mail: QueuedMail::PasswordChanged {
                username,
                to,
                language,
                changed_at: now.as_millis(),
                completes: None,
            },
        })
    }

    /// This notice, bound to the claimed change it is the notice of (other mails are returned
    /// as they are).
    pub fn completing(mut self, change: PendingChange) -> Self {
        if let QueuedMail::PasswordChanged { completes, .. } = &mut self.mail {
            *completes = Some(change);
        }
        self
    }

    /// The notices of an address change: to the old address and to the new one.
    pub fn address_changed(
        username: &Username,
        old: Option<Email>,
        new: Email,
        language: Language,
        now: Timestamp,
    ) -> Result<Vec<Self>, RandomnessUnavailable> {
        let notice = |to: Email, to_old_address: bool| -> Result<Self, RandomnessUnavailable> {
            Ok(Self {
                job_id: JobId::generate()?,
                send_before: now.plus_secs(NOTICE_SEND_WITHIN_SECS).as_secs(),
                mail: QueuedMail::AddressChanged {
                    username: username.clone(),
                    to,
                    language,
                    changed_at: now.as_millis(),
                    to_old_address,
                },
            })
        };
        let mut jobs = Vec::with_capacity(2);
        if let Some(old) = old {
            jobs.push(notice(old, true)?);
        }
        jobs.push(notice(new, false)?);
        Ok(jobs)
    }

    /// Any of the address-request mails, worth sending as long as the queue keeps it (the
    /// verification link's own lifetime starts when it is minted).
    pub fn address_mail(mail: QueuedMail, now: Timestamp) -> Result<Self, RandomnessUnavailable> {
        Ok(Self {
            job_id: JobId::generate()?,
            send_before: now.plus_secs(NOTICE_SEND_WITHIN_SECS).as_secs(),
            mail,
        })
    }

    pub fn is_stale_at(&self, now: Timestamp) -> bool {
        now.as_secs() >= self.send_before
    }

    /// The queue message body.
    pub fn to_message(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// Reads a queue message body; anything else is malformed and goes to the dead-letter queue.
    pub fn from_message(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_millis(1_795_608_000_000)
    }

    fn user() -> Username {
        Username::parse("ex000000").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_reset_job_round_trips_and_carries_no_secret() -> Result<(), Box<dyn std::error::Error>> {
        let job = MailJob::reset_link(user(), now(), 3600)?;
        let body = job.to_message()?;
        assert_eq!(MailJob::from_message(&body)?, job);
        let value: serde_json::Value = serde_json::from_str(&body)?;
        assert_eq!(value["mail"]["kind"], "reset_link");
        assert_eq!(value["send_before"], now().as_secs() + 3600);
        assert!(!body.contains("token"), "{body}");
        Ok(())
    }

    #[test]
    fn a_notice_bound_to_a_change_round_trips_and_an_unbound_one_reads_as_before(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let unbound = MailJob::password_changed(user(), Email::parse("someone@example.jp")?, Language::Ja, now())?;
        let body = unbound.to_message()?;
        assert!(
            !body.contains("completes"),
            "a notice queued before binding existed reads the same: {body}"
        );
        assert_eq!(MailJob::from_message(&body)?, unbound);
        let change = PendingChange {
            account: user(),
            claim: "0123abcd".into(),
        };
        let bound = unbound.clone().completing(change.clone());
        let body = bound.to_message()?;
        let read = MailJob::from_message(&body)?;
        assert_eq!(read, bound);
        assert!(matches!(read.mail, QueuedMail::PasswordChanged { completes: Some(c), .. } if c == change));
        let link = MailJob::reset_link(user(), now(), 3600)?;
        assert_eq!(link.clone().completing(change), link, "only a notice is bound");
        Ok(())
    }

    #[test]
    fn staleness_follows_send_before() -> Result<(), Box<dyn std::error::Error>> {
        let job = MailJob::reset_link(user(), now(), 3600)?;
        assert!(!job.is_stale_at(now().plus_secs(3599)));
        assert!(job.is_stale_at(now().plus_secs(3600)));
        Ok(())
    }

    #[test]
    fn debug_never_shows_the_address() -> Result<(), Box<dyn std::error::Error>> {
        let job = MailJob::password_changed(user(), Email::parse("someone@example.jp")?, Language::Ja, now())?;
        let debug = format!("{job:?}");
        assert!(!debug.contains("someone@"), "{debug}");
        assert!(debug.contains("password_changed"));
        Ok(())
    }

    #[test]
    fn malformed_messages_are_refused() {
        for body in [
            "",
            "{}",
            "not json",
            r#"{"job_id":"x","send_before":1,"mail":{"kind":"reset_link","username":"ex000000","requested_at":1}}"#,
            r#"{"job_id":"00112233445566778899aabbccddeeff","send_before":1,"mail":{"kind":"launch_missiles"}}"#,
            r#"{"job_id":"00112233445566778899aabbccddeeff","send_before":1,"mail":{"kind":"reset_link","username":"bad","requested_at":1}}"#,
        ] {
            assert!(MailJob::from_message(body).is_err(), "{body}");
        }
    }

    #[test]
    fn address_jobs_round_trip_without_the_new_address() -> Result<(), Box<dyn std::error::Error>> {
        let request_id = AddressRequestId::generate()?;
        let mail = QueuedMail::AddressChangeRequested {
            username: user(),
            request_id: request_id.clone(),
            institution: RequestText::parse("さくら内科", crate::domain::address_request::RequestField::Institution)?,
            new_email_masked: MaskedEmail::of(&Email::parse("info@sakura.example.jp")?),
            requested_at: now().as_millis(),
        };
        let job = MailJob::address_mail(mail, now())?;
        let body = job.to_message()?;
        assert_eq!(MailJob::from_message(&body)?, job);
        assert!(!body.contains("info@"), "{body}");
        let verification = MailJob::address_mail(
            QueuedMail::AddressVerification {
                username: user(),
                request_id,
            },
            now(),
        )?;
        assert!(!verification.to_message()?.contains("token"));
        Ok(())
    }

    /// A job written by hand rather than by the form's parsers: the same checks refuse it when
    /// send-mail reads it, so it goes to the dead-letter queue instead of into a mail.
    #[test]
    fn a_job_whose_text_skipped_the_form_checks_is_refused() {
        let job = |institution: &str, masked: &str| {
            serde_json::json!({
                "job_id": "00112233445566778899aabbccddeeff",
                "send_before": 1,
                "mail": {
                    "kind": "address_change_requested",
                    "username": "ex000000",
                    "request_id": "00112233445566778899aabbccddeeff",
                    "institution": institution,
                    "new_email_masked": masked,
                    "requested_at": 1
                }
            })
            .to_string()
        };
        let institution = "さくら内科";
        let masked = "i***@sakura.example.jp";
        let read = |body: &str| MailJob::from_message(body).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(
            read(&job(institution, masked)),
            Ok(()),
            "the form's own output reads back"
        );
        let too_long = "長".repeat(201);
        for (institution, masked) in [
            ("さくら\u{202E}内科", masked),
            ("さくら\u{200B}内科", masked),
            ("", masked),
            (too_long.as_str(), masked),
            (institution, "login at https://evil.example"),
            (institution, "info@sakura.example.jp"),
        ] {
            assert!(read(&job(institution, masked)).is_err(), "{institution:?} / {masked:?}");
        }
    }

    #[test]
    fn job_ids_are_random_hex() -> Result<(), RandomnessUnavailable> {
        let a = JobId::generate()?;
        assert_ne!(a, JobId::generate()?);
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(JobId::try_from(a.as_str().to_owned()), Ok(a));
        Ok(())
    }
}
