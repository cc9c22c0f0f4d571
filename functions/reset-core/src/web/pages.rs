//! Server-rendered pages. They work without JavaScript; `policy.js` only adds the live
//! checklist, the disabled button, the show-password toggle and the Caps Lock warning.

use super::texts::{rule_text, username_error_text, Texts};
use crate::domain::{Language, PasswordRule, UsernameError};
use maud::{html, Markup, DOCTYPE};

pub const STYLESHEET_PATH: &str = "/password-reset/assets/style.css";
pub const SCRIPT_PATH: &str = "/password-reset/assets/policy.js";

/// What every page needs besides its own content.
pub struct PageContext<'a> {
    pub language: Language,
    pub texts: &'static Texts,
    pub service_name: &'a str,
    pub sign_in_url: &'a str,
    /// The current page's path and query without `lang`, for the language switch.
    pub switch_language_href: String,
}

impl PageContext<'_> {
    /// An internal URL that keeps the chosen language.
    pub fn href(&self, path: &str) -> String {
        format!("{path}?lang={}", self.language.code())
    }
}

fn layout(ctx: &PageContext<'_>, title: &str, with_script: bool, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(ctx.texts.html_lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " | " (ctx.service_name) }
                link rel="stylesheet" href=(STYLESHEET_PATH);
            }
            body {
                header class="site-header" {
                    span class="service-name" { (ctx.service_name) }
                    a class="language-switch" href=(ctx.switch_language_href) lang=(if ctx.language == Language::Ja { "en" } else { "ja" }) {
                        (ctx.texts.other_language_label)
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (content)
                }
                footer class="site-footer" {
                    a href=(ctx.sign_in_url) { (ctx.texts.back_to_sign_in) }
                }
                @if with_script {
                    script src=(SCRIPT_PATH) defer {}
                }
            }
        }
    }
}

pub fn request_form(ctx: &PageContext<'_>, typed: Option<&str>, error: Option<&UsernameError>) -> Markup {
    let t = ctx.texts;
    let content = html! {
        @if let Some(error) = error {
            div class="error-summary" id="error-summary" role="alert" tabindex="-1" {
                h2 { (t.errors_title) }
                ul { li { a href="#username" { (username_error_text(error, ctx.language)) } } }
            }
        }
        p { (t.request_lead) }
        form method="post" action=(ctx.href("/password-reset")) class="form" {
            div class="field" {
                label for="username" { (t.username_label) }
                p class="hint" id="username-hint" { (t.username_hint) }
                @if let Some(error) = error {
                    p class="field-error" id="username-error" { (username_error_text(error, ctx.language)) }
                }
                input id="username" name="username" type="text" autocomplete="username"
                    autocapitalize="none" spellcheck="false" required maxlength="64"
                    aria-describedby=(if error.is_some() { "username-hint username-error" } else { "username-hint" })
                    aria-invalid=(if error.is_some() { "true" } else { "false" })
                    value=(typed.unwrap_or_default());
            }
            button type="submit" class="button" { (t.request_button) }
        }
    };
    layout(ctx, t.request_title, true, content)
}

pub struct MailSentDetails<'a> {
    pub username: &'a str,
    pub was_folded: bool,
    pub sender_address: &'a str,
    pub token_lifetime_minutes: u64,
    pub support_contact: &'a str,
}

pub fn mail_sent(ctx: &PageContext<'_>, details: &MailSentDetails<'_>) -> Markup {
    let t = ctx.texts;
    let lifetime = match ctx.language {
        Language::Ja => format!("{}分", details.token_lifetime_minutes),
        Language::En => format!("{} minutes", details.token_lifetime_minutes),
    };
    let content = html! {
        p class="lead" role="status" { (t.sent_lead) }
        dl class="summary" {
            dt { (t.sent_username) }
            dd { code { (details.username) } @if details.was_folded { " " span class="note" { (t.sent_folded) } } }
        }
        ul class="guidance" {
            li { (t.sent_spam) }
            li { (t.sent_allow_sender) " " code { (details.sender_address) } }
            li { (t.sent_expiry) " " strong { (lifetime) } }
        }
        section class="help" aria-labelledby="no-mail-title" {
            h2 id="no-mail-title" { (t.sent_no_mail_title) }
            p { (t.sent_no_mail) " " strong { (details.support_contact) } }
            p { (t.sent_address_change) }
        }
    };
    layout(ctx, t.sent_title, false, content)
}

