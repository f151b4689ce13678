//! Secrets Manager against a moto server: the webhook function's secret is
//! read by name and by ARN, a rotated value is what the next read (a new
//! sandbox) gets, and a missing secret is an error that names it.

#![cfg(feature = "secretsmanager")]

use aws_adapters::secrets::{SecretFetchError, Secrets};
use test_kit::moto::{MotoServer, sdk_config};
use test_kit::store_contract::unique;

#[tokio::test]
async fn a_secret_is_read_by_name_and_by_arn_and_a_rotation_is_seen_by_the_next_read() {
    let config = sdk_config(&MotoServer::shared().endpoint).await;
    let admin = aws_sdk_secretsmanager::Client::new(&config);
    let name = unique("trade-assurance/webhook-secrets-");
    let first = r#"{"card":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}"#;
    let created = admin
        .create_secret()
        .name(&name)
        .secret_string(first)
        .send()
        .await
        .unwrap();
    let arn = created.arn.unwrap();
    let secrets = Secrets::from_config(&config);
    assert_eq!(secrets.string(&name).await.unwrap(), first);
    assert_eq!(secrets.string(&arn).await.unwrap(), first);

    let rotated = r#"{"card":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whsec_dGVzdC1zZWNvbmQta2V5"}"#;
    admin
        .put_secret_value()
        .secret_id(&name)
        .secret_string(rotated)
        .send()
        .await
        .unwrap();
    assert_eq!(secrets.string(&name).await.unwrap(), rotated);
}

#[tokio::test]
async fn a_missing_secret_is_an_error_naming_it() {
    let config = sdk_config(&MotoServer::shared().endpoint).await;
    let name = unique("trade-assurance/missing-");
    match Secrets::from_config(&config).string(&name).await {
        Err(e @ SecretFetchError::Call { .. }) => assert!(e.to_string().contains(&name), "{e}"),
        other => panic!("{other:?}"),
    }
}
