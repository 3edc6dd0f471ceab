//! `beads post`: which stage task gets which figures, and whether Beads needs a new comment.
//!
//! An event group belongs to the task named by its `task_id`. Events without one (or with the workflow's own
//! id, as an orchestrating run started for the whole epic has) belong to the workflow's Beads task of their
//! stage, found by the `EPIC.N-STAGE` id convention among the imported issues; without such a task they are
//! listed as unassigned, never guessed. This replaces the assessment script's `STAGE_NUM` map (never defined).

use super::bd::Bd;
use super::comment::{last_posted_hash, TaskFigures};
use super::jsonl::stage_of_task_id;
use super::BeadsError;
use crate::ledger::beads::{TaskStageFigures, WorkflowTask};
use crate::ledger::human::{self, STAGE_ORDER};

/// Tasks with their figures, and the groups no task could be found for.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Assignment {
    /// One entry per stage task, in workflow order.
    pub tasks: Vec<TaskFigures>,
    /// Groups with no task (no task_id, and no imported Beads task of their stage).
    pub unassigned: Vec<TaskStageFigures>,
}

/// What happened to one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// First comment posted.
    Posted,
    /// Figures changed since the last tokenledger comment: a new comment posted.
    Updated,
    /// The last tokenledger comment has these figures: nothing posted.
    Unchanged,
    /// `--dry-run`: this comment would be posted (first or update).
    WouldPost {
        /// Whether it would be an update.
        update: bool,
    },
    /// bd failed for this task.
    Failed(String),
}

fn stage_rank(stage: &str) -> usize {
    STAGE_ORDER.iter().position(|s| *s == stage).unwrap_or(STAGE_ORDER.len())
}

/// Groups a workflow's (task, stage) figures by stage task.
pub fn assign(workflow_id: &str, groups: &[TaskStageFigures], beads_tasks: &[WorkflowTask]) -> Assignment {
    let mut assignment = Assignment::default();
    for group in groups {
        let task_id = if !group.task_id.is_empty() && group.task_id != workflow_id {
            Some(group.task_id.clone())
        } else if group.stage.is_empty() {
            None
        } else {
            let mut of_stage = beads_tasks.iter().filter(|task| stage_of_task_id(&task.id) == Some(&group.stage));
            match (of_stage.next(), of_stage.next()) {
                (Some(task), None) => Some(task.id.clone()),
                _ => None,
            }
        };
        let Some(task_id) = task_id else {
            assignment.unassigned.push(group.clone());
            continue;
        };
        let index = match assignment.tasks.iter().position(|t| t.task_id == task_id) {
            Some(index) => index,
            None => {
                assignment.tasks.push(TaskFigures {
                    task_id,
                    workflow_id: workflow_id.to_string(),
                    first_ns: i64::MAX,
                    last_ns: i64::MIN,
                    ..TaskFigures::default()
                });
                assignment.tasks.len() - 1
            }
        };
        absorb(&mut assignment.tasks[index], group);
    }
    for task in &mut assignment.tasks {
        human::sort_stages(&mut task.stages);
        task.models.sort();
        task.models.dedup();
    }
    let first_stage = |task: &TaskFigures| task.stages.first().map_or(usize::MAX, |s| stage_rank(s));
    assignment.tasks.sort_by(|a, b| (first_stage(a), &a.task_id).cmp(&(first_stage(b), &b.task_id)));
    assignment
}

fn absorb(task: &mut TaskFigures, group: &TaskStageFigures) {
    if !group.stage.is_empty() && !task.stages.contains(&group.stage) {
        task.stages.push(group.stage.clone());
    }
    task.requests += group.requests;
    task.input_tokens += group.input_tokens;
    task.output_tokens += group.output_tokens;
    task.cache_read_tokens += group.cache_read_tokens;
    task.cache_creation_tokens += group.cache_creation_tokens;
    task.cost_usd += group.cost_usd;
    task.duration_ms += group.duration_ms;
    task.first_ns = task.first_ns.min(group.first_ns);
    task.last_ns = task.last_ns.max(group.last_ns);
    task.models.extend(group.models.iter().cloned());
}

/// For each task: reads its comments, and posts the figures unless its last tokenledger comment has them.
/// A failure for one task is recorded and the others go on; a `bd` that cannot be started at all stops here.
pub fn post(bd: &Bd, tasks: &[TaskFigures], dry_run: bool) -> Result<Vec<Outcome>, BeadsError> {
    let mut outcomes = Vec::with_capacity(tasks.len());
    for task in tasks {
        match post_one(bd, task, dry_run) {
            Ok(outcome) => outcomes.push(outcome),
            Err(error @ BeadsError::Spawn { .. }) => return Err(error),
            Err(error) => outcomes.push(Outcome::Failed(error.to_string())),
        }
    }
    Ok(outcomes)
}

fn post_one(bd: &Bd, task: &TaskFigures, dry_run: bool) -> Result<Outcome, BeadsError> {
    let texts = bd.comment_texts(&task.task_id)?;
    let update = match last_posted_hash(texts.iter().map(String::as_str), &task.task_id) {
        Some(hash) if hash == task.figures_hash() => return Ok(Outcome::Unchanged),
        Some(_) => true,
        None => false,
    };
    if dry_run {
        return Ok(Outcome::WouldPost { update });
    }
    bd.add_comment(&task.task_id, &task.comment(update))?;
    Ok(if update { Outcome::Updated } else { Outcome::Posted })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(task_id: &str, stage: &str, cost_usd: f64) -> TaskStageFigures {
        TaskStageFigures {
            task_id: task_id.into(),
            stage: stage.into(),
            requests: 1,
            input_tokens: 100,
            output_tokens: 10,
            cache_read_tokens: 0,
            cache_creation_tokens: 0,
            cost_usd,
            duration_ms: 5,
            first_ns: 10,
            last_ns: 20,
            models: vec!["m".into()],
        }
    }

    fn beads_task(id: &str) -> WorkflowTask {
        WorkflowTask { id: id.into(), title: id.into(), status: "open".into() }
    }

    #[test]
    fn events_without_a_task_go_to_the_beads_task_of_their_stage() {
        let groups = [
            group("wf.4-review", "review", 1.0),
            group("", "plan", 2.0),
            group("wf", "analyze", 3.0),
            group("wf.1-analyze", "analyze", 4.0),
            group("", "", 5.0),
            group("", "deploy", 6.0),
        ];
        let tasks = [beads_task("wf.1-analyze"), beads_task("wf.2-plan"), beads_task("wf.4-review")];
        let assignment = assign("wf", &groups, &tasks);
        let got: Vec<_> = assignment.tasks.iter().map(|t| (t.task_id.as_str(), t.cost_usd, t.requests)).collect();
        assert_eq!(got, [("wf.1-analyze", 7.0, 2), ("wf.2-plan", 2.0, 1), ("wf.4-review", 1.0, 1)]);
        let left: Vec<_> = assignment.unassigned.iter().map(|g| g.cost_usd).collect();
        assert_eq!(left, [5.0, 6.0]);
    }
}
