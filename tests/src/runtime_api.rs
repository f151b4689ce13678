//! A small emulator of the Lambda Runtime API, enough to run a real function
//! binary (`lambda_runtime` / `lambda_http`) outside AWS: one HTTP/1.1
//! server on a free loopback port, a thread per connection, std only.
//!
//! ```text
//! GET  /2018-06-01/runtime/invocation/next          one queued event (blocks)
//! POST /2018-06-01/runtime/invocation/{id}/response  the function's answer
//! POST /2018-06-01/runtime/invocation/{id}/error     the function failed
//! POST /2018-06-01/runtime/init/error                the function failed to start
//! ```
//!
//! ```no_run
//! # use std::time::Duration;
//! # use tests::runtime_api::RuntimeApi;
//! let rt = RuntimeApi::start().expect("runtime api");
//! let function = rt
//!     .spawn("target/debug/confirm-order", [("TABLE_NAME", "t")])
//!     .expect("spawn");
//! let answer = rt.invoke(&serde_json::json!({}), Duration::from_secs(30));
//! println!("cold start: {:?}", function.init_duration());
//! // `function` is killed when dropped; the server stops with `rt`.
//! ```

use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION: &str = "/2018-06-01/runtime/invocation/";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";

/// Request bodies above this are refused (the real API takes 6 MB responses).
const MAX_BODY: usize = 8 * 1024 * 1024;
/// How much of a function's stdout/stderr is kept for error messages.
const MAX_OUTPUT: usize = 256 * 1024;

/// Why an invocation produced no response.
#[derive(Debug)]
pub enum InvokeError {
    /// No response within the timeout.
    Timeout { waited: Duration, output: String },
    /// The function reported an error for this invocation
    /// (`POST …/{id}/error`).
    Function {
        error_type: Option<String>,
        body: String,
        output: String,
    },
    /// The function reported an initialisation error (`POST …/init/error`).
    Init {
        error_type: Option<String>,
        body: String,
        output: String,
    },
    /// The function process ended without answering.
    Exited {
        status: Option<ExitStatus>,
        output: String,
    },
    /// The response was not JSON.
    NotJson { body: String, output: String },
    /// The function could not be started.
    Spawn(String),
}

impl fmt::Display for InvokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvokeError::Timeout { waited, output } => write!(
                f,
                "no response within {waited:?}; function output:\n{output}"
            ),
            InvokeError::Function {
                error_type,
                body,
                output,
            } => write!(
                f,
                "the function reported an error ({}): {body}; function output:\n{output}",
                error_type.as_deref().unwrap_or("no error type")
            ),
            InvokeError::Init {
                error_type,
                body,
                output,
            } => write!(
                f,
                "the function reported an init error ({}): {body}; function output:\n{output}",
                error_type.as_deref().unwrap_or("no error type")
            ),
            InvokeError::Exited { status, output } => write!(
                f,
                "the function exited without answering ({}); function output:\n{output}",
                status.map_or_else(|| "status unknown".to_owned(), |s| s.to_string())
            ),
            InvokeError::NotJson { body, output } => write!(
                f,
                "the response is not JSON: {body:?}; function output:\n{output}"
            ),
            InvokeError::Spawn(e) => write!(f, "cannot start the function: {e}"),
        }
    }
}

impl std::error::Error for InvokeError {}

/// What the function answered for one invocation.
#[derive(Debug, Clone)]
enum Outcome {
    Response(Vec<u8>),
    Error {
        error_type: Option<String>,
        body: String,
    },
}

#[derive(Debug)]
struct Queued {
    id: String,
    body: Vec<u8>,
    deadline_ms: u128,
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Queued>,
    /// Invocations handed out by `GET /next` and not yet answered.
    in_flight: Vec<String>,
    outcomes: HashMap<String, Outcome>,
    init_error: Option<(Option<String>, String)>,
    /// Every `GET /next` received, in order.
    next_polls: Vec<Instant>,
    /// The function currently attached (see [`RuntimeApi::spawn`]).
    function: Option<FunctionState>,
    invocations: u64,
    shutdown: bool,
}

