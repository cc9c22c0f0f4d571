use serde::{Deserialize, Serialize};
use std::fmt;

/// A registered mail address: a bare RFC 5322 `addr-spec` and nothing else.
///
/// The local part is a dot-atom (letters, digits and ``!#$%&'*+-/=?^_`{|}~``, single dots
/// between them); the domain is a host name (letters, digits and inner hyphens, labels of at
/// most 63, at least two labels, a letter in the top-level label). Display names, angle
/// brackets, quoted strings, comments, address lists (`,` `;`), spaces, IP literals and
/// non-ASCII are refused: a value such as `x<attacker@evil.jp>` or `victim@hospital.jp>;attacker`
/// may read as one address here and as another (or two) to a mail library or an MTA, and the
/// address of record must mean exactly one mailbox everywhere. Beyond that the checks stay
/// modest: the real test of an address is whether mail arrives.
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

/// RFC 5321's limits: 64 octets of local part, 254 of path (255 of domain, less `@` and one).
const MAX_LOCAL_LEN: usize = 64;
const MAX_ADDRESS_LEN: usize = 254;
const MAX_LABEL_LEN: usize = 63;

/// RFC 5322 `atext`: what a dot-atom may contain besides its dots.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

fn is_dot_atom(text: &str) -> bool {
    !text.is_empty()
        && text
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

fn is_host_name(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    // A top-level label with a letter keeps `a@1.2.3.4` (an address literal in disguise) out;
    // punycode top-level domains (`xn--wgv71a`, .日本) stay in.
    labels.len() >= 2
        && labels.iter().all(label_ok)
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().any(|c| c.is_ascii_alphabetic()))
}

impl Email {
    pub fn parse(value: &str) -> Result<Self, EmailError> {
        let value = value.trim();
        if value.len() > MAX_ADDRESS_LEN {
            return Err(EmailError::TooLong);
        }
        // Exactly one `@`: neither part may contain one (no quoted local parts).
        let (local, domain) = value.split_once('@').ok_or(EmailError::Malformed)?;
        if local.len() > MAX_LOCAL_LEN || !is_dot_atom(local) || !is_host_name(domain) {
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

/// An address as mails and logs may show it (`Email::masked`): the local part's first
/// character, `***`, the domain. Read back from a queue message it must still have exactly that
/// shape, so that a job cannot put other text where a mail shows the address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MaskedEmail(String);

impl MaskedEmail {
    pub fn of(email: &Email) -> Self {
        Self(email.masked())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MaskedEmail {
    type Error = EmailError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let (first, domain) = value.split_once("***@").ok_or(EmailError::Malformed)?;
        if value.len() > MAX_ADDRESS_LEN
            || first.chars().count() > 1
            || !first.chars().all(is_atext)
            || !is_host_name(domain)
        {
            return Err(EmailError::Malformed);
        }
        Ok(Self(value))
    }
}

impl From<MaskedEmail> for String {
    fn from(value: MaskedEmail) -> Self {
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
    use proptest::prelude::*;

    #[test]
    fn a_masked_address_reads_back_only_in_its_own_shape() -> Result<(), EmailError> {
        let masked = MaskedEmail::of(&Email::parse("info@sakura.example.jp")?);
        assert_eq!(MaskedEmail::try_from(masked.as_str().to_owned()), Ok(masked));
        for forged in [
            "info@sakura.example.jp",
            "i***@sakura.example.jp http://evil.example",
            "click here***@evil.example",
            "i***@",
            "***@x",
        ] {
            assert!(MaskedEmail::try_from(forged.to_owned()).is_err(), "{forged}");
        }
        Ok(())
    }

    #[test]
    fn accepts_ordinary_addresses() {
        for good in [
            "ex000000@example.jp",
            " a.b+c@sub.example.co.jp ",
            "o'brien@example.ie",
            "x_y-z@my-hospital.example.jp",
            "TZ000008@Example.JP",
            "yamada@xn--eckwd4c7c.xn--wgv71a",
        ] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            Email::parse(" a.b+c@sub.example.co.jp ").map(|e| e.as_str().to_owned()),
            Ok("a.b+c@sub.example.co.jp".into())
        );
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
            "a@example.jp.",
            "あ@example.jp",
            ".a@example.jp",
            "a.@example.jp",
            "a..b@example.jp",
            "a@-example.jp",
            "a@example-.jp",
            "a@exa_mple.jp",
            "a@1.2.3.4",
            "a@example.123",
            "a@[127.0.0.1]",
            "a@example.j",
            "\"a b\"@example.jp",
            "a(comment)@example.jp",
            "a@example.jp\r\nBcc: x@evil.jp",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Malformed), "{bad}");
        }
        assert_eq!(
            Email::parse(&format!("{}@example.jp", "a".repeat(250))),
            Err(EmailError::TooLong)
        );
        assert_eq!(
            Email::parse(&format!("{}@example.jp", "a".repeat(65))),
            Err(EmailError::Malformed)
        );
        let long_label = format!("a@{}.jp", "b".repeat(64));
        assert_eq!(Email::parse(&long_label), Err(EmailError::Malformed));
    }

    #[test]
    fn refuses_what_reads_as_another_address_elsewhere() {
        for smuggled in [
            "x<attacker@evil.jp>",
            "victim@hospital.jp>;attacker",
            "Victim <victim@hospital.jp>",
            "<victim@hospital.jp>",
            "victim@hospital.jp, attacker@evil.jp",
            "victim@hospital.jp,attacker@evil.jp",
            "victim@hospital.jp;attacker@evil.jp",
            "\"victim@hospital.jp\"@evil.jp",
            "victim@hospital.jp attacker@evil.jp",
            "victim@hospital.jp\u{0}",
            "victim@hospital.jp\u{202e}",
        ] {
            assert_eq!(Email::parse(smuggled), Err(EmailError::Malformed), "{smuggled:?}");
        }
    }

    #[test]
    fn masks_for_logs() {
        let email = Email::parse("ex000000@example.jp").map(|e| (e.masked(), format!("{e:?}")));
        assert_eq!(email, Ok(("e***@example.jp".into(), "Email(e***@example.jp)".into())));
    }

    /// Well-formed addresses, built from the grammar above.
    fn address() -> impl Strategy<Value = String> {
        let atom = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,8}";
        let label = "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?";
        (
            proptest::collection::vec(atom, 1..4),
            proptest::collection::vec(label, 1..4),
            "[a-z]{2,6}",
        )
            .prop_map(|(atoms, labels, tld)| format!("{}@{}.{tld}", atoms.join("."), labels.join(".")))
    }

