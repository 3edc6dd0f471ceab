//! End-to-end benchmark of the relay binary writing into a ClickHouse engine: events/s committed, freshness
//! (request sent → rows visible) and peak RSS, printed as a Markdown report.
//!
//! ```sh
//! cargo run --release --example bench_end_to_end
//! ```
//!
//! What it runs:
//! - ClickHouse: the server at `CLICKHOUSE_URL` when set, else the chdb engine behind
//!   tests/support/clickhouse_http.py (`.venv/bin/python`, made by `make test`), on a scratch data directory.
//! - The relay: `target/release/tokenledger serve` as a child process (built first with
//!   `cargo build --release --bin tokenledger`; `TOKENLEDGER_BIN=path` uses that binary instead and skips the
//!   build), configured only through `TOKENLEDGER_*` environment variables, one fresh relay and one fresh
//!   database per phase (`bench_<pid>_<time>_<phase>`; dropped at the end of the phase, and the scratch directory
//!   with the relay and front logs removed at the end, unless `BENCH_KEEP=1`).
//! - Load: OTLP/HTTP protobuf `ExportLogsServiceRequest`s built like `benches/workload.rs` (`logs_body`), every
//!   record distinct (`event.sequence` is a run-wide counter).
//!
//! Phases (durations and rates can be changed with the `BENCH_*` variables read in [`Settings::from_env`]):
//! 1. throughput: closed loop, N requests of 500 records in flight for 20 s, default batching; events/s =
//!    records answered 200 / (first send → last answer). Done at each concurrency of `BENCH_CONCURRENCY`.
//! 2. freshness: 2,000 events/s as 20 requests/s of 100 records, paced (open loop), 20 s, once with the relay's
//!    default `batch.max_delay_ms` and once with 1000.
//! 3. rss: 20,000 events/s as 40 requests/s of 500 records, paced, 30 s, default batching; VmRSS sampled every
//!    100 ms and VmHWM read from /proc/<pid>/status.
//!
//! After every phase the committed rows are counted (`SELECT count() FROM otel_events FINAL`, and
//! `otel_api_request_events`) and compared with what was acknowledged.
//!
//! `BENCH_RELAY_ENV="KEY=VALUE,..."` adds relay settings to every phase (e.g.
//! `TOKENLEDGER_OTLP__MAX_CONCURRENT_REQUESTS=1000` to measure without the request-slot bound).
//!
//! Every child process is stopped when this program ends (Drop guards: SIGTERM, then SIGKILL after 10 s); the
//! chdb front is also started with `--exit-with-parent`.

#[path = "../benches/workload.rs"]
mod workload;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = Error> = std::result::Result<T, E>;

const API_REQUEST: &str = "claude_code.api_request";

// ---------------------------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------------------------

/// What to run; every field can be overridden by the environment variable named in `from_env`.
#[derive(Debug, Clone)]
struct Settings {
    /// Closed-loop concurrencies of the throughput phase (`BENCH_CONCURRENCY=8,64`).
    concurrency: Vec<usize>,
    throughput_secs: f64,
    throughput_records: usize,
    freshness_rate: f64,
    freshness_records: usize,
    freshness_secs: f64,
    /// `batch.max_delay_ms` values of the freshness phase besides the default (`BENCH_FRESHNESS_DELAYS=1000`).
    freshness_delays: Vec<u64>,
    /// Every n-th freshness request is followed by a visibility query.
    check_every: u64,
    rss_rate: f64,
    rss_records: usize,
    rss_secs: f64,
    /// Most requests in flight in the paced phases; a tick finding this many waiting sends nothing (counted).
    max_in_flight: usize,
    /// Which phases run (`BENCH_PHASES=throughput,freshness,rss`).
    phases: Vec<String>,
    keep: bool,
}

impl Settings {
    fn from_env() -> Result<Settings> {
        let settings = Settings {
            concurrency: list("BENCH_CONCURRENCY", "8,64")?,
            throughput_secs: var("BENCH_THROUGHPUT_SECS", 20.0)?,
            throughput_records: var("BENCH_THROUGHPUT_RECORDS", 500)?,
            freshness_rate: var("BENCH_FRESHNESS_RATE", 2000.0)?,
            freshness_records: var("BENCH_FRESHNESS_RECORDS", 100)?,
            freshness_secs: var("BENCH_FRESHNESS_SECS", 20.0)?,
            freshness_delays: list("BENCH_FRESHNESS_DELAYS", "1000")?,
            check_every: var("BENCH_CHECK_EVERY", 10)?,
            rss_rate: var("BENCH_RSS_RATE", 20_000.0)?,
            rss_records: var("BENCH_RSS_RECORDS", 500)?,
            rss_secs: var("BENCH_RSS_SECS", 30.0)?,
            max_in_flight: var("BENCH_MAX_IN_FLIGHT", 1024)?,
            phases: list("BENCH_PHASES", "throughput,freshness,rss")?,
            keep: std::env::var("BENCH_KEEP").is_ok_and(|v| v == "1"),
        };
        if let Some(unknown) =
            settings.phases.iter().find(|p| !["throughput", "freshness", "rss"].contains(&p.as_str()))
        {
            return Err(format!("BENCH_PHASES: unknown phase {unknown:?} (throughput, freshness, rss)").into());
        }
        Ok(settings)
    }
}

fn var<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().map_err(|_| format!("{name}={text:?} is not a valid value").into()),
        Err(_) => Ok(default),
    }
}

fn list<T: std::str::FromStr>(name: &str, default: &str) -> Result<Vec<T>> {
    let text = std::env::var(name).unwrap_or_else(|_| default.to_string());
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().map_err(|_| format!("{name}={text:?} is not a valid list").into()))
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------------------------

