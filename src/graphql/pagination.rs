//! Relay connections with keyset cursors, in one helper every connection uses: page-size
//! rules, cursor encoding, turning the rows a model read into edges and `PageInfo`.
//!
//! A cursor is base64url of the JSON of its row's sort key (e.g. `["HW-1",12]`), so the next
//! page is a `WHERE (key) > (cursor)` range scan on an index, never an OFFSET. Models read one
//! row more than the page (see [`Keyset`]) and, for `last`/`before`, in reverse; [`page`] trims
//! and reorders.

use async_graphql::{OutputType, SimpleObject};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    config::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE},
    db::models::page::Keyset,
    error::{AppError, AppResult},
    graphql::types::{
        product::Product, stock::Stock, store::Store, transaction::InventoryTransaction,
    },
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

/// An edge of a connection: a node and where it is.
#[derive(Clone, SimpleObject)]
#[graphql(
    concrete(name = "ProductEdge", params(Product)),
    concrete(name = "StoreEdge", params(Store)),
    concrete(name = "StockEdge", params(Stock)),
    concrete(name = "InventoryTransactionEdge", params(InventoryTransaction))
)]
pub struct Edge<T: OutputType> {
    /// Where this edge is, for `after`/`before`.
    pub cursor: String,
    /// The object.
    pub node: T,
}

/// One page of a connection: its edges and where it is.
pub struct Page<T: OutputType> {
    /// The edges, in the connection's order.
    pub edges: Vec<Edge<T>>,
    /// Where the page is.
    pub page_info: PageInfo,
}

impl<T: OutputType + Clone> Page<T> {
    /// The page's nodes, in order.
    pub fn nodes(&self) -> Vec<T> {
        self.edges.iter().map(|e| e.node.clone()).collect()
    }
}

/// The size of a page: `first`/`last` (0..=100) or the default.
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

/// Decodes a cursor, or BAD_USER_INPUT naming `field` (also for a key holding a NUL
/// character, which would otherwise reach PostgreSQL).
pub fn decode_cursor<K: DeserializeOwned>(cursor: &str, field: &str) -> AppResult<K> {
    let invalid = || AppError::bad_input(field, format!("`{field}` is not a valid cursor"));
    let value: serde_json::Value = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(invalid)?;
    if holds_nul(&value) {
        return Err(invalid());
    }
    serde_json::from_value(value).map_err(|_| invalid())
}

/// Whether any string inside a JSON value holds a NUL character.
fn holds_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(map) => map.values().any(holds_nul),
        _ => false,
    }
}

/// Parses `first`/`after`/`last`/`before` into a keyset request (BAD_USER_INPUT naming the
/// argument at fault). `first` and `last` together are refused.
pub fn keyset<K: DeserializeOwned>(
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
) -> AppResult<Keyset<K>> {
    if first.is_some() && last.is_some() {
        return Err(AppError::bad_input(
            "last",
            "give `first` or `last`, not both",
        ));
    }
    let limit = match last {
        Some(_) => page_size(last, "last")?,
        None => page_size(first, "first")?,
    };
    Ok(Keyset {
        after: after.map(|c| decode_cursor(&c, "after")).transpose()?,
        before: before.map(|c| decode_cursor(&c, "before")).transpose()?,
        limit,
        backward: last.is_some(),
    })
}

/// Parses `first`/`after` of a forward-only connection.
pub fn forward<K: DeserializeOwned>(
    first: Option<i32>,
    after: Option<String>,
) -> AppResult<Keyset<K>> {
    keyset(first, after, None, None)
}

/// The rows of `rows` (in read order) that the page shows: without the one more row read to
/// know whether there is a next page (the children of that row are not worth loading).
pub fn shown<'r, R, K>(rows: &'r [R], ks: &Keyset<K>) -> &'r [R] {
    let limit = usize::try_from(ks.limit).unwrap_or(0);
    &rows[..rows.len().min(limit)]
}

/// Turns the rows a model read for `ks` (one more than the page, in read direction) into a
/// page: trims, restores the connection's order and computes `PageInfo`.
pub fn page<R, K: Serialize, T: OutputType>(
    mut rows: Vec<R>,
    ks: &Keyset<K>,
    key: impl Fn(&R) -> K,
    node: impl Fn(R) -> T,
) -> Page<T> {
    let shown = shown(&rows, ks).len();
    let more = rows.len() > shown;
    rows.truncate(shown);
    if ks.backward {
        rows.reverse();
    }
    let edges: Vec<Edge<T>> = rows
        .into_iter()
        .map(|r| Edge {
            cursor: encode_cursor(&key(&r)),
            node: node(r),
        })
        .collect();
    let (has_next_page, has_previous_page) = if ks.backward {
        (ks.before.is_some(), more)
    } else {
        (more, ks.after.is_some())
    };
    Page {
        page_info: PageInfo {
            has_next_page,
            has_previous_page,
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        },
        edges,
    }
}

