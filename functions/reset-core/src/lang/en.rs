//! English, for users whose account or browser asks for it.

use super::{AddressTexts, MailAbout, MailTexts, MailWords, PageTexts, SignInTexts, Words};
use crate::domain::{PasswordRule, UsernameError};
use std::borrow::Cow;
use time::OffsetDateTime;

pub(super) const WORDS: Words = Words {
    pages: PAGES,
    address_pages: ADDRESS_PAGES,
    sign_in: SIGN_IN,
    mails: MailTexts {
        reset_link,
        password_changed,
        address_changed_to_old,
        address_changed_to_new,
        address_verification,
        address_change_requested,
        address_request_arrived,
    },
    password_rule,
    username_error,
    jst_date_time,
    minutes: |count| format!("{count} minutes"),
    hours: |count| format!("{count} hours"),
};

/// `25 Nov 2026, 21:16`.
fn jst_date_time(t: OffsetDateTime) -> String {
    let month = format!("{:?}", t.month());
    let short_month = month.get(..3).unwrap_or(&month);
    format!(
        "{} {short_month} {}, {:02}:{:02}",
        t.day(),
        t.year(),
        t.hour(),
        t.minute()
    )
}

fn password_rule(rule: PasswordRule, min_chars: usize) -> Cow<'static, str> {
    match rule {
        PasswordRule::MinLength => format!("At least {min_chars} characters").into(),
        PasswordRule::Uppercase => "At least one uppercase letter (A\u{2013}Z)".into(),
        PasswordRule::Lowercase => "At least one lowercase letter (a\u{2013}z)".into(),
        PasswordRule::Digit => "At least one digit (0\u{2013}9)".into(),
        PasswordRule::Symbol => "At least one symbol (such as !@#$%)".into(),
        PasswordRule::HalfWidthOnly => {
            "Half-width letters, digits and symbols only (switch your input mode off full-width)".into()
        }
        PasswordRule::PrintableOnly => "No tabs or other control characters".into(),
        PasswordRule::MaxLength => "At most 128 characters".into(),
        PasswordRule::NotUsername => "Does not contain your username".into(),
        PasswordRule::NotCommon => {
            "Is not easily guessed (no common words, years, keyboard runs or simple substitutions strung together)"
                .into()
        }
        PasswordRule::NotBreached => {
            "Has not appeared in a data breach (passwords leaked from other services are the first an attacker tries)"
                .into()
        }
        PasswordRule::ConfirmationMatches => "Both fields match".into(),
    }
}

fn username_error(error: &UsernameError) -> &'static str {
    match error {
        UsernameError::Empty => "Please enter your username.",
        UsernameError::WrongLength => "The username is exactly 8 half-width letters and digits.",
        UsernameError::NotAlphanumeric => "The username may contain only half-width letters and digits.",
    }
}

const SEND_ONLY: &str = "This mail was sent from a send-only address; replies are not read.";

fn reset_link(about: &MailAbout<'_>, link: &str, expires: &str) -> MailWords {
    let MailAbout {
        service,
        username,
        support,
    } = about;
    MailWords {
        subject: format!("[{service}] Resetting your password"),
        paragraphs: vec![
            format!("We received a request to reset the password of your {service} account (username: {username})."),
            format!("Open the link below and follow the steps on the page to set a new password.\n{link}"),
            format!("The link expires at {expires} (Japan Standard Time). After that, please request a new one."),
            "If you did not ask for this, ignore this mail. Your password will not change.".to_owned(),
            format!("{SEND_ONLY}\nContact: {support}"),
        ],
    }
}

fn password_changed(about: &MailAbout<'_>, when: &str) -> MailWords {
    let MailAbout {
        service,
        username,
        support,
    } = about;
    MailWords {
        subject: format!("[{service}] Your password was changed"),
        paragraphs: vec![
            format!("The password of {service} username {username} was changed at {when} (Japan Standard Time)."),
            "If you made this change, there is nothing more to do. Devices signed in with the old password will need to sign in again.".to_owned(),
            format!("If you did not, contact us at once: {support}"),
            SEND_ONLY.to_owned(),
        ],
    }
}

fn address_changed_to_old(about: &MailAbout<'_>, when: &str) -> MailWords {
    let MailAbout {
        service,
        username,
        support,
    } = about;
    MailWords {
        subject: format!("[{service}] Your registered address was changed"),
        paragraphs: vec![
            format!("An administrator changed the registered address of {service} username {username} at {when} (Japan Standard Time). Password reset mails will no longer come to this address."),
            format!("If you did not ask for this, contact us at once: {support}"),
            SEND_ONLY.to_owned(),
        ],
    }
}

