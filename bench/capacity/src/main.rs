//! `bench-capacity --markdown <file> --json <file> [--sizes 1000,10000,100000]`
//!
//! DynamoDB calls and capacity units per order lifecycle through the real
//! handlers (moto), the sweep's reads as orders grow, and the cost per
//! million completed orders. Writes a Markdown section for BENCHMARKS.md
//! and the figures as JSON.

mod capture;
mod cost;
mod lifecycle;
mod moto;
mod sweep;
mod units;

use std::fmt::Write as _;
use std::time::Instant;

use serde_json::json;
use test_kit::moto::MotoServer;

use crate::cost::Cost;
use crate::lifecycle::{Bench, Kind, Lifecycle, Step};
use crate::sweep::SweepRow;
use crate::units::KindUnits;

struct Args {
    markdown: String,
    json: String,
    sizes: Vec<usize>,
}

fn args() -> Result<Args, String> {
    let mut markdown = None;
    let mut json = None;
    let mut sizes = vec![1_000, 10_000, 100_000];
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--markdown" => markdown = it.next(),
            "--json" => json = it.next(),
            "--sizes" => {
                sizes = it
                    .next()
                    .ok_or("--sizes needs a value")?
                    .split(',')
                    .map(|s| s.trim().parse::<usize>().map_err(|e| e.to_string()))
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        markdown: markdown.ok_or("--markdown <file> is required")?,
        json: json.ok_or("--json <file> is required")?,
        sizes,
    })
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("bench-capacity: {e}");
        std::process::exit(1);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn real_main() -> Result<(), String> {
    let args = args()?;
    let started = Instant::now();
    eprintln!("bench-capacity: starting moto");
    let moto = MotoServer::start()?;
    let mut bench = Bench::new(&moto.endpoint, "ta-capacity-lifecycle").await?;
    lifecycle::setup(&mut bench).await?;
    eprintln!("bench-capacity: completed lifecycle");
    let completed = lifecycle::completed(&mut bench).await?;
    eprintln!("bench-capacity: disputed lifecycle");
    let disputed = lifecycle::disputed(&mut bench).await?;
    moto.stop();

    // The sweep on a server of its own (the seeded table is large).
    let lean = moto::LeanMoto::start()?;
    let mut sweep_bench = Bench::new(&lean.endpoint, "ta-capacity-sweep").await?;
    eprintln!("bench-capacity: sweep at {:?} not-due orders", args.sizes);
    let sweeps = sweep::run(&mut sweep_bench, &args.sizes, &lean).await?;
    let (idle_calls, idle_units) = sweep::idle(&mut sweep_bench).await?;
    drop(lean);

    let costs = [
        cost::per_million(&completed, idle_units.rru, idle_calls.len()),
        cost::per_million(&disputed, idle_units.rru, idle_calls.len()),
    ];
    let seconds = started.elapsed().as_secs_f64();
    let md = markdown(&completed, &disputed, &sweeps, &idle_calls, &costs, seconds);
    let out = json!({
        "lifecycles": [completed, disputed],
        "sweep": sweeps,
        "idle_sweep": {"calls": idle_calls, "units": idle_units},
        "cost": costs,
        "prices": cost::PRICES,
        "prices_as_of": cost::PRICES_AS_OF,
        "assumptions": {
            "lambda_memory_mb": cost::MEMORY_MB,
            "lambda_base_ms": cost::BASE_MS,
            "lambda_ms_per_aws_call": cost::PER_CALL_MS,
            "orders_per_month": cost::ORDERS_PER_MONTH,
            "sweeps_per_month": cost::SWEEPS_PER_MONTH,
            "sqs_idle_polls_per_month": cost::IDLE_POLLS_PER_MONTH,
        },
        "seconds": seconds,
    });
    std::fs::write(&args.markdown, md).map_err(|e| format!("{}: {e}", args.markdown))?;
    let text = serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?;
    std::fs::write(&args.json, text + "\n").map_err(|e| format!("{}: {e}", args.json))?;
    eprintln!(
        "bench-capacity: wrote {} and {} in {seconds:.0} s",
        args.markdown, args.json
    );
    Ok(())
}

