//! Every path the service answers, and the builders of every absolute link to it.
//!
//! The routers match on these constants, the pages link with them, the mails' links are built
//! from them, and the local sign-in page reaches the request page by them: a path is written
//! once, here. Links are built from these and the configured public base URL, never from the
//! request (a path such as `//evil.example/x` must not become a link off the site).

use crate::domain::{AddressRequestId, Language};

/// `request-reset`: the username form (GET) and its submission (POST).
pub const REQUEST_PAGE: &str = "/password-reset";
/// Every JSON API path starts here (its errors are JSON, not pages).
pub const API: &str = "/api/";
/// `request-reset`'s JSON API.
pub const REQUEST_API: &str = "/api/password-reset/request";
/// `verify-token`: the mailed link (GET shows it, POST opens the new-password form).
pub const CONFIRM_PAGE: &str = "/password-reset/confirm";
/// `verify-token`'s JSON API.
pub const VERIFY_API: &str = "/api/password-reset/verify";
/// `change-password`: the new password's submission.
pub const COMPLETE: &str = "/password-reset/complete";
/// `change-password`'s JSON API.
pub const COMPLETE_API: &str = "/api/password-reset/complete";
/// `address-change`: the address-change request form (GET) and its submission (POST).
pub const ADDRESS_FORM: &str = "/password-reset/address-change";
/// `address-change`: the verification link mailed to the new address.
pub const ADDRESS_VERIFY: &str = "/password-reset/address-change/verify";
/// The static assets, served by `request-reset` under this prefix.
pub const ASSETS: &str = "/password-reset/assets/";
pub const STYLESHEET: &str = "/password-reset/assets/style.css";
pub const SCRIPT: &str = "/password-reset/assets/policy.js";
pub const FAVICON: &str = "/password-reset/assets/favicon.svg";

/// The reset link mailed to the user, on the configured origin.
pub fn confirm_url(public_base_url: &str, token: &str, language: Language) -> String {
    format!("{public_base_url}{CONFIRM_PAGE}?token={token}{}", lang_query(language))
}

/// The verification link of an address-change request, on the configured origin.
pub fn address_verification_url(
    public_base_url: &str,
    request_id: &AddressRequestId,
    token: &str,
    language: Language,
) -> String {
    format!(
        "{public_base_url}{ADDRESS_VERIFY}?id={request_id}&token={token}{}",
        lang_query(language)
    )
}

/// The request page, on the configured origin.
pub fn request_page_url(public_base_url: &str) -> String {
    format!("{public_base_url}{REQUEST_PAGE}")
}

/// The `&lang=` of a mailed link: none for the default language, so that a user of another
/// language keeps it on any browser.
fn lang_query(language: Language) -> String {
    if language == Language::default() {
        String::new()
    } else {
        format!("&lang={}", language.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assets_live_under_the_assets_prefix() {
        for asset in [STYLESHEET, SCRIPT, FAVICON] {
            assert!(asset.starts_with(ASSETS), "{asset}");
        }
    }

    #[test]
    fn every_path_is_under_its_prefix() {
        for path in [REQUEST_API, VERIFY_API, COMPLETE_API] {
            assert!(path.starts_with(API), "{path}");
        }
        for path in [CONFIRM_PAGE, COMPLETE, ADDRESS_FORM, ADDRESS_VERIFY, ASSETS] {
            assert!(path.starts_with(REQUEST_PAGE), "{path}");
        }
    }
}
