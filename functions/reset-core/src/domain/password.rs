use crate::domain::common_passwords::is_common_password;
use crate::domain::Username;
use std::fmt;

pub const MIN_PASSWORD_CHARS: usize = 8;

/// Below this many estimated guesses (10^8, zxcvbn's score 3: "safely unguessable" for an
/// online attack), a password counts as easily guessed even when it has every kind of
/// character: `Password123!`, `P@ssw0rd!`, `Summer2026!` all pass the four rules of the guide.
pub const MIN_GUESSES_LOG10: f64 = 8.0;

/// Words a password of this service must not lean on, besides the username: the service's own
/// and the ones Japanese users reach for first. The estimator treats them as a dictionary.
const SERVICE_WORDS: [&str; 16] = [
    "医療機関等ID",
    "iryou",
    "iryo",
    "kikan",
    "byouin",
    "clinic",
    "hospital",
    "kango",
    "sakura",
    "tokyo",
    "osaka",
    "nihon",
    "nippon",
    "japan",
    "password",
    "pasuwado",
];

/// log10 of the estimated number of guesses an attacker needs, knowing the username.
pub fn estimated_guesses_log10(password: &str, username: &Username) -> f64 {
    let mut inputs: Vec<&str> = SERVICE_WORDS.to_vec();
    inputs.push(username.as_str());
    zxcvbn::zxcvbn(password, &inputs).guesses_log10()
}
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
    /// ASCII punctuation (Cognito's "special characters"): required only where a user pool's
    /// policy asks for it.
    Symbol,
    /// Full-width characters (kana, kanji, full-width letters): the most common mistake of a
    /// Japanese keyboard left in the wrong input mode, so it gets its own message.
    HalfWidthOnly,
    /// Control characters such as tabs or NUL.
    PrintableOnly,
    MaxLength,
    NotUsername,
    /// Neither on the list of common passwords nor easily guessed (`MIN_GUESSES_LOG10`).
    NotCommon,
    /// Not seen in a breach (the Pwned Passwords corpus): checked by change-password when the
    /// deployment turns the check on, never in the browser.
    NotBreached,
    ConfirmationMatches,
}

impl PasswordRule {
    /// Every rule, in display order.
    pub const ALL: [PasswordRule; 12] = [
        PasswordRule::MinLength,
        PasswordRule::Uppercase,
        PasswordRule::Lowercase,
        PasswordRule::Digit,
        PasswordRule::Symbol,
        PasswordRule::HalfWidthOnly,
        PasswordRule::PrintableOnly,
        PasswordRule::MaxLength,
        PasswordRule::NotUsername,
        PasswordRule::NotCommon,
        PasswordRule::NotBreached,
        PasswordRule::ConfirmationMatches,
    ];

    pub fn code(self) -> &'static str {
        match self {
            PasswordRule::MinLength => "min_length",
            PasswordRule::Uppercase => "uppercase",
            PasswordRule::Lowercase => "lowercase",
            PasswordRule::Digit => "digit",
            PasswordRule::Symbol => "symbol",
            PasswordRule::HalfWidthOnly => "half_width_only",
            PasswordRule::PrintableOnly => "printable_only",
            PasswordRule::MaxLength => "max_length",
            PasswordRule::NotUsername => "not_username",
            PasswordRule::NotCommon => "not_common",
            PasswordRule::NotBreached => "not_breached",
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
        Self::parse_with_min(password, confirmation, username, MIN_PASSWORD_CHARS)
    }

    /// The same with a longer minimum (the deployment's `PASSWORD_MIN_LENGTH`); never shorter
    /// than the guide's 8.
    pub fn parse_with_min(
        password: &str,
        confirmation: &str,
        username: &Username,
        min_chars: usize,
    ) -> Result<Self, Vec<PasswordRule>> {
        Self::parse_with_policy(password, confirmation, username, min_chars, false)
    }