fn address_changed_to_new(about: &MailAbout<'_>, when: &str) -> MailWords {
    let MailAbout {
        service,
        username,
        support,
    } = about;
    MailWords {
        subject: format!("[{service}] This is now your registered address"),
        paragraphs: vec![
            format!("The registered address of {service} username {username} was changed to this address at {when} (Japan Standard Time). Password reset mails will come here from now on."),
            format!("If you did not ask for this, contact us at once: {support}"),
            SEND_ONLY.to_owned(),
        ],
    }
}

fn address_verification(about: &MailAbout<'_>, link: &str, expires: &str) -> MailWords {
    let MailAbout {
        service,
        username,
        support,
    } = about;
    MailWords {
        subject: format!("[{service}] Confirm your address-change request"),
        paragraphs: vec![
            format!("We received a request to change the registered address of {service} username {username} to this address."),
            format!("To send the request to the administrators, open the link below, check the details you entered and press \u{201c}Confirm the request\u{201d}. This proves that this address receives mail.\n{link}"),
            format!("The link expires at {expires} (Japan Standard Time). Requests that are not confirmed never reach the administrators and are deleted."),
            "If you did not ask for this, ignore this mail. Nothing will change.".to_owned(),
            format!("{SEND_ONLY}\nContact: {support}"),
        ],
    }
}

fn address_change_requested(about: &MailAbout<'_>, when: &str) -> MailWords {
    let MailAbout {
        service,
        username,
        support,
    } = about;
    MailWords {
        subject: format!("[{service}] A change of your registered address was requested"),
        paragraphs: vec![
            format!("At {when} (Japan Standard Time) someone asked to change the registered address of {service} username {username} to another address."),
            "An administrator checks the request before it takes effect. If you or your institution made it, there is nothing more to do.".to_owned(),
            format!("If this was not you, contact us at once, before the change takes effect: {support}"),
            SEND_ONLY.to_owned(),
        ],
    }
}

const PAGES: PageTexts = PageTexts {
    language_name: "English",
    back_to_sign_in: "Back to sign-in",
    request_title: "Reset your password",
    request_lead: "Enter your username and press \u{201c}Reset password\u{201d}. We will mail a link to the password-reset page to your registered address.",
    username_label: "Username",
    username_hint: "8 half-width letters and digits (e.g. ex000000). Full-width input is converted.",
    username_folded_live: "Full-width characters will be converted; we will use the username:",
    request_button: "Reset password",
    sent_title: "We have sent you a mail",
    sent_lead: "We have sent a mail with a link to the password-reset page to the registered address. Open the link in the mail to set a new password.",
    sent_username: "Username received",
    sent_folded: "Full-width characters were converted to half-width.",
    sent_spam: "If you cannot find the mail, please check your spam folder.",
    sent_allow_sender: "Please allow mail from this send-only address:",
    sent_expiry: "The link is valid for:",
    sent_no_mail_title: "No mail after 10 minutes?",
    sent_no_mail: "Your registered address may no longer work. Contact the following, quoting your username:",
    sent_address_change: "Once an administrator changes your registered address it takes effect at once, and you can request a link here again (the help desk may take 1\u{2013}2 weeks to process the change).",
    confirm_title: "Reset your password?",
    confirm_lead: "Press \u{201c}Reset password\u{201d} to continue to the new-password form. Nothing has changed yet.",
    confirm_expires: "This link expires at",
    confirm_button: "Reset password",
    jst_suffix: "(Japan Standard Time)",
    password_title: "Set a new password",
    password_lead: "Type your new password, then type it again to confirm it.",
    new_password_label: "New password",
    confirm_password_label: "Confirm new password",
    rules_title: "Password rules",
    rule_met: "OK",
    rule_unmet: "Not yet",
    rule_checked_on_submit: " (checked when you submit)",
    show_password: "Show password",
    caps_lock_on: "Caps Lock is on.",
    change_button: "Change password",
    button_hint: "Type a password that meets every rule above, then press \u{201c}Change password\u{201d}.",
    button_hint_remaining: "Rules still to meet: {n}. \u{201c}Change password\u{201d} becomes available once all are met.",
    button_hint_ready: "All rules are met. Press \u{201c}Change password\u{201d}.",
    errors_title: "Please check your input",
    done_title: "Your password has been changed",
    done_lead: "The password reset is complete. Please sign in with your new password.",
    done_sessions: "Devices signed in with the old password will need to sign in again. We have also mailed you a notice of the change.",
    done_button: "Go to sign-in",
    invalid_title: "This link is invalid or has expired",
    invalid_lead: "The link has expired, has already been used, or the password or the registered address has changed since it was sent. Please request a new password reset.",
    invalid_button: "Request a new link",
    rate_limited_title: "Please try again later",
    rate_limited_lead: "There have been too many requests in a short time. Please wait a while and try again.",
    unavailable_title: "The service is busy",
    unavailable_lead: "We could not process your request just now. Nothing was changed. Please try again in a moment.",
    bad_request_title: "We could not process the request",
    bad_request_lead: "The submitted data could not be read. Please start again from the first page.",
    too_large_lead: "The submitted data is too large. Please check your input and try again.",
    media_type_lead: "This kind of submission is not supported.",
    cross_origin_lead: "Submissions from other sites are not accepted. Please use this service's own pages.",
    not_found_title: "Page not found",
    not_found_lead: "Please check the address.",
    internal_title: "Something went wrong",
    internal_lead: "Sorry, an error occurred. Please try again later.",
    accepted_message: "We have sent a mail with a link to the password-reset page to the registered address.",
};

