//! The one error type of the service and its one mapping to GraphQL errors.
//!
//! Model functions return [`AppError`]; resolvers return `async_graphql::Result`, and `?`
//! converts through the `From` impl below, which is the only place that knows both sides.
//! `AppError` deliberately does not implement `Display`: that keeps async-graphql's blanket
//! `From<impl Display>` (which would carry raw text to clients) from applying to it.

use std::fmt;

use async_graphql::{ErrorExtensions, Value};

/// Stable codes carried in `extensions.code`, as listed in the API conventions.
pub mod code {
    /// Invalid argument.
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    /// An ID or key in a mutation's input names nothing.
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// An outbound or transfer larger than the stock.
    pub const INSUFFICIENT_STOCK: &str = "INSUFFICIENT_STOCK";
    /// Duplicate key, or an idempotency key reused with another input.
    pub const CONFLICT: &str = "CONFLICT";
    /// No (valid) token where one is needed.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// A valid token without the needed role or store.
    pub const FORBIDDEN: &str = "FORBIDDEN";
    /// A document over a depth, complexity, alias, root-field or batch limit.
    pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
    /// The document failed validation.
    pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    /// The document did not parse.
    pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    /// Malformed HTTP body or request shape.
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// The database is unreachable or the pool is exhausted.
    pub const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";
    /// Anything else.
    pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";
}

/// Every failure a request can meet, with what a client may be told about it.
pub enum AppError {
    /// An invalid argument; `field` is its path as written in the document (`input.quantity`).
    BadUserInput {
        /// What is wrong, for humans.
        message: String,
        /// The argument at fault, when one is.
        field: Option<String>,
    },
    /// An ID or key in a mutation's input that names nothing.
    NotFound(String),
    /// A row a write refers to does not exist, in a model's terms; the resolver names the
    /// argument ([`AppError::naming`]), which makes it a [`AppError::NotFound`].
    Missing(Missing),
    /// A movement larger than the stock.
    InsufficientStock {
        /// Stock on hand.
        available: i64,
        /// Quantity asked for.
        requested: i64,
        /// The argument at fault (e.g. `input.lines.2.quantity`), when known.
        field: Option<String>,
    },
    /// A uniqueness clash or an idempotency key reused with another input.
    Conflict(String),
    /// No valid token where one is needed.
    Unauthenticated(String),
    /// The caller's role or store scope does not allow this.
    Forbidden(String),
    /// A document over a limit.
    QueryTooComplex {
        /// What was exceeded.
        message: String,
        /// The configured limit.
        limit: usize,
    },
    /// The database cannot be reached in time.
    ServiceUnavailable,
    /// Anything else; the cause is logged, never shown.
    Internal(anyhow::Error),
}

/// What a model looked for by id and did not find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The product.
    Product,
    /// The store.
    Store,
    /// The category written to.
    Category,
    /// The category asked for as the new parent.
    ParentCategory,
}

impl Missing {
    /// What it is, in words.
    fn noun(self) -> &'static str {
        match self {
            Self::Product => "product",
            Self::Store => "store",
            Self::Category | Self::ParentCategory => "category",
        }
    }
}

impl AppError {
    /// Names the arguments behind a model's error: a missing row that `args` lists becomes
    /// NOT_FOUND "`{argument}` names no …", and a rule broken about no argument in particular
    /// (a BAD_USER_INPUT without a field) is about `rule_arg`, when given.
    pub fn naming(self, args: &[(Missing, &str)], rule_arg: Option<&str>) -> Self {
        match self {
            Self::Missing(missing) => match args.iter().find(|(m, _)| *m == missing) {
                Some((_, arg)) => Self::NotFound(format!("`{arg}` names no {}", missing.noun())),
                None => Self::Missing(missing),
            },
            Self::BadUserInput {
                message,
                field: None,
            } => Self::BadUserInput {
                message,
                field: rule_arg.map(str::to_string),
            },
            other => other,
        }
    }

