//! The stack a user starts, checked file against file without a Docker engine: docker-compose.yml against the
//! Compose Specification's schema, its variables against .env.example, its wiring against the collector config,
//! the ClickHouse users XML and the relay's own configuration (the real binary), and deploy/Dockerfile against the
//! Makefile and the binary's subcommands. tests/stack_clickhouse.rs loads the ClickHouse XML into the engine.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use support::stack_files::*;

const SCHEMA: &str = "tests/fixtures/schemas/compose-spec.json";

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&read(SCHEMA)).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("the Compose Specification schema compiles")
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator.iter_errors(instance).map(|e| format!("{}: {e}", e.instance_path())).collect()
}

#[test]
fn compose_file_follows_the_compose_specification() {
    let validator = validator();
    let raw = compose_raw();
    assert_eq!(errors(&validator, &raw), Vec::<String>::new(), "docker-compose.yml as written");
    let filled = compose_with(&filled_env()).expect("interpolates with every variable set");
    assert_eq!(errors(&validator, &filled), Vec::<String>::new(), "docker-compose.yml as docker compose reads it");

    // docker compose's own loader (its schema, interpolation, consistency checks) accepts it, and resolves every
    // service's environment and ports as the tests' interpolation does.
    let loaded = compose_loader(&filled_env()).expect("docker compose loads docker-compose.yml");
    for (name, _) in filled["services"].as_object().unwrap() {
        let theirs: BTreeMap<String, String> = loaded["services"][name]["environment"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), scalar(v))).collect())
            .unwrap_or_default();
        assert_eq!(theirs, service_env(&filled, name), "{name}: environment");
        let ports: Vec<(String, String, u64)> = loaded["services"][name]["ports"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| (scalar(&p["host_ip"]), scalar(&p["published"]), p["target"].as_u64().unwrap()))
                    .collect()
            })
            .unwrap_or_default();
        let mine: Vec<(String, String, u64)> = published(&filled, name)
            .iter()
            .map(|p| (p.host_ip.clone(), p.host.to_string(), p.container as u64))
            .collect();
        assert_eq!(ports, mine, "{name}: ports");
    }

    // The validator does reject what the specification forbids: a misspelt key and a wrong type.
    let mut broken = filled.clone();
    broken["services"]["relay"]["restartt"] = Value::from("always");
    broken["services"]["clickhouse"]["healthcheck"]["retries"] = Value::from(vec![1, 2]);
    assert_eq!(errors(&validator, &broken).len(), 2, "{:?}", errors(&validator, &broken));
}

#[test]
fn every_secret_comes_from_env_and_env_example_names_exactly_those() {
    let refs = compose_references();
    let used: BTreeSet<String> = refs.iter().map(|r| r.name.clone()).collect();
    let example = env_example();
    let listed: BTreeSet<String> = example.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(used, listed, "variables in docker-compose.yml vs .env.example");

    // Every password is a required variable whose message says what to set; .env.example gives none a value.
    let required: BTreeSet<String> = refs.iter().filter(|r| r.op == ":?").map(|r| r.name.clone()).collect();
    let secrets: BTreeSet<String> = used.iter().filter(|n| n.contains("PASSWORD")).cloned().collect();
    assert!(!secrets.is_empty() && secrets == required, "secrets {secrets:?} vs required {required:?}");
    for r in refs.iter().filter(|r| r.op == ":?") {
        assert!(r.arg.contains(&r.name) && r.arg.contains(".env"), "${{{}:?}} must say what to set: {}", r.name, r.arg);
    }
    for (key, value) in &example {
        assert!(!required.contains(key) || value.is_empty(), ".env.example gives {key} a value: {value}");
    }

    // docker compose's own loader refuses .env.example copied unchanged, naming every missing secret with its
    // message; and each secret missing alone; the filled file loads. The tests' own interpolation agrees.
    let as_shipped: BTreeMap<String, String> = example.iter().cloned().collect();
    let refusal = compose_loader(&as_shipped).expect_err("docker compose must refuse .env.example as shipped");
    for r in refs.iter().filter(|r| r.op == ":?") {
        assert!(refusal.contains(&format!("required variable {} is missing a value: {}", r.name, r.arg)), "{refusal}");
    }
    assert!(compose_with(&as_shipped).is_err());
    for name in &required {
        let mut env = filled_env();
        env.remove(name);
        let refusal = compose_loader(&env).expect_err(&format!("docker compose must refuse to start without {name}"));
        assert!(refusal.contains(name), "{refusal}");
        assert!(compose_with(&env).unwrap_err().contains(name));
    }
    compose_loader(&filled_env()).expect("docker compose loads the stack with .env filled in");

    // No password is written into compose itself: every environment entry named *PASSWORD* is a reference.
    let compose = compose_raw();
    for (name, _) in compose["services"].as_object().unwrap() {
        for (key, value) in service_env(&compose, name) {
            if key.contains("PASSWORD") {
                let refs = references(&value);
                assert!(refs.len() == 1 && refs[0].op == ":?", "{name}.{key} = {value}: not a required variable");
            }
        }
    }
}

