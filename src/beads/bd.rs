//! Running Beads' `bd`: `bd comments ID --json` to read a task's comments, `bd comment ID TEXT` to add one.
//! The program and any leading arguments come from `[beads]` in the config. Arguments are passed as they are,
//! never through a shell, so a comment's text needs no quoting.

use std::process::{Command, Output};

use super::BeadsError;
use crate::config::BeadsConfig;

/// The configured `bd`.
#[derive(Debug, Clone)]
pub struct Bd {
    command: String,
    args: Vec<String>,
}

impl Bd {
    /// `bd` as `[beads]` says.
    pub fn new(config: &BeadsConfig) -> Bd {
        Bd { command: config.command.clone(), args: config.args.clone() }
    }

    /// The texts of a task's comments, oldest first, from `bd comments ID --json`. Reads the whole output as one
    /// JSON document (bd pretty-prints it over many lines): an array of comments, or `{"data": [...]}` when
    /// `BD_JSON_ENVELOPE=1`.
    pub fn comment_texts(&self, id: &str) -> Result<Vec<String>, BeadsError> {
        let args = ["comments", id, "--json"];
        let output = self.run(&args)?;
        let bad = |reason: String| BeadsError::Output { command: self.shown(&args), reason };
        let value: serde_json::Value =
            serde_json::from_slice(&output.stdout).map_err(|e| bad(format!("not JSON: {e}")))?;
        let comments = match &value {
            serde_json::Value::Array(items) => items,
            serde_json::Value::Object(envelope) => envelope
                .get("data")
                .and_then(|data| data.as_array())
                .ok_or_else(|| bad("an object without a \"data\" array".into()))?,
            _ => return Err(bad("neither an array nor an object".into())),
        };
        comments
            .iter()
            .map(|comment| {
                comment
                    .get("text")
                    .and_then(|text| text.as_str())
                    .map(str::to_string)
                    .ok_or_else(|| bad("a comment without \"text\"".into()))
            })
            .collect()
    }

    /// Adds a comment to a task: `bd comment ID TEXT`.
    pub fn add_comment(&self, id: &str, text: &str) -> Result<(), BeadsError> {
        self.run(&["comment", id, text]).map(|_| ())
    }

    fn run(&self, args: &[&str]) -> Result<Output, BeadsError> {
        let output = Command::new(&self.command)
            .args(&self.args)
            .args(args)
            .output()
            .map_err(|source| BeadsError::Spawn { command: self.command.clone(), source })?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(BeadsError::Command {
                command: self.shown(&args[..args.len().min(2)]),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            })
        }
    }

    fn shown(&self, args: &[&str]) -> String {
        let mut words = vec![self.command.as_str()];
        words.extend(self.args.iter().map(String::as_str));
        words.extend(args);
        words.join(" ")
    }
}