/// A child process stopped on drop: SIGTERM (the relay flushes, the front removes its scratch files), then
/// SIGKILL if it is still there after 10 s.
struct Proc {
    name: &'static str,
    child: Child,
    _stdout: Option<ChildStdout>,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("bench: {} (pid {}) ignored SIGTERM; killing it", self.name, self.pid());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The ClickHouse the relay writes to.
struct ClickHouse {
    url: String,
    /// The chdb front, when we started one.
    front: Option<Proc>,
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn start_clickhouse(scratch: &Path) -> Result<ClickHouse> {
    if let Ok(url) = std::env::var("CLICKHOUSE_URL") {
        return Ok(ClickHouse { url, front: None });
    }
    let python = std::env::var_os("TOKENLEDGER_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join(".venv/bin/python"));
    let script = manifest_dir().join("tests/support/clickhouse_http.py");
    let log = std::fs::File::create(scratch.join("clickhouse-http.log"))?;
    let mut child = Command::new(&python)
        .arg(&script)
        .args(["--port", "0", "--exit-with-parent", "--data-dir"])
        .arg(scratch.join("chdb-data"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| {
            format!("starting {} {}: {e} (run `make test` to make the venv)", python.display(), script.display())
        })?;
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut front = Proc { name: "clickhouse_http.py", child, _stdout: None };
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    let port: u16 = line.trim().strip_prefix("LISTENING ").and_then(|p| p.parse().ok()).ok_or_else(|| {
        format!("clickhouse_http.py said {line:?}; see {}", scratch.join("clickhouse-http.log").display())
    })?;
    front._stdout = Some(stdout.into_inner());
    Ok(ClickHouse { url: format!("http://127.0.0.1:{port}"), front: Some(front) })
}

/// The relay binary: TOKENLEDGER_BIN, else target/release/tokenledger after `cargo build --release --bin
/// tokenledger` (a no-op when it is up to date).
fn relay_binary() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("TOKENLEDGER_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench: cargo build --release --bin tokenledger");
    let status = Command::new(cargo)
        .args(["build", "--release", "--bin", "tokenledger"])
        .current_dir(manifest_dir())
        .status()?;
    if !status.success() {
        return Err(format!("cargo build --release --bin tokenledger: {status}").into());
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| manifest_dir().join("target"));
    Ok(target.join("release/tokenledger"))
}

/// A running relay.
struct Relay {
    proc: Proc,
    http: String,
    admin: String,
    database: String,
    log: PathBuf,
    /// The effective batch settings, as `tokenledger config` prints them with the same environment.
    max_delay_ms: u64,
    max_rows: u64,
    max_pending_rows: u64,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn relay_command(bin: &Path, dir: &Path, env: &[(String, String)]) -> Command {
    let mut command = Command::new(bin);
    // Nothing from the caller's environment or a tokenledger.toml in the working directory leaks in.
    command.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TOKENLEDGER_") {
            command.env_remove(key);
        }
    }
    command.env("RUST_LOG", "info");
    command.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let extra = std::env::var("BENCH_RELAY_ENV").unwrap_or_default();
    command.envs(extra.split(',').filter_map(|pair| pair.split_once('=')));
    command
}

async fn start_relay(bin: &Path, dir: &Path, url: &str, database: &str, max_delay_ms: Option<u64>) -> Result<Relay> {
    let (http, grpc, admin) = (free_port()?, free_port()?, free_port()?);
    let mut env = vec![
        ("TOKENLEDGER_CLICKHOUSE__URL".to_string(), url.to_string()),
        ("TOKENLEDGER_CLICKHOUSE__DATABASE".to_string(), database.to_string()),
        ("TOKENLEDGER_OTLP__HTTP_ADDR".to_string(), format!("127.0.0.1:{http}")),
        ("TOKENLEDGER_OTLP__GRPC_ADDR".to_string(), format!("127.0.0.1:{grpc}")),
        ("TOKENLEDGER_ADMIN__ADDR".to_string(), format!("127.0.0.1:{admin}")),
    ];
    if let Some(ms) = max_delay_ms {
        env.push(("TOKENLEDGER_BATCH__MAX_DELAY_MS".to_string(), ms.to_string()));
    }

    let shown = relay_command(bin, dir, &env).arg("config").output()?;
    if !shown.status.success() {
        return Err(format!("tokenledger config: {}", String::from_utf8_lossy(&shown.stderr)).into());
    }
    let config: toml::Value = toml::from_str(&String::from_utf8_lossy(&shown.stdout))?;
    let batch = |key: &str| -> Result<u64> {
        config
            .get("batch")
            .and_then(|b| b.get(key))
            .and_then(toml::Value::as_integer)
            .map(|v| v as u64)
            .ok_or_else(|| format!("`tokenledger config` shows no batch.{key}").into())
    };
    let (max_delay_ms, max_rows, max_pending_rows) =
        (batch("max_delay_ms")?, batch("max_rows")?, batch("max_pending_rows")?);

    let log = dir.join(format!("relay-{database}.log"));
    let child = relay_command(bin, dir, &env)
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bin.display()))?;
    let mut relay = Relay {
        proc: Proc { name: "tokenledger serve", child, _stdout: None },
        http: format!("http://127.0.0.1:{http}"),
        admin: format!("http://127.0.0.1:{admin}"),
        database: database.to_string(),
        log,
        max_delay_ms,
        max_rows,
        max_pending_rows,
    };
    // Ready: schema applied, listening, ClickHouse answering.
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = relay.proc.exited() {
            return Err(format!("the relay exited ({status}) at start:\n{}", tail(&relay.log, 20)).into());
        }
        if let Ok(response) = client.get(format!("{}/readyz", relay.admin)).send().await {
            if response.status().is_success() {
                return Ok(relay);
            }
        }
        if Instant::now() > deadline {
            return Err(format!("the relay was not ready after 120 s:\n{}", tail(&relay.log, 20)).into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------------------------------------------
// Workload
// ---------------------------------------------------------------------------------------------------------------

/// `workload::logs_request(records, 0)`, shifted to any offset without re-reading the fixtures:
/// `body(offset)` is byte for byte `workload::logs_body(records, offset)` (checked at start).
struct Template {
    records: usize,
    request: ExportLogsServiceRequest,
    /// Records that are api_request events, so rows of otel_api_request_events per request.
    api_requests: u64,
}

impl Template {
    fn new(records: usize) -> Result<Template> {
        let request = workload::logs_request(records, 0);
        let api_requests = request
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .filter(|r| matches!(r.body.as_ref().and_then(|b| b.value.as_ref()), Some(Value::StringValue(s)) if s == API_REQUEST))
            .count() as u64;
        let template = Template { records, request, api_requests };
        for offset in [0, 7, 1_234_500] {
            if template.body(offset) != workload::logs_body(records, offset) {
                return Err(format!("Template::body({offset}) differs from workload::logs_body").into());
            }
        }
        Ok(template)
    }

    fn body(&self, offset: u64) -> Vec<u8> {
        let mut request = self.request.clone();
        let mut i = 0u64;
        for resource in &mut request.resource_logs {
            for scope in &mut resource.scope_logs {
                for record in &mut scope.log_records {
                    workload::make_nth(record, offset, offset + i);
                    i += 1;
                }
            }
        }
        request.encode_to_vec()
    }
}

/// Run-wide record counter: each request takes the next `records` sequence numbers.
static NEXT_OFFSET: AtomicU64 = AtomicU64::new(0);

fn take_offset(records: usize) -> u64 {
    NEXT_OFFSET.fetch_add(records as u64, Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------------------------------------------

#[derive(Default)]
struct Load {
    sent: u64,
    /// Ticks of a paced phase that sent nothing because `max_in_flight` requests were waiting.
    skipped: u64,
    ok_requests: u64,
    ok_records: u64,
    /// partial_success.rejected_log_records summed over 200 answers.
    rejected_records: u64,
    /// Non-200 answers and transport errors, by status.
    failed: BTreeMap<String, u64>,
    /// Seconds from send to the 200 answer, one per acknowledged request.
    latencies: Vec<f64>,
    /// (seconds from the phase start to the send, seconds to the 200 answer), one per acknowledged request.
    timeline: Vec<(f64, f64)>,
    /// Sampled visibility checks: (all rows visible, seconds from send to the check's answer).
    checks: Vec<(bool, f64)>,
    first_failure: Option<String>,
    /// First send → last answer.
    elapsed: f64,
    /// First send → last send.
    send_elapsed: f64,
    /// Paced phases: requests scheduled, and the length of the schedule (requests / rate).
    scheduled: u64,
    schedule_secs: f64,
}

impl Load {
    fn failed_text(&self) -> String {
        if self.failed.is_empty() {
            return "0".into();
        }
        self.failed.iter().map(|(k, v)| format!("{v}× {k}")).collect::<Vec<_>>().join(", ")
    }
}

struct Target {
    client: reqwest::Client,
    url: String,
    /// For visibility checks.
    clickhouse: clickhouse::Client,
}

/// Posts one body; Ok(rejected records) on 200, Err(status or error) otherwise.
async fn post(client: &reqwest::Client, url: &str, body: Vec<u8>) -> Result<u64, (String, String)> {
    let response = client
        .post(url)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .map_err(|e| ("transport error".to_string(), e.to_string()))?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| ("transport error".to_string(), e.to_string()))?;
    if status != reqwest::StatusCode::OK {
        return Err((status.to_string(), String::from_utf8_lossy(&bytes).chars().take(300).collect()));
    }
    let answer =
        ExportLogsServiceResponse::decode(&bytes[..]).map_err(|e| ("bad 200 body".to_string(), e.to_string()))?;
    Ok(answer.partial_success.map(|p| p.rejected_log_records.max(0) as u64).unwrap_or(0))
}

/// Whether every row of the request at `offset` is visible in otel_events and otel_api_request_events.
async fn visible(clickhouse: &clickhouse::Client, template: &Template, offset: u64) -> Result<bool> {
    let end = offset + template.records as u64;
    let (events, api): (u64, u64) = clickhouse
        .query(
            "SELECT ifNull((SELECT count() FROM otel_events WHERE event_sequence >= ? AND event_sequence < ?), 0), \
             ifNull((SELECT count() FROM otel_api_request_events WHERE event_sequence >= ? AND event_sequence < ?), 0)",
        )
        .bind(offset)
        .bind(end)
        .bind(offset)
        .bind(end)
        .fetch_one()
        .await?;
    Ok(events == template.records as u64 && api == template.api_requests)
}

/// One request: build, send, record; optionally check visibility right after the 200.
async fn one_request(target: &Target, template: &Template, load: &Mutex<Load>, check: bool, start: Instant) {
    let offset = take_offset(template.records);
    let body = template.body(offset);
    let sent = Instant::now();
    let result = post(&target.client, &target.url, body).await;
    let answered = sent.elapsed().as_secs_f64();
    let check = match (&result, check) {
        (Ok(_), true) => {
            let ok = visible(&target.clickhouse, template, offset).await.unwrap_or_else(|e| {
                eprintln!("bench: visibility query failed: {e}");
                false
            });
            Some((ok, sent.elapsed().as_secs_f64()))
        }
        _ => None,
    };
    let mut load = load.lock().unwrap();
    load.sent += 1;
    match result {
        Ok(rejected) => {
            load.ok_requests += 1;
            load.ok_records += template.records as u64;
            load.rejected_records += rejected;
            load.latencies.push(answered);
            load.timeline.push((sent.duration_since(start).as_secs_f64(), answered));
        }
        Err((status, body)) => {
            *load.failed.entry(status.clone()).or_default() += 1;
            load.first_failure.get_or_insert(format!("{status}: {body}"));
        }
    }
    if let Some(check) = check {
        load.checks.push(check);
    }
}

/// `concurrency` senders, each posting its next request as soon as the previous is answered, for `secs`.
async fn closed_loop(target: Arc<Target>, template: Arc<Template>, concurrency: usize, secs: f64) -> Load {
    let load = Arc::new(Mutex::new(Load::default()));
    let start = Instant::now();
    let stop = start + Duration::from_secs_f64(secs);
    let last_send = Arc::new(Mutex::new(start));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (target, template, load, last_send) = (target.clone(), template.clone(), load.clone(), last_send.clone());
        workers.push(tokio::spawn(async move {
            while Instant::now() < stop {
                *last_send.lock().unwrap() = Instant::now();
                one_request(&target, &template, &load, false, start).await;
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    let mut load = Arc::try_unwrap(load).ok().expect("workers done").into_inner().unwrap();
    load.elapsed = start.elapsed().as_secs_f64();
    load.send_elapsed = last_send.lock().unwrap().duration_since(start).as_secs_f64();
    load
}

/// Open loop: a request every 1/`rate` s whatever the answers, for `secs`; every `check_every`-th is followed by
/// a visibility query (0: none).
async fn paced(
    target: Arc<Target>,
    template: Arc<Template>,
    rate: f64,
    secs: f64,
    check_every: u64,
    max_in_flight: usize,
) -> Load {
    let load = Arc::new(Mutex::new(Load::default()));
    let requests = (rate * secs).round().max(1.0) as u64;
    let slots = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    // A late tick is caught up at once, so the average rate holds when this process is briefly starved.
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(requests as usize);
    let start = Instant::now();
    let mut last_send = start;
    for k in 0..requests {
        ticker.tick().await;
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            load.lock().unwrap().skipped += 1;
            continue;
        };
        last_send = Instant::now();
        let check = check_every > 0 && k % check_every == 0;
        let (target, template, load) = (target.clone(), template.clone(), load.clone());
        tasks.push(tokio::spawn(async move {
            one_request(&target, &template, &load, check, start).await;
            drop(slot);
        }));
    }
    let send_elapsed = last_send.duration_since(start).as_secs_f64();
    for task in tasks {
        let _ = task.await;
    }
    let mut load = Arc::try_unwrap(load).ok().expect("tasks done").into_inner().unwrap();
    load.elapsed = start.elapsed().as_secs_f64();
    load.send_elapsed = send_elapsed;
    load.scheduled = requests;
    load.schedule_secs = requests as f64 / rate;
    load
}

// ---------------------------------------------------------------------------------------------------------------
// Measuring processes
// ---------------------------------------------------------------------------------------------------------------

fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process (all its threads), in seconds.
fn cpu_seconds(pid: u32, ticks: f64) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / ticks)
}

/// (busy, total) jiffies of the whole machine.
fn machine_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let values: Vec<u64> =
        stat.lines().next().unwrap_or("").split_whitespace().skip(1).take(8).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = values.iter().sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// A `Vm*:` line of /proc/<pid>/status, in KiB.
fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()
}

struct CpuMark {
    at: Instant,
    relay: f64,
    front: Option<f64>,
    me: f64,
    machine: (u64, u64),
    /// Every process: pid → (command line, CPU seconds).
    processes: BTreeMap<u32, (String, f64)>,
}

/// Every process on the machine with its command line (or name) and CPU seconds so far.
fn all_processes(ticks: f64) -> BTreeMap<u32, (String, f64)> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return out };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Some(cpu) = cpu_seconds(pid, ticks) else { continue };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let mut name: String =
            String::from_utf8_lossy(&cmdline).replace('\0', " ").trim().chars().take(70).collect::<String>();
        if name.is_empty() {
            name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim().to_string();
            name = format!("[{name}]");
        }
        out.insert(pid, (name, cpu));
    }
    out
}

fn cpu_mark(relay: u32, front: Option<u32>, ticks: f64) -> CpuMark {
    CpuMark {
        at: Instant::now(),
        relay: cpu_seconds(relay, ticks).unwrap_or(0.0),
        front: front.and_then(|pid| cpu_seconds(pid, ticks)),
        me: cpu_seconds(std::process::id(), ticks).unwrap_or(0.0),
        machine: machine_jiffies(),
        processes: all_processes(ticks),
    }
}

/// CPU used between two marks, in cores (CPU seconds per wall second).
struct CpuUse {
    relay: f64,
    front: Option<f64>,
    me: f64,
    /// Fraction of all the machine's cores busy (anyone's work).
    machine: f64,
    /// Wall seconds between the marks.
    wall: f64,
    /// The busiest other processes: (command line, cores).
    others: Vec<(String, f64)>,
}

fn cpu_use(a: &CpuMark, b: &CpuMark, ours: &[u32]) -> CpuUse {
    let wall = b.at.duration_since(a.at).as_secs_f64().max(1e-9);
    let (busy, total) = (b.machine.0 - a.machine.0, b.machine.1 - a.machine.1);
    CpuUse {
        relay: (b.relay - a.relay) / wall,
        front: a.front.zip(b.front).map(|(a, b)| (b - a) / wall),
        me: (b.me - a.me) / wall,
        machine: if total == 0 { 0.0 } else { busy as f64 / total as f64 },
        wall,
        others: {
            let mut others: Vec<(String, f64)> = b
                .processes
                .iter()
                .filter(|(pid, _)| !ours.contains(pid))
                .map(|(pid, (name, cpu))| {
                    let before = a.processes.get(pid).map(|(_, c)| *c).unwrap_or(0.0);
                    (name.clone(), (cpu - before) / wall)
                })
                .filter(|(_, cores)| *cores >= 0.05)
                .collect();
            others.sort_by(|x, y| y.1.total_cmp(&x.1));
            others.truncate(3);
            others
        },
    }
}

#[derive(Default, Clone)]
struct Samples {
    relay_rss_max_kib: u64,
    relay_rss: Vec<u64>,
    front_rss_max_kib: u64,
    pending_peak: f64,
}

/// Samples RSS every 100 ms and the relay's pending rows every second until `stop`.
fn sampler(relay: u32, front: Option<u32>, admin: String, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Samples> {
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut samples = Samples::default();
        let mut tick = 0u64;
        while !stop.load(Ordering::Relaxed) {
            if let Some(rss) = status_kib(relay, "VmRSS:") {
                samples.relay_rss_max_kib = samples.relay_rss_max_kib.max(rss);
                samples.relay_rss.push(rss);
            }
            if let Some(rss) = front.and_then(|pid| status_kib(pid, "VmRSS:")) {
                samples.front_rss_max_kib = samples.front_rss_max_kib.max(rss);
            }
            if tick.is_multiple_of(10) {
                if let Ok(text) = scrape(&client, &admin).await {
                    if let Some(pending) = prom_value(&text, "tokenledger_pending_rows") {
                        samples.pending_peak = samples.pending_peak.max(pending);
                    }
                }
            }
            tick += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        samples
    })
}

async fn scrape(client: &reqwest::Client, admin: &str) -> Result<String> {
    Ok(client.get(format!("{admin}/metrics")).send().await?.text().await?)
}

/// The value of an unlabelled sample.
fn prom_value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

/// Values of `name{...table="T"...}` by table.
fn prom_by_table(text: &str, name: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name).and_then(|r| r.strip_prefix('{')) else { continue };
        let Some((labels, value)) = rest.split_once("} ") else { continue };
        let Some(table) = labels.split("table=\"").nth(1).and_then(|t| t.split('"').next()) else { continue };
        if let Ok(value) = value.trim().parse::<f64>() {
            *out.entry(table.to_string()).or_default() += value;
        }
    }
    out
}

