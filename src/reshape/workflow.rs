//! Which workflow, stage and agent a record belongs to: the heart of the product.
//!
//! Claude Code copies OTEL_RESOURCE_ATTRIBUTES onto every record as well as onto the resource, so the record is
//! read first and the resource only fills what the record lacks (a collector may have stripped the copies).
//! A running `claude` cannot change its resource, so subagents inside one run are told apart by the `agent.name`
//! Claude Code puts on their records, and a stage can be derived from the agent through the configured map.

use std::collections::BTreeMap;

use super::attrs::to_text;
use super::fields::{Fields, Key};

/// The workflow columns every table carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workflow {
    /// `workflow_id`, else Claude Code's own `workflow.run_id`, else empty.
    pub workflow_id: String,
    /// `workflow_path` (e.g. full | fast).
    pub workflow_path: String,
    /// `complexity`.
    pub complexity: String,
    /// A subagent's mapped stage (through [`StageMap`]), else `stage`, else the agent mapped, else empty.
    pub stage: String,
    /// `task_id` (a Beads issue id).
    pub task_id: String,
    /// `agent.name` (a subagent's request), else `agent`.
    pub agent: String,
    /// `model_expected`.
    pub model_expected: String,
}

/// Agent name → stage, from the `[stages]` config table.
#[derive(Debug, Clone, Default)]
pub struct StageMap(BTreeMap<String, String>);

impl StageMap {
    /// Wraps the configured map.
    pub fn new(map: BTreeMap<String, String>) -> StageMap {
        StageMap(map)
    }

    fn stage_of(&self, agent: &str) -> Option<&str> {
        self.0.get(agent).map(String::as_str)
    }
}

/// Attributes the workflow of one record from its own attributes, then its resource's. `subagent` is the name
/// learnt for the record's `agent_id` when the record itself has no `agent.name`. The record's workflow
/// attributes are moved out (they are columns, never Map entries).
pub fn attribute(record: &mut Fields, resource: &Fields, stages: &StageMap, subagent: Option<String>) -> Workflow {
    let non_empty = |value: Option<String>| value.filter(|s| !s.is_empty());
    let from_resource = |key: Key| non_empty(resource.get(key).map(to_text));
    // agent.name and workflow.run_id stay in the Maps, so they are read, not moved.
    let agent_name = non_empty(record.get(Key::AgentName).map(to_text)).or(non_empty(subagent));
    let run_id = non_empty(record.get(Key::WorkflowRunId).map(to_text)).or_else(|| from_resource(Key::WorkflowRunId));
    let mut text = |key: Key| non_empty(record.take_text(key)).or_else(|| from_resource(key));
    let agent_attribute = text(Key::Agent);
    let stage_attribute = text(Key::Stage);
    // A subagent's record carries the `stage` of the run that spawned it (Claude Code copies the parent's
    // resource attributes onto every record), so a subagent whose name is mapped takes its own stage; for the
    // run's own records the explicit attribute wins over the map.
    let subagent_stage = agent_name.as_deref().and_then(|name| stages.stage_of(name)).map(str::to_string);
    let agent = agent_name.or(agent_attribute).unwrap_or_default();
    let stage =
        subagent_stage.or(stage_attribute).or_else(|| stages.stage_of(&agent).map(str::to_string)).unwrap_or_default();
    Workflow {
        workflow_id: text(Key::WorkflowId).or(run_id).unwrap_or_default(),
        workflow_path: text(Key::WorkflowPath).unwrap_or_default(),
        complexity: text(Key::Complexity).unwrap_or_default(),
        stage,
        task_id: text(Key::TaskId).unwrap_or_default(),
        agent,
        model_expected: text(Key::ModelExpected).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};

    fn attrs(pairs: &[(&str, &str)]) -> Vec<KeyValue> {
        pairs
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.to_string(),
                value: Some(AnyValue { value: Some(Value::StringValue(v.to_string())) }),
            })
            .collect()
    }

    fn default_stages() -> StageMap {
        StageMap::new(crate::config::Config::default().stages)
    }

    fn run(record: &[(&str, &str)], resource: &[(&str, &str)]) -> Workflow {
        attribute(&mut Fields::new(attrs(record)), &Fields::new(attrs(resource)), &default_stages(), None)
    }

    #[test]
    fn the_record_wins_over_the_resource() {
        let w = run(&[("workflow_id", "rec"), ("stage", "plan")], &[("workflow_id", "res"), ("stage", "review")]);
        assert_eq!((w.workflow_id.as_str(), w.stage.as_str()), ("rec", "plan"));
    }

    #[test]
    fn the_resource_fills_what_the_record_lacks() {
        let w = run(&[], &[("workflow_id", "res"), ("task_id", "t.1")]);
        assert_eq!((w.workflow_id.as_str(), w.task_id.as_str()), ("res", "t.1"));
    }

    #[test]
    fn workflow_run_id_stands_in_for_a_missing_workflow_id() {
        assert_eq!(run(&[("workflow.run_id", "run-9")], &[]).workflow_id, "run-9");
        assert_eq!(run(&[("workflow.run_id", "run-9")], &[("workflow_id", "w")]).workflow_id, "w");
        assert_eq!(run(&[], &[]).workflow_id, "");
    }

    #[test]
    fn a_subagent_is_named_by_agent_name_and_staged_through_the_map() {
        let w = run(&[("agent.name", "reviewer"), ("agent", "master")], &[("agent", "master")]);
        assert_eq!((w.agent.as_str(), w.stage.as_str()), ("reviewer", "review"));
    }

    #[test]
    fn a_subagent_known_by_its_id_is_credited_like_one_named_on_the_record() {
        let (record, resource) = (attrs(&[("agent_id", "a1")]), attrs(&[("agent", "master")]));
        let w = attribute(&mut Fields::new(record), &Fields::new(resource), &default_stages(), Some("reviewer".into()));
        assert_eq!((w.agent.as_str(), w.stage.as_str()), ("reviewer", "review"));
    }

    #[test]
    fn a_mapped_subagent_takes_its_own_stage_over_the_one_inherited_from_its_parent_run() {
        // issue 8: a parent run started with stage=implement spawns `reviewer`.
        let inherited = [("stage", "implement"), ("agent", "implementer")];
        let named = run(&[&[("agent.name", "reviewer")][..], &inherited[..]].concat(), &inherited);
        assert_eq!((named.agent.as_str(), named.stage.as_str()), ("reviewer", "review"));
        let (record, resource) = (attrs(&[&[("agent_id", "a1")][..], &inherited[..]].concat()), attrs(&inherited));
        let by_id =
            attribute(&mut Fields::new(record), &Fields::new(resource), &default_stages(), Some("reviewer".into()));
        assert_eq!((by_id.agent.as_str(), by_id.stage.as_str()), ("reviewer", "review"));
        // Not in the map: the inherited stage stays.
        let unmapped = run(&[&[("agent.name", "general-purpose")][..], &inherited[..]].concat(), &inherited);
        assert_eq!((unmapped.agent.as_str(), unmapped.stage.as_str()), ("general-purpose", "implement"));
        // The parent's own records keep their explicit stage.
        assert_eq!(run(&inherited, &inherited).stage, "implement");
    }

    #[test]
    fn an_explicit_stage_beats_the_map_and_unknown_agents_get_none() {
        assert_eq!(run(&[("agent", "analyst"), ("stage", "plan")], &[]).stage, "plan");
        assert_eq!(run(&[("agent.name", "general-purpose")], &[]).stage, "");
        assert_eq!(run(&[("agent", "planner")], &[]).stage, "plan");
    }
}
