//! The documents hold to the code: what docs/admin.md says reset-admin takes is what
//! `reset-admin --help` says, command by command and option by option.

use crate::admin_support::{reset_admin_with, text};
use anyhow::{anyhow, ensure, Result};
use std::collections::BTreeSet;

fn admin_doc() -> Result<String> {
    Ok(std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/admin.md"
    ))?)
}

/// reset-admin's help for `path`, without the environment's say in it (RESET_ADMIN_ACTOR unset).
fn help(path: &[&str]) -> Result<String> {
    let mut args = path.to_vec();
    args.push("--help");
    let output = reset_admin_with(&args, &[], &["RESET_ADMIN_ACTOR"])?;
    ensure!(
        output.status.success(),
        "reset-admin {path:?} --help: {}",
        text(&output)
    );
    Ok(String::from_utf8(output.stdout)?)
}

/// The names under "Commands:" (clap's own `help` left out).
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| *line != "Commands:")
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// The long options of one command, the global and help ones left out (the global ones have
/// their own lines under the help block).
fn long_options(help: &str) -> BTreeSet<String> {
    help.lines()
        .skip_while(|line| *line != "Options:")
        .filter_map(|line| line.split_whitespace().find(|word| word.starts_with("--")))
        .map(|word| word.trim_end_matches(',').to_owned())
        .filter(|option| !["--help", "--actor", "--password-store"].contains(&option.as_str()))
        .collect()
}

/// Every command a person can run, with its options: the leaves of the help tree, and the
/// commands whose subcommand is optional (`mail-queue`).
fn runnable_commands() -> Result<Vec<(String, BTreeSet<String>)>> {
    let mut found = Vec::new();
    let mut pending: Vec<Vec<String>> = subcommands(&help(&[])?).into_iter().map(|c| vec![c]).collect();
    while let Some(path) = pending.pop() {
        let path_refs: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&path_refs)?;
        let children = subcommands(&text);
        let optional_child = text.lines().any(|l| l.starts_with("Usage:") && l.contains("[COMMAND]"));
        if children.is_empty() || optional_child {
            found.push((path.join(" "), long_options(&text)));
        }
        for child in children {
            let mut longer = path.clone();
            longer.push(child);
            pending.push(longer);
        }
    }
    Ok(found)
}

#[test]
fn the_admin_guide_shows_the_real_help() -> Result<()> {
    let doc = admin_doc()?;
    let actual = help(&[])?;
    let block = doc
        .split("```text\n$ reset-admin --help\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .ok_or_else(|| anyhow!("docs/admin.md shows no `$ reset-admin --help` block"))?;
    assert_eq!(
        block.trim_end(),
        actual.trim_end(),
        "docs/admin.md's --help block is not what reset-admin prints"
    );
    Ok(())
}

#[test]
fn the_admin_command_table_has_every_command_and_option() -> Result<()> {
    let doc = admin_doc()?;
    let rows: Vec<&str> = doc.lines().filter(|line| line.starts_with("| `")).collect();
    let mut missing = Vec::new();
    for (command, options) in runnable_commands()? {
        let prefix = format!("| `{command}");
        let matching: Vec<&&str> = rows
            .iter()
            .filter(|row| {
                row.strip_prefix(&prefix)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('`'))
            })
            .collect();
        if matching.is_empty() {
            missing.push(format!("no row for `{command}`"));
            continue;
        }
        for option in options {
            if !matching.iter().any(|row| row.contains(&option)) {
                missing.push(format!("`{command}` lacks {option}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/admin.md's command table: {}",
        missing.join("; ")
    );
    Ok(())
}

/// The alarms of the template and the CloudWatch metrics they are billed for, with the SES
/// configuration set (its alarms exist) and without.
fn alarm_counts() -> Result<[(usize, usize); 2]> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/infra/template.yaml");
    let template: serde_norway::Value = serde_norway::from_str(&std::fs::read_to_string(path)?)?;
    let resources = template["Resources"]
        .as_mapping()
        .ok_or_else(|| anyhow!("the template has no Resources"))?;
    let mut with_set = (0, 0);
    let mut without_set = (0, 0);
    for resource in resources.values() {
        if resource["Type"].as_str() != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        // A metric-math alarm is billed for each metric it reads, a plain one for its one.
        let metrics = resource["Properties"]["Metrics"]
            .as_sequence()
            .map(|list| list.iter().filter(|m| m.get("MetricStat").is_some()).count())
            .unwrap_or(1);
        with_set = (with_set.0 + 1, with_set.1 + metrics);
        if resource["Condition"].as_str() != Some("HasConfigurationSet") {
            without_set = (without_set.0 + 1, without_set.1 + metrics);
        }
    }
    Ok([with_set, without_set])
}

/// The README's cost row counts the template's alarms and their metrics, and prices them.
#[test]
fn the_readme_counts_and_prices_the_templates_alarms() -> Result<()> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))?;
    let row = readme
        .lines()
        .find(|line| line.starts_with("| CloudWatch alarms"))
        .ok_or_else(|| anyhow!("README.md has no CloudWatch alarms cost row"))?;
    let [(alarms, metrics), (alarms_without, metrics_without)] = alarm_counts()?;
    let expected = format!(
        "| {alarms} alarms, {metrics} alarm metrics (with `SesConfigurationSetName`; {alarms_without} alarms, \
         {metrics_without} metrics without) | ${:.2} (${:.2}) |",
        metrics as f64 * 0.10,
        metrics_without as f64 * 0.10
    );
    assert!(
        row.ends_with(&expected),
        "README.md's alarm row:\n{row}\nshould end with\n{expected}"
    );
    Ok(())
}

