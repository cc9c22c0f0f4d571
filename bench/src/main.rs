//! `lambda-bench`: the measuring half of `make bench` (scripts/bench.sh does the building and
//! the local stack).
//!
//! - `lambda-bench run` cold-starts and drives the release function binaries (and the
//!   hello-world floor) through a local Lambda Runtime API, and writes the runtime figures.
//! - `lambda-bench report` merges them with the criterion results and the zip sizes into
//!   `bench/results/latest.json`, prints the table and the targets, and compares with the
//!   committed baseline: exit status 3 when a figure regressed by more than 20 %.

mod proc_stats;
mod report;
mod runtime_api;
mod scenario;
mod ses_tap;
mod sqs;
mod stats;
mod wave;

use anyhow::{anyhow, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "lambda-bench",
    about = "Cold start, footprint and CPU per request of the reset functions"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Cold starts and a warm run of each function (send-mail fed from the mail queue) against
    /// the local stack (environment: scripts/local.env plus the SDK endpoint variables and the
    /// queue URLs).
    Run(RunArgs),
    /// Merge, print, write latest.json, compare with the baseline.
    Report(ReportArgs),
}

#[derive(Args)]
struct RunArgs {
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// The hello-world floor (default: `hello-lambda` in --bin-dir).
    #[arg(long)]
    floor_binary: Option<PathBuf>,
    #[arg(long, default_value = "events")]
    events_dir: PathBuf,
    /// The env file naming the functions' settings (values from this environment).
    #[arg(long, default_value = "scripts/local.env")]
    config_env: PathBuf,
    /// Known and unknown submits each, with the configured response-time floor.
    #[arg(long, default_value_t = 20)]
    floor_check_requests: usize,
    #[arg(long, default_value = "target/debug/reset-admin")]
    admin: PathBuf,
    #[arg(long, env = "SES_STORE_URL")]
    ses_url: String,
    /// The mail queue on the local SQS (moto's server).
    #[arg(long, env = "MAIL_QUEUE_URL")]
    queue_url: String,
    #[arg(long, default_value = ".local/bench/logs")]
    logs_dir: PathBuf,
    #[arg(long, default_value_t = 20)]
    cold_starts: usize,
    #[arg(long, default_value_t = 300)]
    users: usize,
    #[arg(long, default_value_t = 300)]
    hello_requests: usize,
    /// Extra `NAME=value` for the functions' environment (experiments), repeatable.
    #[arg(long = "function-env")]
    function_env: Vec<String>,
    /// Reset requests of the wave, one per user, all at once (0: no wave).
    #[arg(long, default_value_t = 0)]
    wave_requests: usize,
    /// The wave's send rate (send-mail's `SES_MAX_SEND_RATE`, mails per second): 14 is a new
    /// production SES account's.
    #[arg(long, default_value_t = 14)]
    wave_rate: u32,
    /// request-reset instances taking the wave's requests at once (each is held for the
    /// response-time floor, as a Lambda instance is).
    #[arg(long, default_value_t = 64)]
    wave_request_instances: usize,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct ReportArgs {
    #[arg(long)]
    runtime: PathBuf,
    #[arg(long, default_value = "target/criterion")]
    criterion_dir: PathBuf,
    /// `name=path/to/bootstrap.zip`, once per function.
    #[arg(long = "zip")]
    zips: Vec<String>,
    #[arg(long, default_value = "")]
    git_commit: String,
    #[arg(long, default_value = "")]
    rustc: String,
    #[arg(long, default_value = "")]
    generated_at: String,
    #[arg(long, default_value = "bench/results/latest.json")]
    out: PathBuf,
    /// Markdown copy of the tables (for docs/performance.md).
    #[arg(long, default_value = "bench/results/latest.md")]
    markdown: PathBuf,
    #[arg(long, default_value = "bench/results/baseline.json")]
    baseline: PathBuf,
    /// A document whose `<!-- bench-wave:start -->` … `<!-- bench-wave:end -->` block gets the
    /// wave's table (docs/performance.md).
    #[arg(long)]
    docs: Option<PathBuf>,
}

impl RunArgs {
    /// The scenario's options and where its figures go.
    fn options(self) -> Result<(scenario::Options, PathBuf)> {
        let function_env = self
            .function_env
            .iter()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .ok_or_else(|| anyhow!("--function-env wants NAME=value, got {kv}"))
            })
            .collect::<Result<Vec<_>>>()?;
        let options = scenario::Options {
            floor_binary: self.floor_binary.unwrap_or_else(|| self.bin_dir.join("hello-lambda")),
            config_env: self.config_env,
            floor_check_requests: self.floor_check_requests,
            bin_dir: self.bin_dir,
            events_dir: self.events_dir,
            admin: self.admin,
            ses_url: self.ses_url.trim_end_matches('/').to_owned(),
            queue_url: self.queue_url,
            logs_dir: self.logs_dir,
            cold_starts: self.cold_starts,
            users: self.users,
            hello_requests: self.hello_requests,
            function_env,
            wave: wave::Settings {
                requests: self.wave_requests,
                rate: self.wave_rate,
                request_instances: self.wave_request_instances,
            },
        };
        Ok((options, self.out))
    }
}

/// `lambda-bench run`: the scenario, its figures written to --out.
async fn run(args: RunArgs) -> Result<()> {
    let (options, out) = args.options()?;
    let runtime = scenario::run(&options).await?;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&runtime)?)
        .with_context(|| format!("writing {}", out.display()))?;
    eprintln!(
        "==> runtime figures in {} ({:.0} s)",
        out.display(),
        runtime.wall_seconds
    );
    Ok(())
}

