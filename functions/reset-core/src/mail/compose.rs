//! The account mails put together: the words come from the recipient's language
//! (`crate::lang`), the HTML part is built here, the same for every language.

use super::OutgoingMail;
use crate::domain::{Email, Language, Timestamp, User, Username};
use crate::lang::{self, MailAbout, MailWords};
use maud::{html, Markup, DOCTYPE};

/// Everything a mail needs to know about the service.
#[derive(Debug, Clone)]
pub struct MailContext<'a> {
    pub service_name: &'a str,
    /// The name in English mails; `service_name` when None.
    pub service_name_en: Option<&'a str>,
    pub support_contact: &'a str,
}

impl MailContext<'_> {
    /// The service's name in `language`.
    pub fn service_name_in(&self, language: Language) -> &str {
        lang::service_name(language, self.service_name, self.service_name_en)
    }

    pub(crate) fn about<'a>(&'a self, language: Language, username: &'a Username) -> MailAbout<'a> {
        MailAbout {
            service: self.service_name_in(language),
            username: username.as_str(),
            support: self.support_contact,
        }
    }
}

/// Whom a mail goes to, and in which language.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub username: &'a Username,
    pub email: &'a Email,
    pub language: Language,
}

impl<'a> From<&'a User> for Recipient<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            username: &user.username,
            email: &user.email,
            language: user.language,
        }
    }
}

/// The mail of `words` to `to`: the text part as written, the HTML part with each paragraph's
/// line breaks kept and `link` (on a line of its own) made a link.
pub(crate) fn mail(to: &Email, language: Language, words: MailWords, link: Option<&str>) -> OutgoingMail {
    let paragraphs: Vec<Markup> = words
        .paragraphs
        .iter()
        .map(|paragraph| {
            html! {
                @for (index, line) in paragraph.lines().enumerate() {
                    @if index > 0 { br; }
                    @if Some(line) == link { a href=(line) { (line) } } @else { (line) }
                }
            }
        })
        .collect();
    OutgoingMail {
        to: to.clone(),
        html: html_mail(language, &words.subject, &paragraphs),
        text: words.paragraphs.join("\n\n") + "\n",
        subject: words.subject,
    }
}

fn html_mail(language: Language, title: &str, paragraphs: &[Markup]) -> String {
    html! {
        (DOCTYPE)
        html lang=(language.code()) {
            head { meta charset="utf-8"; title { (title) } }
            body style="font-family: sans-serif; line-height: 1.7; color: #1a1a1a;" {
                @for paragraph in paragraphs { p { (paragraph) } }
            }
        }
    }
    .into_string()
}

pub fn reset_link_mail(ctx: &MailContext<'_>, user: Recipient<'_>, link: &str, expires_at: Timestamp) -> OutgoingMail {
    let words = lang::words(user.language);
    let about = ctx.about(user.language, user.username);
    let text = (words.mails.reset_link)(&about, link, &words.jst(expires_at));
    mail(user.email, user.language, text, Some(link))
}

pub fn password_changed_mail(ctx: &MailContext<'_>, user: Recipient<'_>, changed_at: Timestamp) -> OutgoingMail {
    let words = lang::words(user.language);
    let about = ctx.about(user.language, user.username);
    let text = (words.mails.password_changed)(&about, &words.jst(changed_at));
    mail(user.email, user.language, text, None)
}

/// The notice of an address change, to the old address (`to_old_address`) or to the new one.
pub fn address_changed_mail(
    ctx: &MailContext<'_>,
    user: Recipient<'_>,
    changed_at: Timestamp,
    to_old_address: bool,
) -> OutgoingMail {
    let words = lang::words(user.language);
    let about = ctx.about(user.language, user.username);
    let notice = if to_old_address {
        words.mails.address_changed_to_old
    } else {
        words.mails.address_changed_to_new
    };
    let text = notice(&about, &words.jst(changed_at));
    mail(user.email, user.language, text, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(language: Language) -> User {
        User::sample("ex000000").with_language(language)
    }

    const CTX: MailContext<'static> = MailContext {
        service_name: "医療機関等ID",
        service_name_en: Some("Medical Institution ID"),
        support_contact: "0120-000-000",
    };

    #[test]
    fn jst_formatting() {
        // 2026-11-25T12:00:00Z is 21:00 in Tokyo.
        let at = Timestamp::from_millis(1_795_608_000_000);
        assert_eq!(lang::words(Language::Ja).jst(at), "2026年11月25日 21:00");
        assert_eq!(lang::words(Language::En).jst(at), "25 Nov 2026, 21:00");
    }

    #[test]
    fn japanese_reset_mail_has_every_part() {
        let link = "https://id.example.jp/password-reset/confirm?token=abc";
        let mail = reset_link_mail(
            &CTX,
            (&user(Language::Ja)).into(),
            link,
            Timestamp::from_millis(1_795_608_000_000),
        );
        assert!(mail.subject.contains("医療機関等ID"));
        for part in [
            link,
            "2026年11月25日 21:00（日本時間）",
            "心当たりがない",
            "送信専用",
            "0120-000-000",
        ] {
            assert!(mail.text.contains(part), "text lacks {part}");
        }
        assert!(mail
            .html
            .contains("href=\"https://id.example.jp/password-reset/confirm?token=abc\""));
        assert!(mail.html.contains("lang=\"ja\""));
    }

    #[test]
    fn english_mails_for_english_users() {
        let mail = reset_link_mail(
            &CTX,
            (&user(Language::En)).into(),
            "https://x.jp/l",
            Timestamp::from_millis(0),
        );
        assert!(mail.text.contains("did not ask for this"));
        let changed = password_changed_mail(&CTX, (&user(Language::En)).into(), Timestamp::from_millis(0));
        assert!(changed.subject.contains("password was changed"));
    }

    #[test]
    fn english_mails_carry_the_english_name() {
        let mail = password_changed_mail(&CTX, (&user(Language::En)).into(), Timestamp::from_millis(0));
        assert!(mail.subject.contains("Medical Institution ID"), "{}", mail.subject);
        assert!(!mail.text.contains("医療機関等ID"));
        let japanese = password_changed_mail(&CTX, (&user(Language::Ja)).into(), Timestamp::from_millis(0));
        assert!(japanese.subject.contains("医療機関等ID"));
    }

    #[test]
    fn html_escapes_service_name() {
        let ctx = MailContext {
            service_name: "<b>x</b>",
            service_name_en: None,
            support_contact: "s",
        };
        let mail = password_changed_mail(&ctx, (&user(Language::Ja)).into(), Timestamp::from_millis(0));
        assert!(mail.html.contains("&lt;b&gt;x&lt;/b&gt;"));
    }
}
