//! Japanese: the default language of every page and mail.

use super::{AddressTexts, MailAbout, MailTexts, MailWords, PageTexts, SignInTexts, Words};
use crate::domain::{PasswordRule, UsernameError};
use std::borrow::Cow;
use time::OffsetDateTime;

pub(super) const WORDS: Words = Words {
    pages: PAGES,
    address_pages: ADDRESS_PAGES,
    sign_in: SIGN_IN,
    mails: MailTexts {
        reset_link,
        password_changed,
        address_changed_to_old,
        address_changed_to_new,
        address_verification,
        address_change_requested,
        address_request_arrived,
    },
    password_rule,
    username_error,
    jst_date_time,
    minutes: |count| format!("{count}分"),
    hours: |count| format!("{count}時間"),
};

/// `2026年11月25日 21:16`.
fn jst_date_time(t: OffsetDateTime) -> String {
    format!(
        "{}年{}月{}日 {:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

fn password_rule(rule: PasswordRule, min_chars: usize) -> Cow<'static, str> {
    match rule {
        PasswordRule::MinLength => format!("{min_chars}文字以上").into(),
        PasswordRule::Uppercase => "英大文字（A〜Z）を1文字以上".into(),
        PasswordRule::Lowercase => "英小文字（a〜z）を1文字以上".into(),
        PasswordRule::Digit => "数字（0〜9）を1文字以上".into(),
        PasswordRule::Symbol => "記号（!@#$% など）を1文字以上".into(),
        PasswordRule::HalfWidthOnly => "半角英数字・記号のみ（全角文字は使えません。入力モードを半角にしてください）".into(),
        PasswordRule::PrintableOnly => "タブなどの制御文字は使えません".into(),
        PasswordRule::MaxLength => "128文字以内".into(),
        PasswordRule::NotUsername => "ユーザ名を含まない".into(),
        PasswordRule::NotCommon => "推測されやすいパスワードではない（よく使われる単語・年・キーボードの並び・簡単な置き換えの組み合わせは不可）".into(),
        PasswordRule::NotBreached => "過去に漏えいしたパスワードではない（他のサービスから流出したパスワードの一覧に含まれるものは、攻撃者が最初に試すため使えません）".into(),
        PasswordRule::ConfirmationMatches => "「新しいパスワードの確認」と一致している".into(),
    }
}

fn username_error(error: &UsernameError) -> &'static str {
    match error {
        UsernameError::Empty => "ユーザ名を入力してください。",
        UsernameError::WrongLength => "ユーザ名は半角英数字8文字で入力してください。",
        UsernameError::NotAlphanumeric => "ユーザ名に使えるのは半角英数字だけです（記号・かな・漢字は使えません）。",
    }
}

const SEND_ONLY: &str = "このメールは送信専用のアドレスから送信しています。ご返信いただいてもお答えできません。";

fn reset_link(about: &MailAbout<'_>, link: &str, expires: &str) -> MailWords {
    let MailAbout {
        service,
        username,
        support,
    } = about;
    MailWords {
        subject: format!("【{service}】パスワードリセットのご案内"),
        paragraphs: vec![
            format!("{service}のパスワードリセットのお申し込みを受け付けました（ユーザ名: {username}）。"),
            format!("下記のURLを開き、画面の案内に従って新しいパスワードを設定してください。\n{link}"),
            format!("このURLの有効期限は {expires}（日本時間）です。期限を過ぎた場合は、もう一度パスワードリセットをお申し込みください。"),
            "このメールに心当たりがない場合は、このメールを破棄してください。パスワードは変更されません。".to_owned(),
            format!("{SEND_ONLY}\nお問い合わせ先: {support}"),
        ],
    }
}

fn password_changed(about: &MailAbout<'_>, when: &str) -> MailWords {
    let MailAbout {
        service,
        username,
        support,
    } = about;
    MailWords {
        subject: format!("【{service}】パスワードが変更されました"),
        paragraphs: vec![
            format!("{service}のユーザ名 {username} のパスワードが {when}（日本時間）に変更されました。"),
            "ご自身で変更した場合は、このメールへの対応は不要です。以前のパスワードでサインインしていた端末では、もう一度サインインが必要になります。".to_owned(),
            format!("お心当たりがない場合は、至急こちらへご連絡ください: {support}"),
            SEND_ONLY.to_owned(),
        ],
    }
}

