//! The connection pool: deadpool over diesel-async connections.
//!
//! Every session gets `idle_in_transaction_session_timeout`, so a transaction abandoned
//! mid-way (a crashed task, a cut network) cannot hold row locks for long, and UTC as its
//! time zone. Waiting for, creating and recycling a connection are all bounded by the pool
//! timeout, after which the caller gets `SERVICE_UNAVAILABLE`.

use std::time::Duration;

use diesel::ConnectionResult;
use diesel_async::{
    AsyncConnection, AsyncPgConnection, SimpleAsyncConnection,
    pooled_connection::{
        AsyncDieselConnectionManager, ManagerConfig,
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