#[derive(Debug)]
struct FunctionState {
    name: String,
    spawned_at: Instant,
    first_next: Option<Instant>,
    /// Set once both of its output pipes are closed: it has exited.
    gone: bool,
    output: Vec<u8>,
    open_pipes: u8,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking connection thread must not take the emulator down.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>, d: Duration) -> MutexGuard<'a, State> {
        match self.changed.wait_timeout(guard, d) {
            Ok((g, _)) => g,
            Err(e) => e.into_inner().0,
        }
    }
}

/// A running Runtime API emulator. The server stops when it is dropped.
#[derive(Debug)]
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl RuntimeApi {
    /// Listen on `127.0.0.1` on a free port.
    pub fn start() -> io::Result<RuntimeApi> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("runtime-api-{}", addr.port()))
                .spawn(move || accept_loop(listener, shared))?
        };
        Ok(RuntimeApi {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Start a function binary against this API. The environment is the
    /// Lambda one, not the caller's: `AWS_LAMBDA_RUNTIME_API`, the function
    /// name (the binary's file name), 128 MB, version `$LATEST`, log group
    /// and stream, `PATH`, `RUST_LOG`/`RUST_BACKTRACE` if set, then `envs`
    /// (which override). Its stdout and stderr are kept for error messages.
    /// One function at a time; the process is killed when the returned
    /// handle is dropped.
    pub fn spawn<I, K, V>(&self, binary: impl AsRef<Path>, envs: I) -> Result<Function, InvokeError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        let binary = binary.as_ref();
        if !binary.is_file() {
            return Err(InvokeError::Spawn(format!(
                "{} does not exist",
                binary.display()
            )));
        }
        let name = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "function".to_owned());
        let mut cmd = Command::new(binary);
        cmd.env_clear();
        for key in ["PATH", "RUST_LOG", "RUST_BACKTRACE"] {
            if let Some(v) = std::env::var_os(key) {
                cmd.env(key, v);
            }
        }
        cmd.env("AWS_LAMBDA_RUNTIME_API", self.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local/emulator")
            .envs(envs)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());

        {
            let mut st = self.shared.lock();
            if st.function.as_ref().is_some_and(|f| !f.gone) {
                return Err(InvokeError::Spawn(
                    "a function is already attached to this runtime api".into(),
                ));
            }
            st.function = Some(FunctionState {
                name,
                spawned_at: Instant::now(),
                first_next: None,
                gone: false,
                output: Vec::new(),
                open_pipes: 2,
            });
            st.init_error = None;
        }
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                self.shared.lock().function = None;
                return Err(InvokeError::Spawn(format!("{}: {e}", binary.display())));
            }
        };
        if let Some(out) = child.stdout.take() {
            pump(out, Arc::clone(&self.shared));
        }
        if let Some(err) = child.stderr.take() {
            pump(err, Arc::clone(&self.shared));
        }
        Ok(Function {
            child: Mutex::new(child),
            shared: Arc::clone(&self.shared),
        })
    }

    /// Queue `event` for the next `GET /next` and wait up to `timeout` for
    /// the response, which must be JSON. Fails early if the attached
    /// function reports an error or exits.
    pub fn invoke(&self, event: &Value, timeout: Duration) -> Result<Value, InvokeError> {
        let bytes = self.invoke_raw(event.to_string().into_bytes(), timeout)?;
        serde_json::from_slice(&bytes).map_err(|_| InvokeError::NotJson {
            body: String::from_utf8_lossy(&bytes).into_owned(),
            output: self.output(),
        })
    }

    /// [`RuntimeApi::invoke`] with any payload and any response body.
    pub fn invoke_raw(&self, event: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, InvokeError> {
        let started = Instant::now();
        let mut st = self.shared.lock();
        st.invocations += 1;
        let id = format!(
            "{:08x}-0000-4000-8000-{:012x}",
            std::process::id(),
            st.invocations
        );
        let deadline_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_add(timeout)
            .as_millis();
        st.queue.push_back(Queued {
            id: id.clone(),
            body: event,
            deadline_ms,
        });
        self.shared.changed.notify_all();
        loop {
            if let Some(outcome) = st.outcomes.remove(&id) {
                return match outcome {
                    Outcome::Response(body) => Ok(body),
                    Outcome::Error { error_type, body } => Err(InvokeError::Function {
                        error_type,
                        body,
                        output: output_of(&st),
                    }),
                };
            }
            if let Some((error_type, body)) = st.init_error.clone() {
                st.queue.retain(|q| q.id != id);
                return Err(InvokeError::Init {
                    error_type,
                    body,
                    output: output_of(&st),
                });
            }
            if st.function.as_ref().is_some_and(|f| f.gone) {
                st.queue.retain(|q| q.id != id);
                return Err(InvokeError::Exited {
                    status: None,
                    output: output_of(&st),
                });
            }
            let waited = started.elapsed();
            if waited >= timeout {
                st.queue.retain(|q| q.id != id);
                return Err(InvokeError::Timeout {
                    waited,
                    output: output_of(&st),
                });
            }
            st = self.shared.wait(st, timeout - waited);
        }
    }

    /// How many `GET /next` requests have arrived so far.
    pub fn next_polls(&self) -> usize {
        self.shared.lock().next_polls.len()
    }

    /// When the first `GET /next` arrived, if one has.
    pub fn first_next_at(&self) -> Option<Instant> {
        self.shared.lock().next_polls.first().copied()
    }

    /// What the attached function has written to stdout and stderr so far.
    pub fn output(&self) -> String {
        output_of(&self.shared.lock())
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shared.lock().shutdown = true;
        self.shared.changed.notify_all();
        // Wake the acceptor out of `accept`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
    }
}

