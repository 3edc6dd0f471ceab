//! The OTLP/JSON reader (src/receive/decode/json.rs): any bytes, as a logs, a metrics and a traces request.
//! It may refuse the request (Err); it must not panic, hang or grow without bound.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tokenledger::receive::decode::json;

fuzz_target!(|data: &[u8]| {
    let _ = json::decode_logs(data);
    let _ = json::decode_metrics(data);
    let _ = json::count_spans(data);
});
