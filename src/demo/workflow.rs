//! A planned workflow played out as `claude` sessions: one run per stage started as `tokenledger run` starts it
//! (resource attributes workflow_id, workflow_path, complexity, stage, task_id, agent, model_expected), or one
//! orchestrating run (`--agent orchestrator`, no stage) whose custom subagents analyst, planner, implementer and
//! reviewer do the stages. Pure.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;

use super::otlp::s;
use super::plan::{Family, Mode, Stage, StagePlan, WorkflowPlan};
use super::random::Random;
use super::session::{Reply, Session, Subagent};
use super::usage::{self, Pricer, Usage};

/// A developer whose machine runs the workflow.
pub struct Developer {
    /// `user.id` (64 hex digits, as the CLI hashes it).
    pub user_id: String,
    /// `os.version` of the resource.
    pub os_version: &'static str,
}

/// Commands the Bash tool runs (the tool whose records, details included, the fixtures show).
const COMMANDS: [&str; 10] = [
    "cargo test -q",
    "cargo build",
    "git diff --stat",
    "git status --short",
    "rg -n TODO src",
    "ls src",
    "cat Cargo.toml",
    "cargo clippy -q",
    "make lint",
    "git log --oneline -5",
];

/// Natural milliseconds per request (its duration, tools, gaps), to fit a workflow into its span.
const MS_PER_REQUEST: f64 = 30_000.0;
/// Natural gap between two stage runs.
const STAGE_GAP_MS: (u64, u64) = (60_000, 300_000);

/// The sessions of one workflow, in time order.
pub fn play(
    plan: &WorkflowPlan,
    developer: &Developer,
    pricer: &Pricer,
    random: &mut Random,
) -> Vec<(ResourceLogs, ResourceMetrics)> {
    let requests: u32 = plan.stages.iter().map(|s| s.requests + 4).sum();
    let natural_ms = f64::from(requests) * MS_PER_REQUEST + plan.stages.len() as f64 * STAGE_GAP_MS.1 as f64;
    let span_ms = (plan.end_by_ns - plan.start_ns) as f64 / 1e6;
    let pace = (span_ms * 0.9 / natural_ms).min(1.0);
    let mut player = Player { plan, developer, pricer, pace };
    match plan.mode {
        Mode::Runs => {
            let mut start = plan.start_ns;
            let mut sessions = Vec::new();
            for stage in &plan.stages {
                let (session, end) = player.stage_run(stage, start, random);
                sessions.push(session);
                let gap = random.range_u64(STAGE_GAP_MS.0, STAGE_GAP_MS.1) as f64 * pace;
                start = end + (gap as i64) * 1_000_000;
            }
            sessions
        }
        Mode::Subagents => vec![player.orchestrated(random)],
    }
}

struct Player<'a> {
    plan: &'a WorkflowPlan,
    developer: &'a Developer,
    pricer: &'a Pricer,
    pace: f64,
}

