//! The migrations embedded in the binary, and the checks that they are applied.

use diesel::{QueryableByName, sql_types::Text};
use diesel_async::{
    AsyncConnection, AsyncPgConnection, RunQueryDsl,
    async_connection_wrapper::AsyncConnectionWrapper,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The `migrations/` folder, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Applies every pending migration on a connection of its own; returns how many ran.
pub async fn run(url: &str) -> anyhow::Result<usize> {
    let conn = AsyncPgConnection::establish(url).await?;
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
