//! The assessment's PromQL, verbatim (tests/fixtures/assessment/queries.promql), on Claude Code's own metrics:
//! the real CLI, configured by README.md's settings.json block, runs the stages of workflow `.claude-4nq` (and of
//! another workflow) with their OTEL_RESOURCE_ATTRIBUTES; the real collector runs the SHIPPED
//! otel-collector-config.yaml (delta sums accumulated, remote write without added suffixes) into a real
//! Prometheus (Debian's, on loopback, the shipped prometheus.yml with only its addresses changed, started with
//! the remote-write receiver as compose starts it). Each query's answer must equal what the CLI reported itself
//! (`--output-format json`: tokens and cost per model), grouped and filtered as the query says.
//! Skipped, with a message, when the collector, the CLI or Prometheus is missing, unless CI is set.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::claude::{self, ClaudeRun, FakeAnthropic, OtlpProtocol};
use support::collector::{self, eventually, free_port};
use support::figures::costs_equal;
use support::prometheus::{self as prom, Server};
use support::stack::{self, CollectorEnv};

/// The workflow the assessment's queries name.
const WORKFLOW: &str = ".claude-4nq";

/// One `claude -p` run: its attributes and model.
struct Run {
    workflow_id: &'static str,
    stage: &'static str,
    agent: &'static str,
    model: &'static str,
}

/// The stages of `.claude-4nq` (implement twice, once on Opus, once on Sonnet: the assessment compares them)
/// and a stage of another workflow, which every `workflow_id` filter must leave out.
fn runs() -> Vec<Run> {
    let run = |workflow_id, stage, agent, model| Run { workflow_id, stage, agent, model };
    vec![
        run(WORKFLOW, "analyze", "analyst", "opus"),
        run(WORKFLOW, "plan", "planner", "sonnet"),
        run(WORKFLOW, "implement", "implementer", "opus"),
        run(WORKFLOW, "implement", "implementer", "sonnet"),
        run("wf-other", "analyze", "analyst", "sonnet"),
    ]
}

/// What one model did in one run, by the CLI's own account, with the run's attributes as labels.
#[derive(Debug, Clone)]
struct Sample {
    labels: BTreeMap<String, String>,
    /// Tokens by Claude Code's `type` attribute (input, output, cacheRead, cacheCreation).
    tokens: BTreeMap<&'static str, f64>,
    cost_usd: f64,
}

/// A query of the form `sum[ by (l1,l2)] (METRIC[{k="v",...}])`, the form of every assessment query.
#[derive(Debug)]
struct SumQuery {
    by: Vec<String>,
    metric: String,
    matchers: Vec<(String, String)>,
}

fn parse(query: &str) -> SumQuery {
    let rest = query.strip_prefix("sum").unwrap_or_else(|| panic!("not a sum: {query}")).trim_start();
    let (by, rest) = match rest.strip_prefix("by") {
        Some(rest) => {
            let rest = rest.trim_start().strip_prefix('(').unwrap();
            let (labels, rest) = rest.split_once(')').unwrap();
            (labels.split(',').map(|l| l.trim().to_string()).collect(), rest.trim_start())
        }
        None => (Vec::new(), rest),
    };
    let inner = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')).unwrap_or_else(|| panic!("{query}"));
    let (metric, selector) = inner.split_once('{').unwrap_or((inner, "}"));
    let selector = selector.strip_suffix('}').unwrap();
    let matchers = selector
        .split(',')
        .filter(|m| !m.trim().is_empty())
        .map(|m| {
            let (k, v) = m.split_once('=').unwrap_or_else(|| panic!("{query}: {m}"));
            (k.trim().to_string(), v.trim().trim_matches('"').to_string())
        })
        .collect();
    SumQuery { by, metric: metric.trim().to_string(), matchers }
}

