//! Every HTTP route and the function that serves it: the one table the SAM
//! template, the sample events, the local stack and the OpenAPI document
//! are checked against. Each resource keeps its routes at the top of its
//! own file, each route naming the endpoint that answers it
//! ([`crate::orders`], [`crate::payments`], [`crate::disputes`],
//! [`crate::suppliers`], [`crate::credit`], [`crate::flags`], and the providers' webhook in
//! [`crate::webhook`]); [`ROUTES`] is all of them.

use std::sync::LazyLock;

use crate::{credit, disputes, flags, orders, payments, suppliers, webhook};

/// What answers a route: an endpoint of one resource, or the providers'
/// webhook (its own function and authentication, [`crate::webhook`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Orders(orders::Endpoint),
    Payments(payments::Endpoint),
    Disputes(disputes::Endpoint),
    Suppliers(suppliers::Endpoint),
    Credit(credit::Endpoint),
    Flags(flags::Endpoint),
    ProviderWebhook,
}

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
    /// What answers it.
    pub endpoint: Endpoint,
}

impl Route {
    /// A route behind the JWT authorizer, taking no query parameters.
    pub const fn new(
        method: &'static str,
        path: &'static str,
        function: &'static str,
        endpoint: Endpoint,
    ) -> Route {
        Route {
            method,
            path,
            function,
            public: false,
            query: &[],
            endpoint,
        }
    }

    /// The same route, taking these query parameters.
    pub const fn with_query(self, query: &'static [&'static str]) -> Route {
        Route { query, ..self }
    }

    /// The same route, reachable without a token: API Gateway's authorizer
    /// is off for it and the function authenticates the caller itself
    /// (webhook signatures).
    pub const fn public(self) -> Route {
        Route {
            public: true,
            ..self
        }
    }
}

/// The query parameters of a paginated listing.
pub const PAGE: &[&str] = &["limit", "cursor"];

/// Every HTTP route, resource by resource.
pub static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(|| {
    [
        orders::ROUTES,
        payments::ROUTES,
        disputes::ROUTES,
        suppliers::ROUTES,
        credit::ROUTES,
        flags::ROUTES,
        webhook::ROUTES,
    ]
    .concat()
});

/// The route answered by `endpoint`.
pub fn route_of(endpoint: Endpoint) -> Option<&'static Route> {
    ROUTES.iter().find(|r| r.endpoint == endpoint)
}

/// Why a function's list of endpoints does not match the route table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServedError {
    #[error("{function} serves no route")]
    Nothing { function: String },
    #[error("{function} lists {endpoint:?}, whose route {method} {path} is served by {owner}")]
    NotItsRoute {
        function: String,
        endpoint: Endpoint,
        method: &'static str,
        path: &'static str,
        owner: &'static str,
    },
    #[error("{function} does not list its route {method} {path}")]
    Missing {
        function: String,
        method: &'static str,
        path: &'static str,
    },
}

/// Check what a function's `main` says it serves against the table: every
/// endpoint listed is the function's, and every route of the function is
/// listed. A function refuses to start otherwise.
pub fn check_served(function: &str, endpoints: &[Endpoint]) -> Result<(), ServedError> {
    if endpoints.is_empty() {
        return Err(ServedError::Nothing {
            function: function.to_owned(),
        });
    }
    for &endpoint in endpoints {
        let route = route_of(endpoint).ok_or(ServedError::Nothing {
            function: function.to_owned(),
        })?;
        if route.function != function {
            return Err(ServedError::NotItsRoute {
                function: function.to_owned(),
                endpoint,
                method: route.method,
                path: route.path,
                owner: route.function,
            });
        }
    }
    if let Some(route) = ROUTES
        .iter()
        .find(|r| r.function == function && !endpoints.contains(&r.endpoint))
    {
        return Err(ServedError::Missing {
            function: function.to_owned(),
            method: route.method,
            path: route.path,
        });
    }
    Ok(())
}

/// The endpoints of `function`'s routes, in table order.
pub fn endpoints_of(function: &str) -> Vec<Endpoint> {
    ROUTES
        .iter()
        .filter(|r| r.function == function)
        .map(|r| r.endpoint)
        .collect()
}

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
    /// Batches from the provider-action queue (SQS, ReportBatchItemFailures),
    /// which an EventBridge rule on the bus fills with the payment and
    /// refund requests the providers are asked for.
    ProviderActionsQueue,
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
    Triggered {
        function: "request-provider-actions",
        trigger: Trigger::ProviderActionsQueue,
    },
];

/// The function packages behind HTTP routes, in route order, each once.
pub fn functions() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for route in ROUTES.iter() {
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
    fn a_function_must_list_exactly_its_endpoints() {
        use crate::orders::Endpoint::{Confirm, Remind, Ship};
        let confirm = [Endpoint::Orders(Confirm), Endpoint::Orders(Remind)];
        assert_eq!(check_served("confirm-order", &confirm), Ok(()));
        assert!(matches!(
            check_served("confirm-order", &confirm[..1]),
            Err(ServedError::Missing {
                path: "/v1/orders/{id}/remind",
                ..
            })
        ));
        assert!(matches!(
            check_served(
                "confirm-order",
                &[confirm[0], confirm[1], Endpoint::Orders(Ship)]
            ),
            Err(ServedError::NotItsRoute {
                owner: "ship-order",
                ..
            })
        ));
        assert!(matches!(
            check_served("confirm-order", &[]),
            Err(ServedError::Nothing { .. })
        ));
        for function in functions() {
            assert_eq!(check_served(function, &endpoints_of(function)), Ok(()));
        }
    }

    #[test]
    fn every_endpoint_has_exactly_one_route() {
        for route in ROUTES.iter() {
            assert_eq!(
                ROUTES
                    .iter()
                    .filter(|r| r.endpoint == route.endpoint)
                    .count(),
                1,
                "{route:?}"
            );
            assert_eq!(
                ROUTES
                    .iter()
                    .filter(|r| r.method == route.method && r.path == route.path)
                    .count(),
                1,
                "{route:?}"
            );
        }
    }

    #[test]
    fn every_function_serves_at_least_one_route() {
        assert_eq!(functions().len(), 20);
        assert_eq!(all_functions().len(), 24);
    }
}
