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
use super::limits::{self, Clock};
use super::rows::{AttributeMap, EventRow};
use super::timestamp::{nanos_or, parse_rfc3339_nanos};
use super::typed::{self, Common};
use super::workflow::{attribute, StageMap};
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

/// Reshapes a decoded logs request, moving its strings into the rows. `clock.now_ns` stands in for a record that
/// carries no time at all; a record whose time is outside the clock's window is left out of its typed table.
pub fn reshape_logs(request: LogsRequest, stages: &StageMap, agents: &AgentDirectory, clock: &Clock) -> Reshaped {
    learn_subagent_names(&request, agents);
    let mut out = Reshaped { rejected: request.unreadable_count, problems: request.unreadable, ..Reshaped::default() };
    for group in request.groups {
        let resource = Resource::new(group.resource, &group.scope_name);
        for record in group.items {
            reshape_record(record, &resource, stages, agents, clock, &mut out);
        }
    }
    out
}

/// Learns agent_id → name from the request before any record is attributed, since a subagent's tool events may
/// come before its first api_request. `agent.name` is the name; a subagent_completed's `agent_type` stands in
/// when no record of the run carried one.
fn learn_subagent_names(request: &LogsRequest, agents: &AgentDirectory) {
    let mut fallbacks = Vec::new();
    for attributes in request.groups.iter().flat_map(|g| &g.items).map(|d| &d.item.attributes) {
        let Some(id) = find_str(attributes, "agent_id") else { continue };
        match find_str(attributes, "agent.name") {
            Some(name) => agents.learn(id, name),
            None => fallbacks.extend(find_str(attributes, "agent_type").map(|name| (id, name))),
        }
    }
    // After every agent.name of the request, so a name learnt from one wins over an agent_type.
    for (id, name) in fallbacks {
        agents.learn(id, name);
    }
}

/// What is computed once per resource and scope rather than once per record.
struct Resource {
    fields: Fields,
    /// Why its records cannot go to their typed tables (an over-long value), if so.
    problem: Option<String>,
    hash: u64,
    attributes: Arc<AttributeMap>,
    scope_name: Arc<str>,
    service_name: Arc<str>,
    service_version: Arc<str>,
}

impl Resource {
    fn new(mut attributes: Vec<KeyValue>, scope_name: &str) -> Resource {
        let mut hasher = hash_attributes(Hasher::new(), &attributes);
        hasher.str(scope_name);
        let problem = limits::cut_over_long(&mut attributes).into_iter().next().map(|p| format!("resource {p}"));
        let text = |key: &str| find_str(&attributes, key).unwrap_or_default().into();
        Resource {
            hash: hasher.finish(),
            attributes: Arc::new(resource_rest(&attributes)),
            scope_name: scope_name.into(),
            service_name: text("service.name"),
            service_version: text("service.version"),
            fields: Fields::new(attributes),
            problem,
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
    clock: &Clock,
    out: &mut Reshaped,
) {
    let Decoded { item: mut record, unreadable_keys } = decoded;
    // The key of the record as sent: two records that differ only past a cut are still two records.
    let event_key = record_key(&record, resource.hash);
    let over_long = limits::cut_over_long(&mut record.attributes);
    let mut fields = Fields::new(std::mem::take(&mut record.attributes));
    let mut event_name = event_name(&record, &fields);
    // The name is a /metrics label (tokenledger_records_received_total{event}): held to the workflow bound.
    let long_name = (event_name.len() > limits::MAX_WORKFLOW_VALUE_BYTES).then(|| {
        let problem = format!(
            "event name is {} bytes, over the {}-byte limit",
            event_name.len(),
            limits::MAX_WORKFLOW_VALUE_BYTES
        );
        event_name = limits::cut_text(&event_name, limits::MAX_WORKFLOW_VALUE_BYTES);
        problem
    });
    let sent = if record.time_unix_nano != 0 { record.time_unix_nano } else { record.observed_time_unix_nano };
    let timestamp = nanos_or(record.time_unix_nano)
        .or_else(|| nanos_or(record.observed_time_unix_nano))
        .or_else(|| fields.get(Key::EventTimestamp).and_then(|v| parse_rfc3339_nanos(&to_text(v))))
        .unwrap_or(clock.now_ns);
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
    let typed_columns = typed::columns_of(&event_name);
    let typed = typed::build(&event_name, &common, &fields, &resource.service_version, &mut reader);

    let problem = if !unreadable_keys.is_empty() {
        Some(format!("{event_name}: unreadable value for {}", unreadable_keys.join(", ")))
    } else if let Some(first) = over_long.first().or(resource.problem.as_ref()).or(long_name.as_ref()) {
        Some(format!("{event_name}: {first}"))
    } else if let Err(outside) = clock.check_sent(sent).and_then(|()| clock.check(timestamp)) {
        Some(format!("{event_name}: {outside}"))
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
