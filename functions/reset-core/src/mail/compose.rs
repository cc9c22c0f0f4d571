//! The wording of the two mails, in Japanese (default) and English.

use super::OutgoingMail;
use crate::domain::{Email, Language, Timestamp, User, Username};
use maud::{html, Markup, DOCTYPE};
use time::{OffsetDateTime, UtcOffset};

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
        match language {
            Language::En => self.service_name_en.unwrap_or(self.service_name),
            Language::Ja => self.service_name,
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

const JST_OFFSET_SECS: i32 = 9 * 3600;

/// `2026年11月25日 21:16` / `25 Nov 2026, 21:16`, in Japan Standard Time.
pub fn format_jst(at: Timestamp, language: Language) -> String {
    let offset = UtcOffset::from_whole_seconds(JST_OFFSET_SECS).unwrap_or(UtcOffset::UTC);
    let Ok(utc) = OffsetDateTime::from_unix_timestamp(at.as_secs()) else {
        return at.as_secs().to_string();
    };
    let t = utc.to_offset(offset);
    match language {
        Language::Ja => format!(
            "{}年{}月{}日 {:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Language::En => {
            let month = &format!("{:?}", t.month())[..3];
            format!("{} {} {}, {:02}:{:02}", t.day(), month, t.year(), t.hour(), t.minute())
        }
    }
}

pub(crate) fn html_mail(language: Language, title: &str, paragraphs: &[Markup]) -> String {
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
    let expiry = format_jst(expires_at, user.language);
    let service = ctx.service_name_in(user.language);
    let support = ctx.support_contact;
    let (subject, lines, html_paragraphs) = match user.language {
        Language::Ja => (
            format!("【{service}】パスワードリセットのご案内"),
            vec![
                format!("{service}のパスワードリセットのお申し込みを受け付けました（ユーザ名: {}）。", user.username),
                format!("下記のURLを開き、画面の案内に従って新しいパスワードを設定してください。\n{link}"),
                format!("このURLの有効期限は {expiry}（日本時間）です。期限を過ぎた場合は、もう一度パスワードリセットをお申し込みください。"),
                "このメールに心当たりがない場合は、このメールを破棄してください。パスワードは変更されません。".to_owned(),
                format!("このメールは送信専用のアドレスから送信しています。ご返信いただいてもお答えできません。\nお問い合わせ先: {support}"),
            ],
            vec![
                html! { (service) "のパスワードリセットのお申し込みを受け付けました（ユーザ名: " (user.username) "）。" },
                html! { "下記のリンクを開き、画面の案内に従って新しいパスワードを設定してください。" br; a href=(link) { (link) } },
                html! { "このリンクの有効期限は " strong { (expiry) "（日本時間）" } " です。期限を過ぎた場合は、もう一度パスワードリセットをお申し込みください。" },
                html! { "このメールに心当たりがない場合は、このメールを破棄してください。パスワードは変更されません。" },
                html! { "このメールは送信専用のアドレスから送信しています。ご返信いただいてもお答えできません。" br; "お問い合わせ先: " (support) },
            ],
        ),
        Language::En => (
            format!("[{service}] Resetting your password"),
            vec![
                format!("We received a request to reset the password of your {service} account (username: {}).", user.username),
                format!("Open the link below and follow the steps on the page to set a new password.\n{link}"),
                format!("The link expires at {expiry} (Japan Standard Time). After that, please request a new one."),
                "If you did not ask for this, ignore this mail. Your password will not change.".to_owned(),
                format!("This mail was sent from a send-only address; replies are not read.\nContact: {support}"),
            ],
            vec![
                html! { "We received a request to reset the password of your " (service) " account (username: " (user.username) ")." },
                html! { "Open the link below and follow the steps on the page to set a new password." br; a href=(link) { (link) } },
                html! { "The link expires at " strong { (expiry) " (Japan Standard Time)" } ". After that, please request a new one." },
                html! { "If you did not ask for this, ignore this mail. Your password will not change." },
                html! { "This mail was sent from a send-only address; replies are not read." br; "Contact: " (support) },
            ],
        ),
    };
    OutgoingMail {
        to: user.email.clone(),
        html: html_mail(user.language, &subject, &html_paragraphs),
        text: lines.join("\n\n") + "\n",
        subject,
    }
}

pub fn password_changed_mail(ctx: &MailContext<'_>, user: Recipient<'_>, changed_at: Timestamp) -> OutgoingMail {
    let when = format_jst(changed_at, user.language);
    let service = ctx.service_name_in(user.language);
    let support = ctx.support_contact;
    let (subject, lines) = match user.language {
        Language::Ja => (
            format!("【{service}】パスワードが変更されました"),
            vec![
                format!("{service}のユーザ名 {} のパスワードが {when}（日本時間）に変更されました。", user.username),
                "ご自身で変更した場合は、このメールへの対応は不要です。以前のパスワードでサインインしていた端末では、もう一度サインインが必要になります。".to_owned(),
                format!("お心当たりがない場合は、至急こちらへご連絡ください: {support}"),
                "このメールは送信専用のアドレスから送信しています。ご返信いただいてもお答えできません。".to_owned(),
            ],
        ),
        Language::En => (
            format!("[{service}] Your password was changed"),
            vec![
                format!("The password of {service} username {} was changed at {when} (Japan Standard Time).", user.username),
                "If you made this change, there is nothing more to do. Devices signed in with the old password will need to sign in again.".to_owned(),
                format!("If you did not, contact us at once: {support}"),
                "This mail was sent from a send-only address; replies are not read.".to_owned(),
            ],
        ),
    };
    let paragraphs: Vec<Markup> = lines.iter().map(|line| html! { (line) }).collect();
    OutgoingMail {
        to: user.email.clone(),
        html: html_mail(user.language, &subject, &paragraphs),
        text: lines.join("\n\n") + "\n",
        subject,
    }
}

/// The notice of an address change, to the old address (`to_old_address`) or to the new one.
pub fn address_changed_mail(
    ctx: &MailContext<'_>,
    user: Recipient<'_>,
    changed_at: Timestamp,
    to_old_address: bool,
) -> OutgoingMail {
    let when = format_jst(changed_at, user.language);
    let service = ctx.service_name_in(user.language);
    let support = ctx.support_contact;
    let name = user.username;
    let (subject, lines) = match (user.language, to_old_address) {
        (Language::Ja, true) => (
            format!("【{service}】登録メールアドレスが変更されました"),
            vec![
                format!("{service}のユーザ名 {name} の登録メールアドレスが {when}（日本時間）に管理者によって変更されました。このアドレスには、今後パスワードリセットのメールは届きません。"),
                format!("お心当たりがない場合は、至急こちらへご連絡ください: {support}"),
                "このメールは送信専用のアドレスから送信しています。ご返信いただいてもお答えできません。".to_owned(),
            ],
        ),
        (Language::Ja, false) => (
            format!("【{service}】このアドレスが登録メールアドレスになりました"),
            vec![
                format!("{service}のユーザ名 {name} の登録メールアドレスが {when}（日本時間）にこのアドレスに変更されました。パスワードリセットのメールは今後このアドレスに届きます。"),
                format!("お心当たりがない場合は、至急こちらへご連絡ください: {support}"),
                "このメールは送信専用のアドレスから送信しています。ご返信いただいてもお答えできません。".to_owned(),
            ],
        ),
        (Language::En, true) => (
            format!("[{service}] Your registered address was changed"),
            vec![
                format!("An administrator changed the registered address of {service} username {name} at {when} (Japan Standard Time). Password reset mails will no longer come to this address."),
                format!("If you did not ask for this, contact us at once: {support}"),
                "This mail was sent from a send-only address; replies are not read.".to_owned(),
            ],
        ),
        (Language::En, false) => (
            format!("[{service}] This is now your registered address"),
            vec![
                format!("The registered address of {service} username {name} was changed to this address at {when} (Japan Standard Time). Password reset mails will come here from now on."),
                format!("If you did not ask for this, contact us at once: {support}"),
                "This mail was sent from a send-only address; replies are not read.".to_owned(),
            ],
        ),
    };
    let paragraphs: Vec<Markup> = lines.iter().map(|line| html! { (line) }).collect();
    OutgoingMail {
        to: user.email.clone(),
        html: html_mail(user.language, &subject, &paragraphs),
        text: lines.join("\n\n") + "\n",
        subject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(language: Language) -> User {
        User::new_active(
            Username::parse("ex000000").unwrap_or_else(|e| panic!("{e}")),
            Email::parse("ex000000@example.jp").unwrap_or_else(|e| panic!("{e}")),
            language,
            Timestamp::from_millis(0),
        )
        .unwrap_or_else(|e| panic!("{e}"))
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
        assert_eq!(format_jst(at, Language::Ja), "2026年11月25日 21:00");
        assert_eq!(format_jst(at, Language::En), "25 Nov 2026, 21:00");
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
