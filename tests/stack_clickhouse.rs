//! The stack's ClickHouse users (clickhouse/users.d/tokenledger.xml) and server config (config.d) loaded into the
//! ClickHouse engine: chdb reads them as a server does (from_env included), and enforces a user's grants and
//! settings profile on its `default` user. So each shipped user is put in that seat in turn: the writer's grants
//! carry the real relay through `schema apply` and ingestion (and each one of them is needed), and the reader's
//! profile reads the deduplicated rows and can change nothing.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::clickhouse_users::*;
use support::collector::free_port;
use support::stack_files::*;

fn secrets() -> BTreeMap<String, String> {
    filled_env().into_iter().filter(|(k, _)| k.contains("PASSWORD")).collect()
}

/// The relay's environment exactly as compose gives it, but pointing at `url` and listening on free local ports.
fn relay_env(url: &str) -> (BTreeMap<String, String>, u16, u16) {
    let compose = compose_with(&filled_env()).unwrap();
    let mut env = service_env(&compose, "relay");
    let (http, admin) = (free_port(), free_port());
    env.insert("TOKENLEDGER_CLICKHOUSE__URL".into(), url.into());
    env.insert("TOKENLEDGER_OTLP__HTTP_ADDR".into(), format!("127.0.0.1:{http}"));
    env.insert("TOKENLEDGER_OTLP__GRPC_ADDR".into(), format!("127.0.0.1:{}", free_port()));
    env.insert("TOKENLEDGER_ADMIN__ADDR".into(), format!("127.0.0.1:{admin}"));
    env.insert("TOKENLEDGER_BATCH__MAX_DELAY_MS".into(), "100".into());
    // The captured fixtures carry the times they were captured at: accept them whenever the tests run.
    env.insert("TOKENLEDGER_LIMITS__MAX_EVENT_AGE_HOURS".into(), "876000".into());
    (env, http, admin)
}

/// The captured runs with JSON bodies: (logs, metrics) per run.
fn json_fixtures() -> Vec<(Vec<u8>, Vec<u8>)> {
    support::fixtures::FIXTURE_RUNS
        .iter()
        .filter_map(|run| {
            Some((support::fixtures::fixture(run, "logs-1.json")?, support::fixtures::fixture(run, "metrics-2.json")?))
        })
        .collect()
}

/// How many log records of the fixtures are `api_request` events.
fn api_requests_in(fixtures: &[(Vec<u8>, Vec<u8>)]) -> usize {
    let mut n = 0;
    for (logs, _) in fixtures {
        let body: Value = serde_json::from_slice(logs).unwrap();
        for rl in body["resourceLogs"].as_array().unwrap() {
            for sl in rl["scopeLogs"].as_array().unwrap() {
                for record in sl["logRecords"].as_array().unwrap() {
                    let attrs = record["attributes"].as_array().unwrap();
                    n += attrs.iter().any(|a| a["key"] == "event.name" && a["value"]["stringValue"] == "api_request")
                        as usize;
                }
            }
        }
    }
    n
}

/// The relay's log, in target/ for when a test fails.
fn relay_log() -> Stdio {
    let path = repo(&format!("target/stack-clickhouse-relay-{}-{}.log", std::process::id(), free_port()));
    std::fs::File::create(path).map(Stdio::from).unwrap_or_else(|_| Stdio::null())
}

/// Runs `serve` with `env`, posts every fixture twice (a redelivery) and returns the HTTP statuses, up to the first
/// that is not 200.
async fn serve_and_post_twice(env: &BTreeMap<String, String>, http: u16, admin: u16) -> Vec<u16> {
    let serve = Command::new(BIN)
        .arg("serve")
        .env_clear()
        .envs(env)
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(relay_log())
        .spawn()
        .unwrap();
    let _serve = Killed(serve);
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        // Ready: ClickHouse answers and every table exists (the schema is applied).
        let up = client.get(format!("http://127.0.0.1:{admin}/readyz")).send().await;
        if up.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "serve never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Compose's healthcheck command, with the same environment, agrees.
    for args in [&["health"][..], &["health", "--ready"][..]] {
        let (ok, _, err) = run_bin(args, env);
        assert!(ok, "tokenledger {args:?} against a ready relay: {err}");
    }
    let mut statuses = Vec::new();
    for _ in 0..2 {
        for (logs, metrics) in json_fixtures() {
            for (path, body) in [("logs", logs), ("metrics", metrics)] {
                let status = client
                    .post(format!("http://127.0.0.1:{http}/v1/{path}"))
                    .header("content-type", "application/json")
                    .timeout(Duration::from_secs(30))
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                statuses.push(status);
                if status != 200 {
                    return statuses;
                }
            }
        }
    }
    statuses
}

