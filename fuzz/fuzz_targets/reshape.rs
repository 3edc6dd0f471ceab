//! Reshaping (src/reshape/): a request read from the bytes (JSON when it starts with `{`, else protobuf), as logs
//! and as metrics, turned into rows with `Clock::any_time` and with the relay's real window (30 days back,
//! 5 minutes ahead of a fixed now). Checks what reshaping promises: no panic, every row within the bounds of
//! src/reshape/limits.rs, and as many rejections as the problems it reports.

#![no_main]

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tokenledger::receive::decode::{json, protobuf};
use tokenledger::reshape::limits::{MAX_COST_USD, MAX_DURATION_MS, MAX_TOKENS, MAX_WORKFLOW_VALUE_BYTES};
use tokenledger::reshape::{reshape_logs, reshape_metrics, AgentDirectory, Clock, Reshaped, StageMap};

/// 2026-11-25T09:01:49Z, an hour after the captured fixtures.
const NOW_NS: i64 = 1_795_597_309_000_000_000;

fuzz_target!(|data: &[u8]| {
    let stages = StageMap::new(BTreeMap::from([("reviewer".to_string(), "review".to_string())]));
    let window = Clock::around(NOW_NS, Duration::from_secs(720 * 3600), Duration::from_secs(300));
    for clock in [Clock::any_time(NOW_NS), window] {
        let logs = if data.first() == Some(&b'{') {
            json::decode_logs(data).ok()
        } else {
            protobuf::decode_logs(Bytes::copy_from_slice(data)).ok()
        };
        if let Some(request) = logs {
            let reshaped = reshape_logs(request, &stages, &AgentDirectory::new(), &clock);
            check(&reshaped, &clock);
        }
        let metrics = if data.first() == Some(&b'{') {
            json::decode_metrics(data).ok()
        } else {
            protobuf::decode_metrics(Bytes::copy_from_slice(data)).ok()
        };
        if let Some(request) = metrics {
            let reshaped = reshape_metrics(request, &stages, &clock);
            check(&reshaped, &clock);
        }
    }
});

/// What every reshaped request must satisfy, whatever came in.
fn check(reshaped: &Reshaped, clock: &Clock) {
    // A problem reported means a record counted, but for the one warning that rejects nothing.
    assert!(reshaped.rejected > 0 || reshaped.problems.iter().all(|p| p.contains("UTF-8")), "{:?}", reshaped.problems);
    let rows = &reshaped.rows;
    for row in &rows.api_requests {
        assert!(clock.check(row.timestamp).is_ok(), "api_request row outside the window");
        for tokens in [row.input_tokens, row.output_tokens, row.cache_read_tokens, row.cache_creation_tokens] {
            assert!(tokens <= MAX_TOKENS, "{tokens} tokens");
        }
        assert!((0.0..=MAX_COST_USD).contains(&row.cost_usd), "cost {}", row.cost_usd);
        assert!(row.duration_ms <= MAX_DURATION_MS);
        for label in [&row.workflow_id, &row.stage, &row.agent, &row.model] {
            assert!(label.len() <= MAX_WORKFLOW_VALUE_BYTES, "a {}-byte label", label.len());
        }
    }
    for row in &rows.events {
        assert!(row.workflow_id.len() <= MAX_WORKFLOW_VALUE_BYTES, "a {}-byte workflow_id", row.workflow_id.len());
    }
    for row in &rows.metrics {
        assert!(row.value.is_finite());
        assert!(row.workflow_id.len() <= MAX_WORKFLOW_VALUE_BYTES, "a {}-byte workflow_id", row.workflow_id.len());
        assert!(clock.check(row.timestamp).is_ok(), "metric row outside the window");
    }
}
