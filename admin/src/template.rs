//! Reads what the code must agree with out of `infra/template.yaml`: the tables (key schema,
//! indexes, TTL), the functions' environment variables, and the routes. CloudFormation tags
//! (`!Ref`, `!Sub`, …) are kept as tagged values, not resolved.

use anyhow::{anyhow, bail, Context, Result};
use serde_norway::value::TaggedValue;
use serde_norway::{Mapping, Value};
use std::path::Path;

pub struct Template {
    root: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyElement {
    pub name: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDefinition {
    pub name: String,
    pub key_schema: Vec<KeyElement>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDefinition {
    pub logical_id: String,
    /// The environment variable whose value names the table (`USERS_TABLE: !Ref UsersTable`).
    pub env_var: String,
    /// Attribute name → `S`, `N` or `B`.
    pub attribute_definitions: Vec<(String, String)>,
    pub key_schema: Vec<KeyElement>,
    pub global_secondary_indexes: Vec<IndexDefinition>,
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub method: String,
    pub path: String,
    /// The cargo binary (`BuildProperties: Binary`) of the function that serves it.
    pub binary: String,
}

fn str_of<'a>(value: &'a Value, what: &str) -> Result<&'a str> {
    value.as_str().ok_or_else(|| anyhow!("{what} is not a string"))
}

fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.as_mapping().and_then(|m| m.get(key))
}

/// Where the accounts live, which decides the template's store conditions (`UseCognitoStore`,
/// `UseDynamoDbStore`): the users table, or the account-state table beside a Cognito pool.
/// `PASSWORD_STORE`'s kinds, parsed by the functions' own reader.
pub use reset_core::config::StoreKind as Store;

/// Whether a resource or branch under `condition` exists with `store` (conditions of other
/// parameters hold).
fn holds(store: Store, condition: &str) -> bool {
    match condition {
        "UseCognitoStore" => store == Store::Cognito,
        "UseDynamoDbStore" => store == Store::DynamoDb,
        _ => true,
    }
}

fn ref_target(value: &Value, store: Store) -> Option<&str> {
    match value {
        Value::Tagged(tagged) => {
            let TaggedValue { tag, value } = tagged.as_ref();
            if tag == "Ref" || tag == "!Ref" {
                value.as_str()
            } else if tag == "If" || tag == "!If" {
                // `!If [condition, when true, when false]`
                let branches = value.as_sequence()?;
                let condition = branches.first()?.as_str()?;
                ref_target(branches.get(if holds(store, condition) { 1 } else { 2 })?, store)
            } else {
                None
            }
        }
        Value::Mapping(map) => map.get("Ref").and_then(Value::as_str),
        _ => None,
    }
}

fn key_schema(value: Option<&Value>) -> Result<Vec<KeyElement>> {
    let list = value
        .and_then(Value::as_sequence)
        .ok_or_else(|| anyhow!("KeySchema missing"))?;
    list.iter()
        .map(|k| {
            Ok(KeyElement {
                name: str_of(get(k, "AttributeName").unwrap_or(&Value::Null), "AttributeName")?.to_owned(),
                key_type: str_of(get(k, "KeyType").unwrap_or(&Value::Null), "KeyType")?.to_owned(),
            })
        })
        .collect()
}

