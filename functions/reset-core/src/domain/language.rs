use serde::{Deserialize, Serialize};

/// Language of pages and mails. Japanese is the default everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    Ja,
    En,
}

impl Language {
    /// Every language, in the order the pages' language switch lists them.
    pub const ALL: [Language; 2] = [Language::Ja, Language::En];

    /// The place of the language in `ALL`: a new variant fails to compile here (and in `code`
    /// and `lang::words`) until it has one, and the check below fails the build until `ALL`
    /// holds it there.
    const fn index(self) -> usize {
        match self {
            Language::Ja => 0,
            Language::En => 1,
        }
    }

    /// The ISO 639-1 code: `lang` attributes, `?lang=`, the users table.
    pub fn code(self) -> &'static str {
        match self {
            Language::Ja => "ja",
            Language::En => "en",
        }
    }

    /// `"en"`, `"en-US"`, `"EN"` → English; `"ja"`, `"ja-JP"` → Japanese; anything else: none.
    pub fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Self::ALL.into_iter().find(|language| language.code() == primary)
    }

    /// Picks the first supported language of an `Accept-Language` header, honouring q-values.
    pub fn from_accept_language(header: &str) -> Option<Self> {
        let mut best: Option<(f32, Self)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let Some(language) = pieces.next().and_then(Self::from_tag) else {
                continue;
            };
            let quality = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, language));
            }
        }
        best.map(|(_, language)| language)
    }
}

// `ALL` lists every language once, each at its `index`.
const _: () = {
    let mut i = 0;
    while i < Language::ALL.len() {
        assert!(
            Language::ALL[i].index() == i,
            "Language::ALL must list each language at its index"
        );
        i += 1;
    }
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(Language::from_tag("en-US"), Some(Language::En));
        assert_eq!(Language::from_tag("JA"), Some(Language::Ja));
        assert_eq!(Language::from_tag("fr"), None);
    }

    #[test]
    fn accept_language_honours_order_and_quality() {
        assert_eq!(
            Language::from_accept_language("en-US,en;q=0.9,ja;q=0.8"),
            Some(Language::En)
        );
        assert_eq!(
            Language::from_accept_language("fr, ja;q=0.5, en;q=0.4"),
            Some(Language::Ja)
        );
        assert_eq!(Language::from_accept_language("en;q=0.2, ja;q=0.9"), Some(Language::Ja));
        assert_eq!(Language::from_accept_language("de, fr"), None);
        assert_eq!(Language::from_accept_language("en;q=0"), None);
    }
}
