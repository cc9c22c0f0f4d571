//! `reset-admin users check`: every stored account read the way the functions read it. A release
//! that tightens a rule (a stricter address syntax, say) must not be deployed over accounts it can
//! no longer read: those accounts would get no reset mail and no error a person sees. A Scan, so an
//! administrator's command only, never a request path.

use crate::accounts::Accounts;
use crate::error::{unavailable, AdminError};
use aws_sdk_dynamodb::types::AttributeValue;
use reset_core::domain::{Email, Language, User, Username};
use reset_core::store::item;
use std::collections::HashMap;

/// Why the functions cannot read one stored account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The key is not a username the functions accept.
    Username(String),
    /// The registered address breaks the address rules.
    Email(String),
    /// The language is not one the service speaks.
    Language(String),
    /// Another attribute does not read (its name and what is wrong, as the item mapping says).
    Other(String),
}

impl Problem {
    /// What the administrator does about it.
    pub fn fix(&self) -> &'static str {
        match self {
            Problem::Username(_) => {
                "create the account again under a valid username (user create), then delete this item"
            }
            Problem::Email(_) => "user set-email USERNAME NEW-ADDRESS --reason \"…\"",
            Problem::Language(_) => "set the item's language to one of: ja, en",
            Problem::Other(_) => "correct the attribute in the users table, or create the account again",
        }
    }
}

/// One account the functions cannot read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableAccount {
    /// The stored key as it is (callers print it through `text::visible`).
    pub stored_username: String,
    pub problems: Vec<Problem>,
}

/// What `users check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub accounts_read: usize,
    pub unreadable: Vec<UnreadableAccount>,
}

fn string_attribute<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|value| value.as_s().ok()).map(String::as_str)
}

/// The problems of one users-table item, `None` when the functions read it as it is.
pub fn check_item(item: &HashMap<String, AttributeValue>) -> Option<UnreadableAccount> {
    let stored_username = string_attribute(item, "username").unwrap_or("").to_owned();
    let mut problems = Vec::new();
    if let Err(error) = Username::parse(&stored_username) {
        problems.push(Problem::Username(error.to_string()));
    }
    match string_attribute(item, "email") {
        None => problems.push(Problem::Email("no address is stored".into())),
        Some(address) => {
            if let Err(error) = Email::parse(address) {
                problems.push(Problem::Email(error.to_string()));
            }
        }
    }
    if let Some(tag) = string_attribute(item, "language") {
        if Language::from_tag(tag).is_none() {
            problems.push(Problem::Language(format!("{tag:?} is not a language of the service")));
        }
    }
    if problems.is_empty() {
        if let Err(error) = item::from_item::<User>(item.clone()) {
            problems.push(Problem::Other(error.to_string()));
        }
    }
    (!problems.is_empty()).then_some(UnreadableAccount {
        stored_username,
        problems,
    })
}

/// Reads every account of the users table, page by page (`progress` is told the running count).
pub async fn check_users(accounts: &Accounts, mut progress: impl FnMut(usize)) -> Result<CheckReport, AdminError> {
    let mut report = CheckReport::default();
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = accounts
            .client()
            .scan()
            .table_name(accounts.users_table())
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(unavailable)?;
        for found in page.items() {
            report.accounts_read += 1;
            if let Some(unreadable) = check_item(found) {
                report.unreadable.push(unreadable);
            }
        }
        progress(report.accounts_read);
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(report),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reset_core::domain::{Language, Timestamp};

    fn stored(user: &User) -> HashMap<String, AttributeValue> {
        item::to_item(user).expect("a user maps to an item")
    }

    fn good_item() -> HashMap<String, AttributeValue> {
        let user = User::new_active(
            Username::parse("ex000001").expect("valid"),
            Email::parse("ex000001@example.jp").expect("valid"),
            Language::Ja,
            Timestamp::from_millis(0),
        )
        .expect("randomness");
        stored(&user)
    }

    #[test]
    fn an_account_the_functions_read_passes() {
        assert_eq!(check_item(&good_item()), None);
    }

    #[test]
    fn each_unreadable_attribute_is_named_with_its_fix() {
        let mut item = good_item();
        item.insert("email".into(), AttributeValue::S("two@@example.jp".into()));
        item.insert("language".into(), AttributeValue::S("fr".into()));
        let found = check_item(&item).expect("unreadable");
        assert!(matches!(found.problems[0], Problem::Email(_)), "{found:?}");
        assert!(matches!(found.problems[1], Problem::Language(_)), "{found:?}");
        assert!(found.problems[0].fix().starts_with("user set-email"));
        // and the functions' own reading agrees that it is unreadable
        assert!(item::from_item::<User>(item).is_err());
    }

    #[test]
    fn a_key_the_functions_refuse_is_reported() {
        let mut item = good_item();
        // Full-width, as typed on a Japanese keyboard and stored by hand: no lookup finds it.
        item.insert("username".into(), AttributeValue::S("ｅｘ０００００１".into()));
        let found = check_item(&item).expect("unreadable");
        assert!(matches!(&found.problems[0], Problem::Username(_)), "{found:?}");
    }

    #[test]
    fn another_broken_attribute_is_caught_by_the_functions_reading() {
        let mut item = good_item();
        item.insert("status".into(), AttributeValue::S("frozen".into()));
        let found = check_item(&item).expect("unreadable");
        assert!(matches!(found.problems[0], Problem::Other(_)), "{found:?}");
    }
}
