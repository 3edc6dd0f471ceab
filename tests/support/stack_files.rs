//! The shipped stack files as the compose tests read them: docker-compose.yml (with Compose's variable interpolation),
//! .env.example, the collector config's `${env:...}` placeholders, the ClickHouse users XML, deploy/Dockerfile.
//! Parsing only; the checks are in tests/stack_files.rs and tests/stack_clickhouse.rs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// The tokenledger binary the tests run.
pub const BIN: &str = env!("CARGO_BIN_EXE_tokenledger");

/// A file of the repository.
pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A file's text; panics with its path.
pub fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One `${...}` or `$NAME` reference in a compose file.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// Variable name.
    pub name: String,
    /// The operator: "" (plain), ":-", "-", ":?", "?".
    pub op: String,
    /// The default or the error message.
    pub arg: String,
}

/// Every variable reference in `text`, in Compose's syntax (`$$` is a literal `$`).
pub fn references(text: &str) -> Vec<Reference> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').unwrap_or_else(|| panic!("unclosed ${{ in {body:?}"));
            out.push(parse_braced(&body[..end]));
            rest = &body[end + 1..];
        } else {
            let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            if len > 0 {
                out.push(Reference { name: after[..len].to_string(), op: String::new(), arg: String::new() });
            }
            rest = &after[len..];
        }
    }
    out
}

fn parse_braced(body: &str) -> Reference {
    let name_len = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(body.len());
    let (name, tail) = body.split_at(name_len);
    let op = [":-", ":?", "-", "?"].into_iter().find(|op| tail.starts_with(op)).unwrap_or("");
    assert!(!op.is_empty() || tail.is_empty(), "cannot read ${{{body}}}");
    Reference { name: name.to_string(), op: op.to_string(), arg: tail[op.len()..].to_string() }
}

/// Compose's interpolation of `text` with `env`: Err(message) where a required variable is unset or empty
/// (`:?`) or unset (`?`), as `docker compose` refuses to start then.
pub fn interpolate(text: &str, env: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let (reference, tail) = if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').expect("closed ${");
            (parse_braced(&body[..end]), &body[end + 1..])
        } else {
            let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
            (Reference { name: after[..len].to_string(), op: String::new(), arg: String::new() }, &after[len..])
        };
        let value = env.get(&reference.name);
        let empty = value.map(String::is_empty).unwrap_or(true);
        let resolved = match reference.op.as_str() {
            ":-" if empty => reference.arg.clone(),
            "-" if value.is_none() => reference.arg.clone(),
            ":?" if empty => {
                return Err(format!("required variable {} is missing a value: {}", reference.name, reference.arg))
            }
            "?" if value.is_none() => {
                return Err(format!("required variable {} is missing a value: {}", reference.name, reference.arg))
            }
            _ => value.cloned().unwrap_or_default(),
        };
        out.push_str(&resolved);
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

/// docker-compose.yml as JSON, before interpolation.
pub fn compose_raw() -> Value {
    serde_yaml_ng::from_str(&read("docker-compose.yml")).expect("docker-compose.yml is YAML")
}

/// Every string value of docker-compose.yml (Compose interpolates values, after parsing: comments and keys never).
pub fn compose_strings() -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&compose_raw(), &mut out);
    out
}

/// Every variable reference of docker-compose.yml.
pub fn compose_references() -> Vec<Reference> {
    compose_strings().iter().flat_map(|s| references(s)).collect()
}

/// docker-compose.yml as JSON after interpolation with `env`: Err(message) as `docker compose` refuses to start.
pub fn compose_with(env: &BTreeMap<String, String>) -> Result<Value, String> {
    fn walk(v: &Value, env: &BTreeMap<String, String>) -> Result<Value, String> {
        Ok(match v {
            Value::String(s) => Value::String(interpolate(s, env)?),
            Value::Array(a) => Value::Array(a.iter().map(|x| walk(x, env)).collect::<Result<_, _>>()?),
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, x)| Ok((k.clone(), walk(x, env)?))).collect::<Result<_, String>>()?)
            }
            other => other.clone(),
        })
    }
    walk(&compose_raw(), env)
}

