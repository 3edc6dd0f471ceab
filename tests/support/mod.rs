//! Shared by the integration tests: fixtures, a ClickHouse to talk to (one database per test), a relay on
//! port 0, the real Claude Code CLI and its scripted API, a real OpenTelemetry Collector, the shipped stack files,
//! api_request events made to order. Not every test binary uses every part.
#![allow(dead_code)]

pub mod claude;
pub mod clickhouse;
pub mod clickhouse_users;
pub mod collector;
pub mod events;
pub mod figures;
pub mod fixtures;
pub mod grafana;
pub mod otlp_json;
pub mod prometheus;
pub mod relay;
pub mod stack;
pub mod stack_files;
