//! Side-by-side benchmark of commit policies: tokenledger before (commit by size or `batch.max_delay_ms` only),
//! tokenledger after (adaptive commits, the defaults), and Rotel's ClickHouse exporter, all fed by the same gRPC
//! load generator and writing into the same ClickHouse front. Prints a Markdown report.
//!
//! ```sh
//! cargo run --release --example bench_commits
//! ```
//!
//! - ClickHouse: the chdb engine behind tests/support/clickhouse_http.py (`.venv/bin/python`), one scratch
//!   data directory, a fresh database per run.
//! - tokenledger: `TOKENLEDGER_BIN` or target/release/tokenledger (built first). "before" is the same binary with
//!   `batch.idle_ms = 0` and `batch.max_inserts_per_sec = 0`: main's policy (an INSERT ends at max_rows,
//!   max_bytes or max_delay_ms, nothing else).
//! - Rotel: `ROTEL_BIN`, else the `rotel-agent` of PyPI `rotel` 0.0.1a15 in .cache/rotel-venv-0.0.1a15 (made by
//!   `make rotel`), `--exporter clickhouse` with its defaults (async insert, 200 ms batch timeout), writing
//!   `otel_logs` of a table this program creates with the exporter's column list.
//! - Load: `concurrency` gRPC clients (one channel each), closed loop for `BENCH_SECS` s, each request 500
//!   distinct records (benches/workload.rs). A request is sampled for freshness at most every 250 ms; one poller
//!   asks ClickHouse every 200 ms (one query for all pending samples) which sampled requests are fully visible:
//!   freshness = send → first poll that sees all its records (200 ms resolution).
//! - After the load, records stored are counted (otel_events, or otel_logs) every 250 ms until the count stops
//!   growing for 2 s (at most `BENCH_SETTLE_SECS` s). stored/s = stored / (first send → last growth of the count,
//!   or the last answer if later); lost = acknowledged − stored (never below 0).
//! - INSERTs/s per table: parts of level 0 (one per INSERT, or per async-insert flush) in system.parts over the
//!   load time, the busiest table; for tokenledger also its own `tokenledger_inserts_total`.

#[path = "../benches/workload.rs"]
mod workload;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Result<T, E = Error> = std::result::Result<T, E>;

fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A child process stopped on drop (SIGTERM, then SIGKILL after 10 s).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        for _ in 0..200 {
            if self.0.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum System {
    Before,
    After,
    Rotel,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Before => "tokenledger before (size or 500 ms delay)",
            System::After => "tokenledger after (adaptive, defaults)",
            System::Rotel => "Rotel 0.0.1a15 ClickHouse exporter",
        }
    }
}

struct Bench {
    scratch: PathBuf,
    url: String,
    admin: clickhouse::Client,
    tokenledger: PathBuf,
    rotel: PathBuf,
    secs: f64,
    settle: f64,
    records: usize,
    template: ExportLogsServiceRequest,
    next_offset: AtomicU64,
}

/// One run's figures.
#[derive(Debug, Clone)]
struct Run {
    acked: u64,
    stored: u64,
    /// First send → last answer.
    elapsed: f64,
    /// First send → the last row stored (the count stopped growing).
    stored_elapsed: f64,
    failed: u64,
    freshness: Vec<f64>,
    unseen: u64,
    /// Level-0 parts per table over the load time.
    parts_per_sec: BTreeMap<String, f64>,
    /// tokenledger's own count of INSERTs, per table, per second.
    inserts_per_sec: BTreeMap<String, f64>,
}

impl Bench {
    fn body(&self, offset: u64) -> ExportLogsServiceRequest {
        let mut request = self.template.clone();
        let mut i = 0u64;
        for resource in &mut request.resource_logs {
            for scope in &mut resource.scope_logs {
                for record in &mut scope.log_records {
                    workload::make_nth(record, offset, offset + i);
                    i += 1;
                }
            }
        }
        request
    }

