//! The audit log is tamper-evident (issue 23, point 5): every entry links to the previous one
//! of its account and is mirrored to a CloudWatch Logs group (moto's, locally) as it is
//! committed; `reset-admin audit verify` finds a rewritten entry, a removed one and one forged
//! around the tool, and names the first broken link.

use crate::admin_support::*;
use anyhow::{anyhow, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use password_reset_tests::reset_core::domain::{AccountStatus, Email};
use reset_admin::audit::{AuditEntry, CHAIN_START};
use reset_admin::audit_chain::{check_chain, Break};
use reset_admin::Accounts;

/// Three audited changes of a new account, through the tool's library.
async fn account_with_history(accounts: &Accounts) -> Result<password_reset_tests::reset_core::domain::Username> {
    let username = created_by_admin()?;
    // Each change at its own time, so that the entries' ids sort as they were written.
    let change = || admin_change("helpdesk-test", "ticket 1");
    accounts
        .set_status(&username, AccountStatus::Disabled, &change().await?)
        .await?;
    accounts
        .set_status(&username, AccountStatus::Active, &change().await?)
        .await?;
    let moved = Email::parse(&format!("{}@moved.example.jp", username.as_str()))?;
    accounts.set_email(&username, &moved, &change().await?).await?;
    Ok(username)
}

fn oldest_first(mut entries: Vec<AuditEntry>) -> Vec<AuditEntry> {
    entries.sort_by(|a, b| a.audit_id.cmp(&b.audit_id));
    entries
}

#[tokio::test]
async fn every_entry_is_chained_and_mirrored_and_verify_says_the_chain_is_intact() -> Result<()> {
    let accounts = Accounts::from_env().await?;
    let mirror = accounts.mirror().ok_or_else(|| anyhow!("AUDIT_LOG_GROUP is not set"))?;
    let username = account_with_history(&accounts).await?;
    let entries = oldest_first(accounts.audit_trail(&username).await?);
    assert_eq!(entries.len(), 4, "create, disable, enable, set-email");
    assert_eq!(entries[0].prev_hash.as_deref(), Some(CHAIN_START));
    for pair in entries.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash, "each entry links to the one before");
    }
    let mirrored = mirror.entries(&username.clone().into()).await.map_err(|e| anyhow!(e))?;
    assert_eq!(
        mirrored.iter().map(|e| e.hash.clone()).collect::<Vec<_>>(),
        entries.iter().map(|e| e.hash.clone()).collect::<Vec<_>>()
    );
    let verified = reset_admin(&["audit", "verify", username.as_str()])?;
    assert!(verified.status.success(), "{}", text(&verified));
    assert!(text(&verified).contains("the chain is intact"), "{}", text(&verified));
    Ok(())
}

#[tokio::test]
async fn verify_names_the_first_rewritten_removed_or_forged_entry() -> Result<()> {
    let accounts = Accounts::from_env().await?;
    let username = account_with_history(&accounts).await?;
    let entries = oldest_first(accounts.audit_trail(&username).await?);
    let key = |entry: &AuditEntry| {
        [
            ("username".to_owned(), AttributeValue::S(entry.subject.key().to_owned())),
            ("audit_id".to_owned(), AttributeValue::S(entry.audit_id.clone())),
        ]
    };

    // An administrator's credentials overwrite the disable entry's reason (a PutItem IAM allows).
    let target = &entries[1];
    accounts
        .client()
        .update_item()
        .table_name(accounts.audit_table())
        .set_key(Some(key(target).into_iter().collect()))
        .update_expression("SET reason = :r")
        .expression_attribute_values(":r", AttributeValue::S("nothing happened".into()))
        .send()
        .await?;
    let refused = reset_admin(&["audit", "verify", username.as_str()])?;
    assert_refused(&refused, &format!("first broken link at entry {}", target.audit_id));
    assert!(
        text(&refused).contains("changed after it was written"),
        "{}",
        text(&refused)
    );

    // The same, with every later hash recomputed so that the table is consistent in itself:
    // the mirror still holds the original.
    let mut forged = entries.clone();
    forged[1].reason = "nothing happened".into();
    for i in 1..forged.len() {
        let prev = forged[i - 1].hash.clone();
        forged[i] = forged[i].clone().linked_after(prev.as_deref());
    }
    let mirror = accounts.mirror().ok_or_else(|| anyhow!("AUDIT_LOG_GROUP is not set"))?;
    let mirrored = mirror.entries(&username.clone().into()).await.map_err(|e| anyhow!(e))?;
    assert_eq!(
        check_chain(&forged, None).first_break,
        None,
        "a recomputed chain is consistent in itself"
    );
    let found = check_chain(&forged, Some(&mirrored))
        .first_break
        .ok_or_else(|| anyhow!("not found"))?;
    assert_eq!(
        (found.audit_id.as_str(), found.why),
        (target.audit_id.as_str(), Break::MissingFromTable)
    );

    // The newest entry deleted: only the mirror remembers it.
    let other = account_with_history(&accounts).await?;
    let history = oldest_first(accounts.audit_trail(&other).await?);
    let newest = history.last().ok_or_else(|| anyhow!("no entries"))?;
    accounts
        .client()
        .delete_item()
        .table_name(accounts.audit_table())
        .set_key(Some(key(newest).into_iter().collect()))
        .send()
        .await?;
    let refused = reset_admin(&["audit", "verify", other.as_str()])?;
    assert_refused(&refused, &format!("first broken link at entry {}", newest.audit_id));
    assert!(text(&refused).contains("the mirror holds it"), "{}", text(&refused));
    Ok(())
}