#[test]
fn services_start_in_order_restart_and_publish_only_user_facing_ports() {
    let compose = compose_with(&filled_env()).unwrap();
    let services = compose["services"].as_object().unwrap();
    let names: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        BTreeSet::from(["alertmanager", "clickhouse", "collector", "collector-init", "grafana", "prometheus", "relay"])
    );

    let condition = |from: &str, to: &str| scalar(&service(&compose, from)["depends_on"][to]["condition"]);
    assert_eq!(condition("relay", "clickhouse"), "service_healthy");
    assert_eq!(condition("collector", "relay"), "service_healthy");
    assert_eq!(condition("collector", "collector-init"), "service_completed_successfully");
    assert_eq!(condition("grafana", "clickhouse"), "service_healthy");

    for (name, svc) in services {
        let restart = scalar(&svc["restart"]);
        let expected = if name == "collector-init" { "no" } else { "unless-stopped" };
        assert_eq!(restart, expected, "{name}.restart");
        // Every image is pinned to a version (digits in the tag), never a moving tag.
        if let Some(image) = svc["image"].as_str().filter(|_| svc["build"].is_null()) {
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or_else(|| panic!("{name}: {image} has no tag"));
            let version = tag.strip_prefix('v').unwrap_or(tag);
            assert!(version.chars().next().is_some_and(|c| c.is_ascii_digit()), "{name}: {image} is not pinned");
        }
    }
    // A service waited on as healthy has a healthcheck; the collector (distroless) has none and waits on nobody.
    for name in ["clickhouse", "relay", "prometheus", "alertmanager", "grafana"] {
        assert!(service(&compose, name)["healthcheck"]["test"].is_array(), "{name} has no healthcheck");
    }
    assert!(service(&compose, "collector")["healthcheck"].is_null());

    let mut ports = BTreeMap::new();
    for name in services.keys() {
        for p in published(&compose, name) {
            assert_eq!(p.host, p.container, "{name}: {p:?}");
            assert_eq!(p.host_ip, filled_env()["TOKENLEDGER_BIND_ADDRESS"], "{name}: {p:?}");
            ports.insert(p.container, name.clone());
        }
    }
    let expected: BTreeMap<u16, String> = [
        (3000, "grafana"),
        (4317, "collector"),
        (4318, "collector"),
        (8123, "clickhouse"),
        (9090, "prometheus"),
        (9093, "alertmanager"),
    ]
    .map(|(p, s)| (p, s.to_string()))
    .into();
    assert_eq!(ports, expected, "published ports");

    // The ClickHouse image needs many open files; its healthcheck probes the port compose publishes.
    let clickhouse = service(&compose, "clickhouse");
    assert!(clickhouse["ulimits"]["nofile"]["soft"].as_u64().unwrap() >= 262144);
    let probe = clickhouse["healthcheck"]["test"].as_array().unwrap().iter().map(scalar).collect::<Vec<_>>();
    assert!(probe.iter().any(|a| a.starts_with("http://127.0.0.1:8123/")), "{probe:?}");

    // Named volumes only for data, and every one declared.
    let declared: BTreeSet<String> = compose["volumes"].as_object().unwrap().keys().cloned().collect();
    let mut named = BTreeSet::new();
    for name in services.keys() {
        for m in mounts(&compose, name) {
            if m.source.starts_with("./") {
                assert!(m.read_only, "{name}: host file {} must be mounted read-only", m.source);
                assert!(
                    repo(&m.source[2..]).exists() || m.source == "./otel-collector-config.yaml",
                    "{name}: {} does not exist",
                    m.source
                );
            } else {
                named.insert(m.source);
            }
        }
    }
    assert_eq!(named, declared);
}

