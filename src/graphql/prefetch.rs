//! Look-ahead prefetch: a parent loads its children's relations for its whole page before the
//! children resolve, so each child finds its value in the request's loader cache at once
//! instead of awaiting a load of its own.
//!
//! The loads are the same per-relation loaders (one SQL query per relation and wave); what
//! changes is who waits: one `ensure` in the parent instead of one `load_one` per child
//! (for a page of 50 products with 10 stocks each, one wait instead of 500 for `Stock.store`).
//! Only query documents cache loader values, so only they prefetch. A failed prefetch is
//! ignored: the children then load (and report errors) on their own.

use async_graphql::{Context, InputType, Lookahead, Value};

use crate::{
    db::models::{
        page::Keyset,
        product, stock, store,
        transaction::{self, LedgerOwner, TransactionCursor},
    },
    domain::ledger,
    error::AppResult,
    graphql::{
        loaders,
        loaders::{
            CategoryKey, LedgerPageKey, ProductKey, ProductStocksKey, StoreKey, StoreStocksKey,
        },
        pagination, reads,
        render::View,
        types::{enums::TransactionType, filters::StockFilter},
    },
    with_read,
};

/// `product(sku:)`: the product and, sent along with its lookup (all in one round trip), the
/// stock rows and the ledger page its selection asks for, found by the same SKU inside their
/// statements. They are fed to the request's loaders only when they are that product's rows;
/// an empty answer, or one for another product (the SKU moved between the statements), is
/// dropped, and the children then load on their own. Without a cache (not a query document)
/// only the product is read.
pub async fn product_by_sku(ctx: &Context<'_>, sku: &str) -> AppResult<Option<product::Product>> {
    let loaders = loaders(ctx);
    let reads = reads(ctx);
    let look = ctx.look_ahead();
    let caching = loaders.caching();
    let want_stocks = caching && look.field("stocks").exists();
    let ledger = if caching { ledger_page(&look) } else { None };
    let product = async { with_read!(reads, c => product::by_sku(c, sku).await) };
    let stocks = async {
        if !want_stocks {
            return None;
        }
        with_read!(reads, c => stock::by_product_sku(c, sku).await).ok()
    };
    let page = async {
        let (kind, ks) = ledger.as_ref()?;
        with_read!(reads, c => transaction::page_of_product_sku(c, sku, *kind, ks).await).ok()
    };
    let (product, stocks, page) = futures::join!(product, stocks, page);
    let Some(found) = product? else {
        return Ok(None);
    };
    if let Some(rows) = stocks.filter(|r| only_of(found.id, r.iter().map(|s| s.product_id))) {
        loaders.feed([(ProductStocksKey(found.id), rows)]);
    }
    if let (Some((kind, page)), Some(rows)) = (ledger, page)
        && only_of(found.id, rows.iter().map(|t| t.product_id))
    {
        let key = LedgerPageKey {
            owner: LedgerOwner::Product,
            id: found.id,
            kind,
            page,
        };
        loaders.feed([(key, rows)]);
    }
    Ok(Some(found))
}

/// How `store(id:, code:)` names its store.
#[derive(Debug, Clone, Copy)]
pub enum StoreRef<'a> {
    /// By id.
    Id(i32),
    /// By code.
    Code(&'a str),
}

impl StoreRef<'_> {
    /// The store's stock pages as the model names them.
    fn stores(&self) -> stock::Stores<'_> {
        match self {
            Self::Id(id) => stock::Stores::Ids(std::slice::from_ref(id)),
            Self::Code(code) => stock::Stores::Code(code),
        }
    }
}

