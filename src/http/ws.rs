//! Subscriptions (and any operation) over WebSocket with the `graphql-transport-ws` protocol,
//! on `/graphql/ws` (and as an upgrade of `/graphql`), under the same rules as HTTP.
//!
//! The protocol is implemented here rather than with async-graphql's helper because the
//! contract fixes close codes that helper does not use: a refused `connection_init` closes
//! with 4403, a `subscribe` before the ack with 4401, no `connection_init` within the timeout
//! with 4408, a second `connection_init` with 4429 (and a malformed message with 4400, a
//! duplicate subscription id with 4409, as the protocol says).
//!
//! The rules HTTP requests obey hold here too:
//! - the token is looked up again on every `subscribe` and every
//!   `STOCKROOM_WS_TOKEN_RECHECK_MS` while operations run; revoked or deleted, it closes the
//!   connection with 4403;
//! - a message over `STOCKROOM_MAX_BODY_BYTES` closes the connection with 1009;
//! - every operation runs through `operation.rs` like an HTTP one (timeout, error codes and
//!   request id, metrics), on a task of its own whose abort handle is kept by id, so
//!   `complete` stops its work at once and the id is free again;
//! - at most `STOCKROOM_MAX_SUBSCRIPTIONS_PER_CONNECTION` operations per connection (one more
//!   gets an `error` message with QUERY_TOO_COMPLEX and `limit`) and
//!   `STOCKROOM_MAX_WS_CONNECTIONS` connections (one more upgrade is answered 503);
//! - the server sends a WebSocket ping every `STOCKROOM_WS_PING_INTERVAL_MS`; a connection
//!   from which nothing arrived (no message, no pong) for `STOCKROOM_WS_IDLE_TIMEOUT_MS` is
//!   closed with 4408.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use async_graphql::Request;
use axum::{
    extract::{
        State,
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
    },
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore, mpsc},
    task::AbortHandle,
    time::MissedTickBehavior,
};
use tracing::Instrument;

use crate::{
    app::AppState,
    auth::{Credentials, Refusal, Viewer},
    config::WsSettings,
    error::AppError,
    graphql::guard::{self, Arrival, Caller},
    http::{
        metrics,
        operation::{self, Finished, SocketRun},
        request_id,
    },
    shutdown,
};

/// The sub-protocol spoken.
const PROTOCOL: &str = "graphql-transport-ws";
/// Messages of running operations waiting for the socket, per connection; a subscription
/// whose messages cannot be sent waits (and skips events it lags behind on).
const OUTGOING_BUFFER: usize = 64;
/// How long the server waits for the client's answer to its close frame (the closing
/// handshake) before it drops the connection.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// How long a connection closed for a message over the limit stays open for the client to
/// read the close frame (it cannot be read any more: the oversize frame's header is taken).
const TOO_BIG_LINGER: Duration = Duration::from_millis(500);
/// `Retry-After` (seconds) of an upgrade refused because all connections are taken.
const RETRY_AFTER_SECONDS: &str = "5";

/// Close codes of the contract and the protocol.
mod close_code {
    /// The token was refused (at `connection_init`, or revoked since).
    pub const FORBIDDEN: u16 = 4403;
    /// `subscribe` before `connection_ack`.
    pub const UNAUTHORIZED: u16 = 4401;
    /// No `connection_init` in time, or nothing heard from the client for the idle timeout.
    pub const TIMEOUT: u16 = 4408;
    /// A second `connection_init`.
    pub const TOO_MANY_INITS: u16 = 4429;
    /// A message that is not one of the protocol.
    pub const BAD_MESSAGE: u16 = 4400;
    /// A `subscribe` with the id of a running operation.
    pub const DUPLICATE_ID: u16 = 4409;
    /// A message over the size limit (RFC 6455 "message too big").
    pub const TOO_BIG: u16 = 1009;
    /// The token could not be checked at `connection_init` (RFC 6455 "try again later").
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// The instance's WebSocket connection slots (`STOCKROOM_MAX_WS_CONNECTIONS`).
#[derive(Clone)]
pub struct Sockets(Arc<Semaphore>);

impl Sockets {
    /// Room for `max` connections at once.
    pub fn new(max: usize) -> Self {
        Self(Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS))))
    }

    fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }
}

/// Messages a client may send.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Subscribe {
        id: String,
        payload: Box<Request>,
    },
    Complete {
        id: String,
    },
    Ping {
        #[serde(default)]
        payload: Option<Value>,
    },
    Pong {},
}

