//! The wave of `make bench` (issue 26): a thousand reset requests as fast as the local stack
//! takes them, the mail paced at a set rate, and for every user the time from the request to
//! SES's acceptance of the mail, with the mails lost and doubled and the rate SES saw.
//!
//! request-reset runs as deployed, with its response-time floor: a request holds its instance
//! for the floor, so the cloud meets a wave with one instance per request in flight, and so does
//! the bench, with as many instances as `--wave-request-instances`. send-mail runs as many
//! instances as the event source's maximum concurrency (`MAIL_SEND_CONCURRENCY`), each fed
//! batches of the template's `BatchSize` from the queue while the requests still arrive, and
//! talks to SES through a tap ([`crate::ses_tap`]) that notes when each mail was accepted.

use crate::runtime_api::{FunctionSpec, Instance};
use crate::scenario::{self, Events, StoredMail};
use crate::ses_tap::{Accepted, SesTap};
use crate::sqs::{self, Queue};
use crate::stats::Summary;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// `BatchSize` of send-mail's SQS event source in infra/template.yaml.
pub const BATCH_SIZE: usize = 5;
/// How much longer than the pace needs the wave may take before what is missing counts as lost.
const GRACE: Duration = Duration::from_secs(60);
/// A send at each edge of a window per instance is the pacer's own allowance (its slots are one
/// interval apart, so a window can hold one more send than intervals); one more absorbs the
/// jitter between a send's slot and its arrival at SES on a loaded machine.
const TIMING_ALLOWANCE: f64 = 1.0;

/// What the wave is asked for.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Reset requests, one per user (0: no wave).
    pub requests: usize,
    /// `SES_MAX_SEND_RATE` of the senders, mails per second.
    pub rate: u32,
    /// request-reset instances taking the requests at once.
    pub request_instances: usize,
}

/// What the scenario hands the wave.
pub struct Wave {
    pub settings: Settings,
    /// request-reset with its configured floor.
    pub request_reset: FunctionSpec,
    /// send-mail with `SES_MAX_SEND_RATE` at the wave's rate (its SES endpoint is set to the tap here).
    pub send_mail: FunctionSpec,
    /// `REQUEST_MIN_RESPONSE_MS` as configured (empty: the function's default).
    pub floor_ms: String,
    pub events: Arc<Events>,
    pub queue: Arc<Queue>,
    pub client: reqwest::Client,
    pub ses_url: String,
    pub admin: PathBuf,
    /// Where the users' import file is written.
    pub users_csv: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WaveResult {
    pub requests: usize,
    /// The rate send-mail was set to (mails per second, shared by the senders).
    pub set_rate: u32,
    /// send-mail instances (`MAIL_SEND_CONCURRENCY`), each fed batches of `batch_size`.
    pub senders: u32,
    pub batch_size: usize,
    pub request_instances: usize,
    pub floor_ms: String,
    /// First request handed over → last response of request-reset.
    pub submit_seconds: f64,
    /// First request handed over → last mail accepted.
    pub wall_seconds: f64,
    /// Per user: its request handed to request-reset → SES accepted its mail.
    pub to_acceptance_ms: Summary,
    /// (mails − senders) ÷ seconds from the first mail to reach SES to the last: each sender's
    /// first mail opens its pace, so exact pacing reads the set rate (a little under when the
    /// senders' slots are out of step).
    pub achieved_rate: f64,
    /// The same once the last request was answered: on one machine the requests' burst slows the
    /// stack that the senders' store calls go to; in the cloud the senders do not share it.
    #[serde(default)]
    pub achieved_rate_after_requests: f64,
    /// Most mails that reached SES within any one second.
    pub busiest_second: usize,
    /// Most mails above the set rate in any stretch of the wave: mails in it − rate × its length.
    pub burst_mails: f64,
    /// SES acceptances in all (a doubled mail counts twice).
    pub mails: usize,
    /// Users with no mail, and with more than one.
    pub lost: usize,
    pub doubled: usize,
    /// Records send-mail handed back to the queue (batch item failures): retries, not losses.
    pub retried: usize,
    pub load_average_after: String,
}

impl WaveResult {
    /// Most mails above the set rate any stretch may hold: one per sender plus the timing allowance.
    pub fn burst_limit(&self) -> f64 {
        f64::from(self.senders) + TIMING_ALLOWANCE
    }

