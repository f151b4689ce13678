#!/usr/bin/env python3
"""Warm handler latency: criterion's estimates -> a BENCHMARKS.md section.

Reads `<criterion-dir>/**/new/{benchmark,estimates,sample}.json` written by
`cargo bench -p http-api --bench hot_paths` (group `hot_paths`) and writes
a Markdown section (how measured, the table, the budget it feeds) and the
same figures as JSON. Standard library only.

    tools/bench_warm.py --criterion-dir "$CARGO_TARGET_DIR/criterion" \
        --markdown bench/out/warm.md --json bench/out/warm.json

Exits 1 if a path of the bench is missing from the criterion directory
(the section is still written, the missing rows marked "not measured").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

GROUP = "hot_paths"

# (criterion function id, path, route or entry point, what is timed)
PATHS = [
    ("decode/create_order_body", "decode create-order body", "`dto::decode` + `TermsBody::parse`",
     "the body alone: strict JSON decoding, then parsing into the terms draft"),
    ("create_order", "create order", "POST /v1/orders",
     "no `Idempotency-Key`; one api for every iteration (the buyer's orders pile up)"),
    ("create_order/idempotency_key", "create order, idempotent", "POST /v1/orders",
     "a fresh `Idempotency-Key` each time: lease and recorded response included"),
    ("confirm_order", "confirm", "POST /v1/orders/{id}/confirm",
     "the supplier confirms, reserving its assurance limit; fresh order each iteration"),
    ("initiate_payment", "initiate payment", "POST /v1/orders/{id}/payments",
     "the buyer starts the initial card payment; fresh order each iteration"),
    ("get_order", "get order", "GET /v1/orders/{id}",
     "a paid order (confirmed, one payment) as its buyer sees it"),
    ("view/order_json", "order view to JSON", "`view::order` + `to_string`",
     "the order of get order rendered to its response body alone (no routing, no load)"),
    ("list_orders", "list orders", "GET /v1/orders",
     "the buyer's first page: 20 of its 25 orders"),
    ("webhook/accept", "payment webhook accepted", "POST /v1/webhooks/{provider}",
     "`Webhooks::handle`: signature verified, event parsed, queued on `MemoryQueue`, 202"),
    ("webhook/consume", "payment webhook consumed", "`app::consumer::consume`",
     "the queued `payment.succeeded` applied to its order; fresh order each iteration"),
    ("open_dispute", "open dispute", "POST /v1/orders/{id}/dispute",
     "a quality dispute on a paid order; fresh order each iteration"),
    ("harness/block_on", "harness: `block_on` alone", "(none)",
     "an empty future on the current-thread runtime: the cost of driving one request, "
     "included in every row above"),
]

# Lambda bills duration in 1 ms units: the handler's own work per request
# stays well under one of them when every path's median is under this.
OVERHEAD_BUDGET_US = 1000.0


def load_runs(criterion_dir: Path) -> dict[str, dict]:
    """function id -> {estimates, samples, iterations} for GROUP."""
    runs: dict[str, dict] = {}
    for bench_json in sorted(criterion_dir.glob("**/new/benchmark.json")):
        try:
            meta = json.loads(bench_json.read_text())
        except (OSError, json.JSONDecodeError) as e:
            print(f"bench_warm: skipping {bench_json}: {e}", file=sys.stderr)
            continue
        if meta.get("group_id") != GROUP:
            continue
        fid = meta.get("function_id") or ""
        new = bench_json.parent
        estimates = json.loads((new / "estimates.json").read_text())
        sample_path = new / "sample.json"
        samples = iterations = None
        if sample_path.exists():
            sample = json.loads(sample_path.read_text())
            iters = sample.get("iters") or []
            samples = len(iters)
            iterations = int(sum(iters))
        runs[fid] = {
            "estimates": estimates,
            "samples": samples,
            "iterations": iterations,
            "measured_at": os.path.getmtime(new / "estimates.json"),
        }
    return runs


def us(ns: float | None) -> float | None:
    return None if ns is None else ns / 1000.0


def fmt(v: float | None) -> str:
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def row_of(fid: str, name: str, route: str, what: str, run: dict | None) -> dict:
    row = {"id": fid, "path": name, "route": route, "what": what, "measured": run is not None}
    if run is None:
        return row
    est = run["estimates"]
    median = est["median"]
    ci = median.get("confidence_interval", {})
    row.update({
        "median_us": us(median["point_estimate"]),
        "median_ci_low_us": us(ci.get("lower_bound")),
        "median_ci_high_us": us(ci.get("upper_bound")),
        "confidence_level": ci.get("confidence_level"),
        "mad_us": us(est.get("median_abs_dev", {}).get("point_estimate")),
        "mean_us": us(est.get("mean", {}).get("point_estimate")),
        "samples": run["samples"],
        "iterations": run["iterations"],
    })
    return row


def count(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def markdown(rows: list[dict], budgets: list[dict], env: dict) -> str:
    out = ["## Warm handler latency (in process)", ""]
    out.append(
        "How measured: `cargo bench -p http-api --bench hot_paths` "
        "(criterion, the workspace release profile the bootstraps are built with) calls each hot "
        "path through the entry point its function runs — `Api::handle`, "
        "`webhook::Webhooks::handle`, `app::consumer::consume` — with every "
        "read and write on the embedded in-memory backend "
        "(`app::memory::MemoryBackend`, `MemoryQueue`), so the figure is our "
        "own overhead: routing, strict decoding, the domain rules, the use "
        "case, the view and the JSON response, without DynamoDB's or SQS's "
        "round trips. Each request is driven by `block_on` on a current-thread "
        "tokio runtime, as the Lambda runtime runs one invocation at a time "
        "(its cost alone is the harness row). A path that changes an order "
        "gets a freshly prepared one each iteration, made and dropped outside "
        "the timing (`iter_batched_ref`); each path is checked once (status "
        "and effect) before it is timed. No tracing subscriber is installed "
        "(log formatting is not timed); creating and confirming an order print "
        "their CloudWatch metric line to stdout as on Lambda, and that is "
        "timed. Figures are per request: criterion's median of "
        f"{env.get('samples_per_path', '?')} samples per path with its 95% "
        "bootstrap confidence interval, and the median absolute deviation "
        f"(spread). Machine: {env['cpu']}, {env['cpus']} CPUs (nothing keeps other "
        "work off it while measuring); expect a few percent of noise between runs, more on the "
        "rows with a fixture per iteration. A Lambda function below 1,769 MB has "
        "less than one vCPU: there the same work takes proportionally longer."
    )
    out += ["", "| Path | Route / entry point | Median (µs) | 95% CI of median (µs) | MAD (µs) | Iterations |",
            "| --- | --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        if not r["measured"]:
            out.append(f"| {r['path']} | {r['route']} | not measured | — | — | — |")
            continue
        ci = f"{fmt(r['median_ci_low_us'])} – {fmt(r['median_ci_high_us'])}"
        out.append(
            f"| {r['path']} | {r['route']} | {fmt(r['median_us'])} | {ci} | "
            f"{fmt(r['mad_us'])} | {count(r['iterations'])} |"
        )
    out += ["", "What each row times:", ""]
    out += [f"- {r['path']}: {r['what']}." for r in rows if r["what"]]
    out += ["", "Budgets (warm latency):", "",
            "| Budget | Measured | Met / missed |", "| --- | --- | --- |"]
    for b in budgets:
        out.append(f"| {b['budget']} | {b['measured']} | {b['verdict']} |")
    out.append("")
    return "\n".join(out)


def budgets_of(rows: list[dict]) -> list[dict]:
    timed = [r for r in rows if r["measured"] and r["id"] != "harness/block_on"]
    if not timed:
        return [{"budget": "Our overhead per request under Lambda's 1 ms billing unit "
                 "(feeds the ≤ $30 per million orders budget through GB-seconds)",
                 "measured": "not measured", "met": False,
                 "verdict": "missed: the bench did not run (no criterion estimates found)"}]
    slowest = max(timed, key=lambda r: r["median_us"])
    met = slowest["median_us"] < OVERHEAD_BUDGET_US
    verdict = "met" if met else (
        "missed: our own code costs a billed millisecond per request on this path; "
        "profile it (the slowest step in the handler) before anything else")
    return [{
        "budget": "Our overhead per request under Lambda's 1 ms billing unit, every hot path "
                  "(derived: feeds the ≤ $30 per million orders budget through GB-seconds; "
                  "the issue sets no latency budget of its own)",
        "measured": f"slowest median {fmt(slowest['median_us'])} µs ({slowest['path']})",
        "met": met,
        "verdict": verdict,
        "slowest": slowest["id"],
        "slowest_median_us": slowest["median_us"],
        "limit_us": OVERHEAD_BUDGET_US,
    }]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--criterion-dir", required=True, type=Path)
    p.add_argument("--markdown", required=True, type=Path)
    p.add_argument("--json", required=True, type=Path)
    a = p.parse_args()

    runs = load_runs(a.criterion_dir) if a.criterion_dir.is_dir() else {}
    rows = [row_of(fid, name, route, what, runs.get(fid)) for fid, name, route, what in PATHS]
    known = {fid for fid, _, _, _ in PATHS}
    for fid in sorted(set(runs) - known):
        rows.append(row_of(fid, fid, "", "", runs[fid]))
    samples = sorted({r["samples"] for r in rows if r.get("samples")})
    env = {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "samples_per_path": "/".join(str(s) for s in samples) or "?",
    }
    budgets = budgets_of(rows)
    a.markdown.parent.mkdir(parents=True, exist_ok=True)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.markdown.write_text(markdown(rows, budgets, env))
    a.json.write_text(json.dumps({
        "section": "warm-latency",
        "group": GROUP,
        "unit": "microseconds per request",
        "environment": env,
        "paths": rows,
        "budgets": budgets,
    }, indent=2, ensure_ascii=False) + "\n")
    missing = [r["id"] for r in rows if not r["measured"]]
    if missing:
        print(f"bench_warm: not measured: {', '.join(missing)} "
              f"(run `cargo bench -p http-api --bench hot_paths` first)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
