//! argon2id password hashing with the OWASP parameters (m = 19 MiB, t = 2, p = 1), always
//! on tokio's blocking pool so a 19 MiB hash never stalls the async executor.

use crate::domain::NewPassword;
use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::Mutex;

pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    #[error("argon2 failed: {0}")]
    Argon2(String),
    #[error("the hashing task did not finish: {0}")]
    Join(String),
}

fn hasher() -> Result<Argon2<'static>, HashingError> {
    let params =
        Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).map_err(|e| HashingError::Argon2(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Bytes of the derived hash in the PHC string (argon2's default).
const OUTPUT_LEN: usize = 32;

/// argon2's 19 MiB working memory, one for the whole process. Allocating it afresh per hash
/// made glibc raise its mmap threshold and keep every freed block: change-password's RSS grew
/// to 370 MB over 300 requests (make bench); one block per blocking thread still gave 48 MB once
/// tokio started a second thread. Lambda sends one request at a time, so the lock never waits
/// there.
static WORKING_MEMORY: Mutex<Vec<Block>> = Mutex::new(Vec::new());

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of a password, computed synchronously.
pub fn hash_password_blocking(password: &str) -> Result<String, HashingError> {
    let fail = |e: &dyn std::fmt::Display| HashingError::Argon2(e.to_string());
    let mut salt_bytes = [0u8; 16];
    getrandom::fill(&mut salt_bytes).map_err(|e| fail(&e))?;
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| fail(&e))?;
    let hasher = hasher()?;
    let block_count = hasher.params().block_count();
    let mut output = [0u8; OUTPUT_LEN];
    {
        // A poisoned lock only means another hash panicked mid-way; the blocks are overwritten.
        let mut blocks = WORKING_MEMORY.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if blocks.len() != block_count {
            *blocks = vec![Block::default(); block_count];
        }
        hasher
            .hash_password_into_with_memory(password.as_bytes(), &salt_bytes, &mut output, blocks.as_mut_slice())
            .map_err(|e| fail(&e))?;
    }
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: hasher
            .params()
            .try_into()
            .map_err(|e: argon2::password_hash::Error| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output).map_err(|e| fail(&e))?),
    };
    Ok(phc.to_string())
}

/// Hashes on the blocking pool.
pub async fn hash_password(password: NewPassword) -> Result<String, HashingError> {
    tokio::task::spawn_blocking(move || hash_password_blocking(password.expose()))
        .await
        .map_err(|e| HashingError::Join(e.to_string()))?
}

/// Whether `password` matches a stored PHC string (used by tests and the admin tool).
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    PasswordHash::new(phc).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn produces_owasp_argon2id_and_verifies() {
        let phc = hash_password_blocking("Sakura2026x").unwrap_or_else(|e| panic!("{e}"));
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("Sakura2026x", &phc));
        assert!(!verify_password("Sakura2026y", &phc));
    }

    #[test]
    fn salts_differ() {
        let a = hash_password_blocking("Sakura2026x").unwrap_or_default();
        let b = hash_password_blocking("Sakura2026x").unwrap_or_default();
        assert_ne!(a, b);
    }
}
