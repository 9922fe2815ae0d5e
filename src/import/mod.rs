//! `stockroom import DIR`: loads catalogues and ledgers of millions of rows from the CSV files
//! of the import format (see README "Bulk import") in one transaction — all or nothing.
//!
//! Two passes. The quick one (`quick`) checks every value in Rust while the file streams
//! (flat memory) through `COPY … FROM STDIN` straight into the tables, ids mapped by an
//! order-preserving offset, then runs set-based yes/no checks (category tree, the ledger
//! against the stock; keys and constraints catch duplicates and links). Whatever it cannot
//! vouch for rolls it back, and the careful one (`careful`) runs: text staging tables with the
//! line of every row, set-based SQL that reports precise problems (file, line, column,
//! reason), and only then `INSERT … SELECT`. Large loads drop the target's secondary indexes
//! and foreign keys first and rebuild them after (a sorted build and one validating join beat
//! millions of per-row updates).
//!
//! The files: `spec` (the format and its value rules, which read the domain's limits),
//! `reader` (CSV on a blocking thread), `session` (what both passes share: connection,
//! transaction, COPY, index drop and rebuild), `quick` and `careful` (the passes; neither
//! uses the other). The import's SQL stays in this module rather than in `db/models/` on
//! purpose: it streams `COPY … FROM STDIN` through tokio-postgres on a connection of its own,
//! which diesel-async (the service's driver) does not offer.

mod careful;
mod quick;
mod reader;
mod session;
mod spec;

use std::{fmt, path::Path, time::Instant};

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};

use crate::{
    config::DbSettings,
    db::{migrations, target},
    embedded_pg::EmbeddedPgError,
};

/// One reason the import is refused, pointing at the file, line and column to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file name (`products.csv`).
    pub file: &'static str,
    /// The line as counted in the file, the header being line 1.
    pub line: u64,
    /// The column, when one is to blame.
    pub column: Option<String>,
    /// Why.
    pub reason: String,
}

impl Problem {
    /// A problem with a whole line (or file).
    pub fn file(file: &'static str, line: u64, reason: String) -> Self {
        Self {
            file,
            line,
            column: None,
            reason,
        }
    }

    /// A problem with one field.
    pub fn column(file: &'static str, line: u64, column: &str, reason: String) -> Self {
        Self {
            file,
            line,
            column: Some(column.to_string()),
            reason,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(column) => write!(
                f,
                "{} line {}, column {}: {}",
                self.file, self.line, column, self.reason
            ),
            None => write!(f, "{} line {}: {}", self.file, self.line, self.reason),
        }
    }
}

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The files have problems; nothing was written.
    #[error("the import was refused, nothing was written: {} problem(s)", .0.len())]
    Refused(Vec<Problem>),
    /// Something else failed (connection, I/O, server); nothing was written.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl ImportError {
    /// Whether the database refused the data itself (SQLSTATE class 22, data exception, or
    /// 23, integrity constraint violation) rather than failing.
    fn is_data_error(&self) -> bool {
        let Self::Failed(err) = self else {
            return false;
        };
        err.downcast_ref::<tokio_postgres::Error>()
            .is_some_and(is_data_error)
    }
}

/// Whether PostgreSQL refused the data itself: SQLSTATE class 22 (data exception) or 23
/// (integrity constraint violation).
fn is_data_error(err: &tokio_postgres::Error) -> bool {
    err.code()
        .is_some_and(|code| code.code().starts_with("22") || code.code().starts_with("23"))
}

impl From<tokio_postgres::Error> for ImportError {
    fn from(err: tokio_postgres::Error) -> Self {
        Self::Failed(anyhow::Error::new(err).context("the database refused the import"))
    }
}

/// What was imported.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Rows per file name, in load order (files that were absent are left out).
    pub counts: Vec<(&'static str, u64)>,
    /// Wall time of the import, in seconds.
    pub seconds: f64,
}

impl Summary {
    /// All rows imported.
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }
}

/// Progress on stderr: a bar on a terminal, plain phase lines otherwise.
pub(crate) struct Progress {
    bar: ProgressBar,
    started: Instant,
}

impl Progress {
    fn new(total_bytes: u64) -> Self {
        let bar = ProgressBar::new(total_bytes);
        bar.set_style(bar_style());
        Self {
            bar,
            started: Instant::now(),
        }
    }

    /// Announces a phase.
    pub(crate) fn phase(&self, message: &str) {
        if self.bar.is_hidden() {
            eprintln!(
                "import: {:7.1} s  {message}",
                self.started.elapsed().as_secs_f64()
            );
        } else {
            self.bar.set_message(message.to_string());
        }
    }

