//! A request to change an account's registered address, made online by the institution when
//! the registered mailbox no longer works (the guide's fallback: the institution names itself,
//! its location, a contact person and the new address; an administrator changes the address).
//!
//! A request is worth an administrator's time only once the new address has proved it
//! receives mail: it is stored `unverified`, the new address gets a link (a [`ResetToken`], of
//! which only the hash is kept on the request), and opening that link and confirming turns it
//! `pending`. Only pending requests are in the administrators' queue (a sparse index on
//! `pending_flag`). Every request expires after a number of days; DynamoDB's TTL deletes it
//! late, so every read also compares `expires_at` with the clock.

use crate::domain::token::RandomnessUnavailable;
use crate::domain::{CredentialEpoch, Email, EmailError, Language, ResetToken, Timestamp, TokenHash, Username};
use serde::{Deserialize, Serialize};
use std::fmt;

const REQUEST_ID_BYTES: usize = 16;

/// The id administrators use (`reset-admin address-requests show ID`): 128 random bits, hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AddressRequestId(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an address request id (32 lowercase hexadecimal characters)")]
pub struct MalformedRequestId;

impl AddressRequestId {
    pub fn generate() -> Result<Self, RandomnessUnavailable> {
        let mut bytes = [0u8; REQUEST_ID_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| RandomnessUnavailable(e.to_string()))?;
        Ok(Self(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// Checks length and alphabet before anything touches the database.
    pub fn parse(value: &str) -> Result<Self, MalformedRequestId> {
        let value = value.trim();
        let well_formed = value.len() == REQUEST_ID_BYTES * 2
            && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if well_formed {
            Ok(Self(value.to_owned()))
        } else {
            Err(MalformedRequestId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AddressRequestId {
    type Error = MalformedRequestId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<AddressRequestId> for String {
    fn from(id: AddressRequestId) -> Self {
        id.0
    }
}

impl fmt::Display for AddressRequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The free-text items of the guide: which one, for error messages and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestField {
    Username,
    Institution,
    Location,
    ContactPerson,
    NewEmail,
}

impl RequestField {
    pub fn code(self) -> &'static str {
        match self {
            RequestField::Username => "username",
            RequestField::Institution => "institution",
            RequestField::Location => "location",
            RequestField::ContactPerson => "contact_person",
            RequestField::NewEmail => "new_email",
        }
    }

    /// Generous for real names and addresses of institutions, small enough for one table row.
    pub fn max_chars(self) -> usize {
        match self {
            RequestField::Institution => 100,
            RequestField::Location => 200,
            RequestField::ContactPerson => 60,
            RequestField::Username | RequestField::NewEmail => 254,
        }
    }
}

/// Why a free-text item was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("is empty")]
    Empty,
    #[error("is too long")]
    TooLong,
    /// Control characters and invisible formatting characters (bidirectional overrides,
    /// zero-width characters) can make what an administrator reads differ from what is stored.
    #[error("contains a control or invisible character")]
    HiddenCharacter,
}

/// One of the guide's free-text items (institution name, location, contact person), trimmed
/// (full-width spaces too) and checked: 1..=max characters, no control or invisible character.
/// Full-width text is kept as typed: these are names in Japanese.
///
/// Read back (a queue message, a stored item) it passes the same checks again: a job that
/// skipped the form cannot carry hidden characters, or more than the longest item allows,
/// into a mail.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestText(String);

fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
            | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}')
}

/// The most characters any free-text item may have (the location): the bound of a text read
/// back, whose item is not known.
const LONGEST_TEXT_CHARS: usize = 200;

impl RequestText {
    pub fn parse(value: &str, field: RequestField) -> Result<Self, TextError> {
        Self::parse_within(value, field.max_chars())
    }

    fn parse_within(value: &str, max_chars: usize) -> Result<Self, TextError> {
        let value = value.trim_matches(|c: char| c.is_whitespace());
        if value.is_empty() {
            return Err(TextError::Empty);
        }
        if value.chars().count() > max_chars {
            return Err(TextError::TooLong);
        }
        if value.chars().any(is_hidden) {
            return Err(TextError::HiddenCharacter);
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RequestText {
    type Error = TextError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse_within(&value, LONGEST_TEXT_CHARS)
    }
}

impl From<RequestText> for String {
    fn from(text: RequestText) -> Self {
        text.0
    }
}

impl fmt::Debug for RequestText {
    /// Names of people stay out of logs: only the length.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestText({} chars)", self.0.chars().count())
    }
}

/// Why one item of the form was refused; every item is checked, so the form lists them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldError {
    Username(crate::domain::UsernameError),
    Text(RequestField, TextError),
    Email(EmailError),
}

impl FieldError {
    pub fn field(&self) -> RequestField {
        match self {
            FieldError::Username(_) => RequestField::Username,
            FieldError::Text(field, _) => *field,
            FieldError::Email(_) => RequestField::NewEmail,
        }
    }
}

/// The typed form, as it arrived. Its `Debug` shows no value: it holds an address and names.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AddressRequestForm {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub institution: String,
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub contact_person: String,
    #[serde(default)]
    pub new_email: String,
}

impl fmt::Debug for AddressRequestForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AddressRequestForm(<typed values>)")
    }
}

/// A request whose every item parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRequestInput {
    pub username: Username,
    pub username_was_folded: bool,
    pub institution: RequestText,
    pub location: RequestText,
    pub contact_person: RequestText,
    pub new_email: Email,
}

