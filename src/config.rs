//! Settings from the environment and flags, validated once at start.
//!
//! Every limit and timeout of the service is a named setting here with its default, so no
//! other module carries a magic number. `clap` reads each from its flag or its variable.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, FromArgMatches, ValueEnum};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where the database is and how to reach it.
#[derive(Debug, Clone, Args)]
pub struct DbSettings {
    /// PostgreSQL URL; without it a private PostgreSQL is started in the data directory.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// Directory of the embedded PostgreSQL (used when DATABASE_URL is not set).
    #[arg(
        long,
        env = "STOCKROOM_DATA_DIR",
        default_value = "./.stockroom",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Largest number of database connections.
    #[arg(long, env = "STOCKROOM_POOL_SIZE", default_value_t = 16, global = true)]
    pub pool_size: usize,

    /// How long a request waits for a database connection before SERVICE_UNAVAILABLE (ms).
    #[arg(
        long,
        env = "STOCKROOM_POOL_TIMEOUT_MS",
        default_value_t = 5000,
        global = true
    )]
    pub pool_timeout_ms: u64,
}

impl DbSettings {
    /// The pool's wait, connect and recycle timeout.
    pub fn pool_timeout(&self) -> Duration {
        Duration::from_millis(self.pool_timeout_ms)
    }
}

/// Settings of the HTTP/GraphQL service.
#[derive(Debug, Clone, Args)]
pub struct ServeSettings {
    /// Address to listen on.
    #[arg(long, env = "STOCKROOM_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,

    /// Let anonymous requests read (queries and subscriptions).
    #[arg(long, env = "STOCKROOM_PUBLIC_READ", default_value_t = false, action = clap::ArgAction::Set)]
    pub public_read: bool,

    /// Log format.
    #[arg(long, env = "STOCKROOM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// OTLP/HTTP collector to export traces to (`http://host:4318`; spans go to
    /// `/v1/traces`); unset: no traces.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Origins allowed to call the API from a browser (comma-separated; default none).
    #[arg(long, env = "STOCKROOM_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Development mode: "did you mean" field suggestions in validation errors.
    #[arg(long, env = "STOCKROOM_DEV_MODE", default_value_t = false, action = clap::ArgAction::Set)]
    pub dev_mode: bool,

    /// Threads that run requests; 0 = automatic: one fewer than the CPUs (at least one) when
    /// the database is the embedded one, which shares those CPUs, else one per CPU.
    #[arg(long, env = "STOCKROOM_WORKER_THREADS", default_value_t = 0)]
    pub worker_threads: usize,

    /// Render pages whose rows and relations are loaded in one pass instead of field by field
    /// (off: every field goes through async-graphql's executor; same answers, more CPU).
    #[arg(long, env = "STOCKROOM_RENDER_PAGES", default_value_t = true, action = clap::ArgAction::Set)]
    pub render_pages: bool,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub limits: Limits,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub reads: ReadSettings,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub ws: WsSettings,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub connections: Connections,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub movements: Movements,

    /// How long readiness (`/readyz`) waits for the database before answering 503 (ms).
    #[arg(long, env = "STOCKROOM_READY_TIMEOUT_MS", default_value_t = 2_000)]
    pub ready_timeout_ms: u64,

    /// How long a browser may cache a CORS preflight answer (seconds).
    #[arg(long, env = "STOCKROOM_CORS_MAX_AGE_SECONDS", default_value_t = 600)]
    pub cors_max_age_seconds: u64,
}

impl ServeSettings {
    /// The runtime's worker threads for a server whose database is embedded or not, given the
    /// CPUs it may use. On a machine shared with its own PostgreSQL, a request's work is a
    /// chain of short steps on alternate sides: a second worker mostly wakes up to find the
    /// step already taken (one client's product page cost 1.5-1.8 ms of CPU with two workers
    /// on two CPUs, 1.0-1.1 ms with one, at the same rate under load).
    pub fn workers(&self, embedded: bool, cpus: usize) -> usize {
        match self.worker_threads {
            0 if embedded => cpus.saturating_sub(1).max(1),
            0 => cpus.max(1),
            n => n,
        }
    }

    /// How long readiness waits for the database.
    pub fn ready_timeout(&self) -> Duration {
        Duration::from_millis(self.ready_timeout_ms)
    }
}

/// Rules of stock movements and of their idempotency keys' cleanup.
#[derive(Debug, Clone, Args)]
pub struct Movements {
    /// Largest quantity one movement line may carry; above it is BAD_USER_INPUT (a typing
    /// mistake, not a delivery).
    #[arg(long, env = "STOCKROOM_MAX_MOVEMENT_QUANTITY", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(i32).range(1..))]
    pub max_movement_quantity: i32,