#[test]
fn collector_wiring_matches_its_config_and_the_relay() {
    let compose = compose_with(&filled_env()).unwrap();
    let env = service_env(&compose, "collector");
    let (path, text) = collector_config();
    let placeholders = collector_placeholders(&text);
    // stack-names: the names every part of the stack uses.
    for name in [
        "RELAY_OTLP_ENDPOINT",
        "OTELCOL_GRPC_ENDPOINT",
        "OTELCOL_HTTP_ENDPOINT",
        "OTELCOL_HEALTH_ENDPOINT",
        "OTELCOL_METRICS_HOST",
        "OTELCOL_METRICS_PORT",
        "OTELCOL_STORAGE_DIR",
        "PROMETHEUS_REMOTE_WRITE_ENDPOINT",
    ] {
        assert!(placeholders.contains_key(name), "{path} has no ${{env:{name}:-...}}");
    }
    // Compose sets each placeholder to the config's own default, and sets nothing the config does not read.
    let set: BTreeSet<&String> = env.keys().collect();
    let read_by_config: BTreeSet<&String> = placeholders.keys().collect();
    assert_eq!(set, read_by_config, "collector environment in compose vs placeholders in {path}");
    for (name, default) in &placeholders {
        let default = default.as_deref().unwrap_or_else(|| panic!("{path}: ${{env:{name}}} has no default"));
        assert_eq!(env[name], default, "{name}: compose and {path} disagree");
    }

    // The config is mounted where the image reads it; the published ports are the receiver's ports.
    let collector_mounts = mounts(&compose, "collector");
    assert!(collector_mounts.iter().any(|m| m.source == "./otel-collector-config.yaml"
        && m.target == "/etc/otelcol-contrib/config.yaml"
        && m.read_only));
    let ports: BTreeSet<u16> = published(&compose, "collector").iter().map(|p| p.container).collect();
    let receiver: BTreeSet<u16> =
        [port_of(&env["OTELCOL_GRPC_ENDPOINT"]), port_of(&env["OTELCOL_HTTP_ENDPOINT"])].into();
    assert_eq!(ports, receiver);
    for private in [port_of(&env["OTELCOL_HEALTH_ENDPOINT"]), env["OTELCOL_METRICS_PORT"].parse().unwrap()] {
        assert!(!ports.contains(&private), "{private} must stay inside the compose network");
    }

    // The persistent queue: the file_storage directory is the volume's mount point, in the collector and in the
    // one-shot init, which hands it to the uid:gid the collector runs as.
    let dir = &env["OTELCOL_STORAGE_DIR"];
    let queue = collector_mounts.iter().find(|m| &m.target == dir).expect("a volume at OTELCOL_STORAGE_DIR");
    assert!(!queue.source.starts_with('.') && !queue.read_only, "{queue:?}");
    let init = mounts(&compose, "collector-init");
    assert!(init.iter().any(|m| m.source == queue.source && &m.target == dir), "{init:?}");
    let command: Vec<String> =
        service(&compose, "collector-init")["command"].as_array().unwrap().iter().map(scalar).collect();
    let user = scalar(&service(&compose, "collector")["user"]);
    assert_eq!(command, ["chown", "-R", user.as_str(), dir.as_str()]);
    assert_eq!(user, "10001:10001", "the contrib image's own user (stack-names)");

    // The collector the tests build and run (tests/otelcol/manifest.yaml) is the release compose pins.
    let image = scalar(&service(&compose, "collector")["image"]);
    let tag = image.rsplit_once(':').unwrap().1.to_string();
    let manifest: Value = serde_yaml_ng::from_str(&read("tests/otelcol/manifest.yaml")).unwrap();
    assert_eq!(scalar(&manifest["dist"]["version"]), tag, "tests/otelcol/manifest.yaml vs {image}");
    for kind in ["receivers", "processors", "exporters", "extensions"] {
        for component in manifest[kind].as_array().unwrap() {
            let gomod = scalar(&component["gomod"]);
            assert!(gomod.ends_with(&format!(" v{tag}")), "{gomod} is not the {tag} release");
        }
    }

    // The exporter reaches the relay by its compose service name, on the port the relay listens on for OTLP/HTTP.
    let relay = effective_config(&service_env(&compose, "relay"));
    let endpoint = &env["RELAY_OTLP_ENDPOINT"];
    assert_eq!(host_of(endpoint), "relay");
    assert!(compose["services"].get("relay").is_some());
    assert_eq!(port_of(endpoint), port_of(&config_str(&relay, "otlp", "http_addr")));
}