    /// Text that must never get into an address: what delimits, quotes or lists addresses in a
    /// header, whitespace, and non-ASCII.
    fn breaker() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(vec![
                "<", ">", ";", ",", " ", "\"", "(", ")", "[", "]", ":", "\\", "\t", "\r\n"
            ])
            .prop_map(str::to_owned),
            "[\u{80}-\u{10FFFF}]",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn every_well_formed_address_parses_unchanged(raw in address()) {
            prop_assume!(raw.len() <= MAX_ADDRESS_LEN);
            let parsed = Email::parse(&raw);
            prop_assert_eq!(parsed.as_ref().map(Email::as_str), Ok(raw.as_str()));
        }

        #[test]
        fn a_breaking_character_anywhere_inside_is_refused(
            raw in address(),
            bad in breaker(),
            at in any::<proptest::sample::Index>(),
        ) {
            // Inside, not at the ends: surrounding whitespace is trimmed as typing noise.
            let mut cut = at.index(raw.len() - 1) + 1;
            while !raw.is_char_boundary(cut) {
                cut -= 1;
            }
            let spoiled = format!("{}{bad}{}", &raw[..cut], &raw[cut..]);
            prop_assert_eq!(Email::parse(&spoiled), Err(EmailError::Malformed), "{:?}", spoiled);
        }

        #[test]
        fn display_names_and_lists_around_an_address_are_refused(
            victim in address(),
            attacker in address(),
            name in "[ -~]{0,12}",
        ) {
            for smuggled in [
                format!("{name}<{attacker}>"),
                format!("{victim}>;{attacker}"),
                format!("\"{name}\" <{attacker}>"),
                format!("{victim},{attacker}"),
                format!("{victim};{attacker}"),
                format!("{victim} {attacker}"),
            ] {
                prop_assert!(Email::parse(&smuggled).is_err(), "{:?}", smuggled);
            }
        }

        // Random text alone practically never parses; mixed with addresses, spoiled or padded
        // with the spaces typing leaves, the accepted side is exercised too.
        #[test]
        fn whatever_is_accepted_is_one_plain_ascii_address(
            (raw, expected) in prop_oneof![
                any::<String>().prop_map(|s| (s, None)),
                ("[ \t]{0,2}", address(), "[ \t]{0,2}")
                    .prop_map(|(a, x, b)| { let fits = x.len() <= MAX_ADDRESS_LEN; (format!("{a}{x}{b}"), Some(fits)) }),
                (address(), breaker()).prop_map(|(x, bad)| (format!("{x}{bad}x"), Some(false))),
            ],
        ) {
            let parsed = Email::parse(&raw);
            if let Some(expected) = expected {
                prop_assert_eq!(parsed.is_ok(), expected, "{:?}", raw);
            }
            if let Ok(email) = parsed {
                let text = email.as_str();
                prop_assert_eq!(text.matches('@').count(), 1);
                prop_assert!(text.chars().all(|c| c.is_ascii_graphic()));
                prop_assert!(!text.contains(['<', '>', ';', ',', '"', '(', ')', '[', ']', ':', '\\']));
                prop_assert_eq!(text, raw.trim(), "accepted as typed, but for surrounding spaces");
                prop_assert_eq!(Email::parse(text), Ok(email.clone()));
            }
        }
    }
}
