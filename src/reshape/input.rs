//! What reshaping consumes: an OTLP request decoded record by record, so one unreadable record cannot sink the
//! others. The receivers build these from protobuf or JSON (src/receive/decode/).

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;

/// A record that was read, perhaps only in part.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<T> {
    /// The record. Attributes whose values could not be read hold their raw text as a string value.
    pub item: T,
    /// Keys of the attributes whose values could not be read (OTLP/JSON only, e.g. `{"doubleValue":{}}`).
    pub unreadable_keys: Vec<String>,
}

impl<T> Decoded<T> {
    /// A record read in full.
    pub fn whole(item: T) -> Decoded<T> {
        Decoded { item, unreadable_keys: Vec::new() }
    }
}

/// The records of one resource and scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Scoped<T> {
    /// The resource's attributes.
    pub resource: Vec<KeyValue>,
    /// The instrumentation scope's name.
    pub scope_name: String,
    /// The records, in the order received.
    pub items: Vec<Decoded<T>>,
}

/// A whole export request, decoded as far as it could be.
#[derive(Debug, Clone, PartialEq)]
pub struct Request<T> {
    /// Groups of readable records.
    pub groups: Vec<Scoped<T>>,
    /// Records that could not be read at all, with the reason (plus request-wide warnings, which count none).
    pub unreadable: Vec<String>,
    /// How many records `unreadable` stands for (a lost metric may hide several data points; counted as one).
    pub unreadable_count: u64,
}

/// An ExportLogsServiceRequest, decoded.
pub type LogsRequest = Request<LogRecord>;

/// An ExportMetricsServiceRequest, decoded.
pub type MetricsRequest = Request<Metric>;

impl<T> Default for Request<T> {
    fn default() -> Self {
        Request { groups: Vec::new(), unreadable: Vec::new(), unreadable_count: 0 }
    }
}

impl<T> Request<T> {
    /// Records readable at least in part.
    pub fn item_count(&self) -> usize {
        self.groups.iter().map(|g| g.items.len()).sum()
    }

    /// Notes a record that could not be read.
    pub fn reject(&mut self, reason: String) {
        self.unreadable.push(reason);
        self.unreadable_count += 1;
    }
}
