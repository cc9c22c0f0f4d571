//! Server-rendered pages. They work without JavaScript; `policy.js` only adds the live
//! checklist, the disabled button, the show-password toggle and the Caps Lock warning.

use super::routes;
use crate::domain::{Language, PasswordRule, UsernameError};
use crate::lang::{self, PageTexts, Words};
use maud::{html, Markup, DOCTYPE};

/// What every page needs besides its own content.
pub struct PageContext<'a> {
    pub language: Language,
    pub service_name: &'a str,
    /// The deployment's minimum password length, for the checklist and the script.
    pub min_password_chars: usize,
    /// A symbol is required too (a Cognito pool's policy).
    pub password_requires_symbol: bool,
    /// The new password is checked against breached passwords (`BREACHED_PASSWORD_CHECK`).
    pub breach_check: bool,
    pub sign_in_url: &'a str,
    /// The current page's path and query without `lang`: the language switch links to it in
    /// each other language.
    pub switch_base: String,
}

impl PageContext<'_> {
    pub fn words(&self) -> &'static Words {
        lang::words(self.language)
    }

    pub fn texts(&self) -> &'static PageTexts {
        &self.words().pages
    }

    /// This page in every other language: the language and the link.
    pub fn other_languages(&self) -> Vec<(Language, String)> {
        let separator = if self.switch_base.contains('?') { '&' } else { '?' };
        Language::ALL
            .into_iter()
            .filter(|language| *language != self.language)
            .map(|language| {
                (
                    language,
                    format!("{}{separator}lang={}", self.switch_base, language.code()),
                )
            })
            .collect()
    }

    /// An internal URL that keeps the chosen language.
    pub fn href(&self, path: &str) -> String {
        format!("{path}?lang={}", self.language.code())
    }
}

pub(crate) fn layout(ctx: &PageContext<'_>, title: &str, with_script: bool, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(ctx.language.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " | " (ctx.service_name) }
                link rel="stylesheet" href=(routes::STYLESHEET);
                link rel="icon" type="image/svg+xml" href=(routes::FAVICON);
            }
            body {
                header class="site-header" {
                    span class="service-name" { (ctx.service_name) }
                    @for (language, href) in ctx.other_languages() {
                        a class="language-switch" href=(href) lang=(language.code()) hreflang=(language.code()) {
                            (lang::words(language).pages.language_name)
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (content)
                }
                footer class="site-footer" {
                    a href=(ctx.sign_in_url) { (ctx.texts().back_to_sign_in) }
                }
                @if with_script {
                    script src=(routes::SCRIPT) defer {}
                }
            }
        }
    }
}