/// `store(id:)` or `store(code:)`: the store and, sent along with its lookup (in the round
/// trip of a token check still in flight), the stock page its selection asks for, found by
/// the same id or code inside its statement. The page is fed to the request's loaders only
/// when its rows are that store's, as [`product_by_sku`] does; an empty page is dropped and
/// loads on its own.
pub async fn store_with_page(
    ctx: &Context<'_>,
    which: StoreRef<'_>,
) -> async_graphql::Result<Option<store::Store>> {
    let loaders = loaders(ctx);
    let reads = reads(ctx);
    let wanted = if loaders.caching() {
        stock_page(&ctx.look_ahead())
    } else {
        None
    };
    let found = async {
        let code = match which {
            StoreRef::Id(id) => return loaders.load_one(StoreKey(id)).await,
            StoreRef::Code(code) => code,
        };
        let tables = loaders.loader().reference().await;
        if let Some(kept) = tables.and_then(|t| t.store_by_code(code).cloned()) {
            return Ok(Some(kept));
        }
        Ok(with_read!(reads, c => store::by_code(c, code).await)?)
    };
    let page = async {
        let (filter, page) = wanted.as_ref()?;
        let rows =
            with_read!(reads, c => stock::pages_by_store(c, which.stores(), filter, page).await);
        rows.ok()
    };
    // `found` first: when it waits for the check, the page's statement still goes out now.
    let (found, rows) = futures::join!(found, page);
    let Some(found) = found? else {
        return Ok(None);
    };
    if let (Some((filter, page)), Some(rows)) = (wanted, rows)
        && only_of(found.id, rows.iter().map(|r| r.stock.store_id))
    {
        let key = StoreStocksKey {
            store_id: found.id,
            filter,
            page,
        };
        loaders.feed([(key, rows)]);
    }
    Ok(Some(found))
}

/// Whether there are rows and all are of the parent `id`.
fn only_of(id: i32, mut products: impl Iterator<Item = i32>) -> bool {
    products.next().is_some_and(|first| first == id) && products.all(|p| p == id)
}

/// The ledger page a product's selection asks for (`transactions(first:, after:, type:)`,
/// parsed as the field parses its arguments), when it selects exactly one.
fn ledger_page(
    look: &Lookahead<'_>,
) -> Option<(Option<ledger::TransactionType>, Keyset<TransactionCursor>)> {
    let arg = only_arguments(look, "transactions")?;
    let first = <Option<i32>>::parse(arg("first")).ok()?;
    let after = <Option<String>>::parse(arg("after")).ok()?;
    let kind = <Option<TransactionType>>::parse(arg("type")).ok()?;
    Some((
        kind.map(Into::into),
        pagination::forward(first, after).ok()?,
    ))
}

/// The stock page a store's selection asks for (`stocks(first:, after:, last:, before:,
/// filter:)`, parsed as the field parses its arguments), when it selects exactly one.
fn stock_page(look: &Lookahead<'_>) -> Option<(stock::StockFilter, Keyset<String>)> {
    let arg = only_arguments(look, "stocks")?;
    let first = <Option<i32>>::parse(arg("first")).ok()?;
    let after = <Option<String>>::parse(arg("after")).ok()?;
    let last = <Option<i32>>::parse(arg("last")).ok()?;
    let before = <Option<String>>::parse(arg("before")).ok()?;
    let filter = <Option<StockFilter>>::parse(arg("filter")).ok()?;
    Some((
        StockFilter::parse(filter).ok()?,
        pagination::keyset(first, after, last, before).ok()?,
    ))
}

/// The arguments of `field` in `look`, by name, when it is selected exactly once.
fn only_arguments(look: &Lookahead<'_>, field: &str) -> Option<impl Fn(&str) -> Option<Value>> {
    let fields = look.field(field).selection_fields();
    let [field] = fields.as_slice() else {
        return None;
    };
    let args = field.arguments().ok()?;
    Some(move |name: &str| {
        args.iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, v)| v.clone())
    })
}

/// The selections of a connection's nodes: `edges { node { … } }` and `nodes { … }`.
pub fn connection_nodes<'a>(ctx: &'a Context<'_>) -> Vec<Lookahead<'a>> {
    let look = ctx.look_ahead();
    vec![look.field("edges").field("node"), look.field("nodes")]
}

/// The selections of a list field's items (`Product.stocks { … }`).
pub fn list_items<'a>(ctx: &'a Context<'_>) -> Vec<Lookahead<'a>> {
    vec![ctx.look_ahead()]
}