    /// Most lines one `recordMovements` call may carry.
    #[arg(long, env = "STOCKROOM_MAX_MOVEMENT_LINES", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_movement_lines: u64,

    /// How often a movement that lost a deadlock is retried before the error reaches the
    /// client (rows are locked in a fixed order, so it should not happen).
    #[arg(long, env = "STOCKROOM_DEADLOCK_RETRIES", default_value_t = 3)]
    pub deadlock_retries: usize,

    /// How often expired idempotency keys are deleted (seconds).
    #[arg(long, env = "STOCKROOM_IDEMPOTENCY_CLEANUP_INTERVAL_SECONDS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub idempotency_cleanup_interval_seconds: u64,

    /// Expired idempotency keys deleted per statement of the cleanup.
    #[arg(long, env = "STOCKROOM_IDEMPOTENCY_CLEANUP_BATCH", default_value_t = 500,
          value_parser = clap::value_parser!(i64).range(1..))]
    pub idempotency_cleanup_batch: i64,

    /// Pause between two statements of one cleanup round, so it never hogs the database (ms).
    #[arg(
        long,
        env = "STOCKROOM_IDEMPOTENCY_CLEANUP_PAUSE_MS",
        default_value_t = 50
    )]
    pub idempotency_cleanup_pause_ms: u64,
}

impl Movements {
    /// Most lines of one `recordMovements` call, as a length.
    pub fn max_lines(&self) -> usize {
        usize::try_from(self.max_movement_lines).unwrap_or(usize::MAX)
    }

    /// How often expired idempotency keys are deleted.
    pub fn cleanup_interval(&self) -> Duration {
        Duration::from_secs(self.idempotency_cleanup_interval_seconds)
    }

    /// The pause between two statements of one cleanup round.
    pub fn cleanup_pause(&self) -> Duration {
        Duration::from_millis(self.idempotency_cleanup_pause_ms)
    }
}

/// How long clients may take to send a request, and how the service stops (src/shutdown.rs).
#[derive(Debug, Clone, Args)]
pub struct Connections {
    /// How long a stop (SIGTERM, Ctrl-C) waits for HTTP requests and WebSocket operations in
    /// flight before closing what is left (seconds).
    #[arg(long, env = "STOCKROOM_SHUTDOWN_GRACE_SECONDS", default_value_t = 30)]
    pub shutdown_grace_seconds: u64,

    /// Longest time a client may take to send a request's headers, and again its body; also
    /// how long an idle keep-alive connection stays open (seconds).
    #[arg(long, env = "STOCKROOM_READ_TIMEOUT_SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub read_timeout_seconds: u64,
}

impl Connections {
    /// How long a stop waits for work in flight.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_seconds)
    }

    /// How long a client may take to send a request's headers, or its body.
    pub fn read_timeout(&self) -> Duration {
        Duration::from_secs(self.read_timeout_seconds)
    }
}

/// Where reads go: shared pipelined connections, read replicas.
#[derive(Debug, Clone, Args)]
pub struct ReadSettings {
    /// Connections per database node that every read shares (statements of many requests
    /// are pipelined on them); the primary's come out of the pool (at most half of it).
    #[arg(long, env = "STOCKROOM_SHARED_CONNECTIONS", default_value_t = 2)]
    pub shared_connections: usize,

    /// Read replicas (comma-separated PostgreSQL URLs): query documents read from them.
    #[arg(
        long,
        env = "STOCKROOM_READ_DATABASE_URLS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub read_database_urls: Vec<String>,

    /// A replica that has not replayed what the primary wrote this long ago (ms) is skipped
    /// until it catches up.
    #[arg(long, env = "STOCKROOM_MAX_REPLICA_LAG_MS", default_value_t = 1000)]
    pub max_replica_lag_ms: u64,
}

impl ReadSettings {
    /// How far a replica may lag before it is skipped.
    pub fn max_replica_lag(&self) -> Duration {
        Duration::from_millis(self.max_replica_lag_ms)
    }

    /// Shared connections of the primary for a pool of `pool_size`: at least one, at most
    /// half the pool (the rest is for transactions).
    pub fn primary_shared(&self, pool_size: usize) -> usize {
        self.shared_connections.min(pool_size / 2).max(1)
    }
}

