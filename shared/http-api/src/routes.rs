//! Every HTTP route and the function that serves it: the one table the SAM
//! template, the sample events, the local stack and the OpenAPI document
//! are checked against.

/// One API route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// API Gateway path syntax, e.g. `/v1/orders/{id}`.
    pub path: &'static str,
    /// The function package (`functions/<function>`).
    pub function: &'static str,
    /// Reachable without a token (API Gateway's authorizer is off for it).
    pub public: bool,
    /// The query parameters it takes; any other is refused (400).
    pub query: &'static [&'static str],
}

const fn r(method: &'static str, path: &'static str, function: &'static str) -> Route {
    Route {
        method,
        path,
        function,
        public: false,
        query: &[],
    }
}

/// A route that takes query parameters.
const fn q(
    method: &'static str,
    path: &'static str,
    function: &'static str,
    query: &'static [&'static str],
) -> Route {
    Route {
        query,
        ..r(method, path, function)
    }
}

const PAGE: &[&str] = &["limit", "cursor"];

/// A route reachable without a token: API Gateway's authorizer is off for
/// it and the function authenticates the caller itself (webhook signatures).
const fn public(method: &'static str, path: &'static str, function: &'static str) -> Route {
    Route {
        public: true,
        ..r(method, path, function)
    }
}

/// Every HTTP route.
pub const ROUTES: &[Route] = &[
    r("POST", "/v1/orders", "create-order"),
    q(
        "GET",
        "/v1/orders",
        "list-orders",
        &["limit", "cursor", "status", "as"],
    ),
    r("GET", "/v1/orders/{id}", "get-order"),
    q("GET", "/v1/orders/{id}/history", "get-order", PAGE),
    r("GET", "/v1/orders/{id}/payments", "get-order"),
    r("POST", "/v1/orders/{id}/amend", "amend-order"),
    r("POST", "/v1/orders/{id}/confirm", "confirm-order"),
    r("POST", "/v1/orders/{id}/remind", "confirm-order"),
    r("POST", "/v1/orders/{id}/cancel", "cancel-order"),
    r("POST", "/v1/orders/{id}/payments", "initiate-payment"),
    r(
        "POST",
        "/v1/orders/{id}/payments/{pid}/resolution",
        "resolve-payment",
    ),
    r(
        "POST",
        "/v1/orders/{id}/refunds/{rid}/resolution",
        "resolve-payment",
    ),
    r("POST", "/v1/orders/{id}/shipment", "ship-order"),
    r("POST", "/v1/orders/{id}/delivery", "record-delivery"),
    r("POST", "/v1/orders/{id}/receipt", "confirm-receipt"),
    r(
        "POST",
        "/v1/orders/{id}/receipt/extension",
        "confirm-receipt",
    ),
    r("POST", "/v1/orders/{id}/feedback", "leave-feedback"),
    q("GET", "/v1/suppliers/{id}/feedback", "leave-feedback", PAGE),
    r("POST", "/v1/orders/{id}/dispute", "open-dispute"),
    r(
        "POST",
        "/v1/orders/{id}/dispute/responses",
        "respond-dispute",
    ),
    r(
        "POST",
        "/v1/orders/{id}/dispute/withdraw",
        "respond-dispute",
    ),
    r(
        "POST",
        "/v1/orders/{id}/dispute/escalate",
        "escalate-dispute",
    ),
    r("POST", "/v1/orders/{id}/dispute/decision", "decide-dispute"),
    q(
        "GET",
        "/v1/disputes",
        "decide-dispute",
        &["limit", "cursor", "status"],
    ),
    r("POST", "/v1/credit-line", "apply-credit-line"),
    r("GET", "/v1/credit-line", "apply-credit-line"),
    public("POST", "/v1/webhooks/{provider}", "payment-webhook"),
    r(
        "PUT",
        "/v1/suppliers/{id}/assurance-limit",
        "set-assurance-limit",
    ),
    r(
        "GET",
        "/v1/suppliers/{id}/assurance-limit",
        "set-assurance-limit",
    ),
];

