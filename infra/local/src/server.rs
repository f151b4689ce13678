//! The HTTP/1.1 server: hyper on tokio, loopback only, one task per
//! connection; each request becomes an [`Incoming`] for the gateway.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::ports::{Backend, EventBus};
use http_api::request::ApiResponse;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming as Body};
use hyper::header::{HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::gateway::{self, Incoming, MAX_PAYLOAD_BYTES};
use crate::queue::StackQueue;
use crate::schedules::{Ticker, TickerConfig};
use crate::stack::Stack;

/// A client that sends no complete request head within this is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Bind `127.0.0.1:port` (0: any free port).
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}

/// Serve, with the schedules' ticker alongside (none if `ticker` turns it
/// off): the ticker stops when serving ends or this future is dropped.
pub async fn serve_with_ticker<B: Backend, U: EventBus + 'static, Q: StackQueue>(
    listener: TcpListener,
    stack: Arc<Stack<B, U, Q>>,
    ticker: TickerConfig,
) -> std::io::Result<()> {
    let _ticker = Ticker::spawn(Arc::clone(&stack), ticker);
    serve(listener, stack).await
}

/// Serve connections from `listener` until the process ends.
pub async fn serve<B: Backend, U: EventBus + 'static, Q: StackQueue>(
    listener: TcpListener,
    stack: Arc<Stack<B, U, Q>>,
) -> std::io::Result<()> {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait, go on.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let stack = Arc::clone(&stack);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let stack = Arc::clone(&stack);
                async move { Ok::<_, Infallible>(handle(&stack, req).await) }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "connection closed with an error");
            }
        });
    }
}

/// A request id in the manner of API Gateway's (`apigw-requestid`).
fn request_id() -> String {
    format!("{:016x}", app::ids::Entropy::next_u64(&app::ids::OsEntropy))
}

async fn handle<B: Backend, U: EventBus, Q: StackQueue>(
    stack: &Stack<B, U, Q>,
    req: Request<Body>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let request_id = request_id();
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let response = match Limited::new(body, MAX_PAYLOAD_BYTES).collect().await {
        Ok(collected) => {
            let incoming = Incoming {
                method: method.clone(),
                path: path.clone(),
                raw_query: parts.uri.query().unwrap_or_default().to_owned(),
                headers: headers(&parts.headers),
                body: collected.to_bytes().to_vec(),
            };
            gateway::respond(stack, incoming, &request_id).await
        }
        // Over the limit, or the client went away mid-body.
        Err(_) => gateway::too_large(),
    };
    tracing::info!(
        request_id,
        %method,
        %path,
        status = response.status,
        ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "request"
    );
    to_hyper(response, &request_id)
}

/// Header names in lower case (hyper's are already); repeated headers
/// joined with `,` as API Gateway does; values that are not text dropped.
fn headers(map: &hyper::HeaderMap) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in map {
        let Ok(value) = value.to_str() else { continue };
        match out.iter_mut().find(|(k, _)| k == name.as_str()) {
            Some((_, joined)) => {
                joined.push(',');
                joined.push_str(value);
            }
            None => out.push((name.as_str().to_owned(), value.to_owned())),
        }
    }
    out
}

fn to_hyper(r: ApiResponse, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(r.body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(r.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if let Ok(ct) = HeaderValue::from_str(&r.content_type) {
        headers.insert(hyper::header::CONTENT_TYPE, ct);
    }
    for (name, value) in &r.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert(HeaderName::from_static("apigw-requestid"), id);
    }
    response
}
