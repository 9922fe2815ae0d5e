//! The connection pool: deadpool over diesel-async connections.
//!
//! A checkout costs no round trip (no ping): a connection found broken when used is replaced
//! and the work retried once ([`with_conn!`](crate::with_conn)), else the caller gets `SERVICE_UNAVAILABLE`.
//!
//! Every session gets `idle_in_transaction_session_timeout`, so a transaction abandoned
//! mid-way (a crashed task, a cut network) cannot hold row locks for long, and UTC as its
//! time zone. Waiting for, creating and recycling a connection are all bounded by the pool
//! timeout, after which the caller gets `SERVICE_UNAVAILABLE`. The service's pool also gives
//! every session a `statement_timeout` equal to the request timeout
//! ([`with_statement_timeout`]), so the SQL of a request that timed out stops too.

use std::time::Duration;

use diesel::ConnectionResult;
use diesel_async::{
    AsyncConnection, AsyncPgConnection, SimpleAsyncConnection,
    pooled_connection::{
        AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
        deadpool::{Object, Pool},
    },
};
use futures::FutureExt;

use crate::config::DbSettings;

/// The pool of database connections.
pub type DbPool = Pool<AsyncPgConnection>;
/// A connection checked out of the pool.
pub type DbConn = Object<AsyncPgConnection>;

/// How long a session may sit idle inside a transaction before PostgreSQL ends it.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "30s";

/// Builds the pool (lazily: no connection is made until one is asked for).
pub fn build(url: &str, settings: &DbSettings) -> anyhow::Result<DbPool> {
    build_with(url, settings.pool_size, settings.pool_timeout())
}

/// Builds a pool of `size` connections with `timeout` for waiting, connecting and recycling.
pub fn build_with(url: &str, size: usize, timeout: Duration) -> anyhow::Result<DbPool> {
    let mut config = ManagerConfig::default();
    // No `SELECT 1` before every checkout: a connection whose socket closed is dropped by
    // the pool (`is_broken`), and one found broken while used is replaced by `with_conn`.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| establish(url.to_string(), timeout).boxed());
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
    Ok(Pool::builder(manager)
        .max_size(size)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .runtime(deadpool::Runtime::Tokio1)
        .build()?)
}

async fn establish(url: String, timeout: Duration) -> ConnectionResult<AsyncPgConnection> {
    let mut conn = AsyncPgConnection::establish(&url).await?;
    let setup = format!(
        "SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION_TIMEOUT}'; \
         SET lock_timeout = '{}ms'",
        timeout.as_millis()
    );
    conn.batch_execute(&setup)
        .await
        .map_err(|e| diesel::ConnectionError::BadConnection(e.to_string()))?;
    Ok(conn)
}

/// Evaluates `$body` (which may `.await`) with `$conn` bound to a pooled connection, to a
/// `Result<_, AppError>`; when the connection turns out to be broken (the database restarted
/// since it was last used: the pool no longer pings before a checkout), once more on a fresh
/// one. For reads and other work that is safe to repeat. A macro rather than a function over
/// an async closure: the loaders' futures must be `Send`, which async closures borrowing
/// their argument cannot yet promise.
#[macro_export]
macro_rules! with_conn {
    ($pool:expr, $conn:ident => $body:expr) => {{
        let pool: &$crate::db::DbPool = $pool;
        let mut retried = false;
        loop {
            let mut pooled = match pool.get().await {
                Ok(pooled) => pooled,
                Err(err) => break Err($crate::error::AppError::from(err)),
            };
            let result: ::std::result::Result<_, $crate::error::AppError> = {
                let $conn: &mut ::diesel_async::AsyncPgConnection = &mut pooled;
                $body
            };
            // A broken connection goes back to the pool, which discards it.
            drop(pooled);
            match result {
                Err($crate::error::AppError::ServiceUnavailable) if !retried => {
                    retried = true;
                    $crate::db::pool::forget_idle(pool);
                }
                other => break other,
            }
        }
    }};
}

/// Drops the pool's idle connections: when one was found broken, the others most likely are
/// too (the database restarted or failed over), and new ones cost less than failed requests.
pub fn forget_idle(pool: &DbPool) {
    pool.retain(|_, _| false);
}

/// `url` with the service's settings for every session it opens (PostgreSQL's startup
/// `options`, so they cost no statement), in URL or key=value form (options a URL already
/// carries are kept):
///
/// - `statement_timeout`: `timeout`;
/// - `plan_cache_mode = force_generic_plan`: every statement the service prepares is shaped
///   for index access whatever its values (`= ANY($1)`, `unnest($1)` under a LATERAL page,
///   keyset ranges), but PostgreSQL's default compares a generic plan's estimated cost with
///   the custom plans' and estimates `unnest($1)` at 10 rows, so a page statement for one
///   parent looked ten times dearer generic and was planned anew on every execution
///   (0.4–0.5 ms of planning per store stock page here: one-client W2 went from 2.7 to 2.0 ms
///   of PostgreSQL's CPU per request, W3 from 0.90 to 0.48).
pub fn with_session_settings(url: &str, timeout: Duration) -> String {
    let ms = timeout.as_millis();
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return format!(
            "{url} options='-c statement_timeout={ms} -c plan_cache_mode=force_generic_plan'"
        );
    }
    let setting =
        format!("-c%20statement_timeout%3D{ms}%20-c%20plan_cache_mode%3Dforce_generic_plan");
    if let Some(at) = url.find("options=") {
        let value = at + "options=".len();
        return format!("{}{setting}%20{}", &url[..value], &url[value..]);
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options={setting}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_settings_join_the_startup_options_of_any_url_form() {
        let t = Duration::from_millis(1500);
        let set = "-c%20statement_timeout%3D1500%20-c%20plan_cache_mode%3Dforce_generic_plan";
        assert_eq!(
            with_session_settings("postgres://u@h/db", t),
            format!("postgres://u@h/db?options={set}")
        );
        assert_eq!(
            with_session_settings("postgres://u@/db?host=/s&port=5", t),
            format!("postgres://u@/db?host=/s&port=5&options={set}")
        );
        assert_eq!(
            with_session_settings("postgresql://h/db?options=-c%20x%3D1", t),
            format!("postgresql://h/db?options={set}%20-c%20x%3D1")
        );
        assert_eq!(
            with_session_settings("host=/s dbname=db", t),
            "host=/s dbname=db options='-c statement_timeout=1500 \
             -c plan_cache_mode=force_generic_plan'"
        );
    }
}
