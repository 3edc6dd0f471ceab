//! The real Claude Code CLI in tests: where its binary is, the scripted Anthropic API it talks to
//! (tests/support/fake_anthropic.py), and one `claude -p` run exporting its OpenTelemetry to an OTLP endpoint.
//! README.md in this folder has the facts these helpers rely on (flags, env vars, usage and cost behaviour).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

/// The CLI version the tests and tests/fixtures/claude-code-2.1.331 were made with.
pub const CLI_VERSION: &str = "2.1.331";

/// Longest a single `claude -p` run may take (a scripted run takes about a second).
const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// Where `make deps` (tests/support/fetch_claude.sh) puts the CLI: `$CLAUDE_CODE_CACHE_DIR/<version>/package/claude`,
/// the cache directory defaulting to `<repo>/.cache/claude-code`.
pub fn cli_path() -> PathBuf {
    let cache = std::env::var_os("CLAUDE_CODE_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/claude-code"));
    cache.join(CLI_VERSION).join("package/claude")
}

/// Whether we run under CI (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// The CLI binary, or None (after saying why on stderr) when it is absent outside CI. Under CI a missing CLI is a
/// failure: `make test` installs it, so its absence means the setup is broken.
pub fn cli_or_skip(test: &str) -> Option<PathBuf> {
    let path = cli_path();
    if path.is_file() {
        return Some(path);
    }
    let why = format!(
        "the Claude Code CLI {CLI_VERSION} is not at {} (run `make deps` or tests/support/fetch_claude.sh)",
        path.display()
    );
    assert!(!in_ci(), "{test}: {why}; CI is set, so this is a failure rather than a skip");
    eprintln!("SKIPPED {test}: {why}");
    None
}

/// Writes a custom subagent definition, `<workdir>/.claude/agents/<name>.md`, as Claude Code reads it.
pub fn write_custom_agent(workdir: &Path, name: &str, description: &str, tools: &str, model: &str, prompt: &str) {
    let dir = workdir.join(".claude/agents");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    let text =
        format!("---\nname: {name}\ndescription: {description}\ntools: {tools}\nmodel: {model}\n---\n{prompt}\n");
    let file = dir.join(format!("{name}.md"));
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
}

// ------------------------------------------------------------------------------------------------
// The scripted Anthropic API

/// A running tests/support/fake_anthropic.py, killed on drop. Its log goes to `target/fake-anthropic-<pid>-<port>.log`.
pub struct FakeAnthropic {
    /// Its address (loopback).
    pub addr: SocketAddr,
    /// Where its stderr (one line per request served) goes.
    pub log: PathBuf,
    child: Child,
}

/// One request the fake served, from `GET /_requests` (billed `/v1/messages` calls only).
#[derive(Debug, Clone, Deserialize)]
pub struct ServedRequest {
    /// `req_fake_...`, also the `request_id` of the CLI's api_request event.
    pub request_id: String,
    /// The model asked for.
    pub model: String,
    /// The CLI session (`X-Claude-Code-Session-Id`).
    pub session_id: String,
    /// `main` (the run's own loop), `subagent` or `side`.
    pub role: String,
    /// For a subagent: the `subagent_type` it was started with (`reviewer`, `general-purpose`, ...).
    pub agent_type: Option<String>,
    /// For a subagent: the CLI's id of it (the events' `agent_id`).
    pub agent_id: Option<String>,
    /// `text`, `tool_use:Bash`, `tool_use:Agent` or `side`.
    pub response: String,
    /// The tool_use id of a tool_use response.
    pub tool_use_id: Option<String>,
    /// The usage the fake reported.
    pub usage: ServedUsage,
}

/// Usage as the fake reported it (the Anthropic API's field names).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct ServedUsage {
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Prompt tokens read from the cache.
    pub cache_read_input_tokens: u64,
    /// Prompt tokens written to the cache.
    pub cache_creation_input_tokens: u64,
}

