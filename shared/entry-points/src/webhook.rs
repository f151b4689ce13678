//! The providers' webhook on Lambda, for `payment-webhook`: the route's
//! handler is `http_api::webhook::Webhooks`; this is its runtime loop.

use app::ports::Clock;
use aws_adapters::sqs::SqsQueue;
use http_api::problem::ApiError;
use http_api::webhook::{ProviderSecrets, Webhooks};
use lambda_http::{Error, Request, service_fn};
use tokio::sync::OnceCell;

use crate::api_gateway::{to_api_request, to_lambda_response};

/// The environment variable naming the Secrets Manager secret (name or
/// ARN) that holds the providers' webhook secrets.
pub const SECRET_ID_VARIABLE: &str = "WEBHOOK_SECRET_ID";

/// The providers' secrets: read from Secrets Manager once per sandbox, on
/// the first delivery (so the cold start builds no Secrets Manager client
/// and makes no call), then kept. Without `WEBHOOK_SECRET_ID` — the local
/// stack — from the `WEBHOOK_SECRET_<PROVIDER>` variables.
async fn secrets(config: &aws_config::SdkConfig) -> Result<ProviderSecrets, String> {
    let chain = |e: &dyn std::error::Error| app::error::error_chain(e);
    match crate::config::secret_named_by(config, SECRET_ID_VARIABLE).await {
        Some(value) => {
            ProviderSecrets::from_json(&value.map_err(|e| chain(&e))?).map_err(|e| chain(&e))
        }
        None => ProviderSecrets::from_env(None).map_err(|e| chain(&e)),
    }
}

/// The `payment-webhook` function's `main`: the SQS client built once,
/// the secrets read on the first delivery and kept for the sandbox's life
/// (a rotation reaches new sandboxes without a redeploy; during one, the
/// secret holds both keys), then the runtime loop. A delivery that finds
/// the secrets unreadable is answered 503 (the provider retries) and the
/// next one tries again. The signature is checked on the real clock.
pub async fn serve() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    app::metrics::set_function("payment-webhook");
    let queue_url = crate::config::env("QUEUE_URL")?;
    let config = crate::config::load().await;
    let queue = SqsQueue::from_config(&config, queue_url);
    let webhooks: OnceCell<Webhooks<SqsQueue>> = OnceCell::new();
    let (webhooks, config, queue) = (&webhooks, &config, &queue);
    lambda_http::run(service_fn(move |req: Request| async move {
        let request = to_api_request(&req);
        let ready = webhooks
            .get_or_try_init(|| async {
                secrets(config).await.map(|secrets| Webhooks {
                    queue: queue.clone(),
                    secrets,
                })
            })
            .await;
        let response = match ready {
            Ok(webhooks) => {
                let now = app::clock::SystemClock.now();
                webhooks.handle(&request, now.timestamp(), now).await
            }
            Err(e) => {
                tracing::error!(error = %e, "the webhook secrets could not be read; answered 503");
                ApiError::Unavailable.logged_response(&request.request_id)
            }
        };
        Ok::<_, Error>(to_lambda_response(response))
    }))
    .await
}
