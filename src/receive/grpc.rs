//! OTLP/gRPC: the Export methods of LogsService, MetricsService and TraceService.
//!
//! tonic's generated servers decode the whole request with prost before our code runs, so one record with
//! invalid UTF-8 would fail the request. These services use a codec that hands over the raw message bytes
//! instead, and decode them record by record like OTLP/HTTP does (src/receive/decode/protobuf.rs). gzip and zstd
//! request compression are accepted (the collector's `otlp` exporter sends gzip by default).

use std::convert::Infallible;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use tonic::body::Body;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::Status;

use super::decode::protobuf;
use super::{Ingest, ReceiveError, Slot};
use crate::telemetry::names;

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;

/// One OTLP signal's gRPC service: its name and how an Export request is handled.
pub trait Signal: Send + Sync + 'static {
    /// The fully qualified service name.
    const SERVICE: &'static str;
    /// The signal, for metrics labels.
    const LABEL: &'static str;
    /// The Export response message.
    type Response: prost::Message + Default + Send + 'static;
    /// Decodes and stores one Export request; `slot` is given back once its rows are queued.
    fn export(ingest: Arc<Ingest>, body: Bytes, slot: Slot) -> BoxFuture<Result<Self::Response, ReceiveError>>;
}

/// opentelemetry.proto.collector.logs.v1.LogsService
pub enum Logs {}
/// opentelemetry.proto.collector.metrics.v1.MetricsService
pub enum Metrics {}
/// opentelemetry.proto.collector.trace.v1.TraceService
pub enum Traces {}

impl Signal for Logs {
    const SERVICE: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const LABEL: &'static str = "logs";
    type Response = ExportLogsServiceResponse;
    fn export(ingest: Arc<Ingest>, body: Bytes, slot: Slot) -> BoxFuture<Result<Self::Response, ReceiveError>> {
        Box::pin(async move { ingest.logs(protobuf::decode_logs(body)?, slot).await })
    }
}

impl Signal for Metrics {
    const SERVICE: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const LABEL: &'static str = "metrics";
    type Response = ExportMetricsServiceResponse;
    fn export(ingest: Arc<Ingest>, body: Bytes, slot: Slot) -> BoxFuture<Result<Self::Response, ReceiveError>> {
        Box::pin(async move { ingest.metrics(protobuf::decode_metrics(body)?, slot).await })
    }
}

impl Signal for Traces {
    const SERVICE: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const LABEL: &'static str = "traces";
    type Response = ExportTraceServiceResponse;
    fn export(ingest: Arc<Ingest>, body: Bytes, slot: Slot) -> BoxFuture<Result<Self::Response, ReceiveError>> {
        Box::pin(async move {
            let spans = protobuf::count_spans(body)?;
            drop(slot);
            Ok(ingest.traces(spans))
        })
    }
}

/// A tonic service for signal `S`.
pub struct OtlpService<S> {
    ingest: Arc<Ingest>,
    signal: PhantomData<fn() -> S>,
}

impl<S> Clone for OtlpService<S> {
    fn clone(&self) -> Self {
        OtlpService { ingest: self.ingest.clone(), signal: PhantomData }
    }
}

impl<S: Signal> OtlpService<S> {
    /// The service for signal `S`.
    pub fn new(ingest: Arc<Ingest>) -> Self {
        OtlpService { ingest, signal: PhantomData }
    }
}

impl<S: Signal> NamedService for OtlpService<S> {
    const NAME: &'static str = S::SERVICE;
}