impl FakeAnthropic {
    /// Starts the fake on a free loopback port and waits until it listens.
    pub fn start() -> FakeAnthropic {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake_anthropic.py");
        // The fake needs the standard library only: the project's venv when there is one, else python3.
        let venv = super::clickhouse::python();
        let python = if venv.is_file() { venv } else { PathBuf::from("python3") };
        let log = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!(
            "target/fake-anthropic-{}-{}.log",
            std::process::id(),
            unique_suffix()
        ));
        let stderr = std::fs::File::create(&log).map(Stdio::from).unwrap_or_else(|_| Stdio::null());
        let mut child = Command::new(&python)
            .arg(&script)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} with {}: {e}", script.display(), python.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let port: Option<u16> = line.trim().strip_prefix("LISTENING ").and_then(|p| p.parse().ok());
        match port {
            Some(port) => FakeAnthropic { addr: ([127, 0, 0, 1], port).into(), log, child },
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("fake_anthropic.py did not say LISTENING (read {read:?}: {line:?}); see {}", log.display())
            }
        }
    }

    /// The URL to give the CLI as ANTHROPIC_BASE_URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The billed requests of one CLI session, in the order they were served.
    pub async fn requests_of_session(&self, session_id: &str) -> Vec<ServedRequest> {
        let url = format!("{}/_requests", self.base_url());
        let entries: Vec<serde_json::Value> = async { reqwest::Client::new().get(&url).send().await?.json().await }
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        entries
            .into_iter()
            .filter(|entry| entry["billed"] == true && entry["session_id"] == session_id)
            .map(|entry| {
                serde_json::from_value(entry.clone()).unwrap_or_else(|e| panic!("a /_requests entry {entry}: {e}"))
            })
            .collect()
    }
}

impl Drop for FakeAnthropic {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unique_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

// ------------------------------------------------------------------------------------------------
// One `claude -p` run

/// `OTEL_EXPORTER_OTLP_PROTOCOL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// OTLP/gRPC (plaintext h2c).
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    HttpProtobuf,
    /// OTLP/HTTP with JSON bodies.
    HttpJson,
}

impl OtlpProtocol {
    /// The value of OTEL_EXPORTER_OTLP_PROTOCOL.
    pub fn env_value(self) -> &'static str {
        match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
            OtlpProtocol::HttpJson => "http/json",
        }
    }
}

/// A `claude -p PROMPT --output-format json` run against the fake, exporting telemetry to `otlp_endpoint`.
#[derive(Debug, Clone)]
pub struct ClaudeRun {
    /// The CLI binary.
    pub cli: PathBuf,
    /// Working directory (where `.claude/agents/` is read from).
    pub workdir: PathBuf,
    /// The prompt, with the fake's `[[bash:...]]` / `[[agent:...]]` directives.
    pub prompt: String,
    /// `--model`.
    pub model: String,
    /// ANTHROPIC_BASE_URL.
    pub api_base_url: String,
    /// OTEL_EXPORTER_OTLP_PROTOCOL.
    pub protocol: OtlpProtocol,
    /// OTEL_EXPORTER_OTLP_ENDPOINT (`http://host:port`, for gRPC too).
    pub otlp_endpoint: String,
    /// OTEL_RESOURCE_ATTRIBUTES, in order.
    pub resource_attributes: Vec<(String, String)>,
    /// OTEL_LOG_TOOL_DETAILS=1 (tool parameters, and custom subagents' real names on their events).
    pub log_tool_details: bool,
    /// A `~/.claude/settings.json` to write into the run's HOME. When set, the telemetry configuration comes
    /// from its `env` block only, as for a user who followed the README: the run then sets none of
    /// CLAUDE_CODE_ENABLE_TELEMETRY and the OTEL_* variables itself (OTEL_RESOURCE_ATTRIBUTES aside), and
    /// `protocol`, `otlp_endpoint` and `log_tool_details` are not used.
    pub settings: Option<serde_json::Value>,
}

/// What the CLI printed with `--output-format json`: its own accounting of the run, independent of OTel.
#[derive(Debug, Clone, Deserialize)]
pub struct CliResult {
    /// The session id (also the events' `session.id` and the fake's `session_id`).
    pub session_id: String,
    /// Sum of the run's api_request costs, subagents included.
    pub total_cost_usd: f64,
    /// Whether the run failed.
    pub is_error: bool,
    /// `success` when it did not.
    pub subtype: String,
    /// Tokens and cost per model, subagents included.
    #[serde(rename = "modelUsage")]
    pub model_usage: BTreeMap<String, CliModelUsage>,
}

/// One model's figures in the CLI's result.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CliModelUsage {
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Prompt tokens read from the cache.
    pub cache_read_input_tokens: u64,
    /// Prompt tokens written to the cache.
    pub cache_creation_input_tokens: u64,
    /// Cost in USD.
    #[serde(rename = "costUSD")]
    pub cost_usd: f64,
}

/// A finished run: the CLI's result and how long the process took (telemetry flush on exit included).
#[derive(Debug, Clone)]
pub struct FinishedRun {
    /// The parsed `--output-format json` output.
    pub result: CliResult,
    /// Wall time of the process.
    pub elapsed: Duration,
    /// What it wrote to stderr (warnings), for messages.
    pub stderr: String,
}

