//! The real Claude Code payloads in tests/fixtures/.

use std::path::PathBuf;

/// The captured runs (one folder each).
pub const FIXTURE_RUNS: [&str; 5] =
    ["analyze-plain", "plan-plain", "implement-bash", "review-bash", "subagent-builtin"];

/// tests/fixtures/claude-code-2.1.331
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/claude-code-2.1.331")
}

/// A fixture file's bytes, or None when the run has no such file (it has the other encoding).
pub fn fixture(run: &str, file: &str) -> Option<Vec<u8>> {
    std::fs::read(dir().join(run).join(file)).ok()
}

/// How many of a fixture file's log records are `claude_code.api_request` events (the event name occurs once per
/// record, in JSON and in protobuf alike).
pub fn api_requests_in(run: &str, file: &str) -> usize {
    let bytes = fixture(run, file).unwrap_or_else(|| panic!("no fixture {run}/{file}"));
    bytes.windows(b"claude_code.api_request".len()).filter(|w| w == b"claude_code.api_request").count()
}

/// One of the assessment's own queries, verbatim (tests/fixtures/assessment/).
pub fn assessment_sql(name: &str) -> String {
    std::fs::read_to_string(dir().join("../assessment").join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}
