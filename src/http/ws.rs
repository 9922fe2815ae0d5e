//! Subscriptions (and any operation) over WebSocket with the `graphql-transport-ws` protocol,
//! on `/graphql/ws` (and as an upgrade of `/graphql`).
//!
//! The protocol is implemented here rather than with async-graphql's helper because the
//! contract fixes close codes that helper does not use: a refused `connection_init` closes
//! with 4403, a `subscribe` before the ack with 4401, no `connection_init` within the timeout
//! with 4408, a second `connection_init` with 4429 (and a malformed message with 4400, a
//! duplicate subscription id with 4409, as the protocol says).

use std::{collections::HashMap, time::Duration};

use async_graphql::Request;
use axum::{
    extract::{
        State,
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
    },
    http::{HeaderMap, header},
    response::Response,
};
use futures::{FutureExt, StreamExt, stream::SelectAll};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    app::AppState,
    auth,
    graphql::guard::{Arrival, Caller},
};

/// The sub-protocol spoken.
const PROTOCOL: &str = "graphql-transport-ws";
/// How long a client may take to send `connection_init`.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

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

/// `GET /graphql/ws`: upgrades to a graphql-transport-ws session.
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let header_auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    ws.protocols([PROTOCOL])
        .on_upgrade(move |socket| session(socket, state, header_auth))
}

fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

fn text(value: Value) -> Message {
    Message::Text(value.to_string().into())
}

/// Authenticates a `connection_init`: the payload's `Authorization` (or the upgrade request's
/// header); anonymous only with public reads.
async fn authenticate(
    state: &AppState,
    payload: Option<&Value>,
    header_auth: Option<&str>,
) -> Option<auth::Viewer> {
    let from_payload = payload
        .and_then(|p| p.get("Authorization").or_else(|| p.get("authorization")))
        .and_then(Value::as_str);
    let authorization = from_payload.or(header_auth);
    let viewer = match authorization {
        Some(value) => {
            let primary = state.reads.primary();
            crate::with_read!(&primary, conn => auth::authenticate(conn, Some(value)).await).ok()?
        }
        None => auth::Viewer::default(),
    };
    (viewer.user.is_some() || state.settings.public_read).then_some(viewer)
}

async fn session(mut socket: WebSocket, state: AppState, header_auth: Option<String>) {
    // connection_init must come first, and within the timeout.
    let viewer = match tokio::time::timeout(INIT_TIMEOUT, socket.recv()).await {
        Err(_) => {
            let _ = socket
                .send(close(4408, "Connection initialisation timeout"))
                .await;
            return;
        }
        Ok(None | Some(Err(_))) => return,
        Ok(Some(Ok(Message::Text(raw)))) => match serde_json::from_str::<ClientMessage>(&raw) {
            Ok(ClientMessage::ConnectionInit { payload }) => {
                match authenticate(&state, payload.as_ref(), header_auth.as_deref()).await {
                    Some(viewer) => viewer,
                    None => {
                        let _ = socket.send(close(4403, "Forbidden")).await;
                        return;
                    }
                }
            }
            Ok(ClientMessage::Subscribe { .. }) => {
                let _ = socket.send(close(4401, "Unauthorized")).await;
                return;
            }
            _ => {
                let _ = socket.send(close(4400, "Expected connection_init")).await;
                return;
            }
        },
        Ok(Some(Ok(_))) => {
            let _ = socket.send(close(4400, "Expected a text message")).await;
            return;
        }
    };
    if socket
        .send(text(json!({"type": "connection_ack"})))
        .await
        .is_err()
    {
        return;
    }

    let mut streams: SelectAll<futures::stream::BoxStream<'static, (String, Option<Value>)>> =
        SelectAll::new();
    let mut active: HashMap<String, ()> = HashMap::new();
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let raw = match incoming {
                    Some(Ok(Message::Text(raw))) => raw,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                let reply = match serde_json::from_str::<ClientMessage>(&raw) {
                    Ok(ClientMessage::ConnectionInit { .. }) => {
                        let _ = socket.send(close(4429, "Too many initialisation requests")).await;
                        return;
                    }
                    Ok(ClientMessage::Subscribe { id, payload }) => {
                        if active.contains_key(&id) {
                            let _ = socket.send(close(4409, &format!("Subscriber for {id} already exists"))).await;
                            return;
                        }
                        active.insert(id.clone(), ());
                        streams.push(operation(&state, &viewer, id, *payload));
                        None
                    }
                    Ok(ClientMessage::Complete { id }) => {
                        active.remove(&id);
                        None
                    }
                    Ok(ClientMessage::Ping { payload }) => {
                        let mut pong = json!({"type": "pong"});
                        if let Some(payload) = payload {
                            pong["payload"] = payload;
                        }
                        Some(text(pong))
                    }
                    Ok(ClientMessage::Pong {}) => None,
                    Err(_) => {
                        let _ = socket.send(close(4400, "Invalid message")).await;
                        return;
                    }
                };
                if let Some(reply) = reply
                    && socket.send(reply).await.is_err()
                {
                    return;
                }
            }
            Some((id, payload)) = streams.next(), if !streams.is_empty() => {
                // A stream of a subscription the client completed is dropped silently.
                if !active.contains_key(&id) {
                    continue;
                }
                let message = match payload {
                    Some(payload) => json!({"type": "next", "id": id, "payload": payload}),
                    None => {
                        active.remove(&id);
                        json!({"type": "complete", "id": id})
                    }
                };
                if socket.send(text(message)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Runs one operation, checked like an HTTP one, as a stream of `(id, Some(result))` ending
/// with `(id, None)`.
fn operation(
    state: &AppState,
    viewer: &auth::Viewer,
    id: String,
    request: Request,
) -> futures::stream::BoxStream<'static, (String, Option<Value>)> {
    let gate = state.gate.clone();
    let viewer = viewer.clone();
    let done_id = id.clone();
    async move {
        let arrival = Arrival {
            caller: Caller::Socket(&viewer),
            get: false,
            consistency: None,
        };
        gate.run_stream(request, arrival).await
    }
    .flatten_stream()
    .map(move |response| {
        let payload = serde_json::to_value(&response).unwrap_or(Value::Null);
        (id.clone(), Some(payload))
    })
    .chain(futures::stream::once(async move { (done_id, None) }))
    .boxed()
}

/// Whether a request to `/graphql` asks for a WebSocket upgrade.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}
