//! The contract for the host sign-in system when passwords live in the DynamoDB users table.
//!
//! This service writes `password_hash` (an argon2id PHC string), `password_changed_at` and
//! `credential_epoch` on the account; the host system that signs people in reads the same item
//! and must do two things with it:
//!
//! 1. **Check a password** with [`verify`]: argon2id, with the parameters and salt the PHC
//!    string carries, compared in constant time by the `argon2` crate. A stored value that is
//!    not an argon2id PHC string is an error ([`CredentialError`]), never a plain `false`, so
//!    a corrupted or foreign hash is noticed instead of looking like a wrong password.
//! 2. **End older sessions** with [`session_still_valid`] (or [`session_status`] for the
//!    reason): a session records the account's credential epoch when it opens
//!    ([`SessionFacts::opened`]); once the account has another epoch (password changed,
//!    address changed, disabled, enabled, re-created) the session is over.
//!
//! ```
//! use reset_core::credentials::{self, SessionFacts};
//! use reset_core::domain::{Email, Language, Timestamp, User, Username};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut user = User::new_active(
//!     Username::parse("ex000000")?,
//!     Email::parse("ex000000@example.jp")?,
//!     Language::Ja,
//!     Timestamp::from_millis(1_700_000_000_000),
//! )?;
//! user.password_hash = Some(reset_core::hashing::hash_password_blocking("Sakura2026x")?);
//!
//! // Sign-in: read the item (GetItem, consistent), check the password against its hash.
//! let stored = user.password_hash.as_deref().unwrap_or_default();
//! assert!(credentials::verify(stored, "Sakura2026x")?);
//! assert!(!credentials::verify(stored, "Sakura2026y")?);
//! assert!(credentials::verify("not a PHC string", "Sakura2026x").is_err());
//!
//! // Open the session with the facts of the item that was verified.
//! let session = SessionFacts::opened(&user, Timestamp::from_millis(1_700_000_100_000));
//! assert!(credentials::session_still_valid(&session, &user));
//!
//! // A password reset moves the account to a new epoch: the session must end.
//! user.credential_epoch = user.credential_epoch.next();
//! user.password_changed_at = Some(1_700_000_200_000);
//! assert!(!credentials::session_still_valid(&session, &user));
//! # Ok(())
//! # }
//! ```

use crate::domain::{AccountStatus, CredentialEpoch, Timestamp, User};
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;

/// Why a stored hash could not be checked. Never carries the hash or the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("the stored password hash is not a PHC string: {0}")]
    Malformed(String),
    #[error("the stored password hash uses {0}, not argon2id")]
    NotArgon2id(String),
    #[error("the stored password hash cannot be checked: {0}")]
    Unverifiable(String),
}

/// Whether `password` is the one `stored_phc` (the users table's `password_hash`) was made
/// from. `Ok(false)` means only "wrong password"; a hash that is malformed, of another
/// algorithm, or with parameters argon2 refuses is an `Err`.
///
/// It costs one argon2id hash (19 MiB, about 20–50 ms): in async code call it on the blocking
/// pool (`tokio::task::spawn_blocking`), as this service does when it hashes.
pub fn verify(stored_phc: &str, password: &str) -> Result<bool, CredentialError> {
    let parsed = PasswordHash::new(stored_phc).map_err(|e| CredentialError::Malformed(e.to_string()))?;
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return Err(CredentialError::NotArgon2id(parsed.algorithm.to_string()));
    }
    // A PHC string may legally omit the output; with nothing to compare against, every
    // password would otherwise be "wrong" and the broken item would go unnoticed.
    if parsed.hash.is_none() {
        return Err(CredentialError::Malformed("no hash output".to_owned()));
    }
    // The verifier takes the algorithm, version, parameters and salt from the PHC string, so
    // hashes made under older parameters keep working after the service raises them.
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(other) => Err(CredentialError::Unverifiable(other.to_string())),
    }
}

/// What the host sign-in system keeps about a session to decide later whether it still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionFacts {
    /// When the session was opened, epoch milliseconds on the host's clock.
    pub issued_at_ms: i64,
    /// The account's `credential_epoch` in the item whose hash the password was checked
    /// against. `None` for sessions opened before the host recorded it.
    pub credential_epoch: Option<CredentialEpoch>,
}

