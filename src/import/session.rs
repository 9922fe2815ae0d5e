//! The import's database session, shared by both passes: the connection, the transaction's
//! start and end, COPY of a file fed by a reader thread, dropping a table's secondary indexes
//! and foreign keys before a bulk load and rebuilding them after, and the local-id offsets.
//!
//! This SQL lives here rather than in `db/models/` on purpose: it streams `COPY … FROM STDIN`
//! through tokio-postgres, which diesel-async does not offer, on a connection of its own.

use std::{
    path::{Path, PathBuf},
    pin::pin,
};

use bytes::Bytes;
use futures::SinkExt as _;
use tokio::{sync::mpsc, task::JoinHandle};
use tokio_postgres::{
    Client, NoTls,
    types::{FromSql, ToSql},
};

use super::{
    ImportError, Progress,
    reader::{self, Encoder, Header, Stop},
    spec::FileSpec,
};

/// Chunks in flight between the CSV reader and COPY (each about 1 MiB).
const CHANNEL_CHUNKS: usize = 8;
/// Below this many rows a table is loaded with its indexes and foreign keys in place.
const BULK_MIN_ROWS: i64 = 50_000;
/// Memory for hashes and sorts of the checks. Small on purpose: at scale 100 the ledger's
/// 20.8M-row sort measured 20–25 s with 16–64 MB and 29 s with 256 MB, 41 s with 1 GB (runs
/// that fit the CPU caches beat one big in-memory sort).
const WORK_MEM: &str = "64MB";
/// Buffers of the staging (temporary) tables.
const TEMP_BUFFERS: &str = "256MB";
/// Memory for index builds; as for WORK_MEM, a 20.8M-row ledger index built in 9.8 s with
/// 64 MB and 14.3 s with 1 GB.
const MAINTENANCE_WORK_MEM: &str = "64MB";

pub(super) type Result<T> = std::result::Result<T, ImportError>;

/// The files being imported: their format, path and header, in load order.
pub(super) type Present = [(&'static FileSpec, PathBuf, Header)];

/// Connects to the database at `url`; the connection runs on its own task until the client
/// is dropped.
pub(super) async fn connect(
    url: &str,
) -> Result<(
    Client,
    JoinHandle<std::result::Result<(), tokio_postgres::Error>>,
)> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to the database: {e}"))?;
    Ok((client, tokio::spawn(connection)))
}

/// Opens the import's transaction: its memory settings, and the tables locked against
/// concurrent writers (readers go on).
pub(super) async fn begin(client: &Client) -> Result<()> {
    client
        .batch_execute(&format!(
            "SET temp_buffers = '{TEMP_BUFFERS}';
             BEGIN;
             SET LOCAL work_mem = '{WORK_MEM}';
             SET LOCAL maintenance_work_mem = '{MAINTENANCE_WORK_MEM}';
             LOCK TABLE categories, stores, users, products, stocks, inventory_transactions
                 IN SHARE ROW EXCLUSIVE MODE;"
        ))
        .await?;
    Ok(())
}

/// Ends the import's transaction: identities continue after the imported ids, fresh
/// statistics, a new version of the reference tables (a bulk load ran with their triggers
/// disabled; the services' copies of stores and categories must not outlive it), commit.
pub(super) async fn finish(client: &Client, present: &Present, progress: &Progress) -> Result<()> {
    client
        .batch_execute(crate::db::models::reference::BUMP_SQL)
        .await?;
    progress.phase("analyzing");
    for (spec, _, _) in present {
        if spec.has_ids() {
            client
                .batch_execute(&format!(
                    "SELECT setval(pg_get_serial_sequence('{t}', 'id'),
                         greatest((SELECT max(id) FROM {t}), 1))",
                    t = spec.name
                ))
                .await?;
        }
        client
            .batch_execute(&format!("ANALYZE {}", spec.name))
            .await?;
    }
    progress.phase("committing");
    client.batch_execute("COMMIT").await?;
    Ok(())
}

/// Whether `spec`'s file is among the imported ones.
pub(super) fn has(present: &Present, spec: &FileSpec) -> bool {
    present.iter().any(|(p, _, _)| p.name == spec.name)
}

