//! The one integration-test binary: every test speaks HTTP to a real server on a real
//! PostgreSQL, each on a database of its own cloned from a migrated template.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod auth_access;
mod auth_cli;
mod auth_roles;
mod browser;
mod contract;
mod delay_proxy;
mod embedded_root;
mod fleet;
mod foundation;
mod helpers;
mod http_audit;
mod http_limits;
mod http_protocol;
mod http_support;
mod import;
mod import_limits;
mod limits_inputs;
mod limits_real_clients;
mod mutations_catalogue;
mod mutations_concurrency;
mod mutations_crash;
mod mutations_exact_refusals;
mod mutations_idempotency;
mod mutations_movements;
mod mutations_support;
mod read_explain;
mod read_fixture;
mod read_pagination;
mod read_query_count;
mod read_render;
mod read_values;
mod reads_reference;
mod reads_replicas;
mod reads_shared;
mod subscriptions;
mod traces;
mod ws_rules;
