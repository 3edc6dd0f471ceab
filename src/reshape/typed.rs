//! The typed rows of the events that have a table of their own (api_request, tool_result, api_error,
//! subagent_completed), and which attributes each of those tables has a column for.

use super::attrs::Reader;
use super::fields::{Fields, Key};
use super::logs::names;
use super::rows::{ApiErrorRow, ApiRequestRow, Rows, SubagentRow, ToolResultRow};
use super::workflow::Workflow;

/// The attributes with a column in `event_name`'s typed table (none for events without one).
pub(super) fn columns_of(event_name: &str) -> fn(Key) -> bool {
    match event_name {
        names::API_REQUEST => is_api_request_column,
        names::TOOL_RESULT => is_tool_result_column,
        names::API_ERROR => is_api_error_column,
        names::SUBAGENT_COMPLETED => is_subagent_column,
        _ => |_| false,
    }
}

/// The typed row of an event, if its name has a table: Err when a column it cannot do without is missing.
/// Values present but unreadable are collected by `reader`.
pub(super) fn build(
    event_name: &str,
    common: &Common,
    fields: &Fields,
    service_version: &str,
    reader: &mut Reader,
) -> Option<Result<Typed, String>> {
    Some(match event_name {
        names::API_REQUEST => api_request(common, fields, service_version, reader).map(Typed::ApiRequest),
        names::TOOL_RESULT => Ok(Typed::ToolResult(tool_result(common, fields, service_version, reader))),
        names::API_ERROR => Ok(Typed::ApiError(api_error(common, fields, service_version, reader))),
        names::SUBAGENT_COMPLETED => Ok(Typed::Subagent(subagent(common, fields, service_version, reader))),
        _ => return None,
    })
}

/// The columns every event table shares.
pub(super) struct Common {
    pub(super) timestamp: i64,
    pub(super) event_key: u64,
    pub(super) workflow: Workflow,
    pub(super) session_id: String,
    pub(super) prompt_id: String,
    pub(super) event_sequence: u64,
    pub(super) agent_id: String,
}

pub(super) enum Typed {
    ApiRequest(ApiRequestRow),
    ToolResult(ToolResultRow),
    ApiError(ApiErrorRow),
    Subagent(SubagentRow),
}

impl Typed {
    pub(super) fn push_to(self, rows: &mut Rows) {
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

fn api_request(common: &Common, f: &Fields, service_version: &str, r: &mut Reader) -> Result<ApiRequestRow, String> {
    if let Some((_, name)) = API_REQUEST_REQUIRED.iter().find(|(key, _)| f.get(*key).is_none()) {
        return Err(format!("required attribute {name} is missing"));
    }
    Ok(typed_row!(ApiRequestRow, common, {
        agent_name: r.string(f.get(Key::AgentName)),
        query_source: r.string(f.get(Key::QuerySource)),
        request_id: r.string(f.get(Key::RequestId)),
        model: r.string(f.get(Key::Model)),
        input_tokens: r.tokens("input_tokens", f.get(Key::InputTokens)),
        output_tokens: r.tokens("output_tokens", f.get(Key::OutputTokens)),
        cache_read_tokens: r.tokens("cache_read_tokens", f.get(Key::CacheReadTokens)),
        cache_creation_tokens: r.tokens("cache_creation_tokens", f.get(Key::CacheCreationTokens)),
        cache_creation_5m_tokens: r.tokens("cache_creation_5m_tokens", f.get(Key::CacheCreation5mTokens)),
        cache_creation_1h_tokens: r.tokens("cache_creation_1h_tokens", f.get(Key::CacheCreation1hTokens)),
        cost_usd: r.cost_usd("cost_usd", f.get(Key::CostUsd)),
        cost_usd_micros: r.cost_usd_micros("cost_usd_micros", f.get(Key::CostUsdMicros)),
        duration_ms: r.duration_ms("duration_ms", f.get(Key::DurationMs)),
        ttft_ms: r.duration_ms("ttft_ms", f.get(Key::TtftMs)),
        speed: r.string(f.get(Key::Speed)),
        effort: r.string(f.get(Key::Effort)),
        user_id: r.string(f.get(Key::UserId)),
        organization_id: r.string(f.get(Key::OrganizationId)),
        account_uuid: r.string(f.get(Key::AccountUuid)),
        user_email: r.string(f.get(Key::UserEmail)),
        terminal_type: r.string(f.get(Key::TerminalType)),
        service_version: service_version.to_string(),
        attributes: f.rest(is_api_request_column),
    }))
}

fn tool_result(common: &Common, f: &Fields, service_version: &str, r: &mut Reader) -> ToolResultRow {
    typed_row!(ToolResultRow, common, {
        tool_name: r.string(f.get(Key::ToolName)),
        tool_use_id: r.string(f.get(Key::ToolUseId)),
        success: r.bool("success", f.get(Key::Success)),
        decision: r.string(f.get(Key::Decision)),
        decision_source: r.string(f.get(Key::DecisionSource)),
        duration_ms: r.duration_ms("duration_ms", f.get(Key::DurationMs)),
        tool_input_size_bytes: r.u64("tool_input_size_bytes", f.get(Key::ToolInputSizeBytes)),
        tool_result_size_bytes: r.u64("tool_result_size_bytes", f.get(Key::ToolResultSizeBytes)),
        error: r.string(f.get(Key::Error)),
        tool_parameters: r.string(f.get(Key::ToolParameters)),
        tool_input: r.string(f.get(Key::ToolInput)),
        user_id: r.string(f.get(Key::UserId)),
        terminal_type: r.string(f.get(Key::TerminalType)),
        service_version: service_version.to_string(),
        attributes: f.rest(is_tool_result_column),
    })
}

fn api_error(common: &Common, f: &Fields, service_version: &str, r: &mut Reader) -> ApiErrorRow {
    typed_row!(ApiErrorRow, common, {
        query_source: r.string(f.get(Key::QuerySource)),
        request_id: r.string(f.get(Key::RequestId)),
        model: r.string(f.get(Key::Model)),
        error: r.string(f.get(Key::Error)),
        status_code: r.string(f.get(Key::StatusCode)),
        attempt: u32::try_from(r.u64("attempt", f.get(Key::Attempt))).unwrap_or(u32::MAX),
        duration_ms: r.duration_ms("duration_ms", f.get(Key::DurationMs)),
        user_id: r.string(f.get(Key::UserId)),
        terminal_type: r.string(f.get(Key::TerminalType)),
        service_version: service_version.to_string(),
        attributes: f.rest(is_api_error_column),
    })
}

fn subagent(common: &Common, f: &Fields, service_version: &str, r: &mut Reader) -> SubagentRow {
    typed_row!(SubagentRow, common, {
        agent_type: r.string(f.get(Key::AgentType)),
        agent_source: r.string(f.get(Key::AgentSource)),
        is_built_in: r.bool("is_built_in", f.get(Key::IsBuiltIn)),
        is_async: r.bool("is_async", f.get(Key::IsAsync)),
        total_tokens: r.u64("total_tokens", f.get(Key::TotalTokens)),
        total_tool_uses: r.u64("total_tool_uses", f.get(Key::TotalToolUses)),
        duration_ms: r.duration_ms("duration_ms", f.get(Key::DurationMs)),
        model: r.string(f.get(Key::Model)),
        final_model: r.string(f.get(Key::FinalModel)),
        model_swapped: r.bool("model_swapped", f.get(Key::ModelSwapped)),
        user_id: r.string(f.get(Key::UserId)),
        service_version: service_version.to_string(),
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
