//! Subagent names by `agent_id`, learnt from the records that carry both.
//!
//! Claude Code puts `agent.name` on a subagent's api_request and assistant_response events, but its other events
//! (tool_decision, tool_result, subagent_completed) carry only `agent_id`. Remembering the pairs lets those events
//! be credited to the subagent too. The memory is bounded: the oldest pairs are forgotten first.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::limits::MAX_WORKFLOW_VALUE_BYTES;

/// agent_id → agent name, shared by all requests.
#[derive(Default)]
pub struct AgentDirectory {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    names: HashMap<String, String>,
    order: VecDeque<String>,
}

impl AgentDirectory {
    /// How many agent ids are remembered.
    pub const CAPACITY: usize = 10_000;

    /// An empty directory.
    pub fn new() -> AgentDirectory {
        AgentDirectory::default()
    }

    /// Remembers that `agent_id` is `name`; a name already known for the id is kept. An id or a name over
    /// [`MAX_WORKFLOW_VALUE_BYTES`] is not learnt: the name would become a label, and the memory stays bounded.
    pub fn learn(&self, agent_id: &str, name: &str) {
        let fits = |text: &str| !text.is_empty() && text.len() <= MAX_WORKFLOW_VALUE_BYTES;
        if !fits(agent_id) || !fits(name) {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if inner.names.contains_key(agent_id) {
            return;
        }
        if inner.order.len() >= Self::CAPACITY {
            if let Some(oldest) = inner.order.pop_front() {
                inner.names.remove(&oldest);
            }
        }
        inner.names.insert(agent_id.to_string(), name.to_string());
        inner.order.push_back(agent_id.to_string());
    }

    /// The name learnt for `agent_id`.
    pub fn name_of(&self, agent_id: &str) -> Option<String> {
        let inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.names.get(agent_id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_name_learnt_is_kept_and_memory_is_bounded() {
        let directory = AgentDirectory::new();
        directory.learn("a1", "reviewer");
        directory.learn("a1", "custom");
        assert_eq!(directory.name_of("a1").as_deref(), Some("reviewer"));
        for i in 0..AgentDirectory::CAPACITY {
            directory.learn(&format!("x{i}"), "n");
        }
        assert_eq!(directory.name_of("a1"), None, "the oldest id is forgotten");
        assert_eq!(directory.name_of(&format!("x{}", AgentDirectory::CAPACITY - 1)).as_deref(), Some("n"));
    }

    #[test]
    fn an_over_long_subagent_name_or_id_is_not_learnt() {
        // issue 8: a name learnt here becomes the `agent` label of the subagent's other records.
        let directory = AgentDirectory::new();
        directory.learn("a1", &"n".repeat(MAX_WORKFLOW_VALUE_BYTES + 1));
        directory.learn(&"i".repeat(MAX_WORKFLOW_VALUE_BYTES + 1), "reviewer");
        directory.learn("a2", &"n".repeat(MAX_WORKFLOW_VALUE_BYTES));
        assert_eq!(directory.name_of("a1"), None);
        assert_eq!(directory.name_of(&"i".repeat(MAX_WORKFLOW_VALUE_BYTES + 1)), None);
        assert_eq!(directory.name_of("a2").map(|n| n.len()), Some(MAX_WORKFLOW_VALUE_BYTES), "at the bound");
    }
}
