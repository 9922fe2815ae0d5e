//! Structured logs through `tracing` (human-readable, or JSON lines with
//! `STOCKROOM_LOG_FORMAT=json`; the level from `RUST_LOG`, default `info`) and, when an OTLP
//! endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT`), traces exported over OTLP/HTTP.
//!
//! Traces: every GraphQL operation is a span ([`operation_span`]: operation name and type,
//! result code) joined to the caller's trace by its `traceparent` header, with a child span
//! per loader wave ([`wave_span`]) and per SQL statement ([`SqlSpans`], diesel's connection
//! instrumentation, installed for every connection the process opens). Without an endpoint
//! nothing of this exists: the span functions return [`Span::none`] after one relaxed atomic
//! load, no layer is installed and connections carry no instrumentation.

use std::{
    collections::VecDeque,
    sync::atomic::{AtomicBool, Ordering},
};

use anyhow::Context as _;
use opentelemetry::{
    propagation::TextMapPropagator,
    trace::{TraceContextExt as _, TracerProvider as _},
};
use opentelemetry_sdk::{
    Resource, propagation::TraceContextPropagator, runtime, trace::SdkTracerProvider,
    trace::span_processor_with_async_runtime::BatchSpanProcessor,
};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::{EnvFilter, Layer as _, filter, fmt, layer::SubscriberExt as _};

use crate::config::LogFormat;

/// The `tracing` target of the spans that are exported (and only of those).
pub const TARGET: &str = "stockroom::trace";
/// Open statement spans one connection keeps (a statement whose future was dropped before
/// it finished never reports its end; the oldest such span is closed when this is reached).
const MAX_OPEN_STATEMENTS: usize = 64;

/// Whether traces are exported (set once, at start).
static ON: AtomicBool = AtomicBool::new(false);

/// Whether traces are exported.
#[inline]
pub fn tracing_on() -> bool {
    ON.load(Ordering::Relaxed)
}

/// The trace exporter, to flush and stop when the process ends.
pub struct Traces(SdkTracerProvider);

impl Traces {
    /// Exports what is still queued and stops the exporter.
    pub async fn shutdown(self) {
        let provider = self.0;
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "traces: final export failed"),
            Err(err) => tracing::warn!(error = %err, "traces: final export failed"),
        }
    }
}

/// Installs the global subscriber (logs go to stderr, so stdout stays for command output);
/// with `otlp_endpoint`, also the trace exporter (which needs a tokio runtime: call this
/// inside one).
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> anyhow::Result<Option<Traces>> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let Some(endpoint) = otlp_endpoint.filter(|e| !e.trim().is_empty()) else {
        let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
        let _ = match format {
            LogFormat::Json => builder.json().try_init(),
            LogFormat::Text => builder.try_init(),
        };
        return Ok(None);
    };
    let provider = provider(endpoint)?;
    let tracer = provider.tracer("stockroom");
    // The log filter applies to the log lines only; the exporter takes the spans of
    // `TARGET`, whatever RUST_LOG says.
    let logs = match format {
        LogFormat::Json => fmt::layer().json().with_writer(std::io::stderr).boxed(),
        LogFormat::Text => fmt::layer().with_writer(std::io::stderr).boxed(),
    };
    let traces = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(filter::Targets::new().with_target(TARGET, tracing::Level::TRACE));
    let subscriber = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(traces);
    tracing::subscriber::set_global_default(subscriber)
        .context("installing the trace subscriber")?;
    diesel::connection::set_default_instrumentation(|| Some(Box::new(SqlSpans::default())))
        .map_err(|e| anyhow::anyhow!("installing the statement spans: {e}"))?;
    ON.store(true, Ordering::Relaxed);
    tracing::info!(endpoint, "traces: exporting over OTLP/HTTP");
    Ok(Some(Traces(provider)))
}

/// The tracer provider exporting to `{endpoint}/v1/traces` (the OTLP/HTTP path of traces;
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, when set, is the full URL instead).
fn provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
        .with_headers(Default::default())
        .build()
        .context("building the OTLP exporter (is OTEL_EXPORTER_OTLP_ENDPOINT an http:// URL?)")?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("stockroom");
    }
    Ok(SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(exporter, runtime::Tokio).build())
        .with_resource(resource.build())
        .build())
}

