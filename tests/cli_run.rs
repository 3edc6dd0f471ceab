//! `tokenledger run` and `tokenledger env` as a user runs them: the child's exit status is tokenledger's (128 + N for
//! a signal, 127 / 126 when it cannot start, 64 before anything runs when an attribute is bad), standard streams pass
//! untouched, signals reach the child exactly once (SIGTERM / SIGHUP / SIGINT sent to tokenledger are forwarded; a
//! terminal's Ctrl-C, driven through a real pseudo-terminal, reaches it through the process group), `env` prints
//! what `run` sets, in forms a real shell and a JSON parser read back; and, with the real Claude Code CLI started by
//! `tokenledger run` against a relay and ClickHouse, attribute values with spaces, commas, slashes, `=`, `%`, quotes
//! and non-ASCII characters arrive decoded exactly, the flags winning over the caller's OTEL_RESOURCE_ATTRIBUTES.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use clickhouse::Row;
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use support::claude::{self, ClaudeRun, FakeAnthropic, OtlpProtocol};
use support::clickhouse::fresh_database;

const BIN: &str = env!("CARGO_BIN_EXE_tokenledger");

/// An empty HOME and working directory: no settings file of the machine's may interfere.
fn isolated() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// tokenledger with a clean view of the workflow variables (the test's own environment must not leak in).
fn tokenledger() -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(isolated()).env("HOME", isolated()).env_remove("CLAUDE_CONFIG_DIR");
    command.env_remove("OTEL_RESOURCE_ATTRIBUTES");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TOKENLEDGER_") {
            command.env_remove(name);
        }
    }
    command
}

fn run_sh(flags: &[&str], script: &str) -> Output {
    tokenledger().arg("run").args(flags).args(["--", "sh", "-c", script]).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn run_exits_with_the_childs_status_or_the_shells_codes() {
    for code in [0, 3, 255] {
        let output = run_sh(&["--stage", "s"], &format!("exit {code}"));
        assert_eq!(output.status.code(), Some(code), "exit {code}: {}", text(&output.stderr));
    }
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        let output = run_sh(&[], &format!("kill -{signal} $$"));
        assert_eq!(output.status.code(), Some(128 + signal), "a child killed by signal {signal}");
    }

    let missing = "tokenledger-no-such-command";
    let output = tokenledger().args(["run", "--", missing, "arg"]).output().unwrap();
    assert_eq!(output.status.code(), Some(127), "a command not found");
    assert!(text(&output.stderr).contains(&format!("{missing}: command not found")), "{}", text(&output.stderr));

    let dir = tempfile::tempdir().unwrap();
    let not_executable = dir.path().join("script.sh");
    std::fs::write(&not_executable, "#!/bin/sh\nexit 0\n").unwrap();
    let output = tokenledger().args(["run", "--"]).arg(&not_executable).output().unwrap();
    assert_eq!(output.status.code(), Some(126), "a file without the execute bit: {}", text(&output.stderr));

    // A bad attribute stops everything before the command runs.
    let marker = dir.path().join("ran");
    let touch = format!("touch '{}'", marker.display());
    for flags in [&["--stage", ""][..], &["--attr", "bad key=1"], &["--attr", "stage=a", "--stage", "b"]] {
        let output = run_sh(flags, &touch);
        assert_eq!(output.status.code(), Some(64), "{flags:?}: {}", text(&output.stderr));
        assert!(text(&output.stderr).starts_with("tokenledger: "), "{flags:?}: a clear message");
        assert!(!marker.exists(), "{flags:?}: the command must not have run");
    }
    let output = tokenledger()
        .env("OTEL_RESOURCE_ATTRIBUTES", "team=a b")
        .args(["run", "--stage", "s", "--", "sh", "-c", &touch])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(text(&output.stderr).contains("team=a%20b"), "the message shows the fix: {}", text(&output.stderr));
    assert!(!marker.exists(), "an inherited entry Claude Code would drop stops the run");
}