fn address_changed_to_old(about: &MailAbout<'_>, when: &str) -> MailWords {
    let MailAbout {
        service,
        username,
        support,
    } = about;
    MailWords {
        subject: format!("【{service}】登録メールアドレスが変更されました"),
        paragraphs: vec![
            format!("{service}のユーザ名 {username} の登録メールアドレスが {when}（日本時間）に管理者によって変更されました。このアドレスには、今後パスワードリセットのメールは届きません。"),
            format!("お心当たりがない場合は、至急こちらへご連絡ください: {support}"),
            SEND_ONLY.to_owned(),
        ],
    }
}

fn address_changed_to_new(about: &MailAbout<'_>, when: &str) -> MailWords {
    let MailAbout {
        service,
        username,
        support,
    } = about;
    MailWords {
        subject: format!("【{service}】このアドレスが登録メールアドレスになりました"),
        paragraphs: vec![
            format!("{service}のユーザ名 {username} の登録メールアドレスが {when}（日本時間）にこのアドレスに変更されました。パスワードリセットのメールは今後このアドレスに届きます。"),
            format!("お心当たりがない場合は、至急こちらへご連絡ください: {support}"),
            SEND_ONLY.to_owned(),
        ],
    }
}

fn address_verification(about: &MailAbout<'_>, link: &str, expires: &str) -> MailWords {
    let MailAbout {
        service,
        username,
        support,
    } = about;
    MailWords {
        subject: format!("【{service}】メールアドレス変更申請の確認"),
        paragraphs: vec![
            format!("{service}のユーザ名 {username} について、登録メールアドレスをこのアドレスに変更する申請を受け付けました。"),
            format!("申請を管理者に届けるには、下記のURLを開き、入力した内容を確かめて「申請を確定する」を押してください。このアドレスでメールを受け取れることの確認になります。\n{link}"),
            format!("このURLの有効期限は {expires}（日本時間）です。確定されなかった申請は管理者に届かず、期限後に削除されます。"),
            "このメールに心当たりがない場合は、このメールを破棄してください。何も変更されません。".to_owned(),
            format!("{SEND_ONLY}\nお問い合わせ先: {support}"),
        ],
    }
}

fn address_change_requested(about: &MailAbout<'_>, when: &str) -> MailWords {
    let MailAbout {
        service,
        username,
        support,
    } = about;
    MailWords {
        subject: format!("【{service}】登録メールアドレスの変更が申請されました"),
        paragraphs: vec![
            format!("{service}のユーザ名 {username} について、{when}（日本時間）に、登録メールアドレスを別のアドレスに変更する申請がありました。"),
            "申請は管理者が確認してから反映します。ご自身（または所属の医療機関）による申請であれば、このメールへの対応は不要です。".to_owned(),
            format!("お心当たりがない場合は、変更が反映される前に、至急こちらへご連絡ください: {support}"),
            SEND_ONLY.to_owned(),
        ],
    }
}

