//! A stage task's figures as a Beads comment (Markdown), and the marker that lets the next `beads post` see what
//! was posted. Pure.
//!
//! The comment ends with `<!-- tokenledger:task-metrics task=ID figures=HASH -->`: an HTML comment, invisible
//! when Markdown is rendered, whose hash (XXH3-64) covers exactly the figures the comment shows. Beads keeps
//! it with the comment, so whoever runs `beads post` next, on any machine, reads it back with
//! `bd comments ID --json` and posts again only if the figures changed.

use serde::Serialize;

use crate::ledger::human;

/// The marker's opening; nothing else tokenledger writes starts like this.
pub const MARKER: &str = "<!-- tokenledger:task-metrics ";

/// One stage task's figures: its api_request events, summed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TaskFigures {
    /// The Beads task.
    pub task_id: String,
    /// Its workflow.
    pub workflow_id: String,
    /// The stages its events carry, in workflow order.
    pub stages: Vec<String>,
    /// API requests.
    pub requests: u64,
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Tokens read from the prompt cache.
    pub cache_read_tokens: u64,
    /// Tokens written to the prompt cache.
    pub cache_creation_tokens: u64,
    /// Sum of Claude Code's `cost_usd`.
    pub cost_usd: f64,
    /// Sum of request durations (ms).
    pub duration_ms: u64,
    /// First request (ns since the epoch).
    pub first_ns: i64,
    /// Last request (ns since the epoch).
    pub last_ns: i64,
    /// Models used, sorted.
    pub models: Vec<String>,
}

impl TaskFigures {
    /// cache_read / (input + cache_read + cache_creation): the share of prompt tokens served from the cache.
    pub fn cache_hit_rate(&self) -> Option<f64> {
        let prompt = self.input_tokens + self.cache_read_tokens + self.cache_creation_tokens;
        (prompt > 0).then(|| self.cache_read_tokens as f64 / prompt as f64)
    }

    /// The figures table the comment shows (and its hash covers).
    pub fn table(&self) -> String {
        let wall_ms = u64::try_from((self.last_ns - self.first_ns) / 1_000_000).unwrap_or(0);
        let rows = [
            ("requests", human::count(self.requests)),
            ("input tokens", human::count(self.input_tokens)),
            ("output tokens", human::count(self.output_tokens)),
            ("cache read tokens", human::count(self.cache_read_tokens)),
            ("cache creation tokens", human::count(self.cache_creation_tokens)),
            ("cache hit rate", human::percent(self.cache_hit_rate())),
            ("cost (Claude Code's cost_usd)", format!("${:.6}", self.cost_usd)),
            ("models", self.models.join(", ")),
            ("first → last request", human::duration_ms(wall_ms)),
            ("time in requests", human::duration_ms(self.duration_ms)),
        ];
        let mut table = String::from("| figure | value |\n|---|---:|\n");
        for (name, value) in rows {
            table.push_str(&format!("| {name} | {value} |\n"));
        }
        table
    }

    /// The hash of [`TaskFigures::table`], as the marker carries it.
    pub fn figures_hash(&self) -> String {
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(self.table().as_bytes()))
    }

    /// The comment text; `update` says it replaces an earlier tokenledger comment whose figures differ.
    pub fn comment(&self, update: bool) -> String {
        let stages = if self.stages.is_empty() { "no stage".to_string() } else { self.stages.join(", ") };
        let heading = if update { " (updated: the figures changed since the last comment)" } else { "" };
        format!(
            "## Token usage: {stages}{heading}\n\n{table}\nWorkflow `{workflow}`, task `{task}`: Claude Code's \
             OpenTelemetry api_request events, summed by tokenledger.\n{MARKER}task={task} figures={hash} -->",
            table = self.table(),
            workflow = self.workflow_id,
            task = self.task_id,
            hash = self.figures_hash(),
        )
    }
}

/// The figures hash of the last tokenledger comment for `task_id` among a task's comment texts (oldest first).
pub fn last_posted_hash<'a>(texts: impl IntoIterator<Item = &'a str>, task_id: &str) -> Option<String> {
    texts.into_iter().filter_map(|text| marker_of(text, task_id)).last()
}

fn marker_of(text: &str, task_id: &str) -> Option<String> {
    let start = text.rfind(MARKER)? + MARKER.len();
    let body = &text[start..];
    let body = &body[..body.find("-->")?];
    let mut task = None;
    let mut hash = None;
    for field in body.split_whitespace() {
        if let Some(value) = field.strip_prefix("task=") {
            task = Some(value);
        } else if let Some(value) = field.strip_prefix("figures=") {
            hash = Some(value.to_string());
        }
    }
    (task == Some(task_id)).then_some(hash).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures() -> TaskFigures {
        TaskFigures {
            task_id: ".claude-4nq.1-analyze".into(),
            workflow_id: ".claude-4nq".into(),
            stages: vec!["analyze".into()],
            requests: 2,
            input_tokens: 2400,
            output_tokens: 65,
            cache_read_tokens: 10_000,
            cache_creation_tokens: 600,
            cost_usd: 0.022375,
            duration_ms: 30,
            first_ns: 1_000_000_000,
            last_ns: 4_500_000_000,
            models: vec!["claude-opus-4-5-20251101".into()],
        }
    }

    #[test]
    fn the_comment_shows_the_figures_and_ends_in_its_marker() {
        let text = figures().comment(false);
        for expected in
            ["| input tokens | 2,400 |", "| cost (Claude Code's cost_usd) | $0.022375 |", "| cache hit rate | 76.9 % |"]
        {
            assert!(text.contains(expected), "{expected} in\n{text}");
        }
        assert_eq!(last_posted_hash([text.as_str()], ".claude-4nq.1-analyze"), Some(figures().figures_hash()));
        assert_eq!(last_posted_hash([text.as_str()], ".claude-4nq.2-plan"), None, "another task's marker");
    }

    #[test]
    fn the_hash_follows_the_figures_and_the_last_marker_counts() {
        let mut changed = figures();
        changed.output_tokens += 1;
        assert_ne!(changed.figures_hash(), figures().figures_hash());
        let (first, second) = (figures().comment(false), changed.comment(true));
        let texts = ["hand-written note", first.as_str(), second.as_str()];
        assert_eq!(last_posted_hash(texts, ".claude-4nq.1-analyze"), Some(changed.figures_hash()));
    }
}
