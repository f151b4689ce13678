//! `publish-events`: Publishes committed domain events (payment requests,
//! refund commands to the providers, status changes) from the outbox to the
//! EventBridge bus. The table's stream (keys only, filtered to new history
//! items) wakes it; it drains the outbox rather than trusting the records, so
//! one invocation also publishes whatever an earlier failure left
//! (`entry_points::table_stream`).

#[tokio::main]
async fn main() -> Result<(), entry_points::config::Error> {
    entry_points::table_stream::serve().await
}
