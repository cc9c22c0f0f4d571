//! Free text that ends up in the audit log or a report, and everything an administrator reads:
//! the actor, the reason, every CSV field, the typed items of an address request, the bounce
//! diagnostics of remote mail servers.
//!
//! Control characters (Unicode category Cc), formatting characters (Cf: the bidirectional
//! overrides and isolates such as U+202E, zero-width spaces and joiners, the BOM, tag
//! characters), the line and paragraph separators (Zl, Zp) and the other default-ignorable code
//! points print as nothing, break a line where none is stored, or reorder what follows them:
//! `reason: refund\u{202E}1234 tekcit` prints as `reason: refund ticket 4321`. A log an
//! administrator reads on a terminal must show what is stored, so such text is refused on input
//! and shown as `<U+XXXX>` on output, never cleaned up silently.
//!
//! The categories come from the Unicode Character Database (`unicode-general-category`), not
//! from a hand-kept list: a list missed U+2028/2029 and some thirty format characters.

use std::borrow::Cow;
use std::fmt;
use unicode_general_category::{get_general_category, GeneralCategory};

/// Invisible code points that are not Cc, Cf, Zl or Zp (Default_Ignorable_Code_Point minus
/// those): combining grapheme joiner, Hangul fillers, Khmer inherent vowels, Mongolian and
/// Unicode variation selectors. They hide as well as a zero-width space does.
const OTHER_INVISIBLES: &[(char, char)] = &[
    ('\u{034F}', '\u{034F}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{E0100}', '\u{E01EF}'),
];

/// The bidirectional controls (UAX #9): all of category Cf, listed to name them in messages.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A character that must not appear in audited or reported text, and where it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HiddenCharacter {
    pub character: char,
    /// 1-based position among the characters of the text.
    pub position: usize,
}

impl fmt::Display for HiddenCharacter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "contains U+{:04X} ({}) at character {}",
            u32::from(self.character),
            kind(self.character),
            self.position
        )
    }
}

fn kind(c: char) -> &'static str {
    if is_bidi_control(c) {
        return "a bidirectional control that reorders what is printed";
    }
    match get_general_category(c) {
        GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => "a line or paragraph separator",
        GeneralCategory::Control => "a control character",
        _ => "an invisible formatting character",
    }
}

/// True for Cc, Cf (bidirectional controls included), Zl, Zp and the other invisible code
/// points: what must never reach an administrator's screen as itself.
pub fn is_hidden(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    ) || is_bidi_control(c)
        || OTHER_INVISIBLES
            .iter()
            .any(|&(first, last)| (first..=last).contains(&c))
}

/// The first hidden character of `text`, if any.
pub fn find_hidden(text: &str) -> Option<HiddenCharacter> {
    text.chars()
        .enumerate()
        .find(|&(_, c)| is_hidden(c))
        .map(|(i, character)| HiddenCharacter {
            character,
            position: i + 1,
        })
}

/// Text as it may be printed: every hidden character shown as `<U+XXXX>`. For what was stored
/// before these checks existed, and for text from outside (a remote mail server's bounce
/// diagnostic): a printed line shows what is there, in the order it is stored.
pub fn visible(text: &str) -> Cow<'_, str> {
    if find_hidden(text).is_none() {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| {
                if is_hidden(c) {
                    format!("<U+{:04X}>", u32::from(c))
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printing_shows_hidden_characters_by_code_point() {
        assert_eq!(visible("refund\u{202E}4321 tekcit"), "refund<U+202E>4321 tekcit");
        assert_eq!(visible("a\tb\u{200B}"), "a<U+0009>b<U+200B>");
        assert!(matches!(visible("plain チケット"), Cow::Borrowed("plain チケット")));
    }

    #[test]
    fn finds_controls_formatting_and_bidi_characters() {
        for (text, code) in [
            ("refund\u{202E}4321", 0x202E),
            ("a\u{2066}b", 0x2066),
            ("zero\u{200B}width", 0x200B),
            ("bom\u{FEFF}", 0xFEFF),
            ("tab\there", 0x09),
            ("nul\0", 0x00),
            ("c1\u{85}", 0x85),
            ("line\u{2028}sep", 0x2028),
            ("tag\u{E0041}", 0xE0041),
            ("soft\u{AD}hyphen", 0xAD),
            ("arabic\u{061C}mark", 0x061C),
        ] {
            assert_eq!(
                find_hidden(text).map(|h| u32::from(h.character)),
                Some(code),
                "{text:?}"
            );
        }
        assert_eq!(
            find_hidden("ab\u{202E}").map(|h| h.to_string()).as_deref(),
            Some("contains U+202E (a bidirectional control that reorders what is printed) at character 3")
        );
    }

    #[test]
    fn ordinary_text_of_any_script_passes() {
        for text in [
            "チケット#123: 旧アドレス廃止",
            "Müller, O'Brien & co. — 50% ✓",
            "ｆｕｌｌ　ｗｉｄｔｈ",
            "emoji 🙂",
            "",
        ] {
            assert_eq!(find_hidden(text), None, "{text:?}");
        }
    }
}
