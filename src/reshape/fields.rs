//! One pass over a record's attributes that files each known key into its slot and keeps the rest aside.
//!
//! Every table reads its columns from the slots; the attributes it has no column for go to its `attributes` Map,
//! so nothing Claude Code sends is lost, known or not.

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

macro_rules! keys {
    ($($variant:ident => $name:literal,)*) => {
        /// The attribute keys that some table has a column for.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Key { $($variant,)* }

        impl Key {
            /// How many keys there are.
            pub const COUNT: usize = [$(Key::$variant,)*].len();

            /// The key an attribute name is known as, if any.
            pub fn of(name: &str) -> Option<Key> {
                match name {
                    $($name => Some(Key::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

keys! {
    // Workflow attribution (OTEL_RESOURCE_ATTRIBUTES, copied by Claude Code onto every record).
    WorkflowId => "workflow_id",
    WorkflowPath => "workflow_path",
    Complexity => "complexity",
    Stage => "stage",
    TaskId => "task_id",
    Agent => "agent",
    ModelExpected => "model_expected",
    // Sent on every event.
    SessionId => "session.id",
    PromptId => "prompt.id",
    EventName => "event.name",
    EventTimestamp => "event.timestamp",
    EventSequence => "event.sequence",
    AgentId => "agent_id",
    // Read for attribution but kept in the Maps of tables without a column for them.
    WorkflowRunId => "workflow.run_id",
    AgentName => "agent.name",
    UserId => "user.id",
    OrganizationId => "organization.id",
    AccountUuid => "user.account_uuid",
    UserEmail => "user.email",
    TerminalType => "terminal.type",
    QuerySource => "query_source",
    RequestId => "request_id",
    Model => "model",
    DurationMs => "duration_ms",
    // api_request
    InputTokens => "input_tokens",
    OutputTokens => "output_tokens",
    CacheReadTokens => "cache_read_tokens",
    CacheCreationTokens => "cache_creation_tokens",
    CacheCreation5mTokens => "cache_creation_5m_tokens",
    CacheCreation1hTokens => "cache_creation_1h_tokens",
    CostUsd => "cost_usd",
    CostUsdMicros => "cost_usd_micros",
    TtftMs => "ttft_ms",
    Speed => "speed",
    Effort => "effort",
    // tool_result
    ToolName => "tool_name",
    ToolUseId => "tool_use_id",
    Success => "success",
    Decision => "decision",
    DecisionSource => "source",
    ToolInputSizeBytes => "tool_input_size_bytes",
    ToolResultSizeBytes => "tool_result_size_bytes",
    Error => "error",
    ToolParameters => "tool_parameters",
    ToolInput => "tool_input",
    // api_error
    StatusCode => "status_code",
    Attempt => "attempt",
    // subagent_completed
    AgentType => "agent_type",
    AgentSource => "agent.source",
    IsBuiltIn => "is_built_in",
    IsAsync => "is_async",
    TotalTokens => "total_tokens",
    TotalToolUses => "total_tool_uses",
    FinalModel => "final_model",
    ModelSwapped => "model_swapped",
}

impl Key {
    /// Keys that are columns of every event table (otel_events included), so never repeated in a Map.
    pub fn is_common_column(self) -> bool {
        (self as usize) <= (Key::AgentId as usize)
    }
}

/// A record's attributes, filed by key. Borrowed: building it copies nothing.
pub struct Fields<'a> {
    slots: [Option<&'a AnyValue>; Key::COUNT],
    /// Every attribute with the key it is known as, in the order received.
    all: Vec<(&'a str, Option<Key>, &'a AnyValue)>,
}

/// A value that stands for "not sent" when an attribute has no value at all.
static EMPTY: AnyValue = AnyValue { value: None };

impl<'a> Fields<'a> {
    /// Files every attribute; when a key is repeated the first one wins.
    pub fn new(attributes: &'a [KeyValue]) -> Fields<'a> {
        let mut slots = [None; Key::COUNT];
        let mut all = Vec::with_capacity(attributes.len());
        for kv in attributes {
            let value = kv.value.as_ref().unwrap_or(&EMPTY);
            let key = Key::of(&kv.key);
            if let Some(key) = key {
                slots[key as usize].get_or_insert(value);
            }
            all.push((kv.key.as_str(), key, value));
        }
        Fields { slots, all }
    }

    /// The value of a known key, if sent.
    pub fn get(&self, key: Key) -> Option<&'a AnyValue> {
        self.slots[key as usize]
    }

    /// The attributes a table has no column for, as text: unknown keys, and known keys `is_column` says no to.
    pub fn rest(&self, is_column: impl Fn(Key) -> bool) -> Vec<(String, String)> {
        self.all
            .iter()
            .filter(|(_, key, _)| !key.is_some_and(|k| k.is_common_column() || is_column(k)))
            .map(|(name, _, value)| (name.to_string(), super::attrs::to_text(value)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(Value::StringValue(value.into())) }) }
    }

    #[test]
    fn known_keys_are_filed_and_the_rest_kept() {
        let attributes = vec![kv("model", "m"), kv("workflow_id", "w"), kv("custom.thing", "x"), kv("model", "2")];
        let fields = Fields::new(&attributes);
        assert_eq!(super::super::attrs::to_text(fields.get(Key::Model).unwrap()), "m");
        assert!(fields.get(Key::Stage).is_none());
        // workflow_id is a common column; model is one here; the unknown key stays.
        assert_eq!(fields.rest(|k| k == Key::Model), vec![("custom.thing".to_string(), "x".to_string())]);
        assert_eq!(fields.rest(|_| false).len(), 3);
    }

    #[test]
    fn every_key_name_maps_back_to_itself() {
        assert_eq!(Key::of("agent.name"), Some(Key::AgentName));
        assert_eq!(Key::of("model_swapped"), Some(Key::ModelSwapped));
        assert_eq!(Key::of("nope"), None);
        assert!(Key::AgentId.is_common_column() && !Key::UserId.is_common_column());
    }
}
