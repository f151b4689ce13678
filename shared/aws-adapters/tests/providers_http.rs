//! The providers' HTTP adapter against a scripted HTTP server on loopback:
//! what each request kind sends (method, path, JSON body, headers), how
//! each kind of answer is read (accepted with a next action, throttled,
//! failing, refused, silent, unreachable), configuration (environment,
//! key secret, missing provider) and that a key never shows in `Debug`.

#![cfg(feature = "providers")]

use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use app::provider_requests::{PaymentProviders, ProviderAnswer, ProviderError, ProviderRequest};
use aws_adapters::providers::{HttpProviders, KeysJsonError, ProviderConfig, USER_AGENT};
use domain::Usd;
use domain::actor::Provider;
use domain::ids::{ApplicationId, OrderId, PaymentId, RefundId, UserId};
use domain::payment::{MethodKind, NextAction, Stage};
use serde_json::{Value, json};

// ---------------------------------------------------------------- server

/// One request as the server read it.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    /// Lower-case names.
    headers: HashMap<String, String>,
    body: Vec<u8>,
    peer: SocketAddr,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// What the server does with the next request.
#[derive(Debug, Clone)]
enum Reply {
    Answer {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// Read the request, say nothing for this long, then hang up.
    Silence(Duration),
}

fn answer(status: u16, body: Value) -> Reply {
    Reply::Answer {
        status,
        headers: vec![],
        body: body.to_string(),
    }
}

/// A tiny HTTP/1.1 server: keep-alive, `Content-Length` bodies, scripted
/// replies in order (then `201 {"reference":"prv_default"}`).
struct Server {
    addr: SocketAddr,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    /// Connections that opened with a TLS ClientHello.
    tls_hellos: Arc<AtomicUsize>,
}

impl Server {
    fn start(script: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let tls_hellos = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let (rec, hellos, scr) = (recorded.clone(), tls_hellos.clone(), script.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (rec, hellos, scr) = (rec.clone(), hellos.clone(), scr.clone());
                thread::spawn(move || serve(stream, &rec, &hellos, &scr));
            }
        });
        Server {
            addr,
            recorded,
            tls_hellos,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<Recorded> {
        self.recorded.lock().unwrap().clone()
    }

    fn only_request(&self) -> Recorded {
        let requests = self.requests();
        assert_eq!(requests.len(), 1, "{requests:#?}");
        requests.into_iter().next().unwrap()
    }
}

fn serve(
    mut stream: TcpStream,
    recorded: &Mutex<Vec<Recorded>>,
    tls_hellos: &AtomicUsize,
    script: &Mutex<VecDeque<Reply>>,
) {
    let peer = stream.peer_addr().unwrap();
    let mut buf = Vec::new();
    loop {
        // The head.
        let head_end = loop {
            if buf.first() == Some(&0x16) {
                // A TLS ClientHello: this server speaks plain HTTP only.
                tls_hellos.fetch_add(1, Ordering::SeqCst);
                let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
                return;
            }
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let mut request_line = lines.next().unwrap().split(' ');
        let method = request_line.next().unwrap().to_owned();
        let path = request_line.next().unwrap().to_owned();
        let headers: HashMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .get("content-length")
            .map_or(0, |v| v.parse().unwrap());
        // The body.
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        recorded.lock().unwrap().push(Recorded {
            method,
            path,
            headers,
            body,
            peer,
        });

        let reply = script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| answer(201, json!({"reference": "prv_default"})));
        match reply {
            Reply::Silence(d) => {
                thread::sleep(d);
                return;
            }
            Reply::Answer {
                status,
                headers,
                body,
            } => {
                let mut out = format!(
                    "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                    body.len()
                );
                for (name, value) in headers {
                    out.push_str(&format!("{name}: {value}\r\n"));
                }
                out.push_str("\r\n");
                out.push_str(&body);
                if stream.write_all(out.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}

// ---------------------------------------------------------------- fixtures

const CARD_KEY: &str = "sk_test_card_5bV2qL9xR7tW";
const PAYLATER_KEY: &str = "sk_test_paylater_Jm3Hc8Kd";

/// Every provider at `url`, each with its own key.
fn config_for(url: &str) -> ProviderConfig {
    let vars: HashMap<String, String> = [
        ("PROVIDER_URL_ECHECK", url),
        ("PROVIDER_URL_CARD", url),
        ("PROVIDER_URL_BANK", url),
        ("PROVIDER_URL_PAYLATER", url),
        ("PROVIDER_KEY_ECHECK", "sk_test_echeck_Qw1"),
        ("PROVIDER_KEY_CARD", CARD_KEY),
        ("PROVIDER_KEY_BANK", "sk_test_bank_Zx2"),
        ("PROVIDER_KEY_PAYLATER", PAYLATER_KEY),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    ProviderConfig::from_lookup(|name| vars.get(name).cloned())
}

fn providers_for(server: &Server) -> HttpProviders {
    HttpProviders::builder(config_for(&server.url()))
        .request_timeout(Duration::from_secs(5))
        .build()
}

fn card_payment() -> ProviderRequest {
    ProviderRequest::Payment {
        provider: Provider::Card,
        order_id: OrderId::parse("ord_01HZX3K9Q2").unwrap(),
        payment_id: PaymentId::parse("pay_01HZX3KA7M").unwrap(),
        buyer_id: UserId::parse("buyer-7f3a").unwrap(),
        stage: Stage::Initial,
        method: MethodKind::CreditCard,
        amount: Usd::parse("1500.00").unwrap(),
    }
}

fn refund(attempt: u32, payment_reference: Option<&str>) -> ProviderRequest {
    let payment_id = PaymentId::parse("pay_01HZX3KA7M").unwrap();
    ProviderRequest::Refund {
        provider: Provider::Card,
        order_id: OrderId::parse("ord_01HZX3K9Q2").unwrap(),
        refund_id: RefundId::derive(&payment_id, 1),
        payment_id,
        attempt,
        amount: Usd::parse("250.5").unwrap(),
        payment_reference: payment_reference.map(str::to_owned),
    }
}

fn credit_line(requested_limit: Option<&str>) -> ProviderRequest {
    ProviderRequest::CreditLine {
        buyer_id: UserId::parse("buyer-7f3a").unwrap(),
        application_id: ApplicationId::parse("app_01HZX3KC1N").unwrap(),
        requested_limit: requested_limit.map(|l| Usd::parse(l).unwrap()),
    }
}

async fn refused_with(status: u16, body: Value) -> ProviderError {
    let server = Server::start(vec![answer(status, body)]);
    providers_for(&server)
        .send(&card_payment())
        .await
        .unwrap_err()
}

// ---------------------------------------------------------------- requests

#[tokio::test]
async fn a_payment_is_posted_to_v1_payments_with_its_json_body_and_headers() {
    let server = Server::start(vec![answer(201, json!({"reference": "ch_3PqR"}))]);

    let answer = providers_for(&server).send(&card_payment()).await.unwrap();

    assert_eq!(
        answer,
        ProviderAnswer {
            reference: "ch_3PqR".to_owned(),
            next_action: None
        }
    );
    let request = server.only_request();
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/payments");
    assert_eq!(
        request.json(),
        json!({
            "order_id": "ord_01HZX3K9Q2",
            "payment_id": "pay_01HZX3KA7M",
            "buyer_id": "buyer-7f3a",
            "stage": "initial",
            "method": "credit_card",
            "amount": "1500.00",
            "currency": "USD"
        })
    );
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {CARD_KEY}").as_str())
    );
    assert_eq!(request.header("idempotency-key"), Some("pay_01HZX3KA7M"));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("user-agent"), Some(USER_AGENT));
    assert!(USER_AGENT.starts_with("trade-assurance/"));
}

#[tokio::test]
async fn a_refund_is_posted_to_v1_refunds_keyed_by_its_refund_id_and_attempt() {
    let server = Server::start(vec![]);
    let providers = providers_for(&server);

    providers.send(&refund(2, Some("ch_3PqR"))).await.unwrap();
    providers.send(&refund(1, None)).await.unwrap();

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    let (with_reference, without) = (&requests[0], &requests[1]);
    assert_eq!(with_reference.method, "POST");
    assert_eq!(with_reference.path, "/v1/refunds");
    assert_eq!(
        with_reference.json(),
        json!({
            "order_id": "ord_01HZX3K9Q2",
            "payment_id": "pay_01HZX3KA7M",
            "refund_id": "ref_01HZX3KA7M_1",
            "attempt": 2,
            "amount": "250.50",
            "currency": "USD",
            "payment_reference": "ch_3PqR"
        })
    );
    // The port's key (today `<refund id>:<attempt>`), sent as is.
    let key = refund(2, None).idempotency_key();
    assert!(
        key.starts_with("ref_01HZX3KA7M_1") && key.ends_with('2'),
        "{key}"
    );
    assert_eq!(with_reference.header("idempotency-key"), Some(key.as_str()));
    assert_eq!(
        with_reference.header("authorization"),
        Some(format!("Bearer {CARD_KEY}").as_str())
    );
    assert!(without.json().get("payment_reference").is_none());
    assert_eq!(
        without.header("idempotency-key"),
        Some(refund(1, None).idempotency_key().as_str())
    );
    assert_ne!(
        with_reference.header("idempotency-key"),
        without.header("idempotency-key")
    );
}

#[tokio::test]
async fn a_credit_line_application_goes_to_paylater_keyed_by_its_application_id() {
    let paylater = Server::start(vec![]);
    let elsewhere = Server::start(vec![]);
    let vars: HashMap<&str, String> = HashMap::from([
        ("PROVIDER_URL_PAYLATER", paylater.url()),
        ("PROVIDER_URL_CARD", elsewhere.url()),
        ("PROVIDER_KEY_PAYLATER", PAYLATER_KEY.to_owned()),
        ("PROVIDER_KEY_CARD", CARD_KEY.to_owned()),
    ]);
    let providers = HttpProviders::from_lookup(|name| vars.get(name).cloned());

    providers.send(&credit_line(Some("80000"))).await.unwrap();
    providers.send(&credit_line(None)).await.unwrap();

    assert!(elsewhere.requests().is_empty());
    let requests = paylater.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/v1/credit-line-applications");
    assert_eq!(
        requests[0].json(),
        json!({
            "buyer_id": "buyer-7f3a",
            "application_id": "app_01HZX3KC1N",
            "requested_limit": "80000.00"
        })
    );
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {PAYLATER_KEY}").as_str())
    );
    assert_eq!(
        requests[0].header("idempotency-key"),
        Some("app_01HZX3KC1N")
    );
    assert_eq!(
        requests[1].json(),
        json!({"buyer_id": "buyer-7f3a", "application_id": "app_01HZX3KC1N"})
    );
}

#[tokio::test]
async fn a_base_url_with_a_path_prefix_keeps_it() {
    let server = Server::start(vec![]);
    let url = format!("{}/sandbox/card/", server.url());
    let vars: HashMap<&str, &str> = HashMap::from([
        ("PROVIDER_URL_CARD", url.as_str()),
        ("PROVIDER_KEY_CARD", CARD_KEY),
    ]);
    let providers = HttpProviders::from_lookup(|name| vars.get(name).map(|v| (*v).to_owned()));

    providers.send(&card_payment()).await.unwrap();

    assert_eq!(server.only_request().path, "/sandbox/card/v1/payments");
}

#[tokio::test]
async fn a_redelivered_request_is_sent_again_with_the_same_idempotency_key() {
    let server = Server::start(vec![]);
    let providers = providers_for(&server);

    providers.send(&card_payment()).await.unwrap();
    providers.send(&card_payment()).await.unwrap();

    let keys: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.header("idempotency-key").map(str::to_owned))
        .collect();
    assert_eq!(keys, vec![Some("pay_01HZX3KA7M".to_owned()); 2]);
}

#[tokio::test]
async fn requests_to_one_provider_reuse_one_connection_across_clones() {
    let server = Server::start(vec![]);
    let providers = providers_for(&server);
    let clone = providers.clone();

    providers.send(&card_payment()).await.unwrap();
    clone.send(&refund(1, None)).await.unwrap();
    providers.send(&credit_line(None)).await.unwrap();

    let peers: Vec<_> = server.requests().iter().map(|r| r.peer).collect();
    assert_eq!(peers.len(), 3);
    assert!(peers.iter().all(|p| *p == peers[0]), "{peers:?}");
}

// ---------------------------------------------------------------- answers

#[tokio::test]
async fn when_the_provider_answers_201_with_a_checkout_should_return_the_next_action() {
    let server = Server::start(vec![answer(
        201,
        json!({
            "reference": "cs_9Wd",
            "next_action": {"type": "checkout", "url": "https://pay.card.example/cs_9Wd"}
        }),
    )]);

    let answer = providers_for(&server).send(&card_payment()).await.unwrap();

    assert_eq!(answer.reference, "cs_9Wd");
    assert_eq!(
        answer.next_action,
        Some(NextAction::Checkout {
            url: "https://pay.card.example/cs_9Wd".to_owned()
        })
    );
}

#[tokio::test]
async fn when_the_provider_answers_202_with_wire_instructions_should_return_them() {
    let server = Server::start(vec![answer(
        202,
        json!({
            "reference": "tt_88",
            "next_action": {
                "type": "wire",
                "instructions": {
                    "account": {
                        "bank_name": "First Harbor Bank",
                        "account_name": "Trade Assurance Escrow",
                        "account_number": "0012345678",
                        "swift": "FHBKUS33"
                    },
                    "reference": "TA-01HZX3KA7M",
                    "amount": "1500.00"
                }
            }
        }),
    )]);

    let answer = providers_for(&server).send(&card_payment()).await.unwrap();

    match answer.next_action {
        Some(NextAction::Wire { instructions }) => {
            assert_eq!(instructions.reference, "TA-01HZX3KA7M");
            assert_eq!(instructions.amount, Usd::parse("1500.00").unwrap());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn when_the_provider_answers_200_with_an_unreadable_body_should_be_transient() {
    for body in [
        "<html><body>502 Bad Gateway</body></html>".to_owned(),
        json!({"ref": "x"}).to_string(),
        json!({"reference": ""}).to_string(),
        json!({"reference": "x", "next_action": {"type": "teleport"}}).to_string(),
    ] {
        let server = Server::start(vec![Reply::Answer {
            status: 200,
            headers: vec![],
            body,
        }]);
        let error = providers_for(&server)
            .send(&card_payment())
            .await
            .unwrap_err();
        assert!(error.is_transient(), "{error:?}");
    }
}

#[tokio::test]
async fn when_the_provider_answers_500_should_be_transient() {
    let error = refused_with(500, json!({"title": "Internal error"})).await;
    assert!(
        matches!(&error, ProviderError::Transient(m) if m.contains("500")),
        "{error:?}"
    );
}

#[tokio::test]
async fn when_the_provider_answers_503_should_be_transient_with_its_retry_after() {
    let server = Server::start(vec![Reply::Answer {
        status: 503,
        headers: vec![("retry-after", "120".to_owned())],
        body: json!({"message": "maintenance"}).to_string(),
    }]);
    let error = providers_for(&server)
        .send(&card_payment())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProviderError::Transient(m)
            if m.contains("503") && m.contains("maintenance") && m.contains("retry after 120 s")),
        "{error:?}"
    );
}

#[tokio::test]
async fn when_the_provider_answers_429_should_be_transient_with_its_retry_after() {
    let server = Server::start(vec![Reply::Answer {
        status: 429,
        headers: vec![("Retry-After", "30".to_owned())],
        body: json!({"title": "Too Many Requests"}).to_string(),
    }]);
    let error = providers_for(&server)
        .send(&card_payment())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ProviderError::Transient(m)
            if m.contains("429") && m.contains("retry after 30 s")),
        "{error:?}"
    );
}

#[tokio::test]
async fn when_the_provider_answers_408_should_be_transient() {
    let error = refused_with(408, json!({"title": "Request Timeout"})).await;
    assert!(error.is_transient(), "{error:?}");
}

#[tokio::test]
async fn when_the_provider_refuses_with_a_4xx_should_be_refused_with_its_status_and_message() {
    let cases = [
        (
            400,
            json!({"title": "Invalid request", "detail": "amount must be positive"}),
            "Invalid request: amount must be positive",
        ),
        (402, json!({"title": "Card declined"}), "Card declined"),
        (404, json!({"message": "unknown order"}), "unknown order"),
        (
            409,
            json!({"title": "Conflict", "detail": "key reused with another body"}),
            "Conflict: key reused with another body",
        ),
        (
            422,
            json!({"message": "currency not supported"}),
            "currency not supported",
        ),
    ];
    for (status, body, message) in cases {
        let error = refused_with(status, body).await;
        assert_eq!(
            error,
            ProviderError::Refused {
                status,
                message: message.to_owned()
            }
        );
    }
}

#[tokio::test]
async fn when_the_provider_does_not_answer_within_the_timeout_should_be_transient() {
    let server = Server::start(vec![Reply::Silence(Duration::from_secs(5))]);
    let providers = HttpProviders::builder(config_for(&server.url()))
        .request_timeout(Duration::from_millis(300))
        .build();

    let started = Instant::now();
    let error = providers.send(&card_payment()).await.unwrap_err();

    assert!(error.is_transient(), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn when_the_provider_is_unreachable_should_be_transient() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    // Over plain HTTP and through the TLS connector alike.
    for scheme in ["http", "https"] {
        let providers = HttpProviders::builder(config_for(&format!("{scheme}://127.0.0.1:{port}")))
            .request_timeout(Duration::from_secs(5))
            .build();

        let error = providers.send(&card_payment()).await.unwrap_err();

        assert!(error.is_transient(), "{scheme}: {error:?}");
    }
}

#[tokio::test]
async fn when_an_https_provider_does_not_speak_tls_should_be_transient() {
    // A plain HTTP server behind an https:// URL: it answers the
    // ClientHello in plain text, the handshake fails, nothing is an answer.
    let server = Server::start(vec![]);
    let url = format!("https://{}", server.addr);
    let providers = HttpProviders::builder(config_for(&url))
        .request_timeout(Duration::from_secs(2))
        .build();

    let error = providers.send(&card_payment()).await.unwrap_err();

    assert!(error.is_transient(), "{error:?}");
    assert!(server.tls_hellos.load(Ordering::SeqCst) >= 1);
    assert!(server.requests().is_empty());
}

// ---------------------------------------------------------------- configuration

#[tokio::test]
async fn when_a_provider_has_no_url_or_no_key_should_be_not_configured() {
    let server = Server::start(vec![]);
    let url = server.url();
    let vars: HashMap<&str, String> = HashMap::from([
        // card: a URL, no key; paylater: a key, no URL; bank: an unusable URL.
        ("PROVIDER_URL_CARD", url.clone()),
        ("PROVIDER_KEY_PAYLATER", PAYLATER_KEY.to_owned()),
        ("PROVIDER_URL_BANK", "ftp://bank.example".to_owned()),
        ("PROVIDER_KEY_BANK", "sk_test_bank_Zx2".to_owned()),
        // echeck: a key that cannot be a header.
        ("PROVIDER_URL_ECHECK", url),
        ("PROVIDER_KEY_ECHECK", "two words".to_owned()),
    ]);
    let providers = HttpProviders::from_lookup(|name| vars.get(name).cloned());
    let bank_payment = ProviderRequest::Payment {
        provider: Provider::Bank,
        order_id: OrderId::parse("ord_01HZX3K9Q2").unwrap(),
        payment_id: PaymentId::parse("pay_01HZX3KB2P").unwrap(),
        buyer_id: UserId::parse("buyer-7f3a").unwrap(),
        stage: Stage::Balance,
        method: MethodKind::TelegraphicTransfer,
        amount: Usd::parse("3500").unwrap(),
    };
    let echeck_payment = ProviderRequest::Payment {
        provider: Provider::Echeck,
        order_id: OrderId::parse("ord_01HZX3K9Q2").unwrap(),
        payment_id: PaymentId::parse("pay_01HZX3KB3Q").unwrap(),
        buyer_id: UserId::parse("buyer-7f3a").unwrap(),
        stage: Stage::Initial,
        method: MethodKind::ECheck,
        amount: Usd::parse("1515").unwrap(),
    };

    assert_eq!(
        providers.send(&card_payment()).await,
        Err(ProviderError::NotConfigured(Provider::Card))
    );
    assert_eq!(
        providers.send(&credit_line(None)).await,
        Err(ProviderError::NotConfigured(Provider::Paylater))
    );
    assert_eq!(
        providers.send(&bank_payment).await,
        Err(ProviderError::NotConfigured(Provider::Bank))
    );
    assert_eq!(
        providers.send(&echeck_payment).await,
        Err(ProviderError::NotConfigured(Provider::Echeck))
    );
    assert!(providers.config().configured().is_empty());
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn keys_from_the_secret_json_configure_providers_and_replace_local_keys() {
    let server = Server::start(vec![]);
    let url = server.url();
    let vars: HashMap<&str, String> = HashMap::from([
        ("PROVIDER_URL_CARD", url.clone()),
        ("PROVIDER_URL_PAYLATER", url.clone()),
        ("PROVIDER_URL_ECHECK", url),
        ("PROVIDER_KEY_CARD", "sk_local_card".to_owned()),
        ("PROVIDER_KEY_ECHECK", "sk_local_echeck".to_owned()),
    ]);
    let secret = json!({
        "card": "sk_live_card_from_secret",
        "paylater": "sk_live_paylater_from_secret",
        "echeck": null,
        "webhooks": "not a provider: ignored"
    })
    .to_string();

    let providers = HttpProviders::from_lookup(|name| vars.get(name).cloned())
        .with_keys_json(&secret)
        .unwrap();

    assert_eq!(
        providers.config().configured(),
        vec![Provider::Echeck, Provider::Card, Provider::Paylater]
    );
    providers.send(&card_payment()).await.unwrap();
    providers.send(&credit_line(None)).await.unwrap();
    let auth: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(
        auth,
        vec![
            Some("Bearer sk_live_card_from_secret".to_owned()),
            Some("Bearer sk_live_paylater_from_secret".to_owned()),
        ]
    );
}

#[test]
fn when_the_secret_json_is_unusable_should_be_an_error_that_does_not_quote_it() {
    let base = ProviderConfig::default();
    let not_json = base
        .clone()
        .with_keys_json("{\"card\": sk_live_secret")
        .unwrap_err();
    assert!(matches!(not_json, KeysJsonError::NotJson { .. }));
    assert!(!not_json.to_string().contains("sk_live_secret"));
    assert_eq!(
        base.clone().with_keys_json("[\"sk_live_secret\"]"),
        Err(KeysJsonError::NotAnObject)
    );
    let not_a_key = base
        .clone()
        .with_keys_json(r#"{"card": "sk live secret"}"#)
        .unwrap_err();
    assert_eq!(not_a_key, KeysJsonError::NotAKey(Provider::Card));
    assert!(!not_a_key.to_string().contains("sk live secret"));
    assert_eq!(
        base.with_keys_json(r#"{"bank": 42}"#),
        Err(KeysJsonError::NotAKey(Provider::Bank))
    );
}

#[test]
fn the_debug_output_of_the_config_and_the_client_never_contains_a_key() {
    let config = config_for("https://api.card.example")
        .with_keys_json(r#"{"bank": "sk_live_bank_from_secret"}"#)
        .unwrap();
    let providers = HttpProviders::new(config.clone());

    for shown in [
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{providers:?}"),
    ] {
        for key in [
            CARD_KEY,
            PAYLATER_KEY,
            "sk_test_echeck_Qw1",
            "sk_live_bank_from_secret",
        ] {
            assert!(!shown.contains(key), "{shown}");
        }
        assert!(shown.contains("https://api.card.example"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
