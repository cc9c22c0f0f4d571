//! Every word the service shows or mails, one file per language: the pages, the JSON errors,
//! the mails, and how times and durations are written.
//!
//! A language is one `Words` value in its own file (`ja.rs`, `en.rs`), picked by `words`.
//! Adding one: a variant of `domain::Language` (and its code there), a file here, and its arm in
//! `words`. The compiler points at all three: `words` and `Language::code` match every variant,
//! and a file that leaves out any field of `Words` (or of the structs it holds) does not build.
//! `tests::every_page_and_mail_renders_in_every_language` renders them all.

mod en;
mod ja;
#[cfg(test)]
mod tests;

use crate::domain::{Language, PasswordRule, Timestamp, UsernameError};
use std::borrow::Cow;
use time::{OffsetDateTime, UtcOffset};

/// The words of `language`.
pub fn words(language: Language) -> &'static Words {
    match language {
        Language::Ja => &ja::WORDS,
        Language::En => &en::WORDS,
    }
}

/// Everything one language says.
pub struct Words {
    pub pages: PageTexts,
    pub address_pages: AddressTexts,
    pub sign_in: SignInTexts,
    pub mails: MailTexts,
    /// A password rule in words; the minimum length is the deployment's.
    pub password_rule: fn(PasswordRule, usize) -> Cow<'static, str>,
    pub username_error: fn(&UsernameError) -> &'static str,
    /// A time, already in Japan Standard Time (the service's users are in Japan).
    pub jst_date_time: fn(OffsetDateTime) -> String,
    pub minutes: fn(u64) -> String,
    pub hours: fn(u64) -> String,
}

impl Words {
    pub fn password_rule(&self, rule: PasswordRule, min_chars: usize) -> Cow<'static, str> {
        (self.password_rule)(rule, min_chars)
    }

    pub fn username_error(&self, error: &UsernameError) -> &'static str {
        (self.username_error)(error)
    }

    /// `at` in Japan Standard Time, written the language's way.
    pub fn jst(&self, at: Timestamp) -> String {
        const JST_OFFSET_SECS: i32 = 9 * 3600;
        let offset = UtcOffset::from_whole_seconds(JST_OFFSET_SECS).unwrap_or(UtcOffset::UTC);
        match OffsetDateTime::from_unix_timestamp(at.as_secs()) {
            Ok(utc) => (self.jst_date_time)(utc.to_offset(offset)),
            Err(_) => at.as_secs().to_string(),
        }
    }

    pub fn minutes(&self, count: u64) -> String {
        (self.minutes)(count)
    }

    pub fn hours(&self, count: u64) -> String {
        (self.hours)(count)
    }
}

/// The service's name in `language`: a configured English name on English pages and mails,
/// the one name everywhere else.
pub fn service_name<'a>(language: Language, name: &'a str, english_name: Option<&'a str>) -> &'a str {
    match language {
        Language::En => english_name.unwrap_or(name),
        _ => name,
    }
}

/// A mail's words: the subject and its paragraphs. A paragraph's line breaks and the link it
/// carries become a line break and a link in the HTML part.
pub struct MailWords {
    pub subject: String,
    pub paragraphs: Vec<String>,
}

/// What every mail to an account names.
pub struct MailAbout<'a> {
    /// The service's name in the mail's language.
    pub service: &'a str,
    pub username: &'a str,
    /// Whom to contact (`SUPPORT_CONTACT`).
    pub support: &'a str,
}

