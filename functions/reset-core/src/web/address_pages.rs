//! The address-change request's pages and every sentence on them, in Japanese and English.
//! Same layout as the reset pages; they work without JavaScript and need none.

use super::pages::{layout, PageContext};
use super::texts::username_error_text;
use crate::domain::address_request::{AddressRequestForm, FieldError, RequestField, TextError};
use crate::domain::{EmailError, Language};
use maud::{html, Markup};

pub const FORM_PATH: &str = "/password-reset/address-change";
pub const VERIFY_PATH: &str = "/password-reset/address-change/verify";

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

pub const JA: AddressTexts = AddressTexts {
    sent_link_lead: "ご登録のメールアドレスが使えなくなっている場合は、ここから変更を申請できます:",
    sent_link: "メールアドレス変更の申請",
    form_title: "メールアドレス変更の申請",
    form_lead: "ご登録のメールアドレスが使えなくなった場合の申請です。次の4項目とユーザ名を入力してください。",
    form_steps: [
        "新しいメールアドレスに確認のメールをお送りします。メールのURLを開いて申請を確定してください（確定されない申請は管理者に届きません）。",
        "管理者が申請内容を確認して、メールアドレスを変更します。変更までに時間がかかる場合があります。",
        "変更後、もう一度パスワードリセットをお申し込みください。",
    ],
    username_label: "ユーザ名",
    username_hint: "半角英数字8文字（例: ex000000）",
    institution_label: "① 医療機関名",
    institution_hint: "例: さくら内科クリニック",
    location_label: "② 所在地",
    location_hint: "都道府県から。例: 東京都千代田区霞が関1-2-2",
    contact_label: "③ ご担当者名",
    contact_hint: "例: 山田 花子",
    new_email_label: "④ 変更後のメールアドレス",
    new_email_hint: "このアドレスに確認のメールが届きます。",
    submit_button: "申請する",
    accepted_title: "確認のメールを送信しました",
    accepted_lead: "変更後のメールアドレスに、申請を確定するためのURLを記載したメールを送信しました。",
    accepted_address: "送信先",
    accepted_next: [
        "メールのURLを開き、「申請を確定する」を押してください。確定した申請だけが管理者に届きます。",
        "メールが見当たらない場合は、迷惑メールフォルダもご確認ください。",
        "アドレスを間違えた場合は、もう一度申請してください。",
    ],
    accepted_validity: "URLの有効期限:",
    verify_title: "申請を確定しますか？",
    verify_lead: "「申請を確定する」を押すと、このメールアドレス変更の申請が管理者に届きます。",
    verify_summary_username: "ユーザ名",
    verify_summary_institution: "医療機関名",
    verify_button: "申請を確定する",
    verified_title: "申請を受け付けました",
    verified_lead: "メールアドレス変更の申請を管理者に届けました。管理者が確認してから変更します。",
    verified_next: "変更後、パスワードリセットをもう一度お申し込みください。現在のメールアドレスがまだ使える場合は、そちらにも申請のお知らせをお送りします。",
    invalid_title: "このURLは無効か、有効期限が切れています",
    invalid_lead: "URLの有効期限が切れたか、申請がすでに確定されています。確定されていない場合は、お手数ですがもう一度申請してください。",
    invalid_button: "もう一度申請する",
    empty: "を入力してください。",
    too_long: "が長すぎます。",
    hidden: "に使えない文字（制御文字や見えない文字）が含まれています。",
    email_malformed: "メールアドレスの形式で入力してください（例: info@clinic.example.jp）。",
    email_too_long: "メールアドレスが長すぎます。",
};

pub const EN: AddressTexts = AddressTexts {
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

pub fn texts(language: Language) -> &'static AddressTexts {
    match language {
        Language::Ja => &JA,
        Language::En => &EN,
    }
}

fn field_id(field: RequestField) -> &'static str {
    field.code()
}

fn label(t: &AddressTexts, field: RequestField) -> &'static str {
    match field {
        RequestField::Username => t.username_label,
        RequestField::Institution => t.institution_label,
        RequestField::Location => t.location_label,
        RequestField::ContactPerson => t.contact_label,
        RequestField::NewEmail => t.new_email_label,
    }
}

/// The sentence for one refused item.
pub fn error_text(error: &FieldError, language: Language) -> String {
    let t = texts(language);
    match error {
        FieldError::Username(e) => username_error_text(e, language).to_owned(),
        FieldError::Email(EmailError::TooLong) => t.email_too_long.to_owned(),
        FieldError::Email(_) => t.email_malformed.to_owned(),
        FieldError::Text(field, e) => {
            // The label without its number (「① 医療機関名」 → 「医療機関名」).
            let name = label(t, *field)
                .trim_start_matches(|c: char| !c.is_alphabetic() || c.is_numeric())
                .trim();
            let suffix = match e {
                TextError::Empty => t.empty,
                TextError::TooLong => t.too_long,
                TextError::HiddenCharacter => t.hidden,
            };
            format!("{name}{suffix}")
        }
    }
}

