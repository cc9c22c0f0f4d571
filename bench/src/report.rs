//! `bench/results/latest.json`: the runtime run, the criterion micro-benchmarks, the zip sizes
//! and the machine, one table, the targets of issue 8, and the comparison with the committed
//! baseline.

use crate::scenario::{FunctionResult, RuntimeReport};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// CPU per request of the straightforward Python 3.11 + boto3 + argon2-cffi implementation on
/// the same machine (issue 8): submit known / unknown / confirm / change.
pub const PYTHON_CPU_MS: [(&str, f64); 4] = [
    ("submit_known", 1.9),
    ("submit_unknown", 0.7),
    ("confirm", 1.3),
    ("change", 17.8),
];
/// Regressions smaller than these absolute amounts are noise on a shared 2-core machine,
/// whatever their percentage: cold-start figures (init, first request) move by a millisecond
/// with the load of other processes, warm durations by half of one, CPU by a tenth.
const FLOOR_COLD_MS: f64 = 1.0;
const FLOOR_DURATION_MS: f64 = 0.5;
const FLOOR_MS: f64 = 0.1;
const FLOOR_MB: f64 = 0.5;
const FLOOR_BYTES: f64 = 64.0 * 1024.0;
const FLOOR_NS: f64 = 5.0;
pub const REGRESSION_LIMIT: f64 = 1.20;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub rustc: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MicroResult {
    pub median_ns: f64,
    pub mean_ns: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    pub target: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    pub schema: u32,
    pub generated_at: String,
    pub git_commit: String,
    pub machine: Machine,
    pub runtime: RuntimeReport,
    /// criterion medians, by benchmark id.
    pub micro: BTreeMap<String, MicroResult>,
    /// arm64 release zips (`cargo lambda build --release --arm64 --output-format zip`), bytes.
    pub zips: BTreeMap<String, u64>,
    pub targets: Vec<Target>,
    /// The flat figures the regression check compares (lower is better for every one).
    pub metrics: BTreeMap<String, f64>,
}

pub struct Inputs {
    pub runtime: PathBuf,
    pub criterion_dir: PathBuf,
    pub zips: Vec<(String, PathBuf)>,
    pub git_commit: String,
    pub rustc: String,
    pub generated_at: String,
}

fn machine(rustc: &str) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map(usize::from).unwrap_or(0),
        memory_gib: (memory_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        rustc: rustc.to_owned(),
    }
}

/// Every `new/estimates.json` under criterion's folder, named by its `benchmark.json` id.
fn criterion_results(dir: &Path) -> Result<BTreeMap<String, MicroResult>> {
    let mut results = BTreeMap::new();
    if !dir.exists() {
        return Ok(results);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n == "new") {
                    let estimates = path.join("estimates.json");
                    let benchmark = path.join("benchmark.json");
                    if estimates.exists() && benchmark.exists() {
                        let id: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&benchmark)?)?;
                        let est: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&estimates)?)?;
                        let id = id
                            .get("full_id")
                            .and_then(|v| v.as_str())
                            .unwrap_or_default()
                            .to_owned();
                        let point = |key: &str| {
                            est.pointer(&format!("/{key}/point_estimate"))
                                .and_then(serde_json::Value::as_f64)
                                .unwrap_or(0.0)
                        };
                        results.insert(
                            id,
                            MicroResult {
                                median_ns: point("median"),
                                mean_ns: point("mean"),
                            },
                        );
                    }
                } else {
                    stack.push(path);
                }
            }
        }
    }
    Ok(results)
}

fn function<'a>(runtime: &'a RuntimeReport, name: &str) -> Option<&'a FunctionResult> {
    runtime.functions.iter().find(|f| f.name == name)
}

fn kind_p50(runtime: &RuntimeReport, function_name: &str, kind: &str) -> Option<(f64, f64)> {
    let k = function(runtime, function_name)?.warm.kinds.get(kind)?;
    Some((k.latency_ms.p50, k.cpu_ms.p50))
}