/// Limits and timers of WebSocket (graphql-transport-ws) connections.
#[derive(Debug, Clone, Args)]
pub struct WsSettings {
    /// How often the token of a connection with running subscriptions is checked again (ms);
    /// a revoked or deleted token closes the connection with 4403.
    #[arg(long, env = "STOCKROOM_WS_TOKEN_RECHECK_MS", default_value_t = 60_000)]
    pub token_recheck_ms: u64,

    /// Most operations (subscriptions) running at once on one connection.
    #[arg(
        long,
        env = "STOCKROOM_MAX_SUBSCRIPTIONS_PER_CONNECTION",
        default_value_t = 100
    )]
    pub max_subscriptions_per_connection: usize,

    /// Most WebSocket connections open at once; beyond it an upgrade is answered 503.
    #[arg(long, env = "STOCKROOM_MAX_WS_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// How often the server pings every connection (WebSocket ping frames; ms).
    #[arg(long, env = "STOCKROOM_WS_PING_INTERVAL_MS", default_value_t = 15_000)]
    pub ping_interval_ms: u64,

    /// A connection from which nothing (no message, no pong) arrived for this long is closed
    /// with 4408 (ms).
    #[arg(long, env = "STOCKROOM_WS_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,

    /// A connection that sends no `connection_init` within this long is closed with 4408 (ms).
    #[arg(long, env = "STOCKROOM_WS_INIT_TIMEOUT_MS", default_value_t = 10_000)]
    pub init_timeout_ms: u64,
}

impl WsSettings {
    /// How long a new connection may take to send `connection_init`.
    pub fn init_timeout(&self) -> Duration {
        Duration::from_millis(self.init_timeout_ms)
    }
}

/// Limits on what one request may ask for.
#[derive(Debug, Clone, Args)]
pub struct Limits {
    /// Deepest nesting of a document (the standard introspection query needs 15).
    #[arg(long, env = "STOCKROOM_MAX_DEPTH", default_value_t = 20)]
    pub max_depth: usize,

    /// Largest complexity: the estimated number of fields of the result (a list multiplies
    /// what is below it by its page size, or by the data's fan-out when it has no page size).
    #[arg(long, env = "STOCKROOM_MAX_COMPLEXITY", default_value_t = 100_000)]
    pub max_complexity: usize,

    /// Most aliases in one document.
    #[arg(long, env = "STOCKROOM_MAX_ALIASES", default_value_t = 50)]
    pub max_aliases: usize,

    /// Most root fields in one operation.
    #[arg(long, env = "STOCKROOM_MAX_ROOT_FIELDS", default_value_t = 20)]
    pub max_root_fields: usize,

    /// Most operations in one batched request.
    #[arg(long, env = "STOCKROOM_MAX_BATCH", default_value_t = 10)]
    pub max_batch: usize,

    /// Largest request body in bytes.
    #[arg(long, env = "STOCKROOM_MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,

    /// Longest time one request may run (ms).
    #[arg(long, env = "STOCKROOM_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,

    /// Most lexical tokens in one document (names, values and punctuation).
    #[arg(long, env = "STOCKROOM_MAX_TOKENS", default_value_t = 15_000)]
    pub max_tokens: usize,

    /// Most directives in one document.
    #[arg(long, env = "STOCKROOM_MAX_DIRECTIVES", default_value_t = 50)]
    pub max_directives: usize,

    /// How many persisted-query documents (APQ) are kept in memory (least recently used go).
    #[arg(long, env = "STOCKROOM_APQ_CACHE_SIZE", default_value_t = 1000)]
    pub apq_cache_size: usize,

    /// `Cache-Control: max-age` of successful query responses to GET requests (seconds; 0 = no-store).
    #[arg(long, env = "STOCKROOM_GET_MAX_AGE_SECONDS", default_value_t = 5)]
    pub get_max_age_seconds: u64,

    /// How often the fan-out numbers the complexity uses are read again (ms); a change of
    /// categories or stores through the API reads them at once.
    #[arg(long, env = "STOCKROOM_STATS_REFRESH_MS", default_value_t = 5_000)]
    pub stats_refresh_ms: u64,

