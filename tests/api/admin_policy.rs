//! The administrators' managed policy in infra/template.yaml grants exactly what reset-admin
//! calls, each action on the resources it needs it on, and nothing on `*`. (The address-request
//! decisions' transaction also writes the audit table, granted above for every change.)

use anyhow::{anyhow, Result};
use serde_norway::Value;
use std::collections::BTreeSet;

fn template() -> Result<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/infra/template.yaml");
    Ok(serde_norway::from_str(&std::fs::read_to_string(path)?)?)
}

/// `!GetAtt UsersTable.Arn` → `GetAtt UsersTable.Arn`; plain strings as they are.
fn reference(value: &Value) -> String {
    match value {
        Value::Tagged(tagged) => format!(
            "{} {}",
            tagged.tag.to_string().trim_start_matches('!'),
            tagged.value.as_str().unwrap_or("?")
        ),
        Value::String(text) => text.clone(),
        other => format!("{other:?}"),
    }
}

fn one_or_many(value: &Value) -> Vec<&Value> {
    match value.as_sequence() {
        Some(list) => list.iter().collect(),
        None => vec![value],
    }
}

/// `!If [UseCognitoStore, with a pool, with the users table]` as deployed with `cognito` or
/// not; `!If [UseCmk, …]` as deployed with the customer-managed key (staging and prod);
/// `None` for `!Ref AWS::NoValue`.
fn deployed(value: &Value, cognito: bool) -> Option<&Value> {
    if let Value::Tagged(tagged) = value {
        if let Some(branches) = tagged.value.as_sequence() {
            let index = match branches.first().and_then(Value::as_str) {
                Some("UseCognitoStore") => Some(if cognito { 1 } else { 2 }),
                Some("UseCmk") => Some(1),
                _ => None,
            };
            if let Some(index) = index {
                let chosen = branches.get(index)?;
                return (reference(chosen) != "Ref AWS::NoValue").then_some(chosen);
            }
        }
    }
    Some(value)
}