/// The assessment's queries (tests/fixtures/assessment/, verbatim; the per-stage query's `${WORKFLOW_ID}` filled
/// in) and what each returns on `front`, as the user it runs as sees it.
async fn assessment_outputs(front: &Front) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in [
        "view_workflow_summary.sql",
        "view_stage_performance.sql",
        "view_model_cost_comparison.sql",
        "beads_join.sql",
        "per_stage.sql",
        "latest_api_requests.sql",
    ] {
        let sql = support::fixtures::assessment_sql(name).replace("${WORKFLOW_ID}", ".claude-4nq");
        let mut output = front.query(&sql).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        if name == "per_stage.sql" {
            // FORMAT JSON: the rows (as tab-separated values), not the timing statistics.
            let json: Value = serde_json::from_str(&output).unwrap();
            let rows = json["data"].as_array().unwrap().iter().map(|row| {
                let values = row.as_object().unwrap().values();
                values.map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string())).collect::<Vec<_>>().join("\t")
            });
            output = rows.collect::<Vec<_>>().join("\n");
        }
        out.push((name.to_string(), output));
    }
    out
}

/// Two query outputs hold the same rows (in any order) and the same figures: numbers equal within 1e-9 relative
/// (sums of doubles read in another order), everything else exactly.
fn same_figures(a: &str, b: &str) -> bool {
    let rows = |text: &str| -> Vec<Vec<String>> {
        let mut rows: Vec<Vec<String>> = text.lines().map(|l| l.split('\t').map(str::to_string).collect()).collect();
        rows.sort();
        rows
    };
    let (a, b) = (rows(a), rows(b));
    a.len() == b.len()
        && a.iter().zip(&b).all(|(x, y)| {
            x.len() == y.len()
                && x.iter().zip(y).all(|(p, q)| match (p.parse::<f64>(), q.parse::<f64>()) {
                    (Ok(p), Ok(q)) => (p - q).abs() <= 1e-9 * p.abs().max(q.abs()),
                    _ => p == q,
                })
        })
}

/// A child process killed when the guard goes, a failed assertion included.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The tables and views the relay's schema creates.
fn schema_objects() -> BTreeSet<String> {
    tokenledger::sink::schema::statements()
        .iter()
        .filter_map(|s| {
            let rest = s
                .strip_prefix("CREATE TABLE IF NOT EXISTS ")
                .or_else(|| s.strip_prefix("CREATE OR REPLACE VIEW "))
                .or_else(|| s.strip_prefix("CREATE MATERIALIZED VIEW IF NOT EXISTS "))?;
            rest.split_whitespace().next().map(str::to_string)
        })
        .collect()
}

