//! Relay connections with keyset cursors: page-size rules, cursor encoding, `PageInfo`.
//!
//! A cursor is base64url of a JSON array of the sort key of its row (e.g. `["HW-1",12]`), so
//! the next page is a `WHERE (key) > (cursor)` range scan on an index, never an OFFSET.

use async_graphql::SimpleObject;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    config::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE},
    error::{AppError, AppResult},
};

/// Relay's page information.
#[derive(Debug, Clone, Default, SimpleObject)]
pub struct PageInfo {
    /// Whether rows follow this page.
    pub has_next_page: bool,
    /// Whether rows precede this page.
    pub has_previous_page: bool,
    /// Cursor of the first edge.
    pub start_cursor: Option<String>,
    /// Cursor of the last edge.
    pub end_cursor: Option<String>,
}

/// The size of a forward page: `first` (0..=100) or the default.
pub fn page_size(first: Option<i32>, field: &str) -> AppResult<i64> {
    match first {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if (0..=MAX_PAGE_SIZE).contains(&i64::from(n)) => Ok(i64::from(n)),
        Some(n) => Err(AppError::bad_input(
            field,
            format!("`{field}` must be between 0 and {MAX_PAGE_SIZE}, got {n}"),
        )),
    }
}

/// Encodes a row's sort key as a cursor.
pub fn encode_cursor<K: Serialize>(key: &K) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

/// Decodes a cursor, or BAD_USER_INPUT naming `field`.
pub fn decode_cursor<K: DeserializeOwned>(cursor: &str, field: &str) -> AppResult<K> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| AppError::bad_input(field, format!("`{field}` is not a valid cursor")))
}