const PAGES: PageTexts = PageTexts {
    language_name: "日本語",
    back_to_sign_in: "サインイン画面へ戻る",
    request_title: "パスワードリセット",
    request_lead: "ユーザ名を入力して「パスワードリセット」を押してください。ご登録のメールアドレスに、パスワードリセット画面のURLをお送りします。",
    username_label: "ユーザ名",
    username_hint: "半角英数字8文字（例: ex000000）。全角で入力しても半角に変換します。",
    username_folded_live: "全角の文字は半角に変換して、次のユーザ名で受け付けます:",
    request_button: "パスワードリセット",
    sent_title: "メールを送信しました",
    sent_lead: "ご登録のメールアドレスに、パスワードリセット画面のURLを記載したメールを送信しました。メールに記載のURLを開いて、新しいパスワードを設定してください。",
    sent_username: "受け付けたユーザ名",
    sent_folded: "全角の文字は半角に変換しました。",
    sent_spam: "メールが見当たらない場合は、迷惑メールフォルダもご確認ください。",
    sent_allow_sender: "次の送信専用アドレスからのメールを受信できるよう、受信許可（ドメイン指定受信など）の設定をお願いします:",
    sent_expiry: "URLの有効期限は、メール送信から次の時間までです:",
    sent_no_mail_title: "10分以上たってもメールが届かない場合",
    sent_no_mail: "ご登録のメールアドレスが使えなくなっている可能性があります。ユーザ名を添えて、次の窓口にご連絡ください:",
    sent_address_change: "管理者がメールアドレスを変更すると、変更はすぐに有効になり、もう一度このページからお申し込みいただけます（窓口の受付から変更まで1〜2週間かかる場合があります）。",
    confirm_title: "パスワードをリセットしますか？",
    confirm_lead: "「パスワードのリセット」を押すと、新しいパスワードの入力画面に進みます。まだパスワードは変更されていません。",
    confirm_expires: "このURLの有効期限",
    confirm_button: "パスワードのリセット",
    jst_suffix: "（日本時間）",
    password_title: "新しいパスワードの設定",
    password_lead: "新しいパスワードを入力し、確認のため同じものを「新しいパスワードの確認」にもう一度入力してください。",
    new_password_label: "新しいパスワード",
    confirm_password_label: "新しいパスワードの確認",
    rules_title: "パスワードの条件",
    rule_met: "OK",
    rule_unmet: "未達成",
    rule_checked_on_submit: "（送信後に確認します）",
    show_password: "パスワードを表示する",
    caps_lock_on: "Caps Lock がオンになっています。",
    change_button: "パスワードを変更",
    button_hint: "上の条件をすべて満たすパスワードを入力して、「パスワードを変更」を押してください。",
    button_hint_remaining: "あと{n}つの条件を満たすと、「パスワードを変更」を押せるようになります。",
    button_hint_ready: "すべての条件を満たしました。「パスワードを変更」を押してください。",
    errors_title: "入力内容を確認してください",
    done_title: "パスワードを変更しました",
    done_lead: "以上で、パスワードの再設定は完了となります。新しいパスワードでサインインしてください。",
    done_sessions: "以前のパスワードでサインインしていた端末では、もう一度サインインが必要です。変更をお知らせするメールもお送りしました。",
    done_button: "サインイン画面へ",
    invalid_title: "このURLは無効か、有効期限が切れています",
    invalid_lead: "URLの有効期限が切れたか、すでに使われたか、送信後にパスワードまたは登録メールアドレスが変更されています。お手数ですが、もう一度パスワードリセットをお申し込みください。",
    invalid_button: "パスワードリセットをもう一度申し込む",
    rate_limited_title: "しばらくしてからお試しください",
    rate_limited_lead: "短い時間にお申し込みが続いたため、受付を一時的に止めています。時間をおいてから、もう一度お試しください。",
    unavailable_title: "ただいまご利用いただけません",
    unavailable_lead: "一時的に処理できませんでした。何も変更されていません。少し時間をおいて、もう一度お試しください。",
    bad_request_title: "リクエストを処理できませんでした",
    bad_request_lead: "送信された内容を読み取れませんでした。最初の画面からやり直してください。",
    too_large_lead: "送信された内容が大きすぎます。入力内容を確認して、やり直してください。",
    media_type_lead: "この形式の送信には対応していません。",
    cross_origin_lead: "別のサイトからの送信は受け付けていません。このサービスの画面から操作してください。",
    not_found_title: "ページが見つかりません",
    not_found_lead: "URLをご確認ください。",
    internal_title: "エラーが発生しました",
    internal_lead: "申し訳ありません。処理中にエラーが発生しました。時間をおいて、もう一度お試しください。",
    accepted_message: "ご登録のメールアドレスに、パスワードリセット画面のURLを記載したメールを送信しました。",
};

const ADDRESS_PAGES: AddressTexts = AddressTexts {
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
    institution_label: "①医療機関名",
    institution_hint: "例: さくら内科クリニック",
    location_label: "②所在地",
    location_hint: "都道府県から。例: 東京都千代田区霞が関1-2-2",
    contact_label: "③ご担当者名",
    contact_hint: "例: 山田 花子",
    new_email_label: "④変更後のメールアドレス",
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

fn address_request_arrived(about: &MailAbout<'_>, request_id: &str) -> MailWords {
    let MailAbout { service, username, .. } = about;
    MailWords {
        subject: format!("【{service}】メールアドレス変更申請（確認済み）が届きました"),
        paragraphs: vec![
            format!("ユーザ名 {username} のメールアドレス変更申請が、新しいアドレスでの確認を済ませて管理者の処理待ちになりました。"),
            format!("確認と処理: reset-admin address-requests show {request_id}"),
        ],
    }
}

/// The local sign-in page (`make run` only).
const SIGN_IN: SignInTexts = SignInTexts {
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