fn granted(template: &Value, cognito: bool) -> Result<BTreeSet<(String, String)>> {
    let policy = &template["Resources"]["AdminPolicy"];
    assert_eq!(policy["Type"].as_str(), Some("AWS::IAM::ManagedPolicy"));
    let statements = policy["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .ok_or_else(|| anyhow!("no statements"))?;
    let mut granted = BTreeSet::new();
    for statement in statements.iter().filter_map(|s| deployed(s, cognito)) {
        // The Deny of the audit mirror has its own test.
        if statement["Effect"].as_str() == Some("Deny") {
            continue;
        }
        assert_eq!(statement["Effect"].as_str(), Some("Allow"));
        assert!(statement.get("NotAction").is_none() && statement.get("NotResource").is_none());
        for action in one_or_many(&statement["Action"]) {
            let resources = deployed(&statement["Resource"], cognito).map(one_or_many);
            for resource in resources.into_iter().flatten() {
                granted.insert((reference(action), reference(resource)));
            }
        }
    }
    Ok(granted)
}

/// With a Cognito pool the administrators manage the accounts in the pool: no users table to
/// write, and mail-problems reads the account-state table's index.
#[test]
fn with_a_pool_the_admin_policy_has_no_users_table() -> Result<()> {
    let granted = granted(&template()?, true)?;
    assert!(
        granted.iter().all(|(_, resource)| !resource.contains("UsersTable")),
        "{granted:?}"
    );
    assert!(granted.contains(&(
        "dynamodb:Query".into(),
        "Sub ${AccountStateTable.Arn}/index/mail-problems".into()
    )));
    Ok(())
}

#[test]
fn the_admin_policy_is_least_privilege_per_command() -> Result<()> {
    let template = template()?;
    let granted = granted(&template, false)?;
    let expected: BTreeSet<(String, String)> = [
        ("dynamodb:GetItem", "GetAtt UsersTable.Arn"),
        ("dynamodb:BatchGetItem", "GetAtt UsersTable.Arn"),
        ("dynamodb:Scan", "GetAtt UsersTable.Arn"),
        ("dynamodb:PutItem", "GetAtt UsersTable.Arn"),
        ("dynamodb:UpdateItem", "GetAtt UsersTable.Arn"),
        ("dynamodb:Query", "Sub ${UsersTable.Arn}/index/mail-problems"),
        ("dynamodb:PutItem", "GetAtt AuditLogTable.Arn"),
        ("dynamodb:Query", "GetAtt AuditLogTable.Arn"),
        ("sqs:GetQueueAttributes", "GetAtt MailQueue.Arn"),
        ("sqs:GetQueueAttributes", "GetAtt MailDeadLetterQueue.Arn"),
        ("sqs:ReceiveMessage", "GetAtt MailDeadLetterQueue.Arn"),
        ("sqs:DeleteMessage", "GetAtt MailDeadLetterQueue.Arn"),
        ("sqs:SendMessage", "GetAtt MailQueue.Arn"),
        ("dynamodb:GetItem", "GetAtt AddressRequestsTable.Arn"),
        ("dynamodb:UpdateItem", "GetAtt AddressRequestsTable.Arn"),
        ("dynamodb:Query", "Sub ${AddressRequestsTable.Arn}/index/pending"),
        ("logs:CreateLogStream", "GetAtt AdminMetricsLogGroup.Arn"),
        ("logs:PutLogEvents", "GetAtt AdminMetricsLogGroup.Arn"),
        // Scoped by kms:ViaService (infra/tests/test_kms_reach.py proves the scope).
        ("kms:Decrypt", "GetAtt DataKey.Arn"),
        ("kms:GenerateDataKey", "GetAtt DataKey.Arn"),
        ("logs:CreateLogStream", "GetAtt AuditLogGroup.Arn"),
        ("logs:PutLogEvents", "GetAtt AuditLogGroup.Arn"),
        ("logs:GetLogEvents", "GetAtt AuditLogGroup.Arn"),
    ]
    .into_iter()
    .map(|(a, r)| (a.to_owned(), r.to_owned()))
    .collect();
    assert_eq!(granted, expected);
    // Never a receive on the main queue: it would count toward its maxReceiveCount.
    assert!(!granted.contains(&("sqs:ReceiveMessage".into(), "GetAtt MailQueue.Arn".into())));

    assert_eq!(
        reference(&template["Outputs"]["AdminPolicyArn"]["Value"]),
        "Ref AdminPolicy"
    );
    Ok(())
}

/// The statements of the admin policy as deployed with the users table.
fn statements(template: &Value) -> Result<Vec<&Value>> {
    Ok(
        template["Resources"]["AdminPolicy"]["Properties"]["PolicyDocument"]["Statement"]
            .as_sequence()
            .ok_or_else(|| anyhow!("no statements"))?
            .iter()
            .filter_map(|s| deployed(s, false))
            .collect(),
    )
}

/// `pub const NAME: &str = "value";` of a source file.
fn constants(source: &str) -> Result<std::collections::HashMap<String, String>> {
    Ok(regex::Regex::new(r#"const (\w+): &str = "([^"]+)";"#)?
        .captures_iter(source)
        .map(|c| (c[1].to_owned(), c[2].to_owned()))
        .collect())
}

/// Every attribute reset-admin's account code names in an update or condition expression (or
/// an `#name` it maps), as the users table's attribute constants resolve them.
fn attributes_the_cli_updates() -> Result<BTreeSet<String>> {
    let root = env!("CARGO_MANIFEST_DIR");
    let names = constants(&std::fs::read_to_string(format!(
        "{root}/functions/reset-core/src/store/dynamo.rs"
    ))?)?;
    let source = std::fs::read_to_string(format!("{root}/admin/src/accounts.rs"))?;
    let expression = regex::Regex::new(
        // `epoch_moved_on(clauses)`, the one function that moves the epoch on, adds
        // `credential_epoch` to its clauses.
        r#"\.(?:update_expression|condition_expression)\(\s*(epoch_moved_on\(&?)?(?:format!\()?\s*"((?:[^"\\]|\\[\s\S])*)""#,
    )?;
    let placeholder = regex::Regex::new(r"\{([A-Z][A-Z0-9_]*)\}")?;
    let mapped = regex::Regex::new(r##"expression_attribute_names\(\s*"#\w+",\s*([A-Z][A-Z_]*)\)"##)?;
    let mut found = BTreeSet::new();
    for text in expression.captures_iter(&source) {
        if text.get(1).is_some() {
            found.insert(
                names
                    .get("CREDENTIAL_EPOCH")
                    .cloned()
                    .ok_or_else(|| anyhow!("no CREDENTIAL_EPOCH"))?,
            );
        }
        for name in placeholder.captures_iter(&text[2]) {
            found.insert(
                names
                    .get(&name[1])
                    .cloned()
                    .ok_or_else(|| anyhow!("no constant {}", &name[1]))?,
            );
        }
    }
    for name in mapped.captures_iter(&source) {
        found.insert(
            names
                .get(&name[1])
                .cloned()
                .ok_or_else(|| anyhow!("no constant {}", &name[1]))?,
        );
    }
    Ok(found)
}

fn attribute_limit(statement: &Value) -> Option<BTreeSet<String>> {
    statement["Condition"]["ForAllValues:StringEquals"]
        .get("dynamodb:Attributes")
        .and_then(Value::as_sequence)
        .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
}

/// Issue 23: an administrator's credentials write the users table only through the attributes
/// reset-admin writes. A write statement on the table without the condition fails here.
#[test]
fn the_admin_policy_writes_the_users_table_only_through_the_attributes_the_cli_writes() -> Result<()> {
    use password_reset_tests::reset_core::domain::{Email, Language, Timestamp, User, Username};
    let template = template()?;
    let mut limits = std::collections::BTreeMap::new();
    for statement in statements(&template)? {
        if statement["Effect"].as_str() != Some("Allow") || reference(&statement["Resource"]) != "GetAtt UsersTable.Arn"
        {
            continue;
        }
        for action in one_or_many(&statement["Action"]) {
            let action = reference(action);
            let writes = [
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:BatchWriteItem",
            ];
            if !writes.contains(&action.as_str()) {
                continue;
            }
            let limit = attribute_limit(statement)
                .ok_or_else(|| anyhow!("{action} on the users table without a dynamodb:Attributes condition"))?;
            limits.insert(action, limit);
        }
    }
    // A new account with a first password: what `user create` and `import` put.
    let user = User {
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        ..User::new_active(
            Username::parse("ex000000")?,
            Email::parse("ex000000@example.jp")?,
            Language::Ja,
            Timestamp::from_millis(1),
        )?
    };
    let put: BTreeSet<String> = serde_json::to_value(&user)?
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(
        limits.get("dynamodb:PutItem"),
        Some(&put),
        "PutItem: what a new account holds"
    );
    assert!(!put.contains("password_changed_at") && !put.contains("mail_problem"));
    let updated = attributes_the_cli_updates()?;
    assert_eq!(
        limits.get("dynamodb:UpdateItem"),
        Some(&updated),
        "UpdateItem: what the tool's updates name"
    );
    assert!(
        !updated.contains("password_hash"),
        "an update can never write a password hash"
    );
    assert_eq!(limits.len(), 2, "{limits:?}");
    Ok(())
}

/// The audit log's mirror: appended to, read, and never shrunk by the administrators.
#[test]
fn the_audit_mirror_is_append_only_for_the_administrators() -> Result<()> {
    let template = template()?;
    let group = &template["Resources"]["AuditLogGroup"];
    assert_eq!(group["Type"].as_str(), Some("AWS::Logs::LogGroup"));
    assert_eq!(group["DeletionPolicy"].as_str(), Some("Retain"));
    let deny = statements(&template)?
        .into_iter()
        .find(|s| s["Effect"].as_str() == Some("Deny"))
        .ok_or_else(|| anyhow!("no Deny statement"))?;
    assert_eq!(reference(&deny["Resource"]), "GetAtt AuditLogGroup.Arn");
    let denied: BTreeSet<String> = one_or_many(&deny["Action"]).into_iter().map(reference).collect();
    for action in [
        "logs:DeleteLogGroup",
        "logs:DeleteLogStream",
        "logs:PutRetentionPolicy",
        "logs:DeleteRetentionPolicy",
    ] {
        assert!(denied.contains(action), "{action} is not denied");
    }
    let granted = granted(&template, false)?;
    assert!(granted
        .iter()
        .all(|(action, resource)| !(resource.contains("AuditLogGroup") && action.contains("Delete"))));
    Ok(())
}

/// Every source file of reset-admin, with its text.
fn admin_sources() -> Result<Vec<(String, String)>> {
    fn walk(dir: &std::path::Path, found: &mut Vec<(String, String)>) -> Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, found)?;
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push((path.display().to_string(), std::fs::read_to_string(&path)?));
            }
        }
        Ok(())
    }
    let mut found = Vec::new();
    walk(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/admin/src")),
        &mut found,
    )?;
    Ok(found)
}

