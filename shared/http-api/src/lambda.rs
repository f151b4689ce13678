//! Serving the API on Lambda: API Gateway HTTP API (payload 2.0) events in,
//! responses out, the DynamoDB backend built once per cold start.

use app::clock::SystemClock;
use app::ports::{Backend, Clock};
use aws_adapters::dynamodb::DynamoStore;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response, service_fn};

use crate::request::{ApiRequest, ApiResponse, Claims};
use crate::{Api, new_order_id};

/// The caller's claims as API Gateway's JWT authorizer put them in the
/// request context (functions never parse a token themselves).
pub fn claims(req: &Request) -> Claims {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            let jwt = ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref());
            Claims {
                sub: jwt.and_then(|j| j.claims.get("sub").cloned()),
                groups: jwt.and_then(|j| j.claims.get("cognito:groups").cloned()),
            }
        }
        _ => Claims::default(),
    }
}

pub fn to_api_request(req: &Request) -> ApiRequest {
    let request_id = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone().unwrap_or_default(),
        _ => String::new(),
    };
    ApiRequest {
        method: req.method().as_str().to_owned(),
        path: req.uri().path().to_owned(),
        query: req
            .query_string_parameters_ref()
            .map(|q| {
                q.iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        headers: req
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_ascii_lowercase(), v.to_owned()))
            })
            .collect(),
        body: req.body().as_ref().to_vec(),
        claims: claims(req),
        request_id,
    }
}

pub fn to_lambda_response(r: ApiResponse) -> Response<Body> {
    let mut builder = Response::builder()
        .status(r.status)
        .header("content-type", r.content_type);
    for (k, v) in r.headers {
        builder = builder.header(k, v);
    }
    builder
        .body(Body::Text(r.body))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

/// Answer one Lambda invocation for `function`.
pub async fn invoke<B: Backend, C: Clock>(
    api: &Api<B, C>,
    function: &str,
    req: Request,
) -> Response<Body> {
    let request = to_api_request(&req);
    to_lambda_response(api.handle(Some(function), &request).await)
}

/// A function's `main`: logging that honours Lambda's log level and format,
/// SDK config and the DynamoDB client built once, then the runtime loop.
pub async fn serve(function: &'static str) -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let table = std::env::var("TABLE_NAME").map_err(|_| "TABLE_NAME is not set")?;
    let config = aws_adapters::sdk_config::load().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), table);
    let api = Api {
        backend: store,
        clock: SystemClock,
        ids: new_order_id,
        clocks: crate::clocks_from_env()?,
    };
    let api = &api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Error>(invoke(api, function, req).await)
    }))
    .await
}

/// The `payment-webhook` function's `main`: the secrets from the
/// environment (resolved there from Secrets Manager at deploy: nothing to
/// fetch at cold start) and the SQS client built once, then the runtime
/// loop. The signature is checked on the real clock.
#[cfg(feature = "webhook")]
pub async fn serve_webhooks() -> Result<(), Error> {
    use crate::webhook::{ProviderSecrets, Webhooks};
    lambda_http::tracing::init_default_subscriber();
    let queue_url = std::env::var("QUEUE_URL").map_err(|_| "QUEUE_URL is not set")?;
    let secrets = ProviderSecrets::from_env(None)?;
    let config = aws_adapters::sdk_config::load().await;
    let queue = aws_adapters::sqs::SqsQueue::new(aws_sdk_sqs::Client::new(&config), queue_url);
    let webhooks = Webhooks { queue, secrets };
    let webhooks = &webhooks;
    lambda_http::run(service_fn(move |req: Request| async move {
        let request = to_api_request(&req);
        let now = SystemClock.now();
        let response = webhooks.handle(&request, now.timestamp(), now).await;
        Ok::<_, Error>(to_lambda_response(response))
    }))
    .await
}
