//! The password rules are listed three times: `PasswordRule::ALL` on the server, the checks of
//! assets/policy.js in the browser, and the `rule` enum of the JSON API's violations in
//! docs/openapi.yaml. Each list is read from its source, so a rule added to one and not the
//! others fails here.

use anyhow::{anyhow, Context, Result};
use password_reset_tests::reset_core::domain::PasswordRule;
use password_reset_tests::reset_core::web::pages::checklist;
use std::collections::BTreeSet;
use std::path::Path;

fn read(relative: &str) -> Result<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).with_context(|| path.display().to_string())
}

/// The rule codes of the `violations[].rule` enum of the API's error schema.
fn openapi_rules() -> Result<Vec<String>> {
    let document: serde_norway::Value = serde_norway::from_str(&read("docs/openapi.yaml")?)?;
    let rule = &document["components"]["schemas"]["Error"]["properties"]["violations"]["items"]["properties"]["rule"];
    rule["enum"]
        .as_sequence()
        .ok_or_else(|| anyhow!("docs/openapi.yaml: no enum of violation rules"))?
        .iter()
        .map(|code| {
            code.as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("a rule that is not a string: {code:?}"))
        })
        .collect()
}

/// The names of the checks in policy.js's `var rules = { name: function … }`.
fn policy_js_rules() -> Result<BTreeSet<String>> {
    let script = read("functions/reset-core/assets/policy.js")?;
    let start = script
        .find("var rules = {")
        .ok_or_else(|| anyhow!("policy.js: no `var rules = {{`"))?;
    let block = &script[start..];
    let end = block
        .find("};")
        .ok_or_else(|| anyhow!("policy.js: the rules never close"))?;
    let check = regex::Regex::new(r"(?m)^\s*([a-z_]+):\s*function")?;
    Ok(check
        .captures_iter(&block[..end])
        .map(|captures| captures[1].to_owned())
        .collect())
}

#[test]
fn the_api_documents_every_rule_of_the_server_in_its_order() -> Result<()> {
    let server: Vec<String> = PasswordRule::ALL.iter().map(|rule| rule.code().to_owned()).collect();
    assert_eq!(
        openapi_rules()?,
        server,
        "docs/openapi.yaml's violation rules and PasswordRule::ALL"
    );
    Ok(())
}

#[test]
fn policy_js_checks_exactly_the_rules_of_the_live_checklist() -> Result<()> {
    let in_browser = policy_js_rules()?;
    assert!(!in_browser.is_empty(), "policy.js checks no rule");
    let server: BTreeSet<String> = PasswordRule::ALL.iter().map(|rule| rule.code().to_owned()).collect();
    let unknown: Vec<&String> = in_browser.difference(&server).collect();
    assert!(
        unknown.is_empty(),
        "policy.js checks rules the server does not have: {unknown:?}"
    );
    let listed: BTreeSet<String> = checklist().map(|rule| rule.code().to_owned()).collect();
    assert_eq!(
        in_browser, listed,
        "policy.js and the page's checklist (web::pages::checked_as_typed) disagree"
    );
    Ok(())
}
