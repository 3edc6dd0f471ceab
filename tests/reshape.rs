//! Reshaping the real Claude Code 2.1.331 payloads (tests/fixtures/): every record lands, typed tables hold what
//! the CLI reported, and attribution follows the rules. Expected figures are read from the fixtures by a
//! separate path (serde_json / the stock prost types), never typed in.

mod support;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as OtlpValue;
use prost::Message;
use serde_json::Value;
use support::fixtures::{fixture, FIXTURE_RUNS};
use tokenledger::receive::decode::{json, protobuf};
use tokenledger::reshape::{reshape_logs, reshape_metrics, AgentDirectory, Clock, LogsRequest, StageMap};

fn stages() -> StageMap {
    StageMap::new(tokenledger::config::Config::default().stages)
}

fn decode_logs(run: &str) -> LogsRequest {
    match fixture(run, "logs-1.json") {
        Some(body) => json::decode_logs(&body).expect("fixture JSON decodes"),
        None => protobuf::decode_logs(fixture(run, "logs-1.pb").expect("fixture exists").into()).expect("decodes"),
    }
}

/// (body name, attribute key → value as f64) of every record, read without tokenledger's decoders.
fn independent_records(run: &str) -> Vec<(String, Vec<(String, f64)>)> {
    let mut out = Vec::new();
    if let Some(body) = fixture(run, "logs-1.json") {
        let root: Value = serde_json::from_slice(&body).unwrap();
        for rl in root["resourceLogs"].as_array().unwrap() {
            for sl in rl["scopeLogs"].as_array().unwrap() {
                for r in sl["logRecords"].as_array().unwrap() {
                    let name = r["body"]["stringValue"].as_str().unwrap().to_string();
                    let attrs = r["attributes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(|kv| {
                            let v = &kv["value"];
                            let n = v["intValue"].as_f64().or_else(|| v["doubleValue"].as_f64())?;
                            Some((kv["key"].as_str()?.to_string(), n))
                        })
                        .collect();
                    out.push((name, attrs));
                }
            }
        }
    } else {
        let body = fixture(run, "logs-1.pb").unwrap();
        let request = ExportLogsServiceRequest::decode(&body[..]).unwrap();
        for r in request.resource_logs.iter().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records) {
            let name = match r.body.as_ref().and_then(|b| b.value.as_ref()) {
                Some(OtlpValue::StringValue(s)) => s.clone(),
                _ => String::new(),
            };
            let attrs = r
                .attributes
                .iter()
                .filter_map(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    OtlpValue::IntValue(i) => Some((kv.key.clone(), *i as f64)),
                    OtlpValue::DoubleValue(d) => Some((kv.key.clone(), *d)),
                    _ => None,
                })
                .collect();
            out.push((name, attrs));
        }
    }
    out
}

fn sum_of(records: &[(String, Vec<(String, f64)>)], event: &str, key: &str) -> f64 {
    records
        .iter()
        .filter(|(name, _)| name == event)
        .flat_map(|(_, attrs)| attrs.iter().filter(|(k, _)| k == key).map(|(_, v)| *v))
        .sum()
}

#[test]
fn every_record_of_every_run_lands_in_otel_events_and_api_requests_match_the_cli() {
    for run in FIXTURE_RUNS {
        let reshaped = reshape_logs(decode_logs(run), &stages(), &AgentDirectory::new(), &Clock::any_time(0));
        let records = independent_records(run);
        assert_eq!(reshaped.rejected, 0, "{run}: {:?}", reshaped.problems);
        assert_eq!(reshaped.rows.events.len(), records.len(), "{run}");
        let api = &reshaped.rows.api_requests;
        let expected_requests = records.iter().filter(|(n, _)| n == "claude_code.api_request").count();
        assert_eq!(api.len(), expected_requests, "{run}");
        assert!(expected_requests > 0, "{run} has api requests");
        for (column, key) in [
            (api.iter().map(|r| r.input_tokens as f64).sum::<f64>(), "input_tokens"),
            (api.iter().map(|r| r.output_tokens as f64).sum::<f64>(), "output_tokens"),
            (api.iter().map(|r| r.cache_read_tokens as f64).sum::<f64>(), "cache_read_tokens"),
            (api.iter().map(|r| r.cache_creation_tokens as f64).sum::<f64>(), "cache_creation_tokens"),
            (api.iter().map(|r| r.cost_usd_micros as f64).sum::<f64>(), "cost_usd_micros"),
        ] {
            assert_eq!(column, sum_of(&records, "claude_code.api_request", key), "{run} {key}");
        }
        let cost: f64 = api.iter().map(|r| r.cost_usd).sum();
        assert!((cost - sum_of(&records, "claude_code.api_request", "cost_usd")).abs() < 1e-12, "{run}");
        let tools = records.iter().filter(|(n, _)| n == "claude_code.tool_result").count();
        assert_eq!(reshaped.rows.tool_results.len(), tools, "{run}");
        // Every event name is the full body name.
        assert!(reshaped.rows.events.iter().all(|e| e.event_name.starts_with("claude_code.")), "{run}");
    }
}

#[test]
fn separate_runs_are_attributed_from_their_resource_attributes() {
    for (run, stage, agent, task) in [
        ("analyze-plain", "analyze", "analyst", ".claude-4nq.1-analyze"),
        ("plan-plain", "plan", "planner", ".claude-4nq.2-plan"),
        ("implement-bash", "implement", "implementer", ".claude-4nq.3-implement"),
        ("review-bash", "review", "reviewer", ".claude-4nq.4-review"),
    ] {
        let reshaped = reshape_logs(decode_logs(run), &stages(), &AgentDirectory::new(), &Clock::any_time(0));
        for row in &reshaped.rows.api_requests {
            assert_eq!(
                (row.workflow_id.as_str(), row.stage.as_str(), row.agent.as_str(), row.task_id.as_str()),
                (".claude-4nq", stage, agent, task),
                "{run}"
            );
            assert_eq!(row.workflow_path, "full");
            assert_eq!(row.service_version, "2.1.331");
        }
    }
}