const ADDRESS_PAGES: AddressTexts = AddressTexts {
    sent_link_lead: "If your registered address no longer works, you can request a change here:",
    sent_link: "Request a change of address",
    form_title: "Request a change of address",
    form_lead: "For when your registered address no longer works. Enter your username and the four items below.",
    form_steps: [
        "We mail a confirmation link to the new address. Open it and confirm the request (unconfirmed requests never reach the administrators).",
        "An administrator checks the request and changes the address. This may take some time.",
        "After the change, request a password reset again.",
    ],
    username_label: "Username",
    username_hint: "8 half-width letters and digits (e.g. ex000000)",
    institution_label: "1. Name of the medical institution",
    institution_hint: "e.g. Sakura Internal Medicine Clinic",
    location_label: "2. Location",
    location_hint: "Starting with the prefecture, e.g. 1-2-2 Kasumigaseki, Chiyoda-ku, Tokyo",
    contact_label: "3. Contact person",
    contact_hint: "e.g. Hanako Yamada",
    new_email_label: "4. New mail address",
    new_email_hint: "The confirmation mail goes to this address.",
    submit_button: "Send request",
    accepted_title: "We have sent a confirmation mail",
    accepted_lead: "We have sent a mail with a link to confirm the request to the new address.",
    accepted_address: "Sent to",
    accepted_next: [
        "Open the link in the mail and press \u{201c}Confirm the request\u{201d}. Only confirmed requests reach the administrators.",
        "If you cannot find the mail, please check your spam folder.",
        "If you mistyped the address, simply request again.",
    ],
    accepted_validity: "The link is valid for:",
    verify_title: "Confirm the request?",
    verify_lead: "Press \u{201c}Confirm the request\u{201d} to send this address-change request to the administrators.",
    verify_summary_username: "Username",
    verify_summary_institution: "Institution",
    verify_button: "Confirm the request",
    verified_title: "Your request has been received",
    verified_lead: "The address-change request has been sent to the administrators. They check it before changing the address.",
    verified_next: "After the change, please request a password reset again. If your current address still works, it gets a notice of this request too.",
    invalid_title: "This link is invalid or has expired",
    invalid_lead: "The link has expired or the request has already been confirmed. If it was not confirmed, please make a new request.",
    invalid_button: "Make a new request",
    empty: ": please fill this in.",
    too_long: ": too long.",
    hidden: ": contains a control or invisible character.",
    email_malformed: "Please enter a mail address (e.g. info@clinic.example.jp).",
    email_too_long: "The mail address is too long.",
};

fn address_request_arrived(about: &MailAbout<'_>, request_id: &str) -> MailWords {
    let MailAbout { username, .. } = about;
    MailWords {
        subject: "A verified address-change request".to_owned(),
        paragraphs: vec![format!(
            "A verified address-change request for username {username} waits for an administrator: reset-admin address-requests show {request_id}"
        )],
    }
}

/// The local sign-in page (`make run` only).
const SIGN_IN: SignInTexts = SignInTexts {
    title: "Sign in",
    lead: "Enter your username and password.",
    username_label: "Username",
    password_label: "Password",
    button: "Sign in",
    forgot: "Forgot your password?",
    failed: "The username or password is incorrect.",
    done_title: "Signed in",
    done_as: "Signed in as",
    changed_at: "Password last changed",
    changed_never: "never changed",
    changed_unknown: "not recorded by this password store",
    jst_suffix: "(JST)",
    local_note: "This is the local sign-in page for trying the service: it only shows that the new password works and opens no session.",
    again: "Back to sign-in",
    bad_request_title: "The request could not be processed",
    bad_request_lead: "Check what you entered and start again from the sign-in page.",
    unavailable_title: "Temporarily unavailable",
    unavailable_lead: "Please try again in a little while.",
    not_found_title: "Page not found",
};
