//! infra/template.yaml, the code, the local router (Cargo.toml) and the docs must agree:
//! routes, functions, environment variables and table keys. Drift in either direction fails.

use anyhow::{anyhow, Result};
use password_reset_tests::reset_core::config::ENVIRONMENT_VARIABLES;
use password_reset_tests::reset_core::store::{address_attributes, attributes, PENDING_INDEX};
use password_reset_tests::reset_core::web::routes;
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

/// Served by `make run` only, never deployed: the stand-in for the host sign-in system.
const LOCAL_ONLY_BINARIES: &[&str] = &["local-sign-in"];

/// The routes of `[workspace.metadata.lambda.watch.router]`, which `make run` serves, without
/// the local-only ones.
fn watch_routes() -> Result<Vec<Route>> {
    let manifest: toml::Value = toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml"))?)?;
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .ok_or_else(|| anyhow!("no watch router in Cargo.toml"))?;
    let mut routes = Vec::new();
    for (path, targets) in router {
        for target in targets.as_array().into_iter().flatten() {
            let binary = target["function"].as_str().unwrap_or_default().to_owned();
            if LOCAL_ONLY_BINARIES.contains(&binary.as_str()) {
                continue;
            }
            routes.push(Route {
                method: target["method"].as_str().unwrap_or_default().to_owned(),
                path: path.clone(),
                binary,
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

/// The rows of the markdown table under `heading` in `doc` whose first cell is code: the names in it.
fn first_cells_under(doc: &str, heading: &str) -> Result<BTreeSet<String>> {
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with(heading))
        .ok_or_else(|| anyhow!("docs/architecture.md has no section {heading}"))?;
    Ok(section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| name.to_owned())
        .collect())
}

/// docs/architecture.md's tables of functions, variables and tables are the template's: a
/// function, a variable or a table added to one and not the other fails here.
#[test]
fn architecture_doc_matches_the_template() -> Result<()> {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md"))?;
    let template = template()?;

    let functions: BTreeSet<String> = template.function_binaries()?.into_iter().collect();
    assert_eq!(
        first_cells_under(&doc, "Functions and routes")?
            .into_iter()
            .filter(|name| !name.contains(' '))
            .collect::<BTreeSet<_>>(),
        functions,
        "the functions table of docs/architecture.md"
    );

    let mut variables: BTreeSet<String> = ENVIRONMENT_VARIABLES.iter().map(|v| v.to_string()).collect();
    variables.insert("RUST_LOG".into());
    assert_eq!(
        first_cells_under(&doc, "Configuration")?,
        variables,
        "the variables of docs/architecture.md"
    );

    assert_eq!(
        first_cells_under(&doc, "reset-admin's own settings")?,
        reset_admin::OWN_VARIABLES
            .iter()
            .map(|v| v.to_string())
            .collect::<BTreeSet<_>>(),
        "reset-admin's own variables in docs/architecture.md"
    );

    // Every path of the routes table is one of `web::routes`' (the routers match on those).
    let paths: BTreeSet<String> = first_cells_under(&doc, "Functions and routes")?
        .into_iter()
        .filter_map(|cell| cell.split_once(' ').map(|(_, path)| path.to_owned()))
        .map(|path| path.split(['?', '{']).next().unwrap_or_default().to_owned())
        .collect();
    let known: BTreeSet<String> = [
        routes::REQUEST_PAGE,
        routes::REQUEST_API,
        routes::CONFIRM_PAGE,
        routes::VERIFY_API,
        routes::COMPLETE,
        routes::COMPLETE_API,
        routes::ADDRESS_FORM,
        routes::ADDRESS_VERIFY,
        routes::ASSETS,
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(paths, known, "the routes of docs/architecture.md");

    let tables_section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Tables"))
        .ok_or_else(|| anyhow!("docs/architecture.md has no Tables section"))?;
    for table in template.tables()? {
        assert!(
            tables_section.contains(&format!("(`{}`", table.logical_id)),
            "docs/architecture.md's tables lack {}",
            table.logical_id
        );
    }
    for stale in ["three Lambda functions", "five DynamoDB tables", "created after both"] {
        assert!(!doc.contains(stale), "docs/architecture.md still says {stale:?}");
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
    assert_eq!(key("ADDRESS_REQUESTS_TABLE")?, address_attributes::REQUEST_ID);
    let requests = find("ADDRESS_REQUESTS_TABLE")?;
    assert_eq!(requests.ttl_attribute.as_deref(), Some(address_attributes::EXPIRES_AT));
    let pending = requests
        .global_secondary_indexes
        .iter()
        .find(|i| i.name == PENDING_INDEX)
        .ok_or_else(|| anyhow!("no {PENDING_INDEX} index"))?;
    let index_keys: Vec<&str> = pending.key_schema.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        index_keys,
        [address_attributes::PENDING_FLAG, address_attributes::VERIFIED_AT]
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
    let desk = local_desk().await?;
    for route in template()?.routes()? {
        let path = route.path.replace("{file}", "style.css");
        let event = EventBuilder::new(&route.method, &path);
        let answer = if route.binary == "address-change" {
            invoke_address(&desk, event).await?
        } else {
            let function = Function::from_binary(&route.binary).ok_or_else(|| anyhow!("unknown {}", route.binary))?;
            invoke(&app, function, event).await?
        };
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
    for (name, parameter) in parameters.iter().filter_map(|(k, v)| Some((k.as_str()?, v))) {
        let row = readme
            .lines()
            .find(|line| line.starts_with(&format!("| `{name}` |")))
            .ok_or_else(|| anyhow!("README's deploy section does not explain {name}"))?;
        // A parameter without a default must be given: the row says so, never "(empty)".
        if parameter.get("Default").is_none() {
            assert!(
                row.ends_with("| required |"),
                "README shows the required {name} with a default: {row}"
            );
        }
    }
    Ok(())
}

fn template_yaml() -> Result<serde_norway::Value> {
    Ok(serde_norway::from_str(&std::fs::read_to_string(
        root().join("infra/template.yaml"),
    )?)?)
}

fn untagged(value: &serde_norway::Value) -> &serde_norway::Value {
    match value {
        serde_norway::Value::Tagged(tagged) => &tagged.value,
        plain => plain,
    }
}

fn resources_of_type<'a>(template: &'a serde_norway::Value, kind: &str) -> Vec<(&'a str, &'a serde_norway::Value)> {
    template["Resources"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .filter_map(|(k, r)| Some((k.as_str()?, r)))
        .collect()
}

/// Every alarm reaches people: the stack's AlarmTopic (its e-mail), and AlarmActionArn besides
/// when set (a paging system adds to the mail, never silences it), on ALARM and on OK; and its
/// description is a runbook paragraph, not a title.
#[test]
fn every_alarm_notifies_the_alarm_topic_and_carries_a_runbook() -> Result<()> {
    let template = template_yaml()?;
    let expected: serde_norway::Value =
        serde_norway::from_str("[!Ref AlarmTopic, !If [HasAlarmActionArn, !Ref AlarmActionArn, !Ref AWS::NoValue]]")?;
    let alarms = resources_of_type(&template, "AWS::CloudWatch::Alarm");
    assert!(alarms.len() >= 10, "{} alarms", alarms.len());
    for (name, alarm) in alarms {
        let properties = &alarm["Properties"];
        assert_eq!(properties["AlarmActions"], expected, "{name}: AlarmActions");
        assert_eq!(properties["OKActions"], expected, "{name}: OKActions");
        let description = untagged(&properties["AlarmDescription"]).as_str().unwrap_or_default();
        assert!(
            description.len() >= 200 && description.contains("docs/operations.md"),
            "{name}: the description should be a runbook paragraph pointing at docs/operations.md"
        );
    }
    Ok(())
}

/// Every function has an Errors and a Throttles alarm, is published behind the alias with a
/// canary deployment, and its Errors alarm is one of the canary's rollback triggers.
#[test]
fn every_function_is_watched_and_canary_deployed() -> Result<()> {
    let template = template_yaml()?;
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["AutoPublishAlias"].as_str(), Some("live"));
    assert_eq!(globals["Tracing"].as_str(), Some("Active"));
    let alarms = resources_of_type(&template, "AWS::CloudWatch::Alarm");
    for (function, resource) in resources_of_type(&template, "AWS::Serverless::Function") {
        if resource["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(PRE_TRAFFIC_BINARY) {
            // Not canary-deployed, no alarms of its own: CodeDeploy invokes it by name during
            // deployments only, and a failure of it fails the deployment it guards (nothing
            // shifts), which the person deploying sees in the pipeline run.
            // `the_pre_traffic_hook_guards_every_function_it_checks` holds it.
            continue;
        }
        if resource["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(PROBE_BINARY) {
            // Not canary-deployed (it serves no user); watched by its own result instead of
            // Lambda's Errors: ProbeFailureAlarm breaches on a failed walk and on missing data,
            // which a crash, a timeout or a throttled run all leave.
            assert!(
                alarms.iter().any(|(_, alarm)| {
                    let p = &alarm["Properties"];
                    p["MetricName"].as_str() == Some("ProbeSuccess")
                        && p["TreatMissingData"].as_str() == Some("breaching")
                }),
                "{function}: no ProbeSuccess alarm that breaches on missing data"
            );
            continue;
        }
        let alarm_on = |metric: &str| -> Option<String> {
            alarms.iter().find_map(|(name, alarm)| {
                let p = &alarm["Properties"];
                let dimension = p["Dimensions"].as_sequence()?.first()?;
                (p["Namespace"].as_str() == Some("AWS/Lambda")
                    && p["MetricName"].as_str() == Some(metric)
                    && dimension["Name"].as_str() == Some("FunctionName")
                    && untagged(&dimension["Value"]).as_str() == Some(function))
                .then(|| name.to_string())
            })
        };
        let errors = alarm_on("Errors").ok_or_else(|| anyhow!("{function} has no Errors alarm"))?;
        alarm_on("Throttles").ok_or_else(|| anyhow!("{function} has no Throttles alarm"))?;
        let preference = &resource["Properties"]["DeploymentPreference"];
        assert_eq!(
            preference["Type"].as_str(),
            Some("Canary10Percent5Minutes"),
            "{function}"
        );
        let triggers: Vec<&str> = preference["Alarms"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|a| untagged(a).as_str())
            .collect();
        assert!(
            triggers.contains(&errors.as_str()),
            "{function}: {errors} is not a rollback trigger"
        );
    }
    Ok(())
}

const PRE_TRAFFIC_BINARY: &str = "pre-traffic";
const PROBE_BINARY: &str = "probe";

/// The PreTraffic hook: named so that the CodeDeploy role SAM creates may invoke it, once per
/// stack; not canary-deployed itself; its environment names exactly the variables its code reads,
/// each the new version of the function that variable is named after; it may invoke exactly those
/// versions; and exactly those functions run it before their traffic shifts.
#[test]
fn the_pre_traffic_hook_guards_every_function_it_checks() -> Result<()> {
    use pre_traffic::checks::TARGET_VARIABLES;
    let template = template_yaml()?;
    let functions = resources_of_type(&template, "AWS::Serverless::Function");
    let binary_of = |logical: &str| -> Option<&str> {
        functions
            .iter()
            .find(|(name, _)| *name == logical)
            .and_then(|(_, r)| r["Metadata"]["BuildProperties"]["Binary"].as_str())
    };
    let (hook_id, hook) = functions
        .iter()
        .find(|(_, r)| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(PRE_TRAFFIC_BINARY))
        .ok_or_else(|| anyhow!("no pre-traffic function in the template"))?;
    let props = &hook["Properties"];
    assert_eq!(
        untagged(&props["FunctionName"]).as_str(),
        Some("CodeDeployHook_${AWS::StackName}-pre-traffic")
    );
    assert_eq!(
        props["AutoPublishAlias"].as_str(),
        Some(""),
        "the hook publishes no alias"
    );
    assert!(
        props["DeploymentPreference"].is_null(),
        "the hook is not canary-deployed"
    );

    let variables = props["Environment"]["Variables"]
        .as_mapping()
        .ok_or_else(|| anyhow!("the hook has no environment of its own"))?;
    let mut versions = BTreeSet::new();
    let mut checked = BTreeSet::new();
    for (name, value) in variables {
        let name = name.as_str().unwrap_or_default();
        let reference = untagged(value).as_str().unwrap_or_default();
        let function = reference
            .strip_suffix(".Version")
            .ok_or_else(|| anyhow!("{name} is not a !Ref <Function>.Version: {reference}"))?;
        let binary = binary_of(function).ok_or_else(|| anyhow!("{name}: {function} is no function"))?;
        assert_eq!(
            name.strip_suffix("_VERSION")
                .map(|n| n.to_lowercase().replace('_', "-")),
            Some(binary.to_owned()),
            "{name} names the version of {binary}"
        );
        versions.insert(reference.to_owned());
        checked.insert(function.to_owned());
    }
    assert_eq!(
        variables.keys().filter_map(|k| k.as_str()).collect::<BTreeSet<_>>(),
        TARGET_VARIABLES.into_iter().collect::<BTreeSet<_>>(),
        "the hook's environment is what its code reads"
    );

    let statements: Vec<&serde_norway::Value> = props["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|document| document["Statement"].as_sequence().into_iter().flatten())
        .collect();
    let invokable: BTreeSet<String> = statements
        .iter()
        .filter(|s| s["Action"].as_str() == Some("lambda:InvokeFunction"))
        .flat_map(|s| s["Resource"].as_sequence().into_iter().flatten())
        .filter_map(|r| untagged(r).as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        invokable, versions,
        "the hook may invoke exactly the versions it checks"
    );
    let actions: BTreeSet<&str> = statements.iter().filter_map(|s| s["Action"].as_str()).collect();
    assert_eq!(
        actions,
        BTreeSet::from([
            "lambda:InvokeFunction",
            "codedeploy:PutLifecycleEventHookExecutionStatus"
        ])
    );

    let guarded: BTreeSet<String> = functions
        .iter()
        .filter(|(_, r)| {
            untagged(&r["Properties"]["DeploymentPreference"]["Hooks"]["PreTraffic"]).as_str() == Some(*hook_id)
        })
        .map(|(name, _)| name.to_string())
        .collect();
    assert_eq!(
        guarded, checked,
        "exactly the functions the hook checks run it before traffic shifts"
    );
    Ok(())
}

/// The mailed links point at the host the stack serves: with a custom domain, PUBLIC_BASE_URL is
/// built from it (and the Rules refuse another PublicBaseUrl), and the execute-api endpoint is off.
#[test]
fn links_use_the_custom_domain_and_the_default_endpoint_is_off_with_it() -> Result<()> {
    let template = template_yaml()?;
    let base_url = &template["Globals"]["Function"]["Environment"]["Variables"]["PUBLIC_BASE_URL"];
    let expected: serde_norway::Value =
        serde_norway::from_str(r#"!If [HasCustomDomain, !Sub "https://${DomainName}", !Ref PublicBaseUrl]"#)?;
    assert_eq!(base_url, &expected);
    let disable = &template["Resources"]["HttpApi"]["Properties"]["DisableExecuteApiEndpoint"];
    let expected: serde_norway::Value = serde_norway::from_str("!If [HasCustomDomain, true, false]")?;
    assert_eq!(disable, &expected);
    let rule = &template["Rules"]["MailedLinksUseTheServedHost"];
    assert!(
        !rule.is_null(),
        "the rule that PublicBaseUrl stays empty with DomainName"
    );
    let prod = &template["Rules"]["ProdAlarmsReachSomeone"];
    assert!(!prod.is_null(), "the rule that prod has an alarm recipient");
    Ok(())
}

/// The JSON API is same-origin only: a CORS preflight that allowed another origin would be
/// followed by the functions' own origin check refusing the POST, so there is no CORS block.
#[test]
fn the_api_answers_same_origin_callers_only() -> Result<()> {
    let yaml = template_yaml()?;
    for (name, api) in resources_of_type(&yaml, "AWS::Serverless::HttpApi") {
        assert!(
            api["Properties"].get("CorsConfiguration").is_none(),
            "{name} has a CORS configuration the functions would contradict"
        );
    }
    assert!(yaml["Parameters"].get("CorsAllowedOrigins").is_none());
    let readme = std::fs::read_to_string(root().join("README.md"))?;
    assert!(
        readme.contains("same-origin only"),
        "the README says the API is same-origin only"
    );
    Ok(())
}

/// send-mail's notion of the last delivery matches the queue's redrive policy.
#[test]
fn the_sender_knows_the_queues_redrive_limit() -> Result<()> {
    let yaml = template_yaml()?;
    let limit = yaml["Resources"]["MailQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
        .as_u64()
        .ok_or_else(|| anyhow!("MailQueue has no maxReceiveCount"))?;
    assert_eq!(limit, u64::from(send_mail::MAX_RECEIVE_COUNT));
    Ok(())
}
