//! The address-change request's mails put together: the verification link to the new
//! address and the notice to the registered one in the requester's language (`crate::lang`),
//! and the note to the administrators, in Japanese and English at once (the administrators'
//! desk reads both; it is not a user's mail).

use super::compose::{mail, MailContext, Recipient};
use super::OutgoingMail;
use crate::domain::{AddressRequest, AddressRequestId, Email, Language, Timestamp, Username};
use crate::lang::{self, MailWords};

/// To the new address: confirm that you asked for this change.
pub fn address_verification_mail(
    ctx: &MailContext<'_>,
    request: &AddressRequest,
    link: &str,
    link_expires_at: Timestamp,
) -> OutgoingMail {
    let language = request.language;
    let words = lang::words(language);
    let about = ctx.about(language, &request.username);
    let expires = words.jst(link_expires_at);
    let text = (words.mails.address_verification)(&about, link, &expires);
    mail(&request.new_email, language, text, Some(link))
}

/// To the registered address, if it still works: someone asked to replace it.
pub fn address_change_requested_mail(
    ctx: &MailContext<'_>,
    user: Recipient<'_>,
    requested_at: Timestamp,
) -> OutgoingMail {
    let words = lang::words(user.language);
    let about = ctx.about(user.language, user.username);
    let when = words.jst(requested_at);
    let text = (words.mails.address_change_requested)(&about, &when);
    mail(user.email, user.language, text, None)
}

/// To the administrators: a verified request waits. Only the id and the username, in every
/// language at once (Japanese first, the default), each language's words from its `lang` file.
pub fn address_request_arrived_mail(
    ctx: &MailContext<'_>,
    to: &Email,
    username: &Username,
    request_id: &AddressRequestId,
) -> OutgoingMail {
    let mut subjects = Vec::new();
    let mut paragraphs = Vec::new();
    for language in Language::ALL {
        // The service's name as the desk knows it (the configured one), in every language.
        let about = lang::MailAbout {
            service: ctx.service_name,
            username: username.as_str(),
            support: ctx.support_contact,
        };
        let words = (lang::words(language).mails.address_request_arrived)(&about, request_id.as_str());
        subjects.push(words.subject);
        paragraphs.extend(words.paragraphs);
    }
    let words = MailWords {
        subject: subjects.join(" / "),
        paragraphs,
    };
    mail(to, Language::default(), words, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::address_request::tests::form;

    const CTX: MailContext<'static> = MailContext {
        service_name: "医療機関等ID",
        service_name_en: None,
        support_contact: "0120-000-000",
    };

    #[test]
    fn the_verification_mail_carries_the_link_and_its_expiry_in_both_languages(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let input = form().parse().map_err(|e| format!("{e:?}"))?;
        let mut request = AddressRequest::new(input, Language::Ja, Timestamp::from_millis(0), 14)?;
        let link = "https://id.example.jp/password-reset/address-change/verify?id=x&token=y";
        let at = Timestamp::from_millis(1_795_608_000_000);
        let ja = address_verification_mail(&CTX, &request, link, at);
        assert_eq!(ja.to.as_str(), "info@sakura-clinic.example.jp");
        for part in [link, "2026年11月25日 21:00（日本時間）", "心当たりがない", "ex000000"] {
            assert!(ja.text.contains(part), "{part}");
        }
        for typed in [
            request.institution.as_str(),
            request.location.as_str(),
            request.contact_person.as_str(),
        ] {
            assert!(!ja.text.contains(typed) && !ja.html.contains(typed), "{typed}");
        }
        assert!(ja.html.contains(&format!("href=\"{}\"", link.replace('&', "&amp;"))));
        request.language = Language::En;
        let en = address_verification_mail(&CTX, &request, link, at);
        assert!(en.text.contains("Confirm the request"));
        Ok(())
    }

    #[test]
    fn the_notice_to_the_registered_address_carries_nothing_the_requester_typed(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let username = Username::parse("ex000000")?;
        let email = Email::parse("old@example.jp")?;
        let mail = address_change_requested_mail(
            &CTX,
            Recipient {
                username: &username,
                email: &email,
                language: Language::Ja,
            },
            Timestamp::from_millis(0),
        );
        assert_eq!(mail.to.as_str(), "old@example.jp");
        assert!(mail.text.contains("お心当たりがない場合"));
        for typed in ["sakura-clinic", "さくら", "info@"] {
            assert!(!mail.text.contains(typed), "{typed}");
        }
        Ok(())
    }
}