/// `GET /graphql/ws`: upgrades to a graphql-transport-ws session, when a slot is free.
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(slot) = state.sockets.take() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::RETRY_AFTER, RETRY_AFTER_SECONDS),
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            ],
            "too many WebSocket connections; try again shortly",
        )
            .into_response();
    };
    let upgrade_credentials = Credentials::from_headers(&headers);
    let max = state.settings.limits.max_body_bytes;
    ws.protocols([PROTOCOL])
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            session(socket, state, upgrade_credentials).await;
            drop(slot);
        })
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

fn text(value: &Value) -> Message {
    Message::Text(value.to_string().into())
}

/// An `error` message for an operation refused before it started (counted in the metrics
/// like an HTTP request refused before parsing).
fn error_message(id: &str, err: AppError) -> Message {
    metrics::record("none", err.code(), 0.0);
    text(&json!({"type": "error", "id": id, "payload": [guard::from_app(err)]}))
}

/// Waits for `connection_init` and authenticates it; on refusal the socket is closed and
/// `None` returned.
async fn initialise(
    socket: &mut WebSocket,
    state: &AppState,
    upgrade_credentials: Credentials,
) -> Option<(Viewer, Credentials)> {
    let refusal = match tokio::time::timeout(state.settings.ws.init_timeout(), socket.recv()).await
    {
        Err(_) => (close_code::TIMEOUT, "Connection initialisation timeout"),
        Ok(None | Some(Err(_))) => return None,
        Ok(Some(Ok(Message::Text(raw)))) => match serde_json::from_str::<ClientMessage>(&raw) {
            Ok(ClientMessage::ConnectionInit { payload }) => {
                let credentials =
                    Credentials::from_connection_init(payload.as_ref(), upgrade_credentials);
                match credentials.authenticate(&state.reads.primary()).await {
                    Ok(viewer) if viewer.may_read(state.settings.public_read) => {
                        return Some((viewer, credentials));
                    }
                    Ok(_) | Err(Refusal::Rejected(_)) => (close_code::FORBIDDEN, "Forbidden"),
                    Err(Refusal::Unchecked(_)) => (
                        close_code::TRY_AGAIN_LATER,
                        "The token cannot be checked now",
                    ),
                }
            }
            Ok(ClientMessage::Subscribe { .. }) => (close_code::UNAUTHORIZED, "Unauthorized"),
            _ => (close_code::BAD_MESSAGE, "Expected connection_init"),
        },
        Ok(Some(Ok(_))) => (close_code::BAD_MESSAGE, "Expected a text message"),
    };
    end(socket, refusal.0, refusal.1).await;
    None
}

