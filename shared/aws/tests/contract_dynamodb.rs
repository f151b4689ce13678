//! The store contract, run against the DynamoDB adapter talking to a real
//! DynamoDB-compatible server (moto, one request at a time). If moto cannot
//! be started these tests fail; they never skip.

use aws_adapters::dynamodb::DynamoStore;
use aws_adapters::test_support::{MotoServer, sdk_config};

async fn backend() -> DynamoStore {
    let moto = MotoServer::shared();
    let config = sdk_config(&moto.endpoint).await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        "trade-assurance-contract",
    );
    if let Err(e) = store.create_table_if_missing().await {
        panic!(
            "cannot create the table on moto at {}: {e:?}",
            moto.endpoint
        );
    }
    store
}

app::contract_suite!(backend());
