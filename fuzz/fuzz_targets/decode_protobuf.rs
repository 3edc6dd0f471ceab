//! The OTLP/protobuf reader (src/receive/decode/protobuf.rs, lazy: envelope first, then each record): any bytes,
//! as a logs, a metrics and a traces request. It may refuse the request (Err); it must not panic.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tokenledger::receive::decode::protobuf;

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    let _ = protobuf::decode_logs(body.clone());
    let _ = protobuf::decode_metrics(body.clone());
    let _ = protobuf::count_spans(body);
});
