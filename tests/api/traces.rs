//! Traces: `stockroom serve` with `OTEL_EXPORTER_OTLP_ENDPOINT` exports a span per operation
//! (joined to the caller's `traceparent`), per loader wave and per SQL statement to an OTLP/HTTP
//! receiver run here, which decodes the exporter's protobuf requests.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Bytes, extract::State, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse},
    common::v1::any_value::Value as AnyValue,
    trace::v1::{Span, status::StatusCode},
};
use prost::Message as _;
use serde_json::{Value, json};

use crate::{
    helpers::{Served, TestApp, error_code, post_graphql_with},
    mutations_support::fixture,
};

/// The spans an OTLP/HTTP receiver on a random port has been sent.
#[derive(Clone, Default)]
struct Receiver(Arc<Mutex<Vec<Span>>>);

impl Receiver {
    /// Starts the receiver; returns it and its base URL.
    async fn start() -> (Self, String) {
        let receiver = Self::default();
        let app = axum::Router::new()
            .route("/v1/traces", post(export))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, format!("http://{addr}"))
    }

    /// The spans of trace `trace_id` once `done` holds for them (within 15 s).
    async fn trace(&self, trace_id: &[u8], done: impl Fn(&[Span]) -> bool) -> Vec<Span> {
        for _ in 0..150 {
            let spans: Vec<Span> = self
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s.trace_id == trace_id)
                .cloned()
                .collect();
            if done(&spans) {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let all: Vec<String> = self.0.lock().unwrap().iter().map(describe).collect();
        panic!("the trace never completed; received: {all:#?}")
    }

    /// Every span received so far.
    fn all(&self) -> Vec<Span> {
        self.0.lock().unwrap().clone()
    }
}

/// `POST /v1/traces`: an `ExportTraceServiceRequest` in protobuf.
async fn export(
    State(receiver): State<Receiver>,
    body: Bytes,
) -> ([(&'static str, &'static str); 1], Vec<u8>) {
    let request = ExportTraceServiceRequest::decode(body).expect("a protobuf export request");
    let mut spans = receiver.0.lock().unwrap();
    for resource in request.resource_spans {
        for scope in resource.scope_spans {
            spans.extend(scope.spans);
        }
    }
    (
        [("content-type", "application/x-protobuf")],
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

/// A span's string attribute.
fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            AnyValue::StringValue(s) => Some(s.as_str()),
            _ => None,
        })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn describe(span: &Span) -> String {
    format!(
        "{} trace {} id {} parent {} {:?}",
        span.name,
        hex(&span.trace_id),
        hex(&span.span_id),
        hex(&span.parent_span_id),
        span.attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect::<Vec<_>>()
    )
}

