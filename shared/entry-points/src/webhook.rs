//! The providers' webhook on Lambda, for `payment-webhook`: the route's
//! handler is `http_api::webhook::Webhooks`; this is its runtime loop.

use app::ports::Clock;
use http_api::webhook::{ProviderSecrets, Webhooks};
use lambda_http::{Error, Request, service_fn};

use crate::api_gateway::{to_api_request, to_lambda_response};

/// The `payment-webhook` function's `main`: the secrets from the
/// environment (resolved there from Secrets Manager at deploy: nothing to
/// fetch at cold start) and the SQS client built once, then the runtime
/// loop. The signature is checked on the real clock.
pub async fn serve() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let queue_url = crate::config::env("QUEUE_URL")?;
    let secrets = ProviderSecrets::from_env(None)?;
    let config = crate::config::load().await;
    let queue = aws_adapters::sqs::SqsQueue::from_config(&config, queue_url);
    let webhooks = Webhooks { queue, secrets };
    let webhooks = &webhooks;
    lambda_http::run(service_fn(move |req: Request| async move {
        let request = to_api_request(&req);
        let now = app::clock::SystemClock.now();
        let response = webhooks.handle(&request, now.timestamp(), now).await;
        Ok::<_, Error>(to_lambda_response(response))
    }))
    .await
}