/// The Cognito operations reset-admin calls (`.admin_get_user()` → `cognito-idp:AdminGetUser`),
/// all of them in admin/src/pool.rs.
fn pool_calls_of_the_cli() -> Result<BTreeSet<String>> {
    let call = regex::Regex::new(r"\.admin_([a-z_]+)\(\)")?;
    let mut found = BTreeSet::new();
    for (path, source) in admin_sources()? {
        for name in call.captures_iter(&source) {
            assert!(
                path.ends_with("pool.rs"),
                "{path} calls the pool (admin_{}): keep every pool call in admin/src/pool.rs",
                &name[1]
            );
            let pascal: String = name[1]
                .split('_')
                .map(|word| {
                    let mut chars = word.chars();
                    chars
                        .next()
                        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                        .unwrap_or_default()
                })
                .collect();
            found.insert(format!("cognito-idp:Admin{pascal}"));
        }
    }
    Ok(found)
}

/// Every attribute the pool path names in its expressions (`{CONSTANT}` placeholders, the epoch
/// when it moves it with `epoch_moved_on`), and the key.
fn attributes_the_pool_path_writes() -> Result<BTreeSet<String>> {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut names = constants(&std::fs::read_to_string(format!(
        "{root}/functions/reset-core/src/store/dynamo.rs"
    ))?)?;
    names.extend(constants(&std::fs::read_to_string(format!(
        "{root}/functions/reset-core/src/store/dynamo_claims.rs"
    ))?)?);
    let source = std::fs::read_to_string(format!("{root}/admin/src/pool.rs"))?;
    let placeholder = regex::Regex::new(r"\{([A-Z][A-Z0-9_]*)\}")?;
    let mut found: BTreeSet<String> = placeholder
        .captures_iter(&source)
        .map(|name| {
            names
                .get(&name[1])
                .cloned()
                .ok_or_else(|| anyhow!("no constant {}", &name[1]))
        })
        .collect::<Result<_>>()?;
    if source.contains("epoch_moved_on(") {
        found.insert("credential_epoch".into());
    }
    found.insert("username".into());
    Ok(found)
}