pub const ARGON2_ID: &str = "argon2id/hash_password_blocking";
const MB: f64 = 1_000_000.0;

fn targets(results: &Results) -> Vec<Target> {
    let runtime = &results.runtime;
    let mut out = Vec::new();
    let functions = ["request-reset", "verify-token", "change-password"];
    for name in functions {
        if let Some(f) = function(runtime, name) {
            out.push(Target {
                name: format!("init {name}"),
                target: format!("≤ 10 ms median over {} cold starts", f.cold.runs),
                measured: format!("{:.2} ms", f.cold.init_ms.p50),
                met: f.cold.init_ms.p50 <= 10.0,
            });
        }
    }
    for name in functions {
        if let Some(f) = function(runtime, name) {
            out.push(Target {
                name: format!("peak RSS {name}"),
                target: "≤ 15 MB after ≥ 300 requests".into(),
                measured: format!("{:.1} MB after {} requests", f.warm.peak_rss_mb, f.warm.requests),
                met: f.warm.peak_rss_mb <= 15.0 && f.warm.requests >= 300,
            });
        }
    }
    let cpu_rows = [
        ("request-reset", "submit_known", 1.9),
        ("request-reset", "submit_unknown", 0.7),
        ("verify-token", "confirm_open", 1.3),
        ("verify-token", "confirm_continue", 1.3),
        ("change-password", "change", 17.8),
    ];
    for (name, kind, python) in cpu_rows {
        if let Some((_, cpu)) = kind_p50(runtime, name, kind) {
            out.push(Target {
                name: format!("CPU/request {kind}"),
                target: format!(
                    "≤ 1/5 of Python {python} ms = {:.2} ms (stretch 1/10 = {:.2} ms)",
                    python / 5.0,
                    python / 10.0
                ),
                measured: format!("{cpu:.3} ms ({:.2}× Python)", cpu / python),
                met: cpu <= python / 5.0,
            });
        }
    }
    if let (Some((latency, _)), Some(hash)) = (
        kind_p50(runtime, "change-password", "change"),
        results.micro.get(ARGON2_ID),
    ) {
        let hash_ms = hash.median_ns / 1e6;
        out.push(Target {
            name: "change-password vs one argon2id hash".into(),
            target: format!("≤ 1.1 × {hash_ms:.1} ms = {:.1} ms", 1.1 * hash_ms),
            measured: format!("{latency:.1} ms ({:.2} ×)", latency / hash_ms),
            met: latency <= 1.1 * hash_ms,
        });
    }
    let raw = kind_p50(runtime, "request-reset", "submit_known")
        .zip(kind_p50(runtime, "request-reset", "submit_unknown"))
        .map(|((known, _), (unknown, _))| known - unknown);
    match (&runtime.floor_check, raw) {
        (Some(check), raw) => {
            let (known, unknown) = (check.known.latency_ms.p50, check.unknown.latency_ms.p50);
            let work = raw
                .map(|d| format!("; without the floor the work differs by {d:.2} ms"))
                .unwrap_or_default();
            out.push(Target {
                name: "known vs unknown username".into(),
                target: "median responses within 1 ms".into(),
                measured: format!(
                    "{known:.2} vs {unknown:.2} ms (Δ {:.2} ms) with the configured {} ms floor{work}",
                    known - unknown,
                    if check.floor_ms.is_empty() {
                        "default"
                    } else {
                        check.floor_ms.as_str()
                    }
                ),
                met: (known - unknown).abs() <= 1.0,
            });
        }
        (None, Some(delta)) => out.push(Target {
            name: "known vs unknown username".into(),
            target: "median responses within 1 ms".into(),
            measured: format!("Δ {delta:.2} ms (no response-time floor)"),
            met: delta.abs() <= 1.0,
        }),
        (None, None) => {}
    }
    for (name, bytes) in &results.zips {
        out.push(Target {
            name: format!("arm64 zip {name}"),
            target: "≤ 5 MB".into(),
            measured: format!("{:.2} MB", *bytes as f64 / MB),
            met: (*bytes as f64) <= 5.0 * MB,
        });
    }
    out
}

