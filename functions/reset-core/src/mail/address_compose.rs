//! The wording of the address-change request mails, in Japanese (default) and English: the
//! verification link to the new address, the notice to the registered address, and the note
//! to the administrators.

use super::compose::{format_jst, html_mail, MailContext, Recipient};
use super::OutgoingMail;
use crate::domain::{AddressRequest, AddressRequestId, Email, Language, RequestText, Timestamp, Username};
use maud::{html, Markup};

fn mail(to: &Email, language: Language, subject: String, lines: Vec<String>, link: Option<&str>) -> OutgoingMail {
    let paragraphs: Vec<Markup> = lines
        .iter()
        .map(|line| match link {
            Some(link) if line.contains(link) => {
                let before = line.replace(link, "");
                html! { (before.trim_end()) br; a href=(link) { (link) } }
            }
            _ => html! { (line) },
        })
        .collect();
    OutgoingMail {
        to: to.clone(),
        html: html_mail(language, &subject, &paragraphs),
        text: lines.join("\n\n") + "\n",
        subject,
    }
}

/// To the new address: confirm that you asked for this change.
pub fn address_verification_mail(
    ctx: &MailContext<'_>,
    request: &AddressRequest,
    link: &str,
    link_expires_at: Timestamp,
) -> OutgoingMail {
    let language = request.language;
    let expiry = format_jst(link_expires_at, language);
    let service = ctx.service_name_in(language);
    let support = ctx.support_contact;
    let username = &request.username;
    let institution = request.institution.as_str();
    let (subject, lines) = match language {
        Language::Ja => (
            format!("【{service}】メールアドレス変更申請の確認"),
            vec![
                format!("{service}のユーザ名 {username} について、登録メールアドレスをこのアドレスに変更する申請（医療機関名: {institution}）を受け付けました。"),
                format!("申請を管理者に届けるには、下記のURLを開き「申請を確定する」を押してください。このアドレスでメールを受け取れることの確認になります。\n{link}"),
                format!("このURLの有効期限は {expiry}（日本時間）です。確定されなかった申請は管理者に届かず、期限後に削除されます。"),
                "このメールに心当たりがない場合は、このメールを破棄してください。何も変更されません。".to_owned(),
                format!("このメールは送信専用のアドレスから送信しています。ご返信いただいてもお答えできません。\nお問い合わせ先: {support}"),
            ],
        ),
        Language::En => (
            format!("[{service}] Confirm your address-change request"),
            vec![
                format!("We received a request to change the registered address of {service} username {username} to this address (institution: {institution})."),
                format!("To send the request to the administrators, open the link below and press \u{201c}Confirm the request\u{201d}. This proves that this address receives mail.\n{link}"),
                format!("The link expires at {expiry} (Japan Standard Time). Requests that are not confirmed never reach the administrators and are deleted."),
                "If you did not ask for this, ignore this mail. Nothing will change.".to_owned(),
                format!("This mail was sent from a send-only address; replies are not read.\nContact: {support}"),
            ],
        ),
    };
    mail(&request.new_email, language, subject, lines, Some(link))
}

/// To the registered address, if it still works: someone asked to replace it.
pub fn address_change_requested_mail(
    ctx: &MailContext<'_>,
    user: Recipient<'_>,
    institution: &RequestText,
    new_email_masked: &str,
    requested_at: Timestamp,
) -> OutgoingMail {
    let when = format_jst(requested_at, user.language);
    let service = ctx.service_name_in(user.language);
    let support = ctx.support_contact;
    let institution = institution.as_str();
    let (subject, lines) = match user.language {
        Language::Ja => (
            format!("【{service}】登録メールアドレスの変更が申請されました"),
            vec![
                format!("{service}のユーザ名 {} について、{when}（日本時間）に、登録メールアドレスを {new_email_masked} に変更する申請がありました（医療機関名: {institution}）。", user.username),
                "申請は管理者が確認してから反映します。ご自身（または所属の医療機関）による申請であれば、このメールへの対応は不要です。".to_owned(),
                format!("お心当たりがない場合は、変更が反映される前に、至急こちらへご連絡ください: {support}"),
                "このメールは送信専用のアドレスから送信しています。ご返信いただいてもお答えできません。".to_owned(),
            ],
        ),
        Language::En => (
            format!("[{service}] A change of your registered address was requested"),
            vec![
                format!("At {when} (Japan Standard Time) someone asked to change the registered address of {service} username {} to {new_email_masked} (institution: {institution}).", user.username),
                "An administrator checks the request before it takes effect. If you or your institution made it, there is nothing more to do.".to_owned(),
                format!("If this was not you, contact us at once, before the change takes effect: {support}"),
                "This mail was sent from a send-only address; replies are not read.".to_owned(),
            ],
        ),
    };
    mail(user.email, user.language, subject, lines, None)
}

/// To the administrators: a verified request waits. Only the id and the username.
pub fn address_request_arrived_mail(
    ctx: &MailContext<'_>,
    to: &Email,
    username: &Username,
    request_id: &AddressRequestId,
) -> OutgoingMail {
    let service = ctx.service_name;
    let subject =
        format!("【{service}】メールアドレス変更申請（確認済み）が届きました / A verified address-change request");
    let lines = vec![
        format!("ユーザ名 {username} のメールアドレス変更申請が、新しいアドレスでの確認を済ませて管理者の処理待ちになりました。"),
        format!("確認と処理: reset-admin address-requests show {request_id}"),
        format!("A verified address-change request for username {username} waits for an administrator: reset-admin address-requests show {request_id}"),
    ];
    mail(to, Language::Ja, subject, lines, None)
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
        for part in [
            link,
            "2026年11月25日 21:00（日本時間）",
            "心当たりがない",
            "さくら内科クリニック",
        ] {
            assert!(ja.text.contains(part), "{part}");
        }
        assert!(ja.html.contains(&format!("href=\"{}\"", link.replace('&', "&amp;"))));
        request.language = Language::En;
        let en = address_verification_mail(&CTX, &request, link, at);
        assert!(en.text.contains("Confirm the request"));
        Ok(())
    }

    #[test]
    fn the_notice_to_the_registered_address_shows_the_new_one_masked() -> Result<(), Box<dyn std::error::Error>> {
        let username = Username::parse("ex000000")?;
        let email = Email::parse("old@example.jp")?;
        let institution = form().parse().map_err(|e| format!("{e:?}"))?.institution;
        let mail = address_change_requested_mail(
            &CTX,
            Recipient {
                username: &username,
                email: &email,
                language: Language::Ja,
            },
            &institution,
            "i***@sakura-clinic.example.jp",
            Timestamp::from_millis(0),
        );
        assert_eq!(mail.to.as_str(), "old@example.jp");
        assert!(mail.text.contains("i***@sakura-clinic.example.jp"));
        assert!(mail.text.contains("お心当たりがない場合"));
        assert!(!mail.text.contains("info@"));
        Ok(())
    }
}
