//! Validated values and rules with no I/O: roles, tokens and other domain newtypes.

pub mod ledger;
pub mod money;
pub mod quantity;
pub mod role;
pub mod text;
pub mod token;