impl SessionFacts {
    /// The facts of a session opened now for `user`, as read for the password check.
    pub fn opened(user: &User, now: Timestamp) -> Self {
        Self {
            issued_at_ms: now.as_millis(),
            credential_epoch: Some(user.credential_epoch),
        }
    }
}

/// Whether a session may go on, and if not, why (for the host's log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    Valid,
    /// The account is disabled.
    AccountDisabled,
    /// The account is at another credential epoch than the session was opened under: its
    /// password or address changed, it was disabled and enabled, or it was re-created.
    CredentialsChanged,
    /// A session without a recorded epoch, not opened after the last password change.
    IssuedBeforePasswordChange,
}

/// The session rule. A session that recorded its epoch is judged by the epoch alone: the epoch
/// is tied to the very hash the password was checked against, while `issued_at_ms` is not (a
/// sign-in with the old password that read the item just before a reset and opened its
/// session just after would pass a clock comparison), and it does not depend on the host's
/// clock agreeing with this service's. Sessions without one fall back to `password_changed_at`:
/// opened at or before the change, they end.
pub fn session_status(session: &SessionFacts, user: &User) -> SessionStatus {
    if user.status != AccountStatus::Active {
        return SessionStatus::AccountDisabled;
    }
    match session.credential_epoch {
        Some(epoch) if epoch == user.credential_epoch => SessionStatus::Valid,
        Some(_) => SessionStatus::CredentialsChanged,
        None => match user.password_changed_at {
            // At the same millisecond the order is unknown: ending the session costs a sign-in,
            // keeping it could keep an attacker's.
            Some(changed_at) if session.issued_at_ms <= changed_at => SessionStatus::IssuedBeforePasswordChange,
            _ => SessionStatus::Valid,
        },
    }
}