pub fn request_form(ctx: &PageContext<'_>, typed: Option<&str>, error: Option<&UsernameError>) -> Markup {
    let t = ctx.texts();
    let content = html! {
        @if let Some(error) = error {
            // `autofocus` moves focus here without JavaScript too.
            div class="error-summary" id="error-summary" role="alert" tabindex="-1" autofocus {
                h2 { (t.errors_title) }
                ul { li { a href="#username" { (ctx.words().username_error(error)) } } }
            }
        }
        p { (t.request_lead) }
        form method="post" action=(ctx.href(routes::REQUEST_PAGE)) class="form" id="request-form"
            data-folded=(t.username_folded_live) {
            div class="field" {
                label for="username" { (t.username_label) }
                p class="hint" id="username-hint" { (t.username_hint) }
                @if let Some(error) = error {
                    p class="field-error" id="username-error" { (ctx.words().username_error(error)) }
                }
                input id="username" name="username" type="text" autocomplete="username"
                    autocapitalize="none" spellcheck="false" required maxlength="64"
                    aria-describedby=(if error.is_some() { "username-hint username-error" } else { "username-hint" })
                    aria-invalid=(if error.is_some() { "true" } else { "false" })
                    value=(typed.unwrap_or_default());
                // Filled by policy.js when full-width input will be folded.
                p class="note folded" id="username-folded" aria-live="polite" {}
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
    let t = ctx.texts();
    let lifetime = ctx.words().minutes(details.token_lifetime_minutes);
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
            @let address = &ctx.words().address_pages;
            p { (address.sent_link_lead) " " a href=(ctx.href(routes::ADDRESS_FORM)) { (address.sent_link) } }
        }
    };
    layout(ctx, t.sent_title, false, content)
}

pub fn confirm(ctx: &PageContext<'_>, token: &str, expires_at_jst: &str) -> Markup {
    let t = ctx.texts();
    let content = html! {
        p { (t.confirm_lead) }
        p class="expiry" { (t.confirm_expires) ": " strong { (expires_at_jst) " " (t.jst_suffix) } }
        form method="post" action=(ctx.href(routes::CONFIRM_PAGE)) class="form" {
            input type="hidden" name="token" value=(token);
            button type="submit" class="button" { (t.confirm_button) }
        }
    };
    layout(ctx, t.confirm_title, false, content)
}

/// Whether the live checklist shows `rule`, which policy.js then checks as the user types (a
/// drift test holds policy.js to this). The others are reported only when a submission fails
/// them: the common-password list stays on the server, and the length cap and control
/// characters are what the button's own check and `half_width_only` already refuse.
pub fn checked_as_typed(rule: PasswordRule) -> bool {
    match rule {
        PasswordRule::MinLength
        | PasswordRule::Uppercase
        | PasswordRule::Lowercase
        | PasswordRule::Digit
        | PasswordRule::Symbol
        | PasswordRule::HalfWidthOnly
        | PasswordRule::NotUsername
        | PasswordRule::ConfirmationMatches => true,
        PasswordRule::PrintableOnly | PasswordRule::MaxLength | PasswordRule::NotCommon | PasswordRule::NotBreached => {
            false
        }
    }
}

/// The rules of the live checklist, in the policy's display order.
pub fn checklist() -> impl Iterator<Item = PasswordRule> {
    PasswordRule::ALL.into_iter().filter(|rule| checked_as_typed(*rule))
}

pub fn password_form(ctx: &PageContext<'_>, token: &str, username: Option<&str>, failing: &[PasswordRule]) -> Markup {
    let t = ctx.texts();
    let submitted = !failing.is_empty();
    let confirmation_failed = failing.contains(&PasswordRule::ConfirmationMatches);
    let content = html! {
        @if submitted {
            // `autofocus` moves focus here without JavaScript too.
            div class="error-summary" id="error-summary" role="alert" tabindex="-1" autofocus {
                h2 { (t.errors_title) }
                ul {
                    @for rule in failing {
                        @let target = if *rule == PasswordRule::ConfirmationMatches { "#new_password_confirmation" } else { "#new_password" };
                        li { a href=(target) { (ctx.words().password_rule(*rule, ctx.min_password_chars)) } }
                    }
                }
            }
        }
        p { (t.password_lead) }
        form method="post" action=(ctx.href(routes::COMPLETE)) class="form" id="password-form"
            data-username=(username.unwrap_or_default()) data-min-length=(ctx.min_password_chars) {
            input type="hidden" name="token" value=(token);
            @if let Some(username) = username {
                // For password managers: which account this new password belongs to. Not sent.
                input type="text" autocomplete="username" value=(username) hidden readonly;
            }
            div class="field" {
                label for="new_password" { (t.new_password_label) }
                input id="new_password" name="new_password" type="password" autocomplete="new-password"
                    required maxlength="128" aria-describedby="policy-rules caps-lock-warning"
                    passwordrules=(format!("minlength: {}; maxlength: 128; required: upper; required: lower; required: digit;{} allowed: ascii-printable;", ctx.min_password_chars, if ctx.password_requires_symbol { " required: special;" } else { "" }))
                    autocapitalize="none" spellcheck="false"
                    aria-invalid=(if submitted && !(failing.len() == 1 && confirmation_failed) { "true" } else { "false" });
            }
            div class="field" {
                label for="new_password_confirmation" { (t.confirm_password_label) }
                input id="new_password_confirmation" name="new_password_confirmation" type="password"
                    autocomplete="new-password" required maxlength="128" aria-describedby="policy-rules caps-lock-warning"
                    autocapitalize="none" spellcheck="false"
                    aria-invalid=(if confirmation_failed { "true" } else { "false" });
            }
            // Work only with policy.js, which shows them; their space is kept so nothing moves.
            div class="password-tools js-only" {
                div class="field inline" {
                    input id="show-password" type="checkbox" aria-controls="new_password new_password_confirmation";
                    label for="show-password" { (t.show_password) }
                }
                p id="caps-lock-warning" class="warning" role="status" aria-live="polite" data-message=(t.caps_lock_on) {}
            }
            section id="policy-rules" class="rules" aria-labelledby="rules-title" {
                h2 id="rules-title" { (t.rules_title) }
                ul id="policy-checklist" aria-live="polite" data-met=(t.rule_met) data-unmet=(t.rule_unmet) {
                    @for rule in checklist().filter(|rule| *rule != PasswordRule::Symbol || ctx.password_requires_symbol) {
                        // Before a submission nothing is known: a neutral mark until policy.js
                        // checks what is typed. After one, the state of what was submitted.
                        @let state = if !submitted { "rule" } else if failing.contains(&rule) { "rule unmet" } else { "rule met" };
                        li data-rule=(rule.code()) class=(state) aria-atomic="true" {
                            span class="rule-text" { (ctx.words().password_rule(rule, ctx.min_password_chars)) }
                            " "
                            span class="rule-state" {
                                @if submitted { (if failing.contains(&rule) { t.rule_unmet } else { t.rule_met }) }
                            }
                        }
                    }
                }
                @let common_failed = failing.contains(&PasswordRule::NotCommon);
                p class=(if common_failed { "rule-note unmet" } else { "rule-note" }) data-rule=(PasswordRule::NotCommon.code()) {
                    @if common_failed { span class="rule-state" { (t.rule_unmet) } " " }
                    (ctx.words().password_rule(PasswordRule::NotCommon, ctx.min_password_chars)) (t.rule_checked_on_submit)
                }
                @let breached = failing.contains(&PasswordRule::NotBreached);
                @if ctx.breach_check || breached {
                    p class=(if breached { "rule-note unmet" } else { "rule-note" }) data-rule=(PasswordRule::NotBreached.code()) {
                        @if breached { span class="rule-state" { (t.rule_unmet) } " " }
                        (ctx.words().password_rule(PasswordRule::NotBreached, ctx.min_password_chars)) (t.rule_checked_on_submit)
                    }
                }
            }
            p id="button-hint" class="button-hint" data-remaining=(t.button_hint_remaining) data-ready=(t.button_hint_ready) {
                (t.button_hint)
            }
            button type="submit" class="button" id="change-password-button" aria-describedby="button-hint" { (t.change_button) }
        }
    };
    layout(ctx, t.password_title, true, content)
}

pub fn completed(ctx: &PageContext<'_>) -> Markup {
    let t = ctx.texts();
    let content = html! {
        p class="lead" role="status" { (t.done_lead) }
        p { (t.done_sessions) }
        p { a class="button" href=(ctx.sign_in_url) { (t.done_button) } }
    };
    layout(ctx, t.done_title, false, content)
}

pub fn invalid_link(ctx: &PageContext<'_>) -> Markup {
    let t = ctx.texts();
    let content = html! {
        p { (t.invalid_lead) }
        p { a class="button" href=(ctx.href(routes::REQUEST_PAGE)) { (t.invalid_button) } }
    };
    layout(ctx, t.invalid_title, false, content)
}

/// Any other error: a title, one sentence, and the way back to the start.
pub fn message(ctx: &PageContext<'_>, title: &str, lead: &str) -> Markup {
    let t = ctx.texts();
    let content = html! {
        p { (lead) }
        p { a href=(ctx.href(routes::REQUEST_PAGE)) { (t.request_title) } }
    };
    layout(ctx, title, false, content)
}