/// Per table: inserts, rows per insert, seconds per insert, total insert seconds.
struct InsertStats(Vec<(String, f64, f64, f64, f64)>);

fn insert_stats(text: &str) -> InsertStats {
    let count = prom_by_table(text, "tokenledger_insert_duration_seconds_count");
    let seconds = prom_by_table(text, "tokenledger_insert_duration_seconds_sum");
    let rows = prom_by_table(text, "tokenledger_batch_rows_sum");
    InsertStats(
        count
            .iter()
            .filter(|(_, n)| **n > 0.0)
            .map(|(table, n)| {
                let s = seconds.get(table).copied().unwrap_or(0.0);
                let r = rows.get(table).copied().unwrap_or(0.0);
                (table.clone(), *n, r / n, s / n, s)
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------------------------
// Phases
// ---------------------------------------------------------------------------------------------------------------

enum Shape {
    Closed { concurrency: usize },
    Paced { rate_events: f64, check_every: u64 },
}

struct PhaseSpec {
    key: String,
    title: String,
    shape: Shape,
    records: usize,
    secs: f64,
    max_delay_ms: Option<u64>,
}

struct Verify {
    events_final: u64,
    events_raw: u64,
    api_final: u64,
    api_expected: u64,
}

struct Phase {
    spec: PhaseSpec,
    relay_max_delay_ms: u64,
    relay_max_rows: u64,
    relay_max_pending_rows: u64,
    load: Load,
    cpu: CpuUse,
    samples: Samples,
    rss_idle_kib: u64,
    hwm_kib: u64,
    inserts: InsertStats,
    verify: Verify,
}

struct Bench {
    settings: Settings,
    bin: PathBuf,
    scratch: PathBuf,
    clickhouse_url: String,
    front_pid: Option<u32>,
    run_id: String,
    ticks: f64,
    templates: BTreeMap<usize, Arc<Template>>,
}

impl Bench {
    async fn run_phase(&self, spec: PhaseSpec) -> Result<Phase> {
        let database = format!("bench_{}_{}", self.run_id, spec.key);
        eprintln!("bench: phase {} → database {database}", spec.title);
        let relay = start_relay(&self.bin, &self.scratch, &self.clickhouse_url, &database, spec.max_delay_ms).await?;
        let result = self.drive(&relay, spec).await;
        let stop_started = Instant::now();
        drop(relay);
        eprintln!("bench: relay stopped in {:.1} s", stop_started.elapsed().as_secs_f64());
        if !self.settings.keep {
            let admin = clickhouse::Client::default().with_url(&self.clickhouse_url);
            if let Err(e) = admin.query(&format!("DROP DATABASE IF EXISTS `{database}`")).execute().await {
                eprintln!("bench: dropping {database}: {e}");
            }
        }
        result
    }

    async fn drive(&self, relay: &Relay, spec: PhaseSpec) -> Result<Phase> {
        let template = self.templates[&spec.records].clone();
        let clickhouse = clickhouse::Client::default().with_url(&self.clickhouse_url).with_database(&relay.database);
        let target = Arc::new(Target {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(2048)
                .timeout(Duration::from_secs(120))
                .build()?,
            url: format!("{}/v1/logs", relay.http),
            clickhouse: clickhouse.clone(),
        });
        let relay_pid = relay.proc.pid();
        // Let the start settle, then the idle figure.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_idle_kib = status_kib(relay_pid, "VmRSS:").unwrap_or(0);

        let stop = Arc::new(AtomicBool::new(false));
        let sampling = sampler(relay_pid, self.front_pid, relay.admin.clone(), stop.clone());
        let before = cpu_mark(relay_pid, self.front_pid, self.ticks);
        let load = match spec.shape {
            Shape::Closed { concurrency } => {
                closed_loop(target.clone(), template.clone(), concurrency, spec.secs).await
            }
            Shape::Paced { rate_events, check_every } => {
                let rate = rate_events / spec.records as f64;
                paced(target.clone(), template.clone(), rate, spec.secs, check_every, self.settings.max_in_flight).await
            }
        };
        let after = cpu_mark(relay_pid, self.front_pid, self.ticks);
        stop.store(true, Ordering::Relaxed);
        let samples = sampling.await?;
        let hwm_kib = status_kib(relay_pid, "VmHWM:").unwrap_or(0);
        let metrics = scrape(&reqwest::Client::new(), &relay.admin).await.unwrap_or_default();
        if let Some(failure) = &load.first_failure {
            eprintln!("bench: first failure: {failure}");
        }

        let count = |sql: &'static str| {
            let clickhouse = clickhouse.clone();
            async move { clickhouse.query(sql).fetch_one::<u64>().await }
        };
        let verify = Verify {
            events_final: count("SELECT count() FROM otel_events FINAL").await?,
            events_raw: count("SELECT count() FROM otel_events").await?,
            api_final: count("SELECT count() FROM otel_api_request_events FINAL").await?,
            api_expected: load.ok_requests * template.api_requests,
        };
        eprintln!(
            "bench:   {} acknowledged records in {:.1} s; otel_events FINAL {}; failed {}",
            load.ok_records,
            load.elapsed,
            verify.events_final,
            load.failed_text()
        );
        Ok(Phase {
            relay_max_delay_ms: relay.max_delay_ms,
            relay_max_rows: relay.max_rows,
            relay_max_pending_rows: relay.max_pending_rows,
            spec,
            load,
            cpu: cpu_use(&before, &after, &[relay_pid, std::process::id(), self.front_pid.unwrap_or(0)]),
            samples,
            rss_idle_kib,
            hwm_kib,
            inserts: insert_stats(&metrics),
            verify,
        })
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------------------------

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn sorted(values: &[f64]) -> Vec<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

fn ms(seconds: f64) -> String {
    format!("{:.0} ms", seconds * 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn thousands(n: f64) -> String {
    let n = n.round() as i64;
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn events_per_sec(load: &Load) -> f64 {
    load.ok_records as f64 / load.elapsed.max(1e-9)
}

fn exact(phase: &Phase) -> bool {
    let v = &phase.verify;
    v.events_final == phase.load.ok_records && v.events_raw == v.events_final && v.api_final == v.api_expected
}

fn freshness_cell(load: &Load) -> String {
    let l = sorted(&load.latencies);
    format!(
        "p50 {} · p99 {} · max {} (n={})",
        ms(percentile(&l, 0.5)),
        ms(percentile(&l, 0.99)),
        ms(l.last().copied().unwrap_or(f64::NAN)),
        l.len()
    )
}

fn checks_cell(load: &Load) -> String {
    let visible = load.checks.iter().filter(|(ok, _)| *ok).count();
    let t = sorted(&load.checks.iter().map(|(_, t)| *t).collect::<Vec<_>>());
    format!(
        "{visible}/{} sampled requests fully visible right after their 200 (send → check answered: p50 {}, max {})",
        load.checks.len(),
        ms(percentile(&t, 0.5)),
        ms(t.last().copied().unwrap_or(f64::NAN))
    )
}

fn machine_facts() -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let processors = cpuinfo.lines().filter(|l| l.starts_with("processor")).count();
    let nproc = Command::new("nproc")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|kib| kib.parse::<u64>().ok())
        .map(|kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "?".into());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    vec![
        ("nproc".into(), format!("{nproc} (processors in /proc/cpuinfo: {processors})")),
        ("CPU".into(), model),
        ("memory".into(), mem),
        ("kernel".into(), kernel.trim().to_string()),
        ("load average at start".into(), load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")),
    ]
}

fn git_revision() -> String {
    let run = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(manifest_dir())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "--short", "HEAD"]) {
        Some(rev) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{rev} + uncommitted changes")
            } else {
                rev
            }
        }
        None => "unknown".into(),
    }
}

fn command_line() -> String {
    let mut env: Vec<String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("BENCH_") || k == "CLICKHOUSE_URL" || k == "TOKENLEDGER_BIN")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    env.sort();
    env.push("cargo run --release --example bench_end_to_end".into());
    env.join(" ")
}

struct Context {
    engine: String,
    bin: PathBuf,
    templates: BTreeMap<usize, Arc<Template>>,
}

fn report(settings: &Settings, context: &Context, phases: &[Phase]) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "## End-to-end benchmark: relay binary → {}\n", context.engine);
    let _ = writeln!(w, "Command: `{}`\n", command_line());
    let _ = writeln!(w, "| machine | |\n|---|---|");
    for (k, v) in machine_facts() {
        let _ = writeln!(w, "| {k} | {v} |");
    }
    let _ = writeln!(w, "| relay binary | `{}` (release), source {} |", context.bin.display(), git_revision());
    let _ = writeln!(w, "| ClickHouse | {} |", context.engine);
    for (records, t) in &context.templates {
        let _ = writeln!(
            w,
            "| request of {records} records | {} bytes protobuf, {} api_request events |",
            thousands(t.body(0).len() as f64),
            t.api_requests
        );
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "### Results\n");
    let _ = writeln!(w, "| measurement | load | result | target |\n|---|---|---|---|");
    for p in phases {
        let l = &p.load;
        match (&p.spec.shape, p.spec.key.as_str()) {
            (Shape::Closed { concurrency }, _) => {
                let _ = writeln!(
                    w,
                    "| end-to-end events/s committed | closed loop, {concurrency} requests × {} records in flight, {:.0} s, max_delay_ms={} | **{} events/s** ({} records acknowledged in {:.1} s; failed requests {}) | |",
                    p.spec.records,
                    p.spec.secs,
                    p.relay_max_delay_ms,
                    thousands(events_per_sec(l)),
                    thousands(l.ok_records as f64),
                    l.elapsed,
                    l.failed_text()
                );
            }
            (Shape::Paced { rate_events, .. }, key) if key.starts_with("fresh") => {
                let target = if p.relay_max_delay_ms == 1000 { "p99 ≤ 1.5 s (1 s flush)" } else { "" };
                let p99 = percentile(&sorted(&l.latencies), 0.99);
                let verdict = if target.is_empty() {
                    String::new()
                } else if p99 <= 1.5 {
                    " ✅".into()
                } else {
                    " ❌".into()
                };
                let _ = writeln!(
                    w,
                    "| freshness, max_delay_ms={}{} | {} events/s paced = {:.0} req/s × {} records, {:.0} s | **{}**{verdict}; failed {} | {target} |",
                    p.relay_max_delay_ms,
                    if p.spec.max_delay_ms.is_none() { " (relay default)" } else { "" },
                    thousands(*rate_events),
                    rate_events / p.spec.records as f64,
                    p.spec.records,
                    p.spec.secs,
                    freshness_cell(l),
                    l.failed_text()
                );
                let _ = writeln!(
                    w,
                    "| ↳ visibility check | every {}th request | {} | all visible |",
                    settings.check_every,
                    checks_cell(l)
                );
            }
            (Shape::Paced { rate_events, .. }, _) => {
                let hwm_ok = if p.hwm_kib <= 64 * 1024 { "✅" } else { "❌" };
                let _ = writeln!(
                    w,
                    "| relay peak RSS (VmHWM) | {} events/s paced = {:.0} req/s × {} records, {:.0} s, max_delay_ms={} | **{}** {hwm_ok} (VmRSS sampled every 100 ms: max {}, median {}; idle before load {}) | ≤ 64 MiB |",
                    thousands(*rate_events),
                    rate_events / p.spec.records as f64,
                    p.spec.records,
                    p.spec.secs,
                    p.relay_max_delay_ms,
                    mib(p.hwm_kib),
                    mib(p.samples.relay_rss_max_kib),
                    mib({
                        let mut v = p.samples.relay_rss.clone();
                        v.sort_unstable();
                        v.get(v.len() / 2).copied().unwrap_or(0)
                    }),
                    mib(p.rss_idle_kib)
                );
                // Sustained: every scheduled request sent and answered 200, no backlog building up (the answer
                // latency of the last third of the schedule is not above that of the first third), and the last
                // answer soon after the last send.
                let third = l.schedule_secs / 3.0;
                let window = |from: f64, to: f64| {
                    sorted(
                        &l.timeline
                            .iter()
                            .filter(|(at, _)| *at >= from && *at < to)
                            .map(|(_, t)| *t)
                            .collect::<Vec<_>>(),
                    )
                };
                let (first, last) = (window(0.0, third), window(2.0 * third, f64::INFINITY));
                let (first_p50, last_p50) = (percentile(&first, 0.5), percentile(&last, 0.5));
                let tail = l.elapsed - l.send_elapsed;
                let all_acked = l.ok_requests == l.scheduled && l.skipped == 0;
                let no_backlog = last_p50 <= 1.5 * first_p50 + 0.1 && tail < 5.0;
                let verdict = if all_acked && no_backlog { "✅ sustained" } else { "❌ not sustained" };
                let _ = writeln!(
                    w,
                    "| ↳ sustained rate | same | **{} events/s** acknowledged over the {:.0} s schedule {verdict}: {}/{} requests answered 200 ({} not sent at the in-flight cap of {}, failed {}); answer latency {}; p50 first third {} vs last third {}; last answer {:.2} s after the last send; first send → last answer {} events/s | {} events/s |",
                    thousands(l.ok_records as f64 / l.schedule_secs.max(1e-9)),
                    l.schedule_secs,
                    l.ok_requests,
                    l.scheduled,
                    l.skipped,
                    settings.max_in_flight,
                    l.failed_text(),
                    freshness_cell(l),
                    ms(first_p50),
                    ms(last_p50),
                    tail,
                    thousands(events_per_sec(l)),
                    thousands(*rate_events)
                );
            }
        }
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "### Committed rows vs acknowledged (exact)\n");
    let _ = writeln!(
        w,
        "| phase | records acknowledged (200) | otel_events FINAL | otel_events (no FINAL) | otel_api_request_events FINAL | expected api rows | rejected (partial_success) | exact |\n|---|---|---|---|---|---|---|---|"
    );
    for p in phases {
        let v = &p.verify;
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            p.spec.title,
            p.load.ok_records,
            v.events_final,
            v.events_raw,
            v.api_final,
            v.api_expected,
            p.load.rejected_records,
            if exact(p) { "✅" } else { "❌" }
        );
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "### Where the time goes (CPU in cores = CPU seconds / wall seconds over the load)\n");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let _ = writeln!(
        w,
        "| phase | relay CPU (µs per event) | ClickHouse front CPU (µs per event) | load generator CPU | other processes CPU (busiest) | machine busy (all {cores} cores) | relay VmHWM | front peak RSS | relay peak pending rows | inserts per table: count × avg rows, avg time (sum) |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for p in phases {
        let inserts = p
            .inserts
            .0
            .iter()
            .map(|(table, n, rows, secs, total)| format!("{table}: {n:.0} × {rows:.0}, {} ({:.1} s)", ms(*secs), total))
            .collect::<Vec<_>>()
            .join("; ");
        let busy: f64 = p.inserts.0.iter().map(|(_, _, _, _, total)| total).sum();
        let per_event = |cores: f64| cores * p.cpu.wall / (p.load.ok_records.max(1) as f64) * 1e6;
        let _ = writeln!(
            w,
            "| {} | {:.2} ({:.0}) | {} | {:.2} | {:.2}{} | {:.0} % | {} | {} | {} | {inserts}; insert time / wall = {:.2} |",
            p.spec.title,
            p.cpu.relay,
            per_event(p.cpu.relay),
            p.cpu.front.map(|c| format!("{c:.2} ({:.0})", per_event(c))).unwrap_or_else(|| "n/a (external)".into()),
            p.cpu.me,
            (p.cpu.machine * cores as f64 - p.cpu.relay - p.cpu.front.unwrap_or(0.0) - p.cpu.me).max(0.0),
            if p.cpu.others.is_empty() {
                String::new()
            } else {
                format!(
                    " ({})",
                    p.cpu.others.iter().map(|(n, c)| format!("`{}` {c:.2}", n.replace('|', "/"))).collect::<Vec<_>>().join(", ")
                )
            },
            p.cpu.machine * 100.0,
            mib(p.hwm_kib),
            if p.samples.front_rss_max_kib > 0 { mib(p.samples.front_rss_max_kib) } else { "n/a".into() },
            thousands(p.samples.pending_peak),
            busy / p.load.elapsed.max(1e-9)
        );
    }
    let _ = writeln!(w);
    let _ = writeln!(w, "Definitions:");
    let _ = writeln!(
        w,
        "- events/s: records of requests answered 200, divided by the time from the first request sent to the last answer received. The relay answers 200 only after every row of the request is committed."
    );
    let _ = writeln!(
        w,
        "- freshness: from the moment the load generator starts sending a request (its body already encoded) to the moment it has the 200 answer. The relay answers only after the request's rows are committed, so they are visible to any SELECT from then on: this is an upper bound of request sent → rows visible. Every {}th request is followed at once by `SELECT count()` of its `event_sequence` range in otel_events and otel_api_request_events, which must find all of its rows.",
        settings.check_every
    );
    let _ = writeln!(
        w,
        "- paced phases send on a fixed schedule whatever the answers (open loop); RSS is VmRSS / VmHWM of the relay process from /proc/<pid>/status; batch settings are the relay's effective ones (`tokenledger config`): max_rows {}, max_pending_rows {}.",
        phases.first().map(|p| p.relay_max_rows).unwrap_or(0),
        phases.first().map(|p| p.relay_max_pending_rows).unwrap_or(0)
    );
    out
}