/// The span of one GraphQL operation, a child of the caller's span when its `traceparent`
/// header names one. Its name, type and result are recorded by [`record_operation`].
pub fn operation_span(headers: &axum::http::HeaderMap) -> Span {
    if !tracing_on() {
        return Span::none();
    }
    let span = tracing::info_span!(
        target: TARGET,
        parent: None,
        "graphql operation",
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        graphql.operation.name = tracing::field::Empty,
        graphql.operation.type = tracing::field::Empty,
        stockroom.code = tracing::field::Empty,
    );
    let caller =
        TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
    let _ = span.set_parent(caller);
    span
}

/// Records an operation's name (when the document gives one) on the current operation span.
pub fn record_operation_name(name: Option<&str>) {
    if tracing_on()
        && let Some(name) = name
    {
        Span::current().record("graphql.operation.name", name);
    }
}

/// Records an operation's type (`query`, `mutation`, `subscription`, `none` when refused
/// before one was chosen) and result code (`OK` or the first error's `extensions.code`).
pub fn record_operation(span: &Span, operation_type: &str, code: &str) {
    if span.is_none() {
        return;
    }
    span.record("graphql.operation.type", operation_type);
    span.record("stockroom.code", code);
    // The exported span has started by now: its name changes through OpenTelemetry itself
    // (a recorded `otel.name` only names spans that have not started yet).
    span.context()
        .span()
        .update_name(format!("graphql {operation_type}"));
    if code != "OK" {
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of one loader wave (`relation`: the key type), a child of the current span.
pub fn wave_span(relation: &str, keys: impl FnOnce() -> usize) -> Span {
    if !tracing_on() {
        return Span::none();
    }
    let keys = keys();
    let relation = relation.rsplit("::").next().unwrap_or(relation);
    tracing::info_span!(
        target: TARGET,
        "loader wave",
        otel.name = format!("loader wave {relation}"),
        stockroom.loader.relation = relation,
        stockroom.loader.keys = keys,
    )
}

/// The span of a list rendered from the loader cache in one pass (`field`: the list's field),
/// a child of the current span; [`record_render`] says whether it was rendered or executed.
pub fn render_span(field: &str) -> Span {
    if !tracing_on() {
        return Span::none();
    }
    tracing::info_span!(
        target: TARGET,
        "render",
        otel.name = format!("render {field}"),
        stockroom.render.outcome = tracing::field::Empty,
    )
}

/// Records on a render span whether the list was rendered in one pass or left to async-graphql
/// (`executed`).
pub fn record_render(span: &Span, rendered: bool) {
    if !span.is_none() {
        span.record(
            "stockroom.render.outcome",
            if rendered { "rendered" } else { "executed" },
        );
    }
}

/// diesel's connection instrumentation: a span per statement (SQL text without bind values),
/// a child of the span current where the statement was issued, ended when its result arrived.
#[derive(Default)]
pub struct SqlSpans {
    /// Statements issued and not finished, oldest first (a connection may pipeline several).
    open: VecDeque<(String, Span)>,
}

impl diesel::connection::Instrumentation for SqlSpans {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        use diesel::connection::InstrumentationEvent;
        match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                let text = query.to_string();
                // diesel's debug form appends the bind values: never export those.
                let sql = text
                    .rfind(" -- binds: ")
                    .map_or(text.as_str(), |at| &text[..at])
                    .trim()
                    .to_string();
                let verb = sql
                    .split_whitespace()
                    .next()
                    .unwrap_or("SQL")
                    .to_ascii_uppercase();
                let span = tracing::info_span!(
                    target: TARGET,
                    "sql",
                    otel.name = verb,
                    otel.kind = "client",
                    otel.status_code = tracing::field::Empty,
                    db.system.name = "postgresql",
                    db.query.text = sql.as_str(),
                );
                if self.open.len() >= MAX_OPEN_STATEMENTS {
                    self.open.pop_front();
                }
                self.open.push_back((sql, span));
            }
            InstrumentationEvent::FinishQuery { query, error, .. } => {
                let sql = query.to_string();
                let sql = sql.trim();
                let at = self.open.iter().position(|(open, _)| open == sql);
                if let Some((_, span)) = at.and_then(|at| self.open.remove(at))
                    && error.is_some()
                {
                    span.record("otel.status_code", "ERROR");
                }
            }
            _ => {}
        }
    }
}
