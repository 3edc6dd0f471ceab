//! Claude Code's settings files may set environment variables in their `env` block, and Claude Code applies those
//! over the environment it was started with (seen with 2.1.331: an OTEL_RESOURCE_ATTRIBUTES in ~/.claude/settings.json
//! replaced the whole one it was given). This finds the variables `run` sets that such a block would override, so
//! `run` can warn instead of the step silently landing under other attributes.

use std::path::{Path, PathBuf};

/// A variable a settings file sets to something else than `run` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The settings file.
    pub file: PathBuf,
    /// The variable.
    pub name: String,
}

/// The settings files Claude Code reads for a run started in `cwd`: the user's (`$CLAUDE_CONFIG_DIR` or
/// `~/.claude`) and the project's (`.claude/settings.json`, `.claude/settings.local.json`).
pub fn settings_files(config_dir: Option<PathBuf>, home: Option<PathBuf>, cwd: &Path) -> Vec<PathBuf> {
    let user = config_dir.or_else(|| home.map(|home| home.join(".claude")));
    let mut files: Vec<PathBuf> = user.map(|dir| dir.join("settings.json")).into_iter().collect();
    files.push(cwd.join(".claude/settings.json"));
    files.push(cwd.join(".claude/settings.local.json"));
    files
}

/// The settings files of this process's environment and working directory.
pub fn settings_files_here() -> Vec<PathBuf> {
    let cwd = std::env::current_dir().unwrap_or_default();
    settings_files(std::env::var_os("CLAUDE_CONFIG_DIR").map(PathBuf::from), std::env::home_dir(), &cwd)
}

/// The `vars` that one of `files` (those that exist and parse) sets to a different value in its `env` block.
pub fn conflicts(files: &[PathBuf], vars: &[(String, String)]) -> Vec<Conflict> {
    let mut found = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        let Ok(settings) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        let Some(env) = settings.get("env").and_then(|env| env.as_object()) else { continue };
        for (name, value) in vars {
            if env.get(name).is_some_and(|set| set.as_str() != Some(value.as_str())) {
                found.push(Conflict { file: file.clone(), name: name.clone() });
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_variables_a_settings_env_block_would_override() {
        let dir = tempfile::tempdir().unwrap();
        let (user, project) = (dir.path().join("home/.claude"), dir.path().join("project"));
        std::fs::create_dir_all(&user).unwrap();
        std::fs::create_dir_all(project.join(".claude")).unwrap();
        std::fs::write(user.join("settings.json"), r#"{"env": {"OTEL_RESOURCE_ATTRIBUTES": "stage=x"}}"#).unwrap();
        let same = r#"{"env": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4317", "OTHER": "1"}}"#;
        std::fs::write(project.join(".claude/settings.json"), same).unwrap();
        std::fs::write(project.join(".claude/settings.local.json"), "not json").unwrap();

        let files = settings_files(None, Some(dir.path().join("home")), &project);
        assert_eq!(files[0], user.join("settings.json"));
        let vars = [
            ("OTEL_RESOURCE_ATTRIBUTES".to_string(), "stage=plan".to_string()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT".to_string(), "http://localhost:4317".to_string()),
        ];
        let found = conflicts(&files, &vars);
        assert_eq!(
            found,
            [Conflict { file: user.join("settings.json"), name: "OTEL_RESOURCE_ATTRIBUTES".into() }],
            "a different value conflicts; the same value, other variables and unreadable files do not"
        );
        let configured = settings_files(Some(dir.path().join("cfg")), Some(dir.path().join("home")), &project);
        assert_eq!(configured[0], dir.path().join("cfg/settings.json"), "CLAUDE_CONFIG_DIR wins over HOME");
    }
}