/// Closes the connection with `code`: sends the close frame and waits (briefly) for the
/// client's, so that the client reads the code before the connection goes.
async fn end(socket: &mut WebSocket, code: u16, reason: &str) {
    if tokio::time::timeout(CLOSE_WAIT, socket.send(close(code, reason)))
        .await
        .is_err()
    {
        return;
    }
    if code == close_code::TOO_BIG {
        tokio::time::sleep(TOO_BIG_LINGER).await;
        return;
    }
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// A message of a running operation for the socket.
enum Outgoing {
    /// A `next` message, serialised.
    Next {
        serial: u64,
        id: String,
        text: String,
    },
    /// The operation ended: `complete`.
    Done { serial: u64, id: String },
}

/// The running operations of a connection by id, each with the serial number that tells
/// its messages from those of an earlier operation under the same id; all are aborted when
/// the connection ends.
#[derive(Default)]
struct Operations(HashMap<String, (u64, AbortHandle)>);

impl Operations {
    fn is_current(&self, id: &str, serial: u64) -> bool {
        self.0.get(id).is_some_and(|(s, _)| *s == serial)
    }
}

impl Drop for Operations {
    fn drop(&mut self) {
        for (_, task) in self.0.values() {
            task.abort();
        }
    }
}

/// One acknowledged connection.
struct Session {
    state: AppState,
    /// What the connection authenticated with (checked again while it lives).
    credentials: Credentials,
    viewer: Viewer,
    operations: Operations,
    next_serial: u64,
    outgoing: mpsc::Sender<Outgoing>,
}

/// Closes a connection whose token was revoked (or its user deleted) since it was accepted.
fn revoked() -> Step {
    Step::Close(
        close_code::FORBIDDEN,
        "Forbidden: the token was revoked".into(),
    )
}

/// What to do after a client message.
enum Step {
    Reply(Message),
    Nothing,
    Close(u16, String),
}

async fn session(mut socket: WebSocket, state: AppState, upgrade_credentials: Credentials) {
    let Some((viewer, credentials)) = initialise(&mut socket, &state, upgrade_credentials).await
    else {
        return;
    };
    if socket
        .send(text(&json!({"type": "connection_ack"})))
        .await
        .is_err()
    {
        return;
    }
    let settings: WsSettings = state.settings.ws.clone();
    let idle = Duration::from_millis(settings.idle_timeout_ms.max(1));
    let (outgoing, mut messages) = mpsc::channel(OUTGOING_BUFFER);
    let mut session = Session {
        state,
        credentials,
        viewer,
        operations: Operations::default(),
        next_serial: 0,
        outgoing,
    };
    let every = |ms: u64| {
        let mut timer = tokio::time::interval(Duration::from_millis(ms.max(1)));
        timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        timer.reset();
        timer
    };
    let mut ping = every(settings.ping_interval_ms);
    let mut recheck = every(settings.token_recheck_ms);
    let mut heard = Instant::now();
    let idle_deadline = tokio::time::sleep(idle);
    tokio::pin!(idle_deadline);
    // When the service stops: no new operations, those running finish, then close 1001.
    let _held = session.state.drain.hold();
    let wind_up = session.state.drain.begun();
    tokio::pin!(wind_up);
    let mut draining = false;

    let ending = loop {
        if draining && session.operations.0.is_empty() {
            break (shutdown::GOING_AWAY, "Server shutting down".into());
        }
        let step = tokio::select! {
            () = &mut wind_up, if !draining => {
                draining = true;
                Step::Nothing
            }
            incoming = socket.recv() => {
                heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(raw))) => session.on_message(&raw).await,
                    Some(Ok(Message::Close(_))) | None => return,
                    Some(Err(err)) if too_big(&err) => {
                        Step::Close(close_code::TOO_BIG, "Message too big".into())
                    }
                    Some(Err(_)) => return,
                    // Pings are answered by the WebSocket layer; pongs and binary frames only
                    // show the client is there.
                    Some(Ok(_)) => Step::Nothing,
                }
            }
            Some(message) = messages.recv() => match message {
                Outgoing::Next { serial, id, text } => {
                    // A message of an operation completed since is dropped.
                    if session.operations.is_current(&id, serial) {
                        Step::Reply(Message::Text(text.into()))
                    } else {
                        Step::Nothing
                    }
                }
                Outgoing::Done { serial, id } => {
                    if session.operations.is_current(&id, serial) {
                        session.operations.0.remove(&id);
                        Step::Reply(text(&json!({"type": "complete", "id": id})))
                    } else {
                        Step::Nothing
                    }
                }
            },
            _ = ping.tick() => Step::Reply(Message::Ping(Default::default())),
            _ = recheck.tick(), if !session.operations.0.is_empty() => session.recheck().await,
            () = &mut idle_deadline => {
                if heard.elapsed() >= idle {
                    Step::Close(close_code::TIMEOUT, "Idle timeout: no answer from the client".into())
                } else {
                    idle_deadline.as_mut().reset((heard + idle).into());
                    Step::Nothing
                }
            }
        };
        match step {
            Step::Nothing => {}
            Step::Reply(message) => {
                // A client that reads nothing for the idle timeout is gone.
                match tokio::time::timeout(idle, socket.send(message)).await {
                    Ok(Ok(())) => {}
                    _ => return,
                }
            }
            Step::Close(code, reason) => break (code, reason),
        }
    };
    drop(session);
    end(&mut socket, ending.0, &ending.1).await;
}

/// Whether a receive error is a message over the size limit.
fn too_big(err: &axum::Error) -> bool {
    matches!(
        std::error::Error::source(err).and_then(|e| e.downcast_ref::<tungstenite::Error>()),
        Some(tungstenite::Error::Capacity(_))
    )
}

