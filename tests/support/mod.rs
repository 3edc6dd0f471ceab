//! Shared by the integration tests: fixtures, a ClickHouse to talk to (one database per test), a relay on
//! port 0. Not every test binary uses every part.
#![allow(dead_code)]

pub mod clickhouse;
pub mod fixtures;
pub mod relay;