    /// Back to an empty byte bar, for a second reading of the files.
    fn restart(&self) {
        self.bar.disable_steady_tick();
        self.bar.set_style(bar_style());
        self.bar.set_position(0);
    }

    /// Switches from the byte bar to a spinner for the phases after loading.
    fn spin(&self) {
        self.bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        self.bar
            .enable_steady_tick(std::time::Duration::from_millis(200));
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{spinner} {elapsed_precise} {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// Imports the files of `dir` into the database at `url` (already migrated).
pub async fn import_dir(url: &str, dir: &Path) -> Result<Summary, ImportError> {
    let started = Instant::now();
    if !dir.is_dir() {
        return Err(anyhow::anyhow!("{} is not a directory", dir.display()).into());
    }
    let mut present = Vec::new();
    let mut problems = Vec::new();
    let mut total_bytes = 0;
    for spec in spec::ALL {
        let path = dir.join(spec.file);
        if !path.is_file() {
            continue;
        }
        total_bytes += path.metadata().map(|m| m.len()).unwrap_or(0);
        match reader::read_header(spec, &path) {
            Ok(header) => present.push((spec, path, header)),
            Err(found) => problems.extend(found),
        }
    }
    if !problems.is_empty() {
        return Err(ImportError::Refused(problems));
    }
    if present.is_empty() {
        return Err(anyhow::anyhow!(
            "{} holds none of the import files ({})",
            dir.display(),
            spec::ALL.map(|s| s.file).join(", ")
        )
        .into());
    }
    let progress = Progress::new(total_bytes);
    let result = run(url, &present, &progress).await;
    progress.bar.finish_and_clear();
    let counts = result?;
    Ok(Summary {
        counts,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Runs the whole import in one transaction: the quick pass where it applies, the careful
/// pass when it does not or gives up; returns the rows per file.
async fn run(
    url: &str,
    present: &session::Present,
    progress: &Progress,
) -> Result<Vec<(&'static str, u64)>, ImportError> {
    let (client, connection) = session::connect(url).await?;
    let mut result = Ok(None);
    if quick::applies(present) {
        result = quick::attempt(&client, present, progress).await;
        if matches!(result, Ok(None)) {
            client.batch_execute("ROLLBACK").await?;
            progress.phase("something needs a closer look: checking again, row by row");
            progress.restart();
        }
    }
    let result = match result {
        Ok(Some(counts)) => Ok(counts),
        Ok(None) => careful::run(&client, present, progress).await,
        Err(err) => Err(err),
    };
    if result.is_err() {
        let _ = client.batch_execute("ROLLBACK").await;
    }
    drop(client);
    let _ = connection.await;
    result
}

/// `stockroom import DIR` on `DATABASE_URL` or the embedded cluster of the data directory.
pub async fn cli(db: &DbSettings, dir: &Path) -> anyhow::Result<()> {
    let (url, embedded) = match target::open(db).await {
        Ok(target) => (target.url, target.embedded),
        Err(EmbeddedPgError::InUse(root)) => bail!(
            "the data directory {} is in use by a running `stockroom serve`; stop it and \
             run the import again, or set DATABASE_URL to import into a database directly",
            root.display()
        ),
        Err(err) => return Err(err.into()),
    };
    let result = async {
        migrations::run(&url)
            .await
            .context("cannot prepare the database (check DATABASE_URL)")?;
        Ok::<_, anyhow::Error>(import_dir(&url, dir).await)
    }
    .await;
    if let Some(pg) = embedded {
        let stopped = tokio::task::spawn_blocking(move || pg.stop()).await;
        if !matches!(stopped, Ok(Ok(()))) {
            eprintln!("warning: stopping the embedded PostgreSQL failed");
        }
    }
    match result? {
        Ok(summary) => {
            for (file, rows) in &summary.counts {
                println!("{file}: {rows} rows");
            }
            let total = summary.total();
            #[allow(clippy::cast_precision_loss)]
            let rate = total as f64 / summary.seconds.max(f64::EPSILON);
            println!(
                "imported {total} rows in {:.1} s ({rate:.0} rows/s)",
                summary.seconds
            );
            Ok(())
        }
        Err(ImportError::Refused(problems)) => {
            for problem in &problems {
                eprintln!("{problem}");
            }
            bail!(
                "the import was refused, nothing was written: {} problem(s){}",
                problems.len(),
                if problems.len() >= careful::MAX_REPORTED {
                    " (the first ones shown)"
                } else {
                    ""
                }
            )
        }
        Err(ImportError::Failed(err)) => Err(err.context("the import failed, nothing was written")),
    }
}
