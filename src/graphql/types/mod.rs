//! One file per GraphQL type. Wire types hold rows (or keys) and resolve relations through
//! the request's loaders.

pub mod category;
pub mod decimal;
pub mod node;
pub mod product;
pub mod stock;
pub mod stock_change;
pub mod store;
pub mod transaction;
pub mod user;
