//! Breached passwords (ASVS 2.1.7, NIST SP 800-63B 5.1.1.2): is a new password in a corpus of
//! passwords seen in breaches? One port, `BreachCorpus`; its adapter asks the Pwned Passwords
//! range API by k-anonymity (`pwned.rs`). What this module holds besides is pure: the digest
//! that decides what leaves the function, and the reading of a range.

mod pwned;

pub use pwned::PwnedPasswordsApi;

use crate::domain::NewPassword;
use async_trait::async_trait;
use sha1::{Digest, Sha1};

/// Why the corpus could not answer. The change goes on without the check (fail open).
#[derive(Debug, thiserror::Error)]
pub enum BreachCheckError {
    #[error("no answer within {0} ms")]
    Timeout(u128),
    #[error("the range API could not be reached: {0}")]
    Unreachable(String),
    #[error("the range API answered status {0}")]
    Status(u16),
    #[error("the range API's answer is not a range: {0}")]
    Malformed(&'static str),
}

impl BreachCheckError {
    /// A short code for logs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            BreachCheckError::Timeout(_) => "timeout",
            BreachCheckError::Unreachable(_) => "unreachable",
            BreachCheckError::Status(_) => "status",
            BreachCheckError::Malformed(_) => "malformed",
        }
    }
}

/// A corpus of breached passwords.
#[async_trait]
pub trait BreachCorpus: Send + Sync {
    /// Whether `password` was seen in a breach.
    async fn contains(&self, password: &NewPassword) -> Result<bool, BreachCheckError>;
}

/// The SHA-1 of a password split the way the range API wants it: the first five hex digits
/// leave the function, the other 35 never do.
pub struct RangeQuery {
    prefix: String,
    suffix: String,
}

impl RangeQuery {
    pub fn of(password: &str) -> Self {
        let hex: String = Sha1::digest(password.as_bytes())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let (prefix, suffix) = hex.split_at(5);
        Self {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        }
    }

    /// Five upper-case hex digits: all the API learns.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether the range (the API's answer for `prefix`) lists the password with a count above
    /// zero. Lines are `<35 hex>:<count>`; with `Add-Padding: true` the API adds decoy lines
    /// whose count is 0, which say nothing.
    pub fn found_in(&self, range: &str) -> Result<bool, BreachCheckError> {
        let mut found = false;
        for line in range.lines().map(str::trim).filter(|line| !line.is_empty()) {
            let (suffix, count) = line
                .split_once(':')
                .ok_or(BreachCheckError::Malformed("a line without a count"))?;
            if suffix.len() != 35 || !suffix.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(BreachCheckError::Malformed("a suffix that is not 35 hex digits"));
            }
            let count: u64 = count
                .parse()
                .map_err(|_| BreachCheckError::Malformed("a count that is not a number"))?;
            found |= count > 0 && suffix.eq_ignore_ascii_case(&self.suffix);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8, the API's own example.
    const PASSWORD_SUFFIX: &str = "1E4C9B93F3F0682250B6CF8331B7EE68FD8";

    #[test]
    fn only_five_upper_case_hex_digits_make_the_query() {
        let query = RangeQuery::of("password");
        assert_eq!(query.prefix(), "5BAA6");
        assert_eq!(query.suffix, PASSWORD_SUFFIX);
    }

    #[test]
    fn a_listed_suffix_with_a_count_is_found_and_padding_is_not() -> Result<(), BreachCheckError> {
        let query = RangeQuery::of("password");
        let range = format!("0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n{PASSWORD_SUFFIX}:9659365\r\n");
        assert!(query.found_in(&range)?);
        let padded = format!(
            "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n{}:0\r\n",
            PASSWORD_SUFFIX.to_lowercase()
        );
        assert!(!query.found_in(&padded)?, "a count of 0 is padding");
        assert!(!query.found_in("")?);
        Ok(())
    }

    #[test]
    fn an_answer_that_is_not_a_range_is_refused() {
        let query = RangeQuery::of("password");
        for garbage in ["<html>", "ABC:1", &format!("{PASSWORD_SUFFIX}:many"), PASSWORD_SUFFIX] {
            assert!(query.found_in(garbage).is_err(), "{garbage}");
        }
    }
}
