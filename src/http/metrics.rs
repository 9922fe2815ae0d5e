//! `/metrics`: Prometheus counters and histograms of GraphQL requests, in the text format.
//!
//! `prometheus-client` (the Prometheus project's own Rust client: no global macros, few
//! dependencies) holds the metrics; they live for the process, as Prometheus expects.

use std::sync::LazyLock;

use axum::{http::header, response::IntoResponse};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

/// Smallest histogram bucket (seconds).
const FIRST_BUCKET_SECONDS: f64 = 0.001;
/// Each bucket is this much larger than the one before.
const BUCKET_FACTOR: f64 = 2.5;
/// Number of buckets (1 ms … about 15 s).
const BUCKETS: u16 = 12;

/// Labels of the request counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation_type: String,
    code: String,
}

/// Labels of the duration histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    operation_type: String,
}

fn new_histogram() -> Histogram {
    Histogram::new(exponential_buckets(
        FIRST_BUCKET_SECONDS,
        BUCKET_FACTOR,
        BUCKETS,
    ))
}

/// Labels of the read counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadLabels {
    node: String,
}

struct Metrics {
    registry: Registry,
    reads: Family<ReadLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    durations: Family<DurationLabels, Histogram, fn() -> Histogram>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::default();
    let requests = Family::<RequestLabels, Counter>::default();
    let durations =
        Family::<DurationLabels, Histogram, fn() -> Histogram>::new_with_constructor(new_histogram);
    registry.register(
        "stockroom_graphql_requests",
        "GraphQL operations handled, by operation type and result code (OK when no error)",
        requests.clone(),
    );
    registry.register(
        "stockroom_graphql_request_duration_seconds",
        "Time to answer one GraphQL operation, in seconds",
        durations.clone(),
    );
    let reads = Family::<ReadLabels, Counter>::default();
    registry.register(
        "stockroom_db_reads",
        "GraphQL operations by the database node that served their reads (primary, replica1, …)",
        reads.clone(),
    );
    Metrics {
        registry,
        reads,
        requests,
        durations,
    }
});

/// Records one operation: its type (`query`, `mutation`, `subscription`, `none` when it never
/// got that far), its result code and how long it took.
pub fn record(operation_type: &str, code: &str, seconds: f64) {
    METRICS
        .requests
        .get_or_create(&RequestLabels {
            operation_type: operation_type.into(),
            code: code.into(),
        })
        .inc();
    METRICS
        .durations
        .get_or_create(&DurationLabels {
            operation_type: operation_type.into(),
        })
        .observe(seconds);
}

/// Records which database node served one operation's reads.
pub fn record_read(node: &str) {
    METRICS
        .reads
        .get_or_create(&ReadLabels { node: node.into() })
        .inc();
}

/// `GET /metrics`.
pub async fn render() -> impl IntoResponse {
    let mut body = String::new();
    if let Err(err) = encode(&mut body, &METRICS.registry) {
        tracing::error!(error = %err, "encoding metrics failed");
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}
