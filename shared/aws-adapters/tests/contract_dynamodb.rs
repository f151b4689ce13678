//! The store contract, run against the DynamoDB adapter talking to a real
//! DynamoDB-compatible server (moto, one request at a time). If moto cannot
//! be started these tests fail; they never skip.

use aws_adapters::dynamodb::DynamoStore;
use test_kit::moto::{MotoServer, sdk_config};

async fn backend() -> DynamoStore {
    backend_in("trade-assurance-contract").await
}

/// A table of its own, for the cases that read the whole deadline index
/// and drain the whole outbox.
async fn own_table() -> DynamoStore {
    backend_in(&test_kit::store_contract::unique("ta-sweep-")).await
}

async fn backend_in(table: &str) -> DynamoStore {
    let moto = MotoServer::shared();
    let config = sdk_config(&moto.endpoint).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    if let Err(e) = store.create_table_if_missing().await {
        panic!(
            "cannot create the table on moto at {}: {e:?}",
            moto.endpoint
        );
    }
    store
}

test_kit::contract_suite!(backend());
test_kit::sweep_contract_suite!(own_table());
