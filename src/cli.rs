//! The `user` and `token` subcommands: create users, create, list and revoke their tokens.
//!
//! They work on `DATABASE_URL`, or without it on the embedded PostgreSQL of
//! `STOCKROOM_DATA_DIR`: started for the command when no `serve` runs there, or — when a
//! `serve` holds the data directory — reached through the running server's socket.

use std::path::Path;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use diesel_async::{AsyncConnection, AsyncPgConnection};

use crate::{
    config::{DbSettings, EMBEDDED_DATABASE},
    db::{
        migrations,
        models::{store, token, user},
        target,
    },
    domain::role::Role,
    embedded_pg::{EmbeddedPgError, EmbeddedPostgres, StartOptions},
    seed,
};

/// `stockroom user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints a new token as the last line of stdout.
    Create {
        /// Unique login name.
        username: String,
        /// VIEWER, STAFF, MANAGER or ADMIN.
        #[arg(long)]
        role: Role,
        /// Name shown to people (default: the username).
        #[arg(long)]
        display_name: Option<String>,
        /// Code of a store a STAFF user may move stock in (repeat; none = all stores).
        #[arg(long = "store", value_name = "CODE")]
        stores: Vec<String>,
    },
    /// List the users: username, role, display name, stores.
    List,
}

/// `stockroom token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create another token for a user; the token is the last line of stdout.
    Create {
        /// Whose token.
        username: String,
    },
    /// One line per token of a user: id, created, last used, revoked.
    List {
        /// Whose tokens.
        username: String,
    },
    /// Revoke a token, named by its id (from `token list`) or by the token itself.
    Revoke {
        /// Token id or token.
        token_id_or_token: String,
    },
}

/// A database connection for one command, and the embedded server it started (if any).
struct Database {
    conn: AsyncPgConnection,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    async fn open(db: &DbSettings) -> anyhow::Result<Self> {
        let (url, embedded) = match target::open(db).await {
            Ok(target) => (target.url, target.embedded),
            // A `serve` holds the data directory: talk to its running server.
            Err(EmbeddedPgError::InUse(root)) => (running_server_url(&root), None),
            Err(err) => return Err(err.into()),
        };
        // The wording names what the user set up: DATABASE_URL or the embedded default.
        let (unprepared, unreachable) = if db.database_url.is_some() {
            (
                "cannot prepare the database (check DATABASE_URL)".to_string(),
                "cannot connect to DATABASE_URL".to_string(),
            )
        } else {
            (
                "cannot prepare the embedded database".to_string(),
                format!(
                    "cannot connect to the embedded PostgreSQL of {} (set DATABASE_URL, or stop `stockroom serve` and retry)",
                    db.data_dir.display()
                ),
            )
        };
        // Like `serve`, bring the schema up to date first.
        let connected = async {
            migrations::run(&url).await.context(unprepared)?;
            AsyncPgConnection::establish(&url)
                .await
                .context(unreachable)
        }
        .await;
        let conn = match connected {
            Ok(conn) => conn,
            Err(failure) => {
                // A cluster started for this command does not outlive it.
                if let Some(pg) = embedded {
                    let _ = pg.stop();
                }
                return Err(failure);
            }
        };
        let mut database = Self { conn, embedded };
        if db.database_url.is_some() {
            return Ok(database);
        }
        // The embedded default's first run, as `serve` does it: the demo catalogue and the
        // `admin` user (so a user created before the first `serve` does not prevent them).
        if let Some(admin_token) = seed::seed_if_empty(&mut database.conn).await.map_err(err)? {
            println!("First run: seeded a demo catalogue and created the user `admin`.");
            println!("Admin token (shown once, keep it): {admin_token}");
        }
        Ok(database)
    }

    fn close(self) {
        drop(self.conn);
        if let Some(pg) = self.embedded
            && let Err(err) = pg.stop()
        {
            eprintln!("warning: stopping the embedded PostgreSQL failed: {err}");
        }
    }
}