fn n(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

fn ops(calls: &[String]) -> String {
    if calls.is_empty() {
        return "—".into();
    }
    // Runs of the same operation as `Op ×n`.
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < calls.len() {
        let mut j = i;
        while j < calls.len() && calls[j] == calls[i] {
            j += 1;
        }
        out.push(if j - i > 1 {
            format!("{} ×{}", calls[i], j - i)
        } else {
            calls[i].clone()
        });
        i = j;
    }
    out.join(", ")
}

fn kind(k: Kind) -> &'static str {
    match k {
        Kind::Transition => "transition",
        Kind::Read => "read",
        Kind::Consumer => "provider event",
        Kind::Publisher => "publisher",
    }
}

fn budget(s: &Step) -> String {
    match (s.kind.budget(), s.within_budget()) {
        (Some(b), Some(true)) => format!("≤ {b}: met"),
        (Some(b), _) => format!("≤ {b}: **missed**"),
        _ => "—".into(),
    }
}

fn lifecycle_table(md: &mut String, l: &Lifecycle) {
    let _ = writeln!(
        md,
        "| step | kind | DynamoDB calls | calls | RRU | WRU table | WRU GSI | items read / written | budget |"
    );
    let _ = writeln!(md, "|---|---|---|--:|--:|--:|--:|--:|---|");
    for s in &l.steps {
        let extra = if s.kind == Kind::Publisher {
            format!(" ({} events)", s.events)
        } else {
            String::new()
        };
        let _ = writeln!(
            md,
            "| {}{} | {} | {} | {} | {} | {} | {} | {} / {} | {} |",
            s.name,
            extra,
            kind(s.kind),
            ops(&s.calls),
            s.calls.len(),
            n(s.units.rru),
            n(s.units.wru_table),
            n(s.units.wru_gsi),
            s.units.items_read,
            s.units.items_written,
            budget(s)
        );
    }
    let t = l.total();
    let _ = writeln!(
        md,
        "| **total** | | {} HTTP, {} provider events, {} publishes | **{}** | **{}** | **{}** | **{}** | {} / {} | |",
        l.count(Kind::Transition) + l.count(Kind::Read),
        l.count(Kind::Consumer),
        l.count(Kind::Publisher),
        l.calls(),
        n(t.rru),
        n(t.wru_table),
        n(t.wru_gsi),
        t.items_read,
        t.items_written
    );
}

fn budget_misses(ls: &[&Lifecycle]) -> Vec<String> {
    let mut v = Vec::new();
    for l in ls {
        for s in &l.steps {
            if s.within_budget() == Some(false) {
                v.push(format!(
                    "{} / {} ({}: {})",
                    l.name,
                    s.name,
                    s.calls.len(),
                    ops(&s.calls)
                ));
            }
        }
    }
    v
}

