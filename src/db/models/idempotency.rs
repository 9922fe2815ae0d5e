//! Idempotency records of stock mutations: a client key, scoped to the user, remembered with
//! a fingerprint of the request and the result it produced, for a retention period.
//!
//! The record is claimed at the start of the movement's own transaction (`INSERT … ON
//! CONFLICT DO UPDATE … WHERE` expired, so a record past its retention is taken over): a
//! concurrent request with the same key blocks on the unique index until the first one
//! commits (then it reads and replays the stored result) or rolls back (then it claims the
//! key itself). So one key records at most one movement.
//!
//! The fingerprint hashes what the movement does (its [`Command`], see
//! [`Command::canonical`]), never the GraphQL input it came from, so renaming an input field
//! cannot change it. It is versioned: version 2 (33 bytes, a leading 2) is the command's
//! hash; version 1 (32 bytes) hashed the serialised GraphQL input and is still accepted for
//! keys stored before version 2, until their retention has passed.

use std::time::Duration;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};

use crate::{
    config::Movements,
    db::{DbPool, models::movement::Command, schema::idempotency_keys},
    error::{AppError, AppResult},
};

/// Version of the fingerprints computed now (the first byte of each).
const FINGERPRINT_VERSION: u8 = 2;

/// A request's key with what identifies the movement it asks for.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// The client's key (validated).
    pub key: String,
    /// The fingerprint of the movement (version 2).
    pub fingerprint: Vec<u8>,
    /// The version-1 fingerprint of the same request, so keys stored before version 2 still
    /// replay. Remove once every version-1 key is past its retention.
    pub legacy: Vec<u8>,
}

impl Idempotency {
    /// The key of a movement: `operation` names the mutation, `command` is what it does.
    pub fn new(key: String, operation: &str, command: &Command, legacy: Vec<u8>) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(operation.as_bytes());
        hasher.update([0]);
        hasher.update(command.canonical());
        let mut fingerprint = vec![FINGERPRINT_VERSION];
        fingerprint.extend_from_slice(&hasher.finalize());
        Self {
            key,
            fingerprint,
            legacy,
        }
    }

    /// Whether a stored fingerprint (of either version) is this request's.
    fn matches(&self, stored: &[u8]) -> bool {
        stored == self.fingerprint.as_slice() || stored == self.legacy.as_slice()
    }
}

/// The version-1 fingerprint: SHA-256 of the operation name and its serialised input.
pub fn legacy_fingerprint(operation: &str, input: &impl serde::Serialize) -> AppResult<Vec<u8>> {
    let json = serde_json::to_vec(input).map_err(AppError::internal)?;
    let mut hasher = Sha256::new();
    hasher.update(operation.as_bytes());
    hasher.update([0]);
    hasher.update(&json);
    Ok(hasher.finalize().to_vec())
}

/// What claiming a key found.
pub enum Claim {
    /// The key is new: this request owns it and must [`store_result`] before committing.
    Fresh,
    /// The key was used before with the same input: the stored result.
    Replay(serde_json::Value),
}

