//! Every page and every mail, rendered in every language of `Language::ALL`: each is written in
//! its own language (its `lang`, its own title, no other language's title) and offers the others.

use super::words;
use crate::domain::address_request::tests::form;
use crate::domain::address_request::{FieldError, RequestField, TextError};
use crate::domain::{
    AddressRequest, Email, EmailError, Language, MailKind, PasswordRule, Timestamp, Username, UsernameError,
};
use crate::mail::address_compose::{
    address_change_requested_mail, address_request_arrived_mail, address_verification_mail,
};
use crate::mail::compose::{address_changed_mail, password_changed_mail, reset_link_mail, MailContext, Recipient};
use crate::mail::OutgoingMail;
use crate::web::pages::{self, MailSentDetails, PageContext};
use crate::web::{address_pages, routes};
use maud::Markup;

const TOKEN: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
/// 2026-11-25T12:00:00Z.
const AT: Timestamp = Timestamp::from_millis(1_795_608_000_000);

fn context(language: Language) -> PageContext<'static> {
    PageContext {
        language,
        service_name: "Service",
        min_password_chars: 8,
        password_requires_symbol: false,
        breach_check: true,
        sign_in_url: "https://id.example.jp/sign-in",
        switch_base: routes::REQUEST_PAGE.to_owned(),
    }
}

/// Every page, with the title it must carry.
fn every_page(ctx: &PageContext<'_>) -> Vec<(Markup, &'static str)> {
    let t = ctx.texts();
    let a = &ctx.words().address_pages;
    let details = MailSentDetails {
        username: "ex000000",
        was_folded: true,
        sender_address: "no-reply@example.jp",
        token_lifetime_minutes: 60,
        support_contact: "help desk",
    };
    let typed = form();
    let request = typed
        .parse()
        .map_err(|e| format!("{e:?}"))
        .and_then(|input| AddressRequest::new(input, ctx.language, AT, 14).map_err(|e| e.to_string()))
        .unwrap_or_else(|e| panic!("{e}"));
    let errors = [
        FieldError::Username(UsernameError::WrongLength),
        FieldError::Text(RequestField::Institution, TextError::TooLong),
        FieldError::Email(EmailError::TooLong),
    ];
    vec![
        (
            pages::request_form(ctx, Some("ex00"), Some(&UsernameError::WrongLength)),
            t.request_title,
        ),
        (pages::mail_sent(ctx, &details), t.sent_title),
        (pages::confirm(ctx, TOKEN, &ctx.words().jst(AT)), t.confirm_title),
        (
            pages::password_form(ctx, TOKEN, Some("ex000000"), &PasswordRule::ALL),
            t.password_title,
        ),
        (pages::completed(ctx), t.done_title),
        (pages::invalid_link(ctx), t.invalid_title),
        (
            pages::message(ctx, t.unavailable_title, t.unavailable_lead),
            t.unavailable_title,
        ),
        (address_pages::request_form(ctx, &typed, &errors), a.form_title),
        (
            address_pages::accepted(ctx, "new@example.jp", "no-reply@example.jp", 24),
            a.accepted_title,
        ),
        (address_pages::verify(ctx, "id", TOKEN, &request), a.verify_title),
        (address_pages::verified(ctx), a.verified_title),
        (address_pages::invalid_link(ctx), a.invalid_title),
    ]
}

