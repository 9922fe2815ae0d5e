//! Liveness and readiness probes.

use std::time::Duration;

use axum::{extract::State, http::StatusCode};

use crate::{app::AppState, db::migrations};

/// How long readiness waits for the database before saying 503.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Liveness: 200 while the process runs.
pub async fn live() -> &'static str {
    "ok"
}

/// Readiness: 200 only when the database answers and the migrations are current.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let check = async {
        let mut conn = state.pool.get().await.ok()?;
        migrations::is_current(&mut conn, &state.latest_migration)
            .await
            .then_some(())
    };
    match tokio::time::timeout(READY_TIMEOUT, check).await {
        Ok(Some(())) => (StatusCode::OK, "ready"),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable or not migrated",
        ),
    }
}