/// The `--flag=value` arguments of a service's command.
fn command_flags(compose: &Value, name: &str) -> BTreeMap<String, String> {
    service(compose, name)["command"]
        .as_array()
        .unwrap_or_else(|| panic!("{name} has no command list"))
        .iter()
        .map(scalar)
        .map(|arg| match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), value.to_string()),
            None => (arg, String::new()),
        })
        .collect()
}

/// The `targets` of a scrape job of prometheus/prometheus.yml (or of its alertmanagers with job None).
fn prometheus_targets(config: &serde_yaml_ng::Value, job: Option<&str>) -> Vec<String> {
    let static_configs = match job {
        Some(job) => config["scrape_configs"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|c| c["job_name"].as_str() == Some(job))
            .unwrap_or_else(|| panic!("prometheus.yml has no job {job}"))["static_configs"]
            .clone(),
        None => config["alerting"]["alertmanagers"][0]["static_configs"].clone(),
    };
    static_configs[0]["targets"].as_sequence().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
}

#[test]
fn prometheus_and_alertmanager_wiring_matches_the_services_they_name() {
    let compose = compose_with(&filled_env()).unwrap();
    let config: serde_yaml_ng::Value = serde_yaml_ng::from_str(&read("prometheus/prometheus.yml")).unwrap();

    // Prometheus reads its config and rules where compose mounts them (rule_files are relative to the config),
    // keeps its data in a volume, and accepts the collector's remote writes.
    let flags = command_flags(&compose, "prometheus");
    let mounts_p = mounts(&compose, "prometheus");
    let config_file = &flags["--config.file"];
    assert!(mounts_p
        .iter()
        .any(|m| m.source == "./prometheus/prometheus.yml" && &m.target == config_file && m.read_only));
    let config_dir = config_file.rsplit_once('/').unwrap().0;
    for pattern in config["rule_files"].as_sequence().unwrap() {
        let dir = pattern.as_str().unwrap().rsplit_once('/').unwrap().0;
        assert!(
            mounts_p
                .iter()
                .any(|m| m.source == format!("./prometheus/{dir}") && m.target == format!("{config_dir}/{dir}")),
            "rule_files {pattern:?}: {mounts_p:?}"
        );
    }
    assert!(mounts_p.iter().any(|m| !m.source.starts_with('.') && m.target == flags["--storage.tsdb.path"]));
    assert!(flags.contains_key("--web.enable-remote-write-receiver"), "{flags:?}");
    let collector_env = service_env(&compose, "collector");
    let write = &collector_env["PROMETHEUS_REMOTE_WRITE_ENDPOINT"];
    assert_eq!(host_of(write), "prometheus");
    assert_eq!(port_of(write), 9090);
    assert!(write.ends_with("/api/v1/write"), "{write}");

    // The scrape targets are compose services on the ports they listen on.
    let relay = effective_config(&service_env(&compose, "relay"));
    assert_eq!(
        prometheus_targets(&config, Some("tokenledger-relay")),
        [format!("relay:{}", port_of(&config_str(&relay, "admin", "addr")))]
    );
    assert_eq!(
        prometheus_targets(&config, Some("otel-collector")),
        [format!("collector:{}", collector_env["OTELCOL_METRICS_PORT"])]
    );
    assert_eq!(prometheus_targets(&config, None), ["alertmanager:9093"]);
    assert_eq!(
        config["global"]["external_labels"]["grafana_url"].as_str(),
        Some("http://localhost:3000"),
        "the dashboard links of the alerts point at compose's Grafana"
    );

    // Alertmanager reads its config where compose mounts it; every secret file is in the mounted secrets folder,
    // which exists in the repository (with its README, not the secrets).
    let flags = command_flags(&compose, "alertmanager");
    let mounts_a = mounts(&compose, "alertmanager");
    assert!(mounts_a
        .iter()
        .any(|m| m.source == "./prometheus/alertmanager.yml" && m.target == flags["--config.file"] && m.read_only));
    assert!(mounts_a.iter().any(|m| !m.source.starts_with('.') && m.target == flags["--storage.path"]));
    let secrets = mounts_a.iter().find(|m| m.source == "./prometheus/secrets").expect("the secrets folder is mounted");
    assert!(secrets.read_only);
    let alertmanager = read("prometheus/alertmanager.yml");
    let files: Vec<&str> =
        alertmanager.lines().filter_map(|l| l.trim().split_once("_file: ").map(|(_, v)| v.trim())).collect();
    assert_eq!(files.len(), 3, "{files:?}");
    let documented = read("prometheus/secrets/README.md");
    for file in files {
        let name =
            file.strip_prefix(&format!("{}/", secrets.target)).unwrap_or_else(|| panic!("{file} is outside the mount"));
        assert!(documented.contains(&format!("`{name}`")), "prometheus/secrets/README.md documents {name}");
    }

    // Both healthchecks probe /-/healthy on the port compose publishes.
    for (name, port) in [("prometheus", 9090), ("alertmanager", 9093)] {
        let probe: Vec<String> =
            service(&compose, name)["healthcheck"]["test"].as_array().unwrap().iter().map(scalar).collect();
        assert_eq!(probe, ["CMD", "wget", "--spider", "-q", &format!("http://127.0.0.1:{port}/-/healthy")]);
    }
}