impl AddressRequestForm {
    /// Every item is checked, so one answer names every mistake.
    pub fn parse(&self) -> Result<AddressRequestInput, Vec<FieldError>> {
        let mut errors = Vec::new();
        let username = Username::from_typed(&self.username)
            .map_err(|e| errors.push(FieldError::Username(e)))
            .ok();
        let mut text = |value: &str, field| {
            RequestText::parse(value, field)
                .map_err(|e| errors.push(FieldError::Text(field, e)))
                .ok()
        };
        let institution = text(&self.institution, RequestField::Institution);
        let location = text(&self.location, RequestField::Location);
        let contact_person = text(&self.contact_person, RequestField::ContactPerson);
        // Addresses are half-width; a full-width `＠` typed by an IME is folded like usernames.
        let folded: String = self
            .new_email
            .chars()
            .map(|c| match c {
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
                other => other,
            })
            .collect();
        let new_email = Email::parse(&folded)
            .map_err(|e| errors.push(FieldError::Email(e)))
            .ok();
        match (username, institution, location, contact_person, new_email) {
            (Some(username), Some(institution), Some(location), Some(contact_person), Some(new_email))
                if errors.is_empty() =>
            {
                Ok(AddressRequestInput {
                    username: username.username,
                    username_was_folded: username.was_folded,
                    institution,
                    location,
                    contact_person,
                    new_email,
                })
            }
            _ => Err(errors),
        }
    }
}

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressRequestState {
    /// Stored; the new address has not confirmed yet. Not in the administrators' queue.
    Unverified,
    /// Confirmed from the new address: waits for an administrator.
    Pending,
    Approved,
    Rejected,
}

impl AddressRequestState {
    pub fn code(self) -> &'static str {
        match self {
            AddressRequestState::Unverified => "unverified",
            AddressRequestState::Pending => "pending",
            AddressRequestState::Approved => "approved",
            AddressRequestState::Rejected => "rejected",
        }
    }
}

/// The value of `pending_flag` while a request is pending: the key of the sparse index.
pub const PENDING_FLAG: &str = "pending";

/// One item of the address-requests table.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressRequest {
    pub request_id: AddressRequestId,
    pub username: Username,
    pub institution: RequestText,
    pub location: RequestText,
    pub contact_person: RequestText,
    pub new_email: Email,
    /// The page's language when it was sent: the mails about it use it.
    pub language: Language,
    pub state: AddressRequestState,
    /// Epoch ms.
    pub created_at: i64,
    /// Epoch s: the table's TTL attribute, and checked on every read.
    pub expires_at: i64,
    /// SHA-256 (hex) of the verification link's token, set by `send-mail` when it mails it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_hash: Option<String>,
    /// Epoch s after which the verification link is dead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_expires_at: Option<i64>,
    /// Epoch ms; the pending index's sort key (oldest first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_at: Option<i64>,
    /// `pending` while pending, absent otherwise: the sparse index holds exactly the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_flag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_reason: Option<String>,
    /// What became of the notice to the registered address (queued when the request was
    /// confirmed). The objection window runs from its sending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<NoticeFate>,
    /// Epoch s: the notice's queue job is worth sending until then; queued past it, it expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_send_before: Option<i64>,
    /// Epoch ms at which SES accepted the notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_sent_at: Option<i64>,
    /// The account as it was when its registered address was told: an approval must find it
    /// unchanged (same credential epoch, same address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_epoch: Option<CredentialEpoch>,
    /// [`address_fingerprint`] of the registered address the notice went to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_address_sha256: Option<String>,
}

/// The fate of the notice to the registered address, as recorded on the request. (That the
/// registered address bounces is the account's record, which the admin view adds.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeFate {
    /// Handed to the mail queue with the confirmation.
    Queued,
    /// SES accepted it.
    Sent,
    /// It could not be queued, or there was no account to tell.
    Failed,
    /// It waited in the queue past its `send_before` and was dropped.
    Expired,
}