impl Session {
    async fn on_message(&mut self, raw: &str) -> Step {
        match serde_json::from_str::<ClientMessage>(raw) {
            Ok(ClientMessage::ConnectionInit { .. }) => Step::Close(
                close_code::TOO_MANY_INITS,
                "Too many initialisation requests".into(),
            ),
            Ok(ClientMessage::Subscribe { id, payload }) => self.subscribe(id, *payload).await,
            Ok(ClientMessage::Complete { id }) => {
                // Aborted at once; a `next` it had queued is dropped by its serial.
                if let Some((_, task)) = self.operations.0.remove(&id) {
                    task.abort();
                }
                Step::Nothing
            }
            Ok(ClientMessage::Ping { payload }) => {
                let mut pong = json!({"type": "pong"});
                if let Some(payload) = payload {
                    pong["payload"] = payload;
                }
                Step::Reply(text(&pong))
            }
            Ok(ClientMessage::Pong {}) => Step::Nothing,
            Err(_) => Step::Close(close_code::BAD_MESSAGE, "Invalid message".into()),
        }
    }

    /// Authenticates the connection's credentials again (nothing to look up when anonymous)
    /// and keeps the caller it finds.
    async fn reauthenticate(&mut self) -> Result<(), Refusal> {
        if self.credentials.sent() {
            self.viewer = self
                .credentials
                .authenticate(&self.state.reads.primary())
                .await?;
        }
        Ok(())
    }

    /// The periodic check of the token; a refused one ends the connection.
    async fn recheck(&mut self) -> Step {
        match self.reauthenticate().await {
            Ok(()) => Step::Nothing,
            Err(Refusal::Rejected(_)) => revoked(),
            Err(Refusal::Unchecked(err)) => {
                tracing::warn!(error = ?err, "websocket: the token could not be checked again");
                Step::Nothing
            }
        }
    }

    async fn subscribe(&mut self, id: String, request: Request) -> Step {
        if self.state.drain.is_begun() {
            return Step::Reply(text(&shutdown::refusal(&id)));
        }
        if self.operations.0.contains_key(&id) {
            return Step::Close(
                close_code::DUPLICATE_ID,
                format!("Subscriber for {id} already exists"),
            );
        }
        let max = self.state.settings.ws.max_subscriptions_per_connection;
        if self.operations.0.len() >= max {
            let err = AppError::QueryTooComplex {
                message: format!(
                    "the connection already runs {max} subscriptions, the limit; complete one first"
                ),
                limit: max,
            };
            return Step::Reply(error_message(&id, err));
        }
        match self.reauthenticate().await {
            Ok(()) => {}
            Err(Refusal::Rejected(_)) => return revoked(),
            Err(Refusal::Unchecked(err)) => return Step::Reply(error_message(&id, err)),
        }
        self.next_serial += 1;
        let serial = self.next_serial;
        let task = tokio::spawn(run(
            self.state.clone(),
            self.viewer.clone(),
            id.clone(),
            serial,
            request,
            self.outgoing.clone(),
        ));
        self.operations.0.insert(id, (serial, task.abort_handle()));
        Step::Nothing
    }
}

/// A `next` message.
fn next_text(id: &str, finished: &Finished) -> String {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(br#"{"type":"next","id":"#);
    // Writing a string to a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut out, id);
    out.extend_from_slice(br#","payload":"#);
    finished.body().write(&mut out);
    out.push(b'}');
    // JSON written from `str`s and serde_json is UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Runs one operation of a connection, handing its messages to the session.
async fn run(
    state: AppState,
    viewer: Viewer,
    id: String,
    serial: u64,
    request: Request,
    outgoing: mpsc::Sender<Outgoing>,
) {
    let request_id = request_id::fresh();
    let span = tracing::info_span!("graphql", request_id = %request_id, transport = "ws");
    async {
        let arrival = Arrival {
            caller: Caller::Socket(&viewer),
            get: false,
            consistency: None,
        };
        let mut results = match operation::run_socket(&state, request, arrival, request_id).await {
            // A query or mutation runs to its result, even when the service stops.
            SocketRun::Once(finished) => futures::stream::once(async { *finished }).boxed(),
            // A subscription ends when the service stops.
            SocketRun::Stream(stream) => state.drain.wind_up(stream),
        };
        while let Some(finished) = results.next().await {
            let next = Outgoing::Next {
                serial,
                id: id.clone(),
                text: next_text(&id, &finished),
            };
            if outgoing.send(next).await.is_err() {
                return;
            }
        }
        let _ = outgoing.send(Outgoing::Done { serial, id }).await;
    }
    .instrument(span)
    .await;
}

/// Whether a request to `/graphql` asks for a WebSocket upgrade.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}
