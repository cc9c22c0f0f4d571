use serde::{Deserialize, Serialize};
use std::fmt;
use unicode_normalization::UnicodeNormalization;

/// Length of every username of the national sign-in system.
pub const USERNAME_LEN: usize = 8;

/// Inputs longer than this are refused before any Unicode work.
const MAX_RAW_INPUT_CHARS: usize = 64;

/// A username of exactly 8 half-width ASCII alphanumerics, e.g. `ex000000`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("the username is empty")]
    Empty,
    #[error("the username must be exactly 8 characters")]
    WrongLength,
    #[error("the username may only contain half-width letters and digits")]
    NotAlphanumeric,
}

/// The result of reading what a person typed: the username, and whether full-width
/// characters or surrounding spaces had to be folded away to get it (so the page can say so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsernameInput {
    pub username: Username,
    pub was_folded: bool,
}

impl Username {
    /// Strict parse: exactly 8 ASCII alphanumerics, nothing folded.
    pub fn parse(value: &str) -> Result<Self, UsernameError> {
        if value.is_empty() {
            return Err(UsernameError::Empty);
        }
        if value.chars().count() != USERNAME_LEN {
            return Err(UsernameError::WrongLength);
        }
        if !value.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(UsernameError::NotAlphanumeric);
        }
        Ok(Self(value.to_owned()))
    }

    /// Lenient parse of typed input: trims (also the ideographic space) and folds full-width
    /// alphanumerics to half-width (NFKC), then applies the strict rule.
    pub fn from_typed(raw: &str) -> Result<UsernameInput, UsernameError> {
        if raw.chars().count() > MAX_RAW_INPUT_CHARS {
            return Err(UsernameError::WrongLength);
        }
        let folded: String = raw.nfkc().collect();
        let trimmed = folded.trim();
        let username = Self::parse(trimmed)?;
        Ok(UsernameInput {
            was_folded: trimmed != raw,
            username,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = UsernameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Username> for String {
    fn from(value: Username) -> Self {
        value.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Username({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_eight_alphanumerics() {
        assert_eq!(
            Username::parse("ex000000").map(|u| u.to_string()),
            Ok("ex000000".into())
        );
        assert!(Username::parse("AB12cd34").is_ok());
    }

    #[test]
    fn rejects_wrong_length_and_characters() {
        assert_eq!(Username::parse(""), Err(UsernameError::Empty));
        assert_eq!(Username::parse("ex00000"), Err(UsernameError::WrongLength));
        assert_eq!(Username::parse("ex0000000"), Err(UsernameError::WrongLength));
        assert_eq!(Username::parse("ex00-000"), Err(UsernameError::NotAlphanumeric));
        assert_eq!(Username::parse("ex00 000"), Err(UsernameError::NotAlphanumeric));
        assert_eq!(Username::parse("ex00000é"), Err(UsernameError::NotAlphanumeric));
    }

    #[test]
    fn folds_full_width_and_trims() {
        let typed = Username::from_typed("\u{3000}ｅｘ０００００１ ").map(|i| (i.username.to_string(), i.was_folded));
        assert_eq!(typed, Ok(("ex000001".to_string(), true)));
        let plain = Username::from_typed("ex000001").map(|i| i.was_folded);
        assert_eq!(plain, Ok(false));
    }

    #[test]
    fn refuses_huge_input_before_normalising() {
        let huge = "ｅ".repeat(20_000);
        assert_eq!(Username::from_typed(&huge), Err(UsernameError::WrongLength));
    }

    #[test]
    fn refuses_kana_even_after_folding() {
        assert_eq!(Username::from_typed("ｱｲｳｴｵｶｷｸ"), Err(UsernameError::NotAlphanumeric));
    }

    #[test]
    fn deserialises_only_valid_names() {
        assert!(serde_json::from_str::<Username>("\"ex000000\"").is_ok());
        assert!(serde_json::from_str::<Username>("\"nope\"").is_err());
    }
}
