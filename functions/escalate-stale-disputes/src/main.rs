//! `escalate-stale-disputes`: The scheduled sweep. EventBridge Scheduler
//! invokes it every 5 minutes with the event its target's input describes
//! (`entry_points::schedule::TARGET_INPUT`); it sweeps at the event's `time`,
//! the instant the schedule was due, never at the machine's clock: escalates
//! disputes, expires and flags payments, runs every status clock (so every
//! order ends), releases ended coverage, then republishes what the outbox
//! still holds. A run that could not finish is returned to Lambda as an error,
//! with its cause, and retried.

#[tokio::main]
async fn main() -> Result<(), entry_points::config::Error> {
    entry_points::schedule::serve().await
}