impl ClaudeRun {
    /// A run of `prompt` with `model` in `workdir`, against the fake, exporting with `protocol` to `otlp_endpoint`.
    pub fn new(
        cli: &Path,
        workdir: &Path,
        fake: &FakeAnthropic,
        protocol: OtlpProtocol,
        otlp_endpoint: SocketAddr,
        model: &str,
        prompt: &str,
    ) -> ClaudeRun {
        ClaudeRun {
            cli: cli.to_path_buf(),
            workdir: workdir.to_path_buf(),
            prompt: prompt.to_string(),
            model: model.to_string(),
            api_base_url: fake.base_url(),
            protocol,
            otlp_endpoint: format!("http://{otlp_endpoint}"),
            resource_attributes: Vec::new(),
            log_tool_details: false,
            settings: None,
        }
    }

    /// Configures telemetry through `settings` written as `~/.claude/settings.json` (see [`ClaudeRun::settings`]).
    pub fn settings_json(mut self, settings: serde_json::Value) -> ClaudeRun {
        self.settings = Some(settings);
        self
    }

    /// Adds OTEL_RESOURCE_ATTRIBUTES entries.
    pub fn resource_attributes(mut self, pairs: &[(&str, &str)]) -> ClaudeRun {
        self.resource_attributes.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// Sets OTEL_LOG_TOOL_DETAILS=1.
    pub fn log_tool_details(mut self) -> ClaudeRun {
        self.log_tool_details = true;
        self
    }

    /// Runs the CLI with a clean environment and a fresh empty HOME; panics with its output if it fails.
    pub async fn run(&self) -> FinishedRun {
        let home = tempfile::tempdir().expect("a temporary HOME");
        let attributes: Vec<String> = self.resource_attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut command = tokio::process::Command::new(&self.cli);
        command
            .current_dir(&self.workdir)
            .env_clear()
            .envs([
                ("PATH", "/usr/local/bin:/usr/bin:/bin"),
                ("ANTHROPIC_API_KEY", "sk-test"),
                ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
                ("DISABLE_AUTOUPDATER", "1"),
                ("DISABLE_ERROR_REPORTING", "1"),
            ])
            .env("HOME", home.path())
            .env("ANTHROPIC_BASE_URL", &self.api_base_url)
            .env("OTEL_RESOURCE_ATTRIBUTES", attributes.join(","));
        match &self.settings {
            Some(settings) => {
                let dir = home.path().join(".claude");
                std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
                let text = serde_json::to_string_pretty(settings).expect("settings as JSON");
                std::fs::write(dir.join("settings.json"), text).expect("writing settings.json");
            }
            None => {
                command
                    .envs([
                        ("CLAUDE_CODE_ENABLE_TELEMETRY", "1"),
                        ("OTEL_LOGS_EXPORTER", "otlp"),
                        ("OTEL_METRICS_EXPORTER", "otlp"),
                        ("OTEL_LOGS_EXPORT_INTERVAL", "500"),
                        ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
                        ("OTEL_EXPORTER_OTLP_PROTOCOL", self.protocol.env_value()),
                    ])
                    .env("OTEL_EXPORTER_OTLP_ENDPOINT", &self.otlp_endpoint)
                    .env("OTEL_LOG_TOOL_DETAILS", if self.log_tool_details { "1" } else { "0" });
            }
        }
        command
            .arg("-p")
            .arg(&self.prompt)
            .args(["--model", &self.model, "--allowedTools", "Bash", "Agent", "--output-format", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let child = command.spawn().unwrap_or_else(|e| panic!("starting {}: {e}", self.cli.display()));
        let output = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("claude -p {:?} did not finish within {RUN_TIMEOUT:?}", self.prompt))
            .unwrap_or_else(|e| panic!("waiting for claude -p {:?}: {e}", self.prompt));
        let elapsed = started.elapsed();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            output.status.success(),
            "claude -p {:?} exited with {}\nstdout: {stdout}\nstderr: {stderr}",
            self.prompt,
            output.status
        );
        let result: CliResult = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("claude -p {:?}: stdout is not its JSON result ({e}):\n{stdout}", self.prompt));
        assert!(
            !result.is_error && result.subtype == "success",
            "claude -p {:?} reported an error:\n{stdout}\nstderr: {stderr}",
            self.prompt
        );
        FinishedRun { result, elapsed, stderr }
    }
}