/// The `KEY=value` lines of .env.example, in order.
pub fn env_example() -> Vec<(String, String)> {
    read(".env.example")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!(".env.example: not KEY=value: {l}"));
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect()
}

/// .env.example with every empty (required) value filled by a test value: the environment a user's .env gives.
pub fn filled_env() -> BTreeMap<String, String> {
    env_example()
        .into_iter()
        .map(|(k, v)| if v.is_empty() { (k.clone(), format!("test-{}-a1b2c3", k.to_lowercase())) } else { (k, v) })
        .collect()
}

/// A service of an interpolated compose file.
pub fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    compose["services"].get(name).unwrap_or_else(|| panic!("compose has no service {name}"))
}

/// A service's `environment`, map or list form, as strings.
pub fn service_env(compose: &Value, name: &str) -> BTreeMap<String, String> {
    match &service(compose, name)["environment"] {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), scalar(v))).collect(),
        Value::Array(list) => list
            .iter()
            .map(|item| {
                let s = scalar(item);
                let (k, v) = s.split_once('=').unwrap_or((&s, ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        Value::Null => BTreeMap::new(),
        other => panic!("{name}.environment: {other}"),
    }
}

/// A YAML scalar as compose reads it (numbers and booleans as their text).
pub fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A short-syntax volume entry `SOURCE:TARGET[:MODE]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    /// Named volume or host path.
    pub source: String,
    /// Path in the container.
    pub target: String,
    /// Read-only.
    pub read_only: bool,
}

/// A service's volumes (short syntax).
pub fn mounts(compose: &Value, name: &str) -> Vec<Mount> {
    service(compose, name)["volumes"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|v| {
                    let s = scalar(v);
                    let parts: Vec<&str> = s.split(':').collect();
                    assert!(parts.len() >= 2, "{name}: volume {s} has no target");
                    Mount {
                        source: parts[0].to_string(),
                        target: parts[1].to_string(),
                        read_only: parts.get(2) == Some(&"ro"),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A published port `[HOST_IP:]HOST:CONTAINER`.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// Host address ("" for all).
    pub host_ip: String,
    /// Host port.
    pub host: u16,
    /// Container port.
    pub container: u16,
}

/// A service's published ports (short syntax).
pub fn published(compose: &Value, name: &str) -> Vec<Published> {
    service(compose, name)["ports"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|p| {
                    let s = scalar(p);
                    let parts: Vec<&str> = s.rsplitn(3, ':').collect();
                    let port = |x: &str| x.parse::<u16>().unwrap_or_else(|_| panic!("{name}: port {s}"));
                    match parts.as_slice() {
                        [c, h, ip] => Published { host_ip: ip.to_string(), host: port(h), container: port(c) },
                        [c, h] => Published { host_ip: String::new(), host: port(h), container: port(c) },
                        _ => panic!("{name}: port {s} must name host and container ports"),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The collector config compose mounts: (path, text).
pub fn collector_config() -> (String, String) {
    let path = "otel-collector-config.yaml";
    (path.to_string(), read(path))
}

/// The collector config's `${env:NAME:-default}` placeholders in its YAML values (the collector expands those,
/// not comments): name → default (None when it has none).
pub fn collector_placeholders(yaml: &str) -> BTreeMap<String, Option<String>> {
    fn strings(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            Value::Object(m) => m.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }
    let parsed: Value = serde_yaml_ng::from_str(yaml).expect("the collector config is YAML");
    let mut text = String::new();
    strings(&parsed, &mut text);
    let mut out = BTreeMap::new();
    for (i, _) in text.match_indices("${env:") {
        let body = &text[i + 6..];
        let end = body.find('}').expect("closed ${env:");
        let body = &body[..end];
        let (name, default) = match body.split_once(":-") {
            Some((n, d)) => (n, Some(d.to_string())),
            None => (body, None),
        };
        let previous = out.insert(name.to_string(), default.clone());
        assert!(previous.is_none() || previous == Some(default), "{name} has two different defaults");
    }
    out
}

/// The output of the binary run with exactly `env` (nothing inherited but PATH): (success, stdout, stderr).
pub fn run_bin(args: &[&str], env: &BTreeMap<String, String>) -> (bool, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run tokenledger");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

/// The subcommands `tokenledger --help` lists.
pub fn subcommands() -> Vec<String> {
    let (ok, out, err) = run_bin(&["--help"], &BTreeMap::new());
    assert!(ok, "tokenledger --help: {err}");
    let commands = out.split("Commands:").nth(1).expect("--help lists Commands:");
    commands
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// `tokenledger config` (the effective configuration as TOML) under `env`.
pub fn effective_config(env: &BTreeMap<String, String>) -> toml::Table {
    let (ok, out, err) = run_bin(&["config"], env);
    assert!(ok, "tokenledger config refused this environment: {err}");
    out.parse().unwrap_or_else(|e| panic!("tokenledger config printed no TOML ({e}): {out}"))
}

/// A `section.key` string of a config table.
pub fn config_str(config: &toml::Table, section: &str, key: &str) -> String {
    config[section][key].as_str().unwrap_or_else(|| panic!("{section}.{key} is not a string")).to_string()
}

/// The port of an address or URL (`0.0.0.0:4317`, `http://relay:4318`).
pub fn port_of(address: &str) -> u16 {
    let tail = address.rsplit(':').next().unwrap_or_default();
    let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("no port in {address}"))
}

/// The host of a URL (`http://relay:4318/x` → relay).
pub fn host_of(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    rest.split(['/', ':']).next().unwrap_or_default().to_string()
}

/// The users file mounted into ClickHouse.
pub const USERS_XML: &str = "clickhouse/users.d/tokenledger.xml";
/// The server config file mounted into ClickHouse.
pub const CONFIG_XML: &str = "clickhouse/config.d/tokenledger.xml";

/// A user element of the users XML.
pub fn xml_user<'a>(doc: &'a roxmltree::Document<'a>, name: &str) -> roxmltree::Node<'a, 'a> {
    child(doc.root_element(), "users")
        .children()
        .find(|n| n.has_tag_name(name))
        .unwrap_or_else(|| panic!("{USERS_XML} has no user {name}"))
}