/// What `query` must answer, from the CLI's figures: group label values → sum.
fn expected(query: &SumQuery, samples: &[Sample]) -> BTreeMap<Vec<String>, f64> {
    let mut out = BTreeMap::new();
    for sample in samples {
        if !query.matchers.iter().all(|(k, v)| sample.labels.get(k) == Some(v)) {
            continue;
        }
        let value = match query.metric.as_str() {
            "claude_code_token_usage" => sample.tokens.values().sum(),
            "claude_code_cost_usage" => sample.cost_usd,
            other => panic!("no CLI figure for {other}"),
        };
        let key = query.by.iter().map(|l| sample.labels[l].clone()).collect();
        *out.entry(key).or_insert(0.0) += value;
    }
    assert!(!out.is_empty(), "{query:?} selects none of the runs");
    out
}

/// What Prometheus answers, keyed like [`expected`].
async fn answered(prometheus: &Server, query: &str, by: &[String]) -> BTreeMap<Vec<String>, f64> {
    prometheus
        .query(query)
        .await
        .into_iter()
        .map(|(labels, value)| (by.iter().map(|l| labels.get(l).cloned().unwrap_or_default()).collect(), value))
        .collect()
}

fn same(a: &BTreeMap<Vec<String>, f64>, b: &BTreeMap<Vec<String>, f64>) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| costs_equal(*v, *w)))
}

