//! Business metrics (CloudWatch embedded metric format): see
//! [`app::metrics`], which every function shares.

pub use app::metrics::*;