    /// How long the first requests after a start wait for the first read of the fan-out
    /// numbers (ms); past it they are weighed with the fixed list weight.
    #[arg(
        long,
        env = "STOCKROOM_FANOUT_FIRST_READ_WAIT_MS",
        default_value_t = 2_000
    )]
    pub fanout_first_read_wait_ms: u64,

    /// Weight in the complexity of a list field that takes no page size when the data's
    /// fan-out is not known (not read yet, or unreadable) or the list is not one the fan-out
    /// numbers cover.
    #[arg(long, env = "STOCKROOM_UNPAGED_LIST_WEIGHT", default_value_t = 20)]
    pub unpaged_list_weight: usize,

    /// What `totalCount` weighs per connection in the complexity (the database counts every
    /// matching row: like reading a full page).
    #[arg(long, env = "STOCKROOM_TOTAL_COUNT_WEIGHT", default_value_t = 100)]
    pub total_count_weight: u64,

    /// What a non-empty `search` filter adds to its field's complexity (an index scan of text
    /// fragments, then a recheck of every candidate row).
    #[arg(long, env = "STOCKROOM_SEARCH_WEIGHT", default_value_t = 100)]
    pub search_weight: u64,

    /// How long idempotency keys are kept (hours).
    #[arg(
        long,
        env = "STOCKROOM_IDEMPOTENCY_RETENTION_HOURS",
        default_value_t = 24
    )]
    pub idempotency_retention_hours: u64,
}

impl Limits {
    /// How long the first requests wait for the first read of the fan-out numbers.
    pub fn fanout_first_read_wait(&self) -> Duration {
        Duration::from_millis(self.fanout_first_read_wait_ms)
    }

    /// How long one request may run (`request_timeout_ms`).
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// A group of settings at its defaults, reading neither flags nor the environment: each
/// default is written once, in its `#[arg]` above, and `Default` is derived from it.
fn clap_defaults<T: Args + FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults"))
        .mut_args(|arg| arg.env(None::<&'static str>));
    command
        .try_get_matches_from(["defaults"])
        .and_then(|matches| T::from_arg_matches(&matches))
        .expect("every setting has a default that parses")
}

/// `Default` for setting groups, from their clap defaults.
macro_rules! default_from_clap {
    ($($group:ty),* $(,)?) => {
        $(impl Default for $group {
            fn default() -> Self {
                clap_defaults()
            }
        })*
    };
}

default_from_clap!(
    ServeSettings,
    Limits,
    ReadSettings,
    WsSettings,
    Connections,
    Movements
);

// Fixed values, not settings: page sizes and the `nodes` limit are the contract's words
// (CONVENTIONS.md: "Page size is at most 100", "`nodes(ids:)` takes at most 100 ids") and the
// schema's documentation, read where no settings reach (cursor pagination, loaders).

/// Largest page a connection returns (`first`/`last`).
pub const MAX_PAGE_SIZE: i64 = 100;
/// Most IDs one `nodes(ids:)` call takes (more is BAD_USER_INPUT).
pub const MAX_NODE_IDS: usize = 100;
/// Page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: i64 = 20;
/// A token's `last_used_at` is rewritten only when older than this (no write per request).
pub const TOKEN_LAST_USED_RESOLUTION: Duration = Duration::from_secs(60);
/// Name of the database inside the embedded PostgreSQL.
pub const EMBEDDED_DATABASE: &str = "stockroom";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_clap_defaults() {
        let settings = ServeSettings::default();
        assert_eq!(settings.limits.max_batch, 10);
        assert_eq!(settings.ws.init_timeout(), Duration::from_secs(10));
        assert_eq!(settings.movements.max_movement_quantity, 1_000_000);
        assert_eq!(settings.movements.max_lines(), 100);
        assert_eq!(settings.listen, SocketAddr::from(([127, 0, 0, 1], 8000)));
        assert_eq!(settings.log_format, LogFormat::Text);
        assert_eq!(settings.connections.read_timeout(), Duration::from_secs(10));
        assert_eq!(Limits::default().max_batch, settings.limits.max_batch);
    }

    #[test]
    fn the_embedded_default_leaves_a_cpu_to_its_postgresql_and_a_setting_overrides_it() {
        let auto = ServeSettings::default();
        assert_eq!(auto.workers(true, 2), 1);
        assert_eq!(auto.workers(true, 1), 1);
        assert_eq!(auto.workers(true, 8), 7);
        assert_eq!(auto.workers(false, 2), 2);
        let three = ServeSettings {
            worker_threads: 3,
            ..ServeSettings::default()
        };
        assert_eq!(three.workers(true, 2), 3);
        assert_eq!(three.workers(false, 8), 3);
    }

    #[test]
    fn every_setting_is_documented_in_the_readme() {
        let readme = include_str!("../README.md");
        let command =
            DbSettings::augment_args(ServeSettings::augment_args(clap::Command::new("serve")));
        let undocumented: Vec<String> = command
            .get_arguments()
            .filter_map(|arg| arg.get_env())
            .map(|env| env.to_string_lossy().into_owned())
            .filter(|env| !readme.contains(&format!("| `{env}` |")))
            .collect();
        assert!(
            undocumented.is_empty(),
            "not in a README table: {undocumented:?}"
        );
    }
}