impl Player<'_> {
    fn session(&self, workflow: Vec<KeyValue>, start_ns: i64, random: &mut Random) -> Session {
        Session::start(workflow, &self.developer.user_id, self.developer.os_version, start_ns, self.pace, random)
    }

    /// One stage as its own run; returns it and when it ended.
    fn stage_run(
        &mut self,
        stage: &StagePlan,
        start_ns: i64,
        random: &mut Random,
    ) -> ((ResourceLogs, ResourceMetrics), i64) {
        let name = stage.stage;
        let workflow = vec![
            s("workflow_id", self.plan.id.clone()),
            s("workflow_path", self.plan.path.name()),
            s("complexity", self.plan.complexity),
            s("stage", name.name()),
            s("task_id", format!("{}.{}-{}", self.plan.id, name.number(), name.name())),
            s("agent", name.agent()),
            s("model_expected", name.expected().alias()),
        ];
        let mut session = self.session(workflow, start_ns, random);
        // The analyst hands a look around the code to the built-in Explore subagent (on Haiku, as Claude Code runs
        // it): a subagent inside a staged run, which keeps the run's stage.
        let explore = (name == Stage::Analyze).then(|| {
            let usages = usage::natural(random.range_u32(2, 4), Family::Haiku, stage.cache_hit, self.pricer, random);
            let agent = Subagent { name: "Explore".to_string(), id: subagent_id(random), built_in: true };
            (agent, usages)
        });
        let explore_cost: f64 = explore.iter().flat_map(|(_, u)| u).map(|u| u.cost_usd).sum();
        let main = usage::costing(
            (stage.cost_usd - explore_cost).max(stage.cost_usd * 0.5),
            stage.requests,
            stage.family,
            stage.cache_hit,
            self.pricer,
            random,
        );
        let mut explore = explore;
        for (turn, usage) in main.iter().enumerate() {
            let last = turn + 1 == main.len();
            if turn == 1 {
                if let Some((agent, usages)) = explore.take() {
                    self.maybe_error(&mut session, usage, None, random);
                    let pending =
                        session.request(usage, None, Reply::Agent(agent.clone()), random).expect("agent call");
                    let tools = self.conversation(&mut session, &usages, Some(&agent), random);
                    session.agent_done(pending, usages.last().expect("a request"), tools, random);
                    continue;
                }
            }
            self.maybe_error(&mut session, usage, None, random);
            let reply = if last { Reply::Text } else { self.bash(random) };
            session.request(usage, None, reply, random);
        }
        let end = session.now_ns();
        (session.finish(), end)
    }

    /// All stages as subagents of one orchestrating run.
    fn orchestrated(&mut self, random: &mut Random) -> (ResourceLogs, ResourceMetrics) {
        let workflow = vec![
            s("workflow_id", self.plan.id.clone()),
            s("workflow_path", self.plan.path.name()),
            s("complexity", self.plan.complexity),
            s("agent", "orchestrator"),
        ];
        let mut session = self.session(workflow, self.plan.start_ns, random);
        let own = usage::natural(self.plan.stages.len() as u32 + 1, Family::Sonnet, 0.85, self.pricer, random);
        for (stage, usage) in self.plan.stages.iter().zip(&own) {
            let agent = Subagent { name: stage.stage.agent().to_string(), id: subagent_id(random), built_in: false };
            self.maybe_error(&mut session, usage, None, random);
            let pending = session.request(usage, None, Reply::Agent(agent.clone()), random).expect("agent call");
            let usages =
                usage::costing(stage.cost_usd, stage.requests, stage.family, stage.cache_hit, self.pricer, random);
            let tools = self.conversation(&mut session, &usages, Some(&agent), random);
            session.agent_done(pending, usages.last().expect("a request"), tools, random);
        }
        let last = own.last().expect("a request");
        session.request(last, None, Reply::Text, random);
        session.finish()
    }

    /// A subagent's conversation: Bash calls, then its answer. Returns its tool calls.
    fn conversation(
        &self,
        session: &mut Session,
        usages: &[Usage],
        agent: Option<&Subagent>,
        random: &mut Random,
    ) -> u64 {
        for (turn, usage) in usages.iter().enumerate() {
            self.maybe_error(session, usage, agent, random);
            let reply = if turn + 1 == usages.len() { Reply::Text } else { self.bash(random) };
            session.request(usage, agent, reply, random);
        }
        usages.len().saturating_sub(1) as u64
    }

    fn bash(&self, random: &mut Random) -> Reply {
        Reply::Bash { command: random.pick(&COMMANDS).to_string(), failed: random.chance(self.plan.tool_failure_rate) }
    }

    fn maybe_error(&self, session: &mut Session, usage: &Usage, agent: Option<&Subagent>, random: &mut Random) {
        if random.chance(self.plan.api_error_rate) {
            session.api_error(usage, agent, random);
        }
    }
}

/// `a` and 16 hex digits, as the CLI names a subagent run.
fn subagent_id(random: &mut Random) -> String {
    format!("a{}", random.hex(16))
}