    /// What makes the wave fail the bench: a lost or doubled mail, the rate exceeded.
    pub fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        if self.lost > 0 {
            failures.push(format!("{} of {} users got no mail", self.lost, self.requests));
        }
        if self.doubled > 0 {
            failures.push(format!("{} users got more than one mail", self.doubled));
        }
        if self.burst_mails > self.burst_limit() {
            failures.push(format!(
                "the senders went over the set rate of {}/s: {:.2} mails above it in one stretch (at most {:.0})",
                self.set_rate,
                self.burst_mails,
                self.burst_limit()
            ));
        }
        failures
    }
}

fn wave_user(i: usize) -> String {
    format!("bw{i:06}")
}

/// The wave, start to end.
pub async fn run(mut wave: Wave) -> Result<WaveResult> {
    let n = wave.settings.requests;
    eprintln!("==> wave: importing {n} users with {}", wave.admin.display());
    import_users(&wave.admin, &wave.users_csv, n)?;
    // The floor check's jobs are never delivered: the wave starts on an empty queue and store.
    wave.queue.purge().await?;
    scenario::clear_store(&wave.client, &wave.ses_url).await?;
    let tap = SesTap::start(&wave.ses_url).await?;
    let senders = senders(&wave.send_mail)?;
    wave.send_mail
        .config
        .insert("AWS_ENDPOINT_URL_SESV2".to_owned(), tap.url.clone());
    eprintln!(
        "==> wave: {n} requests over {} request-reset instances (floor {} ms), {senders} send-mail instances at {}/s, batches of {BATCH_SIZE}",
        wave.settings.request_instances,
        if wave.floor_ms.is_empty() { "default" } else { wave.floor_ms.as_str() },
        wave.settings.rate
    );
    let measured = measure(&wave, &tap, senders).await;
    let accepted = tap.accepted();
    tap.stop();
    let measured = measured?;
    let mails = scenario::stored_mails(&wave.client, &wave.ses_url).await?;
    let result = tally(&wave, senders, &measured, &accepted, &mails)?;
    eprintln!(
        "==> wave: {} mails in {:.1} s; request → acceptance p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; {:.2}/s (set {}/s); lost {}, doubled {}",
        result.mails,
        result.wall_seconds,
        result.to_acceptance_ms.p50,
        result.to_acceptance_ms.p99,
        result.to_acceptance_ms.max,
        result.achieved_rate,
        result.set_rate,
        result.lost,
        result.doubled
    );
    Ok(result)
}

/// `MAIL_SEND_CONCURRENCY` of send-mail's configuration.
fn senders(send_mail: &FunctionSpec) -> Result<u32> {
    let value = send_mail
        .config
        .get("MAIL_SEND_CONCURRENCY")
        .ok_or_else(|| anyhow!("MAIL_SEND_CONCURRENCY is not set (source scripts/local.env)"))?;
    value
        .parse()
        .with_context(|| format!("MAIL_SEND_CONCURRENCY={value} is not a number"))
}

