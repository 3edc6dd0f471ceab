//! One `claude` process as its telemetry shows it: the log records it exports (start-up events, the prompt, each
//! API request with its tool decision and result, subagents, failures) and, at its end, its delta metrics. Pure.
//!
//! Record shapes follow what Claude Code 2.1.331 was seen to send (tests/fixtures/claude-code-2.1.331, the
//! `subagent-custom-failure` run for failed tools, custom subagents and request ids): every key of
//! OTEL_RESOURCE_ATTRIBUTES copied onto each record and data point, then the session's identity, `event.name`,
//! `event.timestamp`, `event.sequence`, `prompt.id` and the event's own attributes in the CLI's types (tool
//! results give success and durations as strings; api_request gives ints and doubles). Tool details are on, as
//! `tokenledger run` sets them (`OTEL_LOG_TOOL_DETAILS=1`), so custom subagents arrive by name. No fixture holds
//! an `api_error`: its attributes are those Claude Code's documentation lists and the relay's table keeps.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum,
};

use super::clock::{rfc3339_ms, to_ms};
use super::otlp::{b, body, d, empty_array, i, resource, s, scope, EVENTS_SCOPE, METRICS_SCOPE};
use super::random::Random;
use super::usage::Usage;

const MS: i64 = 1_000_000;

/// The plugins Claude Code 2.1.331 loads by default (one plugin_loaded event each at start).
const PLUGINS: [(&str, &str); 3] = [
    ("cc-plugin-agents-md", "da63145d0acbb62d"),
    ("cc-plugin-privacy", "a2f27f067781660d"),
    ("cc-plugin-plugin-authoring", "559932fe5f722b82"),
];

/// A subagent a conversation runs as.
#[derive(Debug, Clone, PartialEq)]
pub struct Subagent {
    /// `agent.name` / `agent_type`.
    pub name: String,
    /// `agent_id`.
    pub id: String,
    /// Built-in (`Explore`) rather than defined in `.claude/agents/`.
    pub built_in: bool,
}

impl Subagent {
    /// `query_source` of its requests.
    fn query_source(&self) -> String {
        if self.built_in {
            format!("agent:builtin:{}", self.name)
        } else {
            "agent:custom".to_string()
        }
    }
}

/// What the model answered a request with.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// A Bash tool call, run at once; `failed` when the command fails.
    Bash {
        /// The command line.
        command: String,
        /// Whether it fails.
        failed: bool,
    },
    /// An Agent tool call handing work to a subagent; [`Session::agent_done`] closes it.
    Agent(Subagent),
    /// The final text.
    Text,
}

/// An Agent tool call waiting for its subagent.
#[derive(Debug)]
pub struct PendingAgent {
    subagent: Subagent,
    tool_use_id: String,
    request_id: String,
    started_ns: i64,
}

/// The metric series of one (model, query_source, agent) in a session.
#[derive(Debug, Default)]
struct Series {
    first_ns: i64,
    effort: bool,
    cost: f64,
    tokens: [u64; 4],
}

/// A `claude` process being written.
pub struct Session {
    resource_workflow: Vec<KeyValue>,
    os_version: String,
    common: Vec<KeyValue>,
    started_ns: i64,
    now_ns: i64,
    pace: f64,
    sequence: i64,
    prompt_id: String,
    records: Vec<LogRecord>,
    series: BTreeMap<(String, &'static str, String), Series>,
    active_ms: u64,
}

impl Session {
    /// Starts a session at `start_ns` with its OTEL_RESOURCE_ATTRIBUTES (`workflow`), its user, and `pace` (< 1
    /// when a workflow's runs must fit a shorter span than their natural length): settings, plugins, the prompt.
    pub fn start(
        workflow: Vec<KeyValue>,
        user_id: &str,
        os_version: &str,
        start_ns: i64,
        pace: f64,
        random: &mut Random,
    ) -> Session {
        let mut common = workflow.clone();
        common.extend([
            s("user.id", user_id),
            s("session.id", random.uuid()),
            s("anthropic.provider", "firstParty"),
            b("anthropic.custom_base_url", false),
            s("terminal.type", "xterm"),
        ]);
        let mut session = Session {
            resource_workflow: workflow,
            os_version: os_version.to_string(),
            common,
            started_ns: to_ms(start_ns),
            now_ns: to_ms(start_ns),
            pace,
            sequence: 0,
            prompt_id: String::new(),
            records: Vec::new(),
            series: BTreeMap::new(),
            active_ms: 0,
        };
        session.event(
            "managed_settings_resolved",
            vec![
                s("managed_settings.trigger", "startup"),
                empty_array("managed_settings.sources"),
                s("managed_settings.source_behavior", "first-wins"),
                s("managed_settings.helper.state", "none"),
                s("managed_settings.helper.applied", "none"),
            ],
        );
        session.advance(17);
        for (name, hash) in PLUGINS {
            session.event(
                "plugin_loaded",
                vec![
                    s("plugin.name", name),
                    s("marketplace.name", "builtin"),
                    s("plugin.scope", "default-bundle"),
                    s("enabled_via", "default-enable"),
                    s("plugin_id_hash", hash),
                    b("has_hooks", true),
                    b("has_mcp", false),
                    b("host_owned_mcp", false),
                    i("skill_path_count", 0),
                    i("command_path_count", 0),
                    i("agent_path_count", 0),
                    s("safe_mode", "false"),
                ],
            );
        }
        session.advance(56);
        session.prompt_id = random.uuid();
        let length = random.range_u64(40, 600);
        session.event(
            "user_prompt",
            vec![
                s("prompt_length", length.to_string()),
                s("prompt", "<REDACTED>"),
                s("prompt_text", "<REDACTED>"),
                s("message.uuid", random.uuid()),
            ],
        );
        session
    }