/// POSTs a document with a token and optionally a `traceparent`.
async fn graphql(base: &str, token: &str, traceparent: Option<&str>, query: &str) -> Value {
    let headers: Vec<(&str, &str)> = traceparent
        .map(|tp| ("traceparent", tp))
        .into_iter()
        .collect();
    post_graphql_with(
        &reqwest::Client::new(),
        base,
        Some(token),
        &headers,
        query,
        json!({}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operation_is_a_span_of_the_callers_trace_with_a_child_per_loader_wave_and_statement() {
    let app = TestApp::spawn().await;
    let f = fixture(&app, 10).await;
    let (receiver, endpoint) = Receiver::start().await;
    let served = Served::start(&[
        ("DATABASE_URL", Some(app.db_url.as_str())),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", Some(endpoint.as_str())),
        ("OTEL_BSP_SCHEDULE_DELAY", Some("100")),
    ])
    .await;

    let trace_id: Vec<u8> = (1..=16).collect();
    let caller: Vec<u8> = vec![0xab; 8];
    let traceparent = format!("00-{}-{}-01", hex(&trace_id), hex(&caller));
    let body = graphql(
        &served.base,
        &f.admin,
        Some(&traceparent),
        r#"query Detail { product(sku: "P-1") { sku totalQuantity stocks { quantity store { code } }
             transactions(first: 5) { nodes { quantity user { username } } } } }"#,
    )
    .await;
    assert!(error_code(&body).is_none(), "{body}");

    let is_op = |s: &Span| s.name.starts_with("graphql ");
    // The stock rows' stores come from the copy of the reference tables the token check
    // vouched for: their wave reads nothing from the database.
    let reads_db = |s: &Span| s.name != "loader wave StoreKey";
    let spans = receiver
        .trace(&trace_id, |spans| {
            let Some(op) = spans.iter().find(|s| is_op(s)) else {
                return false;
            };
            let waves: Vec<&Span> = spans
                .iter()
                .filter(|s| {
                    s.name.starts_with("loader wave")
                        && s.parent_span_id == op.span_id
                        && reads_db(s)
                })
                .collect();
            !waves.is_empty()
                && waves.iter().all(|w| {
                    spans.iter().any(|s| {
                        attr(s, "db.system.name").is_some() && s.parent_span_id == w.span_id
                    })
                })
        })
        .await;
    let described: Vec<String> = spans.iter().map(describe).collect();

    // The operation: a child of the caller's span, named by its type, with its name and code.
    let ops: Vec<&Span> = spans.iter().filter(|s| is_op(s)).collect();
    assert_eq!(ops.len(), 1, "{described:#?}");
    let op = ops[0];
    assert_eq!(op.parent_span_id, caller, "{described:#?}");
    assert_eq!(op.name, "graphql query");
    assert_eq!(attr(op, "graphql.operation.name"), Some("Detail"));
    assert_eq!(attr(op, "graphql.operation.type"), Some("query"));
    assert_eq!(attr(op, "stockroom.code"), Some("OK"));

    // Every other span of the trace hangs off the operation, directly or through a wave.
    let waves: HashMap<&[u8], &Span> = spans
        .iter()
        .filter(|s| s.name.starts_with("loader wave"))
        .map(|s| (s.span_id.as_slice(), s))
        .collect();
    // The stock rows and the ledger page are read along with the product (in the operation);
    // the total and the stores are waves.
    assert!(waves.len() >= 2, "total, stores: {described:#?}");
    for wave in waves.values() {
        assert_eq!(wave.parent_span_id, op.span_id, "{described:#?}");
    }
    let statements: Vec<&Span> = spans
        .iter()
        .filter(|s| attr(s, "db.system.name") == Some("postgresql"))
        .collect();
    assert!(
        statements.len() >= waves.values().filter(|w| reads_db(w)).count() + 2,
        "the token check, the product (with its stock rows and ledger page), one per wave: \
         {described:#?}"
    );
    for statement in &statements {
        assert!(
            statement.parent_span_id == op.span_id
                || waves.contains_key(statement.parent_span_id.as_slice()),
            "{described:#?}"
        );
        let text = attr(statement, "db.query.text").unwrap();
        assert!(!text.contains("P-1"), "no bind values: {text}");
        assert!(!text.contains(f.admin.as_str()), "no bind values: {text}");
    }
    // The stock rows (loaded with their stores before they resolve) are rendered in one pass.
    let renders: Vec<&Span> = spans.iter().filter(|s| s.name == "render stocks").collect();
    assert_eq!(renders.len(), 1, "{described:#?}");
    assert_eq!(renders[0].parent_span_id, op.span_id, "{described:#?}");
    assert_eq!(
        attr(renders[0], "stockroom.render.outcome"),
        Some("rendered"),
        "{described:#?}"
    );
    // The token check and the product lookup run in the operation itself.
    assert!(
        statements
            .iter()
            .filter(|s| s.parent_span_id == op.span_id)
            .count()
            >= 2,
        "{described:#?}"
    );

    // Without a traceparent an operation starts a trace of its own; its code is recorded.
    let body = graphql(
        &served.base,
        &f.admin,
        None,
        "mutation Bad { recordInbound(input: {productId: \"x\", storeId: \"y\", quantity: 1}) { newStock } }",
    )
    .await;
    assert_eq!(error_code(&body), Some("BAD_USER_INPUT"), "{body}");
    let mut refused = None;
    for _ in 0..150 {
        refused = receiver
            .all()
            .into_iter()
            .find(|s| attr(s, "graphql.operation.name") == Some("Bad"));
        if refused.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = refused.expect("the mutation's span");
    assert!(refused.parent_span_id.is_empty(), "{}", describe(&refused));
    assert_ne!(refused.trace_id, trace_id);
    assert_eq!(refused.name, "graphql mutation");
    assert_eq!(attr(&refused, "stockroom.code"), Some("BAD_USER_INPUT"));
    assert_eq!(
        refused.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32)
    );
}