/// The first child element named `tag`.
pub fn child<'a>(node: roxmltree::Node<'a, 'a>, tag: &str) -> roxmltree::Node<'a, 'a> {
    node.children()
        .find(|n| n.has_tag_name(tag))
        .unwrap_or_else(|| panic!("<{}> has no <{tag}>", node.tag_name().name()))
}

/// The GRANT statements of a user element.
pub fn xml_grants(user: roxmltree::Node) -> Vec<String> {
    child(user, "grants")
        .children()
        .filter(|n| n.has_tag_name("query"))
        .map(|n| n.text().unwrap_or_default().trim().to_string())
        .collect()
}

/// `GRANT a, b ON db.*` → (["a", "b"], "db").
pub fn grant_parts(statement: &str) -> (Vec<String>, String) {
    let body = statement.strip_prefix("GRANT ").unwrap_or_else(|| panic!("not a GRANT: {statement}"));
    let (privileges, target) = body.split_once(" ON ").unwrap_or_else(|| panic!("GRANT without ON: {statement}"));
    let database = target.trim().strip_suffix(".*").unwrap_or_else(|| panic!("not a database grant: {statement}"));
    (privileges.split(',').map(|p| p.trim().to_string()).collect(), database.to_string())
}

/// The settings of a profile element (constraints aside): name → value.
pub fn profile_settings(doc: &roxmltree::Document, profile: &str) -> BTreeMap<String, String> {
    let profiles = child(doc.root_element(), "profiles");
    let node = child(profiles, profile);
    node.children()
        .filter(|n| n.is_element() && !n.has_tag_name("constraints"))
        .map(|n| (n.tag_name().name().to_string(), n.text().unwrap_or_default().trim().to_string()))
        .collect()
}

