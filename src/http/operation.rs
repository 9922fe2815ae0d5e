//! One GraphQL operation as HTTP (POST, GET) and the WebSocket both run it: through the gate,
//! under the request timeout and a panic guard, every error given its code (internal ones
//! masked, with the request id), and counted in the metrics.

use std::{
    panic::AssertUnwindSafe,
    time::{Duration, Instant},
};

use async_graphql::{
    ErrorExtensionValues, Request, Response, ServerError, Value as ConstValue,
    parser::types::OperationType,
};
use futures::{FutureExt, StreamExt, stream::BoxStream};
use tracing::Instrument;

use crate::{
    app::AppState,
    error::{AppError, code},
    graphql::{
        guard::{self, Arrival, Execution},
        mutation::MovementWatch,
        render,
    },
    http::metrics,
};

/// Codes of errors that stop a request before execution (a "request error" of the spec).
const REQUEST_ERROR_CODES: [&str; 5] = [
    code::GRAPHQL_PARSE_FAILED,
    code::GRAPHQL_VALIDATION_FAILED,
    code::QUERY_TOO_COMPLEX,
    code::BAD_REQUEST,
    guard::PERSISTED_QUERY_NOT_FOUND,
];

/// One operation's response with every error coded.
pub struct Finished {
    /// The response; its errors all carry `extensions.code`.
    pub response: Response,
    /// The first error's code, or `OK`.
    pub code: String,
    /// Stopped before execution (parse, validation, limits): the result has no `data`.
    pub request_error: bool,
    /// The type of the operation that ran (`None` when none did).
    pub operation_type: Option<OperationType>,
    /// A resolver panicked.
    pub panicked: bool,
}

impl Finished {
    /// The JSON result of the operation (`data` left out for a request error).
    pub fn body(&self) -> ResultBody<'_> {
        ResultBody {
            data: (!self.request_error).then_some(&self.response.data),
            errors: &self.response.errors,
            extensions: &self.response.extensions,
        }
    }
}

/// The JSON result of one operation.
pub struct ResultBody<'a> {
    data: Option<&'a ConstValue>,
    errors: &'a [ServerError],
    extensions: &'a std::collections::BTreeMap<String, ConstValue>,
}

