//! The environment a workflow step runs in: Claude Code's telemetry settings from the config, plus the merged
//! OTEL_RESOURCE_ATTRIBUTES; and the three ways `tokenledger env` prints it (shell exports, JSON, dotenv).

use std::fmt::Write as _;

use crate::config::ClaudeTelemetryConfig;

use super::attributes::{AttributeError, Attributes};

/// The variable that carries the workflow attributes.
pub const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";

/// Variables to set, in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    /// (name, value) pairs.
    pub vars: Vec<(String, String)>,
}

/// How `tokenledger env` prints an [`Environment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `export NAME='value'` lines, for `eval "$(tokenledger env …)"`.
    Shell,
    /// One JSON object of strings, for the `env` block of Claude Code's settings.json.
    Json,
    /// `NAME=value` lines (single-quoted when needed), for `--env-file` and dotenv loaders.
    Dotenv,
}

/// A value dotenv cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} has a value with both a single quote and a line break or '$', which a dotenv file cannot hold")]
pub struct DotenvError(String);

impl Environment {
    /// The telemetry settings of `telemetry` and OTEL_RESOURCE_ATTRIBUTES: `attributes` merged with `inherited`
    /// (the caller's own OTEL_RESOURCE_ATTRIBUTES, whose other keys are kept). Left out when both are empty.
    pub fn build(
        telemetry: &ClaudeTelemetryConfig,
        attributes: &Attributes,
        inherited: Option<&str>,
    ) -> Result<Environment, AttributeError> {
        let mut vars: Vec<(&str, String)> = vec![
            ("CLAUDE_CODE_ENABLE_TELEMETRY", "1".into()),
            ("OTEL_LOGS_EXPORTER", telemetry.logs_exporter.clone()),
            ("OTEL_METRICS_EXPORTER", telemetry.metrics_exporter.clone()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", telemetry.protocol.as_str().into()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", telemetry.endpoint.clone()),
        ];
        if let Some(headers) = &telemetry.headers {
            vars.push(("OTEL_EXPORTER_OTLP_HEADERS", headers.clone()));
        }
        vars.extend([
            ("OTEL_LOGS_EXPORT_INTERVAL", telemetry.logs_export_interval_ms.to_string()),
            ("OTEL_METRIC_EXPORT_INTERVAL", telemetry.metric_export_interval_ms.to_string()),
            ("OTEL_LOG_TOOL_DETAILS", if telemetry.log_tool_details { "1" } else { "0" }.into()),
        ]);
        let resource = attributes.merge_with(inherited)?;
        if !resource.is_empty() {
            vars.push((RESOURCE_ATTRIBUTES, resource));
        }
        Ok(Environment { vars: vars.into_iter().map(|(name, value)| (name.to_string(), value)).collect() })
    }

    /// The text `tokenledger env` prints.
    pub fn render(&self, format: Format) -> Result<String, DotenvError> {
        let mut out = String::new();
        match format {
            Format::Shell => {
                for (name, value) in &self.vars {
                    let _ = writeln!(out, "export {name}={}", shell_quote(value));
                }
            }
            Format::Json => {
                let object: serde_json::Map<String, serde_json::Value> =
                    self.vars.iter().map(|(name, value)| (name.clone(), value.clone().into())).collect();
                out = serde_json::to_string_pretty(&object).unwrap_or_default();
                out.push('\n');
            }
            Format::Dotenv => {
                for (name, value) in &self.vars {
                    let _ = writeln!(out, "{name}={}", dotenv_value(name, value)?);
                }
            }
        }
        Ok(out)
    }
}

/// `value` as one POSIX shell word: single quotes, a `'` inside written as `'\''`.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// A dotenv value: bare when it has only safe characters, else single-quoted (read literally by docker compose,
/// python-dotenv and systemd), else double-quoted when it has a `'` but no line break or `$`.
fn dotenv_value(name: &str, value: &str) -> Result<String, DotenvError> {
    let bare = |c: char| c.is_ascii_alphanumeric() || "-._~/:%,=+@".contains(c);
    if !value.is_empty() && value.chars().all(bare) {
        Ok(value.to_string())
    } else if !value.contains(['\'', '\n']) {
        Ok(format!("'{value}'"))
    } else if !value.contains(['\n', '$']) {
        Ok(format!("\"{}\"", value.replace('\\', r"\\").replace('"', "\\\"")))
    } else {
        Err(DotenvError(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment() -> Environment {
        let mut attributes = Attributes::new();
        attributes.push("workflow_id", "wf 1").unwrap();
        Environment::build(&ClaudeTelemetryConfig::default(), &attributes, Some("team=a")).unwrap()
    }

    #[test]
    fn the_defaults_point_at_the_local_relay_and_name_custom_subagents() {
        let env = environment();
        let get = |name: &str| env.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(get("CLAUDE_CODE_ENABLE_TELEMETRY"), Some("1"));
        assert_eq!(get("OTEL_EXPORTER_OTLP_ENDPOINT"), Some("http://localhost:4317"));
        assert_eq!(get("OTEL_EXPORTER_OTLP_PROTOCOL"), Some("grpc"));
        assert_eq!(get("OTEL_LOG_TOOL_DETAILS"), Some("1"));
        assert_eq!(get("OTEL_EXPORTER_OTLP_HEADERS"), None, "left to the caller unless configured");
        assert_eq!(get(RESOURCE_ATTRIBUTES), Some("team=a,workflow_id=wf%201"));
        let bare = Environment::build(&ClaudeTelemetryConfig::default(), &Attributes::new(), None).unwrap();
        assert!(bare.vars.iter().all(|(n, _)| n != RESOURCE_ATTRIBUTES), "no empty OTEL_RESOURCE_ATTRIBUTES");
    }

    #[test]
    fn shell_quoting_survives_a_real_shell() {
        let value = "it's $HOME `id` \"q\" \\ ; & | \n end";
        let env = Environment { vars: vec![("V".into(), value.into())] };
        let script = format!("{}printf %s \"$V\"", env.render(Format::Shell).unwrap());
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), value);
    }

    #[test]
    fn json_and_dotenv() {
        let env = environment();
        let json: serde_json::Value = serde_json::from_str(&env.render(Format::Json).unwrap()).unwrap();
        assert_eq!(json["OTEL_RESOURCE_ATTRIBUTES"], "team=a,workflow_id=wf%201");
        assert_eq!(json.as_object().unwrap().len(), env.vars.len());
        let dotenv = env.render(Format::Dotenv).unwrap();
        assert!(dotenv.contains("OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317\n"), "{dotenv}");
        let quoted = Environment { vars: vec![("H".into(), "Authorization=Bearer a b".into())] };
        assert_eq!(quoted.render(Format::Dotenv).unwrap(), "H='Authorization=Bearer a b'\n");
        let both = Environment { vars: vec![("H".into(), "it's $x".into())] };
        assert_eq!(both.render(Format::Dotenv), Err(DotenvError("H".into())));
    }
}
