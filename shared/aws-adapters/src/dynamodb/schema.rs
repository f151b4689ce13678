//! The table as `app::table::SCHEMA` defines it, created for local use
//! and tests (the template creates it in AWS).

use app::error::ConflictKind;
use app::ports::StoreResult;
use app::table::SCHEMA;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::*;

impl DynamoStore {
    /// Create the table from [`SCHEMA`] if it does not exist (the local
    /// stack and tests; in AWS the SAM template creates it), and enable TTL.
    pub async fn create_table_if_missing(&self) -> StoreResult<()> {
        let exists = self
            .client
            .describe_table()
            .table_name(&*self.table)
            .send()
            .await;
        match exists {
            Ok(_) => return Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => {}
            Err(e) => return Err(map_err(e, ConflictKind::AlreadyExists)),
        }
        let mut req = self
            .client
            .create_table()
            .table_name(&*self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(key_schema(SCHEMA.partition_key, SCHEMA.sort_key)?));
        for a in SCHEMA.key_attributes() {
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(a)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build_err)?,
            );
        }
        for g in SCHEMA.indexes {
            let mut projection = Projection::builder();
            projection = projection.projection_type(if g.project_all {
                ProjectionType::All
            } else {
                ProjectionType::KeysOnly
            });
            let mut gsi = GlobalSecondaryIndex::builder()
                .index_name(g.name)
                .projection(projection.build());
            for k in key_schema(g.partition_key, g.sort_key)? {
                gsi = gsi.key_schema(k);
            }
            req = req.global_secondary_indexes(gsi.build().map_err(build_err)?);
        }
        match req.send().await {
            Ok(_) => {}
            Err(e) if e.code() == Some("ResourceInUseException") => return Ok(()),
            Err(e) => return Err(map_err(e, ConflictKind::AlreadyExists)),
        }
        self.client
            .update_time_to_live()
            .table_name(&*self.table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(SCHEMA.ttl_attribute)
                    .build()
                    .map_err(build_err)?,
            )
            .send()
            .await
            .map_err(|e| map_err(e, ConflictKind::AlreadyExists))?;
        Ok(())
    }
}

pub(super) fn key_schema(pk: &str, sk: &str) -> StoreResult<Vec<KeySchemaElement>> {
    Ok(vec![
        KeySchemaElement::builder()
            .attribute_name(pk)
            .key_type(KeyType::Hash)
            .build()
            .map_err(build_err)?,
        KeySchemaElement::builder()
            .attribute_name(sk)
            .key_type(KeyType::Range)
            .build()
            .map_err(build_err)?,
    ])
}
