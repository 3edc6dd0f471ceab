//! One pass over a record's attributes that files each known key into its slot and keeps the rest aside.
//!
//! Every table reads its columns from the slots; the attributes it has no column for go to its `attributes` Map,
//! so nothing Claude Code sends is lost, known or not.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

use super::attrs::to_text;

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

/// A record's attributes, filed by key. Owns them, so values can be moved into rows instead of copied.
pub struct Fields {
    attributes: Vec<KeyValue>,
    /// The key each attribute is known as, parallel to `attributes`.
    keys: Vec<Option<Key>>,
    /// Index + 1 into `attributes` of each key's first occurrence; 0 when absent.
    slots: [u16; Key::COUNT],
}

impl Fields {
    /// Files every attribute; when a key is repeated the first one wins.
    pub fn new(attributes: Vec<KeyValue>) -> Fields {
        let mut slots = [0u16; Key::COUNT];
        let mut keys = Vec::with_capacity(attributes.len());
        for (index, kv) in attributes.iter().enumerate() {
            let key = Key::of(&kv.key);
            if let (Some(key), Ok(position)) = (key, u16::try_from(index + 1)) {
                if slots[key as usize] == 0 {
                    slots[key as usize] = position;
                }
            }
            keys.push(key);
        }
        Fields { attributes, keys, slots }
    }

    /// The value of a known key, if sent.
    pub fn get(&self, key: Key) -> Option<&AnyValue> {
        match self.slots[key as usize] {
            0 => None,
            position => Some(self.attributes[position as usize - 1].value.as_ref().unwrap_or(&EMPTY)),
        }
    }

    /// Moves a common column's text out (it is never in a Map, so nothing needs it afterwards).
    pub fn take_text(&mut self, key: Key) -> Option<String> {
        debug_assert!(key.is_common_column());
        match self.slots[key as usize] {
            0 => None,
            position => {
                let value = self.attributes[position as usize - 1].value.take()?;
                Some(match value.value {
                    Some(Value::StringValue(s)) => s,
                    _ => to_text(&value),
                })
            }
        }
    }

    /// Copies of the attributes a typed table has no column for: unknown keys, and known keys `is_column` says
    /// no to. Common columns are never included.
    pub fn rest(&self, is_column: impl Fn(Key) -> bool) -> Vec<(String, String)> {
        self.attributes
            .iter()
            .zip(&self.keys)
            .filter(|(_, key)| !key.is_some_and(|k| k.is_common_column() || is_column(k)))
            .map(|(kv, _)| (kv.key.clone(), kv.value.as_ref().map(to_text).unwrap_or_default()))
            .collect()
    }

    /// The attributes without a column: all but the common columns and those `is_column` names, moved out as
    /// text (for `otel_events`).
    pub fn into_rest(self, is_column: impl Fn(Key) -> bool) -> Vec<(String, String)> {
        let kept = |key: &Option<Key>| !key.is_some_and(|k| k.is_common_column() || is_column(k));
        // Sized exactly: these Maps wait in memory until their INSERT is sent, so no growth slack.
        let mut rest = Vec::with_capacity(self.keys.iter().filter(|key| kept(key)).count());
        let kept_attributes = self.attributes.into_iter().zip(self.keys).filter(|(_, key)| kept(key));
        rest.extend(kept_attributes.map(|(kv, _)| {
            let text = match kv.value {
                Some(AnyValue { value: Some(Value::StringValue(s)) }) => s,
                Some(other) => to_text(&other),
                None => String::new(),
            };
            (kv.key, text)
        }));
        rest
    }

    /// Every attribute, in order (for hashing).
    pub fn attributes(&self) -> &[KeyValue] {
        &self.attributes
    }
}

/// A value that stands for "not sent" when an attribute has no value at all.
static EMPTY: AnyValue = AnyValue { value: None };

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue { key: key.into(), value: Some(AnyValue { value: Some(Value::StringValue(value.into())) }) }
    }

    #[test]
    fn known_keys_are_filed_and_the_rest_kept() {
        let attributes = vec![kv("model", "m"), kv("workflow_id", "w"), kv("custom.thing", "x"), kv("model", "2")];
        let mut fields = Fields::new(attributes);
        assert_eq!(to_text(fields.get(Key::Model).unwrap()), "m");
        assert!(fields.get(Key::Stage).is_none());
        // workflow_id is a common column; model is one here; the unknown key stays.
        assert_eq!(fields.rest(|k| k == Key::Model), vec![("custom.thing".to_string(), "x".to_string())]);
        assert_eq!(fields.rest(|_| false).len(), 3);
        assert_eq!(fields.take_text(Key::WorkflowId).as_deref(), Some("w"));
        assert_eq!(fields.take_text(Key::WorkflowId), None, "moved out");
        let rest: Vec<_> = fields.into_rest(|_| false).into_iter().map(|(k, _)| k).collect();
        assert_eq!(rest, ["model", "custom.thing", "model"]);
    }

    #[test]
    fn every_key_name_maps_back_to_itself() {
        assert_eq!(Key::of("agent.name"), Some(Key::AgentName));
        assert_eq!(Key::of("model_swapped"), Some(Key::ModelSwapped));
        assert_eq!(Key::of("nope"), None);
        assert!(Key::AgentId.is_common_column() && !Key::UserId.is_common_column());
    }
}