#[test]
fn relay_environment_is_read_by_the_relay_and_matches_clickhouse() {
    let filled = filled_env();
    let compose = compose_with(&filled).unwrap();
    let env = service_env(&compose, "relay");
    assert!(env.keys().all(|k| k.starts_with("TOKENLEDGER_")), "{env:?}");

    // The real binary reads exactly this environment (it refuses unknown keys) and prints what it understood.
    let config = effective_config(&env);
    let url = config_str(&config, "clickhouse", "url");
    assert_eq!(host_of(&url), "clickhouse");
    assert!(compose["services"].get("clickhouse").is_some());
    let published: Vec<u16> =
        support::stack_files::published(&compose, "clickhouse").iter().map(|p| p.container).collect();
    assert_eq!(vec![port_of(&url)], published, "the relay uses ClickHouse's HTTP port");
    let printed_password = config_str(&config, "clickhouse", "password");
    assert!(
        !printed_password.is_empty() && !printed_password.contains("test-"),
        "the password is redacted: {printed_password}"
    );

    // The relay's user, password variable and database are the ones the ClickHouse users file defines.
    let xml = read(USERS_XML);
    let doc = roxmltree::Document::parse(&xml).expect("users XML is well-formed");
    let user = config_str(&config, "clickhouse", "user");
    let node = xml_user(&doc, &user);
    let from_env = child(node, "password").attribute("from_env").expect("password from_env");
    let clickhouse_env = service_env(&compose, "clickhouse");
    assert_eq!(clickhouse_env.get(from_env), filled.get(from_env), "ClickHouse gets {from_env} from .env");
    let raw = compose_raw();
    assert_eq!(
        service_env(&raw, "relay")["TOKENLEDGER_CLICKHOUSE__PASSWORD"],
        service_env(&raw, "clickhouse")[from_env],
        "the relay's password and ClickHouse's {from_env} are the same .env variable"
    );
    let database = config_str(&config, "clickhouse", "database");
    for grant in xml_grants(node) {
        assert_eq!(grant_parts(&grant).1, database, "{grant}");
    }
    for (key, value) in &env {
        assert!(!value.contains("${"), "{key} left uninterpolated");
    }

    // Every from_env of the users file is set on the ClickHouse service from a required .env variable.
    for n in doc.descendants().filter(|n| n.attribute("from_env").is_some()) {
        let var = n.attribute("from_env").unwrap();
        let reference = references(&service_env(&raw, "clickhouse")[var]);
        assert!(reference.len() == 1 && reference[0].name == var && reference[0].op == ":?", "{var}: {reference:?}");
    }
}