/// One `AWS::DynamoDB::Table` resource, named by the global variable that refers to it.
fn table_definition(id: &Value, resource: &Value, variables: &Mapping, store: Store) -> Result<TableDefinition> {
    let logical_id = str_of(id, "logical id")?.to_owned();
    let env_var = variables
        .iter()
        .find(|(_, v)| ref_target(v, store) == Some(logical_id.as_str()))
        .map(|(k, _)| str_of(k, "variable name").map(str::to_owned))
        .transpose()?
        .ok_or_else(|| anyhow!("no environment variable refers to table {logical_id}"))?;
    let props = get(resource, "Properties").ok_or_else(|| anyhow!("{logical_id} has no Properties"))?;
    let attribute_definitions = get(props, "AttributeDefinitions")
        .and_then(Value::as_sequence)
        .ok_or_else(|| anyhow!("{logical_id} has no AttributeDefinitions"))?
        .iter()
        .map(|a| {
            Ok((
                str_of(get(a, "AttributeName").unwrap_or(&Value::Null), "AttributeName")?.to_owned(),
                str_of(get(a, "AttributeType").unwrap_or(&Value::Null), "AttributeType")?.to_owned(),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let global_secondary_indexes = get(props, "GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .map(|list| list.iter().map(index_definition).collect::<Result<Vec<_>>>())
        .transpose()?
        .unwrap_or_default();
    let ttl_attribute = match get(props, "TimeToLiveSpecification") {
        Some(spec) if get(spec, "Enabled").and_then(Value::as_bool) == Some(true) => {
            Some(str_of(get(spec, "AttributeName").unwrap_or(&Value::Null), "TTL AttributeName")?.to_owned())
        }
        _ => None,
    };
    Ok(TableDefinition {
        key_schema: key_schema(get(props, "KeySchema"))?,
        logical_id,
        env_var,
        attribute_definitions,
        global_secondary_indexes,
        ttl_attribute,
    })
}

/// One of a table's `GlobalSecondaryIndexes` (projection `ALL` unless it says otherwise).
fn index_definition(index: &Value) -> Result<IndexDefinition> {
    let projection = get(index, "Projection");
    Ok(IndexDefinition {
        name: str_of(get(index, "IndexName").unwrap_or(&Value::Null), "IndexName")?.to_owned(),
        key_schema: key_schema(get(index, "KeySchema"))?,
        projection_type: projection
            .and_then(|p| get(p, "ProjectionType"))
            .and_then(Value::as_str)
            .unwrap_or("ALL")
            .to_owned(),
        non_key_attributes: projection
            .and_then(|p| get(p, "NonKeyAttributes"))
            .and_then(Value::as_sequence)
            .map(|l| l.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default(),
    })
}

impl Template {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Self> {
        Ok(Self {
            root: serde_norway::from_str(text)?,
        })
    }

    fn resources(&self) -> Result<&Mapping> {
        get(&self.root, "Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| anyhow!("no Resources"))
    }

    fn global_variables(&self) -> Result<&Mapping> {
        get(&self.root, "Globals")
            .and_then(|g| get(g, "Function"))
            .and_then(|f| get(f, "Environment"))
            .and_then(|e| get(e, "Variables"))
            .and_then(Value::as_mapping)
            .ok_or_else(|| anyhow!("no Globals.Function.Environment.Variables"))
    }

    /// The names of the functions' environment variables.
    pub fn environment_variables(&self) -> Result<Vec<String>> {
        self.global_variables()?
            .keys()
            .map(|k| Ok(str_of(k, "variable name")?.to_owned()))
            .collect()
    }

    /// Each global variable that names a resource of the template (`MAIL_QUEUE_URL: !Ref
    /// MailQueue`), with that resource's logical id, as deployed with `store`: what a process's
    /// table names and queue URLs stand for.
    pub fn resource_variables(&self, store: Store) -> Result<Vec<(String, String)>> {
        let resources = self.resources()?;
        let mut named = Vec::new();
        for (name, value) in self.global_variables()? {
            let Some(target) = ref_target(value, store) else {
                continue;
            };
            if resources.contains_key(target) {
                named.push((str_of(name, "variable name")?.to_owned(), target.to_owned()));
            }
        }
        Ok(named)
    }

    /// The tables of a deployment with the default store (DynamoDB).
    pub fn tables(&self) -> Result<Vec<TableDefinition>> {
        self.tables_for(Store::DynamoDb)
    }

    /// The tables of a deployment with `store`: the users table or the account-state table.
    pub fn tables_for(&self, store: Store) -> Result<Vec<TableDefinition>> {
        let variables = self.global_variables()?;
        let mut tables = Vec::new();
        for (id, resource) in self.resources()? {
            if get(resource, "Type").and_then(Value::as_str) != Some("AWS::DynamoDB::Table") {
                continue;
            }
            if get(resource, "Condition")
                .and_then(Value::as_str)
                .is_some_and(|condition| !holds(store, condition))
            {
                continue;
            }
            tables.push(table_definition(id, resource, variables, store)?);
        }
        if tables.is_empty() {
            bail!("the template defines no DynamoDB table");
        }
        Ok(tables)
    }

    /// Every `AWS::Serverless::Function` with its cargo binary (`BuildProperties: Binary`).
    fn functions(&self) -> Result<Vec<(&str, &Value)>> {
        let mut functions = Vec::new();
        for (id, resource) in self.resources()? {
            if get(resource, "Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
                continue;
            }
            let binary = get(resource, "Metadata")
                .and_then(|m| get(m, "BuildProperties"))
                .and_then(|b| get(b, "Binary"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    anyhow!(
                        "{} has no Metadata.BuildProperties.Binary",
                        str_of(id, "logical id").unwrap_or("?")
                    )
                })?;
            functions.push((binary, resource));
        }
        Ok(functions)
    }

    /// The cargo binary of every function, HTTP or not (mail-events is invoked by SNS).
    pub fn function_binaries(&self) -> Result<Vec<String>> {
        let mut binaries: Vec<String> = self
            .functions()?
            .into_iter()
            .map(|(binary, _)| binary.to_owned())
            .collect();
        binaries.sort();
        Ok(binaries)
    }

    /// Every `HttpApi` event of every `AWS::Serverless::Function`.
    pub fn routes(&self) -> Result<Vec<Route>> {
        let mut routes = Vec::new();
        for (binary, resource) in self.functions()? {
            let binary = binary.to_owned();
            let events = get(resource, "Properties")
                .and_then(|p| get(p, "Events"))
                .and_then(Value::as_mapping);
            for (_, event) in events.into_iter().flatten() {
                if get(event, "Type").and_then(Value::as_str) != Some("HttpApi") {
                    continue;
                }
                let props = get(event, "Properties");
                let method = props
                    .and_then(|p| get(p, "Method"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let path = props
                    .and_then(|p| get(p, "Path"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                routes.push(Route {
                    method: method.to_ascii_uppercase(),
                    path: path.to_owned(),
                    binary: binary.clone(),
                });
            }
        }
        routes.sort();
        Ok(routes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
Globals:
  Function:
    Environment:
      Variables:
        USERS_TABLE: !Ref UsersTable
        OTHER: plain
Resources:
  UsersTable:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: username, AttributeType: S}]
      KeySchema: [{AttributeName: username, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: rust-cargolambda, BuildProperties: {Binary: request-reset}}
    Properties:
      Events:
        Get: {Type: HttpApi, Properties: {Method: get, Path: /password-reset}}
"#;

    #[test]
    fn reads_tables_variables_and_routes() -> Result<()> {
        let template = Template::parse(SAMPLE)?;
        let tables = template.tables()?;
        assert_eq!(tables.len(), 1);
        assert_eq!(tables[0].env_var, "USERS_TABLE");
        assert_eq!(tables[0].ttl_attribute.as_deref(), Some("expires_at"));
        assert_eq!(template.environment_variables()?, vec!["USERS_TABLE", "OTHER"]);
        assert_eq!(
            template.resource_variables(Store::DynamoDb)?,
            vec![("USERS_TABLE".to_owned(), "UsersTable".to_owned())]
        );
        assert_eq!(template.function_binaries()?, vec!["request-reset"]);
        assert_eq!(
            template.routes()?,
            vec![Route {
                method: "GET".into(),
                path: "/password-reset".into(),
                binary: "request-reset".into()
            }]
        );
        Ok(())
    }

    #[test]
    fn each_store_gets_its_own_accounts_table() -> Result<()> {
        let template = Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/template.yaml"))?;
        for (store, present, absent) in [
            (Store::DynamoDb, "UsersTable", "AccountStateTable"),
            (Store::Cognito, "AccountStateTable", "UsersTable"),
        ] {
            let tables = template.tables_for(store)?;
            let accounts: Vec<&str> = tables
                .iter()
                .filter(|t| t.env_var == "USERS_TABLE")
                .map(|t| t.logical_id.as_str())
                .collect();
            assert_eq!(accounts, vec![present], "{store:?}");
            assert!(
                tables.iter().all(|t| t.logical_id != absent),
                "{store:?} has no {absent}"
            );
        }
        Ok(())
    }
}
