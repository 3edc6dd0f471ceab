//! prometheus/ as its own tools check it: `promtool check config` and `check rules` accept the shipped files,
//! `promtool test rules` passes every case in prometheus/tests/ and every alert has a case where it fires and one
//! where it does not, a rule made wrong fails those cases, `amtool check-config` (v0.34.0, the release compose
//! pins) accepts alertmanager.yml and rejects a broken copy; and the cross-references hold (inhibited alerts
//! exist, every alert has a severity the routes know, a summary, a description and its dashboard link).
//! Skipped, with a message, when a tool is missing, unless CI is set (then it fails).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_yaml_ng::Value;
use support::prometheus::{self as prom, amtool_or_skip, promtool_or_skip};

fn run(program: &Path, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()))
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `*.yml` files of a folder of prometheus/, sorted, relative to prometheus/.
fn files(sub: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(prom::dir().join(sub))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml"))
        .map(|n| format!("{sub}/{n}"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no prometheus/{sub}/*.yml");
    names
}

/// Every alerting rule of prometheus/rules/: name → the rule.
fn alerts() -> BTreeMap<String, Value> {
    let mut alerts = BTreeMap::new();
    for file in files("rules") {
        for group in yaml(&prom::dir().join(&file))["groups"].as_sequence().unwrap() {
            for rule in group["rules"].as_sequence().unwrap() {
                if let Some(name) = rule["alert"].as_str() {
                    assert!(alerts.insert(name.to_string(), rule.clone()).is_none(), "{name} defined twice");
                }
            }
        }
    }
    alerts
}

#[test]
fn promtool_checks_the_config_and_the_rules() {
    let Some(promtool) = promtool_or_skip("promtool_checks_the_config_and_the_rules") else { return };
    let dir = prom::dir();
    let output = run(&promtool, &["check", "config", "prometheus.yml"], &dir);
    assert!(output.status.success(), "promtool check config:\n{}", text(&output));
    // The config's rule_files glob finds every rules file (check config checks them too).
    let rule_files = files("rules");
    assert!(text(&output).contains(&format!("SUCCESS: {} rule files found", rule_files.len())), "{}", text(&output));

    let mut args = vec!["check", "rules"];
    args.extend(rule_files.iter().map(String::as_str));
    let output = run(&promtool, &args, &dir);
    assert!(output.status.success(), "promtool check rules:\n{}", text(&output));

    // A broken expression is refused, so the check can fail.
    let broken = tempfile::tempdir().unwrap();
    let budgets = std::fs::read_to_string(dir.join("rules/budgets.yml")).unwrap();
    std::fs::write(
        broken.path().join("budgets.yml"),
        budgets.replacen("max by (workflow_id", "max by (workflow_id,", 1),
    )
    .unwrap();
    let output = run(&promtool, &["check", "rules", "budgets.yml"], broken.path());
    assert!(!output.status.success(), "promtool accepted a broken expression:\n{}", text(&output));
}

#[test]
fn every_alert_is_tested_firing_and_not_firing_and_the_tests_pass() {
    let Some(promtool) = promtool_or_skip("every_alert_is_tested_firing_and_not_firing_and_the_tests_pass") else {
        return;
    };
    let dir = prom::dir();
    let tests = files("tests");
    let mut args = vec!["test", "rules"];
    args.extend(tests.iter().map(String::as_str));
    let output = run(&promtool, &args, &dir);
    eprintln!("{}", text(&output));
    assert!(output.status.success(), "promtool test rules:\n{}", text(&output));

    // Per alert: (cases where it must fire, cases where it must not).
    let mut cases: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut tested_files = BTreeSet::new();
    for file in &tests {
        let test = yaml(&dir.join(file));
        for rule_file in test["rule_files"].as_sequence().unwrap() {
            let path = dir.join("tests").join(rule_file.as_str().unwrap());
            tested_files.insert(path.canonicalize().unwrap_or_else(|e| panic!("{file}: {}: {e}", path.display())));
        }
        for group in test["tests"].as_sequence().unwrap() {
            for case in group["alert_rule_test"].as_sequence().into_iter().flatten() {
                let name = case["alertname"].as_str().unwrap().to_string();
                let firing = case["exp_alerts"].as_sequence().is_some_and(|a| !a.is_empty());
                let entry = cases.entry(name).or_default();
                if firing {
                    entry.0 += 1
                } else {
                    entry.1 += 1
                }
            }
        }
    }
    let rule_files: BTreeSet<PathBuf> = files("rules").iter().map(|f| dir.join(f).canonicalize().unwrap()).collect();
    assert_eq!(tested_files, rule_files, "every rules file is loaded by a test file");
    let alerts = alerts();
    assert!(alerts.len() >= 10, "{:?}", alerts.keys());
    for name in alerts.keys() {
        let (firing, quiet) = cases.get(name).copied().unwrap_or_default();
        assert!(firing > 0, "{name}: no case where it fires");
        assert!(quiet > 0, "{name}: no case where it does not fire");
    }
    for name in cases.keys() {
        assert!(alerts.contains_key(name), "prometheus/tests name an alert that does not exist: {name}");
    }
}

#[test]
fn a_rule_made_wrong_fails_its_promtool_tests() {
    let Some(promtool) = promtool_or_skip("a_rule_made_wrong_fails_its_promtool_tests") else { return };
    // A copy of prometheus/ in which each mutation is applied alone: the tests must catch every one.
    let mutations = [
        // The 80 % warning at 90 %: wf-near (85 %) no longer fires.
        ("rules/budgets.yml", "0.8 * max by", "0.9 * max by"),
        // Budgets summed over replicas instead of aggregated: two replicas would double the budget.
        (
            "rules/budgets.yml",
            "max by (workflow_id, workflow_path) (tokenledger_ledger_workflow_budget_usd > 0)\n        keep",
            "sum by (workflow_id, workflow_path) (tokenledger_ledger_workflow_budget_usd > 0)\n        keep",
        ),
        // Without keep_firing_for the alert resolves during a relay restart.
        ("rules/budgets.yml", "keep_firing_for: 15m", "keep_firing_for: 0s"),
        // Per replica instead of per job: two alerts.
        ("rules/relay.yml", "count by (job) (up", "count by (job, instance) (up"),
        // No minimum request count.
        ("rules/optimization.yml", ">= 20", ">= 0"),
    ];
    for (file, from, to) in mutations {
        let copy = tempfile::tempdir().unwrap();
        for sub in ["rules", "tests"] {
            std::fs::create_dir(copy.path().join(sub)).unwrap();
            for name in files(sub) {
                std::fs::copy(prom::dir().join(&name), copy.path().join(&name)).unwrap();
            }
        }
        let path = copy.path().join(file);
        let original = std::fs::read_to_string(&path).unwrap();
        assert!(original.contains(from), "{file} no longer contains {from:?}");
        std::fs::write(&path, original.replacen(from, to, 1)).unwrap();
        let mut args = vec!["test", "rules"];
        let tests = files("tests");
        args.extend(tests.iter().map(String::as_str));
        let output = run(&promtool, &args, copy.path());
        assert!(!output.status.success(), "{file}: {from:?} → {to:?} passed the tests:\n{}", text(&output));
    }
}

#[test]
fn every_alert_says_what_and_where_and_is_routed() {
    let alertmanager = yaml(&prom::dir().join("alertmanager.yml"));
    let routes = serde_yaml_ng::to_string(&alertmanager["route"]).unwrap();
    let link = "{{ $externalLabels.grafana_url }}/d/tokenledger-";
    for (name, rule) in alerts() {
        let severity = rule["labels"]["severity"].as_str().unwrap_or_else(|| panic!("{name}: no severity"));
        assert!(["critical", "warning", "info"].contains(&severity), "{name}: severity {severity}");
        let summary = rule["annotations"]["summary"].as_str().unwrap_or_else(|| panic!("{name}: no summary"));
        assert!(rule["annotations"]["description"].as_str().is_some_and(|d| d.len() > 40), "{name}: description");
        assert!(summary.contains(link), "{name}: the summary links to a dashboard: {summary}");
        if summary.contains("$labels.workflow_id") {
            // A workflow's alert names it, its cost and its budget, and links to its detail dashboard.
            let detail = "/d/tokenledger-workflow-detail?var-workflow_id={{ $labels.workflow_id | urlquery }}";
            assert!(summary.contains(detail), "{name}: {summary}");
            assert!(summary.contains("budget"), "{name}: the summary gives the budget: {summary}");
            assert!(summary.contains("cost"), "{name}: the summary gives the cost: {summary}");
        }
        let expr = rule["expr"].as_str().unwrap();
        for in_memory in ["tokenledger_cost_usd_total", "tokenledger_committed_cost_usd", "tokenledger_tokens_total"] {
            assert!(!expr.contains(in_memory), "{name}: {in_memory} is the relay's in-memory figure, not the ledger's");
        }
        if severity != "info" {
            assert!(routes.contains(severity), "{name}: no route names severity {severity}");
        }
    }

    // Inhibition names alerts that exist and a label they carry.
    let alerts = alerts();
    for rule in alertmanager["inhibit_rules"].as_sequence().unwrap() {
        for side in ["source_matchers", "target_matchers"] {
            for matcher in rule[side].as_sequence().unwrap() {
                let matcher = matcher.as_str().unwrap();
                let name = matcher.strip_prefix("alertname=\"").and_then(|m| m.strip_suffix('"')).unwrap();
                assert!(alerts.contains_key(name), "inhibit rule names {name}");
                for label in rule["equal"].as_sequence().unwrap() {
                    let expr = alerts[name]["expr"].as_str().unwrap();
                    assert!(expr.contains(label.as_str().unwrap()), "{name} carries {label:?}");
                }
            }
        }
    }
    assert_eq!(
        alertmanager["route"]["group_by"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect::<Vec<_>>(),
        ["workflow_id"]
    );
}

#[test]
fn amtool_checks_the_alertmanager_config() {
    let Some(amtool) = amtool_or_skip("amtool_checks_the_alertmanager_config") else { return };
    let dir = prom::dir();
    let output = run(&amtool, &["check-config", "alertmanager.yml"], &dir);
    eprintln!("{}", text(&output));
    assert!(output.status.success(), "amtool check-config:\n{}", text(&output));
    let out = text(&output);
    assert!(out.contains("3 receivers") && out.contains("1 inhibit rules"), "{out}");

    // Secrets come from files, never inline values (Alertmanager does not expand ${VAR}).
    let shipped = std::fs::read_to_string(dir.join("alertmanager.yml")).unwrap();
    assert!(!shipped.contains("${"), "alertmanager.yml must not rely on env expansion");
    for key in ["url_file", "api_url_file", "smtp_auth_password_file"] {
        assert!(shipped.contains(&format!("{key}: /etc/alertmanager/secrets/")), "{key}");
    }

    // Broken copies are refused: a route to a receiver that does not exist; an inline and a file URL at once.
    let copy = tempfile::tempdir().unwrap();
    for (name, broken) in [
        ("undefined.yml", shipped.replacen("  receiver: webhook\n", "  receiver: pager\n", 1)),
        ("both.yml", shipped.replacen("      - url_file:", "      - url: http://example.com/\n        url_file:", 1)),
    ] {
        assert_ne!(broken, shipped, "{name}: the mutation applies");
        std::fs::write(copy.path().join(name), broken).unwrap();
        let output = run(&amtool, &["check-config", name], copy.path());
        assert!(!output.status.success(), "amtool accepted {name}:\n{}", text(&output));
    }
}
