//! The `stockroom` command line: serve, migrate, schema (and more as they land).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use stockroom::{
    app, cli,
    config::{DbSettings, ServeSettings},
    db,
    graphql::schema,
    telemetry,
};

/// mimalloc instead of glibc's malloc: a request allocates and frees thousands of small
/// values (one per resolved field), where glibc's allocator was a quarter of the CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// stockroom: a GraphQL inventory service on PostgreSQL.
#[derive(Parser)]
#[command(version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    db: DbSettings,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
// Parsed once per process: the size of the largest variant costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Run the service (starts a private PostgreSQL unless DATABASE_URL is set).
    Serve(ServeSettings),
    /// Apply pending migrations to DATABASE_URL and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Create and list users.
    #[command(subcommand)]
    User(cli::UserCommand),
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(cli::TokenCommand),
    /// Import a catalogue and ledger from the CSV files of DIR (one transaction).
    Import {
        /// Directory with categories.csv, stores.csv, users.csv, products.csv, stocks.csv,
        /// inventory_transactions.csv (absent files are skipped).
        dir: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Schema = cli.command {
        print!("{}", schema::sdl());
        return ExitCode::SUCCESS;
    }
    let (log_format, otlp_endpoint) = match &cli.command {
        Command::Serve(s) => (s.log_format, s.otlp_endpoint.clone()),
        _ => (stockroom::config::LogFormat::Text, None),
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Command::Serve(s) = &cli.command {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        builder.worker_threads(s.workers(cli.db.database_url.is_none(), cpus));
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        // Inside the runtime: the trace exporter runs as one of its tasks.
        let traces = telemetry::init(log_format, otlp_endpoint.as_deref())?;
        let result = run(cli).await;
        if let Some(traces) = traces {
            traces.shutdown().await;
        }
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(settings) => app::run_serve(cli.db, settings).await,
        Command::Migrate => {
            let url =
                cli.db.database_url.as_deref().ok_or_else(|| {
                    anyhow::anyhow!("set DATABASE_URL to the database to migrate")
                })?;
            let applied = db::migrations::run(url).await?;
            println!("applied {applied} migration(s)");
            Ok(())
        }
        Command::Schema => Ok(()),
        Command::User(command) => cli::user(&cli.db, command).await,
        Command::Token(command) => cli::token(&cli.db, command).await,
        Command::Import { dir } => stockroom::import::cli(&cli.db, &dir).await,
    }
}
