//! One module per table: its row struct and the queries and transactions on it.

pub mod category;
pub mod demo;
pub mod idempotency;
pub mod movement;
pub mod page;
pub mod product;
pub mod reference;
pub mod row_time;
pub mod statistics;
pub mod stock;
pub mod store;
pub mod token;
pub mod transaction;
pub mod user;
pub mod wal;
