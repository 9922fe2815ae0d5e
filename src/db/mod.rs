//! Everything that talks to PostgreSQL: the pool, the migrations, the diesel schema and the
//! models (one file per table, each owning the queries and transactions on it).

pub mod enums;
pub mod migrations;
pub mod models;
pub mod pool;
pub mod reads;
#[allow(missing_docs)]
pub mod schema;

pub use pool::{DbConn, DbPool};
