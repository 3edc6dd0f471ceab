//! Wire formats → [`crate::reshape::Request`], record by record: a record that cannot be read is rejected alone
//! (and counted), the others go on. OTLP/protobuf ([`protobuf`], gRPC and HTTP) and OTLP/JSON ([`json`]).

pub mod json;
pub mod protobuf;

/// Why a request could not be read at all (its envelope, not one record, is broken).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not a protobuf message of the expected type.
    #[error("malformed protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// Not JSON, or JSON of the wrong shape around the records.
    #[error("malformed JSON: {0}")]
    Json(String),
}
