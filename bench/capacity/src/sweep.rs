//! The sweep's reads as orders grow: not-due orders in the deadline index
//! (seeded with BatchWriteItem, as bare order items), 10 due orders
//! committed like any order, then one counted `app::sweep::run`.

use std::time::Instant;

use app::ports::{Commit, OrderStore, SupplierLimits};
use chrono::TimeDelta;
use domain::ids::OrderId;
use domain::order::{Counterparty, NewOrder};
use domain::{Order, Usd};
use serde::Serialize;
use test_kit::store_contract::{Parties, t0, unique};

use crate::lifecycle::{Bench, Kind};
use crate::moto::LeanMoto;
use crate::units::Units;

pub const DUE: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct SweepRow {
    pub not_due: usize,
    pub due: usize,
    pub cancelled: usize,
    pub calls: Vec<String>,
    pub queries: usize,
    pub get_items: usize,
    pub transactions: usize,
    pub units: Units,
    pub seed_seconds: f64,
    pub sweep_seconds: f64,
    pub moto_rss_mb: f64,
}

fn order(
    p: &Parties,
    limit: &domain::coverage::AssuranceLimit,
    confirmed_at: domain::calendar::Timestamp,
) -> Result<(Order, Vec<domain::event::DomainEvent>), String> {
    let id = OrderId::parse(unique("ord_")).map_err(|e| e.to_string())?;
    let (mut order, mut events) = Order::create(
        &p.buyer,
        NewOrder {
            id,
            counterparty: Counterparty::Supplier(p.supplier.id.clone()),
            terms: test_kit::store_contract::terms(),
            clocks: domain::clocks::Clocks::default(),
        },
        t0(),
    )
    .map_err(|e| e.to_string())?;
    events.extend(
        order
            .confirm(&p.supplier, 1, limit, confirmed_at)
            .map_err(|e| e.to_string())?,
    );
    Ok((order, events))
}

/// Grow the table to each size in `sizes` (cumulative) and sweep once at
/// each: `DUE` orders due every time, the rest due 20 days later.
pub async fn run(
    bench: &mut Bench,
    sizes: &[usize],
    moto: &LeanMoto,
) -> Result<Vec<SweepRow>, String> {
    let p = Parties::fresh();
    let store = bench.api.backend.clone();
    store
        .set_limit(
            &p.supplier.id,
            Usd::dollars(1_000_000_000).map_err(|e| e.to_string())?,
            None,
        )
        .await
        .map_err(|e| format!("limit: {e:?}"))?;
    let limit = store
        .get_limit(&p.supplier.id)
        .await
        .map_err(|e| format!("{e:?}"))?
        .ok_or("limit")?;
    let limit_key = (format!("SUPPLIER#{}", p.supplier.id), "LIMIT".to_owned());
    let mut seeded = 0;
    let mut rows = Vec::new();
    // Each stage sweeps 40 days after t0, a day later than the last.
    let mut now = t0() + TimeDelta::days(40);
    for &size in sizes {
        // The due orders first (committed while the table is smaller),
        // then the not-due ones up to `size`.
        let started = Instant::now();
        for _ in 0..DUE {
            let at = now - TimeDelta::days(31);
            let (o, events) = order(&p, &limit, at)?;
            store
                .commit(Commit {
                    previous_flags: &[],
                    order: &o,
                    expected_revision: None,
                    events: &events,
                    idempotency: None,
                    dedup: None,
                    now: at,
                })
                .await
                .map_err(|e| format!("commit due: {e:?}"))?;
        }
        app::publisher::drain(&store, &bench.bus)
            .await
            .map_err(|e| format!("drain: {e:?}"))?;
        while seeded < size {
            let n = (size - seeded).min(2500);
            let mut chunk = Vec::with_capacity(n);
            for _ in 0..n {
                chunk.push(order(&p, &limit, now - TimeDelta::days(10))?.0);
            }
            test_kit::moto::seed_orders(&store, &chunk)
                .await
                .map_err(|e| format!("seed: {e}"))?;
            seeded += n;
            if seeded % 10_000 == 0 || seeded == size {
                eprintln!(
                    "  seeded {seeded} not-due orders ({:.0} s, moto {:.0} MB)",
                    started.elapsed().as_secs_f64(),
                    moto.rss_mb().unwrap_or(0.0)
                );
            }
        }
        let seed_seconds = started.elapsed().as_secs_f64();
        bench.forget();
        bench.prefetch(limit_key.clone()).await;
        let started = Instant::now();
        let report = app::sweep::run(&store, &bench.bus, now)
            .await
            .map_err(|e| format!("sweep: {e:?}"))?;
        let sweep_seconds = started.elapsed().as_secs_f64();
        let step = bench.charge("sweep", Kind::Publisher).await;
        if step.failed_attempts > 0 {
            return Err(format!(
                "the sweep over {size} had {} failed attempts: the lean server does not roll back",
                step.failed_attempts
            ));
        }
        let count = |op: &str| step.calls.iter().filter(|c| *c == op).count();
        rows.push(SweepRow {
            not_due: size,
            due: report.due,
            cancelled: report.cancelled,
            queries: count("Query"),
            get_items: count("GetItem"),
            transactions: count("TransactWriteItems"),
            calls: step.calls.clone(),
            units: step.units,
            seed_seconds,
            sweep_seconds,
            moto_rss_mb: moto.rss_mb().unwrap_or(0.0),
        });
        eprintln!(
            "  sweep over {size} not-due: due {}, {} calls, {} items read",
            report.due,
            step.calls.len(),
            step.units.items_read
        );
        // The next stage's not-due orders are confirmed relative to its own
        // sweep; the earlier ones become due later still.
        now += TimeDelta::days(1);
    }
    Ok(rows)
}

/// One sweep with nothing due (what most runs are): its calls and units.
pub async fn idle(bench: &mut Bench) -> Result<(Vec<String>, Units), String> {
    let store = bench.api.backend.clone();
    bench.forget();
    let report = app::sweep::run(&store, &bench.bus, t0() + TimeDelta::days(39))
        .await
        .map_err(|e| format!("sweep: {e:?}"))?;
    if report.due != 0 {
        return Err(format!("idle sweep found {} due", report.due));
    }
    let step = bench.charge("idle sweep", Kind::Publisher).await;
    Ok((step.calls, step.units))
}