    /// The session's clock now.
    pub fn now_ns(&self) -> i64 {
        self.now_ns
    }

    /// Moves the clock `ms` natural milliseconds on (scaled by the pace, whole milliseconds, at least 1).
    pub fn advance(&mut self, ms: u64) {
        let scaled = ((ms as f64 * self.pace).round() as i64).max(1);
        self.now_ns += scaled * MS;
    }

    fn event(&mut self, name: &str, own: Vec<KeyValue>) {
        let mut attributes = self.common.clone();
        attributes.push(s("event.name", name));
        attributes.push(s("event.timestamp", rfc3339_ms(self.now_ns)));
        attributes.push(i("event.sequence", self.sequence));
        if !self.prompt_id.is_empty() {
            attributes.push(s("prompt.id", self.prompt_id.clone()));
        }
        attributes.extend(own);
        self.sequence += 1;
        self.records.push(LogRecord {
            time_unix_nano: self.now_ns as u64,
            observed_time_unix_nano: self.now_ns as u64,
            body: body(format!("claude_code.{name}")),
            attributes,
            ..Default::default()
        });
    }

    /// A failed attempt before a request: an `api_error` (overloaded or rate-limited), then the retry's wait.
    pub fn api_error(&mut self, usage: &Usage, subagent: Option<&Subagent>, random: &mut Random) {
        let (status, error) =
            *random.pick(&[("529", "Overloaded"), ("429", "Rate limited"), ("500", "Internal server error")]);
        let duration = random.range_u64(300, 4_000);
        self.advance(duration);
        let mut own = vec![
            s("model", usage.family.model()),
            s("error", error),
            s("status_code", status),
            i("duration_ms", duration),
            i("attempt", 1),
            s("request_id", random.base62("req_011C", 20)),
            s("query_source", subagent.map_or("sdk".to_string(), Subagent::query_source)),
        ];
        if let Some(subagent) = subagent {
            own.push(s("agent_id", subagent.id.clone()));
        }
        self.event("api_error", own);
        self.advance(random.range_u64(500, 2_000));
    }

