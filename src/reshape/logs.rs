//! Claude Code events (OTLP log records) → rows: every record to `otel_events`, and the events we know
//! (api_request, tool_result, api_error, subagent_completed) to their typed tables as well.
//!
//! A record whose typed columns cannot all be read (a value of the wrong shape, a missing token count) is kept
//! in `otel_events` with the raw values in its Map, left out of its typed table, and reported as rejected, so a
//! cost figure is never silently a 0.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;

use std::sync::Arc;

use super::agents::AgentDirectory;
use super::attrs::{find_str, to_text, Reader};
use super::fields::{Fields, Key};
use super::hash::{hash_attributes, Hasher};
use super::input::{Decoded, LogsRequest};
use super::rows::{ApiErrorRow, ApiRequestRow, AttributeMap, EventRow, Rows, SubagentRow, ToolResultRow};
use super::timestamp::{nanos_or, parse_rfc3339_nanos};
use super::workflow::{attribute, StageMap, Workflow};
use super::Reshaped;

/// Full names of the events with typed tables.
pub mod names {
    /// One API call to the model: tokens and cost.
    pub const API_REQUEST: &str = "claude_code.api_request";
    /// One tool run.
    pub const TOOL_RESULT: &str = "claude_code.tool_result";
    /// One failed API call.
    pub const API_ERROR: &str = "claude_code.api_error";
    /// The end of one subagent run.
    pub const SUBAGENT_COMPLETED: &str = "claude_code.subagent_completed";
}

const EVENT_PREFIX: &str = "claude_code.";

/// Reshapes a decoded logs request, moving its strings into the rows. `now_ns` stands in for a record that
/// carries no time at all.
pub fn reshape_logs(request: LogsRequest, stages: &StageMap, agents: &AgentDirectory, now_ns: i64) -> Reshaped {
    learn_subagent_names(&request, agents);
    let mut out = Reshaped { rejected: request.unreadable_count, problems: request.unreadable, ..Reshaped::default() };
    for group in request.groups {
        let resource = Resource::new(group.resource, &group.scope_name);
        for record in group.items {
            reshape_record(record, &resource, stages, agents, now_ns, &mut out);
        }
    }
    out
}

/// Learns agent_id → name from the request before any record is attributed, since a subagent's tool events may
/// come before its first api_request. `agent.name` is the name; a subagent_completed's `agent_type` stands in
/// when no record of the run carried one.
fn learn_subagent_names(request: &LogsRequest, agents: &AgentDirectory) {
    let records = || request.groups.iter().flat_map(|g| &g.items).map(|d| &d.item.attributes);
    for name_key in ["agent.name", "agent_type"] {
        for attributes in records() {
            if let (Some(id), Some(name)) = (find_str(attributes, "agent_id"), find_str(attributes, name_key)) {
                agents.learn(id, name);
            }
        }
    }
}

/// What is computed once per resource and scope rather than once per record.
struct Resource {
    fields: Fields,
    hash: u64,
    attributes: Arc<AttributeMap>,
    scope_name: Arc<str>,
    service_name: Arc<str>,
    service_version: Arc<str>,
}

impl Resource {
    fn new(attributes: Vec<KeyValue>, scope_name: &str) -> Resource {
        let text = |key: &str| find_str(&attributes, key).unwrap_or_default().into();
        let mut hasher = hash_attributes(Hasher::new(), &attributes);
        hasher.str(scope_name);
        Resource {
            hash: hasher.finish(),
            attributes: Arc::new(resource_rest(&attributes)),
            scope_name: scope_name.into(),
            service_name: text("service.name"),
            service_version: text("service.version"),
            fields: Fields::new(attributes),
        }
    }
}

/// The resource attributes no column holds: the workflow keys (Claude Code copies them onto every record, and
/// they are columns) and service.name / service.version are left out, the rest (host, os, ...) kept as text.
fn resource_rest(attributes: &[KeyValue]) -> AttributeMap {
    attributes
        .iter()
        .filter(|kv| Key::of(&kv.key).is_none() && kv.key != "service.name" && kv.key != "service.version")
        .map(|kv| (kv.key.clone(), kv.value.as_ref().map(to_text).unwrap_or_default()))
        .collect()
}