/// The selections of `field` under any of `selections`, and whether there is one.
fn under<'a>(selections: &[Lookahead<'a>], field: &str) -> Option<Vec<Lookahead<'a>>> {
    let inner: Vec<Lookahead<'a>> = selections.iter().map(|s| s.field(field)).collect();
    inner.iter().any(Lookahead::exists).then_some(inner)
}

/// Loads what the selected fields of these products need: their categories, their stock rows
/// and those rows' stores.
pub async fn products(ctx: &Context<'_>, selections: &[Lookahead<'_>], rows: &[&product::Product]) {
    let loaders = loaders(ctx);
    if !loaders.caching() || rows.is_empty() {
        return;
    }
    let categories = async {
        if under(selections, "category").is_some() {
            let _ = loaders
                .ensure(rows.iter().map(|p| CategoryKey(p.category_id)))
                .await;
        }
    };
    let stocks = async {
        if let Some(stock_selections) = under(selections, "stocks") {
            let products = rows.iter().map(|p| ProductStocksKey(p.id));
            if loaders.ensure(products).await.is_err() {
                return;
            }
            let stores = || {
                cached_keys(ctx, |view| {
                    rows.iter()
                        .filter_map(|p| view.get(&ProductStocksKey(p.id)))
                        .flatten()
                        .map(|s| StoreKey(s.store_id))
                        .collect()
                })
            };
            stores_of(ctx, &stock_selections, stores).await;
        }
    };
    futures::join!(categories, stocks);
}

/// Caches products another statement read along with its rows (a store's stock page reads its
/// rows' products), so that no wave loads them again. Only a query document caches; a product
/// already cached keeps its value, so that a request shows one version of each row.
pub fn products_read_along<'r>(
    ctx: &Context<'_>,
    products: impl Iterator<Item = &'r product::Product>,
) {
    let loaders = loaders(ctx);
    let Some(view) = loaders.cached() else {
        return;
    };
    let fresh: Vec<(ProductKey, product::Product)> = products
        .filter(|p| view.get(&ProductKey(p.id)).is_none())
        .map(|p| (ProductKey(p.id), p.clone()))
        .collect();
    drop(view); // the cache's lock, taken again to feed it
    loaders.feed(fresh);
}

/// Loads what the selected fields of these stock rows need: their stores, their products and
/// those products' categories.
pub async fn stocks(ctx: &Context<'_>, selections: &[Lookahead<'_>], rows: &[&stock::Stock]) {
    let loaders = loaders(ctx);
    if !loaders.caching() || rows.is_empty() {
        return;
    }
    let stores = stores_of(ctx, selections, || {
        rows.iter().map(|s| StoreKey(s.store_id)).collect()
    });
    let products = async {
        if let Some(product_selections) = under(selections, "product") {
            let products = rows.iter().map(|s| ProductKey(s.product_id));
            if loaders.ensure(products).await.is_err() {
                return;
            }
            if under(&product_selections, "category").is_some() {
                let categories = cached_keys(ctx, |view| {
                    rows.iter()
                        .filter_map(|s| view.get(&ProductKey(s.product_id)))
                        .map(|p| CategoryKey(p.category_id))
                        .collect()
                });
                let _ = loaders.ensure(categories).await;
            }
        }
    };
    futures::join!(stores, products);
}

/// The stores of stock rows (`stores` lists their keys), when selected.
async fn stores_of(
    ctx: &Context<'_>,
    selections: &[Lookahead<'_>],
    stores: impl FnOnce() -> Vec<StoreKey>,
) {
    if under(selections, "store").is_some() {
        let _ = loaders(ctx).ensure(stores()).await;
    }
}

/// Keys read from the loaded values in the request's cache (the cache's lock is released
/// before the next load).
fn cached_keys<K>(ctx: &Context<'_>, read: impl FnOnce(&View<'_>) -> Vec<K>) -> Vec<K> {
    loaders(ctx)
        .cached()
        .map(|view| read(&view))
        .unwrap_or_default()
}
