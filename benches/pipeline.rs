//! Per-core throughput of the relay's hot path on batches of 500 records shaped like Claude Code's, beside a
//! prost-decode-only loop over the same bytes (what this machine can do at best).
//!
//! Every figure is the benchmark thread's CPU time, not wall time: the inserts go to a mock ClickHouse on
//! another thread, and waiting for its answer is latency the relay overlaps across requests, not work per core.
//!
//! `cargo bench --bench pipeline`; figures and their reading are in BENCHMARKS.md.

mod workload;

use bytes::Bytes;
use std::time::Duration;

use cpu_time::ThreadTime;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;
use tokenledger::receive::decode::protobuf;
use tokenledger::reshape::rows::{Rows, Table};
use tokenledger::reshape::{reshape_logs, AgentDirectory, Clock, StageMap};

const BATCH: usize = 500;

// The relay's allocator (src/main.rs), so the figures are the relay's.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn stages() -> StageMap {
    StageMap::new(tokenledger::config::Config::default().stages)
}

/// Serializes rows to RowBinary + LZ4 through the clickhouse crate's own insert path, to its in-process mock
/// server (the crate's public API offers no encoder without a request).
async fn encode<T: Table>(client: &clickhouse::Client, mock: &clickhouse::test::Mock, rows: &[T]) {
    if rows.is_empty() {
        return;
    }
    let _recorded = mock.add(clickhouse::test::handlers::record_ddl());
    let mut insert = client.insert::<T>(T::TABLE).await.expect("insert");
    for row in rows {
        insert.write(row).await.expect("write");
    }
    insert.end().await.expect("end");
}

async fn encode_all(client: &clickhouse::Client, mock: &clickhouse::test::Mock, rows: &Rows) {
    encode(client, mock, &rows.api_requests).await;
    encode(client, mock, &rows.tool_results).await;
    encode(client, mock, &rows.api_errors).await;
    encode(client, mock, &rows.subagents).await;
    encode(client, mock, &rows.events).await;
    encode(client, mock, &rows.metrics).await;
}

fn pipeline(c: &mut Criterion) {
    // The relay's allocator settings (src/allocator.rs): re-executes the bench once with them.
    #[cfg(feature = "mimalloc")]
    tokenledger::allocator::tune();
    let body = Bytes::from(workload::logs_body(BATCH, 0));
    let stages = stages();
    let agents = AgentDirectory::new();
    let mut group = c.benchmark_group("logs_500");
    group.throughput(Throughput::Elements(BATCH as u64));

    group.bench_function("prost_decode_only", |b| {
        b.iter_custom(|iterations| {
            cpu_time(iterations, || {
                ExportLogsServiceRequest::decode(body.clone()).expect("decodes");
            })
        })
    });
    group.bench_function("decode_reshape", |b| {
        b.iter_custom(|iterations| {
            cpu_time(iterations, || {
                let request = protobuf::decode_logs(body.clone()).expect("decodes");
                reshape_logs(request, &stages, &agents, &Clock::any_time(0));
            })
        })
    });

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    // The mock ClickHouse runs on a runtime of its own thread: only the relay's side of the insert (RowBinary
    // serialization, LZ4, the HTTP request) runs on the benchmark thread, as in production.
    let server = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let mock = {
        let _context = server.enter();
        clickhouse::test::Mock::new()
    };
    let client = clickhouse::Client::default().with_mock(&mock).with_compression(clickhouse::Compression::Lz4);
    group.bench_function("decode_reshape_encode", |b| {
        b.iter_custom(|iterations| {
            cpu_time(iterations, || {
                runtime.block_on(async {
                    let request = protobuf::decode_logs(body.clone()).expect("decodes");
                    let reshaped = reshape_logs(request, &stages, &agents, &Clock::any_time(0));
                    encode_all(&client, &mock, &reshaped.rows).await;
                })
            })
        })
    });
    group.finish();

    // What the relay does under load: each request is decoded and reshaped on its own, and the batcher sends the
    // rows of many requests (here 20 × 500 records) in one insert per table, so the insert's fixed cost is shared.
    const REQUESTS: u64 = 20;
    let bodies: Vec<Bytes> = (0..REQUESTS).map(|i| Bytes::from(workload::logs_body(BATCH, i * BATCH as u64))).collect();
    let mut group = c.benchmark_group("logs_20x500");
    group.throughput(Throughput::Elements(REQUESTS * BATCH as u64));
    group.sample_size(20);
    group.bench_function("prost_decode_only", |b| {
        b.iter_custom(|iterations| {
            cpu_time(iterations, || {
                for body in &bodies {
                    ExportLogsServiceRequest::decode(body.clone()).expect("decodes");
                }
            })
        })
    });
    group.bench_function("decode_reshape_encode_batched", |b| {
        b.iter_custom(|iterations| {
            cpu_time(iterations, || {
                runtime.block_on(async {
                    let mut all = Rows::default();
                    for body in &bodies {
                        let request = protobuf::decode_logs(body.clone()).expect("decodes");
                        all.append(reshape_logs(request, &stages, &agents, &Clock::any_time(0)).rows);
                    }
                    encode_all(&client, &mock, &all).await;
                })
            })
        })
    });
    group.finish();
}

/// The CPU time this thread spends running `work` `iterations` times.
fn cpu_time(iterations: u64, mut work: impl FnMut()) -> Duration {
    let start = ThreadTime::now();
    for _ in 0..iterations {
        work();
    }
    start.elapsed()
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