fn reshape_record(
    decoded: Decoded<LogRecord>,
    resource: &Resource,
    stages: &StageMap,
    agents: &AgentDirectory,
    now_ns: i64,
    out: &mut Reshaped,
) {
    let Decoded { item: mut record, unreadable_keys } = decoded;
    let event_key = record_key(&record, resource.hash);
    let mut fields = Fields::new(std::mem::take(&mut record.attributes));
    let event_name = event_name(&record, &fields);
    let timestamp = nanos_or(record.time_unix_nano)
        .or_else(|| nanos_or(record.observed_time_unix_nano))
        .or_else(|| fields.get(Key::EventTimestamp).and_then(|v| parse_rfc3339_nanos(&to_text(v))))
        .unwrap_or(now_ns);
    let subagent_name = match (fields.get(Key::AgentName), fields.get(Key::AgentId)) {
        (None, Some(id)) => agents.name_of(&to_text(id)),
        _ => None,
    };
    let workflow = attribute(&mut fields, &resource.fields, stages, subagent_name);

    let mut reader = Reader::default();
    let event_sequence = reader.u64("event.sequence", fields.get(Key::EventSequence));
    let common = Common {
        timestamp,
        event_key,
        workflow,
        session_id: fields.take_text(Key::SessionId).unwrap_or_default(),
        prompt_id: fields.take_text(Key::PromptId).unwrap_or_default(),
        event_sequence,
        agent_id: fields.take_text(Key::AgentId).unwrap_or_default(),
    };

    // The typed row, if this event has a table and every column of it could be read.
    let typed_columns: fn(Key) -> bool = match event_name.as_str() {
        names::API_REQUEST => is_api_request_column,
        names::TOOL_RESULT => is_tool_result_column,
        names::API_ERROR => is_api_error_column,
        names::SUBAGENT_COMPLETED => is_subagent_column,
        _ => |_| false,
    };
    let typed = match event_name.as_str() {
        names::API_REQUEST => Some(api_request(&common, &fields, resource, &mut reader).map(Typed::ApiRequest)),
        names::TOOL_RESULT => Some(Ok(Typed::ToolResult(tool_result(&common, &fields, resource, &mut reader)))),
        names::API_ERROR => Some(Ok(Typed::ApiError(api_error(&common, &fields, resource, &mut reader)))),
        names::SUBAGENT_COMPLETED => Some(Ok(Typed::Subagent(subagent(&common, &fields, resource, &mut reader)))),
        _ => None,
    };

    let problem = if !unreadable_keys.is_empty() {
        Some(format!("{event_name}: unreadable value for {}", unreadable_keys.join(", ")))
    } else if let Some(first) = reader.unreadable.first() {
        Some(format!("{event_name}: {first}"))
    } else {
        match &typed {
            Some(Err(missing)) => Some(format!("{event_name}: {missing}")),
            _ => None,
        }
    };
    // otel_events keeps what no other column holds: when the typed row is stored, its columns are left out of the
    // Map (they are one join away, on event_key); when it is not, the Map keeps every value as received.
    let attributes = match (problem, typed) {
        (Some(problem), _) => {
            out.reject(problem);
            // A common column's unreadable value (event.sequence) is in no Map yet: keep its raw text.
            let common_columns =
                reader.unreadable.iter().filter(|u| Key::of(&u.key).is_some_and(Key::is_common_column));
            let raw: Vec<_> = common_columns.map(|u| (u.key.clone(), u.found.clone())).collect();
            let mut attributes = fields.into_rest(|_| false);
            attributes.extend(raw);
            attributes
        }
        (None, Some(Ok(row))) => {
            row.push_to(&mut out.rows);
            fields.into_rest(typed_columns)
        }
        (None, _) => fields.into_rest(|_| false),
    };

    let Common { workflow, session_id, prompt_id, agent_id, .. } = common;
    out.rows.events.push(EventRow {
        timestamp,
        event_key,
        workflow_id: workflow.workflow_id,
        workflow_path: workflow.workflow_path,
        complexity: workflow.complexity,
        stage: workflow.stage,
        task_id: workflow.task_id,
        agent: workflow.agent,
        model_expected: workflow.model_expected,
        session_id,
        prompt_id,
        event_sequence,
        agent_id,
        event_name,
        severity_text: record.severity_text,
        scope_name: resource.scope_name.clone(),
        service_name: resource.service_name.clone(),
        service_version: resource.service_version.clone(),
        attributes,
        resource_attributes: resource.attributes.clone(),
    });
}

/// The full event name: the body when it is `claude_code.<name>`, else built from `event.name`, else the body.
fn event_name(record: &LogRecord, fields: &Fields) -> String {
    let body = match record.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(Value::StringValue(s)) => Some(s.as_str()),
        _ => None,
    };
    if let Some(body) = body.filter(|b| b.starts_with(EVENT_PREFIX)) {
        return body.to_string();
    }
    match fields.get(Key::EventName).map(to_text).filter(|n| !n.is_empty()) {
        Some(name) if name.starts_with(EVENT_PREFIX) => name,
        Some(name) => format!("{EVENT_PREFIX}{name}"),
        None => body.unwrap_or_default().to_string(),
    }
}

