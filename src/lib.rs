//! stockroom: a GraphQL inventory service on PostgreSQL.
//!
//! The crate's map, one line per module:

pub mod app; // builds and runs the service
pub mod auth; // resolves the bearer token to the caller
pub mod cli; // the user and token subcommands
pub mod config; // settings from env and flags, with their defaults
pub mod db; // pool, migrations, diesel schema, models (all SQL lives here)
pub mod domain; // validated values and rules without I/O
pub mod embedded_pg; // the private PostgreSQL of the embedded default and the tests
pub mod error; // the error type and its one mapping to GraphQL codes
pub mod fast_map; // hash maps of the service's own keys (ids), hashed with foldhash
pub mod graphql; // schema, resolvers, loaders, pagination, global IDs
pub mod http; // routes: GraphQL (HTTP and WebSocket), GraphiQL, console, health, metrics, SDL
pub mod import; // `stockroom import DIR`: bulk CSV import (COPY, set-based checks)
pub mod live; // live stock events across instances (LISTEN/NOTIFY)
pub mod seed; // the demo catalogue of a first run
pub mod shutdown; // signals, and how open WebSockets wind up when the service stops
pub mod telemetry; // logs, and traces over OTLP when an endpoint is set