fn metrics(results: &Results) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    for f in &results.runtime.functions {
        m.insert(format!("{}.init_p50_ms", f.name), f.cold.init_ms.p50);
        m.insert(format!("{}.first_request_p50_ms", f.name), f.cold.first_request_ms.p50);
        m.insert(format!("{}.peak_rss_mb", f.name), f.warm.peak_rss_mb);
        for (kind, k) in &f.warm.kinds {
            m.insert(format!("{}.{kind}.latency_p50_ms", f.name), k.latency_ms.p50);
            m.insert(format!("{}.{kind}.cpu_p50_ms", f.name), k.cpu_ms.p50);
        }
    }
    for (name, bytes) in &results.zips {
        m.insert(format!("zip.{name}.bytes"), *bytes as f64);
    }
    for (id, r) in &results.micro {
        m.insert(format!("micro.{id}.median_ns"), r.median_ns);
    }
    m
}

pub fn build(inputs: &Inputs) -> Result<Results> {
    let runtime: RuntimeReport = serde_json::from_str(
        &std::fs::read_to_string(&inputs.runtime).with_context(|| format!("reading {}", inputs.runtime.display()))?,
    )?;
    let mut zips = BTreeMap::new();
    for (name, path) in &inputs.zips {
        let bytes = std::fs::metadata(path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        zips.insert(name.clone(), bytes);
    }
    let mut results = Results {
        schema: 1,
        generated_at: inputs.generated_at.clone(),
        git_commit: inputs.git_commit.clone(),
        machine: machine(&inputs.rustc),
        runtime,
        micro: criterion_results(&inputs.criterion_dir)?,
        zips,
        targets: Vec::new(),
        metrics: BTreeMap::new(),
    };
    results.targets = targets(&results);
    results.metrics = metrics(&results);
    Ok(results)
}

fn python_cpu(kind: &str) -> Option<f64> {
    let key = if kind.starts_with("confirm") { "confirm" } else { kind };
    PYTHON_CPU_MS.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// The table, in Markdown (it goes into docs/performance.md as printed).
pub fn table(results: &Results) -> String {
    let mut out = String::new();
    let runtime = &results.runtime;
    let _ = writeln!(
        out,
        "| function (memory) | init p50 (min–p90) | 1st request p50 | peak RSS | request | duration p50 / p99 | CPU/request p50 | CPU ÷ Python's | arm64 zip |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for f in &runtime.functions {
        let zip = results
            .zips
            .get(&f.name)
            .map(|b| format!("{:.2} MB", *b as f64 / MB))
            .unwrap_or_else(|| "–".into());
        for (i, (kind, k)) in f.warm.kinds.iter().enumerate() {
            let versus = python_cpu(kind)
                .filter(|_| k.cpu_ms.p50 > 0.0)
                .map(|p| format!("{:.2}×", k.cpu_ms.p50 / p))
                .unwrap_or_else(|| "–".into());
            if i == 0 {
                let _ = writeln!(
                    out,
                    "| {} ({} MB) | {:.2} ms ({:.1}–{:.1}) | {:.2} ms | {:.1} MB ({} req) | {kind} | {:.2} / {:.2} ms | {:.3} ms | {versus} | {zip} |",
                    f.name,
                    f.memory_mb,
                    f.cold.init_ms.p50,
                    f.cold.init_ms.min,
                    f.cold.init_ms.p90,
                    f.cold.first_request_ms.p50,
                    f.warm.peak_rss_mb,
                    f.warm.requests,
                    k.latency_ms.p50,
                    k.latency_ms.p99,
                    k.cpu_ms.p50,
                );
            } else {
                let _ = writeln!(
                    out,
                    "| | | | | {kind} | {:.2} / {:.2} ms | {:.3} ms | {versus} | |",
                    k.latency_ms.p50, k.latency_ms.p99, k.cpu_ms.p50,
                );
            }
        }
    }
    out
}

pub fn targets_table(results: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| target | goal | measured | |");
    let _ = writeln!(out, "|---|---|---|---|");
    for t in &results.targets {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            t.name,
            t.target,
            t.measured,
            if t.met { "met" } else { "**missed**" }
        );
    }
    out
}

pub fn micro_table(results: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| micro-benchmark (criterion) | median | mean |");
    let _ = writeln!(out, "|---|---|---|");
    for (id, r) in &results.micro {
        let _ = writeln!(out, "| {id} | {} | {} |", human_ns(r.median_ns), human_ns(r.mean_ns));
    }
    out
}

fn human_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

pub fn header(results: &Results) -> String {
    let m = &results.machine;
    let r = &results.runtime;
    format!(
        "Machine: {} × {} cores, {} GiB, Linux {}, {}. Commit {}, {}. Load average before / after the runtime run: {} / {}. {} cold starts per function; warm runs of {} users (one reset link each).\n",
        m.cpu,
        m.cores,
        m.memory_gib,
        m.kernel,
        m.rustc,
        results.git_commit,
        results.generated_at,
        r.load_average_before,
        r.load_average_after,
        r.cold_starts,
        r.users,
    )
}

/// A figure that got worse than the baseline by more than 20 % (and by more than the noise
/// floor of its unit).
#[derive(Debug, Clone)]
pub struct Regression {
    pub metric: String,
    pub baseline: f64,
    pub latest: f64,
}

fn floor(metric: &str) -> f64 {
    if metric.ends_with("init_p50_ms") || metric.ends_with("first_request_p50_ms") {
        FLOOR_COLD_MS
    } else if metric.ends_with("latency_p50_ms") {
        FLOOR_DURATION_MS
    } else if metric.ends_with("_ms") {
        FLOOR_MS
    } else if metric.ends_with("_mb") {
        FLOOR_MB
    } else if metric.ends_with(".bytes") {
        FLOOR_BYTES
    } else {
        FLOOR_NS
    }
}

pub fn regressions(baseline: &Results, latest: &Results) -> Vec<Regression> {
    latest
        .metrics
        .iter()
        .filter_map(|(metric, &now)| {
            let &before = baseline.metrics.get(metric)?;
            (before > 0.0 && now > before * REGRESSION_LIMIT && now - before > floor(metric)).then(|| Regression {
                metric: metric.clone(),
                baseline: before,
                latest: now,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_only_real_regressions() {
        let mut baseline = Results::default();
        baseline.metrics.insert("a.init_p50_ms".into(), 2.0);
        baseline.metrics.insert("a.first_request_p50_ms".into(), 2.7);
        baseline.metrics.insert("a.cpu_p50_ms".into(), 0.05);
        baseline.metrics.insert("a.peak_rss_mb".into(), 8.0);
        baseline.metrics.insert("gone.init_p50_ms".into(), 1.0);
        let mut latest = Results::default();
        latest.metrics.insert("a.init_p50_ms".into(), 3.2); // +60 %, +1.2 ms: regression
        latest.metrics.insert("a.first_request_p50_ms".into(), 3.4); // +26 % but +0.7 ms: noise
        latest.metrics.insert("a.cpu_p50_ms".into(), 0.08); // +60 % but +0.03 ms: noise
        latest.metrics.insert("a.peak_rss_mb".into(), 9.0); // +12.5 %: fine
        latest.metrics.insert("new.init_p50_ms".into(), 5.0); // no baseline
        let found = regressions(&baseline, &latest);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].metric, "a.init_p50_ms");
    }
}
