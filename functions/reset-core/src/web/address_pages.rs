//! The address-change request's pages (their words are in `crate::lang`).
//! Same layout as the reset pages; they work without JavaScript and need none.

use super::pages::{layout, PageContext};
use super::routes;
use crate::domain::address_request::{AddressRequestForm, FieldError, RequestField, TextError};
use crate::domain::{AddressRequest, EmailError, Language};
use crate::lang::{self, AddressTexts};
use maud::{html, Markup};

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

/// The label without its number (「① 医療機関名」 → 「医療機関名」).
fn plain_label(t: &AddressTexts, field: RequestField) -> &'static str {
    label(t, field)
        .trim_start_matches(|c: char| !c.is_alphabetic() || c.is_numeric())
        .trim()
}

/// The sentence for one refused item.
pub fn error_text(error: &FieldError, language: Language) -> String {
    let words = lang::words(language);
    let t = &words.address_pages;
    match error {
        FieldError::Username(e) => words.username_error(e).to_owned(),
        FieldError::Email(EmailError::TooLong) => t.email_too_long.to_owned(),
        FieldError::Email(_) => t.email_malformed.to_owned(),
        FieldError::Text(field, e) => {
            let name = plain_label(t, *field);
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
    let t = &ctx.words().address_pages;
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
                h2 { (ctx.texts().errors_title) }
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
        form method="post" action=(ctx.href(routes::ADDRESS_FORM)) class="form" id="address-request-form" novalidate {
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
    let t = &ctx.words().address_pages;
    let lifetime = ctx.words().hours(link_lifetime_hours);
    let content = html! {
        p class="lead" role="status" { (t.accepted_lead) }
        dl class="summary" {
            dt { (t.accepted_address) }
            dd { code { (new_email) } }
        }
        ul class="guidance" {
            @for line in t.accepted_next { li { (line) } }
            li { (ctx.texts().sent_allow_sender) " " code { (sender_address) } }
            li { (t.accepted_validity) " " strong { (lifetime) } }
        }
    };
    layout(ctx, t.accepted_title, false, content)
}

/// The GET of the mailed link: what will be confirmed, and the button. Changes nothing. The
/// typed details are shown here, to whoever holds the link, and never in a mail.
pub fn verify(ctx: &PageContext<'_>, request_id: &str, token: &str, request: &AddressRequest) -> Markup {
    let t = &ctx.words().address_pages;
    let content = html! {
        p { (t.verify_lead) }
        dl class="summary" {
            dt { (t.verify_summary_username) }
            dd { code { (request.username.as_str()) } }
            dt { (t.verify_summary_institution) }
            dd { (request.institution.as_str()) }
            dt { (plain_label(t, RequestField::Location)) }
            dd { (request.location.as_str()) }
            dt { (plain_label(t, RequestField::ContactPerson)) }
            dd { (request.contact_person.as_str()) }
        }
        form method="post" action=(ctx.href(routes::ADDRESS_VERIFY)) class="form" {
            input type="hidden" name="id" value=(request_id);
            input type="hidden" name="token" value=(token);
            button type="submit" class="button" { (t.verify_button) }
        }
    };
    layout(ctx, t.verify_title, false, content)
}

pub fn verified(ctx: &PageContext<'_>) -> Markup {
    let t = &ctx.words().address_pages;
    let content = html! {
        p class="lead" role="status" { (t.verified_lead) }
        p { (t.verified_next) }
        p { a class="button" href=(ctx.href(routes::REQUEST_PAGE)) { (ctx.texts().request_title) } }
    };
    layout(ctx, t.verified_title, false, content)
}

pub fn invalid_link(ctx: &PageContext<'_>) -> Markup {
    let t = &ctx.words().address_pages;
    let content = html! {
        p { (t.invalid_lead) }
        p { a class="button" href=(ctx.href(routes::ADDRESS_FORM)) { (t.invalid_button) } }
    };
    layout(ctx, t.invalid_title, false, content)
}