/// `true` while the session may go on; `false`: end it and ask for the password again.
pub fn session_still_valid(session: &SessionFacts, user: &User) -> bool {
    session_status(session, user) == SessionStatus::Valid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Email, Language, Username};
    use crate::hashing::hash_password_blocking;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn user() -> Result<User, Box<dyn std::error::Error>> {
        Ok(User::new_active(
            Username::parse("ex000000")?,
            Email::parse("ex000000@example.jp")?,
            Language::Ja,
            Timestamp::from_millis(1_000),
        )?)
    }

    #[test]
    fn verifies_the_hashes_the_service_writes() -> TestResult {
        let phc = hash_password_blocking("Sakura2026x")?;
        assert_eq!(verify(&phc, "Sakura2026x"), Ok(true));
        assert_eq!(verify(&phc, "Sakura2026y"), Ok(false));
        assert_eq!(verify(&phc, ""), Ok(false));
        assert_eq!(verify(&phc, "sakura2026x"), Ok(false), "case matters");
        Ok(())
    }

    #[test]
    fn verifies_hashes_made_under_other_argon2id_parameters() -> TestResult {
        use argon2::password_hash::{PasswordHasher, SaltString};
        use argon2::{Algorithm, Params, Version};
        let params = Params::new(8 * 1024, 1, 1, None).map_err(|e| e.to_string())?;
        let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::encode_b64(b"0123456789abcdef").map_err(|e| e.to_string())?;
        let phc = hasher
            .hash_password(b"Sakura2026x", &salt)
            .map_err(|e| e.to_string())?
            .to_string();
        assert!(phc.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"), "{phc}");
        assert_eq!(verify(&phc, "Sakura2026x"), Ok(true));
        assert_eq!(verify(&phc, "Sakura2026y"), Ok(false));
        Ok(())
    }

    #[test]
    fn malformed_or_foreign_hashes_are_errors_not_false() -> TestResult {
        let phc = hash_password_blocking("Sakura2026x")?;
        for broken in [
            "",
            "Sakura2026x",
            "$argon2id$",
            "$argon2id$v=19$m=19456,t=2,p=1$!!!$!!!",
        ] {
            assert!(
                matches!(verify(broken, "Sakura2026x"), Err(CredentialError::Malformed(_))),
                "{broken:?}"
            );
        }
        // The same string with the output cut off parses as PHC but has nothing to compare.
        let without_output = phc.rsplit_once('$').map(|(head, _)| head).unwrap_or_default();
        assert!(matches!(
            verify(without_output, "Sakura2026x"),
            Err(CredentialError::Malformed(_))
        ));
        let argon2i = phc.replacen("$argon2id$", "$argon2i$", 1);
        assert_eq!(
            verify(&argon2i, "Sakura2026x"),
            Err(CredentialError::NotArgon2id("argon2i".to_owned()))
        );
        let scheme = "$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
        assert!(matches!(
            verify(scheme, "Sakura2026x"),
            Err(CredentialError::NotArgon2id(_))
        ));
        Ok(())
    }

    #[test]
    fn errors_never_show_the_hash_or_the_password() -> TestResult {
        let phc = hash_password_blocking("Sakura2026x")?;
        let salt_and_output = phc.rsplitn(3, '$').take(2).collect::<Vec<_>>().join("$");
        let tampered = phc.replacen("m=19456", "m=1", 1);
        let error = verify(&tampered, "Sakura2026x")
            .err()
            .ok_or("a 1 KiB memory cost is refused")?;
        let text = error.to_string();
        assert!(
            !text.contains("Sakura2026x") && !text.contains(&salt_and_output),
            "{text}"
        );
        Ok(())
    }

    #[test]
    fn a_session_lasts_while_the_account_keeps_its_epoch() -> TestResult {
        let mut user = user()?;
        let session = SessionFacts::opened(&user, Timestamp::from_millis(5_000));
        assert_eq!(session_status(&session, &user), SessionStatus::Valid);
        // Events that are not credential events (a mail was delivered, a login elsewhere) leave
        // the epoch and the session alone.
        user.password_changed_at = Some(4_000);
        assert!(session_still_valid(&session, &user));

        let mut changed = user.clone();
        changed.credential_epoch = changed.credential_epoch.next();
        changed.password_changed_at = Some(6_000);
        assert_eq!(session_status(&session, &changed), SessionStatus::CredentialsChanged);
        Ok(())
    }

    #[test]
    fn the_epoch_ends_a_session_a_clock_comparison_would_keep() -> TestResult {
        // The old password was checked against the item just before the reset; the session
        // was opened a moment after it. Its clock says "after the change", its epoch does not.
        let mut user = user()?;
        let read_before_the_reset = user.clone();
        user.credential_epoch = user.credential_epoch.next();
        user.password_changed_at = Some(10_000);
        let session = SessionFacts::opened(&read_before_the_reset, Timestamp::from_millis(10_050));
        assert_eq!(session_status(&session, &user), SessionStatus::CredentialsChanged);
        Ok(())
    }

    #[test]
    fn disable_then_enable_and_re_creation_end_sessions() -> TestResult {
        let user = user()?;
        let session = SessionFacts::opened(&user, Timestamp::from_millis(5_000));

        let disabled = User {
            status: AccountStatus::Disabled,
            credential_epoch: user.credential_epoch.next(),
            ..user.clone()
        };
        assert_eq!(session_status(&session, &disabled), SessionStatus::AccountDisabled);
        let enabled = User {
            status: AccountStatus::Active,
            credential_epoch: disabled.credential_epoch.next(),
            ..disabled
        };
        assert_eq!(session_status(&session, &enabled), SessionStatus::CredentialsChanged);

        let recreated = User::new_active(
            user.username.clone(),
            user.email.clone(),
            Language::Ja,
            Timestamp::from_millis(6_000),
        )?;
        assert!(!session_still_valid(&session, &recreated));
        Ok(())
    }

    #[test]
    fn a_disabled_account_has_no_valid_session_even_at_its_epoch() -> TestResult {
        let user = User {
            status: AccountStatus::Disabled,
            ..user()?
        };
        let session = SessionFacts::opened(&user, Timestamp::from_millis(5_000));
        assert_eq!(session_status(&session, &user), SessionStatus::AccountDisabled);
        Ok(())
    }

    #[test]
    fn sessions_without_an_epoch_fall_back_to_the_password_change_time() -> TestResult {
        let mut user = user()?;
        let at = |ms| SessionFacts {
            issued_at_ms: ms,
            credential_epoch: None,
        };
        assert!(session_still_valid(&at(5_000), &user), "never changed: valid");
        user.password_changed_at = Some(5_000);
        assert_eq!(
            session_status(&at(4_999), &user),
            SessionStatus::IssuedBeforePasswordChange
        );
        assert_eq!(
            session_status(&at(5_000), &user),
            SessionStatus::IssuedBeforePasswordChange
        );
        assert_eq!(session_status(&at(5_001), &user), SessionStatus::Valid);
        Ok(())
    }
}