/// The README's cost row of custom metrics counts `reset_core::metrics::ALL`.
#[test]
fn the_readme_counts_the_custom_metrics() -> Result<()> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))?;
    let count = password_reset_tests::reset_core::metrics::ALL.len();
    let expected = format!(
        "| custom metrics (EMF, $0.30 each) | {count} (`reset_core::metrics::ALL`) | ${:.2} |",
        count as f64 * 0.30
    );
    assert!(
        readme.lines().any(|line| line == expected),
        "README.md should have the row\n{expected}"
    );
    Ok(())
}

/// Every file of the given kinds under `dir`, recursively.
fn sources_under(dir: &std::path::Path, extensions: &[&str], into: &mut String) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            sources_under(&path, extensions, into)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| extensions.contains(&e))
        {
            into.push_str(&std::fs::read_to_string(&path)?);
        }
    }
    Ok(())
}

/// Names in the runbook that neither the code nor the template writes: CloudWatch's, Lambda's
/// and SES's own words, which the runbook quotes so that an operator can search for them.
const NAMED_BY_AWS: &[&str] = &[
    // Lambda's report lines and its own log markers.
    "INIT_REPORT",
    "REPORT",
    // SES's error codes, as the SDK reports them.
    "SendingPausedException",
    "TooManyRequestsException",
    "MessageRejected",
    "AccountSendingPausedException",
    "MailFromDomainNotVerifiedException",
    "LimitExceededException",
    "NotFoundException",
    // IAM's refusal, as every SDK error reports it.
    "AccessDenied",
];

/// Each identifier the runbook puts in code font — a log field, an event, a metric, an alarm, a
/// parameter — is written by the code, the template or the scripts (or is AWS's own word, listed
/// above): a runbook line that cites a field nothing writes sends the on-call engineer looking
/// for nothing.
#[test]
fn the_runbook_names_only_what_the_code_writes() -> Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let runbook = std::fs::read_to_string(root.join("docs/operations.md"))?;
    let mut written = String::new();
    for dir in ["functions", "admin", "local", "scripts", "infra", ".github"] {
        sources_under(
            &root.join(dir),
            &["rs", "yaml", "yml", "sh", "py", "toml", "env", "json"],
            &mut written,
        )?;
    }
    written.push_str(&std::fs::read_to_string(root.join("samconfig.toml"))?);
    written.push_str(&std::fs::read_to_string(root.join("Makefile"))?);
    let mut unknown = BTreeSet::new();
    for (i, chunk) in runbook.split('`').enumerate() {
        let identifier = i % 2 == 1
            && chunk.len() > 2
            && chunk.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && chunk.chars().any(|c| c.is_ascii_alphabetic());
        if identifier && !written.contains(chunk) && !NAMED_BY_AWS.contains(&chunk) {
            unknown.insert(chunk.to_owned());
        }
    }
    assert!(
        unknown.is_empty(),
        "docs/operations.md names what no code, template or script writes: {unknown:?}"
    );
    Ok(())
}