/// `lambda-bench report`: latest.json and its Markdown tables, then the comparison with the
/// baseline (exit status 3 on a regression) and the wave's checks (exit status 4 when a mail was
/// lost or doubled or the rate exceeded, whatever the baseline says).
fn report(args: ReportArgs) -> Result<()> {
    let zips = args
        .zips
        .iter()
        .map(|z| {
            z.split_once('=')
                .map(|(n, p)| (n.to_owned(), PathBuf::from(p)))
                .ok_or_else(|| anyhow!("--zip wants name=path, got {z}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let results = report::build(&report::Inputs {
        runtime: args.runtime,
        criterion_dir: args.criterion_dir,
        zips,
        git_commit: args.git_commit,
        rustc: args.rustc,
        generated_at: args.generated_at,
    })?;
    let (out, markdown) = (&args.out, &args.markdown);
    std::fs::write(out, serde_json::to_string_pretty(&results)? + "\n")
        .with_context(|| format!("writing {}", out.display()))?;
    let wave = report::wave_table(&results);
    let text = format!(
        "{}\n{}\n{}{}\n{}",
        report::header(&results),
        report::table(&results),
        if wave.is_empty() {
            String::new()
        } else {
            format!("{wave}\n")
        },
        report::targets_table(&results),
        report::micro_table(&results)
    );
    std::fs::write(markdown, &text).with_context(|| format!("writing {}", markdown.display()))?;
    println!("\n{text}");
    println!("Results: {} (Markdown: {})", out.display(), markdown.display());
    if let (Some(docs), false) = (&args.docs, wave.is_empty()) {
        write_wave_block(docs, &results, &wave)?;
    }
    let regressed = compare_with_baseline(&args.baseline, &results)?;
    if !wave_holds(&results) {
        std::process::exit(4);
    }
    if regressed {
        std::process::exit(3);
    }
    Ok(())
}

/// The wave's table, with the run it came from, into the marked block of `docs`.
fn write_wave_block(docs: &Path, results: &report::Results, wave: &str) -> Result<()> {
    let doc = std::fs::read_to_string(docs).with_context(|| format!("reading {}", docs.display()))?;
    let block = format!(
        "Commit {}, {}; {} × {} cores; load average before / after the runtime run: {} / {}.\n\n{wave}",
        results.git_commit,
        results.generated_at,
        results.machine.cpu,
        results.machine.cores,
        results.runtime.load_average_before,
        results.runtime.load_average_after
    );
    let Some(updated) = report::splice(&doc, "bench-wave", &block) else {
        println!(
            "{} has no bench-wave block: the wave's table is only in the Markdown results.",
            docs.display()
        );
        return Ok(());
    };
    std::fs::write(docs, updated).with_context(|| format!("writing {}", docs.display()))?;
    println!("The wave's table is in {}.", docs.display());
    Ok(())
}

/// False (after a banner) when the wave lost or doubled a mail or went over its rate.
fn wave_holds(results: &report::Results) -> bool {
    let Some(wave) = &results.runtime.wave else {
        return true;
    };
    let failures = wave.failures();
    if failures.is_empty() {
        return true;
    }
    let bar = "!".repeat(78);
    println!(
        "\n{bar}\n!!  THE WAVE FAILED ({} requests at {} mails/s):",
        wave.requests, wave.set_rate
    );
    for failure in &failures {
        println!("!!    {failure}");
    }
    println!("!!  The send-mail logs of the wave are in .local/bench/logs/send-mail-wave.log.\n{bar}");
    false
}

/// The latest results against the committed baseline: true (after a banner) when a figure
/// regressed or a target it met is now missed.
fn compare_with_baseline(baseline: &Path, results: &report::Results) -> Result<bool> {
    let Ok(baseline_text) = std::fs::read_to_string(baseline) else {
        println!("No baseline at {}: nothing to compare with.", baseline.display());
        return Ok(false);
    };
    let base: report::Results =
        serde_json::from_str(&baseline_text).with_context(|| format!("parsing {}", baseline.display()))?;
    let found = report::regressions(&base, results);
    let lost = report::lost_targets(&base, results);
    if found.is_empty() && lost.is_empty() {
        println!(
            "No figure is more than {:.0} % worse than the baseline ({}, commit {}).",
            (report::REGRESSION_LIMIT - 1.0) * 100.0,
            baseline.display(),
            base.git_commit
        );
        return Ok(false);
    }
    print_regressions(baseline, &found, &lost);
    Ok(true)
}

/// The banner of a regression: the targets missed, then the figures that grew.
fn print_regressions(baseline: &Path, found: &[report::Regression], lost: &[&report::Target]) {
    let bar = "!".repeat(78);
    println!(
        "\n{bar}\n!!  PERFORMANCE REGRESSION: {} figure(s) more than 20 % worse than {}, {} target(s) it met now missed",
        found.len(),
        baseline.display(),
        lost.len()
    );
    for t in lost {
        println!(
            "!!    target missed: {} ({}; measured {})",
            t.name, t.target, t.measured
        );
    }
    for r in found {
        println!(
            "!!    {:<55} {:>12.3} -> {:>12.3}  (+{:.0} %)",
            r.metric,
            r.baseline,
            r.latest,
            (r.latest / r.baseline - 1.0) * 100.0
        );
    }
    println!("!!  Re-run on a quiet machine; if it holds, fix it (or, for a deliberate change,\n!!  commit the new figures as the baseline: make bench BENCH_UPDATE_BASELINE=1).\n{bar}");
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::Run(args) => run(args).await,
        Cmd::Report(args) => report(args),
    }
}