impl<S: Signal, B> tower_service::Service<http::Request<B>> for OtlpService<S>
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let ingest = self.ingest.clone();
        let is_export =
            request.uri().path().strip_prefix('/').and_then(|p| p.strip_prefix(S::SERVICE)) == Some("/Export");
        Box::pin(async move {
            if !is_export {
                return Ok(Status::unimplemented("only Export is served").into_http());
            }
            // Taken before tonic reads the message, so requests waiting for a slot hold no message buffer.
            let slot = match ingest.enter().await {
                Ok(slot) => slot,
                Err(error) => {
                    metrics::counter!(names::REQUESTS, "transport" => "grpc", "signal" => S::LABEL, "outcome" => error.outcome())
                        .increment(1);
                    return Ok(error.grpc_status().into_http());
                }
            };
            let mut accept = EnabledCompressionEncodings::default();
            accept.enable(CompressionEncoding::Gzip);
            accept.enable(CompressionEncoding::Zstd);
            let max = ingest.max_request_bytes();
            let mut grpc = Grpc::new(RawCodec::<S::Response>::default())
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(max), None);
            let export = Export::<S> { ingest, slot: Some(slot), signal: PhantomData };
            let mut response = grpc.unary(export, request).await;
            too_large_is_resource_exhausted(&mut response);
            Ok(response)
        })
    }
}

/// tonic answers a message over the decoding limit with OUT_OF_RANGE, which the collector retries forever; the
/// OTLP answer for "too large" is RESOURCE_EXHAUSTED (without retry info: not retried).
fn too_large_is_resource_exhausted(response: &mut http::Response<Body>) {
    let out_of_range = response.headers().get("grpc-status").is_some_and(|v| v.as_bytes() == b"11");
    if out_of_range {
        response.headers_mut().insert("grpc-status", http::HeaderValue::from(tonic::Code::ResourceExhausted as i32));
    }
}

struct Export<S> {
    ingest: Arc<Ingest>,
    slot: Option<Slot>,
    signal: PhantomData<fn() -> S>,
}

impl<S: Signal> UnaryService<Bytes> for Export<S> {
    type Response = S::Response;
    type Future = BoxFuture<Result<tonic::Response<S::Response>, Status>>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let ingest = self.ingest.clone();
        let slot = self.slot.take();
        Box::pin(async move {
            let authorization = request.metadata().get("authorization").map(|v| v.as_bytes().to_vec());
            let result = match (ingest.authorize(authorization.as_deref()), slot) {
                (Ok(()), Some(slot)) => S::export(ingest, request.into_inner(), slot).await,
                // tonic calls a unary service once per request, so the slot is always there; were it called
                // again, that call would have no slot and is refused like a request that found none.
                (Ok(()), None) => Err(ReceiveError::Busy { waited: std::time::Duration::ZERO }),
                (Err(error), _) => Err(error),
            };
            let outcome = result.as_ref().map_or_else(ReceiveError::outcome, |_| "ok");
            metrics::counter!(names::REQUESTS, "transport" => "grpc", "signal" => S::LABEL, "outcome" => outcome)
                .increment(1);
            result.map(tonic::Response::new).map_err(|error| {
                tracing::info!(%error, signal = S::LABEL, "OTLP/gRPC request not accepted");
                error.grpc_status()
            })
        })
    }
}

/// Decodes a request to its raw bytes and encodes the response with prost.
struct RawCodec<R>(PhantomData<fn() -> R>);

impl<R> Default for RawCodec<R> {
    fn default() -> Self {
        RawCodec(PhantomData)
    }
}

impl<R: prost::Message + Send + 'static> Codec for RawCodec<R> {
    type Encode = R;
    type Decode = Bytes;
    type Encoder = ProstEncoder<R>;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawDecoder
    }
}

struct ProstEncoder<R>(PhantomData<fn() -> R>);

impl<R: prost::Message> Encoder for ProstEncoder<R> {
    type Item = R;
    type Error = Status;

    fn encode(&mut self, item: R, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.encoded_len());
        item.encode(dst).map_err(|e| Status::internal(e.to_string()))
    }
}

struct RawDecoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// Serves the three services on `listener` until `shutdown` resolves, then lets requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ingest: Arc<Ingest>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(OtlpService::<Logs>::new(ingest.clone()))
        .add_service(OtlpService::<Metrics>::new(ingest.clone()))
        .add_service(OtlpService::<Traces>::new(ingest))
        .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), shutdown)
        .await
}