impl ResultBody<'_> {
    /// Its JSON text: `data` (when there is any), `errors` and `extensions` (when not empty).
    /// Straight to bytes, no intermediate `serde_json::Value`; pages rendered as JSON text
    /// (`graphql::render`) are copied in as they are.
    pub fn write(&self, out: &mut Vec<u8>) {
        let mut sep = b'{';
        let mut member = |out: &mut Vec<u8>, name: &[u8]| {
            out.push(sep);
            sep = b',';
            out.extend_from_slice(name);
        };
        if let Some(data) = self.data {
            member(out, br#""data":"#);
            write_value(out, data);
        }
        if !self.errors.is_empty() {
            member(out, br#""errors":"#);
            // Writing to a `Vec` cannot fail, and errors always serialise.
            let _ = serde_json::to_writer(&mut *out, self.errors);
        }
        if !self.extensions.is_empty() {
            member(out, br#""extensions":"#);
            let _ = serde_json::to_writer(&mut *out, self.extensions);
        }
        if sep == b'{' {
            out.push(b'{');
        }
        out.push(b'}');
    }

    /// Its JSON text in a new buffer, sized for the rendered pages it holds.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024 + self.data.map_or(0, rendered_len));
        self.write(&mut out);
        out
    }
}

/// The length of the rendered pages' JSON text in a response value.
fn rendered_len(value: &ConstValue) -> usize {
    if let Some(text) = render::json_text(value) {
        return text.len();
    }
    match value {
        ConstValue::List(items) => items.iter().map(rendered_len).sum(),
        ConstValue::Object(fields) => fields.values().map(rendered_len).sum(),
        _ => 0,
    }
}

/// Writes a response value as JSON, rendered pages verbatim.
fn write_value(out: &mut Vec<u8>, value: &ConstValue) {
    if let Some(text) = render::json_text(value) {
        out.extend_from_slice(text);
        return;
    }
    match value {
        ConstValue::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        ConstValue::Object(fields) => {
            out.push(b'{');
            for (i, (name, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let _ = serde_json::to_writer(&mut *out, name.as_str());
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
        // Null, numbers, strings, booleans and enums always serialise.
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

/// How a socket operation is answered.
pub enum SocketRun {
    /// Once: a query, a mutation, or a refusal (already counted in the metrics).
    Once(Box<Finished>),
    /// A subscription's results, one per event, finished like [`Finished`]'s; counted in the
    /// metrics when the stream ends or is dropped.
    Stream(BoxStream<'static, Finished>),
}

/// Runs one operation to its single response (HTTP, where a subscription is refused by the
/// executor) and records it.
pub async fn run_once(
    state: &AppState,
    request: Request,
    arrival: Arrival<'_>,
    request_id: &str,
    span: tracing::Span,
) -> Finished {
    let started = Instant::now();
    let movements = MovementWatch::default();
    let request = request.data(movements.clone());
    let ((response, ty), panicked) = guarded(
        state.gate.run(request, arrival).instrument(span.clone()),
        state.settings.limits.request_timeout_ms,
        &movements,
        |response| (response, None),
    )
    .await;
    let finished = finish(response, ty, panicked, request_id);
    record(&finished, started);
    crate::telemetry::record_operation(
        &span,
        operation_label(finished.operation_type),
        &finished.code,
    );
    finished
}

/// Runs one operation that came over a WebSocket: checked, timed, coded and counted like an
/// HTTP one; a subscription becomes a stream of finished results.
pub async fn run_socket(
    state: &AppState,
    request: Request,
    arrival: Arrival<'_>,
    request_id: String,
) -> SocketRun {
    let started = Instant::now();
    // A root span (a socket carries no `traceparent`); `Span::none()` unless traces are on.
    let span = crate::telemetry::operation_span(&axum::http::HeaderMap::new());
    let movements = MovementWatch::default();
    let request = request.data(movements.clone());
    let ((execution, ty), panicked) = guarded(
        state
            .gate
            .run_socket(request, arrival)
            .instrument(span.clone()),
        state.settings.limits.request_timeout_ms,
        &movements,
        |response| (Execution::Once(Box::new(response)), None),
    )
    .await;
    match execution {
        Execution::Once(response) => {
            let finished = finish(*response, ty, panicked, &request_id);
            record(&finished, started);
            crate::telemetry::record_operation(
                &span,
                operation_label(finished.operation_type),
                &finished.code,
            );
            SocketRun::Once(Box::new(finished))
        }
        Execution::Stream(stream) => {
            // Owned by the closure below: recorded when the stream is dropped.
            let mut tally = Tally {
                started,
                code: None,
                operation_type: ty,
                span,
            };
            let stream = AssertUnwindSafe(stream)
                .catch_unwind()
                .map(move |item| {
                    let (response, panicked) = match item {
                        Ok(response) => (response, false),
                        Err(_) => (panicked_response(), true),
                    };
                    let finished = finish(response, ty, panicked, &request_id);
                    if tally.code.is_none() && finished.code != "OK" {
                        tally.code = Some(finished.code.clone());
                    }
                    finished
                })
                // After a panic the stream is done (catch_unwind ends it).
                .boxed();
            SocketRun::Stream(stream)
        }
    }
}

/// The metrics of one subscription, recorded when it ends (or is completed, or its
/// connection closes): its lifetime and its first error's code, in the metrics and on its
/// span.
struct Tally {
    started: Instant,
    code: Option<String>,
    operation_type: Option<OperationType>,
    span: tracing::Span,
}

impl Drop for Tally {
    fn drop(&mut self) {
        let label = operation_label(self.operation_type);
        let code = self.code.as_deref().unwrap_or("OK");
        metrics::record(label, code, self.started.elapsed().as_secs_f64());
        crate::telemetry::record_operation(&self.span, label, code);
    }
}

/// The metrics label of an operation type.
fn operation_label(ty: Option<OperationType>) -> &'static str {
    match ty {
        Some(OperationType::Query) => "query",
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        None => "none",
    }
}

fn record(finished: &Finished, started: Instant) {
    metrics::record(
        operation_label(finished.operation_type),
        &finished.code,
        started.elapsed().as_secs_f64(),
    );
}

/// Codes every error of a response and masks internal ones.
pub fn finish(
    mut response: Response,
    operation_type: Option<OperationType>,
    panicked: bool,
    request_id: &str,
) -> Finished {
    let no_data = matches!(response.data, ConstValue::Null);
    response.errors = std::mem::take(&mut response.errors)
        .into_iter()
        .map(|e| finish_error(e, no_data, request_id))
        .collect();
    let codes: Vec<&str> = response
        .errors
        .iter()
        .map(|e| guard::code_of(e).unwrap_or(code::INTERNAL_SERVER_ERROR))
        .collect();
    let request_error =
        no_data && !codes.is_empty() && codes.iter().all(|c| REQUEST_ERROR_CODES.contains(c));
    let code = codes.first().copied().unwrap_or("OK").to_string();
    Finished {
        response,
        code,
        request_error,
        // A document refused before execution ran no operation.
        operation_type: operation_type.filter(|_| !request_error),
        panicked,
    }
}

/// Gives an error without a code its code; an internal one loses its text and gains the
/// request id (its cause is in the log under that id).
pub fn finish_error(mut err: ServerError, no_data: bool, request_id: &str) -> ServerError {
    if guard::code_of(&err).is_none() {
        let code = if no_data && err.path.is_empty() {
            // async-graphql's own request errors (unknown operation name, …).
            code::GRAPHQL_VALIDATION_FAILED
        } else if err.message.starts_with("Failed to parse")
            || err.message.starts_with("Invalid value")
        {
            code::BAD_USER_INPUT
        } else {
            tracing::error!(message = %err.message, path = ?err.path, "error without a code");
            code::INTERNAL_SERVER_ERROR
        };
        err.extensions
            .get_or_insert_with(Default::default)
            .set("code", code);
    }
    if guard::code_of(&err) == Some(code::INTERNAL_SERVER_ERROR) {
        err.message = format!(
            "internal server error (request id {request_id}); the details are in the server log"
        );
        err.extensions
            .get_or_insert_with(Default::default)
            .set("requestId", request_id);
    }
    err
}

fn panicked_response() -> Response {
    tracing::error!("a resolver panicked");
    let err = guard::from_app(AppError::internal(anyhow::anyhow!("a resolver panicked")));
    Response::from_errors(vec![err])
}

/// Runs an operation under the time limit, turning a panic into an INTERNAL_SERVER_ERROR
/// (the server and the other operations carry on). Returns whether it panicked. At the limit,
/// an operation with a stock movement under way is waited for (no new one starts), so the
/// client learns the movement's real outcome; any other is answered SERVICE_UNAVAILABLE.
/// `refused` turns such an error response into the operation's output.
pub async fn guarded<O>(
    run: impl std::future::Future<Output = O>,
    timeout_ms: u64,
    movements: &MovementWatch,
    refused: impl FnOnce(Response) -> O,
) -> (O, bool) {
    let run = AssertUnwindSafe(run).catch_unwind();
    tokio::pin!(run);
    let finished = match tokio::time::timeout(Duration::from_millis(timeout_ms), &mut run).await {
        Ok(result) => Some(result),
        Err(_) if movements.close() => Some(run.await),
        Err(_) => None,
    };
    match finished {
        Some(Ok(output)) => (output, false),
        Some(Err(_)) => (refused(panicked_response()), true),
        None => {
            let mut err = ServerError::new(
                format!("the operation took longer than the limit of {timeout_ms} ms"),
                None,
            );
            let mut ext = ErrorExtensionValues::default();
            ext.set("code", code::SERVICE_UNAVAILABLE);
            ext.set("limit", timeout_ms);
            err.extensions = Some(ext);
            (refused(Response::from_errors(vec![err])), false)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn code_of(err: &ServerError) -> Option<ConstValue> {
        err.extensions.as_ref()?.get("code").cloned()
    }

    #[test]
    fn an_error_without_a_code_during_execution_is_masked_as_internal_with_the_request_id() {
        let mut err = ServerError::new(
            "relation \"products\" does not exist (SQLSTATE 42P01)",
            None,
        );
        err.path = vec![async_graphql::PathSegment::Field("products".into())];
        let err = finish_error(err, false, "req-1");
        assert_eq!(
            code_of(&err),
            Some(ConstValue::from("INTERNAL_SERVER_ERROR"))
        );
        assert!(!err.message.contains("SQLSTATE"), "{}", err.message);
        assert!(err.message.contains("req-1"));
        let ext = err.extensions.unwrap();
        assert_eq!(ext.get("requestId"), Some(&ConstValue::from("req-1")));
    }

    #[test]
    fn an_internal_app_error_keeps_no_cause_and_gains_the_request_id() {
        let err = guard::from_app(AppError::internal(anyhow::anyhow!(
            "duplicate key value violates unique constraint \"users_pkey\""
        )));
        let err = finish_error(err, false, "req-2");
        assert!(!err.message.contains("duplicate"), "{}", err.message);
        assert_eq!(
            err.extensions.unwrap().get("requestId"),
            Some(&ConstValue::from("req-2"))
        );
    }

    #[test]
    fn input_coercion_errors_are_bad_user_input_and_request_level_ones_validation_failures() {
        let mut err = ServerError::new("Failed to parse \"Int\": only integers", None);
        err.path = vec![async_graphql::PathSegment::Field("products".into())];
        assert_eq!(
            code_of(&finish_error(err, false, "r")),
            Some(ConstValue::from("BAD_USER_INPUT"))
        );
        let err = ServerError::new("Unknown operation named \"B\"", None);
        assert_eq!(
            code_of(&finish_error(err, true, "r")),
            Some(ConstValue::from("GRAPHQL_VALIDATION_FAILED"))
        );
    }

    #[test]
    fn a_coded_error_keeps_its_code_and_message() {
        let err = guard::from_app(AppError::bad_input("first", "`first` must be at most 100"));
        let err = finish_error(err, false, "r");
        assert_eq!(code_of(&err), Some(ConstValue::from("BAD_USER_INPUT")));
        assert_eq!(err.message, "`first` must be at most 100");
    }

    #[tokio::test]
    async fn a_panicking_operation_becomes_an_internal_error_and_a_slow_one_times_out() {
        let (res, panicked) = guarded(
            async {
                if code_of(&ServerError::new("x", None)).is_none() {
                    panic!("resolver bug: SELECT secret FROM t");
                }
                Response::new(ConstValue::Null)
            },
            1000,
            &MovementWatch::default(),
            |r| r,
        )
        .await;
        assert!(panicked);
        let err = finish_error(res.errors[0].clone(), true, "r");
        assert_eq!(
            code_of(&err),
            Some(ConstValue::from("INTERNAL_SERVER_ERROR"))
        );
        assert!(!err.message.contains("SELECT"));

        let (res, panicked) = guarded(
            async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Response::new(ConstValue::Null)
            },
            50,
            &MovementWatch::default(),
            |r| r,
        )
        .await;
        assert!(!panicked);
        assert_eq!(
            code_of(&res.errors[0]),
            Some(ConstValue::from("SERVICE_UNAVAILABLE"))
        );
    }
}