/// The request form; with `errors`, as a 400 answer that keeps what was typed.
pub fn request_form(ctx: &PageContext<'_>, typed: &AddressRequestForm, errors: &[FieldError]) -> Markup {
    let t = texts(ctx.language);
    let error_of = |field: RequestField| errors.iter().find(|e| e.field() == field);
    let field = |field: RequestField, kind: &str, autocomplete: &str, value: &str, hint: &str| {
        let id = field_id(field);
        let error = error_of(field);
        let hint_id = format!("{id}-hint");
        let error_id = format!("{id}-error");
        let described = if error.is_some() {
            format!("{hint_id} {error_id}")
        } else {
            hint_id.clone()
        };
        html! {
            div class="field" {
                label for=(id) { (label(t, field)) }
                p class="hint" id=(hint_id) { (hint) }
                @if let Some(error) = error {
                    p class="field-error" id=(error_id) { (error_text(error, ctx.language)) }
                }
                input id=(id) name=(id) type=(kind) autocomplete=(autocomplete) required
                    maxlength=(field.max_chars())
                    spellcheck="false"
                    aria-describedby=(described)
                    aria-invalid=(if error.is_some() { "true" } else { "false" })
                    value=(value);
            }
        }
    };
    let content = html! {
        @if !errors.is_empty() {
            div class="error-summary" id="error-summary" role="alert" tabindex="-1" autofocus {
                h2 { (ctx.texts.errors_title) }
                ul {
                    @for error in errors {
                        li { a href=(format!("#{}", field_id(error.field()))) { (error_text(error, ctx.language)) } }
                    }
                }
            }
        }
        p { (t.form_lead) }
        ol class="guidance" {
            @for step in t.form_steps { li { (step) } }
        }
        // `novalidate`: the server checks every item and lists every mistake in the page's own
        // words and language; the browser's bubbles would stop at the first, in the browser's.
        form method="post" action=(ctx.href(FORM_PATH)) class="form" id="address-request-form" novalidate {
            (field(RequestField::Username, "text", "username", &typed.username, t.username_hint))
            (field(RequestField::Institution, "text", "organization", &typed.institution, t.institution_hint))
            (field(RequestField::Location, "text", "street-address", &typed.location, t.location_hint))
            (field(RequestField::ContactPerson, "text", "name", &typed.contact_person, t.contact_hint))
            (field(RequestField::NewEmail, "email", "email", &typed.new_email, t.new_email_hint))
            button type="submit" class="button" { (t.submit_button) }
        }
    };
    layout(ctx, t.form_title, false, content)
}

/// The same answer for every username: check the new mailbox.
pub fn accepted(ctx: &PageContext<'_>, new_email: &str, sender_address: &str, link_lifetime_hours: u64) -> Markup {
    let t = texts(ctx.language);
    let lifetime = match ctx.language {
        Language::Ja => format!("{link_lifetime_hours}時間"),
        Language::En => format!("{link_lifetime_hours} hours"),
    };
    let content = html! {
        p class="lead" role="status" { (t.accepted_lead) }
        dl class="summary" {
            dt { (t.accepted_address) }
            dd { code { (new_email) } }
        }
        ul class="guidance" {
            @for line in t.accepted_next { li { (line) } }
            li { (ctx.texts.sent_allow_sender) " " code { (sender_address) } }
            li { (t.accepted_validity) " " strong { (lifetime) } }
        }
    };
    layout(ctx, t.accepted_title, false, content)
}

/// The GET of the mailed link: what will be confirmed, and the button. Changes nothing.
pub fn verify(ctx: &PageContext<'_>, request_id: &str, token: &str, username: &str, institution: &str) -> Markup {
    let t = texts(ctx.language);
    let content = html! {
        p { (t.verify_lead) }
        dl class="summary" {
            dt { (t.verify_summary_username) }
            dd { code { (username) } }
            dt { (t.verify_summary_institution) }
            dd { (institution) }
        }
        form method="post" action=(ctx.href(VERIFY_PATH)) class="form" {
            input type="hidden" name="id" value=(request_id);
            input type="hidden" name="token" value=(token);
            button type="submit" class="button" { (t.verify_button) }
        }
    };
    layout(ctx, t.verify_title, false, content)
}

pub fn verified(ctx: &PageContext<'_>) -> Markup {
    let t = texts(ctx.language);
    let content = html! {
        p class="lead" role="status" { (t.verified_lead) }
        p { (t.verified_next) }
        p { a class="button" href=(ctx.href("/password-reset")) { (ctx.texts.request_title) } }
    };
    layout(ctx, t.verified_title, false, content)
}

pub fn invalid_link(ctx: &PageContext<'_>) -> Markup {
    let t = texts(ctx.language);
    let content = html! {
        p { (t.invalid_lead) }
        p { a class="button" href=(ctx.href(FORM_PATH)) { (t.invalid_button) } }
    };
    layout(ctx, t.invalid_title, false, content)
}
