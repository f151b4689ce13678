//! `hello-lambda`: the floor for cold-start measurements. A `lambda_runtime`
//! function with nothing else: no logging set-up, no configuration, no SDK.
//! Any event gets `{"ok":true}`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({ "ok": true }))
    }))
    .await
}
