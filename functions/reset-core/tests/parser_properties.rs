//! Property tests of every parser at the edge: whatever the input, they return a value that
//! satisfies their rules or a typed refusal, and never panic.

use base64::Engine;
use lambda_http::http::Request;
use lambda_http::Body;
use proptest::prelude::*;
use reset_core::domain::address_request::RequestField;
use reset_core::domain::{
    AddressRequestId, Email, Language, NewPassword, PasswordRule, RequestText, ResetToken, Username,
};
use reset_core::error::AppError;
use reset_core::web::incoming::{Incoming, MAX_BODY_BYTES};
use serde::Deserialize;

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,64}",
        "[a-zA-Z0-9ａ-ｚＡ-Ｚ０-９　 ]{0,16}",
        "\\PC{0,200}",
    ]
}

/// Valid usernames, some with the spaces a user types around them. Random text practically
/// never parses: without these the properties below would check refusals only.
fn valid_username() -> impl Strategy<Value = String> {
    ("[a-zA-Z0-9]{8}", "[ \u{3000}]{0,2}", "[ \u{3000}]{0,2}")
        .prop_map(|(name, before, after)| format!("{before}{name}{after}"))
}

/// Valid addresses: dot-atoms at a dotted host name.
fn valid_email() -> impl Strategy<Value = String> {
    (
        "[a-z0-9+_-]{1,10}(\\.[a-z0-9]{1,5})?",
        "[a-z0-9]{1,10}(\\.[a-z0-9]{1,6})?",
        "[a-z]{2,4}",
    )
        .prop_map(|(local, host, tld)| format!("{local}@{host}.{tld}"))
}