/// A count or sum as a GraphQL `Int` (an internal error past 2^31, which no stock reaches).
pub fn to_int(value: i64) -> AppResult<i32> {
    i32::try_from(value).map_err(AppError::internal)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::testing::bad_input;

    /// A product's sort key: its SKU and id.
    type SkuKey = (String, i64);

    #[test]
    fn the_row_read_to_know_whether_there_is_a_next_page_is_not_shown() {
        let ks = forward::<SkuKey>(Some(2), None).unwrap();
        assert_eq!(shown(&[1, 2, 3], &ks), &[1, 2]);
        assert_eq!(shown(&[1], &ks), &[1]);
        let back = keyset::<SkuKey>(None, None, Some(2), None).unwrap();
        assert_eq!(
            shown(&[3, 2, 1], &back),
            &[3, 2],
            "read direction, extra row last"
        );
    }

    #[test]
    fn a_cursor_decodes_to_the_key_it_was_encoded_from() {
        let key: SkuKey = ("HW-1 ü/+".into(), 12);
        let cursor = encode_cursor(&key);
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{cursor} is not URL-safe"
        );
        assert_eq!(decode_cursor::<SkuKey>(&cursor, "after").unwrap(), key);
    }

    #[test]
    fn a_garbage_or_tampered_cursor_is_refused_naming_its_argument() {
        let key: SkuKey = ("HW-1".into(), 12);
        let mut tampered = encode_cursor(&key);
        tampered.truncate(tampered.len() - 3);
        let not_json = URL_SAFE_NO_PAD.encode("HW-1,12");
        let other_shape = encode_cursor(&serde_json::json!({ "sku": "HW-1" }));
        for cursor in [
            "",
            "not a cursor!",
            "====",
            &tampered,
            &not_json,
            &other_shape,
        ] {
            let (field, message) = bad_input(decode_cursor::<SkuKey>(cursor, "before"));
            assert_eq!(field, "before", "{cursor}");
            assert_eq!(message, "`before` is not a valid cursor", "{cursor}");
        }
    }

    #[test]
    fn a_cursor_whose_key_holds_a_nul_character_is_refused() {
        let cursor = encode_cursor(&("HW\u{0}1", 12));
        let (field, _) = bad_input(decode_cursor::<SkuKey>(&cursor, "after"));
        assert_eq!(field, "after");
    }

    #[test]
    fn the_page_size_defaults_to_twenty_and_is_refused_outside_zero_to_a_hundred() {
        assert_eq!(page_size(None, "first").unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(Some(0), "first").unwrap(), 0);
        assert_eq!(page_size(Some(100), "first").unwrap(), MAX_PAGE_SIZE);
        for n in [-1, 101] {
            let (field, message) = bad_input(page_size(Some(n), "first"));
            assert_eq!(field, "first");
            assert!(message.contains(&format!("got {n}")), "{message}");
        }
    }

    #[test]
    fn first_and_last_together_are_refused_naming_last() {
        let (field, _) = bad_input(keyset::<SkuKey>(Some(1), None, Some(1), None));
        assert_eq!(field, "last");
    }

    #[test]
    fn a_keyset_request_carries_its_decoded_cursors_and_direction() {
        let after = encode_cursor(&("A".to_string(), 1i64));
        let before = encode_cursor(&("Z".to_string(), 9i64));
        let ks = keyset::<SkuKey>(None, Some(after), Some(5), Some(before)).unwrap();
        assert_eq!(
            ks,
            Keyset {
                after: Some(("A".into(), 1)),
                before: Some(("Z".into(), 9)),
                limit: 5,
                backward: true,
            }
        );
        let (field, _) = bad_input(forward::<SkuKey>(Some(3), Some("garbage".into())));
        assert_eq!(field, "after");
    }

    #[test]
    fn a_page_drops_the_extra_row_and_says_more_follow() {
        let ks = forward::<i64>(Some(2), Some(encode_cursor(&0i64))).unwrap();
        let page = page(vec![1i64, 2, 3], &ks, |r| *r, |r| i32::try_from(r).unwrap());
        assert_eq!(page.nodes(), vec![1, 2]);
        assert!(page.page_info.has_next_page);
        assert!(page.page_info.has_previous_page);
        assert_eq!(page.page_info.start_cursor, Some(encode_cursor(&1i64)));
        assert_eq!(page.page_info.end_cursor, Some(encode_cursor(&2i64)));
    }

    #[test]
    fn a_backward_page_is_read_in_reverse_and_returned_in_order() {
        let ks = keyset::<i64>(None, None, Some(2), None).unwrap();
        // Read newest first, one more than the page.
        let page = page(vec![9i64, 8, 7], &ks, |r| *r, |r| i32::try_from(r).unwrap());
        assert_eq!(page.nodes(), vec![8, 9]);
        assert!(page.page_info.has_previous_page);
        assert!(!page.page_info.has_next_page);
    }
}
