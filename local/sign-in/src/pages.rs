//! The sign-in form and its answers, in the reset pages' chrome (their stylesheet, header and
//! language switch), Japanese by default.

use crate::accounts::PasswordChanged;
use maud::{html, Markup, DOCTYPE};
use reset_core::domain::Language;
use reset_core::web::routes::{FAVICON, REQUEST_PAGE, STYLESHEET};

pub const SIGN_IN_PATH: &str = "/sign-in";

pub struct Texts {
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

const JA: Texts = Texts {
    title: "サインイン",
    lead: "ユーザ名とパスワードを入力してください。",
    username_label: "ユーザ名",
    password_label: "パスワード",
    button: "サインイン",
    forgot: "パスワードをお忘れですか？",
    failed: "ユーザ名またはパスワードが正しくありません。",
    done_title: "サインインしました",
    done_as: "サインインしたアカウント",
    changed_at: "パスワードの最終変更",
    changed_never: "変更されていません",
    changed_unknown: "このパスワード保存先には記録がありません",
    jst_suffix: "（日本時間）",
    local_note: "この画面はローカル確認用のサインイン画面です。新しいパスワードが使えることを確かめるだけで、セッションは作りません。",
    again: "サインイン画面へ戻る",
    bad_request_title: "リクエストを処理できませんでした",
    bad_request_lead: "入力内容を確認し、サインイン画面からやり直してください。",
    unavailable_title: "ただいま利用できません",
    unavailable_lead: "しばらくしてから、もう一度お試しください。",
    not_found_title: "ページが見つかりません",
};

const EN: Texts = Texts {
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

pub fn texts(language: Language) -> &'static Texts {
    match language {
        Language::Ja => &JA,
        Language::En => &EN,
    }
}

fn href(path: &str, language: Language) -> String {
    format!("{path}?lang={}", language.code())
}

fn layout(language: Language, service_name: &str, title: &str, content: Markup) -> Markup {
    let other = match language {
        Language::Ja => Language::En,
        Language::En => Language::Ja,
    };
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
                    a class="language-switch" href=(href(SIGN_IN_PATH, other)) lang=(other.code()) hreflang=(other.code()) {
                        (reset_core::lang::words(other).pages.language_name)
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