fn markdown(
    completed: &Lifecycle,
    disputed: &Lifecycle,
    sweeps: &[SweepRow],
    idle_calls: &[String],
    costs: &[Cost; 2],
    seconds: f64,
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "## DynamoDB calls, capacity units and cost per order\n");
    let _ = writeln!(
        md,
        "_Generated by `bench-capacity` (bench/capacity) in {seconds:.0} s; do not edit by hand._\n"
    );
    let _ = writeln!(
        md,
        "**How measured.** One completed order and one disputed order go through the real \
handlers (`http_api::Api` on the DynamoDB adapter) against a moto server, every POST with an \
`Idempotency-Key`; provider webhooks are applied by `app::consumer::consume` as the queue consumer \
would, and after every step that wrote history items the outbox is drained with \
`app::publisher::drain` (as the stream-triggered publisher would). An SDK interceptor records \
every DynamoDB call (operation, request and response body); capacity is computed from the items \
actually sent and received, by DynamoDB's published rules: item size = attribute names + values; \
1 RRU per 4 KB strongly consistent (½ eventually consistent, 2× in TransactGetItems), a Query \
charged on the summed size of what it returns; 1 WRU per 1 KB of the larger of the item before \
and after (2× in TransactWriteItems, a ConditionCheck charged like a write of the item it checks); \
plus, for each GSI of `app::table::SCHEMA` the write puts the item into, removes it from or \
changes (ALL projections: any change; KEYS_ONLY: key changes), 1 WRU per 1 KB of the projected \
entry (2 when the index key changes; not doubled for transactions). TTL deletes are free. moto's \
own ConsumedCapacity figures are fixed values and are not used. Setup (the supplier's limit) is \
not counted.\n"
    );
    let _ = writeln!(md, "### One completed order\n");
    lifecycle_table(&mut md, completed);
    let _ = writeln!(md, "\n### One disputed order\n");
    let _ = writeln!(
        md,
        "The same up to the balance paid, then a quality dispute, the supplier's rejection, the \
buyer's escalation, the arbiter's decision (supplier at fault, $500 refund) and each refund part \
settled by its provider's webhook.\n"
    );
    lifecycle_table(&mut md, disputed);

    let _ = writeln!(md, "\n### Write units by item kind\n");
    let _ = writeln!(
        md,
        "Writes count puts, updates, deletes and transactional condition checks; the largest size \
is the larger of the item before and after the write, in bytes as DynamoDB sizes it (a write is \
charged per started 1 KB of it).\n"
    );
    let _ = writeln!(
        md,
        "| item | completed: writes | WRU table | WRU GSI | largest (bytes) | disputed: writes | WRU table | WRU GSI | largest (bytes) |"
    );
    let _ = writeln!(md, "|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    let mut kinds: Vec<&String> = completed
        .wru_by_item
        .iter()
        .chain(&disputed.wru_by_item)
        .map(|(k, _)| k)
        .collect();
    kinds.sort();
    kinds.dedup();
    let find = |l: &Lifecycle, k: &str| {
        l.wru_by_item
            .iter()
            .find(|(name, _)| name == k)
            .map_or_else(KindUnits::default, |(_, u)| *u)
    };
    for k in kinds {
        let a = find(completed, k);
        let b = find(disputed, k);
        let _ = writeln!(
            md,
            "| {k} | {} | {} | {} | {} | {} | {} | {} | {} |",
            a.writes,
            n(a.wru_table),
            n(a.wru_gsi),
            a.largest,
            b.writes,
            n(b.wru_table),
            n(b.wru_gsi),
            b.largest
        );
    }

    let _ = writeln!(md, "\n### The sweep as orders grow\n");
    let _ = writeln!(
        md,
        "Not-due orders (confirmed, in the sparse `due` index, due 20 days later) are seeded \
with `test_kit::moto::seed_orders` (BatchWriteItem, cumulative between rows); {} due orders \
(unpaid for 31 days) are committed like any order; then one `app::sweep::run` is counted \
(index pages, loads, commits and the outbox drain it ends with). Items read are the due-index \
entries, the orders loaded and the outbox entries. This server skips moto's whole-table copy \
before every TransactWriteItems (bench/capacity/moto_lean.py; the run fails if any counted \
transaction is refused, as it could not be rolled back); the sweep's wall time still grows with \
the table because moto evaluates an index query by scanning every item — DynamoDB reads only the \
index range, and bills only what it returns.\n",
        sweep::DUE
    );
    let _ = writeln!(
        md,
        "| not-due orders | due | cancelled | DynamoDB calls | Query | GetItem | TransactWriteItems | items read | RRU | WRU | seeding (s) | sweep (s) | moto RSS (MB) |"
    );
    let _ = writeln!(md, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for r in sweeps {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.0} |",
            r.not_due,
            r.due,
            r.cancelled,
            r.calls.len(),
            r.queries,
            r.get_items,
            r.transactions,
            r.units.items_read,
            n(r.units.rru),
            n(r.units.wru()),
            r.seed_seconds,
            r.sweep_seconds,
            r.moto_rss_mb
        );
    }
    let _ = writeln!(
        md,
        "\nA sweep with nothing due makes {} call(s): {}.\n",
        idle_calls.len(),
        ops(idle_calls)
    );

    let _ = writeln!(md, "### Cost per million orders\n");
    let _ = writeln!(
        md,
        "From the counts above and AWS list prices for us-east-1 ({}); logs excluded. \
Assumptions: Lambda {} MB (infra/template.yaml), billed duration {} ms + {} ms per AWS call \
the invocation makes (an assumption, not a measurement: in-process handler time is under a \
millisecond, see the warm-latency section; in-region DynamoDB round trips are a few ms); one \
consumer invocation per webhook (batch of one — the worst case at low traffic) and one \
publisher invocation per step that wrote history (DynamoDB Streams reads by a Lambda trigger \
are free); per webhook one SendMessage, one ReceiveMessage and one DeleteMessage(Batch); every \
event < 64 KB (largest seen: {} bytes); fixed monthly costs spread over {} orders a month.\n",
        cost::PRICES_AS_OF,
        cost::MEMORY_MB,
        cost::BASE_MS,
        cost::PER_CALL_MS,
        completed
            .steps
            .iter()
            .chain(&disputed.steps)
            .map(|s| s.max_event_bytes)
            .max()
            .unwrap_or(0),
        cost::ORDERS_PER_MONTH
    );
    let _ = writeln!(
        md,
        "| item | per completed order | $ / 1M completed | per disputed order | $ / 1M disputed | price |"
    );
    let _ = writeln!(md, "|---|--:|--:|--:|--:|---|");
    for (a, b) in costs[0].lines.iter().zip(&costs[1].lines) {
        let _ = writeln!(
            md,
            "| {} | {} {} | {:.2} | {} {} | {:.2} | {} |",
            a.item,
            n((a.per_order * 100.0).round() / 100.0),
            a.unit,
            a.usd_per_million,
            n((b.per_order * 100.0).round() / 100.0),
            b.unit,
            b.usd_per_million,
            a.price
        );
    }
    let _ = writeln!(
        md,
        "| **total** | | **{:.2}** | | **{:.2}** | |\n",
        costs[0].total, costs[1].total
    );
    let mut lines: Vec<_> = costs[0].lines.iter().collect();
    lines.sort_by_key(|l| std::cmp::Reverse(l.usd_per_million));
    let _ = writeln!(md, "**Biggest levers** (completed order):\n");
    for l in lines.iter().take(3) {
        let share =
            (rust_decimal::Decimal::ONE_HUNDRED * l.usd_per_million / costs[0].total).round_dp(0);
        let _ = writeln!(
            md,
            "- {} — ${:.2} per million ({share:.0} %). {}",
            l.item,
            l.usd_per_million,
            lever(&l.item)
        );
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "Prices used:\n");
    for p in cost::PRICES {
        let _ = writeln!(
            md,
            "- {}: ${} per {} {} — {}",
            p.what,
            p.usd,
            cost::fmt_per(p.per),
            p.unit,
            p.source
        );
    }

    // Budgets.
    let _ = writeln!(md, "\n### Budgets (DynamoDB and cost)\n");
    let _ = writeln!(
        md,
        "| budget | measured | met / missed | reason; what would close it |"
    );
    let _ = writeln!(md, "|---|---|---|---|");
    let all = [completed, disputed];
    let max_of = |k: &[Kind]| {
        all.iter()
            .flat_map(|l| &l.steps)
            .filter(|s| k.contains(&s.kind))
            .map(|s| s.calls.len())
            .max()
            .unwrap_or(0)
    };
    let misses = budget_misses(&all);
    let transition_misses: Vec<_> = misses.iter().filter(|m| !m.contains("GET")).collect();
    let _ = writeln!(
        md,
        "| ≤ 2 DynamoDB calls per state transition (HTTP or provider event) | at most {} per step | {} | {} |",
        max_of(&[Kind::Transition, Kind::Consumer]),
        if transition_misses.is_empty() {
            "met"
        } else {
            "**missed**"
        },
        if transition_misses.is_empty() {
            "every transition is one read and one write (create: the idempotency lease and the commit, two writes); the publisher's outbox drain runs separately (Query + one UpdateItem per event)".to_owned()
        } else {
            format!(
                "over budget: {}",
                transition_misses
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        }
    );
    let reads_max = max_of(&[Kind::Read]);
    let _ = writeln!(
        md,
        "| 1 DynamoDB call per single read | {reads_max} | {} | GET of an order is one strongly consistent GetItem |",
        if reads_max <= 1 { "met" } else { "**missed**" }
    );
    if let (Some(first), Some(last)) = (sweeps.first(), sweeps.last()) {
        let flat = first.units.items_read == last.units.items_read
            && first.calls.len() == last.calls.len();
        let _ = writeln!(
            md,
            "| sweep reads grow with the due items, not with the orders | {} items read / {} calls at {} not-due; {} / {} at {} | {} | {} |",
            first.units.items_read,
            first.calls.len(),
            first.not_due,
            last.units.items_read,
            last.calls.len(),
            last.not_due,
            if flat { "met" } else { "**missed**" },
            if flat {
                "the sweep queries the sparse `due` index up to now: it reads the due entries, loads and commits those orders, never the not-due ones"
            } else {
                "reads changed with the number of orders: see the sweep table"
            }
        );
    }
    let total = costs[0].total;
    let _ = writeln!(
        md,
        "| ≤ $30 per million completed orders, logs excluded | ${total:.2} (disputed: ${:.2}) | {} | {} |",
        costs[1].total,
        if total <= rust_decimal::Decimal::from(30) {
            "met"
        } else {
            "**missed**"
        },
        if total <= rust_decimal::Decimal::from(30) {
            "dominated by the per-request services; see the levers above".to_owned()
        } else {
            format!(
                "largest items: {}. {}",
                lines
                    .iter()
                    .take(2)
                    .map(|l| format!("{} (${:.2})", l.item, l.usd_per_million))
                    .collect::<Vec<_>>()
                    .join(", "),
                closers(completed, &costs[0])
            )
        }
    );
    md
}

