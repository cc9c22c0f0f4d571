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
    let placeholder = regex::Regex::new(r"\{([A-Z][A-Z_]*)\}")?;
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