/// A function process attached to a [`RuntimeApi`]; killed on drop.
#[derive(Debug)]
pub struct Function {
    child: Mutex<Child>,
    shared: Arc<Shared>,
}

impl Function {
    /// Cold start: from spawning the process to its first `GET /next`
    /// (init done, ready for an event).
    pub fn init_duration(&self) -> Option<Duration> {
        let st = self.shared.lock();
        st.function
            .as_ref()
            .and_then(|f| f.first_next.map(|t| t.duration_since(f.spawned_at)))
    }

    /// Wait up to `timeout` for the first `GET /next`; the cold start.
    pub fn wait_ready(&self, timeout: Duration) -> Result<Duration, InvokeError> {
        let started = Instant::now();
        let mut st = self.shared.lock();
        loop {
            if let Some(f) = st.function.as_ref() {
                if let Some(t) = f.first_next {
                    return Ok(t.duration_since(f.spawned_at));
                }
                if f.gone {
                    return Err(InvokeError::Exited {
                        status: None,
                        output: output_of(&st),
                    });
                }
            }
            if let Some((error_type, body)) = st.init_error.clone() {
                return Err(InvokeError::Init {
                    error_type,
                    body,
                    output: output_of(&st),
                });
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(InvokeError::Timeout {
                    waited,
                    output: output_of(&st),
                });
            }
            st = self.shared.wait(st, timeout - waited);
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.lock().map(|c| c.id()).unwrap_or_default()
    }

    /// The exit status, if the process has ended.
    pub fn try_wait(&self) -> Option<ExitStatus> {
        self.child
            .lock()
            .ok()
            .and_then(|mut c| c.try_wait().ok().flatten())
    }

    /// What the function has written to stdout and stderr so far.
    pub fn output(&self) -> String {
        output_of(&self.shared.lock())
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn output_of(st: &State) -> String {
    st.function
        .as_ref()
        .map(|f| String::from_utf8_lossy(&f.output).into_owned())
        .unwrap_or_default()
}

/// Copy a child's pipe into the shared output; at EOF count the pipe closed.
fn pump(mut pipe: impl Read + Send + 'static, shared: Arc<Shared>) {
    let _ = std::thread::Builder::new()
        .name("runtime-api-output".into())
        .spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut st = shared.lock();
                        if let Some(f) = st.function.as_mut() {
                            let room = MAX_OUTPUT.saturating_sub(f.output.len());
                            f.output.extend_from_slice(&buf[..n.min(room)]);
                        }
                    }
                }
            }
            let mut st = shared.lock();
            if let Some(f) = st.function.as_mut() {
                f.open_pipes = f.open_pipes.saturating_sub(1);
                if f.open_pipes == 0 {
                    f.gone = true;
                }
            }
            shared.changed.notify_all();
        });
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.lock().shutdown {
            break;
        }
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(&shared);
        let _ = std::thread::Builder::new()
            .name("runtime-api-conn".into())
            .spawn(move || {
                let _ = serve_connection(stream, &shared);
            });
    }
}