/// Why the cost budget is missed and what would close it: the part the
/// number of requests and events fixes, and the write units by item kind.
fn closers(l: &Lifecycle, cost: &Cost) -> String {
    let get = |k: &str| {
        l.wru_by_item
            .iter()
            .find(|(name, _)| name == k)
            .map_or(0.0, |(_, u)| u.wru_table + u.wru_gsi)
    };
    let per_request = [
        "API Gateway",
        "EventBridge PutEvents",
        "Lambda requests",
        "SQS:",
        "DynamoDB reads",
    ];
    let fixed: rust_decimal::Decimal = cost
        .lines
        .iter()
        .filter(|line| per_request.iter().any(|p| line.item.starts_with(p)))
        .map(|line| line.usd_per_million)
        .sum();
    let events = get("history event / outbox");
    let order = get("order");
    let idem = get("idempotency record");
    let wru = cost::WRU.usd;
    format!(
        "The per-request charges and the reads alone — API Gateway, EventBridge, Lambda requests, \
SQS and DynamoDB reads, fixed by {} API requests and webhooks and {} published events per order \
— come to ${fixed:.2}{}. \
DynamoDB writes: history events / outbox {} WRU (${:.2}/M: each event is a transactional put \
(2), an outbox-index put (1), a plain mark (1) and the index delete (1); publishing from the \
table's stream and indexing only what failed to publish would leave the 2 — a change to the \
outbox rule of docs/architecture.md), the order {} WRU (${:.2}/M: a transactional rewrite of the deflated \
order, 2 per change while it stays under 1 KB), idempotency records {} WRU (${:.2}/M: 2 per \
POST, written in the commit's transaction as docs/architecture.md describes).",
        l.count(Kind::Transition) + l.count(Kind::Read) + l.count(Kind::Consumer),
        l.events(),
        if fixed >= rust_decimal::Decimal::from(30) {
            ", over the budget before a single write or millisecond of Lambda duration is counted: \
the budget cannot be met without fewer requests or events (e.g. webhooks on a Lambda function URL instead of \
API Gateway, publishing only the events a subscriber needs)"
        } else {
            ""
        },
        n(events),
        cost::dollars(events, wru),
        n(order),
        cost::dollars(order, wru),
        n(idem),
        cost::dollars(idem, wru),
    )
}

