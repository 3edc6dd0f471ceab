//! A ClickHouse engine that loaded a server config (tests/support/clickhouse_http.py with --config-file), and the
//! configs tests/stack_clickhouse.rs gives it: the shipped users file as it is, or one shipped user put in the
//! seat of the engine's session user `default`, whose grants and settings profile the engine enforces.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::collector::free_port;
use super::stack_files::*;

/// A ClickHouse HTTP front over chdb that loaded a given server config.
pub struct Front {
    child: Child,
    /// Its HTTP URL.
    pub url: String,
}

impl Front {
    /// Starts the front on `data` with `dir/config.xml`, with `env` added to its environment.
    pub fn start(dir: &Path, data: &Path, env: &BTreeMap<String, String>) -> Front {
        let script = repo("tests/support/clickhouse_http.py");
        let log_name = format!("target/stack-clickhouse-{}-{}.log", std::process::id(), free_port());
        let log = std::fs::File::create(repo(&log_name)).map(Stdio::from).unwrap_or_else(|_| Stdio::null());
        let mut child = Command::new(super::clickhouse::python())
            .arg(&script)
            .args(["--port", "0", "--exit-with-parent", "--data-dir"])
            .arg(data)
            .arg("--config-file")
            .arg(dir.join("config.xml"))
            // Only the given passwords: none inherited from whoever runs the tests.
            .env_remove("CLICKHOUSE_WRITER_PASSWORD")
            .env_remove("CLICKHOUSE_READER_PASSWORD")
            .envs(env)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e} (run `make test`)", script.display()));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("LISTENING ").unwrap_or_else(|| panic!("front said {line:?}"));
        Front { child, url: format!("http://127.0.0.1:{port}") }
    }

    /// Runs one statement in database claude_code: Ok(output) or Err(the engine's error).
    pub async fn query(&self, sql: &str) -> Result<String, String> {
        self.query_in("claude_code", sql).await
    }

    /// Runs one statement in `database`: Ok(output) or Err(the engine's error).
    pub async fn query_in(&self, database: &str, sql: &str) -> Result<String, String> {
        let response = reqwest::Client::new()
            .post(format!("{}/?database={database}", self.url))
            .body(sql.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let ok = response.status().is_success();
        let body = response.text().await.map_err(|e| e.to_string())?;
        if ok {
            Ok(body.trim_end().to_string())
        } else {
            Err(body)
        }
    }

    /// SIGTERM, so the engine closes its data directory cleanly for the next front.
    pub fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory under target/ (kept small; removed on drop).
pub fn temp_dir() -> tempfile::TempDir {
    let base = repo("target");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::tempdir_in(base).unwrap()
}

/// Writes `dir/config.xml` naming `dir/users.xml`, with the shipped config.d file beside it. The test's own
/// config lets `SHOW CREATE USER` display passwords (with `format_display_secrets_in_show_and_select`).
pub fn write_server_config(dir: &Path, users_xml: &str) {
    std::fs::write(
        dir.join("config.xml"),
        "<clickhouse><user_directories replace=\"replace\"><users_xml><path>users.xml</path></users_xml>\
         </user_directories><display_secrets_in_show_and_select>1</display_secrets_in_show_and_select></clickhouse>",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("config.d")).unwrap();
    std::fs::copy(repo(CONFIG_XML), dir.join("config.d/tokenledger.xml")).unwrap();
    std::fs::write(dir.join("users.xml"), users_xml).unwrap();
}

/// The shipped profiles section, verbatim.
pub fn shipped_profiles() -> String {
    let xml = read(USERS_XML);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    xml[child(doc.root_element(), "profiles").range()].to_string()
}

/// A users.xml whose `default` user (the engine's session user) has `grants` and `profile`, with the shipped
/// profiles: the engine then treats every request as that user's.
pub fn seat_user(profile: &str, grants: &[String]) -> String {
    let queries: String = grants.iter().map(|g| format!("<query>{g}</query>")).collect();
    format!(
        "<clickhouse>{profiles}<quotas><default/></quotas><users><default><password></password>\
         <networks><ip>::/0</ip></networks><profile>{profile}</profile><quota>default</quota>\
         <grants>{queries}</grants></default></users></clickhouse>",
        profiles = shipped_profiles().replace("<profiles>", "<profiles><default/>"),
    )
}

/// A shipped user's (profile, GRANT statements).
pub fn shipped_user(name: &str) -> (String, Vec<String>) {
    let xml = read(USERS_XML);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let user = xml_user(&doc, name);
    (child(user, "profile").text().unwrap().trim().to_string(), xml_grants(user))
}
