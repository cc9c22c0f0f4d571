use crate::domain::common_passwords::is_common_password;
use crate::domain::Username;
use std::fmt;

pub const MIN_PASSWORD_CHARS: usize = 8;
/// Upper bound checked before any hashing, so megabyte inputs cost nothing.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// One rule of the password policy. The browser checklist shows the same rules, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordRule {
    MinLength,
    Uppercase,
    Lowercase,
    Digit,
    /// Full-width characters (kana, kanji, full-width letters): the most common mistake of a
    /// Japanese keyboard left in the wrong input mode, so it gets its own message.
    HalfWidthOnly,
    /// Control characters such as tabs or NUL.
    PrintableOnly,
    MaxLength,
    NotUsername,
    NotCommon,
    ConfirmationMatches,
}

impl PasswordRule {
    /// Every rule, in display order.
    pub const ALL: [PasswordRule; 10] = [
        PasswordRule::MinLength,
        PasswordRule::Uppercase,
        PasswordRule::Lowercase,
        PasswordRule::Digit,
        PasswordRule::HalfWidthOnly,
        PasswordRule::PrintableOnly,
        PasswordRule::MaxLength,
        PasswordRule::NotUsername,
        PasswordRule::NotCommon,
        PasswordRule::ConfirmationMatches,
    ];

    pub fn code(self) -> &'static str {
        match self {
            PasswordRule::MinLength => "min_length",
            PasswordRule::Uppercase => "uppercase",
            PasswordRule::Lowercase => "lowercase",
            PasswordRule::Digit => "digit",
            PasswordRule::HalfWidthOnly => "half_width_only",
            PasswordRule::PrintableOnly => "printable_only",
            PasswordRule::MaxLength => "max_length",
            PasswordRule::NotUsername => "not_username",
            PasswordRule::NotCommon => "not_common",
            PasswordRule::ConfirmationMatches => "confirmation_matches",
        }
    }
}

/// A new password that satisfies every rule of the policy and matched its confirmation.
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    /// Checks the password and its confirmation against every rule and returns all the
    /// failing ones at once, so the form can name each.
    pub fn parse(password: &str, confirmation: &str, username: &Username) -> Result<Self, Vec<PasswordRule>> {
        let mut failing = Vec::new();
        let length = password.chars().count();
        if length > MAX_PASSWORD_CHARS {
            // Nothing else is worth computing on an oversize input.
            return Err(vec![PasswordRule::MaxLength]);
        }
        if length < MIN_PASSWORD_CHARS {
            failing.push(PasswordRule::MinLength);
        }
        if !password.chars().any(|c| c.is_ascii_uppercase()) {
            failing.push(PasswordRule::Uppercase);
        }
        if !password.chars().any(|c| c.is_ascii_lowercase()) {
            failing.push(PasswordRule::Lowercase);
        }
        if !password.chars().any(|c| c.is_ascii_digit()) {
            failing.push(PasswordRule::Digit);
        }
        if !password.is_ascii() {
            failing.push(PasswordRule::HalfWidthOnly);
        }
        if password.chars().any(|c| c.is_ascii_control()) {
            failing.push(PasswordRule::PrintableOnly);
        }
        if password
            .to_ascii_lowercase()
            .contains(&username.as_str().to_ascii_lowercase())
        {
            failing.push(PasswordRule::NotUsername);
        }
        if is_common_password(password) {
            failing.push(PasswordRule::NotCommon);
        }
        if password != confirmation {
            failing.push(PasswordRule::ConfirmationMatches);
        }
        if failing.is_empty() {
            Ok(Self(password.to_owned()))
        } else {
            Err(failing)
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Username {
        Username::parse("ex000000").unwrap_or_else(|e| panic!("{e}"))
    }

    fn failing(password: &str) -> Vec<PasswordRule> {
        NewPassword::parse(password, password, &user())
            .err()
            .unwrap_or_default()
    }

    #[test]
    fn accepts_a_good_password() {
        assert!(NewPassword::parse("Sakura2026x", "Sakura2026x", &user()).is_ok());
        assert!(NewPassword::parse("Ab1!  ~~xyz", "Ab1!  ~~xyz", &user()).is_ok());
    }

    #[test]
    fn names_each_failing_rule() {
        assert_eq!(failing("Ab1"), vec![PasswordRule::MinLength]);
        assert_eq!(failing("sakura2026x"), vec![PasswordRule::Uppercase]);
        assert_eq!(failing("SAKURA2026X"), vec![PasswordRule::Lowercase]);
        assert_eq!(failing("Sakuraabcx"), vec![PasswordRule::Digit]);
        assert_eq!(failing("Sakura2026ｘ"), vec![PasswordRule::HalfWidthOnly]);
        assert_eq!(failing("Sakura2026\tx"), vec![PasswordRule::PrintableOnly]);
        assert_eq!(failing("Xex000000y"), vec![PasswordRule::NotUsername]);
        assert_eq!(failing("Password1"), vec![PasswordRule::NotCommon]);
        assert_eq!(
            failing(""),
            vec![
                PasswordRule::MinLength,
                PasswordRule::Uppercase,
                PasswordRule::Lowercase,
                PasswordRule::Digit
            ]
        );
    }

    #[test]
    fn full_width_alone_fails_every_ascii_rule_too() {
        let rules = failing("ＳａｋｕｒａＸ２０２６");
        assert!(rules.contains(&PasswordRule::HalfWidthOnly));
        assert!(rules.contains(&PasswordRule::Uppercase));
    }

    #[test]
    fn mismatch_is_its_own_rule() {
        let result = NewPassword::parse("Sakura2026x", "Sakura2026y", &user()).err();
        assert_eq!(result, Some(vec![PasswordRule::ConfirmationMatches]));
    }

    #[test]
    fn oversize_is_refused_alone() {
        let huge = "A1a".repeat(1_000_000);
        assert_eq!(failing(&huge), vec![PasswordRule::MaxLength]);
        assert!(NewPassword::parse(&"Aa1".repeat(42), &"Aa1".repeat(42), &user()).is_ok());
    }

    #[test]
    fn debug_redacts() {
        let password = NewPassword::parse("Sakura2026x", "Sakura2026x", &user()).map(|p| format!("{p:?}"));
        assert_eq!(password.ok().as_deref(), Some("NewPassword(<redacted>)"));
    }
}
