//! Which database a command works on — `DATABASE_URL`, or the embedded cluster of the data
//! directory, started here — decided in one place for `serve`, `import` and the user and
//! token commands.

use crate::{
    config::{DbSettings, EMBEDDED_DATABASE},
    embedded_pg::{EmbeddedPgError, EmbeddedPostgres, StartOptions},
};

/// A command's database: its URL, and the embedded server started for it (stopped by the
/// caller when done; `None` with `DATABASE_URL`).
pub struct Target {
    /// Where to connect.
    pub url: String,
    /// The embedded cluster this process started, if it did.
    pub embedded: Option<EmbeddedPostgres>,
}

/// `DATABASE_URL` when set; else starts the embedded cluster and makes sure its database
/// exists (a cluster started here and then failing is stopped again). A data directory that
/// a running `serve` holds is [`EmbeddedPgError::InUse`]: each command decides what that means.
pub async fn open(db: &DbSettings) -> Result<Target, EmbeddedPgError> {
    if let Some(url) = &db.database_url {
        return Ok(Target {
            url: url.clone(),
            embedded: None,
        });
    }
    tracing::info!(data_dir = %db.data_dir.display(), "starting the embedded PostgreSQL");
    let pg = EmbeddedPostgres::start(&db.data_dir, StartOptions::default()).await?;
    if let Err(err) = pg.ensure_database(EMBEDDED_DATABASE).await {
        let _ = pg.stop();
        return Err(err);
    }
    Ok(Target {
        url: pg.url(EMBEDDED_DATABASE),
        embedded: Some(pg),
    })
}
