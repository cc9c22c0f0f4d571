//! The admin tool is a default member so that make run, scripts/admin and cargo lambda watch
//! compile the shared crates once (Cargo.toml). That is only safe while it lends no feature to a
//! crate the functions share: `sam build` and `cargo lambda build --bin NAME` select the default
//! members, and resolver 2 unifies features across them, so a feature asked by the admin tool
//! alone would be compiled into every shipped function. And make test's cargo lambda watch
//! resolves the functions as the test build did (the root's test-graph feature), so that it
//! compiles nothing. These tests read cargo's own resolution.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::process::Command;

/// Each package of the resolved graph ("name vX.Y.Z") with its enabled features, as
/// `cargo tree -e no-dev` prints them for `selection`: what a build of binaries resolves.
fn features(selection: &[&str]) -> Result<BTreeMap<String, String>> {
    resolved("no-dev", selection)
}

/// The same for the dependency kinds `edges` (with `dev`: as a build of every target resolves).
fn resolved(edges: &str, selection: &[&str]) -> Result<BTreeMap<String, String>> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "--offline",
            "--locked",
            "-e",
            edges,
            "--prefix",
            "none",
            "-f",
            "{p}|{f}",
        ])
        .args(selection)
        .output()
        .context("cargo tree")?;
    if !output.status.success() {
        bail!("cargo tree {selection:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    let mut graph = BTreeMap::new();
    for line in String::from_utf8(output.stdout)?.lines() {
        let line = line.trim_end_matches(" (*)");
        if let Some((package, enabled)) = line.split_once('|') {
            // Path packages print their directory; the name and version identify them.
            let package = package.split(" (").next().unwrap_or(package).to_owned();
            graph.insert(package, enabled.to_owned());
        }
    }
    if graph.is_empty() {
        bail!("cargo tree {selection:?} printed no package");
    }
    Ok(graph)
}

/// Each package of `graph` that `other` resolves otherwise: its name, its features in `graph`,
/// and its features in `other` (None: not in `other`).
fn resolved_otherwise<'a>(
    graph: &'a BTreeMap<String, String>,
    other: &'a BTreeMap<String, String>,
) -> Vec<(&'a str, &'a str, Option<&'a str>)> {
    graph
        .iter()
        .filter_map(|(package, enabled)| {
            let there = other.get(package).map(String::as_str);
            (there != Some(enabled.as_str())).then_some((package.as_str(), enabled.as_str(), there))
        })
        .collect()
}

fn default_members() -> Result<Vec<String>> {
    let manifest: toml::Value = toml::from_str(&std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/Cargo.toml"
    ))?)?;
    let members = manifest["workspace"]["default-members"]
        .as_array()
        .context("workspace.default-members")?
        .iter()
        .filter_map(|m| m.as_str().map(str::to_owned))
        .collect();
    Ok(members)
}

/// The package name in a member's manifest.
fn package_name(member: &str) -> Result<String> {
    let path = format!("{}/{member}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
    let manifest: toml::Value = toml::from_str(&std::fs::read_to_string(&path).context(path)?)?;
    Ok(manifest["package"]["name"].as_str().context("package.name")?.to_owned())
}

#[test]
fn the_admin_tool_lends_the_functions_no_feature() -> Result<()> {
    let members = default_members()?;
    assert!(
        members.iter().any(|m| m == "admin"),
        "the admin tool is a default member: {members:?}"
    );
    let with_admin = features(&[])?;
    let mut others = Vec::new();
    for member in members.iter().filter(|m| m.as_str() != "admin") {
        others.push("-p".to_owned());
        others.push(package_name(member)?);
    }
    let without_admin = features(&others.iter().map(String::as_str).collect::<Vec<_>>())?;
    let lent: Vec<String> = resolved_otherwise(&without_admin, &with_admin)
        .into_iter()
        .filter_map(|(package, enabled, unified)| {
            unified.map(|unified| format!("{package}: [{enabled}] becomes [{unified}]"))
        })
        .collect();
    assert!(
        lent.is_empty(),
        "the admin tool changes features the functions are built with: {lent:#?}"
    );
    Ok(())
}

#[test]
fn the_functions_graph_has_no_sso_or_credential_process() -> Result<()> {
    let graph = features(&[])?;
    let aws_config = graph
        .iter()
        .find_map(|(package, enabled)| package.starts_with("aws-config v").then_some(enabled))
        .context("aws-config in the default members' graph")?;
    for feature in ["sso", "credentials-process"] {
        assert!(
            !aws_config.split(',').any(|f| f == feature),
            "aws-config's {feature} reaches the functions: [{aws_config}]"
        );
    }
    let tokio = graph
        .iter()
        .find_map(|(package, enabled)| package.starts_with("tokio v").then_some(enabled))
        .context("tokio in the default members' graph")?;
    assert!(
        !tokio.split(',').any(|f| f == "process"),
        "tokio's process driver reaches the functions: [{tokio}]"
    );
    Ok(())
}

/// make test builds every target of the workspace, then serves the functions with `cargo lambda
/// watch --features password-reset-tests/test-graph` (scripts/lib.sh, start_test_watch), whose
/// `cargo run --bin NAME` builds no dev-dependency: any shared crate resolved with other features
/// there is compiled a second time, and everything above it (a minute and a half on 2 cores when
/// tokio differed). The root package alone may differ: the watch never builds it.
#[test]
fn make_tests_watch_resolves_every_crate_as_the_test_build_did() -> Result<()> {
    let test_build = resolved("normal,build,dev", &["--workspace"])?;
    let watch = features(&["--features", "password-reset-tests/test-graph"])?;
    let differing: Vec<String> = resolved_otherwise(&watch, &test_build)
        .into_iter()
        .filter(|(package, ..)| !package.starts_with("password-reset-tests v"))
        .map(|(package, enabled, built)| {
            format!(
                "{package}: watch [{enabled}], test build [{}]",
                built.unwrap_or("not built")
            )
        })
        .collect();
    assert!(
        differing.is_empty(),
        "the watch would compile these again; name their source in Cargo.toml's test-graph feature: {differing:#?}"
    );
    Ok(())
}