// ---------------------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------------------

async fn run() -> Result<String> {
    let settings = Settings::from_env()?;
    let bin = relay_binary()?;
    if !bin.exists() {
        return Err(format!("no relay binary at {}", bin.display()).into());
    }
    let mut templates = BTreeMap::new();
    for records in [settings.throughput_records, settings.freshness_records, settings.rss_records] {
        if let std::collections::btree_map::Entry::Vacant(entry) = templates.entry(records) {
            entry.insert(Arc::new(Template::new(records)?));
        }
    }

    // Dropped last: the processes below use it.
    let scratch = tempfile::Builder::new().prefix("bench-end-to-end-").tempdir()?;
    let clickhouse = start_clickhouse(scratch.path())?;
    let engine_version = clickhouse::Client::default()
        .with_url(&clickhouse.url)
        .query("SELECT version()")
        .fetch_one::<String>()
        .await
        .map_err(|e| format!("ClickHouse at {}: {e}", clickhouse.url))?;
    let engine = match &clickhouse.front {
        Some(_) => format!("chdb engine (ClickHouse {engine_version}) behind tests/support/clickhouse_http.py"),
        None => format!("ClickHouse {engine_version} at {}", clickhouse.url),
    };
    let run_id = format!("{}_{}", std::process::id(), SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs());
    let bench = Bench {
        settings: settings.clone(),
        bin: bin.clone(),
        scratch: scratch.path().to_path_buf(),
        clickhouse_url: clickhouse.url.clone(),
        front_pid: clickhouse.front.as_ref().map(Proc::pid),
        run_id,
        ticks: clock_ticks(),
        templates: templates.clone(),
    };

    let mut specs = Vec::new();
    let wanted = |phase: &str| settings.phases.iter().any(|p| p == phase);
    for &concurrency in settings.concurrency.iter().filter(|_| wanted("throughput")) {
        specs.push(PhaseSpec {
            key: format!("tput{concurrency}"),
            title: format!("throughput, {concurrency} in flight"),
            shape: Shape::Closed { concurrency },
            records: settings.throughput_records,
            secs: settings.throughput_secs,
            max_delay_ms: None,
        });
    }
    for delay in
        std::iter::once(None).chain(settings.freshness_delays.iter().copied().map(Some)).filter(|_| wanted("freshness"))
    {
        specs.push(PhaseSpec {
            key: format!("fresh{}", delay.map(|d| d.to_string()).unwrap_or_else(|| "default".into())),
            title: format!(
                "freshness, max_delay_ms={}",
                delay.map(|d| d.to_string()).unwrap_or_else(|| "default".into())
            ),
            shape: Shape::Paced { rate_events: settings.freshness_rate, check_every: settings.check_every },
            records: settings.freshness_records,
            secs: settings.freshness_secs,
            max_delay_ms: delay,
        });
    }
    specs.extend(wanted("rss").then(|| PhaseSpec {
        key: "rss".into(),
        title: format!("rss, {} events/s", thousands(settings.rss_rate)),
        shape: Shape::Paced { rate_events: settings.rss_rate, check_every: 0 },
        records: settings.rss_records,
        secs: settings.rss_secs,
        max_delay_ms: None,
    }));

    let mut phases = Vec::new();
    for spec in specs {
        phases.push(bench.run_phase(spec).await?);
        // Let the engine's background merges of the previous phase calm down.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    if let Some(front) = &clickhouse.front {
        if let Some(hwm) = status_kib(front.pid(), "VmHWM:") {
            eprintln!("bench: clickhouse_http.py VmHWM {}", mib(hwm));
        }
    }
    let context = Context { engine, bin, templates };
    let text = report(&settings, &context, &phases);
    drop(clickhouse);
    if settings.keep {
        eprintln!("bench: BENCH_KEEP=1: logs and engine data kept in {}", scratch.keep().display());
    } else {
        drop(scratch);
    }
    Ok(text)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // On Ctrl-C the run future is dropped, and with it the guards that stop the children.
    let outcome = tokio::select! {
        outcome = run() => outcome,
        _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
    };
    match outcome {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("bench_end_to_end: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