    /// The same, asking for a symbol too when `require_symbol` (a Cognito pool's policy).
    pub fn parse_with_policy(
        password: &str,
        confirmation: &str,
        username: &Username,
        min_chars: usize,
        require_symbol: bool,
    ) -> Result<Self, Vec<PasswordRule>> {
        let min_chars = min_chars.max(MIN_PASSWORD_CHARS);
        let mut failing = Vec::new();
        let length = password.chars().count();
        if length > MAX_PASSWORD_CHARS {
            // Nothing else is worth computing on an oversize input.
            return Err(vec![PasswordRule::MaxLength]);
        }
        if length < min_chars {
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
        if require_symbol && !password.chars().any(|c| c.is_ascii_punctuation()) {
            failing.push(PasswordRule::Symbol);
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
        if is_common_password(password) || estimated_guesses_log10(password, username) < MIN_GUESSES_LOG10 {
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
        assert!(NewPassword::parse("Kanagawa2026x", "Kanagawa2026x", &user()).is_ok());
        assert!(NewPassword::parse("Ab1!  ~~xyz", "Ab1!  ~~xyz", &user()).is_ok());
    }

    #[test]
    fn names_each_failing_rule() {
        assert_eq!(failing("Ab1"), vec![PasswordRule::MinLength, PasswordRule::NotCommon]);
        assert_eq!(failing("kq8vzt3mwp"), vec![PasswordRule::Uppercase]);
        assert_eq!(failing("KQ8VZT3MWP"), vec![PasswordRule::Lowercase]);
        assert_eq!(failing("KqvZtmWpxy"), vec![PasswordRule::Digit]);
        assert_eq!(failing("Kq8vZt3mWｐ"), vec![PasswordRule::HalfWidthOnly]);
        assert_eq!(failing("Kq8vZt\t3mWp"), vec![PasswordRule::PrintableOnly]);
        assert!(failing("Xex000000y7Q").contains(&PasswordRule::NotUsername));
        assert_eq!(failing("Password1"), vec![PasswordRule::NotCommon]);
        assert_eq!(
            failing(""),
            vec![
                PasswordRule::MinLength,
                PasswordRule::Uppercase,
                PasswordRule::Lowercase,
                PasswordRule::Digit,
                PasswordRule::NotCommon
            ]
        );
    }

    #[test]
    fn passwords_with_every_kind_of_character_can_still_be_easily_guessed() {
        for guessable in [
            "Password123!",
            "P@ssw0rd!",
            "Qwerty123!",
            "Welcome@2026",
            "Summer2026!",
            "Sakura2026!",
            "Abcd1234!",
            "Aa1!Aa1!",
        ] {
            assert_eq!(failing(guessable), vec![PasswordRule::NotCommon], "{guessable}");
        }
        for strong in ["Kanagawa2026x", "Xk9mQ2vL", "Tokyo-Clinic-77"] {
            assert!(failing(strong).is_empty(), "{strong}");
        }
    }

    #[test]
    fn full_width_alone_fails_every_ascii_rule_too() {
        let rules = failing("ＳａｋｕｒａＸ２０２６");
        assert!(rules.contains(&PasswordRule::HalfWidthOnly));
        assert!(rules.contains(&PasswordRule::Uppercase));
    }

    #[test]
    fn mismatch_is_its_own_rule() {
        let result = NewPassword::parse("Kanagawa2026x", "Kanagawa2026y", &user()).err();
        assert_eq!(result, Some(vec![PasswordRule::ConfirmationMatches]));
    }

    #[test]
    fn oversize_is_refused_alone() {
        let huge = "A1a".repeat(1_000_000);
        assert_eq!(failing(&huge), vec![PasswordRule::MaxLength]);
        let longest: String = (0..126u32).filter_map(|i| char::from_u32(33 + (i * 37 % 94))).collect();
        assert!(NewPassword::parse(&longest, &longest, &user()).is_ok(), "{longest}");
    }

    #[test]
    fn debug_redacts() {
        let password = NewPassword::parse("Kanagawa2026x", "Kanagawa2026x", &user()).map(|p| format!("{p:?}"));
        assert_eq!(password.ok().as_deref(), Some("NewPassword(<redacted>)"));
    }

    #[test]
    fn a_symbol_is_asked_only_when_the_policy_says_so() {
        let user = user();
        assert!(NewPassword::parse_with_policy("Tsuru7kame2Yamabuki", "Tsuru7kame2Yamabuki", &user, 8, false).is_ok());
        let refused =
            NewPassword::parse_with_policy("Tsuru7kame2Yamabuki", "Tsuru7kame2Yamabuki", &user, 8, true).err();
        assert_eq!(refused, Some(vec![PasswordRule::Symbol]));
        assert!(NewPassword::parse_with_policy("Tsuru7kame2Yamabuki!", "Tsuru7kame2Yamabuki!", &user, 8, true).is_ok());
    }
}
