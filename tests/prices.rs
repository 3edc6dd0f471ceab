//! The shipped price table (src/ledger/prices.toml) against what the real Claude Code CLI (2.1.331) charges. For
//! every entry whose source starts with "cli", the CLI is run against the scripted API reporting one request with
//! a usage of every kind at once (odd counts, cache writes split into 5-minute and 1-hour ones, `POST /_usage`),
//! and its `total_cost_usd` must equal the table's price of those tokens: a wrong rate of any kind would show.
//! Haiku 5.5's long-prompt rates are checked with one 1M-token prompt. (The rates themselves were first measured
//! one kind at a time the same way; prices.toml says so.)

mod support;

use std::net::SocketAddr;

use support::claude::{self, ClaudeRun, FakeAnthropic, OtlpProtocol};
use tokenledger::ledger::prices::{self, Tokens};

/// One request's usage: every kind, odd counts, the prompt below Haiku 5.5's long-prompt threshold.
const MIXED: Tokens = Tokens {
    input: 11_113,
    output: 7_919,
    cache_read: 50_021,
    cache_creation: 5_000,
    cache_creation_5m: 3_001,
    cache_creation_1h: 1_999,
};

fn usage_body(t: &Tokens) -> serde_json::Value {
    serde_json::json!({
        "input_tokens": t.input,
        "output_tokens": t.output,
        "cache_read_input_tokens": t.cache_read,
        "cache_creation_input_tokens": t.cache_creation,
        "cache_creation": {"ephemeral_5m_input_tokens": t.cache_creation_5m,
                           "ephemeral_1h_input_tokens": t.cache_creation_1h},
    })
}

/// The CLI's cost of one request with `tokens`, and the model id it reported.
async fn cli_cost(cli: &std::path::Path, fake: &FakeAnthropic, model: &str, tokens: &Tokens) -> (String, f64) {
    let response = reqwest::Client::new()
        .post(format!("{}/_usage", fake.base_url()))
        .json(&usage_body(tokens))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "POST /_usage: {}", response.status());
    let workdir = tempfile::tempdir().unwrap();
    // Nothing listens there: the CLI's telemetry export fails quietly; its own accounting is what is read.
    let nowhere: SocketAddr = ([127, 0, 0, 1], 9).into();
    let run = ClaudeRun::new(cli, workdir.path(), fake, OtlpProtocol::HttpJson, nowhere, model, "Say hi.").run().await;
    let models: Vec<&String> = run.result.model_usage.keys().collect();
    assert_eq!(models.len(), 1, "{model}: one model per run: {models:?}");
    (models[0].clone(), run.result.total_cost_usd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prices_said_to_come_from_the_cli_are_what_the_cli_charges() {
    let test = "prices_cli";
    let Some(cli) = claude::cli_or_skip(test) else { return };
    let fake = FakeAnthropic::start();
    let table = prices::shipped();
    let from_cli: Vec<&String> = table.iter().filter(|(_, p)| p.source.starts_with("cli")).map(|(k, _)| k).collect();
    assert!(from_cli.len() >= 6, "{from_cli:?}");
    for key in from_cli {
        let (reported, cost) = cli_cost(&cli, &fake, key, &MIXED).await;
        let (entry, price) = prices::lookup(&table, &reported).unwrap_or_else(|| panic!("{reported}: no entry"));
        assert_eq!(entry, key.as_str(), "asked for {key}, the CLI reported {reported}");
        let ours = price.cost(&MIXED, false);
        eprintln!("{test}: {key}: CLI ${cost}, table ${ours}");
        assert!((cost - ours).abs() <= 1e-9 * ours, "{key}: the CLI charges ${cost}, the table says ${ours}");
    }

    // Haiku 5.5: a prompt above the threshold is charged the long-prompt rates, on every kind of token.
    let haiku = &table["claude-haiku-5-5"];
    let above = haiku.long_prompt_above().expect("haiku 5.5 has long-prompt rates");
    let long = Tokens { input: above + 1_000_000, ..MIXED };
    let (_, cost) = cli_cost(&cli, &fake, "claude-haiku-5-5", &long).await;
    let ours = haiku.cost(&long, true);
    assert!((cost - ours).abs() <= 1e-9 * ours, "long prompt: the CLI charges ${cost}, the table says ${ours}");
    assert!(ours > haiku.cost(&long, false) * 2.0, "the long-prompt rates are higher");
}
