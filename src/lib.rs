//! tokenledger: Claude Code's OpenTelemetry → per-workflow token and cost rows in ClickHouse.
//!
//! # Layout
//! The modules follow the pipeline:
//!
//! ```text
//! receive (OTLP gRPC + HTTP, decode record by record)
//!    → reshape (pure: events → typed rows, workflow / stage / agent attribution)
//!    → pipeline (the glue both listeners share)
//!    → sink (per-table batching, bulk inserts with the clickhouse crate, backpressure)
//! ```
//!
//! Around it: [`cli`] (one file per subcommand), [`config`] (defaults < TOML < env), [`telemetry`] (logs,
//! /metrics, /healthz, /readyz), [`launch`] (starting workflow steps with their telemetry environment, for
//! `tokenledger run` / `env`). The SQL schema lives in `clickhouse/` and is built into the binary.
//! The read side: [`ledger`] (queries of ClickHouse, the price table), [`report`] (pure: rows → reports →
//! table, JSON, CSV, Markdown, HTML) and [`beads`] (Beads issues in, per-task figures out as comments).
//! [`demo`] generates realistic Claude Code telemetry and sends it over OTLP, for `tokenledger demo`.

#[cfg(feature = "mimalloc")]
pub mod allocator;
pub mod beads;
pub mod cli;
pub mod config;
pub mod demo;
pub mod launch;
pub mod ledger;
pub mod pipeline;
pub mod receive;
pub mod relay;
pub mod report;
pub mod reshape;
pub mod sink;
pub mod telemetry;