pub fn confirm(ctx: &PageContext<'_>, token: &str, expires_at_jst: &str) -> Markup {
    let t = ctx.texts;
    let content = html! {
        p { (t.confirm_lead) }
        p class="expiry" { (t.confirm_expires) ": " strong { (expires_at_jst) " " (t.jst_suffix) } }
        form method="post" action=(ctx.href("/password-reset/confirm")) class="form" {
            input type="hidden" name="token" value=(token);
            button type="submit" class="button" { (t.confirm_button) }
        }
    };
    layout(ctx, t.confirm_title, false, content)
}

/// The rules the live checklist shows; the rest are only reported when they fail.
const CHECKLIST: [PasswordRule; 7] = [
    PasswordRule::MinLength,
    PasswordRule::Uppercase,
    PasswordRule::Lowercase,
    PasswordRule::Digit,
    PasswordRule::HalfWidthOnly,
    PasswordRule::NotUsername,
    PasswordRule::ConfirmationMatches,
];

pub fn password_form(ctx: &PageContext<'_>, token: &str, username: Option<&str>, failing: &[PasswordRule]) -> Markup {
    let t = ctx.texts;
    let content = html! {
        @if !failing.is_empty() {
            div class="error-summary" id="error-summary" role="alert" tabindex="-1" {
                h2 { (t.errors_title) }
                ul { @for rule in failing { li { a href="#new_password" { (rule_text(*rule, ctx.language)) } } } }
            }
        }
        form method="post" action=(ctx.href("/password-reset/complete")) class="form" id="password-form"
            data-username=(username.unwrap_or_default()) {
            input type="hidden" name="token" value=(token);
            div class="field" {
                label for="new_password" { (t.new_password_label) }
                input id="new_password" name="new_password" type="password" autocomplete="new-password"
                    required maxlength="128" aria-describedby="policy-rules caps-lock-warning"
                    aria-invalid=(if failing.is_empty() { "false" } else { "true" });
            }
            div class="field" {
                label for="new_password_confirmation" { (t.confirm_password_label) }
                input id="new_password_confirmation" name="new_password_confirmation" type="password"
                    autocomplete="new-password" required maxlength="128" aria-describedby="policy-rules caps-lock-warning";
            }
            div class="field inline" {
                input id="show-password" type="checkbox" hidden;
                label for="show-password" hidden { (t.show_password) }
            }
            p id="caps-lock-warning" class="warning" role="status" aria-live="polite" {}
            section id="policy-rules" class="rules" aria-labelledby="rules-title" {
                h2 id="rules-title" { (t.rules_title) }
                ul id="policy-checklist" aria-live="polite" data-met=(t.rule_met) data-unmet=(t.rule_unmet) data-caps=(t.caps_lock_on) {
                    @for rule in CHECKLIST {
                        @let failed = failing.contains(&rule);
                        li data-rule=(rule.code()) class=(if failed { "rule unmet" } else { "rule" }) {
                            span class="rule-text" { (rule_text(rule, ctx.language)) }
                            " "
                            span class="rule-state" { @if failed { (t.rule_unmet) } }
                        }
                    }
                    li data-rule=(PasswordRule::NotCommon.code()) class=(if failing.contains(&PasswordRule::NotCommon) { "rule unmet server-only" } else { "rule server-only" }) {
                        span class="rule-text" { (rule_text(PasswordRule::NotCommon, ctx.language)) }
                    }
                }
            }
            button type="submit" class="button" id="change-password-button" { (t.change_button) }
        }
    };
    layout(ctx, t.password_title, true, content)
}

pub fn completed(ctx: &PageContext<'_>) -> Markup {
    let t = ctx.texts;
    let content = html! {
        p class="lead" role="status" { (t.done_lead) }
        p { (t.done_sessions) }
        p { a class="button" href=(ctx.sign_in_url) { (t.done_button) } }
    };
    layout(ctx, t.done_title, false, content)
}

pub fn invalid_link(ctx: &PageContext<'_>) -> Markup {
    let t = ctx.texts;
    let content = html! {
        p { (t.invalid_lead) }
        p { a class="button" href=(ctx.href("/password-reset")) { (t.invalid_button) } }
    };
    layout(ctx, t.invalid_title, false, content)
}

/// Any other error: a title, one sentence, and the way back to the start.
pub fn message(ctx: &PageContext<'_>, title: &str, lead: &str) -> Markup {
    let t = ctx.texts;
    let content = html! {
        p { (lead) }
        p { a href=(ctx.href("/password-reset")) { (t.request_title) } }
    };
    layout(ctx, title, false, content)
}
