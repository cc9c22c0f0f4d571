//! The one reader of settings. Every program of the workspace (the functions, `reset-admin`,
//! the local sign-in page) reads its environment through `Variables`, so that every variable is
//! trimmed the same way, a blank one counts as unset, and every error names the variable.

use super::ConfigError;
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// One variable's raw value by its name.
type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Where settings come from: the process environment, or a map in tests.
pub struct Variables<'a> {
    lookup: Box<Lookup<'a>>,
}

impl Variables<'static> {
    /// The process environment.
    pub fn from_env() -> Self {
        Self::new(|name| std::env::var(name).ok())
    }
}

impl<'a> Variables<'a> {
    pub fn new(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self {
            lookup: Box::new(lookup),
        }
    }

    /// The trimmed value; `None` when unset or blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// The trimmed value, or `ConfigError::Missing(name)`.
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    /// A number in `range`; `default` when unset. Out of range or not a number: an error that
    /// names the variable and the range.
    pub fn number<T>(&self, name: &'static str, default: T, range: RangeInclusive<T>) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Display,
        T::Err: Display,
    {
        let value = match self.optional(name) {
            None => default,
            Some(text) => text.parse::<T>().map_err(|e| ConfigError::invalid(name, e))?,
        };
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::invalid(
                name,
                format!("must be between {} and {}", range.start(), range.end()),
            ))
        }
    }

    /// The value parsed by `parse`, when set; its error becomes one that names the variable.
    pub fn parsed<T, E: Display>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ConfigError> {
        self.optional(name)
            .map(|text| parse(&text).map_err(|e| ConfigError::invalid(name, e)))
            .transpose()
    }

    /// An origin (`https://…`, or `http://…` for a local run) without its trailing slash.
    pub fn origin(&self, name: &'static str) -> Result<String, ConfigError> {
        let url = self.required(name)?.trim_end_matches('/').to_owned();
        if url.starts_with("https://") || url.starts_with("http://") {
            Ok(url)
        } else {
            Err(ConfigError::invalid(
                name,
                "must start with https:// (or http:// for a local run)",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variables(pairs: &'static [(&'static str, &'static str)]) -> Variables<'static> {
        Variables::new(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn blank_is_unset_and_values_are_trimmed() {
        let vars = variables(&[("A", "  x "), ("B", "   ")]);
        assert_eq!(vars.optional("A").as_deref(), Some("x"));
        assert_eq!(vars.optional("B"), None);
        assert!(matches!(vars.required("B"), Err(ConfigError::Missing("B"))));
    }

    #[test]
    fn numbers_name_the_variable_when_out_of_range_or_malformed() {
        let vars = variables(&[("N", "7"), ("BAD", "seven")]);
        assert_eq!(vars.number("N", 1_u32, 1..=10).ok(), Some(7));
        assert_eq!(vars.number("UNSET", 3_u32, 1..=10).ok(), Some(3));
        let out = vars.number("N", 1_u32, 1..=5).err().map(|e| e.to_string());
        assert_eq!(
            out.as_deref(),
            Some("environment variable N is invalid: must be between 1 and 5")
        );
        let bad = vars.number("BAD", 1_u32, 1..=5).err().map(|e| e.to_string());
        assert!(bad.is_some_and(|m| m.starts_with("environment variable BAD is invalid")));
    }

    #[test]
    fn origins_lose_the_trailing_slash_and_need_a_scheme() {
        let vars = variables(&[("U", "https://id.example.jp/"), ("V", "id.example.jp")]);
        assert_eq!(vars.origin("U").ok().as_deref(), Some("https://id.example.jp"));
        assert!(matches!(vars.origin("V"), Err(ConfigError::Invalid { name: "V", .. })));
    }
}
