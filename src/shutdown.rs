//! Stopping the service: the signals, the drain every open WebSocket follows, and the rule
//! for which WebSocket operations are waited for.
//!
//! The first SIGTERM or Ctrl-C begins a graceful stop: the listener closes, HTTP requests in
//! flight finish (within `STOCKROOM_SHUTDOWN_GRACE_SECONDS`), each WebSocket refuses new
//! operations, lets the queries and mutations it is running finish and send their results,
//! ends its subscriptions and closes with 1001 (going away); then the embedded PostgreSQL
//! stops. A second signal stops at once (the embedded PostgreSQL is still stopped). The
//! serve loop itself is `app::serve_until`; slow clients are cut off by read deadlines
//! (`http::deadline` and the HTTP/1 header timeout), so they cannot hold a stop up.

use futures::{Stream, StreamExt, stream::BoxStream};
use serde_json::{Value, json};
use tokio_util::{
    sync::{CancellationToken, WaitForCancellationFutureOwned},
    task::{TaskTracker, task_tracker::TaskTrackerToken},
};

/// WebSocket close code of a server going away.
pub const GOING_AWAY: u16 = 1001;

/// The two moments of a stop: the first signal (drain), the second (stop at once).
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// Cancelled on the first SIGTERM or SIGINT.
    pub graceful: CancellationToken,
    /// Cancelled on the second.
    pub immediate: CancellationToken,
}

impl Signals {
    /// Installs the SIGTERM and SIGINT handlers now, not when first awaited: a signal during
    /// start-up is neither lost nor kills the process before PostgreSQL is stopped.
    pub fn install() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let signals = Self::default();
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        let (graceful, immediate) = (signals.graceful.clone(), signals.immediate.clone());
        tokio::spawn(async move {
            let (Ok(mut interrupt), Ok(mut terminate)) = (interrupt, terminate) else {
                tracing::error!("cannot listen for SIGTERM and SIGINT");
                return;
            };
            let mut next = async || {
                tokio::select! {
                    _ = interrupt.recv() => {},
                    _ = terminate.recv() => {},
                }
            };
            next().await;
            tracing::info!(
                "shutting down: finishing the requests in flight (a second signal stops at once)"
            );
            graceful.cancel();
            next().await;
            tracing::warn!("second signal: stopping at once");
            immediate.cancel();
        });
        signals
    }
}

/// What every open WebSocket session watches: when the stop begins, and a token per session
/// so the stop can wait for them all.
#[derive(Debug, Clone, Default)]
pub struct Drain {
    begun: CancellationToken,
    sessions: TaskTracker,
}

impl Drain {
    /// Begins the drain: sessions stop taking operations and close once theirs are done.
    pub fn begin(&self) {
        self.begun.cancel();
        self.sessions.close();
    }

    /// Resolves once the drain has begun.
    pub fn begun(&self) -> WaitForCancellationFutureOwned {
        self.begun.clone().cancelled_owned()
    }

    /// Whether the drain has begun.
    pub fn is_begun(&self) -> bool {
        self.begun.is_cancelled()
    }

    /// Held by a WebSocket session for its life: the stop waits until every one is dropped.
    pub fn hold(&self) -> TaskTrackerToken {
        self.sessions.token()
    }

    /// Resolves once the drain has begun and every session has ended.
    pub async fn sessions_closed(&self) {
        self.begun.cancelled().await;
        self.sessions.wait().await;
    }

    /// A subscription's `stream`, ended when the drain begins (a query or mutation is not
    /// handed here: it runs to its result).
    pub fn wind_up<S>(&self, stream: S) -> BoxStream<'static, S::Item>
    where
        S: Stream + Send + 'static,
    {
        stream.take_until(self.begun()).boxed()
    }
}

/// The graphql-transport-ws `error` message for an operation sent once the drain has begun.
pub fn refusal(id: &str) -> Value {
    json!({
        "type": "error",
        "id": id,
        "payload": [{
            "message": "the server is shutting down; send the operation again after reconnecting",
            "extensions": {"code": "SERVICE_UNAVAILABLE"},
        }],
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_subscription_ends_when_the_drain_begins() {
        let drain = Drain::default();
        let mut live = drain.wind_up(futures::stream::pending::<u8>());
        let _held = drain.hold();
        drain.begin();
        assert_eq!(live.next().await, None);
        let closed = drain.sessions_closed();
        tokio::pin!(closed);
        assert!(
            futures::poll!(closed.as_mut()).is_pending(),
            "a held session keeps the drain open"
        );
        drop(_held);
        closed.await;
    }
}
