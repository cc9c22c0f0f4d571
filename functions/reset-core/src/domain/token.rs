use crate::domain::{CredentialEpoch, Timestamp, Username};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

const TOKEN_BYTES: usize = 32;
/// 32 bytes in unpadded base64url.
pub const TOKEN_CHARS: usize = 43;

/// The secret that travels in the mailed link. Never stored, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct ResetToken([u8; TOKEN_BYTES]);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a reset token")]
pub struct MalformedToken;

#[derive(Debug, thiserror::Error)]
#[error("the operating system's random number generator failed: {0}")]
pub struct RandomnessUnavailable(pub(crate) String);

impl ResetToken {
    /// 32 bytes from the OS CSPRNG.
    pub fn generate() -> Result<Self, RandomnessUnavailable> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| RandomnessUnavailable(e.to_string()))?;
        Ok(Self(bytes))
    }

    /// Accepts exactly 43 base64url characters that decode to 32 bytes. The length and
    /// alphabet are checked first, so garbage never reaches the decoder or the database.
    pub fn parse(value: &str) -> Result<Self, MalformedToken> {
        if value.len() != TOKEN_CHARS
            || !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(MalformedToken);
        }
        let decoded = URL_SAFE_NO_PAD.decode(value).map_err(|_| MalformedToken)?;
        let bytes: [u8; TOKEN_BYTES] = decoded.try_into().map_err(|_| MalformedToken)?;
        Ok(Self(bytes))
    }

    /// The form that goes into the link.
    pub fn to_url_safe(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The form that goes into the database.
    pub fn hash(&self) -> TokenHash {
        TokenHash(hex_lower(&Sha256::digest(self.0)))
    }
}

impl fmt::Debug for ResetToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResetToken(<redacted>)")
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    use fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Hex SHA-256 of a token: the table key. Knowing it does not let anyone build the link.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the token table holds for one mailed link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub token_hash: TokenHash,
    pub username: Username,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch seconds: the table's TTL attribute.
    pub expires_at: i64,
    /// Epoch milliseconds, once the link was used to change the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_at: Option<i64>,
    /// The account's credential epoch when the link was minted; the link works only while the
    /// account still has it. Links minted before epochs existed have none and are dead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<CredentialEpoch>,
}

/// Why a link can no longer be used. Shown to nobody (the page is the same for all), but
/// logged so support can tell what happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    Unknown,
    Used,
    Expired,
    SupersededByAccountChange,
    AccountUnavailable,
}

impl TokenRejection {
    pub fn code(self) -> &'static str {
        match self {
            TokenRejection::Unknown => "unknown",
            TokenRejection::Used => "used",
            TokenRejection::Expired => "expired",
            TokenRejection::SupersededByAccountChange => "superseded",
            TokenRejection::AccountUnavailable => "account_unavailable",
        }
    }
}

impl TokenRecord {
    pub fn new(
        token: &ResetToken,
        username: Username,
        epoch: CredentialEpoch,
        now: Timestamp,
        lifetime_secs: i64,
    ) -> Self {
        Self {
            token_hash: token.hash(),
            username,
            created_at: now.as_millis(),
            expires_at: now.plus_secs(lifetime_secs).as_secs(),
            used_at: None,
            epoch: Some(epoch),
        }
    }

    /// The token's own state at `now`, against the account's current credential epoch; the
    /// account's status is checked by the caller.
    pub fn check_usable(&self, now: Timestamp, account_epoch: CredentialEpoch) -> Result<(), TokenRejection> {
        self.check_fresh(now)?;
        if self.epoch != Some(account_epoch) {
            return Err(TokenRejection::SupersededByAccountChange);
        }
        Ok(())
    }

    /// The token's own state only, unused and unexpired: what can be known before the account
    /// is read.
    pub fn check_fresh(&self, now: Timestamp) -> Result<(), TokenRejection> {
        if self.used_at.is_some() {
            return Err(TokenRejection::Used);
        }
        if now.as_secs() >= self.expires_at {
            return Err(TokenRejection::Expired);
        }
        Ok(())
    }

    pub fn expires_at(&self) -> Timestamp {
        Timestamp::from_millis(self.expires_at * 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> ResetToken {
        ResetToken::generate().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn round_trips_through_the_link() {
        let token = token();
        let text = token.to_url_safe();
        assert_eq!(text.len(), TOKEN_CHARS);
        assert_eq!(ResetToken::parse(&text), Ok(token));
    }

    #[test]
    fn two_tokens_differ() {
        assert_ne!(token(), token());
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "short",
            &"A".repeat(44),
            &"A".repeat(20_000),
            &format!("{}=", "A".repeat(42)),
            &"+".repeat(43),
        ] {
            assert_eq!(ResetToken::parse(bad), Err(MalformedToken), "{bad:.20}");
        }
        // 43 characters whose last one carries bits beyond the 32 bytes.
        assert_eq!(ResetToken::parse(&format!("{}B", "A".repeat(42))), Err(MalformedToken));
    }

    #[test]
    fn hash_is_hex_sha256() {
        let zero = ResetToken::parse(&"A".repeat(43)).map(|t| t.hash());
        assert_eq!(
            zero.map(|h| h.as_str().to_owned()),
            Ok("66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925".to_owned())
        );
    }

    #[test]
    fn debug_redacts() {
        assert_eq!(format!("{:?}", token()), "ResetToken(<redacted>)");
    }

    #[test]
    fn usable_until_expiry_use_or_a_new_epoch() {
        let user = Username::parse("ex000000").unwrap_or_else(|e| panic!("{e}"));
        let now = Timestamp::from_millis(1_800_000_000_000);
        let epoch = CredentialEpoch::from_value(41);
        let record = TokenRecord::new(&token(), user, epoch, now, 3600);
        assert_eq!(record.check_usable(now, epoch), Ok(()));
        assert_eq!(record.check_usable(now.plus_secs(3599), epoch), Ok(()));
        assert_eq!(
            record.check_usable(now.plus_secs(3600), epoch),
            Err(TokenRejection::Expired)
        );
        assert_eq!(
            record.check_usable(now, epoch.next()),
            Err(TokenRejection::SupersededByAccountChange)
        );
        let legacy = TokenRecord {
            epoch: None,
            ..record.clone()
        };
        assert_eq!(
            legacy.check_usable(now, CredentialEpoch::default()),
            Err(TokenRejection::SupersededByAccountChange),
            "links minted before epochs existed are dead"
        );
        let used = TokenRecord {
            used_at: Some(now.as_millis()),
            ..record
        };
        assert_eq!(used.check_usable(now, epoch), Err(TokenRejection::Used));
    }
}