impl NoticeFate {
    pub fn code(self) -> &'static str {
        match self {
            NoticeFate::Queued => "queued",
            NoticeFate::Sent => "sent",
            NoticeFate::Failed => "failed",
            NoticeFate::Expired => "expired",
        }
    }
}

/// SHA-256 (hex) of a registered address as stored: enough to tell whether it changed, without
/// a second copy of the address on the request.
pub fn address_fingerprint(address: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(address.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The account as the notice found it: recorded on the request when the notice is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSnapshot {
    pub epoch: CredentialEpoch,
    pub address_sha256: String,
}

impl AccountSnapshot {
    pub fn of(epoch: CredentialEpoch, address: &str) -> Self {
        Self {
            epoch,
            address_sha256: address_fingerprint(address),
        }
    }
}

/// What `send-mail` records about the notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeOutcome {
    Sent { at: Timestamp, account: AccountSnapshot },
    Failed,
    Expired,
}

impl NoticeOutcome {
    pub fn fate(&self) -> NoticeFate {
        match self {
            NoticeOutcome::Sent { .. } => NoticeFate::Sent,
            NoticeOutcome::Failed => NoticeFate::Failed,
            NoticeOutcome::Expired => NoticeFate::Expired,
        }
    }
}

impl fmt::Debug for AddressRequest {
    /// Never the addresses or the names: id, username, state.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddressRequest")
            .field("request_id", &self.request_id)
            .field("username", &self.username)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// Why a verification link does not work. The page says the same for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerificationRejection {
    UnknownRequest,
    WrongToken,
    LinkExpired,
    RequestExpired,
    /// Already confirmed (a second click), or decided.
    NotUnverified,
}

impl VerificationRejection {
    pub fn code(self) -> &'static str {
        match self {
            VerificationRejection::UnknownRequest => "unknown_request",
            VerificationRejection::WrongToken => "wrong_token",
            VerificationRejection::LinkExpired => "link_expired",
            VerificationRejection::RequestExpired => "request_expired",
            VerificationRejection::NotUnverified => "not_unverified",
        }
    }
}

impl AddressRequest {
    /// A new, unverified request made at `now`, kept for `keep_days`.
    pub fn new(
        input: AddressRequestInput,
        language: Language,
        now: Timestamp,
        keep_days: u32,
    ) -> Result<Self, RandomnessUnavailable> {
        Ok(Self {
            request_id: AddressRequestId::generate()?,
            username: input.username,
            institution: input.institution,
            location: input.location,
            contact_person: input.contact_person,
            new_email: input.new_email,
            language,
            state: AddressRequestState::Unverified,
            created_at: now.as_millis(),
            expires_at: now.plus_secs(i64::from(keep_days) * 24 * 3600).as_secs(),
            verification_hash: None,
            verification_expires_at: None,
            verified_at: None,
            pending_flag: None,
            decided_at: None,
            decided_by: None,
            decision_reason: None,
            notice: None,
            notice_send_before: None,
            notice_sent_at: None,
            account_epoch: None,
            account_address_sha256: None,
        })
    }

    pub fn is_expired_at(&self, now: Timestamp) -> bool {
        now.as_secs() >= self.expires_at
    }

    /// Whether `token` is this request's live verification link at `now`.
    pub fn check_verification(&self, token: &ResetToken, now: Timestamp) -> Result<(), VerificationRejection> {
        let expected: Option<&str> = self.verification_hash.as_deref();
        let given: TokenHash = token.hash();
        // Both are SHA-256 hashes of secrets: comparing them leaks nothing useful by timing.
        if expected != Some(given.as_str()) {
            return Err(VerificationRejection::WrongToken);
        }
        if self.state != AddressRequestState::Unverified {
            return Err(VerificationRejection::NotUnverified);
        }
        if self.is_expired_at(now) {
            return Err(VerificationRejection::RequestExpired);
        }
        match self.verification_expires_at {
            Some(until) if now.as_secs() < until => Ok(()),
            _ => Err(VerificationRejection::LinkExpired),
        }
    }