/// The wave's users in one `reset-admin import` (one process and one transaction per account,
/// where `user create` would start a process and hash a first password for each).
fn import_users(admin: &Path, csv: &Path, count: usize) -> Result<()> {
    let lines: String = (0..count)
        .map(|i| format!("{0},{0}@example.jp,ja\n", wave_user(i)))
        .collect();
    std::fs::write(csv, format!("username,email,language\n{lines}"))
        .with_context(|| format!("writing {}", csv.display()))?;
    let output = Command::new(admin)
        .arg("import")
        .arg(csv)
        .args(["--apply", "--reason", "make bench: the wave's users"])
        .output()
        .with_context(|| format!("starting {}", admin.display()))?;
    if !output.status.success() {
        bail!(
            "importing the wave's users failed: {}{}",
            String::from_utf8_lossy(&output.stdout).trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// When each user's request was handed over, and what the senders did.
struct Measured {
    started: Instant,
    submitted: BTreeMap<String, Instant>,
    last_response: Instant,
    retried: usize,
}

/// The requests and the deliveries, at once; the senders run until the queue is empty after the
/// last request (or the pace's time and [`GRACE`] are up).
async fn measure(wave: &Wave, tap: &SesTap, senders: u32) -> Result<Measured> {
    let work: Arc<Mutex<VecDeque<String>>> = Arc::new(Mutex::new((0..wave.settings.requests).map(wave_user).collect()));
    let mut requesters = Vec::new();
    for _ in 0..wave.settings.request_instances.max(1) {
        requesters.push(Instance::start(&wave.request_reset).await?);
    }
    let mut delivering = Vec::new();
    for _ in 0..senders {
        delivering.push(Instance::start(&wave.send_mail).await?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut senders_set = JoinSet::new();
    for instance in delivering {
        senders_set.spawn(deliver(instance, wave.queue.clone(), stop.clone()));
    }
    let mut requests_set = JoinSet::new();
    for instance in requesters {
        requests_set.spawn(submit(instance, work.clone(), wave.events.clone()));
    }
    let submitted = join_all(requests_set).await;
    // Each instance stops right after its last response (a kill, well under a millisecond).
    let last_response = Instant::now();
    let drained = match &submitted {
        Ok(_) => wait_until_delivered(wave, tap, started).await,
        Err(_) => Ok(()),
    };
    stop.store(true, Ordering::Relaxed);
    let retried: usize = join_all(senders_set).await?.into_iter().sum();
    drained?;
    let submitted: BTreeMap<String, Instant> = submitted?.into_iter().flatten().collect();
    Ok(Measured {
        started,
        submitted,
        last_response,
        retried,
    })
}

/// Every task's result, the first error if any.
async fn join_all<T: 'static>(mut set: JoinSet<Result<T>>) -> Result<Vec<T>> {
    let mut results = Vec::new();
    let mut first_error = None;
    while let Some(joined) = set.join_next().await {
        match joined.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(value) => results.push(value),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    first_error.map_or(Ok(results), Err)
}

/// One request-reset instance taking users off the shared list until it is empty: per user, the
/// moment its request was handed over.
async fn submit(
    mut instance: Instance,
    work: Arc<Mutex<VecDeque<String>>>,
    events: Arc<Events>,
) -> Result<Vec<(String, Instant)>> {
    let mut submitted = Vec::new();
    let result = async {
        while let Some(user) = work.lock().ok().and_then(|mut w| w.pop_front()) {
            let event = events.submit(&user);
            let at = Instant::now();
            let invoked = instance.invoke(&event).await?;
            if invoked.status != 200 {
                bail!(
                    "request-reset answered {} to {user}'s request in the wave",
                    invoked.status
                );
            }
            submitted.push((user, at));
        }
        Ok(())
    }
    .await;
    instance.stop();
    result.map(|()| submitted)
}

/// One send-mail instance fed as the event source mapping feeds it: a batch when the queue has
/// one, the records it reports done deleted, the others left to come back. The records handed
/// back, counted.
async fn deliver(mut instance: Instance, queue: Arc<Queue>, stop: Arc<AtomicBool>) -> Result<usize> {
    let mut retried = 0;
    let result = async {
        while !stop.load(Ordering::Relaxed) {
            let batch = queue.receive(BATCH_SIZE, 1).await?;
            if batch.is_empty() {
                continue;
            }
            let invoked = instance.invoke(&sqs::event(&batch)).await?;
            let failed = sqs::batch_item_failures(&invoked.response);
            retried += failed.len();
            let done: Vec<&sqs::Message> = batch
                .iter()
                .filter(|m| !failed.iter().any(|id| id == m.message_id()))
                .collect();
            queue.delete_batch(&done).await?;
        }
        Ok(())
    }
    .await;
    instance.stop();
    result.map(|()| retried)
}

/// Waits (after the last request) until the queue is empty: every job delivered and deleted,
/// none waiting to come back. Gives up when the pace's time and [`GRACE`] are up.
async fn wait_until_delivered(wave: &Wave, tap: &SesTap, started: Instant) -> Result<()> {
    let pace = Duration::from_secs_f64(wave.settings.requests as f64 / f64::from(wave.settings.rate.max(1)));
    let deadline = started + pace + GRACE;
    let mut reported = Instant::now();
    while wave.queue.depth().await? > 0 {
        if Instant::now() > deadline {
            eprintln!(
                "==> wave: the queue is still not empty {:.0} s in; giving up",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if reported.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "    {} mails accepted after {:.0} s",
                tap.count(),
                started.elapsed().as_secs_f64()
            );
            reported = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok(())
}

/// The figures: per user its mails (lost, doubled) and its request → acceptance time, and the
/// pace SES saw.
fn tally(
    wave: &Wave,
    senders: u32,
    measured: &Measured,
    accepted: &[Accepted],
    mails: &[StoredMail],
) -> Result<WaveResult> {
    let by_id: BTreeMap<&str, &Accepted> = accepted.iter().map(|a| (a.message_id.as_str(), a)).collect();
    let mut per_user: BTreeMap<&str, Vec<&Accepted>> = BTreeMap::new();
    for mail in mails {
        let acceptance = by_id.get(mail.message_id.as_str()).ok_or_else(|| {
            anyhow!(
                "mail {} reached the SES emulator without passing the tap",
                mail.message_id
            )
        })?;
        for user in mail.recipients() {
            per_user.entry(user).or_default().push(acceptance);
        }
    }
    let mut to_acceptance = Vec::new();
    let (mut lost, mut doubled) = (0, 0);
    for (user, submitted) in &measured.submitted {
        match per_user.get(user.as_str()).map(Vec::as_slice) {
            None | Some([]) => lost += 1,
            Some(list) => {
                doubled += usize::from(list.len() > 1);
                let first = list.iter().map(|a| a.accepted).min().unwrap_or(*submitted);
                to_acceptance.push(first.saturating_duration_since(*submitted));
            }
        }
    }
    // A request that never reached the queue is a lost mail too.
    lost += wave.settings.requests.saturating_sub(measured.submitted.len());
    let mut arrivals: Vec<f64> = accepted
        .iter()
        .map(|a| a.received.saturating_duration_since(measured.started).as_secs_f64())
        .collect();
    arrivals.sort_by(f64::total_cmp);
    let requests_end = measured
        .last_response
        .saturating_duration_since(measured.started)
        .as_secs_f64();
    let after_requests: Vec<f64> = arrivals.iter().copied().filter(|t| *t >= requests_end).collect();
    let rate = f64::from(wave.settings.rate);
    let last_accepted = accepted.iter().map(|a| a.accepted).max().unwrap_or(measured.started);
    Ok(WaveResult {
        requests: wave.settings.requests,
        set_rate: wave.settings.rate,
        senders,
        batch_size: BATCH_SIZE,
        request_instances: wave.settings.request_instances,
        floor_ms: wave.floor_ms.clone(),
        submit_seconds: measured
            .last_response
            .saturating_duration_since(measured.started)
            .as_secs_f64(),
        wall_seconds: last_accepted.saturating_duration_since(measured.started).as_secs_f64(),
        to_acceptance_ms: Summary::of_durations_ms(&to_acceptance),
        achieved_rate: achieved_rate(&arrivals, senders),
        achieved_rate_after_requests: achieved_rate(&after_requests, senders),
        busiest_second: busiest_second(&arrivals),
        burst_mails: burst_above(&arrivals, rate),
        mails: accepted.len(),
        lost,
        doubled,
        retried: measured.retried,
        load_average_after: scenario::load_average(),
    })
}

/// (mails − senders) ÷ the seconds from the first arrival to the last.
fn achieved_rate(sorted: &[f64], senders: u32) -> f64 {
    let (Some(first), Some(last)) = (sorted.first(), sorted.last()) else {
        return 0.0;
    };
    let paced = sorted.len().saturating_sub(senders as usize);
    if last > first {
        paced as f64 / (last - first)
    } else {
        0.0
    }
}

/// Most arrivals within any window `[t, t + 1 s)`.
fn busiest_second(sorted: &[f64]) -> usize {
    let mut most = 0;
    let mut start = 0;
    for (end, t) in sorted.iter().enumerate() {
        while *t - sorted[start] >= 1.0 {
            start += 1;
        }
        most = most.max(end + 1 - start);
    }
    most
}

/// The most arrivals above `rate` in any stretch from one arrival to a later one: max over
/// i ≤ j of (j − i + 1) − rate × (t_j − t_i), in one pass (the best start so far is the one
/// with the least i − rate × t_i).
fn burst_above(sorted: &[f64], rate: f64) -> f64 {
    let mut best = 0.0_f64;
    let mut least_start = f64::INFINITY;
    for (j, t) in sorted.iter().enumerate() {
        least_start = least_start.min(j as f64 - rate * t);
        best = best.max(j as f64 + 1.0 - rate * t - least_start);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_senders_paced_exactly_are_at_the_set_rate_with_one_edge_send_each() {
        // Two instances at 14/s shared: each one send every 1/7 s, the second a third of a slot late.
        let interval = 2.0 / 14.0;
        let mut arrivals: Vec<f64> = (0..500)
            .flat_map(|k| [k as f64 * interval, k as f64 * interval + interval / 3.0])
            .collect();
        arrivals.sort_by(f64::total_cmp);
        // In step the estimate reads the rate exactly; out of step by a third of a slot, a little under.
        let rate = achieved_rate(&arrivals, 2);
        assert!((13.9..=14.0).contains(&rate), "{rate}");
        let in_step: Vec<f64> = (0..1000).map(|k| (k / 2) as f64 * interval).collect();
        assert!((achieved_rate(&in_step, 2) - 14.0).abs() < 1e-9);
        let burst = burst_above(&arrivals, 14.0);
        assert!(burst <= 2.0 + 1e-9, "{burst}");
        assert!(busiest_second(&arrivals) <= 15);
    }

    #[test]
    fn a_sender_ten_percent_too_fast_goes_over_the_limit() {
        let interval = 2.0 / 14.0 / 1.1;
        let mut arrivals: Vec<f64> = (0..100)
            .flat_map(|k| [k as f64 * interval, k as f64 * interval + interval / 2.0])
            .collect();
        arrivals.sort_by(f64::total_cmp);
        let result = WaveResult {
            senders: 2,
            set_rate: 14,
            burst_mails: burst_above(&arrivals, 14.0),
            ..Default::default()
        };
        assert_eq!(result.failures().len(), 1, "{:?}", result.failures());
    }

    #[test]
    fn the_busiest_second_counts_a_half_open_window() {
        assert_eq!(busiest_second(&[0.0, 0.5, 0.999, 1.0]), 3);
        assert_eq!(busiest_second(&[0.0, 0.5, 0.999, 1.0, 1.2]), 4);
        assert_eq!(busiest_second(&[]), 0);
    }
}