#[test]
fn a_builtin_subagent_is_told_apart_by_agent_name() {
    let reshaped =
        reshape_logs(decode_logs("subagent-builtin"), &stages(), &AgentDirectory::new(), &Clock::any_time(0));
    let api = &reshaped.rows.api_requests;
    let sub: Vec<_> = api.iter().filter(|r| r.query_source.starts_with("agent:")).collect();
    let main: Vec<_> = api.iter().filter(|r| r.query_source == "sdk").collect();
    assert!(!sub.is_empty() && !main.is_empty());
    assert!(sub.iter().all(|r| r.agent == "general-purpose" && !r.agent_id.is_empty()), "{sub:?}");
    // No `agent` resource attribute in this run: the main loop has none, and no stage maps from it.
    assert!(main.iter().all(|r| r.agent.is_empty() && r.stage.is_empty()));
    assert!(api.iter().all(|r| r.workflow_id == "wf-7" && r.workflow_path == "fast"));
    let completed = &reshaped.rows.subagents;
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].agent_type, "general-purpose");
    // The subagent's own tool call and its completion carry only agent_id: credited to it through the directory.
    assert_eq!(completed[0].agent, "general-purpose");
    let tools: Vec<_> = reshaped.rows.tool_results.iter().map(|t| (t.tool_name.as_str(), t.agent.as_str())).collect();
    assert_eq!(tools, [("Bash", "general-purpose"), ("Agent", "")], "the Agent tool call itself is the main loop's");
    assert!(completed[0].is_built_in && completed[0].total_tokens > 0);
}

#[test]
fn otel_events_leaves_out_what_the_typed_table_holds() {
    let reshaped = reshape_logs(decode_logs("implement-bash"), &stages(), &AgentDirectory::new(), &Clock::any_time(0));
    let api = reshaped.rows.events.iter().find(|e| e.event_name == "claude_code.api_request").unwrap();
    let keys: Vec<_> = api.attributes.iter().map(|(k, _)| k.as_str()).collect();
    assert!(!keys.contains(&"input_tokens") && !keys.contains(&"cost_usd"), "{keys:?}");
    assert!(keys.contains(&"anthropic.provider"), "attributes without any column stay: {keys:?}");
    let typed = reshaped.rows.api_requests.iter().find(|r| r.event_key == api.event_key);
    assert!(typed.is_some(), "the typed row is one join away, on event_key");
    let prompt = reshaped.rows.events.iter().find(|e| e.event_name == "claude_code.user_prompt").unwrap();
    assert!(prompt.attributes.iter().any(|(k, _)| k == "prompt_length"), "events without a typed table keep all");
}

#[test]
fn tool_result_strings_are_coerced() {
    let reshaped = reshape_logs(decode_logs("implement-bash"), &stages(), &AgentDirectory::new(), &Clock::any_time(0));
    let tool = &reshaped.rows.tool_results[0];
    assert_eq!(tool.tool_name, "Bash");
    assert!(tool.success);
    assert!(tool.duration_ms > 0 && tool.tool_input_size_bytes > 0);
    assert!(tool.tool_parameters.contains("bash_command"), "OTEL_LOG_TOOL_DETAILS=1 run");
}

#[test]
fn a_redelivered_request_reshapes_to_identical_keys_and_different_records_to_different_keys() {
    let first = reshape_logs(decode_logs("implement-bash"), &stages(), &AgentDirectory::new(), &Clock::any_time(1));
    let again = reshape_logs(decode_logs("implement-bash"), &stages(), &AgentDirectory::new(), &Clock::any_time(2));
    let keys = |r: &tokenledger::reshape::Reshaped| r.rows.events.iter().map(|e| e.event_key).collect::<Vec<_>>();
    assert_eq!(keys(&first), keys(&again));
    let mut unique = keys(&first);
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), first.rows.events.len());
}

#[test]
fn metrics_become_one_row_per_data_point_with_workflow_columns() {
    for run in FIXTURE_RUNS {
        let request = match fixture(run, "metrics-2.json") {
            Some(body) => json::decode_metrics(&body).unwrap(),
            None => protobuf::decode_metrics(fixture(run, "metrics-2.pb").unwrap().into()).unwrap(),
        };
        let points: usize = request
            .groups
            .iter()
            .flat_map(|g| &g.items)
            .map(|m| match &m.item.data {
                Some(opentelemetry_proto::tonic::metrics::v1::metric::Data::Sum(s)) => s.data_points.len(),
                _ => 0,
            })
            .sum();
        let reshaped = reshape_metrics(request.clone(), &stages(), &Clock::any_time(0));
        assert_eq!(reshaped.rejected, 0, "{run}");
        assert_eq!(reshaped.rows.metrics.len(), points, "{run}");
        let tokens: Vec<_> =
            reshaped.rows.metrics.iter().filter(|m| m.metric_name == "claude_code.token.usage").collect();
        assert!(tokens.iter().all(|m| m.temporality == "delta" && !m.r#type.is_empty()), "{run}");
        assert!(reshaped.rows.metrics.iter().all(|m| !m.workflow_id.is_empty()), "{run}");
    }
}