/// The constraints of a profile element: setting → (max, fixed).
pub fn profile_constraints(doc: &roxmltree::Document, profile: &str) -> BTreeMap<String, (Option<String>, bool)> {
    let profiles = child(doc.root_element(), "profiles");
    let Some(constraints) = child(profiles, profile).children().find(|n| n.has_tag_name("constraints")) else {
        return BTreeMap::new();
    };
    constraints
        .children()
        .filter(|n| n.is_element())
        .map(|n| {
            let max = n.children().find(|c| c.has_tag_name("max")).and_then(|c| c.text()).map(|t| t.trim().to_string());
            let fixed = n.children().any(|c| c.has_tag_name("readonly") || c.has_tag_name("const"));
            (n.tag_name().name().to_string(), (max, fixed))
        })
        .collect()
}

/// docker compose's own loader (tests/compose_check, built by `make compose-check`) on docker-compose.yml with
/// exactly `env` as its .env file: Ok(the resolved project as JSON) or Err(the loader's message).
pub fn compose_loader(env: &BTreeMap<String, String>) -> Result<Value, String> {
    let bin = repo(".cache/compose-check/v2.16.2/compose-check");
    assert!(bin.exists(), "{} is missing: run `make compose-check` (or `make test`)", bin.display());
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("env");
    let text: String = env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(&env_file, text).unwrap();
    let output = Command::new(&bin)
        .arg("--env-file")
        .arg(&env_file)
        .arg(repo("docker-compose.yml"))
        .env_clear()
        .output()
        .expect("run compose-check");
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).expect("compose-check prints JSON"))
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into())
    }
}

/// The instructions of a Dockerfile, continuation lines joined, comments dropped.
pub struct Dockerfile {
    /// (INSTRUCTION, arguments), in order.
    pub instructions: Vec<(String, String)>,
}

impl Dockerfile {
    /// Parses a Dockerfile's text.
    pub fn parse(text: &str) -> Dockerfile {
        let mut instructions = Vec::new();
        let mut current = String::new();
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('#') || (current.is_empty() && trimmed.is_empty()) {
                continue;
            }
            if let Some(head) = trimmed.strip_suffix('\\') {
                current.push_str(head);
                current.push(' ');
                continue;
            }
            current.push_str(trimmed);
            let (word, args) = current.split_once(char::is_whitespace).expect("instruction with arguments");
            instructions.push((word.to_uppercase(), args.trim().to_string()));
            current.clear();
        }
        Dockerfile { instructions }
    }

    /// The instructions of each stage, split at FROM.
    pub fn stages(&self) -> Vec<Vec<(String, String)>> {
        let mut stages: Vec<Vec<(String, String)>> = Vec::new();
        for (word, args) in &self.instructions {
            if word == "FROM" {
                stages.push(Vec::new());
            }
            stages.last_mut().expect("FROM first").push((word.clone(), args.clone()));
        }
        stages
    }

    /// The exec-form arguments of the last `word` instruction.
    pub fn last_json(&self, word: &str) -> Vec<String> {
        let args = &self.instructions.iter().rev().find(|(w, _)| w == word).unwrap_or_else(|| panic!("no {word}")).1;
        serde_json::from_str(args).unwrap_or_else(|_| panic!("{word} is not exec form: {args}"))
    }
}

/// Every file under `dir`.
pub fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The recipe lines of a Makefile target and its prerequisites.
pub fn make_target(makefile: &str, target: &str) -> (Vec<String>, Vec<String>) {
    let mut lines = makefile.lines().skip_while(|l| !l.starts_with(&format!("{target}:")));
    let header = lines.next().unwrap_or_else(|| panic!("Makefile has no target {target}"));
    let prerequisites = header[target.len() + 1..].split_whitespace().map(str::to_string).collect();
    let recipe = lines.take_while(|l| l.starts_with('\t')).map(|l| l.trim().to_string()).collect();
    (recipe, prerequisites)
}
