//! A ClickHouse for tests: the server at CLICKHOUSE_URL when set, else the ClickHouse engine (chdb) behind
//! tests/support/clickhouse_http.py, started once per test binary. Each test gets a database of its own.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The server all tests of this binary share.
pub struct Server {
    /// HTTP interface URL.
    pub url: String,
    _child: Option<Child>,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

/// The Python interpreter of the project's venv (made by `make test`), or TOKENLEDGER_TEST_PYTHON.
pub fn python() -> PathBuf {
    std::env::var_os("TOKENLEDGER_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"))
}

/// The shared server, started on first use.
pub fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var("CLICKHOUSE_URL") {
            return Server { url, _child: None };
        }
        let (child, port) = start_front(None);
        Server { url: format!("http://127.0.0.1:{port}"), _child: Some(child) }
    })
}

/// Starts a chdb HTTP front (optionally on a data directory, to restart it on the same data) and returns it
/// with its port. The front exits when this process does (it watches its parent).
pub fn start_front(data_dir: Option<&std::path::Path>) -> (Child, u16) {
    start_front_on(data_dir, 0)
}

/// As [`start_front`], on a chosen port (0: any).
pub fn start_front_on(data_dir: Option<&std::path::Path>, port: u16) -> (Child, u16) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/clickhouse_http.py");
    let mut command = Command::new(python());
    // The front logs every request; keep that out of the test output, in target/ for when a test fails.
    let log_path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/clickhouse-http-{}-{port}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).map(Stdio::from).unwrap_or_else(|_| Stdio::null());
    command.arg(&script).args(["--port", &port.to_string(), "--exit-with-parent"]).stdout(Stdio::piped()).stderr(log);
    if let Some(dir) = data_dir {
        command.arg("--data-dir").arg(dir);
    }
    let mut child = command.spawn().unwrap_or_else(|e| panic!("starting {}: {e} (run `make test`)", script.display()));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("reading LISTENING line");
    let port = line
        .trim()
        .strip_prefix("LISTENING ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("clickhouse_http.py said {line:?}"));
    (child, port)
}

/// A database of one's own on the shared server.
pub struct TestDb {
    /// Its name.
    pub name: String,
    /// A client bound to it.
    pub client: clickhouse::Client,
    /// The server URL.
    pub url: String,
}

/// Creates a fresh, empty database named after the test.
pub async fn fresh_database(test: &str) -> TestDb {
    let url = server().url.clone();
    let name = format!("t_{}_{}_{}", test, std::process::id(), NEXT_DB.fetch_add(1, Ordering::Relaxed));
    let admin = clickhouse::Client::default().with_url(&url);
    admin.query(&format!("DROP DATABASE IF EXISTS {name}")).execute().await.expect("drop database");
    admin.query(&format!("CREATE DATABASE {name}")).execute().await.expect("create database");
    let client = admin.with_database(&name);
    TestDb { name, client, url }
}

impl TestDb {
    /// A relay config pointing at this database (listeners on 127.0.0.1:0, short batch delay).
    pub fn config(&self) -> tokenledger::config::Config {
        let mut config = tokenledger::config::Config::default();
        config.clickhouse.url = self.url.clone();
        config.clickhouse.database = self.name.clone();
        config.otlp.grpc_addr = ([127, 0, 0, 1], 0).into();
        config.otlp.http_addr = ([127, 0, 0, 1], 0).into();
        config.admin.addr = ([127, 0, 0, 1], 0).into();
        config.batch.max_delay_ms = 100;
        // The captured fixtures carry the times they were captured at: accept them whenever the tests run.
        config.limits.max_event_age_hours = 100 * 365 * 24;
        config
    }

    /// Applies the schema to this database.
    pub async fn apply_schema(&self) {
        tokenledger::sink::schema::apply(&self.client, &self.name).await.expect("schema apply");
    }

    /// Every row of a query with one `?` bound to `value`; panics with the SQL on error.
    pub async fn fetch_all<T: clickhouse::RowOwned + clickhouse::RowRead>(&self, sql: &str, value: &str) -> Vec<T> {
        self.client.query(sql).bind(value).fetch_all::<T>().await.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs SQL over plain HTTP as clickhouse-client would (settings as URL parameters), returning the body
    /// (TabSeparatedWithNames unless the SQL says FORMAT); panics with the SQL on error.
    pub async fn run_sql(&self, sql: &str, settings: &[(&str, &str)]) -> String {
        let mut url = format!("{}/?database={}&default_format=TabSeparatedWithNames", self.url, self.name);
        for (name, value) in settings {
            url.push_str(&format!("&{name}={value}"));
        }
        let response = reqwest::Client::new().post(url).body(sql.to_string()).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(status.is_success(), "{sql}\n→ {status}: {body}");
        body
    }

    /// Recomputes the hourly rollups the overview dashboards read (refreshable materialized views that otherwise
    /// run every minute) and waits for them, so the rows loaded so far are in them.
    pub async fn refresh_rollups(&self) {
        for view in tokenledger::sink::schema::ROLLUP_VIEWS {
            self.run_sql(&format!("SYSTEM REFRESH VIEW `{}`.`{view}`", self.name), &[]).await;
            self.run_sql(&format!("SYSTEM WAIT VIEW `{}`.`{view}`", self.name), &[]).await;
        }
    }

    /// A single number from a query (`SELECT toFloat64(...)`).
    pub async fn number(&self, sql: &str) -> f64 {
        self.client.query(sql).fetch_one::<f64>().await.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

/// A row of the `model_cost_comparison` view, as tests read it.
#[derive(Debug, Default, Clone, PartialEq, clickhouse::Row, serde::Deserialize)]
pub struct ModelCost {
    /// Model.
    pub model: String,
    /// Stage.
    pub stage: String,
    /// Requests.
    pub request_count: u64,
    /// Sum of cost_usd.
    pub total_cost: f64,
    /// Sum of input tokens.
    pub total_input_tokens: u64,
    /// Sum of output tokens.
    pub total_output_tokens: u64,
}