#[test]
fn relay_healthcheck_and_image_command_are_subcommands_of_the_binary() {
    let compose = compose_with(&filled_env()).unwrap();
    let test: Vec<String> =
        service(&compose, "relay")["healthcheck"]["test"].as_array().unwrap().iter().map(scalar).collect();
    assert_eq!(test, ["CMD", "tokenledger", "health"]);
    let subcommands = subcommands();
    assert!(subcommands.iter().any(|s| s == &test[2]), "`tokenledger {}` is not in --help: {subcommands:?}", test[2]);
    let dockerfile = Dockerfile::parse(&read("deploy/Dockerfile"));
    let cmd = dockerfile.last_json("CMD");
    assert!(subcommands.contains(&cmd[0]), "CMD {cmd:?} is not a subcommand: {subcommands:?}");
}

#[test]
fn dockerfile_builds_with_the_makefile_release_command_and_runs_unprivileged() {
    let dockerfile = Dockerfile::parse(&read("deploy/Dockerfile"));
    let stages = dockerfile.stages();
    assert_eq!(stages.len(), 2, "builder and runtime");
    let from = |stage: &[(String, String)]| stage[0].1.split_whitespace().collect::<Vec<_>>().join(" ");
    let (builder_from, runtime_from) = (from(&stages[0]), from(&stages[1]));
    assert!(builder_from.ends_with(" AS builder"), "{builder_from}");

    // Pinned images of the same Debian release (the binary links the builder's glibc); the toolchain is at least
    // Cargo.toml's rust-version.
    let image = |f: &str| f.split_whitespace().next().unwrap().to_string();
    let (rust_image, runtime_image) = (image(&builder_from), image(&runtime_from));
    for i in [&rust_image, &runtime_image] {
        let tag = i.split_once(':').map(|(_, t)| t).unwrap_or_else(|| panic!("{i} has no tag"));
        assert!(tag != "latest" && tag.chars().filter(char::is_ascii_digit).count() >= 3, "{i} is not pinned");
    }
    let codename = |i: &str| ["bookworm", "trixie", "bullseye"].into_iter().find(|c| i.contains(c)).map(str::to_string);
    assert!(codename(&rust_image).is_some() && codename(&rust_image) == codename(&runtime_image));
    let toolchain: Vec<u32> = rust_image
        .split(':')
        .nth(1)
        .unwrap()
        .split('-')
        .next()
        .unwrap()
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    let manifest: toml::Table = read("Cargo.toml").parse().unwrap();
    let floor: Vec<u32> =
        manifest["package"]["rust-version"].as_str().unwrap().split('.').map(|n| n.parse().unwrap()).collect();
    assert!(toolchain >= floor, "{rust_image} is older than rust-version {floor:?}");

    // The builder runs exactly `make release`, which `make test` (CI) runs too.
    let makefile = read("Makefile");
    let (release, _) = make_target(&makefile, "release");
    let runs: Vec<&String> = stages[0].iter().filter(|(w, _)| w == "RUN").map(|(_, a)| a).collect();
    assert_eq!(runs, release.iter().collect::<Vec<_>>(), "Dockerfile RUN vs Makefile release recipe");
    assert_eq!(release, ["cargo build --release --locked"]);
    let (_, test_prerequisites) = make_target(&makefile, "test");
    assert!(test_prerequisites.contains(&"release".to_string()), "make test must run make release");

    // Everything the builder copies exists and is not excluded from the build context.
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    for needed in ["target", ".cache", ".venv", ".env"] {
        assert!(ignored.iter().any(|i| i == needed), ".dockerignore must list {needed}");
    }
    for (_, args) in stages[0].iter().filter(|(w, _)| w == "COPY") {
        let parts: Vec<&str> = args.split_whitespace().collect();
        for source in &parts[..parts.len() - 1] {
            assert!(repo(source).exists(), "COPY {source}: not in the repository");
            assert!(!ignored.iter().any(|i| i == source), "COPY {source}: excluded by .dockerignore");
        }
    }

    // The copied files are all the build reads: every target Cargo.toml declares, every file src/ includes.
    let copied: Vec<String> = stages[0]
        .iter()
        .filter(|(w, _)| w == "COPY")
        .flat_map(|(_, a)| {
            let parts: Vec<String> = a.split_whitespace().map(str::to_string).collect();
            parts[..parts.len() - 1].to_vec()
        })
        .collect();
    let inside = |path: &str| copied.iter().any(|c| path == c || path.starts_with(&format!("{c}/")));
    for kind in ["bin", "bench", "example", "test"] {
        for target in manifest.get(kind).and_then(|t| t.as_array()).into_iter().flatten() {
            let name = target["name"].as_str().unwrap();
            let dir = match kind {
                "bin" => "src/bin",
                "bench" => "benches",
                "example" => "examples",
                _ => "tests",
            };
            let path = target.get("path").and_then(|p| p.as_str()).map(str::to_string);
            let path = path.unwrap_or_else(|| format!("{dir}/{name}.rs"));
            assert!(inside(&path), "Cargo.toml's [[{kind}]] {name} needs {path}, which the builder does not copy");
        }
    }
    for entry in walk(&repo("src")) {
        let text = std::fs::read_to_string(&entry).unwrap();
        for (i, _) in text.match_indices("include_str!(\"").chain(text.match_indices("include_bytes!(\"")) {
            let arg = &text[i..];
            let arg = &arg[arg.find('"').unwrap() + 1..];
            let relative = &arg[..arg.find('"').unwrap()];
            let resolved = entry.parent().unwrap().join(relative).canonicalize().unwrap();
            let from_root =
                resolved.strip_prefix(repo("").canonicalize().unwrap()).unwrap().to_string_lossy().to_string();
            assert!(inside(&from_root), "{} includes {from_root}, which the builder does not copy", entry.display());
        }
    }

    // The runtime stage: the release binary on PATH, an unprivileged user, the binary as entrypoint.
    let runtime = &stages[1];
    let bin = manifest["package"]["name"].as_str().unwrap();
    let copy = runtime.iter().find(|(w, _)| w == "COPY").map(|(_, a)| a.clone()).expect("COPY in runtime");
    assert_eq!(copy, format!("--from=builder /src/target/release/{bin} /usr/local/bin/{bin}"));
    let user = runtime.iter().rev().find(|(w, _)| w == "USER").map(|(_, a)| a.clone()).expect("USER in runtime");
    let uid = user.split(':').next().unwrap();
    assert!(uid != "root" && uid != "0", "runs as {user}");
    assert_eq!(dockerfile.last_json("ENTRYPOINT"), [bin]);
    assert_eq!(dockerfile.last_json("CMD"), ["serve"]);

    // EXPOSE names the relay's default listeners, as the binary itself reports them.
    let defaults = effective_config(&BTreeMap::new());
    let listeners: BTreeSet<u16> = [("otlp", "grpc_addr"), ("otlp", "http_addr"), ("admin", "addr")]
        .iter()
        .map(|(s, k)| port_of(&config_str(&defaults, s, k)))
        .collect();
    let exposed: BTreeSet<u16> = runtime
        .iter()
        .filter(|(w, _)| w == "EXPOSE")
        .flat_map(|(_, a)| a.split_whitespace().map(|p| p.parse::<u16>().unwrap()).collect::<Vec<_>>())
        .collect();
    assert_eq!(exposed, listeners);
}