/// A content hash of the record: equal for the same record delivered twice, different for any two records.
fn record_key(record: &LogRecord, resource_hash: u64) -> u64 {
    let mut hasher = Hasher::new();
    hasher.u64(resource_hash);
    // The observed time is when a collector read the record: a re-read of the same record has another one.
    hasher.u64(if record.time_unix_nano != 0 { record.time_unix_nano } else { record.observed_time_unix_nano });
    hasher.u64(record.severity_number as u64);
    if let Some(body) = &record.body {
        hasher.value(body);
    }
    hash_attributes(hasher, &record.attributes).finish()
}

/// The columns every event table shares.
struct Common {
    timestamp: i64,
    event_key: u64,
    workflow: Workflow,
    session_id: String,
    prompt_id: String,
    event_sequence: u64,
    agent_id: String,
}

enum Typed {
    ApiRequest(ApiRequestRow),
    ToolResult(ToolResultRow),
    ApiError(ApiErrorRow),
    Subagent(SubagentRow),
}

impl Typed {
    fn push_to(self, rows: &mut Rows) {
        match self {
            Typed::ApiRequest(row) => rows.api_requests.push(row),
            Typed::ToolResult(row) => rows.tool_results.push(row),
            Typed::ApiError(row) => rows.api_errors.push(row),
            Typed::Subagent(row) => rows.subagents.push(row),
        }
    }
}

/// Builds a typed row from the shared columns and the table's own, then sets the workflow columns.
macro_rules! typed_row {
    ($row:ident, $common:expr, { $($field:ident : $value:expr,)* }) => {{
        let common = $common;
        let mut row = $row {
            timestamp: common.timestamp,
            event_key: common.event_key,
            workflow_id: String::new(),
            workflow_path: String::new(),
            complexity: String::new(),
            stage: String::new(),
            task_id: String::new(),
            agent: String::new(),
            model_expected: String::new(),
            session_id: common.session_id.clone(),
            prompt_id: common.prompt_id.clone(),
            event_sequence: common.event_sequence,
            agent_id: common.agent_id.clone(),
            $($field: $value,)*
        };
        row.set_workflow(common.workflow.clone());
        row
    }};
}

/// The api_request fields without which the row would understate cost or tokens.
const API_REQUEST_REQUIRED: [(Key, &str); 4] = [
    (Key::Model, "model"),
    (Key::InputTokens, "input_tokens"),
    (Key::OutputTokens, "output_tokens"),
    (Key::CostUsd, "cost_usd"),
];

fn api_request(common: &Common, f: &Fields, resource: &Resource, r: &mut Reader) -> Result<ApiRequestRow, String> {
    if let Some((_, name)) = API_REQUEST_REQUIRED.iter().find(|(key, _)| f.get(*key).is_none()) {
        return Err(format!("required attribute {name} is missing"));
    }
    Ok(typed_row!(ApiRequestRow, common, {
        agent_name: r.string(f.get(Key::AgentName)),
        query_source: r.string(f.get(Key::QuerySource)),
        request_id: r.string(f.get(Key::RequestId)),
        model: r.string(f.get(Key::Model)),
        input_tokens: r.u64("input_tokens", f.get(Key::InputTokens)),
        output_tokens: r.u64("output_tokens", f.get(Key::OutputTokens)),
        cache_read_tokens: r.u64("cache_read_tokens", f.get(Key::CacheReadTokens)),
        cache_creation_tokens: r.u64("cache_creation_tokens", f.get(Key::CacheCreationTokens)),
        cache_creation_5m_tokens: r.u64("cache_creation_5m_tokens", f.get(Key::CacheCreation5mTokens)),
        cache_creation_1h_tokens: r.u64("cache_creation_1h_tokens", f.get(Key::CacheCreation1hTokens)),
        cost_usd: r.f64("cost_usd", f.get(Key::CostUsd)),
        cost_usd_micros: r.u64("cost_usd_micros", f.get(Key::CostUsdMicros)),
        duration_ms: r.u64("duration_ms", f.get(Key::DurationMs)),
        ttft_ms: r.u64("ttft_ms", f.get(Key::TtftMs)),
        speed: r.string(f.get(Key::Speed)),
        effort: r.string(f.get(Key::Effort)),
        user_id: r.string(f.get(Key::UserId)),
        organization_id: r.string(f.get(Key::OrganizationId)),
        account_uuid: r.string(f.get(Key::AccountUuid)),
        user_email: r.string(f.get(Key::UserEmail)),
        terminal_type: r.string(f.get(Key::TerminalType)),
        service_version: resource.service_version.to_string(),
        attributes: f.rest(is_api_request_column),
    }))
}