#[tokio::test]
async fn shipped_users_load_with_their_passwords_grants_profile_and_networks() {
    let dir = temp_dir();
    let minimal = "<clickhouse><profiles><default/></profiles><quotas><default/></quotas><users><default>\
                   <password></password><networks><ip>::/0</ip></networks><profile>default</profile>\
                   <quota>default</quota><access_management>1</access_management></default></users></clickhouse>";
    write_server_config(dir.path(), minimal);
    std::fs::create_dir_all(dir.path().join("users.d")).unwrap();
    std::fs::copy(repo(USERS_XML), dir.path().join("users.d/tokenledger.xml")).unwrap();
    let data = temp_dir();
    let front = Front::start(dir.path(), data.path(), &secrets());

    let xml = read(USERS_XML);
    let doc = roxmltree::Document::parse(&xml).expect("users XML is well-formed");
    roxmltree::Document::parse(&read(CONFIG_XML)).expect("server config XML is well-formed");

    // Both users exist, each with the password of its from_env variable, and their grants are the file's.
    let users = front.query_in("default", "SELECT name, auth_type FROM system.users ORDER BY name FORMAT TSV").await;
    let users = users.expect("system.users");
    for name in ["tokenledger", "tokenledger_reader"] {
        let line = users.lines().find(|l| l.starts_with(&format!("{name}\t"))).unwrap_or_else(|| panic!("{users}"));
        assert!(!line.contains("no_password"), "{line}");
        let from_env = child(xml_user(&doc, name), "password").attribute("from_env").unwrap();
        let created = front
            .query_in(
                "default",
                &format!("SHOW CREATE USER {name} SETTINGS format_display_secrets_in_show_and_select = 1"),
            )
            .await
            .unwrap();
        assert!(created.contains(&format!("BY \\'{}\\'", secrets()[from_env])), "{name}: {created}");
        let (privileges, database) = grant_parts(&xml_grants(xml_user(&doc, name))[0]);
        let shown = front.query_in("default", &format!("SHOW GRANTS FOR {name}")).await.unwrap();
        let statement = shown.trim().strip_suffix(&format!(" TO {name}")).unwrap_or_else(|| panic!("{shown}"));
        let (shown_privileges, shown_database) = grant_parts(statement);
        let set = |v: Vec<String>| v.into_iter().collect::<BTreeSet<_>>();
        assert_eq!((set(shown_privileges), shown_database), (set(privileges), database), "{name}");
    }

    // Only the local interface for the password-less admin (the engine shows ::1 + 127.0.0.1 as "localhost");
    // the two users from anywhere (they need a password).
    let hosts = front
        .query_in(
            "default",
            "SELECT name, arrayConcat(host_ip, host_names) FROM system.users ORDER BY name FORMAT JSONCompactEachRow",
        )
        .await
        .unwrap();
    let hosts: BTreeMap<String, Vec<String>> =
        hosts.lines().map(|l| serde_json::from_str::<(String, Vec<String>)>(l).unwrap()).collect();
    let networks = |user: &str| -> Vec<String> {
        let mut ips: Vec<String> = child(xml_user(&doc, user), "networks")
            .children()
            .filter(|n| n.has_tag_name("ip"))
            .map(|n| n.text().unwrap().trim().to_string())
            .collect();
        ips.sort();
        ips
    };
    assert_eq!(networks("default"), ["127.0.0.1", "::1"]);
    assert_eq!(hosts["default"], ["localhost"], "{hosts:?}");
    for user in ["tokenledger", "tokenledger_reader"] {
        assert_eq!(hosts[user], networks(user), "{hosts:?}");
    }

    // The reader's profile as the engine holds it: every setting of the file, by a name the engine knows.
    let settings = profile_settings(&doc, "tokenledger_reader");
    assert_eq!(settings.get("final").map(String::as_str), Some("1"));
    assert_eq!(settings.get("readonly").map(String::as_str), Some("2"), "no writes; settings within constraints");
    let names = settings.keys().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ");
    let known = front.query_in("default", &format!("SELECT name FROM system.settings WHERE name IN ({names})")).await;
    assert_eq!(known.unwrap().lines().count(), settings.len(), "every profile setting is a ClickHouse setting");
    let elements = front
        .query_in(
            "default",
            "SELECT setting_name, value, max, writability FROM system.settings_profile_elements \
             WHERE profile_name = 'tokenledger_reader' AND setting_name != '' FORMAT JSONCompactEachRow",
        )
        .await
        .unwrap();
    let held: BTreeMap<String, Vec<Option<String>>> = elements
        .lines()
        .map(|l| {
            let row: Vec<Option<String>> = serde_json::from_str(l).unwrap();
            (row[0].clone().unwrap(), row[1..].to_vec())
        })
        .collect();
    for (name, value) in &settings {
        assert_eq!(held[name][0].as_deref(), Some(value.as_str()), "{name}");
    }
    for (name, (max, fixed)) in profile_constraints(&doc, "tokenledger_reader") {
        assert_eq!(held[&name][1], max, "{name}: max");
        assert_eq!(held[&name][2].as_deref(), fixed.then_some("CONST"), "{name}: writability");
    }
    let inherited = front
        .query_in(
            "default",
            "SELECT inherit_profile FROM system.settings_profile_elements WHERE user_name = 'tokenledger_reader'",
        )
        .await
        .unwrap();
    assert_eq!(inherited, "tokenledger_reader");
    front.stop();

    // Why compose refuses to start without them: ClickHouse reads an unset variable as an empty password.
    let data = temp_dir();
    let front = Front::start(dir.path(), data.path(), &BTreeMap::new());
    let created = front
        .query_in("default", "SHOW CREATE USER tokenledger SETTINGS format_display_secrets_in_show_and_select = 1")
        .await
        .unwrap();
    assert!(created.contains("BY \\'\\'"), "{created}");
    front.stop();
}

