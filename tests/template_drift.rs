//! infra/template.yaml, the code, the local router (Cargo.toml) and the docs must agree:
//! routes, functions, environment variables and table keys. Drift in either direction fails.

use anyhow::{anyhow, Result};
use password_reset_tests::reset_core::config::ENVIRONMENT_VARIABLES;
use password_reset_tests::reset_core::store::attributes;
use password_reset_tests::*;
use reset_admin::template::{Route, Template};
use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn template() -> Result<Template> {
    Template::load(&root().join("infra/template.yaml"))
}

/// The routes of `[workspace.metadata.lambda.watch.router]`, which `make run` serves.
fn watch_routes() -> Result<Vec<Route>> {
    let manifest: toml::Value = toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml"))?)?;
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .ok_or_else(|| anyhow!("no watch router in Cargo.toml"))?;
    let mut routes = Vec::new();
    for (path, targets) in router {
        for target in targets.as_array().into_iter().flatten() {
            routes.push(Route {
                method: target["method"].as_str().unwrap_or_default().to_owned(),
                path: path.clone(),
                binary: target["function"].as_str().unwrap_or_default().to_owned(),
            });
        }
    }
    routes.sort();
    Ok(routes)
}

#[test]
fn local_router_serves_exactly_the_template_routes() -> Result<()> {
    assert_eq!(watch_routes()?, template()?.routes()?);
    Ok(())
}

#[test]
fn architecture_doc_lists_every_route() -> Result<()> {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md"))?;
    for route in template()?.routes()? {
        let row = format!("`{} {}", route.method, route.path);
        let line = doc
            .lines()
            .find(|l| l.contains(&row))
            .ok_or_else(|| anyhow!("docs lack {row}"))?;
        assert!(
            line.contains(&format!("`{}`", route.binary)),
            "{row} is served by {} per the template",
            route.binary
        );
    }
    Ok(())
}

#[test]
fn template_functions_are_the_workspace_function_crates() -> Result<()> {
    let binaries: BTreeSet<String> = template()?.function_binaries()?.into_iter().collect();
    let crates: BTreeSet<String> = std::fs::read_dir(root().join("functions"))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("src/main.rs").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(binaries, crates);
    Ok(())
}

#[test]
fn environment_variables_match_the_code() -> Result<()> {
    let in_template: BTreeSet<String> = template()?
        .environment_variables()?
        .into_iter()
        .filter(|v| v != "RUST_LOG")
        .collect();
    let in_code: BTreeSet<String> = ENVIRONMENT_VARIABLES.iter().map(|v| v.to_string()).collect();
    assert_eq!(in_template, in_code);
    Ok(())
}

#[test]
fn tables_have_the_keys_and_ttl_the_code_uses() -> Result<()> {
    let tables = template()?.tables()?;
    let find = |var: &str| {
        tables
            .iter()
            .find(|t| t.env_var == var)
            .ok_or_else(|| anyhow!("no table for {var}"))
    };
    let key = |var: &str| -> Result<String> { Ok(find(var)?.key_schema[0].name.clone()) };
    assert_eq!(key("USERS_TABLE")?, attributes::USERNAME);
    assert_eq!(key("RESET_TOKENS_TABLE")?, attributes::TOKEN_HASH);
    assert_eq!(key("RATE_LIMITS_TABLE")?, attributes::COUNTER_KEY);
    assert_eq!(
        find("RESET_TOKENS_TABLE")?.ttl_attribute.as_deref(),
        Some(attributes::EXPIRES_AT)
    );
    assert_eq!(
        find("RATE_LIMITS_TABLE")?.ttl_attribute.as_deref(),
        Some(attributes::EXPIRES_AT)
    );
    let table_vars: BTreeSet<&str> = tables.iter().map(|t| t.env_var.as_str()).collect();
    let code_table_vars: BTreeSet<&str> = ENVIRONMENT_VARIABLES
        .iter()
        .copied()
        .filter(|v| v.ends_with("_TABLE"))
        .collect();
    assert_eq!(table_vars, code_table_vars);
    Ok(())
}

#[tokio::test]
async fn every_template_route_is_handled_by_its_function() -> Result<()> {
    let app = local_app().await?;
    for route in template()?.routes()? {
        let path = route.path.replace("{file}", "style.css");
        let function = Function::from_binary(&route.binary).ok_or_else(|| anyhow!("unknown {}", route.binary))?;
        let answer = invoke(&app, function, EventBuilder::new(&route.method, &path)).await?;
        assert!(
            answer.status != 404 && answer.status != 405,
            "{} {} answered {} from {}",
            route.method,
            route.path,
            answer.status,
            route.binary
        );
    }
    Ok(())
}

#[test]
fn readme_explains_every_template_parameter() -> Result<()> {
    let text = std::fs::read_to_string(root().join("infra/template.yaml"))?;
    let template: serde_norway::Value = serde_norway::from_str(&text)?;
    let parameters = template["Parameters"]
        .as_mapping()
        .ok_or_else(|| anyhow!("no Parameters"))?;
    let readme = std::fs::read_to_string(root().join("README.md"))?;
    for name in parameters.keys().filter_map(|k| k.as_str()) {
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "README's deploy section does not explain {name}"
        );
    }
    Ok(())
}