    /// A `BAD_USER_INPUT` error about one argument.
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadUserInput {
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// A `NOT_FOUND` error.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// An internal error from anything that can be turned into `anyhow::Error`.
    pub fn internal(err: impl Into<anyhow::Error>) -> Self {
        Self::Internal(err.into())
    }

    /// The stable `extensions.code` of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadUserInput { .. } => code::BAD_USER_INPUT,
            Self::NotFound(_) | Self::Missing(_) => code::NOT_FOUND,
            Self::InsufficientStock { .. } => code::INSUFFICIENT_STOCK,
            Self::Conflict(_) => code::CONFLICT,
            Self::Unauthenticated(_) => code::UNAUTHENTICATED,
            Self::Forbidden(_) => code::FORBIDDEN,
            Self::QueryTooComplex { .. } => code::QUERY_TOO_COMPLEX,
            Self::ServiceUnavailable => code::SERVICE_UNAVAILABLE,
            Self::Internal(_) => code::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message a client sees.
    pub fn client_message(&self) -> String {
        match self {
            Self::BadUserInput { message, .. }
            | Self::NotFound(message)
            | Self::Conflict(message)
            | Self::Unauthenticated(message)
            | Self::Forbidden(message)
            | Self::QueryTooComplex { message, .. } => message.clone(),
            Self::InsufficientStock {
                available,
                requested,
                ..
            } => format!("insufficient stock: {available} available, {requested} requested"),
            Self::Missing(missing) => format!("no {} has this id", missing.noun()),
            Self::ServiceUnavailable => "the database is unavailable; try again shortly".into(),
            Self::Internal(_) => "internal server error".into(),
        }
    }
}

impl fmt::Debug for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Internal(err) => write!(f, "{}: {err:#}", self.code()),
            other => write!(f, "{}: {}", other.code(), other.client_message()),
        }
    }
}

/// How many times a database connection was found broken while used, since the start (the
/// gate runs a query again once when this moved during its first run).
static CONNECTIONS_LOST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The number of database connections found broken while used so far.
pub fn connections_lost() -> u64 {
    CONNECTIONS_LOST.load(std::sync::atomic::Ordering::Relaxed)
}

fn connection_lost() -> AppError {
    CONNECTIONS_LOST.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    AppError::ServiceUnavailable
}

impl From<diesel::result::Error> for AppError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match &err {
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => {
                tracing::warn!(error = %err, "database connection closed");
                connection_lost()
            }
            Error::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message().contains("connection closed")
                    || info.message().contains("error connecting")
                    // 57P01..57P03: the server ended the session (restart, failover, a
                    // terminated backend).
                    || info.message().contains("terminating connection") =>
            {
                tracing::warn!(error = %err, "database connection lost");
                connection_lost()
            }
            // statement_timeout (the request's time is up) or lock_timeout: nothing was
            // written, and trying again later may well succeed.
            Error::DatabaseError(_, info)
                if info.message().starts_with("canceling statement due to") =>
            {
                tracing::warn!(error = %err, "statement cancelled by a timeout");
                Self::ServiceUnavailable
            }
            _ => Self::Internal(err.into()),
        }
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for AppError {
    fn from(err: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        tracing::warn!(error = %err, "no database connection available");
        Self::ServiceUnavailable
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        if let AppError::Internal(cause) = &err {
            tracing::error!(error = ?cause, "internal error");
        }
        let code = err.code();
        async_graphql::Error::new(err.client_message()).extend_with(|_, ext| {
            ext.set("code", code);
            match &err {
                AppError::BadUserInput {
                    field: Some(field), ..
                } => ext.set("field", field.as_str()),
                AppError::InsufficientStock {
                    available,
                    requested,
                    field,
                } => {
                    ext.set("available", Value::from(*available));
                    ext.set("requested", Value::from(*requested));
                    if let Some(field) = field {
                        ext.set("field", field.as_str());
                    }
                }
                AppError::QueryTooComplex { limit, .. } => ext.set("limit", *limit as u64),
                _ => {}
            }
        })
    }
}

/// Shorthand for results of model and domain functions.
pub type AppResult<T> = Result<T, AppError>;

/// What unit tests need to look inside an error.
#[cfg(test)]
pub(crate) mod testing {
    use super::{AppError, AppResult};

    /// The argument and message of a BAD_USER_INPUT about one argument; panics on anything
    /// else.
    pub(crate) fn bad_input<T: std::fmt::Debug>(result: AppResult<T>) -> (String, String) {
        match result {
            Err(AppError::BadUserInput {
                message,
                field: Some(field),
            }) => (field, message),
            other => panic!("expected BAD_USER_INPUT with a field, got {other:?}"),
        }
    }
}