/// One provisioning YAML of grafana/provisioning as JSON.
fn provisioning(path: &str) -> Value {
    serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn grafana_provisioning_matches_compose_and_the_clickhouse_users() {
    let compose = compose_with(&filled_env()).unwrap();
    let raw = compose_raw();
    let grafana = service(&compose, "grafana");
    let datasources = provisioning("grafana/provisioning/datasources/tokenledger.yml");
    let list = datasources["datasources"].as_array().unwrap();
    let by_uid = |uid: &str| {
        list.iter().find(|d| d["uid"] == uid).unwrap_or_else(|| panic!("no datasource {uid}: {datasources}")).clone()
    };

    // ClickHouse: the read-only user of the users XML, whose profile reads with final = 1; its password is the
    // variable that user's from_env names, passed to Grafana as compose passes it to ClickHouse.
    let clickhouse = by_uid("tokenledger-clickhouse");
    assert_eq!(clickhouse["type"], "grafana-clickhouse-datasource");
    let user = clickhouse["jsonData"]["username"].as_str().unwrap();
    assert_eq!(user, "tokenledger_reader");
    let xml = read(USERS_XML);
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let node = xml_user(&doc, user);
    let profile = child(node, "profile").text().unwrap().trim().to_string();
    assert_eq!(profile_settings(&doc, &profile).get("final").map(String::as_str), Some("1"), "{user} reads with final");
    assert_eq!(profile_settings(&doc, &profile).get("readonly").map(String::as_str), Some("2"), "{user} is read-only");
    let env_name = child(node, "password").attribute("from_env").unwrap();
    let password = clickhouse["secureJsonData"]["password"].as_str().unwrap();
    assert_eq!(password, format!("${{{env_name}}}"), "Grafana expands ${{NAME}} from its environment");
    let raw_env = |name: &str| service_env(&raw, name);
    assert_eq!(raw_env("grafana")[env_name], raw_env("clickhouse")[env_name], "{env_name} for Grafana and ClickHouse");
    assert_eq!(service_env(&compose, "grafana")[env_name], filled_env()[env_name]);
    // Where it connects: the clickhouse service's HTTP port, the relay's database.
    assert_eq!(clickhouse["jsonData"]["host"], "clickhouse");
    assert_eq!(clickhouse["jsonData"]["protocol"], "http");
    let port = clickhouse["jsonData"]["port"].as_u64().unwrap() as u16;
    assert!(published(&compose, "clickhouse").iter().any(|p| p.container == port), "ClickHouse's HTTP port {port}");
    let relay = service_env(&compose, "relay");
    assert_eq!(clickhouse["jsonData"]["defaultDatabase"].as_str().unwrap(), relay["TOKENLEDGER_CLICKHOUSE__DATABASE"]);

    // Prometheus by the name and port the stack gives it (its service is checked where it is defined).
    let prometheus = by_uid("tokenledger-prometheus");
    assert_eq!(prometheus["type"], "prometheus");
    assert_eq!(prometheus["url"], "http://prometheus:9090");

    // The plugin pinned in compose is the version every dashboard target names.
    let env = service_env(&compose, "grafana");
    let (plugin, version) = env["GF_PLUGINS_PREINSTALL_SYNC"].split_once('@').expect("plugin@version");
    assert_eq!(plugin, "grafana-clickhouse-datasource");
    let mut targets = 0;
    for path in walk(&repo("grafana/dashboards")) {
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                if target["datasource"]["type"] == plugin {
                    assert_eq!(target["pluginVersion"], version, "{}: {target}", path.display());
                    targets += 1;
                }
            }
        }
    }
    assert!(targets > 0, "no ClickHouse target in grafana/dashboards");
    // The admin password is a required .env secret.
    let admin = &service_env(&raw, "grafana")["GF_SECURITY_ADMIN_PASSWORD"];
    assert_eq!(references(admin)[0].name, "GRAFANA_ADMIN_PASSWORD");

    // The provisioning folders and the dashboards are mounted where Grafana and the provider look.
    let mounts = mounts(&compose, "grafana");
    let target_of = |source: &str| {
        mounts
            .iter()
            .find(|m| m.source == source)
            .unwrap_or_else(|| panic!("{source} not mounted: {mounts:?}"))
            .target
            .clone()
    };
    assert_eq!(target_of("./grafana/provisioning/datasources"), "/etc/grafana/provisioning/datasources");
    assert_eq!(target_of("./grafana/provisioning/dashboards"), "/etc/grafana/provisioning/dashboards");
    let providers = provisioning("grafana/provisioning/dashboards/tokenledger.yml");
    let provider = &providers["providers"][0];
    assert_eq!(provider["type"], "file");
    assert_eq!(provider["options"]["path"].as_str().unwrap(), target_of("./grafana/dashboards"));
    assert!(
        mounts.iter().any(|m| m.target == "/var/lib/grafana" && !m.source.starts_with("./")),
        "grafana's data volume"
    );

    // Healthcheck on /api/health of the port compose publishes.
    let probe = grafana["healthcheck"]["test"].as_array().unwrap().iter().map(scalar).collect::<Vec<_>>();
    assert!(probe.iter().any(|a| a == "http://127.0.0.1:3000/api/health"), "{probe:?}");
    assert!(published(&compose, "grafana").iter().any(|p| p.container == 3000));
}