#[test]
fn every_page_and_mail_renders_in_every_language() -> Result<(), Box<dyn std::error::Error>> {
    for language in Language::ALL {
        let ctx = context(language);
        let jst = words(language).jst(AT);
        let others: Vec<Language> = Language::ALL.into_iter().filter(|l| *l != language).collect();
        for (index, (page, title)) in every_page(&ctx).into_iter().enumerate() {
            let html = page.into_string();
            let code = language.code();
            assert!(
                html.contains(&format!("<html lang=\"{code}\">")),
                "{code} page {index}: lang"
            );
            assert!(
                html.contains(&format!("<h1>{}", maud::html! { (title) }.into_string())),
                "{code} page {index}: {title}"
            );
            for other in &others {
                let other_pages = every_page(&context(*other));
                let (_, other_title) = &other_pages[index];
                assert!(
                    !html.contains(other_title),
                    "{code} page {index} shows {}'s {other_title}",
                    other.code()
                );
                assert!(
                    html.contains(&format!("lang={}\"", other.code())),
                    "{code} page {index} links to {}",
                    other.code()
                );
                assert!(
                    html.contains(words(*other).pages.language_name),
                    "{code} page {index}: switch label"
                );
            }
        }
        for kind in MailKind::ALL {
            for mail in mails_of(kind, language)? {
                assert!(
                    mail.html.contains(&format!("lang=\"{}\"", language.code())),
                    "{kind:?}: {}",
                    mail.subject
                );
                assert!(mail.subject.contains("Service"), "{kind:?}: {}", mail.subject);
                assert!(
                    mail.text.contains(&jst),
                    "{kind:?}: {} lacks the time {jst}",
                    mail.subject
                );
                for other in &others {
                    assert!(
                        !mail.text.contains(&words(*other).jst(AT)),
                        "{kind:?}: {} mixes languages",
                        mail.subject
                    );
                }
            }
        }
        for rule in PasswordRule::ALL {
            assert!(
                !words(language).password_rule(rule, 8).is_empty(),
                "{rule:?} in {language:?}"
            );
        }
    }
    Ok(())
}

/// The mails of one kind in `language`, each sent at `AT`. A new kind fails to compile here
/// until the test renders it.
fn mails_of(kind: MailKind, language: Language) -> Result<Vec<OutgoingMail>, Box<dyn std::error::Error>> {
    let ctx = MailContext {
        service_name: "Service",
        service_name_en: None,
        support_contact: "help desk",
    };
    let username = Username::parse("ex000000")?;
    let email = Email::parse("ex000000@example.jp")?;
    let user = Recipient {
        username: &username,
        email: &email,
        language,
    };
    let input = form().parse().map_err(|e| format!("{e:?}"))?;
    let request = AddressRequest::new(input, language, AT, 14)?;
    let link = format!("https://id.example.jp/password-reset/confirm?token={TOKEN}");
    Ok(match kind {
        MailKind::ResetLink => vec![reset_link_mail(&ctx, user, &link, AT)],
        MailKind::PasswordChanged => vec![password_changed_mail(&ctx, user, AT)],
        MailKind::AddressChanged => vec![
            address_changed_mail(&ctx, user, AT, true),
            address_changed_mail(&ctx, user, AT, false),
        ],
        MailKind::AddressVerification => vec![address_verification_mail(&ctx, &request, &link, AT)],
        MailKind::AddressChangeRequested => vec![address_change_requested_mail(&ctx, user, AT)],
        // One note in every language at once, with no time: checked by
        // `the_administrators_note_carries_every_language` below.
        MailKind::AddressRequestArrived => Vec::new(),
    })
}

#[test]
fn the_administrators_note_carries_every_language() -> Result<(), Box<dyn std::error::Error>> {
    let ctx = MailContext {
        service_name: "Service",
        service_name_en: None,
        support_contact: "help desk",
    };
    let username = Username::parse("ex000000")?;
    let to = Email::parse("desk@example.jp")?;
    let input = form().parse().map_err(|e| format!("{e:?}"))?;
    let request = AddressRequest::new(input, Language::Ja, AT, 14)?;
    let mail = address_request_arrived_mail(&ctx, &to, &username, &request.request_id);
    assert!(mail.html.contains(&format!("lang=\"{}\"", Language::default().code())));
    for language in Language::ALL {
        let about = crate::lang::MailAbout {
            service: "Service",
            username: "ex000000",
            support: "help desk",
        };
        let words = (words(language).mails.address_request_arrived)(&about, request.request_id.as_str());
        assert!(mail.subject.contains(&words.subject), "{language:?}: {}", mail.subject);
        for paragraph in &words.paragraphs {
            assert!(mail.text.contains(paragraph), "{language:?}: {paragraph}");
        }
    }
    assert!(mail
        .text
        .contains(&format!("reset-admin address-requests show {}", request.request_id)));
    Ok(())
}
