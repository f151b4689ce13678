//! API Gateway HTTP API (payload 2.0) requests into the API every routed
//! function runs: the request as the API reads it (the caller's claims
//! from the JWT authorizer's context), the answer as API Gateway wants it,
//! and each function's runtime loop serving the endpoints its `main` names.

use app::ports::{Backend, Clock};
use http_api::Api;
use http_api::request::{ApiRequest, ApiResponse, Claims};
use http_api::routes::Endpoint;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

/// What a routed function's `main` returns when it cannot start or run.
#[cfg(feature = "lambda")]
pub use lambda_http::Error;

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

/// Answer one invocation with the endpoints `serves`.
pub async fn invoke<B: Backend, C: Clock>(
    api: &Api<B, C>,
    serves: &[Endpoint],
    req: Request,
) -> Response<Body> {
    let request = to_api_request(&req);
    to_lambda_response(api.handle(Some(serves), &request).await)
}

/// A routed function's `main`: `function` serves exactly `endpoints`
/// (checked against the route table: a function that names another's
/// route, or misses one of its own, does not start). Logging that honours
/// Lambda's log level and format, the clocks, the SDK configuration and
/// the DynamoDB backend built once, then the runtime loop.
#[cfg(feature = "lambda")]
pub async fn serve(
    function: &'static str,
    endpoints: &'static [Endpoint],
) -> Result<(), lambda_http::Error> {
    use lambda_http::service_fn;
    lambda_http::tracing::init_default_subscriber();
    http_api::routes::check_served(function, endpoints)?;
    app::metrics::set_function(function);
    let clocks = crate::config::clocks()?;
    let config = crate::config::load().await;
    let api = Api {
        backend: crate::config::store(&config)?,
        clock: app::clock::SystemClock,
        ids: app::ids::Ids::os(),
        clocks,
    };
    let api = &api;
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, lambda_http::Error>(invoke(api, endpoints, req).await)
    }))
    .await
}