/// The URL of the embedded server a running `serve` started in `root` (as canonical as the
/// lock error reports it).
fn running_server_url(root: &Path) -> String {
    EmbeddedPostgres::running_url(root, StartOptions::default().port, EMBEDDED_DATABASE)
}

fn err(e: crate::error::AppError) -> anyhow::Error {
    anyhow::anyhow!("{e:?}")
}

/// Runs a `user` subcommand.
pub async fn user(db: &DbSettings, command: UserCommand) -> anyhow::Result<()> {
    let mut database = Database::open(db).await?;
    let result = run_user(&mut database.conn, command).await;
    database.close();
    result
}

/// Runs a `token` subcommand.
pub async fn token(db: &DbSettings, command: TokenCommand) -> anyhow::Result<()> {
    let mut database = Database::open(db).await?;
    let result = run_token(&mut database.conn, command).await;
    database.close();
    result
}

async fn run_user(conn: &mut AsyncPgConnection, command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Create {
            username,
            role,
            display_name,
            stores,
        } => {
            if username.trim().is_empty() {
                bail!("the username must not be empty");
            }
            let mut store_ids = Vec::with_capacity(stores.len());
            for code in &stores {
                let found = store::by_code(conn, code).await.map_err(err)?;
                let Some(found) = found else {
                    bail!("no store with code `{code}`");
                };
                store_ids.push(found.id);
            }
            let display_name = display_name.unwrap_or_else(|| username.clone());
            let created = user::create(conn, &username, &display_name, role, &store_ids)
                .await
                .map_err(err)?;
            let (row, clear) = token::create(conn, created.id).await.map_err(err)?;
            println!(
                "Created user `{}` ({}) with token id {}. The token is shown once:",
                created.username, created.role, row.id
            );
            println!("{clear}");
        }
        UserCommand::List => {
            for u in user::all(conn).await.map_err(err)? {
                let store_ids = user::store_ids(conn, u.id).await.map_err(err)?;
                let stores = store::by_ids(conn, &store_ids).await.map_err(err)?;
                let mut codes: Vec<String> = stores.into_iter().map(|s| s.code).collect();
                codes.sort();
                let scope = if codes.is_empty() {
                    "all stores".to_string()
                } else {
                    codes.join(",")
                };
                println!("{}\t{}\t{}\t{}", u.username, u.role, u.display_name, scope);
            }
        }
    }
    Ok(())
}

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(|| "-".into(), |t| t.to_rfc3339())
}

async fn run_token(conn: &mut AsyncPgConnection, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create { username } => {
            let Some(u) = user::by_username(conn, &username).await.map_err(err)? else {
                bail!("no user named `{username}`");
            };
            let (row, clear) = token::create(conn, u.id).await.map_err(err)?;
            println!(
                "Created token id {} for `{}`. The token is shown once:",
                row.id, u.username
            );
            println!("{clear}");
        }
        TokenCommand::List { username } => {
            let Some(u) = user::by_username(conn, &username).await.map_err(err)? else {
                bail!("no user named `{username}`");
            };
            println!("id\tcreated\tlast_used\trevoked");
            for t in token::for_user(conn, u.id).await.map_err(err)? {
                println!(
                    "{}\t{}\t{}\t{}",
                    t.id,
                    t.created_at.to_rfc3339(),
                    when(t.last_used_at),
                    when(t.revoked_at)
                );
            }
        }
        TokenCommand::Revoke { token_id_or_token } => {
            let Some(found) = token::find(conn, &token_id_or_token).await.map_err(err)? else {
                bail!("no such token (give a token id from `token list`, or the token itself)");
            };
            let revoked = token::revoke(conn, found.id).await.map_err(err)?;
            println!(
                "Revoked token id {} at {}",
                revoked.id,
                when(revoked.revoked_at)
            );
        }
    }
    Ok(())
}
