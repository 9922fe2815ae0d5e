//! The reference tables (stores, categories) kept in memory, exact for every request that
//! uses them.
//!
//! Almost every read names a store or a category; they are few and rarely change. A
//! statement-level trigger on each table bumps `reference_version.version` in the writing
//! transaction (migration `2026-12-02-000001_reference_version`; a bulk import bumps it
//! itself). The token check, a request's first statement, also reads that version; only
//! when it differs from the version of the process's copy does it read the tables (one more
//! statement, which reads the version again with them, so the copy is labelled with the
//! version of its own snapshot): see [`token::user_for_token`]. A request then uses the copy
//! only when its version is the one its own token check read, so it never sees a row older
//! than the last commit it could have seen from the database — whatever instance or
//! tool wrote it, with no notification to wait for or to lose.
//!
//! [`token::user_for_token`]: crate::db::models::token::user_for_token

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use diesel::{OptionalExtension, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::{
    db::models::{category::Category, page::SqlBuilder, store::Store},
    error::{AppError, AppResult},
    fast_map::FastMap,
};

/// The most rows (stores and categories together) kept in memory; beyond it every request
/// reads them from the database, as without a copy.
pub const MAX_ROWS: i64 = 20_000;

/// The reference tables and their version, read in one statement (so one snapshot):
/// `tables` is `''` when they hold more than [`MAX_ROWS`] rows, else both tables as JSON.
#[derive(QueryableByName)]
pub struct Shipment {
    /// `reference_version.version` in the statement's snapshot.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub version: i64,
    /// The tables at that version (`''`: too large to keep).
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub tables: String,
}

/// Reads the tables with their version (what a token check does when the version it read is
/// not the copy's; `None` if the version row is gone).
pub async fn ship(mut conn: &AsyncPgConnection) -> AppResult<Option<Shipment>> {
    let sql = SqlBuilder::new(&format!(
        "SELECT r.version, CASE \
         WHEN (SELECT count(*) FROM stores) + (SELECT count(*) FROM categories) > {MAX_ROWS} \
         THEN '' ELSE json_build_object(\
         'stores', (SELECT coalesce(json_agg(s), '[]') FROM stores s), \
         'categories', (SELECT coalesce(json_agg(c), '[]') FROM categories c))::text \
         END AS tables FROM reference_version r"
    ));
    Ok(sql.build().get_result(&mut conn).await.optional()?)
}

/// What a bulk load that disabled the tables' triggers runs before it commits.
pub const BUMP_SQL: &str = "UPDATE reference_version SET version = version + 1";

/// The stores and categories as of one version (the [`ReferenceCache`] entry holding them
/// knows which).
#[derive(Debug, Default)]
pub struct Tables {
    /// The stores in code order (`COLLATE "C"`: byte order, as Rust compares strings); codes
    /// are unique, so a code is found by binary search.
    stores: Vec<Store>,
    /// Each store's place in `stores`, by id (its rank in code order).
    store_at: Ids<usize>,
    categories: Ids<Category>,
    /// Category ids under each parent (`None`: the roots), by name then id.
    children: HashMap<Option<i32>, Vec<i32>>,
}

/// A map by database id (a fast hash: the keys are the database's, not a client's).
type Ids<V> = FastMap<i32, V>;

/// The tables as the token check ships them.
#[derive(serde::Deserialize)]
struct Shipped {
    stores: Vec<Store>,
    categories: Vec<Category>,
}

impl Tables {
    /// The tables of `json` (a [`Shipment`]'s `tables`).
    fn parse(json: &str) -> AppResult<Self> {
        let mut shipped: Shipped = serde_json::from_str(json).map_err(AppError::internal)?;
        shipped.stores.sort_by(|a, b| a.code.cmp(&b.code));
        shipped
            .categories
            .sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        let mut children: HashMap<Option<i32>, Vec<i32>> = HashMap::new();
        for c in &shipped.categories {
            children.entry(c.parent_id).or_default().push(c.id);
        }
        Ok(Self {
            store_at: (0..)
                .zip(&shipped.stores)
                .map(|(at, s)| (s.id, at))
                .collect(),
            stores: shipped.stores,
            categories: shipped.categories.into_iter().map(|c| (c.id, c)).collect(),
            children,
        })
    }

    /// Tables of stores with these ids and codes only (for tests).
    #[cfg(test)]
    pub fn of_stores(stores: &[(i32, &str)]) -> Self {
        let stores = stores.iter().map(|(id, code)| {
            format!(
                r#"{{"id": {id}, "code": "{code}", "name": "{code}",
                "created_at": "2026-12-01T00:00:00Z", "updated_at": "2026-12-01T00:00:00Z"}}"#
            )
        });
        let json = format!(
            r#"{{"stores": [{}], "categories": []}}"#,
            stores.collect::<Vec<_>>().join(",")
        );
        Self::parse(&json).expect("tables")
    }

    /// The store with this id.
    pub fn store(&self, id: i32) -> Option<&Store> {
        self.stores.get(self.store_rank(id)?)
    }

    /// The place of the store with this id in code order (0 for the first code).
    pub fn store_rank(&self, id: i32) -> Option<usize> {
        self.store_at.get(&id).copied()
    }

    /// The store with this code.
    pub fn store_by_code(&self, code: &str) -> Option<&Store> {
        let at = self
            .stores
            .binary_search_by(|s| s.code.as_str().cmp(code))
            .ok()?;
        self.stores.get(at)
    }

    /// The category with this id.
    pub fn category(&self, id: i32) -> Option<&Category> {
        self.categories.get(&id)
    }

    /// At most `limit` stores in code order, those after the code `after`: what
    /// [`store::page_by_code`](crate::db::models::store::page_by_code) reads.
    pub fn stores_page(&self, after: Option<&str>, limit: i64) -> Vec<Store> {
        let start = after.map_or(0, |after| {
            self.stores.partition_point(|s| s.code.as_str() <= after)
        });
        self.stores[start..]
            .iter()
            .take(usize::try_from(limit).unwrap_or(0))
            .cloned()
            .collect()
    }

    /// The categories under `parent` (the roots for `None`) by name, then id: what
    /// [`category::roots`](crate::db::models::category::roots) and
    /// [`category::children_of`](crate::db::models::category::children_of) read.
    pub fn children(&self, parent: Option<i32>) -> Vec<Category> {
        self.children.get(&parent).map_or_else(Vec::new, |ids| {
            ids.iter()
                .filter_map(|id| self.categories.get(id).cloned())
                .collect()
        })
    }
}