/// Issue 27: with a pool the administrators change the pool's users through its admin API and
/// move each account's epoch in the account-state table. The policy grants on the pool exactly
/// the calls reset-admin makes (a call added without its grant, or a grant left after its call
/// went, fails here), on the pool's ARN only; on the state table a read and an update limited to
/// the attributes the pool path writes (never the change claim, never a password change time).
#[test]
fn with_a_pool_the_admin_policy_grants_exactly_the_pool_calls_the_cli_makes() -> Result<()> {
    let template = template()?;
    let granted = granted(&template, true)?;
    let pool = "Sub arn:${AWS::Partition}:cognito-idp:${AWS::Region}:${AWS::AccountId}:userpool/${UserPoolId}";
    let on_pool: BTreeSet<String> = granted
        .iter()
        .filter(|(action, _)| action.starts_with("cognito-idp:"))
        .map(|(action, resource)| {
            assert_eq!(resource, pool, "{action} on another resource than the pool");
            action.clone()
        })
        .collect();
    let called = pool_calls_of_the_cli()?;
    assert!(called.contains("cognito-idp:AdminGetUser"), "{called:?}");
    assert_eq!(on_pool, called, "granted on the pool vs called by reset-admin");
    assert!(
        !on_pool
            .iter()
            .any(|a| a.contains("SetUserPassword") || a.contains("DeleteUser")),
        "{on_pool:?}"
    );

    let on_state: BTreeSet<&str> = granted
        .iter()
        .filter(|(_, resource)| resource == "GetAtt AccountStateTable.Arn")
        .map(|(action, _)| action.as_str())
        .collect();
    assert_eq!(on_state, BTreeSet::from(["dynamodb:GetItem", "dynamodb:UpdateItem"]));
    let update = template["Resources"]["AdminPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .ok_or_else(|| anyhow!("no statements"))?
        .iter()
        .filter_map(|s| deployed(s, true))
        .find(|s| {
            reference(&s["Resource"]) == "GetAtt AccountStateTable.Arn"
                && one_or_many(&s["Action"])
                    .into_iter()
                    .any(|a| reference(a) == "dynamodb:UpdateItem")
        })
        .ok_or_else(|| anyhow!("no UpdateItem on the account-state table"))?;
    let limit =
        attribute_limit(update).ok_or_else(|| anyhow!("the state update has no dynamodb:Attributes condition"))?;
    let written = attributes_the_pool_path_writes()?;
    assert_eq!(limit, written, "granted vs written on the account-state table");
    for never in [
        "change_claim",
        "change_claimed_at",
        "password_changed_at",
        "email",
        "password_hash",
    ] {
        assert!(!limit.contains(never), "{never} is writable");
    }
    // Nothing of the pool without a pool.
    assert!(granted_without_pool_has_no_pool(&template)?);
    Ok(())
}

fn granted_without_pool_has_no_pool(template: &Value) -> Result<bool> {
    Ok(granted(template, false)?
        .iter()
        .all(|(action, resource)| !action.starts_with("cognito-idp:") && !resource.contains("AccountStateTable")))
}
