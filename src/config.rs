//! Settings from the environment and flags, validated once at start.
//!
//! Every limit and timeout of the service is a named setting here with its default, so no
//! other module carries a magic number. `clap` reads each from its flag or its variable.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};

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

    /// Origins allowed to call the API from a browser (comma-separated; default none).
    #[arg(long, env = "STOCKROOM_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Development mode: "did you mean" field suggestions in validation errors.
    #[arg(long, env = "STOCKROOM_DEV_MODE", default_value_t = false, action = clap::ArgAction::Set)]
    pub dev_mode: bool,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub limits: Limits,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub reads: ReadSettings,

    #[command(flatten)]
    #[allow(missing_docs)]
    pub ws: WsSettings,
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

impl Default for ReadSettings {
    fn default() -> Self {
        Self {
            shared_connections: 2,
            read_database_urls: Vec::new(),
            max_replica_lag_ms: 1000,
        }
    }
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
}

impl Default for WsSettings {
    fn default() -> Self {
        Self {
            token_recheck_ms: 60_000,
            max_subscriptions_per_connection: 100,
            max_connections: 10_000,
            ping_interval_ms: 15_000,
            idle_timeout_ms: 60_000,
        }
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

    /// How long idempotency keys are kept (hours).
    #[arg(
        long,
        env = "STOCKROOM_IDEMPOTENCY_RETENTION_HOURS",
        default_value_t = 24
    )]
    pub idempotency_retention_hours: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 20,
            max_complexity: 100_000,
            max_aliases: 50,
            max_root_fields: 20,
            max_batch: 10,
            max_body_bytes: 1_048_576,
            request_timeout_ms: 30_000,
            max_directives: 50,
            max_tokens: 15_000,
            apq_cache_size: 1000,
            get_max_age_seconds: 5,
            stats_refresh_ms: 5_000,
            idempotency_retention_hours: 24,
        }
    }
}

impl Limits {
    /// How long one request may run (`request_timeout_ms`).
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8000)),
            public_read: false,
            log_format: LogFormat::Text,
            cors_origins: Vec::new(),
            dev_mode: false,
            limits: Limits::default(),
            reads: ReadSettings::default(),
            ws: WsSettings::default(),
        }
    }
}

/// Largest page a connection returns (`first`/`last`).
pub const MAX_PAGE_SIZE: i64 = 100;
/// Most IDs one `nodes(ids:)` call takes (more is BAD_USER_INPUT).
pub const MAX_NODE_IDS: usize = 100;
/// Page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: i64 = 20;
/// A token's `last_used_at` is rewritten only when older than this (no write per request).
pub const TOKEN_LAST_USED_RESOLUTION: Duration = Duration::from_secs(60);
/// Weight of a list field that takes no page size when the data's fan-out is not known
/// (not read yet, or unreadable) or the list is not one the fan-out numbers cover.
pub const UNPAGED_LIST_WEIGHT: usize = 20;
/// What `totalCount` weighs per connection in the complexity (the database counts every
/// matching row: like reading a full page).
pub const TOTAL_COUNT_WEIGHT: u64 = 100;
/// What a non-empty `search` filter adds to its field's complexity (an index scan of text
/// fragments, then a recheck of every candidate row).
pub const SEARCH_WEIGHT: u64 = 100;
/// How long the first requests after a start wait for the first read of the fan-out numbers.
pub const FANOUT_FIRST_READ_WAIT: Duration = Duration::from_secs(2);
/// Name of the database inside the embedded PostgreSQL.
pub const EMBEDDED_DATABASE: &str = "stockroom";