#[tokio::test]
async fn writer_grants_carry_the_relay_and_the_reader_profile_reads_deduplicated_rows() {
    let (writer_profile, writer_grants) = shipped_user("tokenledger");
    let (reader_profile, reader_grants) = shipped_user("tokenledger_reader");
    let data = temp_dir();

    // The writer: the real relay applies its schema and ingests the fixtures twice (a redelivery).
    let dir = temp_dir();
    write_server_config(dir.path(), &seat_user(&writer_profile, &writer_grants));
    let front = Front::start(dir.path(), data.path(), &secrets());
    let (env, http, admin) = relay_env(&front.url);
    let (ok, _, err) = run_bin(&["schema", "apply"], &env);
    assert!(ok, "schema apply with the writer's grants: {err}");
    let statuses = serve_and_post_twice(&env, http, admin).await;
    assert!(statuses.iter().all(|s| *s == 200), "ingestion with the writer's grants: {statuses:?}");
    let tables: BTreeSet<String> = front
        .query("SELECT name FROM system.tables WHERE database = 'claude_code'")
        .await
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(tables, schema_objects(), "every table and view of the schema, as the writer sees them");
    // The rollups' refreshes run as their definer, the writer: its grants carry them (the refresh at creation
    // succeeded, with no exception).
    let refreshed = "SELECT countIf(last_success_time IS NOT NULL AND exception = '') FROM system.view_refreshes \
                     WHERE database = 'claude_code'";
    let mut ok_refreshes = String::new();
    for _ in 0..60 {
        ok_refreshes = front.query(refreshed).await.unwrap().trim().to_string();
        if ok_refreshes == tokenledger::sink::schema::ROLLUP_VIEWS.len().to_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let states = front.query("SELECT view, status, exception FROM system.view_refreshes").await.unwrap();
    assert_eq!(ok_refreshes, tokenledger::sink::schema::ROLLUP_VIEWS.len().to_string(), "{states}");
    // The relay dropped the second delivery itself (it remembers committed content keys): each record once.
    let sent = api_requests_in(&json_fixtures());
    assert!(sent > 0);
    let raw = |front: &Front| {
        let front = front.url.clone();
        async move {
            let body = reqwest::Client::new()
                .post(format!("{front}/?database=claude_code"))
                .body("SELECT count() FROM otel_api_request_events")
                .send();
            body.await.unwrap().text().await.unwrap().trim().parse::<usize>().unwrap()
        }
    };
    assert_eq!(raw(&front).await, sent, "the relay wrote each api_request once");
    // What gets past the relay (a retry that arrived while the first copy was in flight, a replay of old events)
    // is left to ReplacingMergeTree: made here by copying every row once more, as the writer can.
    front
        .query(
            "INSERT INTO beads_issues (id, title, status, issue_type, parent, workflow_id, created_at, updated_at) \
             VALUES ('.claude-4nq.1-analyze', 'Analyze', 'closed', 'task', '.claude-4nq', '.claude-4nq', now(), now())",
        )
        .await
        .unwrap();
    let exact = assessment_outputs(&front).await;
    for table in ["otel_api_request_events", "otel_events"] {
        front.query(&format!("INSERT INTO {table} SELECT * FROM {table}")).await.unwrap();
    }
    assert_eq!(raw(&front).await, 2 * sent, "duplicates on disk, unmerged");
    let plain = assessment_outputs(&front).await;
    let differing = exact.iter().zip(&plain).filter(|((_, a), (_, b))| !same_figures(a, b)).count();
    assert!(differing >= 3, "plain reads count the duplicates: {plain:#?}");

    // Nothing outside claude_code, and no dropping inside it.
    let outside = front.query_in("claude_code", "CREATE TABLE default.t (a UInt8) ENGINE = Memory").await;
    assert!(outside.is_err_and(|e| e.contains("ACCESS_DENIED")));
    let drop = front.query("DROP TABLE otel_events").await;
    assert!(drop.is_err_and(|e| e.contains("ACCESS_DENIED")));
    front.stop();

    // The reader, on the same data: its profile's settings are in force, SELECT on every table and view works,
    // and the redelivered fixtures count once (final = 1) without a FINAL in the query.
    let dir = temp_dir();
    write_server_config(dir.path(), &seat_user(&reader_profile, &reader_grants));
    let front = Front::start(dir.path(), data.path(), &secrets());
    let xml = read(USERS_XML);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    for (name, value) in profile_settings(&doc, &reader_profile) {
        let held = front.query(&format!("SELECT toString(getSetting('{name}'))")).await.unwrap();
        let held = match held.as_str() {
            "true" => "1".to_string(),
            "false" => "0".to_string(),
            other => other.to_string(),
        };
        assert_eq!(held, value, "{name} in the reader's session");
    }
    for object in schema_objects() {
        // The dashboards' views take the time range as parameters (clickhouse/004_grafana.sql).
        let parameterized = tokenledger::sink::schema::statements()
            .iter()
            .any(|s| s.starts_with(&format!("CREATE OR REPLACE VIEW {object} ")) && s.contains("{from_time:"));
        let source = if parameterized {
            format!("{object}(from_time = toDateTime(0), to_time = now())")
        } else {
            object.clone()
        };
        front.query(&format!("SELECT count() FROM {source}")).await.unwrap_or_else(|e| panic!("{object}: {e}"));
    }
    let stored: usize = front.query("SELECT count() FROM otel_api_request_events").await.unwrap().parse().unwrap();
    assert_eq!(stored, sent, "each api_request once, though it is twice on disk");
    // The assessment's own queries, verbatim, return what they returned before the duplicates.
    for ((name, want), (_, got)) in exact.iter().zip(assessment_outputs(&front).await) {
        assert!(same_figures(want, &got), "{name} as the reader:\n{got}\nwithout duplicates:\n{want}");
    }

    // The README's first query, verbatim, as this user: one row per (workflow, stage, agent) of the fixtures.
    let first_query = readme_first_query();
    let rows = front.query(&first_query).await.unwrap_or_else(|e| panic!("README's first query: {e}"));
    assert!(rows.lines().count() >= json_fixtures().len(), "{rows}");

    // Read-only: no writes, no DDL, final cannot be switched off, no limit raised past its constraint; a lower
    // max_execution_time (Grafana's plugin sends one with each query) is fine.
    let mut refused = vec![
        "INSERT INTO beads_issues (id) VALUES ('x')".to_string(),
        "CREATE TABLE claude_code.t (a UInt8) ENGINE = Memory".to_string(),
        "SELECT count() FROM otel_api_request_events SETTINGS final = 0".to_string(),
    ];
    for (name, (max, _)) in profile_constraints(&doc, &reader_profile) {
        if let Some(max) = max {
            let above: u64 = max.parse::<u64>().unwrap() + 1;
            refused.push(format!("SELECT 1 SETTINGS {name} = {above}"));
        }
    }
    for sql in &refused {
        let result = front.query(sql).await;
        assert!(result.is_err(), "the reader could run: {sql}");
    }
    front.query("SELECT 1 SETTINGS max_execution_time = 30").await.expect("a lower max_execution_time is allowed");
    front.stop();
}

#[tokio::test]
async fn each_writer_privilege_is_needed() {
    let (profile, grants) = shipped_user("tokenledger");
    assert_eq!(grants.len(), 1, "{grants:?}");
    let (privileges, database) = grant_parts(&grants[0]);
    for missing in &privileges {
        let kept: Vec<&str> = privileges.iter().filter(|p| p != &missing).map(String::as_str).collect();
        let grant = format!("GRANT {} ON {database}.*", kept.join(", "));
        let (dir, data) = (temp_dir(), temp_dir());
        write_server_config(dir.path(), &seat_user(&profile, &[grant]));
        let front = Front::start(dir.path(), data.path(), &secrets());
        let (env, http, admin) = relay_env(&front.url);
        let (applied, _, err) = run_bin(&["schema", "apply"], &env);
        let failed = if applied {
            // The schema needs no INSERT; ingestion does.
            let statuses = serve_and_post_twice(&env, http, admin).await;
            statuses.iter().any(|s| *s != 200)
        } else {
            assert!(err.contains(missing.as_str()), "without {missing}: {err}");
            true
        };
        assert!(failed, "the relay works without {missing}: the grant is more than it needs");
        front.stop();
    }
}

/// The query of README.md's step "6. First query".
fn readme_first_query() -> String {
    let text = read("README.md");
    let step = text.split("### 6. First query").nth(1).expect("README.md has step 6. First query");
    let block = step.split("```sql").nth(1).expect("a sql block in step 6");
    block.split("```").next().unwrap().trim().to_string()
}

/// The ```sql blocks of clickhouse/README.md's "Your own ClickHouse" section, statement by statement.
fn readme_statements() -> Vec<String> {
    let text = read("clickhouse/README.md");
    let section = text.split("### Your own ClickHouse").nth(1).expect("clickhouse/README.md: Your own ClickHouse");
    let mut statements = Vec::new();
    for block in section.split("```sql").skip(1) {
        let sql = block.split("```").next().unwrap();
        statements.extend(
            sql.split(';').map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")).filter(|s| !s.is_empty()),
        );
    }
    statements
}

/// `name = value [CONST] [MAX n]` items of a formatted SETTINGS list: name → (value, max, fixed).
fn settings_list(list: &str) -> BTreeMap<String, (String, Option<String>, bool)> {
    list.split(", ")
        .map(|item| {
            let words: Vec<&str> = item.split_whitespace().collect();
            assert_eq!(words[1], "=", "{item}");
            let max = words.iter().position(|w| *w == "MAX").map(|i| words[i + 1].to_string());
            let fixed = words.contains(&"CONST") || words.contains(&"READONLY");
            (words[0].to_string(), (words[2].trim_matches('\'').to_string(), max, fixed))
        })
        .collect()
}

#[tokio::test]
async fn readme_sql_for_your_own_clickhouse_equals_the_users_file() {
    let server = support::clickhouse::server();
    let client = reqwest::Client::new();
    let mut formatted = Vec::new();
    for statement in readme_statements() {
        let response = client
            .post(format!("{}/", server.url))
            .query(&[("param_q", statement.as_str())])
            .body("SELECT formatQuery({q:String}) FORMAT TSVRaw")
            .send()
            .await
            .unwrap();
        let ok = response.status().is_success();
        let body = response.text().await.unwrap();
        assert!(ok, "ClickHouse cannot parse `{statement}`: {body}");
        formatted.push(body.trim().to_string());
    }
    let find = |prefix: &str| -> &String {
        formatted.iter().find(|f| f.starts_with(prefix)).unwrap_or_else(|| panic!("no `{prefix}` in {formatted:#?}"))
    };

    let xml = read(USERS_XML);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    for user in ["tokenledger", "tokenledger_reader"] {
        let grant = formatted
            .iter()
            .find(|f| f.starts_with("GRANT ") && f.ends_with(&format!(" TO {user}")))
            .unwrap_or_else(|| panic!("no GRANT ... TO {user}"));
        let statement = grant.strip_suffix(&format!(" TO {user}")).unwrap();
        let set = |(p, d): (Vec<String>, String)| (p.into_iter().collect::<BTreeSet<_>>(), d);
        assert_eq!(set(grant_parts(statement)), set(grant_parts(&xml_grants(xml_user(&doc, user))[0])), "{user}");
        assert!(find(&format!("CREATE USER IF NOT EXISTS {user} ")).contains("IDENTIFIED WITH sha256_password"));
    }

    let (profile, _) = shipped_user("tokenledger_reader");
    let create = find(&format!("CREATE SETTINGS PROFILE IF NOT EXISTS `{profile}` SETTINGS "));
    let listed = settings_list(create.rsplit(" SETTINGS ").next().unwrap());
    let constraints = profile_constraints(&doc, &profile);
    let from_xml: BTreeMap<String, (String, Option<String>, bool)> = profile_settings(&doc, &profile)
        .into_iter()
        .map(|(name, value)| {
            let (max, fixed) = constraints.get(&name).cloned().unwrap_or((None, false));
            (name, (value, max, fixed))
        })
        .collect();
    assert_eq!(listed, from_xml, "the README's profile vs {USERS_XML}");
    let reader = find("CREATE USER IF NOT EXISTS tokenledger_reader ");
    assert!(reader.ends_with(&format!("SETTINGS PROFILE `{profile}`")), "{reader}");

    // The one-line fix for an existing user adds the setting; it does not drop the user's others.
    let alter = find("ALTER USER ");
    assert!(alter.contains("ADD SETTING final = 1") && !alter.contains("DROP ALL"), "{alter}");
}