/// The one value of a query that returns one row of one column.
pub(super) async fn scalar<T: for<'a> FromSql<'a>>(
    client: &Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<T> {
    Ok(client.query_one(sql, params).await?.get(0))
}

/// How a COPY ended.
pub(super) enum CopyOutcome {
    /// Every row was sent; this many.
    Rows(u64),
    /// The encoder declined a row (the COPY was abandoned).
    Declined,
}

/// COPY of one file (`sql` is the `COPY … FROM STDIN`), fed by a reader thread that
/// encodes each row with `encoder`, over a bounded channel.
pub(super) async fn copy_file(
    client: &Client,
    spec: &'static FileSpec,
    path: &Path,
    header: &Header,
    progress: &Progress,
    sql: &str,
    mut encoder: Box<Encoder>,
) -> Result<CopyOutcome> {
    let sink = client.copy_in::<_, Bytes>(sql).await?;
    let mut sink = pin!(sink);
    let (tx, mut rx) = mpsc::channel::<Bytes>(CHANNEL_CHUNKS);
    let path = path.to_path_buf();
    let positions = Header {
        positions: header.positions.clone(),
        width: header.width,
    };
    let bar = progress.bar.clone();
    let reading = tokio::task::spawn_blocking(move || {
        reader::stream(&path, spec, &positions, &tx, &bar, &mut *encoder)
    });
    let mut sent = Ok(());
    while let Some(chunk) = rx.recv().await {
        if let Err(err) = sink.send(chunk).await {
            sent = Err(err);
            break;
        }
    }
    drop(rx);
    let read = reading
        .await
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", spec.file))?;
    sent?;
    match read {
        Ok(rows) => {
            sink.as_mut().finish().await?;
            Ok(CopyOutcome::Rows(rows))
        }
        Err(Stop::Problems(problems)) => Err(ImportError::Refused(problems)),
        Err(Stop::Declined) => Ok(CopyOutcome::Declined),
    }
}

/// Local id → database id: `local + offset` (order and spacing kept).
#[derive(Debug, Default)]
pub(super) struct Offsets(Vec<(&'static str, i64)>);

impl Offsets {
    /// Records the offset of `spec`'s table.
    pub(super) fn set(&mut self, spec: &FileSpec, offset: i64) {
        self.0.push((spec.name, offset));
    }

    /// The offset of `spec`'s table (0 when none was set).
    pub(super) fn of(&self, spec: &FileSpec) -> i64 {
        self.0
            .iter()
            .find(|(n, _)| *n == spec.name)
            .map_or(0, |(_, o)| *o)
    }
}

/// Whether to load `spec`'s table without its secondary indexes and foreign keys: a big
/// load that at least doubles the table.
pub(super) async fn is_bulk(client: &Client, spec: &FileSpec, rows: u64) -> Result<bool> {
    let rows = i64::try_from(rows).unwrap_or(i64::MAX);
    if rows < BULK_MIN_ROWS {
        return Ok(false);
    }
    let existing: i64 = scalar(
        client,
        &format!(
            "SELECT count(*) FROM (SELECT 1 FROM {} LIMIT $1) x",
            spec.name
        ),
        &[&rows],
    )
    .await?;
    Ok(existing < rows)
}

/// What to run after the load to put back what [`drop_indexes`] took away.
pub(super) struct Rebuild {
    /// What each statement rebuilds, and the statement.
    pub statements: Vec<(String, String)>,
}

/// Drops the secondary (non-unique) indexes and foreign keys of `spec`'s table and disables
/// its user triggers; returns the statements that put them back.
pub(super) async fn drop_indexes(client: &Client, spec: &FileSpec) -> Result<Rebuild> {
    let table = spec.name;
    let mut statements = Vec::new();
    let mut drops = vec![format!("ALTER TABLE {table} DISABLE TRIGGER USER")];
    let indexes = definitions(
        client,
        "SELECT c.relname::text, pg_get_indexdef(i.indexrelid)
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE i.indrelid = $1::text::regclass AND NOT i.indisprimary AND NOT i.indisunique
         ORDER BY 1",
        table,
    )
    .await?;
    for (name, def) in indexes {
        drops.push(format!("DROP INDEX \"{name}\""));
        statements.push((format!("index {name}"), def));
    }
    let foreign_keys = definitions(
        client,
        "SELECT conname::text, pg_get_constraintdef(oid)
         FROM pg_constraint WHERE conrelid = $1::text::regclass AND contype = 'f'
         ORDER BY 1",
        table,
    )
    .await?;
    for (name, def) in foreign_keys {
        drops.push(format!("ALTER TABLE {table} DROP CONSTRAINT \"{name}\""));
        statements.push((
            format!("foreign key {name}"),
            format!("ALTER TABLE {table} ADD CONSTRAINT \"{name}\" {def}"),
        ));
    }
    statements.push((
        format!("triggers of {table}"),
        format!("ALTER TABLE {table} ENABLE TRIGGER USER"),
    ));
    client.batch_execute(&drops.join(";\n")).await?;
    Ok(Rebuild { statements })
}

/// The `(name, definition)` rows of a catalog query on `table` (its `$1`).
async fn definitions(client: &Client, sql: &str, table: &str) -> Result<Vec<(String, String)>> {
    Ok(client
        .query(sql, &[&table])
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect())
}

/// Puts back what [`drop_indexes`] took away: sorted index builds, and one validating join
/// per foreign key (PostgreSQL runs that join without parallel workers; `work_mem` of 4 MB,
/// 64 MB or 256 MB measured the same for the ledger's product key at scale 100, ~13.5 s).
pub(super) async fn rebuild(
    client: &Client,
    rebuilds: &[Rebuild],
    progress: &Progress,
) -> Result<()> {
    for rebuild in rebuilds {
        for (what, sql) in &rebuild.statements {
            progress.phase(&format!("rebuilding {what}"));
            client.batch_execute(sql).await?;
        }
    }
    Ok(())
}
