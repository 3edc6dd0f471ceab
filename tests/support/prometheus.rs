//! Real Prometheus and Alertmanager for the tests: the tools (Debian's `prometheus` / `promtool`, and amtool /
//! alertmanager v0.34.0 built from the Go module proxy by `make deps`), the shipped files under prometheus/ with
//! only their addresses replaced, and servers on loopback that die with their guard.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::collector::{eventually, free_port};

/// The Alertmanager release docker-compose.yml pins (prom/alertmanager); amtool and alertmanager are built at it.
pub const ALERTMANAGER_VERSION: &str = "v0.34.0";

/// The repository's prometheus/ directory.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("prometheus")
}

/// A program on PATH, or None.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Where `make deps` puts amtool and alertmanager: `<repo>/.cache/alertmanager/<version>/`.
fn alertmanager_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache/alertmanager").join(ALERTMANAGER_VERSION)
}

/// The tool, or None (after saying why on stderr) when it is absent outside CI; under CI a missing tool fails.
fn tool_or_skip(test: &str, name: &str, path: Option<PathBuf>, installed_by: &str) -> Option<PathBuf> {
    if let Some(path) = path.filter(|p| p.is_file()) {
        return Some(path);
    }
    let why = format!("{name} is missing (installed by {installed_by}: run `make deps`)");
    assert!(!super::claude::in_ci(), "{test}: {why}; CI is set, so this is a failure rather than a skip");
    eprintln!("SKIPPED {test}: {why}");
    None
}

/// Debian's promtool.
pub fn promtool_or_skip(test: &str) -> Option<PathBuf> {
    tool_or_skip(test, "promtool", on_path("promtool"), "Debian's package prometheus")
}

/// Debian's prometheus server.
pub fn prometheus_or_skip(test: &str) -> Option<PathBuf> {
    tool_or_skip(test, "prometheus", on_path("prometheus"), "Debian's package prometheus")
}

/// amtool v0.34.0.
pub fn amtool_or_skip(test: &str) -> Option<PathBuf> {
    tool_or_skip(test, "amtool", Some(alertmanager_cache().join("amtool")), "go install, `make deps`")
}

/// alertmanager v0.34.0.
pub fn alertmanager_or_skip(test: &str) -> Option<PathBuf> {
    tool_or_skip(test, "alertmanager", Some(alertmanager_cache().join("alertmanager")), "go install, `make deps`")
}

/// `text` with each `(from, to)` replaced; every `from` must occur exactly once, so a shipped file that changed
/// its addresses breaks the test instead of silently keeping the compose ones.
pub fn replace_once(text: &str, replacements: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (from, to) in replacements {
        assert_eq!(out.matches(from).count(), 1, "{from:?} must occur exactly once in:\n{out}");
        out = out.replace(from, to);
    }
    out
}

/// A running server (Prometheus or Alertmanager). Dropping it kills the process.
pub struct Server {
    child: Mutex<Child>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its log file.
    pub log: PathBuf,
    /// Its config, data and log (removed on drop).
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Server {
    fn spawn(program: &Path, args: &[String], dir: tempfile::TempDir, port: u16) -> Server {
        let log = dir.path().join("server.log");
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = Command::new(program)
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", program.display()));
        Server { child: Mutex::new(child), url: format!("http://127.0.0.1:{port}"), log, _dir: dir }
    }

    /// The end of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<_> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Waits until GET /-/ready answers 200 (panics with the log if the process exits).
    async fn wait_ready(&self) {
        eventually("the server to be ready", Duration::from_secs(60), || async {
            if let Some(status) = self.child.lock().unwrap().try_wait().unwrap() {
                panic!("the server exited ({status}):\n{}", self.log_tail());
            }
            match reqwest::get(format!("{}/-/ready", self.url)).await {
                Ok(r) if r.status().is_success() => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await
    }

    /// An instant query (`/api/v1/query`): each series' labels and value.
    pub async fn query(&self, expr: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        let body: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", expr)])
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("query {expr}: {e}"))
            .json()
            .await
            .unwrap();
        assert_eq!(body["status"], "success", "{expr}: {body}");
        body["data"]["result"]
            .as_array()
            .unwrap_or_else(|| panic!("{expr}: not a vector: {body}"))
            .iter()
            .map(|s| {
                let labels = s["metric"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect();
                (labels, s["value"][1].as_str().unwrap().parse().unwrap())
            })
            .collect()
    }
}

/// Starts Prometheus on the shipped prometheus.yml with `replacements` applied (addresses only), the shipped
/// rules beside it, on a free loopback port, with the remote-write receiver (as compose runs it) and
/// `--rules.alert.resend-delay=1s` (Debian's 2.42 otherwise waits a minute before re-sending an alert it could
/// not deliver while it was still discovering Alertmanager).
pub async fn start_prometheus(binary: &Path, replacements: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(self::dir().join("prometheus.yml")).unwrap();
    std::fs::write(dir.path().join("prometheus.yml"), replace_once(&shipped, replacements)).unwrap();
    std::os::unix::fs::symlink(self::dir().join("rules"), dir.path().join("rules")).unwrap();
    let port = free_port();
    let args = [
        format!("--config.file={}", dir.path().join("prometheus.yml").display()),
        format!("--storage.tsdb.path={}", dir.path().join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--web.enable-remote-write-receiver".to_string(),
        "--rules.alert.resend-delay=1s".to_string(),
    ];
    let server = Server::spawn(binary, &args, dir, port);
    server.wait_ready().await;
    server
}

/// Starts Alertmanager on the shipped alertmanager.yml with `replacements` applied, on a free loopback port, in
/// a single-node setup (no cluster listener).
pub async fn start_alertmanager(binary: &Path, replacements: &[(&str, &str)]) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(self::dir().join("alertmanager.yml")).unwrap();
    std::fs::write(dir.path().join("alertmanager.yml"), replace_once(&shipped, replacements)).unwrap();
    let port = free_port();
    let args = [
        format!("--config.file={}", dir.path().join("alertmanager.yml").display()),
        format!("--storage.path={}", dir.path().join("data").display()),
        format!("--web.listen-address=127.0.0.1:{port}"),
        "--cluster.listen-address=".to_string(),
    ];
    let server = Server::spawn(binary, &args, dir, port);
    server.wait_ready().await;
    server
}
