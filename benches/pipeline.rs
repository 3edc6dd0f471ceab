//! Per-core throughput of the relay's hot path on batches of 500 records shaped like Claude Code's, beside a
//! prost-decode-only loop over the same bytes (what this machine can do at best).
//!
//! `cargo bench --bench pipeline`; figures and their reading are in BENCHMARKS.md.

mod workload;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;
use tokenledger::receive::decode::protobuf;
use tokenledger::reshape::rows::{Rows, Table};
use tokenledger::reshape::{reshape_logs, StageMap};

const BATCH: usize = 500;

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
    let body = Bytes::from(workload::logs_body(BATCH, 0));
    let stages = stages();
    let mut group = c.benchmark_group("logs_500");
    group.throughput(Throughput::Elements(BATCH as u64));

    group.bench_function("prost_decode_only", |b| {
        b.iter(|| ExportLogsServiceRequest::decode(body.clone()).expect("decodes"))
    });
    group.bench_function("decode_reshape", |b| {
        b.iter(|| {
            let request = protobuf::decode_logs(body.clone()).expect("decodes");
            reshape_logs(request, &stages, 0)
        })
    });

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mock = {
        let _context = runtime.enter();
        clickhouse::test::Mock::new()
    };
    let client = clickhouse::Client::default().with_mock(&mock).with_compression(clickhouse::Compression::Lz4);
    let (client, mock) = (&client, &mock);
    group.bench_function("decode_reshape_encode", |b| {
        b.to_async(&runtime).iter(|| async {
            let request = protobuf::decode_logs(body.clone()).expect("decodes");
            let reshaped = reshape_logs(request, &stages, 0);
            encode_all(client, mock, &reshaped.rows).await;
        })
    });
    group.bench_function("encode_only", |b| {
        let request = protobuf::decode_logs(body.clone()).expect("decodes");
        let rows = reshape_logs(request, &stages, 0).rows;
        b.to_async(&runtime).iter_batched(
            || rows.clone(),
            |rows| async move { encode_all(client, mock, &rows).await },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