    /// One API request and what follows it: for a Bash call its decision and result, for the final text the
    /// assistant_response, for an Agent call its decision (the caller then runs the subagent and calls
    /// [`Session::agent_done`]).
    pub fn request(
        &mut self,
        usage: &Usage,
        subagent: Option<&Subagent>,
        reply: Reply,
        random: &mut Random,
    ) -> Option<PendingAgent> {
        let request_id = random.base62("req_011C", 20);
        let tool_use_id = random.base62("toolu_01", 22);
        self.advance(usage.duration_ms.saturating_sub(5));
        let agent_id = || subagent.map(|a| s("agent_id", a.id.clone()));
        let tool_parameters = match &reply {
            Reply::Bash { command, .. } => Some(bash_parameters(command)),
            Reply::Agent(agent) => Some(format!("{{\"subagent_type\":\"{}\"}}", agent.name)),
            Reply::Text => None,
        };
        if let Some(parameters) = &tool_parameters {
            let tool = if matches!(reply, Reply::Agent(_)) { "Agent" } else { "Bash" };
            let mut own = vec![
                s("decision", "accept"),
                s("source", "config"),
                s("tool_name", tool),
                s("tool_use_id", tool_use_id.clone()),
                s("tool_source", "builtin"),
                s("tool_parameters", parameters.clone()),
                s("permission_mode", "default"),
                s("request_id", request_id.clone()),
            ];
            own.extend(agent_id());
            self.event("tool_decision", own);
        }
        self.advance(5);
        self.api_request(usage, subagent, &request_id);
        match reply {
            Reply::Bash { command, failed } => {
                let took = random.range_u64(40, 9_000);
                self.advance(took);
                let input = format!("{{\"command\":\"{command}\",\"description\":\"Run {command}\"}}");
                let mut own = vec![
                    s("tool_name", "Bash"),
                    s("tool_use_id", tool_use_id),
                    s("success", if failed { "false" } else { "true" }),
                    s("duration_ms", took.to_string()),
                ];
                if failed {
                    own.extend([s("error_type", "ShellError"), s("error", "Shell command failed")]);
                }
                own.extend([
                    s("tool_parameters", tool_parameters.unwrap_or_default()),
                    s("tool_input_size_bytes", input.len().to_string()),
                    s("tool_input", input),
                ]);
                if !failed {
                    own.push(s("tool_result_size_bytes", random.range_u64(12, 40_000).to_string()));
                }
                own.push(s("request_id", request_id));
                own.extend(agent_id());
                self.event("tool_result", own);
                self.active_ms += took;
                self.advance(random.range_u64(20, 400));
                None
            }
            Reply::Agent(subagent) => Some(PendingAgent { subagent, tool_use_id, request_id, started_ns: self.now_ns }),
            Reply::Text => {
                self.advance(1);
                let mut own = vec![
                    i("response_length", random.range_u64(20, 4_000)),
                    s("response", "<REDACTED>"),
                    s("request_id", request_id),
                    s("message.uuid", random.uuid()),
                    s("model", usage.family.model()),
                    s("query_source", subagent.map_or("sdk".to_string(), Subagent::query_source)),
                ];
                own.extend(agent_id());
                self.event("assistant_response", own);
                None
            }
        }
    }

    fn api_request(&mut self, usage: &Usage, subagent: Option<&Subagent>, request_id: &str) {
        let mut own = vec![
            s("model", usage.family.model()),
            i("input_tokens", usage.input),
            i("output_tokens", usage.output),
            i("cache_read_tokens", usage.cache_read),
            i("cache_creation_tokens", usage.cache_creation),
            i("cache_creation_5m_tokens", usage.cache_creation_5m()),
            i("cache_creation_1h_tokens", usage.cache_creation_1h),
            d("cost_usd", usage.cost_usd),
            i("cost_usd_micros", usage.cost_micros()),
            i("duration_ms", usage.duration_ms),
            i("ttft_ms", usage.ttft_ms),
            s("request_id", request_id),
            s("speed", "normal"),
            s("query_source", subagent.map_or("sdk".to_string(), Subagent::query_source)),
            s("effort", "medium"),
        ];
        if let Some(subagent) = subagent {
            own.extend([s("agent.name", subagent.name.clone()), s("agent_id", subagent.id.clone())]);
        }
        self.event("api_request", own);
        self.active_ms += usage.duration_ms;
        let key = (
            usage.family.model().to_string(),
            if subagent.is_some() { "subagent" } else { "main" },
            subagent.map(|a| a.name.clone()).unwrap_or_default(),
        );
        let started = self.now_ns - (usage.duration_ms as f64 * self.pace) as i64 * MS;
        let series = self.series.entry(key).or_insert_with(|| Series { first_ns: started, ..Default::default() });
        series.effort = true;
        series.cost += usage.cost_usd;
        for (sum, n) in
            series.tokens.iter_mut().zip([usage.input, usage.output, usage.cache_read, usage.cache_creation])
        {
            *sum += n;
        }
    }