/// The assessment's queries: every line of the fixture that is not blank or a comment.
fn assessment_queries() -> Vec<String> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/assessment/queries.promql");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_assessments_promql_answers_what_the_cli_reported() {
    let test = "prometheus_claude_metrics";
    let Some(bin) = collector::built_binary_or_skip(test) else { return };
    let Some(cli) = claude::cli_or_skip(test) else { return };
    let Some(prometheus_bin) = prom::prometheus_or_skip(test) else { return };
    let started = Instant::now();

    // The relay's side of the collector goes to a sink: this test is about Prometheus (tests/stack_collector.rs
    // follows the relay's side of the same config).
    let sink = collector::remote_write_sink();
    let queue = tempfile::tempdir().unwrap();
    let mut env = CollectorEnv::new(sink.trim_end_matches("/api/v1/write"), queue.path());
    let relay_admin = format!("127.0.0.1:{}", free_port());
    let collector_metrics = format!("127.0.0.1:{}", env.metrics_port);
    let alertmanager = format!("127.0.0.1:{}", free_port());
    let prometheus = prom::start_prometheus(
        &prometheus_bin,
        &[("relay:9464", &relay_admin), ("collector:8888", &collector_metrics), ("alertmanager:9093", &alertmanager)],
    )
    .await;
    env.prometheus_write_endpoint = format!("{}/api/v1/write", prometheus.url);
    let collector = env.start(&bin);
    collector.wait_ready(Duration::from_secs(60)).await;

    let fake = FakeAnthropic::start();
    let workdir = tempfile::tempdir().unwrap();
    let settings = stack::with_endpoint_port(stack::readme_settings(), env.grpc_port);
    let mut samples = Vec::new();
    for run in runs() {
        let task_id = format!("{}.{}", run.workflow_id, run.stage);
        let attributes = [
            ("workflow_id", run.workflow_id),
            ("workflow_path", "full"),
            ("stage", run.stage),
            ("task_id", task_id.as_str()),
            ("agent", run.agent),
            ("model_expected", "sonnet"),
        ];
        let endpoint = ([127, 0, 0, 1], env.grpc_port).into();
        let finished = ClaudeRun::new(&cli, workdir.path(), &fake, OtlpProtocol::Grpc, endpoint, run.model, "Go on.")
            .resource_attributes(&attributes)
            .settings_json(settings.clone())
            .run()
            .await;
        for (model, usage) in &finished.result.model_usage {
            let labels = [
                ("workflow_id", run.workflow_id),
                ("stage", run.stage),
                ("agent", run.agent),
                ("model", model.as_str()),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into();
            let tokens = [
                ("input", usage.input_tokens),
                ("output", usage.output_tokens),
                ("cacheRead", usage.cache_read_input_tokens),
                ("cacheCreation", usage.cache_creation_input_tokens),
            ]
            .map(|(t, n)| (t, n as f64))
            .into();
            samples.push(Sample { labels, tokens, cost_usd: usage.cost_usd });
        }
    }
    let ran = started.elapsed();

    // Wait until everything arrived: the cost of every run, per workflow, as the CLI reported it.
    let per_workflow = parse("sum by (workflow_id) (claude_code_cost_usage)");
    let want_total = expected(&per_workflow, &samples);
    let arrived = Instant::now();
    eventually("Prometheus to hold every run's cost", Duration::from_secs(60), || async {
        collector.assert_running();
        let got = answered(&prometheus, "sum by (workflow_id) (claude_code_cost_usage)", &per_workflow.by).await;
        if same(&got, &want_total) {
            Ok(())
        } else {
            Err(format!("{got:?} vs {want_total:?}; prometheus log:\n{}", prometheus.log_tail()))
        }
    })
    .await;
    eprintln!("{test}: runs took {ran:.2?}; the cost was in Prometheus {:.2?} after the last run", arrived.elapsed());

    let queries = assessment_queries();
    assert_eq!(queries.len(), 5, "{queries:?}");
    for query in &queries {
        let parsed = parse(query);
        let want = expected(&parsed, &samples);
        let got = answered(&prometheus, query, &parsed.by).await;
        eprintln!("{test}: {query}\n    Prometheus {got:?}\n    CLI        {want:?}");
        assert!(same(&got, &want), "{query}: Prometheus {got:?}, the CLI reported {want:?}");
    }

    // Tokens keep Claude Code's `type` attribute, and the names are Claude Code's with nothing added.
    let by_type = answered(
        &prometheus,
        &format!("sum by (type) (claude_code_token_usage{{workflow_id=\"{WORKFLOW}\"}})"),
        &["type".to_string()],
    )
    .await;
    let mut want_type: BTreeMap<Vec<String>, f64> = BTreeMap::new();
    for sample in samples.iter().filter(|s| s.labels["workflow_id"] == WORKFLOW) {
        for (t, n) in &sample.tokens {
            *want_type.entry(vec![t.to_string()]).or_default() += n;
        }
    }
    want_type.retain(|_, n| *n > 0.0);
    assert!(same(&by_type, &want_type), "tokens by type: Prometheus {by_type:?}, the CLI {want_type:?}");
    let names =
        answered(&prometheus, "count by (__name__) ({__name__=~\"claude_code_.+\"})", &["__name__".into()]).await;
    let names: Vec<&String> = names.keys().map(|k| &k[0]).collect();
    for name in ["claude_code_token_usage", "claude_code_cost_usage"] {
        assert!(names.iter().any(|n| *n == name), "{name} in {names:?}");
    }
    assert!(
        names.iter().all(|n| !n.ends_with("_tokens_total") && !n.ends_with("_USD_total") && !n.contains("_usd")),
        "a suffix was added: {names:?}"
    );

    // The collector's own telemetry is scraped as prometheus.yml says (its job name, the no-`_total` names).
    let sent = eventually("Prometheus to scrape the collector", Duration::from_secs(60), || async {
        let sent = answered(
            &prometheus,
            "sum by (exporter) (otelcol_exporter_sent_metric_points{job=\"otel-collector\"})",
            &["exporter".to_string()],
        )
        .await;
        if sent.contains_key(&vec!["prometheus_remote_write".to_string()]) {
            Ok(sent)
        } else {
            Err(format!("{sent:?}"))
        }
    })
    .await;
    eprintln!("{test}: metric points the collector sent, by exporter: {sent:?}; total {:.2?}", started.elapsed());
    collector.terminate(Duration::from_secs(30));
}