/// A function that no HTTP route reaches, and what triggers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Triggered {
    pub function: &'static str,
    pub trigger: Trigger,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Batches from the payment-events queue (SQS, ReportBatchItemFailures).
    PaymentQueue,
    /// The table's stream: new history items wake the outbox publisher.
    TableStream,
    /// EventBridge Scheduler, every few minutes: the deadline sweeps and
    /// the outbox's republishing.
    Schedule,
}

/// The functions behind queues and schedules.
pub const TRIGGERED: &[Triggered] = &[
    Triggered {
        function: "process-payment-events",
        trigger: Trigger::PaymentQueue,
    },
    Triggered {
        function: "publish-events",
        trigger: Trigger::TableStream,
    },
    Triggered {
        function: "escalate-stale-disputes",
        trigger: Trigger::Schedule,
    },
];

/// The function packages behind HTTP routes, in route order, each once.
pub fn functions() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for route in ROUTES {
        if !out.contains(&route.function) {
            out.push(route.function);
        }
    }
    out
}

/// Every function package: the HTTP ones, then the triggered ones.
pub fn all_functions() -> Vec<&'static str> {
    let mut out = functions();
    out.extend(TRIGGERED.iter().map(|t| t.function));
    out
}

/// `create-order` → `CreateOrderFunction`, the template's logical id.
pub fn logical_id(function: &str) -> String {
    let mut out = String::new();
    for part in function.split('-') {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out.push_str("Function");
    out
}

/// Match a concrete path against a route path; the values of its `{name}`
/// segments, by name, if it fits.
pub fn match_path<'p, 'a>(pattern: &'p str, path: &'a str) -> Option<Vec<(&'p str, &'a str)>> {
    let mut params = Vec::new();
    let mut pat = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (pat.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(p), Some(g)) if p.starts_with('{') && p.ends_with('}') => {
                if g.is_empty() {
                    return None;
                }
                params.push((&p[1..p.len() - 1], g));
            }
            (Some(p), Some(g)) if p == g => {}
            _ => return None,
        }
    }
}

/// The route serving `method path`, with its path parameters.
pub fn find<'a>(method: &str, path: &'a str) -> Option<(&'static Route, Params<'a>)> {
    ROUTES
        .iter()
        .filter(|r| r.method == method)
        .find_map(|r| match_path(r.path, path).map(|p| (r, Params(p))))
}

/// The path parameters of a matched route.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Params<'a>(pub Vec<(&'static str, &'a str)>);

impl<'a> Params<'a> {
    /// The value of `{name}` (empty if the route has no such segment).
    pub fn get(&self, name: &str) -> &'a str {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_ids_follow_the_package_names() {
        assert_eq!(logical_id("create-order"), "CreateOrderFunction");
        assert_eq!(
            logical_id("set-assurance-limit"),
            "SetAssuranceLimitFunction"
        );
    }

    #[test]
    fn paths_match_with_their_id() {
        let (route, params) = find("POST", "/v1/orders/ord_1/confirm").expect("route");
        assert_eq!(route.function, "confirm-order");
        assert_eq!(params.0, [("id", "ord_1")]);
        let (route, params) =
            find("POST", "/v1/orders/ord_1/payments/pay_2/resolution").expect("route");
        assert_eq!(route.function, "resolve-payment");
        assert_eq!((params.get("id"), params.get("pid")), ("ord_1", "pay_2"));
        let (route, params) = find("POST", "/v1/webhooks/card").expect("route");
        assert!(route.public);
        assert_eq!(params.get("provider"), "card");
        assert!(find("POST", "/v1/orders//confirm").is_none());
        assert!(find("DELETE", "/v1/orders").is_none());
        assert_eq!(
            find("GET", "/v1/orders").map(|(r, _)| r.function),
            Some("list-orders")
        );
    }

    #[test]
    fn every_function_serves_at_least_one_route() {
        assert_eq!(functions().len(), 19);
        assert_eq!(all_functions().len(), 22);
    }
}
