//! The migrations embedded in the binary, and the checks that they are applied.

use diesel::{QueryableByName, sql_types::Text};
use diesel_async::{
    AsyncConnection, AsyncPgConnection, RunQueryDsl,
    async_connection_wrapper::AsyncConnectionWrapper,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The `migrations/` folder, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The advisory lock key held while migrating (any fixed number; "stockroo" in ASCII).
const MIGRATION_LOCK: i64 = 0x7374_6f63_6b72_6f6f;

/// Applies every pending migration on a connection of its own; returns how many ran.
/// Instances started together take turns (a session-level advisory lock, released when the
/// connection closes), so each migration runs once and the others find nothing to do.
pub async fn run(url: &str) -> anyhow::Result<usize> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK)
        .execute(&mut conn)
        .await?;
    // The harness is synchronous: run it on a blocking thread over the async connection.
    tokio::task::spawn_blocking(move || {
        let mut conn: AsyncConnectionWrapper<AsyncPgConnection> =
            AsyncConnectionWrapper::from(conn);
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("applying migrations: {e}"))?;
        Ok(applied.len())
    })
    .await?
}

/// The version of the newest embedded migration.
pub fn latest_version() -> String {
    use diesel::migration::MigrationSource;
    let migrations: Vec<_> =
        MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS).unwrap_or_default();
    migrations
        .iter()
        .map(|m| m.name().version().to_string())
        .max()
        .unwrap_or_default()
}

#[derive(QueryableByName)]
struct Version {
    #[diesel(sql_type = Text)]
    version: String,
}

/// Whether the database answers and has every embedded migration applied.
pub async fn is_current(conn: &mut AsyncPgConnection, latest: &str) -> bool {
    let applied: Result<Vec<Version>, _> = diesel::sql_query(
        "SELECT version FROM __diesel_schema_migrations ORDER BY version DESC LIMIT 1",
    )
    .load(conn)
    .await;
    matches!(applied.as_deref(), Ok([v]) if v.version.as_str() >= latest)
}
