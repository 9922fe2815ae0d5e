//! Liveness and readiness probes.

use axum::{extract::State, http::StatusCode};

use crate::{app::AppState, db::migrations};

/// Liveness: 200 while the process runs.
pub async fn live() -> &'static str {
    "ok"
}

/// Readiness: 200 only when the database answers and the migrations are current (within
/// `STOCKROOM_READY_TIMEOUT_MS`).
pub async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let check = async {
        let mut conn = state.pool.get().await.ok()?;
        migrations::is_current(&mut conn, &state.latest_migration)
            .await
            .then_some(())
    };
    match tokio::time::timeout(state.settings.ready_timeout(), check).await {
        Ok(Some(())) => (StatusCode::OK, "ready"),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable or not migrated",
        ),
    }
}