    /// Seconds a pending request has waited since it was verified.
    pub fn waiting_secs(&self, now: Timestamp) -> Option<i64> {
        self.verified_at.map(|at| (now.as_millis() - at).max(0) / 1000)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn form() -> AddressRequestForm {
        AddressRequestForm {
            username: "ex000000".into(),
            institution: "さくら内科クリニック".into(),
            location: "東京都千代田区霞が関1-2-2".into(),
            contact_person: "山田 花子".into(),
            new_email: "info@sakura-clinic.example.jp".into(),
        }
    }

    fn now() -> Timestamp {
        Timestamp::from_millis(1_795_608_000_000)
    }

    #[test]
    fn a_complete_form_parses_and_full_width_input_is_folded() -> Result<(), Box<dyn std::error::Error>> {
        let mut typed = form();
        typed.username = "ｅｘ００００００".into();
        typed.new_email = "info＠sakura-clinic.example.jp".into();
        typed.contact_person = "\u{3000}山田 花子 ".into();
        let input = typed.parse().map_err(|e| format!("{e:?}"))?;
        assert_eq!(input.username.as_str(), "ex000000");
        assert!(input.username_was_folded);
        assert_eq!(input.new_email.as_str(), "info@sakura-clinic.example.jp");
        assert_eq!(input.contact_person.as_str(), "山田 花子");
        Ok(())
    }

    #[test]
    fn every_bad_item_is_reported_at_once() {
        let typed = AddressRequestForm {
            username: "ex0".into(),
            institution: " ".into(),
            location: "x".repeat(201),
            contact_person: "山田\u{202E}花子".into(),
            new_email: "not an address".into(),
        };
        let errors = typed.parse().err().unwrap_or_default();
        let fields: Vec<RequestField> = errors.iter().map(FieldError::field).collect();
        assert_eq!(
            fields,
            [
                RequestField::Username,
                RequestField::Institution,
                RequestField::Location,
                RequestField::ContactPerson,
                RequestField::NewEmail
            ]
        );
        assert!(errors.contains(&FieldError::Text(
            RequestField::ContactPerson,
            TextError::HiddenCharacter
        )));
        assert!(errors.contains(&FieldError::Text(RequestField::Location, TextError::TooLong)));
    }

    #[test]
    fn verification_needs_the_right_live_token_on_an_unverified_request() -> Result<(), Box<dyn std::error::Error>> {
        let input = form().parse().map_err(|e| format!("{e:?}"))?;
        let mut request = AddressRequest::new(input, Language::Ja, now(), 14)?;
        let token = ResetToken::generate()?;
        assert_eq!(
            request.check_verification(&token, now()),
            Err(VerificationRejection::WrongToken)
        );
        request.verification_hash = Some(token.hash().as_str().to_owned());
        request.verification_expires_at = Some(now().plus_secs(3600).as_secs());
        assert_eq!(request.check_verification(&token, now()), Ok(()));
        assert_eq!(
            request.check_verification(&ResetToken::generate()?, now()),
            Err(VerificationRejection::WrongToken)
        );
        assert_eq!(
            request.check_verification(&token, now().plus_secs(3600)),
            Err(VerificationRejection::LinkExpired)
        );
        request.verification_expires_at = Some(now().plus_secs(30 * 24 * 3600).as_secs());
        assert_eq!(
            request.check_verification(&token, now().plus_secs(14 * 24 * 3600)),
            Err(VerificationRejection::RequestExpired)
        );
        request.state = AddressRequestState::Pending;
        assert_eq!(
            request.check_verification(&token, now()),
            Err(VerificationRejection::NotUnverified)
        );
        Ok(())
    }

    #[test]
    fn debug_shows_no_address_or_name() -> Result<(), Box<dyn std::error::Error>> {
        let input = form().parse().map_err(|e| format!("{e:?}"))?;
        let request = AddressRequest::new(input, Language::Ja, now(), 14)?;
        let debug = format!("{request:?}");
        assert!(!debug.contains("info@"), "{debug}");
        assert!(!debug.contains("山田"), "{debug}");
        Ok(())
    }

    #[test]
    fn request_ids_are_checked_before_use() -> Result<(), RandomnessUnavailable> {
        let id = AddressRequestId::generate()?;
        assert_eq!(AddressRequestId::parse(id.as_str()), Ok(id.clone()));
        assert!(AddressRequestId::parse("../etc").is_err());
        assert!(AddressRequestId::parse(&id.as_str().to_uppercase()).is_err());
        Ok(())
    }

    #[test]
    fn text_read_back_is_held_to_the_longest_item_and_every_other_check() {
        let longest = [
            RequestField::Institution,
            RequestField::Location,
            RequestField::ContactPerson,
        ]
        .map(RequestField::max_chars)
        .into_iter()
        .max();
        assert_eq!(longest, Some(LONGEST_TEXT_CHARS));
        let read = |text: &str| serde_json::from_value::<RequestText>(serde_json::json!(text));
        assert!(read(&"長".repeat(LONGEST_TEXT_CHARS)).is_ok());
        assert!(read(&"長".repeat(LONGEST_TEXT_CHARS + 1)).is_err());
        assert!(read("さくら\u{202E}内科").is_err());
        assert!(read("  ").is_err());
    }
}
