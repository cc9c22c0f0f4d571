//! Passwords that meet the composition rules yet appear at the top of every breach corpus
//! and cracking dictionary, plus Japanese favourites. Compared case-insensitively.
//!
//! A short, embedded list: no network call on the request path, no cold-start cost.

const COMMON_PASSWORDS: &[&str] = &[
    "password1",
    "password12",
    "password123",
    "password1234",
    "password2024",
    "password2025",
    "password2026",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword1",
    "pa55word",
    "pa55w0rd",
    "passw0rd1",
    "welcome1",
    "welcome123",
    "welcome2024",
    "welcome2025",
    "welcome2026",
    "qwerty123",
    "qwerty1234",
    "qwerty12345",
    "qwertyuiop1",
    "qwerty12",
    "abc12345",
    "abcd1234",
    "abcdef12",
    "abcdefg1",
    "abcdefgh1",
    "a1b2c3d4",
    "a1b2c3d4e5",
    "aa123456",
    "admin123",
    "admin1234",
    "administrator1",
    "letmein1",
    "letmein123",
    "iloveyou1",
    "iloveyou12",
    "monkey123",
    "dragon123",
    "sunshine1",
    "princess1",
    "football1",
    "baseball1",
    "superman1",
    "batman123",
    "trustno1a",
    "master123",
    "changeme1",
    "changeme123",
    "test1234",
    "testtest1",
    "user1234",
    "login123",
    "hello123",
    "hello1234",
    "secret123",
    "zaq12wsx",
    "1qaz2wsx",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "q1w2e3r4",
    "q1w2e3r4t5",
    "asdf1234",
    "asdfgh123",
    "zxcvbnm1",
    "zxcv1234",
    "11111111a",
    "12345678a",
    "a12345678",
    "123456789a",
    "1234567890a",
    "1234abcd",
    "12345abc",
    "123abc456",
    "0987poiu",
    "summer2024",
    "summer2025",
    "summer2026",
    "winter2024",
    "winter2025",
    "winter2026",
    "spring2025",
    "spring2026",
    "autumn2025",
    "autumn2026",
    "january2026",
    "april2026",
    "sakura123",
    "sakura2024",
    "sakura2025",
    "sakura2026",
    "tokyo2020",
    "tokyo2024",
    "tokyo2026",
    "osaka2025",
    "nippon123",
    "japan2024",
    "japan2025",
    "japan2026",
    "doraemon1",
    "pikachu123",
    "hospital1",
    "hospital123",
    "clinic123",
    "medical123",
    "iryou123",
    "byouin123",
    "kanja123",
    "kango123",
    "nurse123",
    "doctor123",
    "pass1234",
    "pass12345",
];

pub fn is_common_password(candidate: &str) -> bool {
    let lowered = candidate.to_ascii_lowercase();
    COMMON_PASSWORDS.contains(&lowered.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_case_insensitively() {
        assert!(is_common_password("Password1"));
        assert!(is_common_password("SAKURA2026"));
        assert!(!is_common_password("Sakura2026x"));
    }

    #[test]
    fn list_is_lowercase_and_at_least_policy_length() {
        for entry in COMMON_PASSWORDS {
            assert_eq!(*entry, entry.to_ascii_lowercase());
            assert!(entry.len() >= 8, "{entry}");
        }
    }
}
