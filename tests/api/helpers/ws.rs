//! A graphql-transport-ws client for tests, and the readiness signals of live updates: wait
//! for these instead of sleeping before a change that a subscriber should see.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use super::{TestApp, sql};

/// How long a test waits for a message it expects (generous: CI runs the whole suite on two
/// loaded cores).
pub const WAIT: Duration = Duration::from_secs(20);

/// A WebSocket to the test server.
pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a `graphql-transport-ws` WebSocket on `url` (`http://host:port/path`; `ws://` too).
pub async fn ws_open(url: &str) -> WsStream {
    let mut req = url
        .replacen("http://", "ws://", 1)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// Opens a `graphql-transport-ws` WebSocket on `path` (`/graphql/ws` or `/graphql`) of `app`.
pub async fn ws_connect(app: &TestApp, path: &str) -> WsStream {
    ws_open(&format!("{}{path}", app.base)).await
}

/// A graphql-transport-ws client.
pub struct WsClient {
    /// The socket, for tests that send or read raw frames.
    pub socket: WsStream,
}

impl WsClient {
    /// Connects to `app`'s `/graphql/ws` and initialises with `token`; the server acknowledged.
    pub async fn connect(app: &TestApp, token: &str) -> Self {
        Self::connect_to(&app.base, token).await
    }

    /// Connects to the service at `base` (`http://host:port`) and initialises with `token`.
    pub async fn connect_to(base: &str, token: &str) -> Self {
        Self::connect_at(&format!("{base}/graphql/ws"), token).await
    }

    /// Connects to `url` (`http://host:port/graphql/ws` or `…/graphql`) and initialises with
    /// `token`; the server acknowledged.
    pub async fn connect_at(url: &str, token: &str) -> Self {
        let mut client = Self {
            socket: ws_open(url).await,
        };
        client
            .send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}}))
            .await;
        let ack = client.next().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    /// Sends one protocol message.
    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }

    /// Starts operation `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str) {
        self.send(json!({"id": id, "type": "subscribe", "payload": {"query": query}}))
            .await;
    }

    /// Ends operation `id`.
    pub async fn complete(&mut self, id: &str) {
        self.send(json!({"id": id, "type": "complete"})).await;
    }

    /// The next protocol message other than ping/pong (WebSocket pings are answered by the
    /// client library while it reads), within [`WAIT`].
    pub async fn next(&mut self) -> Value {
        self.next_within(WAIT).await
    }

    /// The next protocol message other than ping/pong, within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("a message in time")
                .expect("the socket is open")
                .expect("a message");
            match msg {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] != "ping" && value["type"] != "pong" {
                        return value;
                    }
                }
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => {}
            }
        }
    }

    /// Whether no protocol message arrives within `wait` (the wait is the test: something
    /// must not happen).
    pub async fn nothing_within(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.next()).await.is_err()
    }

    /// The close code the server ends the connection with (messages before it are skipped).
    pub async fn close_code(&mut self) -> Option<u16> {
        tokio::time::timeout(WAIT, async {
            while let Some(Ok(msg)) = self.socket.next().await {
                if let Message::Close(frame) = msg {
                    return frame.map(|f| u16::from(f.code));
                }
            }
            None
        })
        .await
        .expect("the server closes the socket in time")
    }

    /// Runs a one-shot operation; returns its `next` payload (after which `complete` came).
    pub async fn run(&mut self, id: &str, query: &str) -> Value {
        self.subscribe(id, query).await;
        let next = self.next().await;
        assert_eq!(next["type"], "next", "{next}");
        assert_eq!(next["id"], id);
        let done = self.next().await;
        assert_eq!(done, json!({"type": "complete", "id": id}));
        next["payload"].clone()
    }

    /// Connects to `app` and subscribes (as operation `1`) to `stockChanged` of one pair,
    /// selecting the stock's and the transaction's quantity; returns once the subscription
    /// is live (see [`until_listening`]), so a change committed next reaches it. Only for the
    /// first subscription of the instance.
    pub async fn subscribed_to_pair(
        app: &TestApp,
        token: &str,
        store: &str,
        product: &str,
    ) -> Self {
        let mut ws = Self::connect(app, token).await;
        ws.subscribe(
            "1",
            &format!(
                r#"subscription {{ stockChanged(storeId: "{store}", productId: "{product}") {{
                     stock {{ quantity }} transaction {{ quantity }} }} }}"#
            ),
        )
        .await;
        until_listening(&app.db_url).await;
        ws
    }
}

/// Waits until an instance's live listener listens on the database of `db_url` (its session
/// is idle with `application_name = 'stockroom-live'`, which it sets in the statement that
/// holds its `LISTEN`: whatever it ran last, it listens). The listener starts with
/// the first subscriber of an instance, after that subscriber's stream is registered: from
/// then on every commit reaches it. (Later subscribers of the same instance: see
/// [`until_delivering`].)
pub async fn until_listening(db_url: &str) {
    let db = sql(db_url).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let listening: i64 = db
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'stockroom-live' AND state = 'idle'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if listening > 0 {
            return;
        }
        assert!(Instant::now() < deadline, "the live listener did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every subscription named in `subscriptions` (clients with the ids of their
/// `stockChanged` operations on the stock row `(product, store)`, each selecting
/// `stock { reorderPoint }`) delivers, and reads each client up to that point. Each round
/// commits a new reorder point on that row (announced with `transaction: null`); it is done
/// when one round's value reached them all (each round waits longer for it: a loaded
/// machine is slow, not wrong). Leaves the row's reorder point changed.
pub async fn until_delivering(
    db_url: &str,
    (product, store): (i32, i32),
    subscriptions: &mut [(&mut WsClient, &[&str])],
) {
    let db = sql(db_url).await;
    let started = Instant::now();
    for round in 1_u16.. {
        assert!(
            started.elapsed() < 3 * WAIT,
            "the subscriptions do not deliver"
        );
        let patience = Duration::from_secs(round.into());
        let marker = 100_000 + i32::from(round);
        db.execute(
            "UPDATE stocks SET reorder_point = $3 WHERE product_id = $1 AND store_id = $2",
            &[&product, &store, &marker],
        )
        .await
        .unwrap();
        let mut all = true;
        'clients: for (client, ids) in subscriptions.iter_mut() {
            let mut waiting: Vec<&str> = ids.to_vec();
            while !waiting.is_empty() {
                let Ok(msg) = tokio::time::timeout(patience, client.next()).await else {
                    all = false;
                    break 'clients;
                };
                let point = &msg["payload"]["data"]["stockChanged"]["stock"]["reorderPoint"];
                if *point == json!(marker) {
                    waiting.retain(|id| msg["id"] != *id);
                }
            }
        }
        if all {
            return;
        }
    }
}