#[test]
fn run_passes_the_streams_untouched_and_sets_what_env_prints() {
    let flags = ["--workflow", "wf 7/α", "--stage", "plan, then=review", "--path", "full", "--attr", "team=a%b"];
    let mut child = tokenledger()
        .env("OTEL_RESOURCE_ATTRIBUTES", "service.namespace=ci,stage=inherited")
        .arg("run")
        .args(flags)
        .args(["--", "sh", "-c", "cat; printf 'on stderr' >&2; env > \"$0\"", "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bytes that are not UTF-8, no final line break: they must come out as they went in.
    let input: Vec<u8> = (0u8..=255).chain(*b"last line without newline").collect();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(output.stdout, input, "stdout is the child's, byte for byte");
    assert_eq!(text(&output.stderr), "on stderr", "stderr is the child's: tokenledger adds nothing");

    // The child's environment holds every variable `env --format json` prints for the same flags.
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("env");
    let status = tokenledger()
        .env("OTEL_RESOURCE_ATTRIBUTES", "service.namespace=ci,stage=inherited")
        .arg("run")
        .args(flags)
        .args(["--", "sh", "-c", "env > \"$0\""])
        .arg(&dump)
        .status()
        .unwrap();
    assert!(status.success());
    let child_env: BTreeMap<String, String> = std::fs::read_to_string(&dump)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    let printed = tokenledger()
        .env("OTEL_RESOURCE_ATTRIBUTES", "service.namespace=ci,stage=inherited")
        .arg("env")
        .args(flags)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(printed.status.success(), "{}", text(&printed.stderr));
    let printed: BTreeMap<String, String> = serde_json::from_slice(&printed.stdout).unwrap();
    assert!(printed.contains_key("CLAUDE_CODE_ENABLE_TELEMETRY") && printed.contains_key("OTEL_LOG_TOOL_DETAILS"));
    for (name, value) in &printed {
        assert_eq!(child_env.get(name), Some(value), "{name} in the child's environment");
    }
    assert!(!child_env.contains_key("MIMALLOC_ARENA_EAGER_COMMIT"), "the relay's allocator settings stay out");

    // The attributes decode to the flags' values, the flags winning over the inherited `stage`.
    let decoded: Vec<(String, String)> = printed["OTEL_RESOURCE_ATTRIBUTES"]
        .split(',')
        .map(|entry| {
            let (key, value) = entry.split_once('=').unwrap();
            (key.to_string(), percent_decode_str(value).decode_utf8().unwrap().into_owned())
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("service.namespace", "ci"),
        ("workflow_id", "wf 7/α"),
        ("workflow_path", "full"),
        ("stage", "plan, then=review"),
        ("team", "a%b"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(decoded, want);
}

#[test]
fn env_output_reads_back_in_a_shell_and_a_minted_id_is_reused() {
    // Mint once, reuse for every stage: the way examples/workflow/four-stage.sh does it.
    let minted = tokenledger().args(["env", "--workflow", "new", "--print-id"]).output().unwrap();
    assert!(minted.status.success(), "{}", text(&minted.stderr));
    let id = text(&minted.stdout).trim().to_string();
    assert!(id.starts_with("wf-") && !id.contains(char::is_whitespace), "{id:?}");
    let again = tokenledger().args(["env", "--workflow", "new", "--print-id"]).output().unwrap();
    assert_ne!(text(&again.stdout).trim(), id, "each `new` is a new id");

    let stage = "it's \"$HOME\" `id`; é";
    let script = format!(
        "eval \"$('{BIN}' env --workflow '{id}' --stage \"$1\")\" && printf '%s\\n' \"$OTEL_RESOURCE_ATTRIBUTES\" \
         \"$OTEL_EXPORTER_OTLP_ENDPOINT\""
    );
    let output = Command::new("sh")
        .args(["-c", &script, "sh", stage])
        .env_remove("OTEL_RESOURCE_ATTRIBUTES")
        .env("TOKENLEDGER_CLAUDE_TELEMETRY__ENDPOINT", "http://relay.example:4317")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    let mut lines = out.lines();
    let attributes = lines.next().unwrap();
    let stage_value = attributes.split(',').find_map(|e| e.strip_prefix("stage=")).unwrap();
    assert_eq!(percent_decode_str(stage_value).decode_utf8().unwrap(), stage);
    assert!(attributes.starts_with(&format!("workflow_id={id},")), "{attributes}");
    assert_eq!(lines.next(), Some("http://relay.example:4317"), "the config's endpoint, overridden by env");

    // `run --workflow new` says the id it minted on stderr and gives it to the child.
    let output = run_sh(&["--workflow", "new"], "printf %s \"$OTEL_RESOURCE_ATTRIBUTES\"");
    let said = text(&output.stderr);
    let minted = said.trim().strip_prefix("tokenledger: workflow_id=").unwrap_or_else(|| panic!("{said:?}"));
    assert_eq!(text(&output.stdout), format!("workflow_id={minted}"));

    let dotenv = tokenledger().args(["env", "--stage", "a b", "--format", "dotenv"]).output().unwrap();
    let dotenv = text(&dotenv.stdout);
    assert!(dotenv.contains("OTEL_RESOURCE_ATTRIBUTES=stage=a%20b\n"), "{dotenv}");
    assert!(dotenv.lines().all(|l| l.split_once('=').is_some_and(|(k, _)| !k.is_empty())), "{dotenv}");
}

#[test]
fn run_warns_when_a_claude_settings_file_would_override_what_it_sets() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".claude")).unwrap();
    let settings = home.path().join(".claude/settings.json");
    std::fs::write(&settings, r#"{"env": {"OTEL_RESOURCE_ATTRIBUTES": "stage=fixed"}}"#).unwrap();
    let output = tokenledger()
        .env("HOME", home.path())
        .args(["run", "--stage", "plan", "--", "sh", "-c", "exit 0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "a warning, not an error");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("warning")
            && stderr.contains(&settings.display().to_string())
            && stderr.contains("OTEL_RESOURCE_ATTRIBUTES"),
        "{stderr}"
    );
}

/// A child that counts the signals it receives (any of INT, TERM, HUP), exits 40 + that count a moment after the
/// first, and says which signal it got.
const COUNTING_CHILD: &str = "n=0; for s in INT TERM HUP; do trap \"n=\\$((n+1)); echo got-$s\" $s; done; \
                              echo ready; while [ $n -eq 0 ]; do sleep 0.05; done; sleep 0.5; exit $((40 + n))";

#[test]
fn signals_sent_to_tokenledger_reach_the_child_once() {
    use std::os::unix::process::CommandExt;
    for (signal, name) in [(libc::SIGTERM, "TERM"), (libc::SIGHUP, "HUP"), (libc::SIGINT, "INT")] {
        // A process group of their own, so a child that never got the signal can be killed with tokenledger.
        let mut child = tokenledger()
            .args(["run", "--stage", "s", "--", "sh", "-c", COUNTING_CHILD])
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let pid = child.id() as libc::pid_t;
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        // SAFETY: kill(2) on the pid of a child we spawned and have not waited for.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                // SAFETY: kill(2) on the process group we created.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                panic!("SIG{name}: tokenledger and its child still run 20 s after the signal: it was not forwarded");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, format!("got-{name}\n"), "SIG{name}: what the child received");
        assert_eq!(status.code(), Some(41), "SIG{name}: the child got it once and its exit code is tokenledger's");
    }
}

/// Ctrl-C typed into a real terminal: a pseudo-terminal whose foreground process group is tokenledger's (Python's
/// pty module makes it the session's controlling terminal). The kernel sends SIGINT to the whole group; the child
/// must get it once, not once more from tokenledger.
#[test]
fn ctrl_c_in_a_terminal_reaches_the_child_once() {
    let driver = r#"
import os, pty, select, signal, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
out = b""
deadline = time.time() + 30
while b"ready" not in out and time.time() < deadline:
    out += os.read(fd, 1024)
os.write(fd, b"\x03")
deadline = time.time() + 20
while True:
    if time.time() > deadline:
        os.killpg(pid, signal.SIGKILL)
        out += b"\nTIMEOUT: still running 20 s after Ctrl-C"
        break
    ready, _, _ = select.select([fd], [], [], 0.1)
    if not ready:
        continue
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.stdout.write("\nEXIT %d\n" % os.waitstatus_to_exitcode(status))
"#;
    let output = Command::new("python3")
        .args(["-c", driver, BIN, "run", "--stage", "s", "--", "sh", "-c", COUNTING_CHILD])
        .env_remove("OTEL_RESOURCE_ATTRIBUTES")
        .output()
        .unwrap();
    let out = text(&output.stdout).replace('\r', "");
    assert!(output.status.success(), "{out}\n{}", text(&output.stderr));
    assert_eq!(out.matches("got-INT").count(), 1, "the child got SIGINT once:\n{out}");
    assert!(out.trim_end().ends_with("EXIT 41"), "tokenledger exits with the child's 41:\n{out}");
}

#[derive(Debug, Row, Deserialize)]
struct Attributed {
    workflow_id: String,
    workflow_path: String,
    complexity: String,
    stage: String,
    task_id: String,
    agent: String,
    model_expected: String,
    team: String,
    inherited: String,
    request_id: String,
}

/// The real CLI started by `tokenledger run`: the values come back out of ClickHouse as they were typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribute_values_round_trip_through_the_real_cli_into_clickhouse() {
    let test = "cli_run_round_trip";
    let Some(cli) = claude::cli_or_skip(test) else { return };
    let db = fresh_database(test).await;
    db.apply_schema().await;
    let relay = support::relay::start(db.config()).await;
    let fake = FakeAnthropic::start();
    let workdir = tempfile::tempdir().unwrap();

    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let workflow_id = format!("wf {nanos}/é, x=y 100%");
    let values = [
        ("--workflow", workflow_id.as_str()),
        ("--stage", "plan, then review"),
        ("--task-id", ".claude-4nq.2-plan/sub task=2"),
        ("--agent", "planner \"lead\" ☕"),
        ("--complexity", "50% harder; really"),
        ("--model-expected", "claude/sonnet 4.5"),
    ];
    let team = "platform & infra\\ops 'core'";
    // tokenledger's settings come from its config file: the endpoint the CLI would have from the caller is
    // unreachable, so rows only arrive if `run` set the relay's.
    let config = workdir.path().join("tokenledger.toml");
    std::fs::write(
        &config,
        format!(
            "[claude_telemetry]\nendpoint = \"http://{}\"\nprotocol = \"grpc\"\nlogs_export_interval_ms = 500\n\
             metric_export_interval_ms = 1000\n",
            relay.grpc
        ),
    )
    .unwrap();
    let mut launcher: Vec<String> = vec![BIN.into(), "--config".into(), config.display().to_string(), "run".into()];
    for (flag, value) in values {
        launcher.extend([flag.to_string(), value.to_string()]);
    }
    launcher.extend(["--path".into(), "fast".into(), "--attr".into(), format!("team={team}"), "--".into()]);
    let unreachable: std::net::SocketAddr = ([127, 0, 0, 1], 9).into();
    let run = ClaudeRun::new(&cli, workdir.path(), &fake, OtlpProtocol::HttpJson, unreachable, "sonnet", "Plan it.")
        .resource_attributes(&[("stage", "inherited-stage"), ("inherited", "kept")])
        .launched_by(launcher)
        .run()
        .await;
    let served = fake.requests_of_session(&run.result.session_id).await;
    assert!(!served.is_empty());

    let sql = "SELECT workflow_id, toString(workflow_path) AS workflow_path, toString(complexity) AS complexity, \
               toString(stage) AS stage, toString(task_id) AS task_id, toString(agent) AS agent, \
               toString(model_expected) AS model_expected, attributes['team'] AS team, \
               attributes['inherited'] AS inherited, request_id \
               FROM otel_api_request_events FINAL WHERE workflow_id = ? ORDER BY request_id";
    let deadline = Instant::now() + Duration::from_secs(20);
    let rows = loop {
        let rows = db.fetch_all::<Attributed>(sql, &workflow_id).await;
        if rows.len() >= served.len() || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut served_ids: Vec<&str> = served.iter().map(|r| r.request_id.as_str()).collect();
    served_ids.sort();
    assert_eq!(rows.iter().map(|r| r.request_id.as_str()).collect::<Vec<_>>(), served_ids, "{rows:#?}");
    for row in &rows {
        let got = [
            ("--workflow", row.workflow_id.as_str()),
            ("--stage", row.stage.as_str()),
            ("--task-id", row.task_id.as_str()),
            ("--agent", row.agent.as_str()),
            ("--complexity", row.complexity.as_str()),
            ("--model-expected", row.model_expected.as_str()),
        ];
        assert_eq!(got, values, "columns as typed (the flag's stage wins over the inherited one)");
        assert_eq!((row.workflow_path.as_str(), row.team.as_str()), ("fast", team));
        assert_eq!(row.inherited, "kept", "the caller's other attributes are kept");
    }
    relay.shutdown().await;
}