/// The process's copy: the version last read and, unless they were too large, the tables.
#[derive(Default)]
pub struct ReferenceCache {
    current: RwLock<Option<Kept>>,
}

/// One version of the copy.
#[derive(Clone)]
struct Kept {
    version: i64,
    /// `None`: more than [`MAX_ROWS`] rows, not kept.
    tables: Option<Arc<Tables>>,
}

impl ReferenceCache {
    /// The version of the copy, for the token check to compare (0, which no database has,
    /// when there is no copy yet).
    pub fn known_version(&self) -> i64 {
        self.read().as_ref().map_or(0, |k| k.version)
    }

    /// Takes what a token check read (`version`, and the tables it shipped because that
    /// differed from [`ReferenceCache::known_version`]) and answers the tables as of exactly
    /// `version`, for the request to use, if there are any. Shipped tables are kept at their
    /// own version, which may be newer than `version` (a change committed between the check
    /// and the shipment): the request then has none.
    pub fn settle(
        &self,
        version: i64,
        shipped: Option<&Shipment>,
    ) -> AppResult<Option<Arc<Tables>>> {
        let Some(shipped) = shipped else {
            let kept = self.read().clone();
            return Ok(kept.filter(|k| k.version == version).and_then(|k| k.tables));
        };
        let fresh = match shipped.tables.as_str() {
            "" => None,
            json => Some(Arc::new(Tables::parse(json)?)),
        };
        // Whatever the database answered last is what the next token check compares with (an
        // answer overtaken by a newer one only costs the next request one more shipment).
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Kept {
            version: shipped.version,
            tables: fresh.clone(),
        });
        Ok(fresh.filter(|_| shipped.version == version))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<Kept>> {
        self.current.read().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SHIPPED: &str = r#"{"stores": [{"id": 1, "code": "S1", "name": "One",
        "created_at": "2026-12-01T22:13:14.123456+00:00",
        "updated_at": "2026-12-01T22:13:14.123456+00:00"}],
        "categories": [{"id": 7, "parent_id": null, "name": "Tools",
        "created_at": "2026-12-01T22:13:14+00:00", "updated_at": "2026-12-01T22:13:14+00:00"}]}"#;

    fn shipment(version: i64, tables: &str) -> Shipment {
        Shipment {
            version,
            tables: tables.to_string(),
        }
    }

    #[test]
    fn the_copy_serves_a_request_only_at_the_version_its_token_check_read() {
        let cache = ReferenceCache::default();
        assert_eq!(cache.known_version(), 0);
        let tables = cache
            .settle(5, Some(&shipment(5, SHIPPED)))
            .unwrap()
            .unwrap();
        assert_eq!(tables.store_by_code("S1").unwrap().name, "One");
        assert_eq!(tables.category(7).unwrap().name, "Tools");
        assert_eq!(cache.known_version(), 5);
        // Unchanged: the copy.
        assert!(cache.settle(5, None).unwrap().is_some());
        // A token check that read another version without the tables (it compared with a
        // copy another request replaced meanwhile) gets nothing from memory.
        assert!(cache.settle(6, None).unwrap().is_none());
        assert!(cache.settle(4, None).unwrap().is_none());
    }

    #[test]
    fn tables_shipped_newer_than_the_check_are_kept_but_not_served_to_it() {
        let cache = ReferenceCache::default();
        assert!(
            cache
                .settle(5, Some(&shipment(6, SHIPPED)))
                .unwrap()
                .is_none()
        );
        assert_eq!(cache.known_version(), 6);
        assert!(cache.settle(6, None).unwrap().is_some());
    }

    #[test]
    fn tables_too_large_to_keep_are_remembered_as_such() {
        let cache = ReferenceCache::default();
        cache.settle(5, Some(&shipment(5, SHIPPED))).unwrap();
        assert!(cache.settle(9, Some(&shipment(9, ""))).unwrap().is_none());
        assert_eq!(cache.known_version(), 9);
        assert!(cache.settle(9, None).unwrap().is_none());
    }

    #[test]
    fn a_page_of_stores_starts_after_its_cursor_in_byte_order_and_a_code_finds_its_store() {
        let tables = Tables::of_stores(&[(1, "Z1"), (2, "S2"), (9, "A9"), (8, "a8")]);
        let codes = |after, limit| {
            tables
                .stores_page(after, limit)
                .into_iter()
                .map(|s| s.code)
                .collect::<Vec<_>>()
        };
        assert_eq!(codes(None, 10), ["A9", "S2", "Z1", "a8"]);
        assert_eq!(codes(None, 2), ["A9", "S2"]);
        assert_eq!(codes(Some("S2"), 2), ["Z1", "a8"]);
        assert_eq!(codes(Some("B"), 1), ["S2"]);
        assert_eq!(codes(Some("a8"), 5), Vec::<String>::new());
        assert_eq!(codes(None, 0), Vec::<String>::new());
        // The same order finds a store by its code.
        for (id, code) in [(9, "A9"), (2, "S2"), (1, "Z1"), (8, "a8")] {
            assert_eq!(tables.store_by_code(code).map(|s| s.id), Some(id));
        }
        assert!(tables.store_by_code("B").is_none());
        assert!(tables.store_by_code("z").is_none());
    }
}