    /// Closes an Agent call after its subagent's requests: `subagent_completed`, then the Agent tool's result.
    pub fn agent_done(&mut self, pending: PendingAgent, last: &Usage, tool_uses: u64, random: &mut Random) {
        self.advance(random.range_u64(50, 400));
        let PendingAgent { subagent, tool_use_id, request_id, started_ns } = pending;
        let took = ((self.now_ns - started_ns) / MS).max(1) as u64;
        self.event(
            "subagent_completed",
            vec![
                s("agent_type", subagent.name.clone()),
                s("agent.source", if subagent.built_in { "built-in" } else { "projectSettings" }),
                b("is_built_in", subagent.built_in),
                b("is_async", false),
                i("total_tokens", last.total_tokens()),
                i("total_tool_uses", tool_uses),
                i("duration_ms", took),
                s("model", last.family.model()),
                s("final_model", last.family.model()),
                b("model_swapped", false),
                s("agent_id", subagent.id.clone()),
            ],
        );
        self.advance(random.range_u64(100, 300));
        let parameters = format!("{{\"subagent_type\":\"{}\"}}", subagent.name);
        let input = format!(
            "{{\"description\":\"{} task\",\"prompt\":\"<task for {}>\",\"subagent_type\":\"{}\"}}",
            subagent.name, subagent.name, subagent.name
        );
        self.event(
            "tool_result",
            vec![
                s("tool_name", "Agent"),
                s("tool_use_id", tool_use_id),
                s("success", "true"),
                s("duration_ms", (took + 200).to_string()),
                s("tool_parameters", parameters),
                s("tool_input_size_bytes", input.len().to_string()),
                s("tool_input", input),
                s("tool_result_size_bytes", random.range_u64(300, 6_000).to_string()),
                s("request_id", request_id),
            ],
        );
        self.advance(random.range_u64(20, 200));
    }

    /// Ends the session: its records under their resource, and its metrics as one delta export at the end.
    pub fn finish(self) -> (ResourceLogs, ResourceMetrics) {
        let end = self.now_ns + 5 * MS;
        let resource = resource(&self.resource_workflow, &self.os_version);
        let logs = ResourceLogs {
            resource: Some(resource.clone()),
            scope_logs: vec![ScopeLogs { scope: scope(EVENTS_SCOPE), log_records: self.records, ..Default::default() }],
            ..Default::default()
        };
        let point = |attributes: Vec<KeyValue>, start: i64, value: f64| NumberDataPoint {
            attributes,
            start_time_unix_nano: start as u64,
            time_unix_nano: end as u64,
            value: Some(number_data_point::Value::AsDouble(value)),
            ..Default::default()
        };
        let with = |own: Vec<KeyValue>| {
            let mut attributes = self.common.clone();
            attributes.extend(own);
            attributes
        };
        let mut cost_points = Vec::new();
        let mut token_points = Vec::new();
        for ((model, source, agent), series) in &self.series {
            let mut own = vec![s("model", model.clone()), s("query_source", *source)];
            if series.effort {
                own.push(s("effort", "medium"));
            }
            if !agent.is_empty() {
                own.push(s("agent.name", agent.clone()));
            }
            cost_points.push(point(with(own.clone()), series.first_ns, series.cost));
            for (kind, value) in ["input", "output", "cacheRead", "cacheCreation"].iter().zip(series.tokens) {
                let mut attributes = with(own.clone());
                attributes.push(s("type", *kind));
                token_points.push(point(attributes, series.first_ns, value as f64));
            }
        }
        let metrics = vec![
            sum(
                "claude_code.session.count",
                "Count of CLI sessions started",
                "",
                vec![point(with(vec![s("start_type", "fresh")]), self.started_ns, 1.0)],
            ),
            sum("claude_code.cost.usage", "Cost of the Claude Code session", "USD", cost_points),
            sum("claude_code.token.usage", "Number of tokens used", "tokens", token_points),
            sum(
                "claude_code.active_time.total",
                "Total active time in seconds",
                "s",
                vec![point(with(vec![s("type", "cli")]), self.started_ns, self.active_ms as f64 / 1000.0)],
            ),
        ];
        let metrics = ResourceMetrics {
            resource: Some(resource),
            scope_metrics: vec![ScopeMetrics { scope: scope(METRICS_SCOPE), metrics, ..Default::default() }],
            ..Default::default()
        };
        (logs, metrics)
    }
}

/// A monotonic delta Sum, as the CLI exports every metric.
fn sum(name: &str, description: &str, unit: &str, data_points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.to_string(),
        description: description.to_string(),
        unit: unit.to_string(),
        data: Some(Data::Sum(Sum {
            data_points,
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

/// The Bash tool's `tool_parameters` as the CLI writes them.
fn bash_parameters(command: &str) -> String {
    let program = command.split_whitespace().next().unwrap_or(command);
    format!("{{\"bash_command\":\"{program}\",\"full_command\":\"{command}\",\"description\":\"Run {command}\"}}")
}
