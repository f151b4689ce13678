//! The HTTP API every routed function runs, and the local stack: the route
//! table ([`routes`]), one file per resource with its routes at the top and
//! its endpoints below ([`orders`], [`payments`], [`disputes`],
//! [`suppliers`], [`credit`], [`flags`]), the providers' webhook ([`webhook`]), and
//! what they share ([`api`]: dispatch, answers and replays, the one way an
//! endpoint changes an order), strict decoding ([`dto`]), problem+json
//! errors ([`problem`]), response shapes ([`view`]) and the OpenAPI
//! document ([`openapi`]). How a Lambda event becomes an [`ApiRequest`] is
//! `entry-points`' business.
//!
//! [`ApiRequest`]: request::ApiRequest

pub mod api;
pub mod credit;
pub mod disputes;
pub mod dto;
pub mod flags;
pub mod metrics;
pub mod openapi;
pub mod orders;
pub mod payments;
pub mod problem;
pub mod request;
pub mod routes;
pub mod suppliers;
pub mod view;
pub mod webhook;

pub use api::Api;
