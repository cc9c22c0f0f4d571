//! The sign-in form and its answers, in the reset pages' chrome (their stylesheet, header and
//! language switch), Japanese by default.

use crate::accounts::PasswordChanged;
use maud::{html, Markup, DOCTYPE};
use reset_core::domain::Language;
use reset_core::web::routes::{FAVICON, REQUEST_PAGE, STYLESHEET};

pub const SIGN_IN_PATH: &str = "/sign-in";

/// The page's words: the local sign-in page's part of `reset_core::lang` (one place per language).
pub use reset_core::lang::SignInTexts as Texts;

pub fn texts(language: Language) -> &'static Texts {
    &reset_core::lang::words(language).sign_in
}

fn href(path: &str, language: Language) -> String {
    format!("{path}?lang={}", language.code())
}

fn layout(language: Language, service_name: &str, title: &str, content: Markup) -> Markup {
    // Every other language of `Language::ALL`, as the reset pages offer them.
    let others: Vec<Language> = Language::ALL.into_iter().filter(|other| *other != language).collect();
    html! {
        (DOCTYPE)
        html lang=(language.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " | " (service_name) }
                link rel="stylesheet" href=(STYLESHEET);
                link rel="icon" type="image/svg+xml" href=(FAVICON);
            }
            body {
                header class="site-header" {
                    span class="service-name" { (service_name) }
                    @for other in &others {
                        a class="language-switch" href=(href(SIGN_IN_PATH, *other)) lang=(other.code()) hreflang=(other.code()) {
                            (reset_core::lang::words(*other).pages.language_name)
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// The form; `failed` after a refused attempt (the username is kept, the password never).
pub fn form(language: Language, service_name: &str, typed_username: &str, failed: bool) -> Markup {
    let t = texts(language);
    let content = html! {
        @if failed {
            div class="error-summary" id="error-summary" role="alert" tabindex="-1" autofocus {
                p { (t.failed) }
            }
        }
        p { (t.lead) }
        form method="post" action=(href(SIGN_IN_PATH, language)) class="form" id="sign-in-form" {
            div class="field" {
                label for="username" { (t.username_label) }
                input id="username" name="username" type="text" autocomplete="username"
                    autocapitalize="none" spellcheck="false" required maxlength="64" value=(typed_username);
            }
            div class="field" {
                label for="password" { (t.password_label) }
                input id="password" name="password" type="password" autocomplete="current-password"
                    required maxlength="128";
            }
            button type="submit" class="button" { (t.button) }
        }
        p { a href=(href(REQUEST_PAGE, language)) { (t.forgot) } }
        p class="note" { (t.local_note) }
    };
    layout(language, service_name, t.title, content)
}

/// What a successful sign-in shows: which account, and when its password last changed.
pub fn signed_in(language: Language, service_name: &str, username: &str, changed: PasswordChanged) -> Markup {
    let t = texts(language);
    let content = html! {
        p class="lead" role="status" { (t.done_title) }
        dl class="summary" {
            dt { (t.done_as) }
            dd { code id="signed-in-username" { (username) } }
            dt { (t.changed_at) }
            dd id="password-changed-at" {
                @match changed {
                    PasswordChanged::At(at) => { (reset_core::lang::words(language).jst(at)) " " (t.jst_suffix) }
                    PasswordChanged::NotRecorded => { (t.changed_unknown) }
                    PasswordChanged::Never => { (t.changed_never) }
                }
            }
        }
        p class="note" { (t.local_note) }
        p { a href=(href(SIGN_IN_PATH, language)) { (t.again) } }
    };
    layout(language, service_name, t.done_title, content)
}

/// Any other answer: a title, one sentence, and the way back to the form.
pub fn message(language: Language, service_name: &str, title: &str, lead: &str) -> Markup {
    let t = texts(language);
    let content = html! {
        @if !lead.is_empty() { p { (lead) } }
        p { a href=(href(SIGN_IN_PATH, language)) { (t.again) } }
    };
    layout(language, service_name, title, content)
}