    /// Starts a system writing to `database`; returns its gRPC endpoint, admin URL (tokenledger) and process.
    async fn start(&self, system: System, database: &str) -> Result<(String, Option<String>, Proc)> {
        let (grpc, http, admin) = (free_port()?, free_port()?, free_port()?);
        let log = std::fs::File::create(self.scratch.join(format!("{database}.log")))?;
        let (proc, admin_url) = match system {
            System::Before | System::After => {
                let mut command = Command::new(&self.tokenledger);
                for (key, _) in std::env::vars_os() {
                    if key.to_string_lossy().starts_with("TOKENLEDGER_") {
                        command.env_remove(key);
                    }
                }
                command
                    .current_dir(&self.scratch)
                    .env("TOKENLEDGER_CLICKHOUSE__URL", &self.url)
                    .env("TOKENLEDGER_CLICKHOUSE__DATABASE", database)
                    .env("TOKENLEDGER_OTLP__GRPC_ADDR", format!("127.0.0.1:{grpc}"))
                    .env("TOKENLEDGER_OTLP__HTTP_ADDR", format!("127.0.0.1:{http}"))
                    .env("TOKENLEDGER_ADMIN__ADDR", format!("127.0.0.1:{admin}"))
                    .env("TOKENLEDGER_LIMITS__MAX_EVENT_AGE_HOURS", "1000000");
                if system == System::Before {
                    command.env("TOKENLEDGER_BATCH__IDLE_MS", "0").env("TOKENLEDGER_BATCH__MAX_INSERTS_PER_SEC", "0");
                }
                let child = command.arg("serve").stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn()?;
                (Proc(child), Some(format!("http://127.0.0.1:{admin}")))
            }
            System::Rotel => {
                self.admin.query(&format!("CREATE DATABASE {database}")).execute().await?;
                self.admin.query(&rotel_logs_ddl(database)).execute().await?;
                let child = Command::new(&self.rotel)
                    .args(["start", "--exporter", "clickhouse", "--clickhouse-exporter-endpoint", &self.url])
                    .args(["--clickhouse-exporter-database", database])
                    .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc}")])
                    .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http}")])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()?;
                (Proc(child), None)
            }
        };
        let endpoint = format!("http://127.0.0.1:{grpc}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = match &admin_url {
                Some(admin) => reqwest::get(format!("{admin}/readyz")).await.is_ok_and(|r| r.status().is_success()),
                None => tokio::net::TcpStream::connect(("127.0.0.1", grpc)).await.is_ok(),
            };
            if ready {
                return Ok((endpoint, admin_url, proc));
            }
            if Instant::now() > deadline {
                return Err(format!("{} not ready after 60 s", system.name()).into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Records of `[offset, offset + records)` visible.
    /// Which of the requests `keys` (offset / records) have all their records visible, in one query.
    async fn visible(&self, system: System, database: &str, keys: &[u64]) -> Result<Vec<u64>> {
        let list = keys.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        let (sequence, table) = match system {
            System::Rotel => ("toUInt64OrZero(LogAttributes['event.sequence'])", "otel_logs"),
            _ => ("event_sequence", "otel_events"),
        };
        let sql = format!(
            "SELECT k FROM (SELECT intDiv({sequence}, {records}) AS k, count() AS n FROM {database}.{table} \
             WHERE k IN ({list}) GROUP BY k) WHERE n >= {records}",
            records = self.records
        );
        Ok(self.admin.query(&sql).fetch_all::<u64>().await?)
    }

    async fn stored(&self, system: System, database: &str) -> Result<u64> {
        let table = if system == System::Rotel { "otel_logs" } else { "otel_events" };
        Ok(self.admin.query(&format!("SELECT count() FROM {database}.{table}")).fetch_one::<u64>().await?)
    }

    async fn run(self: &Arc<Self>, system: System, concurrency: usize, rep: usize) -> Result<Run> {
        let database = format!("bench_commits_{}_{:?}_{concurrency}_{rep}", std::process::id(), system).to_lowercase();
        let (endpoint, admin, proc) = self.start(system, &database).await?;
        let acked = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        // Sampled requests (offset / records, send time); one poller sees them become visible.
        let samples = Arc::new(Mutex::new(Vec::<(u64, Instant)>::new()));
        let last_sample = Arc::new(Mutex::new(Instant::now() - Duration::from_secs(1)));
        let start = Instant::now();
        let stop = start + Duration::from_secs_f64(self.secs);
        let mut senders = Vec::new();
        for _ in 0..concurrency {
            let mut client = LogsServiceClient::connect(endpoint.clone()).await?.max_decoding_message_size(64 << 20);
            let (bench, acked, failed, samples, last_sample) =
                (self.clone(), acked.clone(), failed.clone(), samples.clone(), last_sample.clone());
            senders.push(tokio::spawn(async move {
                while Instant::now() < stop {
                    let offset = bench.next_offset.fetch_add(bench.records as u64, Ordering::Relaxed);
                    let request = bench.body(offset);
                    let sent = Instant::now();
                    match client.export(request).await {
                        Ok(_) => acked.fetch_add(bench.records as u64, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    let mut last = last_sample.lock().unwrap();
                    if sent.duration_since(*last) >= Duration::from_millis(250) {
                        *last = sent;
                        samples.lock().unwrap().push((offset / bench.records as u64, sent));
                    }
                }
            }));
        }
        let poller = {
            let (bench, samples, database) = (self.clone(), samples.clone(), database.clone());
            let done = Arc::new(Mutex::new(false));
            let stop_polling = done.clone();
            let task = tokio::spawn(async move {
                let mut seen: BTreeMap<u64, f64> = BTreeMap::new();
                let give_up = stop + Duration::from_secs_f64(bench.settle + 5.0);
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let pending: Vec<(u64, Instant)> =
                        samples.lock().unwrap().iter().filter(|(k, _)| !seen.contains_key(k)).copied().collect();
                    let finished = *done.lock().unwrap();
                    if (pending.is_empty() && finished) || Instant::now() > give_up {
                        let total = samples.lock().unwrap().len();
                        return (
                            seen.into_values().collect::<Vec<_>>(),
                            (total - pending.len().min(total)) as u64,
                            pending.len() as u64,
                        );
                    }
                    if pending.is_empty() {
                        continue;
                    }
                    let keys: Vec<u64> = pending.iter().map(|(k, _)| *k).collect();
                    if let Ok(full) = bench.visible(system, &database, &keys).await {
                        let now = Instant::now();
                        for (key, sent) in pending.iter().filter(|(k, _)| full.contains(k)) {
                            seen.insert(*key, now.duration_since(*sent).as_secs_f64());
                        }
                    }
                }
            });
            (task, stop_polling)
        };
        for sender in senders {
            sender.await?;
        }
        let elapsed = start.elapsed().as_secs_f64();
        *poller.1.lock().unwrap() = true;
        let inserts_per_sec = match &admin {
            Some(admin) => inserts(&reqwest::get(format!("{admin}/metrics")).await?.text().await?)
                .into_iter()
                .map(|(table, n)| (table, n / elapsed))
                .collect(),
            None => BTreeMap::new(),
        };
        // Settle: count until the number stops growing for 2 s (at most `settle` s after the load).
        let mut stored = self.stored(system, &database).await?;
        let mut last_growth = Instant::now();
        let settle_end = Instant::now() + Duration::from_secs_f64(self.settle);
        while Instant::now() < settle_end && last_growth.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = self.stored(system, &database).await?;
            if now != stored {
                stored = now;
                last_growth = Instant::now();
            }
        }
        // Until the last row was stored (for a relay acknowledging after commit, the last answer).
        let stored_elapsed =
            if stored > 0 { elapsed.max(last_growth.duration_since(start).as_secs_f64()) } else { elapsed };
        let (freshness, _, unseen) = poller.0.await?;
        let parts: Vec<(String, u64, u64)> = self
            .admin
            .query(&format!(
                "SELECT table, countIf(level = 0), count() FROM system.parts WHERE database = '{database}' GROUP BY table"
            ))
            .fetch_all()
            .await?;
        eprintln!("bench: parts (table, level 0, all): {parts:?}");
        let parts: Vec<(String, u64)> = parts.into_iter().map(|(t, l0, _)| (t, l0)).collect();
        drop(proc);
        let _ = self.admin.query(&format!("DROP DATABASE IF EXISTS {database}")).execute().await;
        Ok(Run {
            acked: acked.load(Ordering::Relaxed),
            stored,
            elapsed,
            stored_elapsed,
            failed: failed.load(Ordering::Relaxed),
            freshness,
            unseen,
            parts_per_sec: parts.into_iter().map(|(t, n)| (t, n as f64 / elapsed)).collect(),
            inserts_per_sec,
        })
    }
}

/// Rotel's `otel_logs` columns (its exporter's row), in a plain MergeTree.
fn rotel_logs_ddl(database: &str) -> String {
    format!(
        "CREATE TABLE {database}.otel_logs (Timestamp DateTime64(9), TimestampTime DateTime DEFAULT \
         toDateTime(Timestamp), TraceId String, SpanId String, TraceFlags UInt8, SeverityText LowCardinality(String), \
         SeverityNumber UInt8, ServiceName LowCardinality(String), Body String, ResourceSchemaUrl \
         LowCardinality(String), ResourceAttributes Map(LowCardinality(String), String), ScopeSchemaUrl \
         LowCardinality(String), ScopeName String, ScopeVersion LowCardinality(String), ScopeAttributes \
         Map(LowCardinality(String), String), LogAttributes Map(LowCardinality(String), String)) ENGINE = MergeTree \
         PARTITION BY toDate(TimestampTime) ORDER BY (ServiceName, TimestampTime, Timestamp)"
    )
}

/// `tokenledger_inserts_total` summed over triggers, by table.
fn inserts(metrics: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in metrics.lines().filter(|l| l.starts_with("tokenledger_inserts_total{")) {
        let table = line.split("table=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or_default();
        let value: f64 = line.rsplit(' ').next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
        *out.entry(table.to_string()).or_default() += value;
    }
    out
}

fn start_front(scratch: &Path) -> Result<(Proc, String)> {
    let python = manifest_dir().join(".venv/bin/python");
    let mut child = Command::new(&python)
        .arg(manifest_dir().join("tests/support/clickhouse_http.py"))
        .args(["--port", "0", "--exit-with-parent", "--data-dir"])
        .arg(scratch.join("chdb-data"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(scratch.join("clickhouse-http.log"))?)
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
    let port: u16 = line.trim().strip_prefix("LISTENING ").and_then(|p| p.parse().ok()).ok_or("front did not start")?;
    Ok((Proc(child), format!("http://127.0.0.1:{port}")))
}

fn tokenledger_binary() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("TOKENLEDGER_BIN") {
        return Ok(bin.into());
    }
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "--bin", "tokenledger"])
        .current_dir(manifest_dir())
        .status()?;
    if !status.success() {
        return Err("cargo build --release --bin tokenledger failed".into());
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| manifest_dir().join("target"));
    Ok(target.join("release/tokenledger"))
}

fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1]
}

/// "median [min – max]" of one figure over the repetitions.
fn spread(values: &[f64], digits: usize) -> String {
    let median = percentile(values, 0.5);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{median:.digits$} [{min:.digits$}–{max:.digits$}]")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

async fn run() -> Result<String> {
    let reps: usize = var("BENCH_REPS", 3);
    let concurrency: Vec<usize> = std::env::var("BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "1,8,64".into())
        .split(',')
        .map(|c| c.trim().parse())
        .collect::<Result<_, _>>()?;
    let systems: Vec<System> = std::env::var("BENCH_SYSTEMS")
        .unwrap_or_else(|_| "before,after,rotel".into())
        .split(',')
        .map(|s| match s.trim() {
            "before" => Ok(System::Before),
            "after" => Ok(System::After),
            "rotel" => Ok(System::Rotel),
            other => Err(format!("BENCH_SYSTEMS: unknown {other:?}")),
        })
        .collect::<Result<_, _>>()?;
    let tokenledger = tokenledger_binary()?;
    let rotel = std::env::var_os("ROTEL_BIN").map(PathBuf::from).unwrap_or_else(|| {
        manifest_dir().join(".cache/rotel-venv-0.0.1a15/lib/python3.11/site-packages/rotel/rotel-agent")
    });
    let scratch = tempfile::Builder::new().prefix("bench-commits-").tempdir()?;
    let (front, url) = start_front(scratch.path())?;
    let records = var("BENCH_RECORDS", 500);
    let bench = Arc::new(Bench {
        scratch: scratch.path().to_path_buf(),
        admin: clickhouse::Client::default().with_url(&url),
        url,
        tokenledger,
        rotel,
        secs: var("BENCH_SECS", 10.0),
        settle: var("BENCH_SETTLE_SECS", 5.0),
        records,
        template: workload::logs_request(records, 0),
        next_offset: AtomicU64::new(0),
    });
    let load_at_start = load_average();
    let started = Instant::now();
    let mut runs: BTreeMap<(usize, System), Vec<Run>> = BTreeMap::new();
    for rep in 0..reps {
        for &c in &concurrency {
            for &system in &systems {
                let run = bench.run(system, c, rep).await?;
                eprintln!(
                    "bench: rep {rep} {c:>2} senders {:<45} stored {:>8.0}/s acked {} stored {} lost {} p99 {:.3} s (load {})",
                    system.name(),
                    run.stored as f64 / run.stored_elapsed,
                    run.acked,
                    run.stored,
                    run.acked.saturating_sub(run.stored),
                    percentile(&run.freshness, 0.99),
                    load_average()
                );
                runs.entry((c, system)).or_default().push(run);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    drop(front);

    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "Command: `cargo run --release --example bench_commits` (BENCH_REPS={reps}, BENCH_SECS={}, BENCH_SETTLE_SECS={}, {records} records per request, gRPC). Load average at start {load_at_start}, at end {}; {:.0} s in all.\n", bench.secs, bench.settle, load_average(), started.elapsed().as_secs_f64());
    let _ = writeln!(w, "Each cell: median [min–max] over {reps} runs.\n");
    let _ = writeln!(
        w,
        "| senders | system | stored records/s | acknowledged records/s | acknowledged − stored (lost) | failed requests | freshness p99 (s) | freshness p50 (s) | INSERTs/s, busiest table (level-0 parts) | tokenledger's INSERTs/s per table |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for ((c, system), runs) in &runs {
        let f = |g: &dyn Fn(&Run) -> f64, d: usize| spread(&runs.iter().map(g).collect::<Vec<_>>(), d);
        let own = runs
            .last()
            .map(|r| r.inserts_per_sec.iter().map(|(t, n)| format!("{t} {n:.1}")).collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        let unseen: u64 = runs.iter().map(|r| r.unseen).sum();
        let _ = writeln!(
            w,
            "| {c} | {} | {} | {} | {} | {} | {}{} | {} | {} | {} |",
            system.name(),
            f(&|r| r.stored as f64 / r.stored_elapsed, 0),
            f(&|r| r.acked as f64 / r.elapsed, 0),
            f(&|r| r.acked.saturating_sub(r.stored) as f64, 0),
            f(&|r| r.failed as f64, 0),
            f(&|r| percentile(&r.freshness, 0.99), 3),
            if unseen > 0 { format!(" ({unseen} samples never visible)") } else { String::new() },
            f(&|r| percentile(&r.freshness, 0.5), 3),
            f(&|r| r.parts_per_sec.values().copied().fold(0.0, f64::max), 1),
            if own.is_empty() { "n/a".into() } else { format!("last run: {own}") },
        );
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("bench_commits: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