/// One parsed request.
#[derive(Debug)]
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(e) => {
                let body = format!(r#"{{"errorMessage":"bad request: {e}"}}"#);
                let _ = write_response(&mut writer, &Response::json(400, &body), true);
                return Ok(());
            }
        };
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let Some(response) = route(&request, shared) else {
            // Shutting down while a `GET /next` waited: drop the connection.
            let _ = writer.shutdown(Shutdown::Both);
            return Ok(());
        };
        write_response(&mut writer, &response, close)?;
        if close {
            return Ok(());
        }
    }
}

fn route(req: &Request, shared: &Shared) -> Option<Response> {
    let path = req.path.split('?').next().unwrap_or_default();
    let accepted = || Response::json(202, r#"{"status":"OK"}"#);
    match (req.method.as_str(), path) {
        ("GET", NEXT) => next_event(shared),
        ("POST", INIT_ERROR) => {
            let mut st = shared.lock();
            st.init_error = Some((
                req.header("lambda-runtime-function-error-type")
                    .map(str::to_owned),
                String::from_utf8_lossy(&req.body).into_owned(),
            ));
            shared.changed.notify_all();
            Some(accepted())
        }
        ("POST", p) if p.starts_with(INVOCATION) => {
            let rest = &p[INVOCATION.len()..];
            let (id, what) = rest.split_once('/').unwrap_or((rest, ""));
            let outcome = match what {
                "response" => Outcome::Response(req.body.clone()),
                "error" => Outcome::Error {
                    error_type: req
                        .header("lambda-runtime-function-error-type")
                        .map(str::to_owned),
                    body: String::from_utf8_lossy(&req.body).into_owned(),
                },
                _ => return Some(not_found()),
            };
            let mut st = shared.lock();
            let Some(pos) = st.in_flight.iter().position(|i| i == id) else {
                // Unknown or already answered (the real API says 400).
                return Some(Response::json(
                    400,
                    r#"{"errorMessage":"unknown or already answered request id","errorType":"InvalidRequestID"}"#,
                ));
            };
            st.in_flight.remove(pos);
            st.outcomes.insert(id.to_owned(), outcome);
            shared.changed.notify_all();
            Some(accepted())
        }
        _ => Some(not_found()),
    }
}

fn not_found() -> Response {
    Response::json(
        404,
        r#"{"errorMessage":"unknown runtime api path","errorType":"NotFound"}"#,
    )
}

/// Block until an event is queued; `None` when shutting down.
fn next_event(shared: &Shared) -> Option<Response> {
    let mut st = shared.lock();
    let now = Instant::now();
    st.next_polls.push(now);
    if let Some(f) = st.function.as_mut() {
        f.first_next.get_or_insert(now);
    }
    shared.changed.notify_all();
    loop {
        if st.shutdown {
            return None;
        }
        if let Some(q) = st.queue.pop_front() {
            st.in_flight.push(q.id.clone());
            let name = st
                .function
                .as_ref()
                .map_or("function", |f| f.name.as_str())
                .to_owned();
            let trace = format!(
                "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs(),
                st.invocations,
                st.invocations
            );
            return Some(Response {
                status: 200,
                headers: vec![
                    ("Content-Type", "application/json".into()),
                    ("Lambda-Runtime-Aws-Request-Id", q.id),
                    ("Lambda-Runtime-Deadline-Ms", q.deadline_ms.to_string()),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn",
                        format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
                    ),
                    ("Lambda-Runtime-Trace-Id", trace),
                ],
                body: q.body,
            });
        }
        st = shared.wait(st, Duration::from_secs(1));
    }
}

fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut line = String::new();
    // Skip blank lines between requests (RFC 9112 §2.2).
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!("request line {line:?}")));
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(bad("connection closed in the headers".into()));
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| bad(format!("header {l:?}")))?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
        if headers.len() > 100 {
            return Err(bad("too many headers".into()));
        }
    }
    let mut req = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        req.body = read_chunked(reader)?;
    } else if let Some(len) = req.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| bad(format!("content-length {len:?}")))?;
        if len > MAX_BODY {
            return Err(bad(format!("body of {len} bytes is too large")));
        }
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body)?;
        req.body = body;
    }
    Ok(Some(req))
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size = line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| bad(format!("chunk size {:?}", line.trim())))?;
        if size == 0 {
            // Trailers (a streamed response's error headers), then a blank line.
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err(bad("chunked body is too large".into()));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        reader.read_line(&mut line)?;
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn write_response(w: &mut impl Write, r: &Response, close: bool) -> io::Result<()> {
    let reason = match r.status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Unknown",
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\n", r.status);
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n", r.body.len()));
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.write_all(&r.body)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A plain-TCP client speaking just enough HTTP/1.1.
    struct Client {
        reader: BufReader<TcpStream>,
        writer: TcpStream,
    }

    struct Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Reply {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    impl Client {
        fn connect(rt: &RuntimeApi) -> Client {
            let s = TcpStream::connect(rt.address()).unwrap_or_else(|e| panic!("connect: {e}"));
            s.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap_or_else(|e| panic!("{e}"));
            Client {
                reader: BufReader::new(s.try_clone().unwrap_or_else(|e| panic!("{e}"))),
                writer: s,
            }
        }

        fn send(&mut self, raw: &[u8]) -> Reply {
            self.writer
                .write_all(raw)
                .unwrap_or_else(|e| panic!("write: {e}"));
            self.read_reply()
        }

        fn request(&mut self, method: &str, path: &str, extra: &str, body: &[u8]) -> Reply {
            let mut raw = format!(
                "{method} {path} HTTP/1.1\r\nHost: runtime\r\n{extra}Content-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            raw.extend_from_slice(body);
            self.send(&raw)
        }

        fn read_reply(&mut self) -> Reply {
            let mut line = String::new();
            self.reader
                .read_line(&mut line)
                .unwrap_or_else(|e| panic!("status line: {e}"));
            let status = line
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("status line {line:?}"));
            let mut headers = Vec::new();
            loop {
                line.clear();
                self.reader
                    .read_line(&mut line)
                    .unwrap_or_else(|e| panic!("header: {e}"));
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                let (k, v) = l.split_once(':').unwrap_or_else(|| panic!("header {l:?}"));
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0u8; len];
            self.reader
                .read_exact(&mut body)
                .unwrap_or_else(|e| panic!("body: {e}"));
            Reply {
                status,
                headers,
                body,
            }
        }
    }

    fn start() -> RuntimeApi {
        RuntimeApi::start().unwrap_or_else(|e| panic!("start: {e}"))
    }

    /// Invoke on another thread (the call blocks until answered).
    fn invoke_in_background(
        rt: &Arc<RuntimeApi>,
        event: Value,
        timeout: Duration,
    ) -> JoinHandle<Result<Value, InvokeError>> {
        let rt = Arc::clone(rt);
        std::thread::spawn(move || rt.invoke(&event, timeout))
    }

    fn join<T>(h: JoinHandle<T>) -> T {
        h.join().unwrap_or_else(|_| panic!("thread panicked"))
    }

    #[test]
    fn serves_an_event_with_the_runtime_headers_and_returns_the_response() {
        let rt = Arc::new(start());
        let pending = invoke_in_background(&rt, json!({"hello": "world"}), Duration::from_secs(10));

        let mut c = Client::connect(&rt);
        let next = c.request("GET", NEXT, "", b"");
        assert_eq!(next.status, 200);
        let body: Value = serde_json::from_slice(&next.body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body, json!({"hello": "world"}));
        let id = next
            .header("Lambda-Runtime-Aws-Request-Id")
            .unwrap_or_else(|| panic!("request id header"))
            .to_owned();
        let deadline: u128 = next
            .header("Lambda-Runtime-Deadline-Ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("deadline header"));
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        assert!(deadline > now_ms && deadline <= now_ms + 10_000);
        assert!(
            next.header("Lambda-Runtime-Invoked-Function-Arn")
                .is_some_and(|a| a.starts_with("arn:aws:lambda:"))
        );
        assert!(
            next.header("Lambda-Runtime-Trace-Id")
                .is_some_and(|t| t.starts_with("Root=1-"))
        );

        // Same connection (keep-alive): answer it.
        let posted = c.request(
            "POST",
            &format!("{INVOCATION}{id}/response"),
            "Content-Type: application/json\r\n",
            br#"{"statusCode":200}"#,
        );
        assert_eq!(posted.status, 202);
        let answer = join(pending).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(answer, json!({"statusCode": 200}));

        // A second answer for the same id is refused.
        let again = c.request("POST", &format!("{INVOCATION}{id}/response"), "", b"{}");
        assert_eq!(again.status, 400);
        assert_eq!(rt.next_polls(), 1);
        assert!(rt.first_next_at().is_some());
    }

    #[test]
    fn next_blocks_until_an_event_is_queued_and_events_are_served_in_order() {
        let rt = Arc::new(start());
        let poller = {
            let rt = Arc::clone(&rt);
            std::thread::spawn(move || {
                let mut c = Client::connect(&rt);
                let mut seen = Vec::new();
                for _ in 0..2 {
                    let next = c.request("GET", NEXT, "", b"");
                    let id = next
                        .header("Lambda-Runtime-Aws-Request-Id")
                        .unwrap_or_default()
                        .to_owned();
                    seen.push(String::from_utf8_lossy(&next.body).into_owned());
                    let r = c.request(
                        "POST",
                        &format!("{INVOCATION}{id}/response"),
                        "",
                        &next.body,
                    );
                    assert_eq!(r.status, 202);
                }
                seen
            })
        };
        // The poller is waiting on an empty queue.
        let started = Instant::now();
        while rt.next_polls() == 0 && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(rt.next_polls(), 1);
        std::thread::sleep(Duration::from_millis(50));
        assert!(!poller.is_finished(), "GET /next must wait for an event");

        let a = rt.invoke(&json!({"n": 1}), Duration::from_secs(10));
        let b = rt.invoke(&json!({"n": 2}), Duration::from_secs(10));
        assert_eq!(a.unwrap_or_else(|e| panic!("{e}")), json!({"n": 1}));
        assert_eq!(b.unwrap_or_else(|e| panic!("{e}")), json!({"n": 2}));
        assert_eq!(join(poller), [r#"{"n":1}"#, r#"{"n":2}"#]);
    }

    #[test]
    fn an_invocation_error_is_reported_with_its_type() {
        let rt = Arc::new(start());
        let pending = invoke_in_background(&rt, json!({}), Duration::from_secs(10));
        let mut c = Client::connect(&rt);
        let next = c.request("GET", NEXT, "", b"");
        let id = next
            .header("Lambda-Runtime-Aws-Request-Id")
            .unwrap_or_default()
            .to_owned();
        let r = c.request(
            "POST",
            &format!("{INVOCATION}{id}/error"),
            "Lambda-Runtime-Function-Error-Type: Runtime.Boom\r\n",
            br#"{"errorType":"Boom","errorMessage":"it broke"}"#,
        );
        assert_eq!(r.status, 202);
        match join(pending) {
            Err(InvokeError::Function {
                error_type, body, ..
            }) => {
                assert_eq!(error_type.as_deref(), Some("Runtime.Boom"));
                assert!(body.contains("it broke"));
            }
            other => panic!("expected a function error, got {other:?}"),
        }
    }

    #[test]
    fn an_init_error_fails_the_pending_invocation() {
        let rt = Arc::new(start());
        let pending = invoke_in_background(&rt, json!({}), Duration::from_secs(10));
        let mut c = Client::connect(&rt);
        // A chunked body, as a streaming client would send it.
        let r = c.send(
            b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: x\r\n\
              Lambda-Runtime-Function-Error-Type: Runtime.InitError\r\n\
              Transfer-Encoding: chunked\r\n\r\n\
              5\r\n{\"err\r\n6\r\nor\":1}\r\n0\r\n\r\n",
        );
        assert_eq!(r.status, 202);
        match join(pending) {
            Err(InvokeError::Init {
                error_type, body, ..
            }) => {
                assert_eq!(error_type.as_deref(), Some("Runtime.InitError"));
                assert_eq!(body, r#"{"error":1}"#);
            }
            other => panic!("expected an init error, got {other:?}"),
        }
    }

    #[test]
    fn an_unanswered_invocation_times_out_and_is_withdrawn() {
        let rt = start();
        let r = rt.invoke(&json!({}), Duration::from_millis(100));
        assert!(matches!(r, Err(InvokeError::Timeout { .. })), "{r:?}");
        assert!(rt.shared.lock().queue.is_empty());
    }

    #[test]
    fn unknown_paths_are_404_and_garbage_is_400() {
        let rt = start();
        let mut c = Client::connect(&rt);
        assert_eq!(c.request("GET", "/2018-06-01/nope", "", b"").status, 404);
        assert_eq!(
            c.request("POST", &format!("{INVOCATION}x/other"), "", b"")
                .status,
            404
        );
        let mut c = Client::connect(&rt);
        assert_eq!(c.send(b"NONSENSE\r\n\r\n").status, 400);
    }

    #[test]
    fn spawning_a_missing_binary_says_which() {
        let rt = start();
        let r = rt.spawn("/nonexistent/function", [("A", "B")]);
        match r {
            Err(InvokeError::Spawn(msg)) => assert!(msg.contains("/nonexistent/function")),
            other => panic!("expected a spawn error, got {other:?}"),
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_process_that_exits_fails_the_invocation_with_its_output() {
        let rt = start();
        let f = rt
            .spawn("/bin/sh", [("MSG", "init went wrong")])
            .unwrap_or_else(|e| panic!("{e}"));
        // `sh` with no script reads stdin (null) and exits at once.
        let r = rt.invoke(&json!({}), Duration::from_secs(10));
        assert!(matches!(r, Err(InvokeError::Exited { .. })), "{r:?}");
        assert!(f.init_duration().is_none());
    }

    #[cfg(unix)]
    #[test]
    fn the_function_environment_is_the_lambda_one() {
        let rt = start();
        let script = "env; exit 0";
        let dir = std::env::temp_dir().join(format!("rtapi-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("print-env");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap_or_else(|e| panic!("{e}"));
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let f = rt
            .spawn(
                &path,
                [
                    ("TABLE_NAME", "t1"),
                    ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let r = rt.invoke(&json!({}), Duration::from_secs(10));
        assert!(matches!(r, Err(InvokeError::Exited { .. })), "{r:?}");
        let out = f.output();
        assert!(
            out.contains(&format!("AWS_LAMBDA_RUNTIME_API={}", rt.address())),
            "{out}"
        );
        assert!(out.contains("AWS_LAMBDA_FUNCTION_NAME=print-env"), "{out}");
        assert!(out.contains("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256"), "{out}");
        assert!(out.contains("TABLE_NAME=t1"), "{out}");
        assert!(!out.contains("CARGO_PKG_NAME"), "{out}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
