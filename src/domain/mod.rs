//! Validated values and rules with no I/O: roles, tokens and other domain newtypes.

pub mod role;
pub mod token;