/// The mails to an account, each from what it needs to say. Times arrive written by
/// `Words::jst`.
pub struct MailTexts {
    pub reset_link: fn(about: &MailAbout<'_>, link: &str, expires: &str) -> MailWords,
    pub password_changed: fn(about: &MailAbout<'_>, when: &str) -> MailWords,
    /// The notice of an administrator's address change, to the address it replaced.
    pub address_changed_to_old: fn(about: &MailAbout<'_>, when: &str) -> MailWords,
    /// The same notice, to the new address.
    pub address_changed_to_new: fn(about: &MailAbout<'_>, when: &str) -> MailWords,
    /// To the new address of an address-change request: the link that confirms it. Fixed
    /// words, the username and the link only: nothing the requester typed (the typed details
    /// are shown on the page behind the link).
    pub address_verification: fn(about: &MailAbout<'_>, link: &str, expires: &str) -> MailWords,
    /// To the registered address: someone asked to replace it. No requester-typed text either.
    pub address_change_requested: fn(about: &MailAbout<'_>, when: &str) -> MailWords,
    /// To the administrators: a verified request waits. Only the request's id and the username;
    /// the note carries every language's words at once (the desk reads them all).
    pub address_request_arrived: fn(about: &MailAbout<'_>, request_id: &str) -> MailWords,
}

/// The sentences of the reset pages and of the JSON errors.
pub struct PageTexts {
    /// The language's own name, on the switch that leads to it (「日本語」, "English").
    pub language_name: &'static str,
    pub back_to_sign_in: &'static str,
    pub request_title: &'static str,
    pub request_lead: &'static str,
    pub username_label: &'static str,
    pub username_hint: &'static str,
    /// Shown live under the username field when the typed text will be folded.
    pub username_folded_live: &'static str,
    pub request_button: &'static str,
    pub sent_title: &'static str,
    pub sent_lead: &'static str,
    pub sent_username: &'static str,
    pub sent_folded: &'static str,
    pub sent_spam: &'static str,
    pub sent_allow_sender: &'static str,
    pub sent_expiry: &'static str,
    pub sent_no_mail_title: &'static str,
    pub sent_no_mail: &'static str,
    pub sent_address_change: &'static str,
    pub confirm_title: &'static str,
    pub confirm_lead: &'static str,
    pub confirm_expires: &'static str,
    pub confirm_button: &'static str,
    pub jst_suffix: &'static str,
    pub password_title: &'static str,
    pub password_lead: &'static str,
    pub new_password_label: &'static str,
    pub confirm_password_label: &'static str,
    pub rules_title: &'static str,
    pub rule_met: &'static str,
    pub rule_unmet: &'static str,
    /// After the common-password rule, which only the server can check.
    pub rule_checked_on_submit: &'static str,
    pub show_password: &'static str,
    pub caps_lock_on: &'static str,
    pub change_button: &'static str,
    /// Under the checklist: why 「パスワードを変更」 may be grey. `{n}` is the count of unmet rules.
    pub button_hint: &'static str,
    pub button_hint_remaining: &'static str,
    pub button_hint_ready: &'static str,
    pub errors_title: &'static str,
    pub done_title: &'static str,
    pub done_lead: &'static str,
    pub done_sessions: &'static str,
    pub done_button: &'static str,
    pub invalid_title: &'static str,
    pub invalid_lead: &'static str,
    pub invalid_button: &'static str,
    pub rate_limited_title: &'static str,
    pub rate_limited_lead: &'static str,
    pub unavailable_title: &'static str,
    pub unavailable_lead: &'static str,
    pub bad_request_title: &'static str,
    pub bad_request_lead: &'static str,
    pub too_large_lead: &'static str,
    pub media_type_lead: &'static str,
    pub cross_origin_lead: &'static str,
    pub not_found_title: &'static str,
    pub not_found_lead: &'static str,
    pub internal_title: &'static str,
    pub internal_lead: &'static str,
    pub accepted_message: &'static str,
}

/// The sentences of the address-change request's pages.
pub struct AddressTexts {
    /// The link on the "mail sent" page, under 「10分以上たってもメールが届かない場合」.
    pub sent_link_lead: &'static str,
    pub sent_link: &'static str,
    pub form_title: &'static str,
    pub form_lead: &'static str,
    pub form_steps: [&'static str; 3],
    pub username_label: &'static str,
    pub username_hint: &'static str,
    pub institution_label: &'static str,
    pub institution_hint: &'static str,
    pub location_label: &'static str,
    pub location_hint: &'static str,
    pub contact_label: &'static str,
    pub contact_hint: &'static str,
    pub new_email_label: &'static str,
    pub new_email_hint: &'static str,
    pub submit_button: &'static str,
    pub accepted_title: &'static str,
    pub accepted_lead: &'static str,
    pub accepted_address: &'static str,
    pub accepted_next: [&'static str; 3],
    pub accepted_validity: &'static str,
    pub verify_title: &'static str,
    pub verify_lead: &'static str,
    pub verify_summary_username: &'static str,
    pub verify_summary_institution: &'static str,
    pub verify_button: &'static str,
    pub verified_title: &'static str,
    pub verified_lead: &'static str,
    pub verified_next: &'static str,
    pub invalid_title: &'static str,
    pub invalid_lead: &'static str,
    pub invalid_button: &'static str,
    pub empty: &'static str,
    pub too_long: &'static str,
    pub hidden: &'static str,
    pub email_malformed: &'static str,
    pub email_too_long: &'static str,
}

/// The local sign-in page of `make run` (local/sign-in; never deployed).
pub struct SignInTexts {
    pub title: &'static str,
    pub lead: &'static str,
    pub username_label: &'static str,
    pub password_label: &'static str,
    pub button: &'static str,
    pub forgot: &'static str,
    pub failed: &'static str,
    pub done_title: &'static str,
    pub done_as: &'static str,
    pub changed_at: &'static str,
    pub changed_never: &'static str,
    pub changed_unknown: &'static str,
    pub jst_suffix: &'static str,
    pub local_note: &'static str,
    pub again: &'static str,
    pub bad_request_title: &'static str,
    pub bad_request_lead: &'static str,
    pub unavailable_title: &'static str,
    pub unavailable_lead: &'static str,
    pub not_found_title: &'static str,
}