fn tool_result(common: &Common, f: &Fields, resource: &Resource, r: &mut Reader) -> ToolResultRow {
    typed_row!(ToolResultRow, common, {
        tool_name: r.string(f.get(Key::ToolName)),
        tool_use_id: r.string(f.get(Key::ToolUseId)),
        success: r.bool("success", f.get(Key::Success)),
        decision: r.string(f.get(Key::Decision)),
        decision_source: r.string(f.get(Key::DecisionSource)),
        duration_ms: r.u64("duration_ms", f.get(Key::DurationMs)),
        tool_input_size_bytes: r.u64("tool_input_size_bytes", f.get(Key::ToolInputSizeBytes)),
        tool_result_size_bytes: r.u64("tool_result_size_bytes", f.get(Key::ToolResultSizeBytes)),
        error: r.string(f.get(Key::Error)),
        tool_parameters: r.string(f.get(Key::ToolParameters)),
        tool_input: r.string(f.get(Key::ToolInput)),
        user_id: r.string(f.get(Key::UserId)),
        terminal_type: r.string(f.get(Key::TerminalType)),
        service_version: resource.service_version.to_string(),
        attributes: f.rest(is_tool_result_column),
    })
}

fn api_error(common: &Common, f: &Fields, resource: &Resource, r: &mut Reader) -> ApiErrorRow {
    typed_row!(ApiErrorRow, common, {
        query_source: r.string(f.get(Key::QuerySource)),
        request_id: r.string(f.get(Key::RequestId)),
        model: r.string(f.get(Key::Model)),
        error: r.string(f.get(Key::Error)),
        status_code: r.string(f.get(Key::StatusCode)),
        attempt: u32::try_from(r.u64("attempt", f.get(Key::Attempt))).unwrap_or(u32::MAX),
        duration_ms: r.u64("duration_ms", f.get(Key::DurationMs)),
        user_id: r.string(f.get(Key::UserId)),
        terminal_type: r.string(f.get(Key::TerminalType)),
        service_version: resource.service_version.to_string(),
        attributes: f.rest(is_api_error_column),
    })
}

fn subagent(common: &Common, f: &Fields, resource: &Resource, r: &mut Reader) -> SubagentRow {
    typed_row!(SubagentRow, common, {
        agent_type: r.string(f.get(Key::AgentType)),
        agent_source: r.string(f.get(Key::AgentSource)),
        is_built_in: r.bool("is_built_in", f.get(Key::IsBuiltIn)),
        is_async: r.bool("is_async", f.get(Key::IsAsync)),
        total_tokens: r.u64("total_tokens", f.get(Key::TotalTokens)),
        total_tool_uses: r.u64("total_tool_uses", f.get(Key::TotalToolUses)),
        duration_ms: r.u64("duration_ms", f.get(Key::DurationMs)),
        model: r.string(f.get(Key::Model)),
        final_model: r.string(f.get(Key::FinalModel)),
        model_swapped: r.bool("model_swapped", f.get(Key::ModelSwapped)),
        user_id: r.string(f.get(Key::UserId)),
        service_version: resource.service_version.to_string(),
        attributes: f.rest(is_subagent_column),
    })
}

/// Attributes with a column in the api_request table.
fn is_api_request_column(key: Key) -> bool {
    matches!(
        key,
        Key::AgentName
            | Key::QuerySource
            | Key::RequestId
            | Key::Model
            | Key::InputTokens
            | Key::OutputTokens
            | Key::CacheReadTokens
            | Key::CacheCreationTokens
            | Key::CacheCreation5mTokens
            | Key::CacheCreation1hTokens
            | Key::CostUsd
            | Key::CostUsdMicros
            | Key::DurationMs
            | Key::TtftMs
            | Key::Speed
            | Key::Effort
            | Key::UserId
            | Key::OrganizationId
            | Key::AccountUuid
            | Key::UserEmail
            | Key::TerminalType
    )
}

/// Attributes with a column in the tool_result table.
fn is_tool_result_column(key: Key) -> bool {
    matches!(
        key,
        Key::ToolName
            | Key::ToolUseId
            | Key::Success
            | Key::Decision
            | Key::DecisionSource
            | Key::DurationMs
            | Key::ToolInputSizeBytes
            | Key::ToolResultSizeBytes
            | Key::Error
            | Key::ToolParameters
            | Key::ToolInput
            | Key::UserId
            | Key::TerminalType
    )
}

/// Attributes with a column in the api_error table.
fn is_api_error_column(key: Key) -> bool {
    matches!(
        key,
        Key::QuerySource
            | Key::RequestId
            | Key::Model
            | Key::Error
            | Key::StatusCode
            | Key::Attempt
            | Key::DurationMs
            | Key::UserId
            | Key::TerminalType
    )
}

/// Attributes with a column in the subagent table.
fn is_subagent_column(key: Key) -> bool {
    matches!(
        key,
        Key::AgentType
            | Key::AgentSource
            | Key::IsBuiltIn
            | Key::IsAsync
            | Key::TotalTokens
            | Key::TotalToolUses
            | Key::DurationMs
            | Key::Model
            | Key::FinalModel
            | Key::ModelSwapped
            | Key::UserId
    )
}
