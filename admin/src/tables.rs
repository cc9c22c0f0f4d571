//! Creates the template's tables on a DynamoDB endpoint (DynamoDB Local in `make run` /
//! `make test`). Point-in-time recovery and deletion protection are cloud-only settings that
//! DynamoDB Local refuses, so they are not applied here.

use crate::template::{IndexDefinition, TableDefinition};
use anyhow::{anyhow, Context, Result};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    New,
    AlreadyThere,
}

fn key_elements(keys: &[crate::template::KeyElement]) -> Result<Vec<KeySchemaElement>> {
    keys.iter()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(&k.name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| anyhow!(e))
        })
        .collect()
}

/// Creates one table named `name` after `definition`; an existing table is left as it is.
pub async fn create_table(client: &Client, name: &str, definition: &TableDefinition) -> Result<Created> {
    let attributes = definition
        .attribute_definitions
        .iter()
        .map(|(attribute, kind)| {
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()
                .map_err(|e| anyhow!(e))
        })
        .collect::<Result<Vec<_>>>()?;
    let indexes = definition
        .global_secondary_indexes
        .iter()
        .map(global_secondary_index)
        .collect::<Result<Vec<_>>>()?;
    let result = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_elements(&definition.key_schema)?))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .send()
        .await;
    match result {
        Ok(_) => {}
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            return Ok(Created::AlreadyThere)
        }
        Err(error) => {
            return Err(anyhow!(aws_sdk_dynamodb::error::DisplayErrorContext(error)))
                .with_context(|| format!("creating table {name}"))
        }
    }
    if let Some(attribute) = &definition.ttl_attribute {
        enable_ttl(client, name, attribute).await?;
    }
    Ok(Created::New)
}

/// One global secondary index as CreateTable takes it.
fn global_secondary_index(index: &IndexDefinition) -> Result<GlobalSecondaryIndex> {
    let projection = Projection::builder()
        .projection_type(ProjectionType::from(index.projection_type.as_str()))
        .set_non_key_attributes((!index.non_key_attributes.is_empty()).then(|| index.non_key_attributes.clone()))
        .build();
    GlobalSecondaryIndex::builder()
        .index_name(&index.name)
        .set_key_schema(Some(key_elements(&index.key_schema)?))
        .projection(projection)
        .build()
        .map_err(|e| anyhow!(e))
}

/// Expiry by the table's TTL attribute.
async fn enable_ttl(client: &Client, name: &str, attribute: &str) -> Result<()> {
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(attribute)
                .enabled(true)
                .build()
                .map_err(|e| anyhow!(e))?,
        )
        .send()
        .await
        .map_err(|e| anyhow!(aws_sdk_dynamodb::error::DisplayErrorContext(e)))
        .with_context(|| format!("enabling TTL on {name}"))?;
    Ok(())
}