fn lever(item: &str) -> &'static str {
    if item.starts_with("EventBridge") {
        "One PutEvents entry per domain event: publishing only the events other services consume (or one summary event per transition) cuts it proportionally."
    } else if item.starts_with("DynamoDB writes") {
        "Transactions double every item they write, and each history item is written three more times (outbox-index put, the plain mark, the index delete): publishing straight from the table's stream, one history item per commit rather than per event, and fewer events are the levers left. Done: listing indexes keys-only, plain marks, orders and recorded responses deflated under 1 KB."
    } else if item.starts_with("API Gateway") {
        "One request per user action and per webhook: only fewer round trips (e.g. payment initiation folded into confirmation) reduce it."
    } else if item.starts_with("Lambda requests") {
        "Per-invocation charge: batching the consumer (SQS batch window) and the publisher (stream batching window) under load lowers it."
    } else if item.starts_with("Lambda duration") {
        "Billed per ms × 256 MB and dominated by DynamoDB round trips: fewer calls per invocation, or 128 MB if the init budget allows."
    } else if item.starts_with("DynamoDB reads") {
        "Transactional reads cost 2×: a plain GetItem when the request has no idempotency key or limit to read."
    } else if item.starts_with("SQS") {
        "Three requests per webhook; batching receives/deletes under load."
    } else {
        ""
    }
}