/// 43 characters of the link's alphabet: a quarter of them decode to 32 bytes (the last
/// character's two spare bits are zero), the rest must be refused.
fn token_shaped() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{43}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn usernames_are_eight_ascii_alphanumerics_or_refused(raw in prop_oneof![any_text(), valid_username()]) {
        let trimmed = raw.trim_matches([' ', '\u{3000}']);
        let plain = trimmed.len() == 8 && trimmed.chars().all(|c| c.is_ascii_alphanumeric());
        match Username::from_typed(&raw) {
            Ok(input) => {
                let name = input.username.as_str();
                prop_assert_eq!(name.len(), 8);
                prop_assert!(name.chars().all(|c| c.is_ascii_alphanumeric()));
                if plain {
                    prop_assert_eq!(name, trimmed, "a plain username comes back as typed");
                }
            }
            Err(e) => prop_assert!(!plain, "{:?} refused: {:?}", raw, e),
        }
    }

    #[test]
    fn address_request_items_are_trimmed_bounded_and_visible_or_refused(
        raw in any_text(),
        field in prop_oneof![
            Just(RequestField::Institution),
            Just(RequestField::Location),
            Just(RequestField::ContactPerson),
        ],
    ) {
        if let Ok(text) = RequestText::parse(&raw, field) {
            let value = text.as_str();
            prop_assert!(!value.is_empty() && value.chars().count() <= field.max_chars());
            prop_assert_eq!(value, value.trim());
            prop_assert!(!value.chars().any(char::is_control));
        }
        let _ = AddressRequestId::parse(&raw);
    }

    #[test]
    fn full_width_usernames_fold_to_their_half_width_form(name in "[a-zA-Z0-9]{8}") {
        let wide: String = name.chars().map(|c| char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap_or(c)).collect();
        let input = Username::from_typed(&format!("\u{3000}{wide} "));
        prop_assert_eq!(input.map(|i| i.username.to_string()), Ok(name));
    }

    #[test]
    fn emails_have_one_at_and_a_dotted_domain(raw in any_text()) {
        if let Ok(email) = Email::parse(&raw) {
            let text = email.as_str();
            prop_assert_eq!(text.matches('@').count(), 1);
            prop_assert!(text.split('@').nth(1).is_some_and(|d| d.contains('.')));
            prop_assert!(email.masked().starts_with(&text[..1]) && email.masked().contains("***@"));
        }
    }

    #[test]
    fn valid_emails_parse_unchanged_and_mask_to_their_domain(raw in valid_email()) {
        let email = Email::parse(&raw).map_err(|e| TestCaseError::fail(format!("{raw:?} refused: {e:?}")))?;
        prop_assert_eq!(email.as_str(), raw.as_str());
        let (local, domain) = raw.split_once('@').ok_or_else(|| TestCaseError::fail("no @"))?;
        prop_assert_eq!(email.masked(), format!("{}***@{domain}", &local[..1]));
        prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
    }

    #[test]
    fn tokens_are_exactly_43_base64url_characters(raw in prop_oneof![any_text(), token_shaped()]) {
        let canonical = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&raw)
            .is_ok_and(|bytes| bytes.len() == 32);
        match ResetToken::parse(&raw) {
            Ok(token) => {
                prop_assert_eq!(raw.len(), 43);
                prop_assert_eq!(token.to_url_safe(), raw.clone());
                prop_assert_eq!(ResetToken::parse(&token.to_url_safe()).map(|t| t.hash()), Ok(token.hash()));
            }
            Err(_) => prop_assert!(!canonical, "{:?} is a canonical 32-byte token, refused", raw),
        }
    }

    #[test]
    fn every_32_byte_token_round_trips(bytes in proptest::array::uniform32(any::<u8>())) {
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let token = ResetToken::parse(&text);
        prop_assert!(token.is_ok());
        prop_assert_eq!(token.map(|t| t.hash().as_str().len()).unwrap_or(0), 64);
    }

    #[test]
    fn accepted_passwords_satisfy_every_rule(password in any_text(), confirmation_differs in any::<bool>()) {
        let username = Username::parse("ex000000").map_err(|e| TestCaseError::fail(e.to_string()))?;
        let confirmation = if confirmation_differs { format!("{password}x") } else { password.clone() };
        match NewPassword::parse(&password, &confirmation, &username) {
            Ok(accepted) => {
                let p = accepted.expose();
                prop_assert!(p.chars().count() >= 8 && p.chars().count() <= 128);
                prop_assert!(p.chars().any(|c| c.is_ascii_uppercase()));
                prop_assert!(p.chars().any(|c| c.is_ascii_lowercase()));
                prop_assert!(p.chars().any(|c| c.is_ascii_digit()));
                prop_assert!(p.chars().all(|c| (' '..='~').contains(&c)));
                prop_assert!(!confirmation_differs);
            }
            Err(rules) => {
                prop_assert!(!rules.is_empty());
                if confirmation_differs && password.chars().count() <= 128 {
                    prop_assert!(rules.contains(&PasswordRule::ConfirmationMatches));
                }
            }
        }
    }

    #[test]
    fn accept_language_never_panics(header in any_text()) {
        let _ = Language::from_accept_language(&header);
    }

    #[test]
    fn request_bodies_parse_or_are_refused_with_a_4xx(
        body in proptest::collection::vec(any::<u8>(), 0..(MAX_BODY_BYTES + 64)),
        json in any::<bool>(),
    ) {
        let content_type = if json { "application/json" } else { "application/x-www-form-urlencoded" };
        let request = Request::builder()
            .method("POST")
            .uri("https://id.example.jp/password-reset")
            .header("content-type", content_type)
            .body(Body::Binary(body.clone()))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let incoming = Incoming::from_request(request);
        #[derive(Deserialize)]
        struct Form {
            #[serde(rename = "username")]
            _username: Option<String>,
        }
        let result = if json { incoming.read_json::<Form>().map(|_| ()) } else { incoming.read_form::<Form>().map(|_| ()) };
        match result {
            Ok(()) => prop_assert!(body.len() <= MAX_BODY_BYTES && std::str::from_utf8(&body).is_ok()),
            Err(AppError::PayloadTooLarge { .. }) => prop_assert!(body.len() > MAX_BODY_BYTES),
            Err(AppError::BadRequest(_)) => {}
            Err(other) => prop_assert!(false, "unexpected refusal {other:?}"),
        }
    }
}