/// Claims `key` for `user_id` inside the caller's transaction; CONFLICT when the key was used
/// with another input. A record older than `retention` counts as gone (the cleanup may not
/// have deleted it yet): this request takes it over as a fresh key.
pub async fn claim(
    conn: &mut AsyncPgConnection,
    user_id: i32,
    key: &Idempotency,
    retention: Duration,
) -> AppResult<Claim> {
    // New, or expired and taken over: either way this request owns the key now.
    let claimed = diesel::sql_query(
        "INSERT INTO idempotency_keys (user_id, key, fingerprint, result) \
         VALUES ($1, $2, $3, 'null'::jsonb) \
         ON CONFLICT (user_id, key) DO UPDATE \
           SET fingerprint = EXCLUDED.fingerprint, result = EXCLUDED.result, created_at = now() \
           WHERE idempotency_keys.created_at < now() - make_interval(secs => $4)",
    )
    .bind::<diesel::sql_types::Integer, _>(user_id)
    .bind::<diesel::sql_types::Text, _>(&key.key)
    .bind::<diesel::sql_types::Bytea, _>(&key.fingerprint)
    .bind::<diesel::sql_types::Double, _>(seconds(retention))
    .execute(conn)
    .await?;
    if claimed == 1 {
        return Ok(Claim::Fresh);
    }
    let (stored_fp, result): (Vec<u8>, serde_json::Value) = idempotency_keys::table
        .find((user_id, &key.key))
        .select((idempotency_keys::fingerprint, idempotency_keys::result))
        .first(conn)
        .await?;
    if !key.matches(&stored_fp) {
        return Err(AppError::Conflict(
            "this idempotency key was already used with a different input".into(),
        ));
    }
    Ok(Claim::Replay(result))
}

/// Records the result of the movement that claimed `key` (same transaction).
pub async fn store_result(
    conn: &mut AsyncPgConnection,
    user_id: i32,
    key: &str,
    result: &serde_json::Value,
) -> AppResult<()> {
    diesel::update(idempotency_keys::table.find((user_id, key)))
        .set(idempotency_keys::result.eq(result))
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes up to `batch` records older than `retention`, skipping rows a movement holds.
/// Returns how many were deleted.
pub async fn delete_expired(
    conn: &mut AsyncPgConnection,
    retention: Duration,
    batch: i64,
) -> AppResult<usize> {
    Ok(diesel::sql_query(
        "DELETE FROM idempotency_keys WHERE (user_id, key) IN ( \
           SELECT user_id, key FROM idempotency_keys \
           WHERE created_at < now() - make_interval(secs => $1) \
           LIMIT $2 FOR UPDATE SKIP LOCKED)",
    )
    .bind::<diesel::sql_types::Double, _>(seconds(retention))
    .bind::<diesel::sql_types::BigInt, _>(batch)
    .execute(conn)
    .await?)
}

/// A retention in seconds, for `make_interval(secs => …)`.
fn seconds(retention: Duration) -> f64 {
    retention.as_secs_f64()
}

/// Seconds in an hour (the retention setting is in hours).
const SECONDS_PER_HOUR: u64 = 3600;

/// The retention of the setting `STOCKROOM_IDEMPOTENCY_RETENTION_HOURS`.
pub fn retention_of_hours(hours: u64) -> Duration {
    Duration::from_secs(hours.saturating_mul(SECONDS_PER_HOUR))
}

/// Starts the periodic cleanup of keys older than `retention_hours`: every cleanup interval
/// of `settings`, batches of its batch size (small, so a cleanup never holds many locks)
/// with a pause between them, until none is left. Errors are logged and retried next round.
pub fn spawn_cleanup(
    pool: DbPool,
    retention_hours: u64,
    settings: &Movements,
) -> tokio::task::JoinHandle<()> {
    let retention = retention_of_hours(retention_hours);
    let (interval, batch, pause) = (
        settings.cleanup_interval(),
        settings.idempotency_cleanup_batch,
        settings.cleanup_pause(),
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        loop {
            tick.tick().await;
            let mut total = 0;
            loop {
                let deleted = match pool.get().await {
                    Ok(mut conn) => delete_expired(&mut conn, retention, batch).await,
                    Err(err) => Err(err.into()),
                };
                match deleted {
                    Ok(n) => {
                        total += n;
                        if i64::try_from(n).unwrap_or(i64::MAX) < batch {
                            break;
                        }
                        tokio::time::sleep(pause).await;
                    }
                    Err(err) => {
                        tracing::warn!(error = ?err, "idempotency key cleanup failed");
                        break;
                    }
                }
            }
            if total > 0 {
                tracing::info!(deleted = total, "expired idempotency keys removed");
            }
        }
    })
}
