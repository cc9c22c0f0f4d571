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
