use serde::{Deserialize, Serialize};
use std::fmt;

/// A registered mail address. Deliberately modest checks (one `@`, a dotted domain, ASCII,
/// no spaces, RFC 5321 length): the real test of an address is whether mail arrives.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("the mail address must have the form name@domain.example")]
    Malformed,
    #[error("the mail address is longer than 254 characters")]
    TooLong,
}

impl Email {
    pub fn parse(value: &str) -> Result<Self, EmailError> {
        let value = value.trim();
        if value.len() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = value.split_once('@').ok_or(EmailError::Malformed)?;
        let well_formed = !local.is_empty()
            && local.len() <= 64
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && value.chars().all(|c| c.is_ascii_graphic());
        if !well_formed {
            return Err(EmailError::Malformed);
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `ex000000@example.jp` → `e***@example.jp`: safe for logs and audit records.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let first: String = local.chars().take(1).collect();
        format!("{first}***@{domain}")
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

/// Debug never prints the full address, so a stray `{:?}` cannot leak it into a log.
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        assert!(Email::parse("ex000000@example.jp").is_ok());
        assert!(Email::parse(" a.b+c@sub.example.co.jp ").is_ok());
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "no-at",
            "@example.jp",
            "a@",
            "a@b",
            "a@@b.jp",
            "a b@c.jp",
            "a@.jp",
            "あ@example.jp",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Malformed), "{bad}");
        }
        assert_eq!(
            Email::parse(&format!("{}@example.jp", "a".repeat(250))),
            Err(EmailError::TooLong)
        );
    }

    #[test]
    fn masks_for_logs() {
        let email = Email::parse("ex000000@example.jp").map(|e| (e.masked(), format!("{e:?}")));
        assert_eq!(email, Ok(("e***@example.jp".into(), "Email(e***@example.jp)".into())));
    }
}
