//! Pages rendered in one pass: a list whose rows and relations are already in the request's
//! loader cache becomes its response's JSON text synchronously, without a future, an
//! `IndexMap` merge and a context per field, and without a `Value` per field.
//!
//! async-graphql resolves every field of every object as a boxed future polled through a
//! `FuturesUnordered`; a product page of 50 products with their stock rows and stores is
//! ~1,700 fields, and that per-field machinery was most of the service's CPU per request.
//! The look-ahead prefetch (`prefetch`) has already loaded everything such a page shows, so
//! the list compiles its selection set once into a [`Plan`] (response key → field) and
//! applies it to each row, reading relations from the cache, writing JSON text. The text goes
//! into the response as a `Value::Binary` (the schema has no binary output of its own), which
//! the response writer copies verbatim ([`json_text`]).
//!
//! The fast path is an optimisation, never a second semantics: anything a plan does not know
//! (a field with arguments, a relation not in the cache, the cache off, a directive other
//! than `@skip` and `@include` (which async-graphql applies before execution), one response
//! key for two different fields, a response key the operation selects twice with a selection
//! set of its own, whose values execution would merge) makes the whole list go through
//! async-graphql's own execution, which gives the answer it always gave. The API test
//! `read_render` compares the two on documents of every shape this module knows;
//! `STOCKROOM_RENDER_PAGES=false` turns the fast path off.

use std::{
    borrow::Cow,
    sync::atomic::{AtomicUsize, Ordering},
};

use async_graphql::{
    ContextSelectionSet, Name, OutputType, Positioned, ScalarType, ServerResult, Value,
    parser::types::{Field, Selection, SelectionSet},
    registry::{MetaType, Registry},
    resolver_utils::enum_value,
};

use crate::{
    db::models::{category, product, stock, store, transaction},
    graphql::{
        ids::NodeId,
        loaders::{CategoryKey, DbLoader, Loaders, ProductKey, ProductStocksKey, StoreKey},
        pagination::Edge,
        types::{
            category::Category,
            decimal::Decimal,
            product::Product,
            stock::Stock,
            store::Store,
            transaction::{InventoryTransaction, TransactionType},
        },
        wave::Cached,
    },
    telemetry,
};

/// Whether lists render themselves (`STOCKROOM_RENDER_PAGES`, on by default): schema data.
#[derive(Clone, Copy)]
pub struct RenderPages(pub bool);

/// A list that renders itself from the loader cache when it can (see the module's doc); to
/// the schema it is exactly the list it wraps.
pub struct Rendered<T>(pub T);

impl<T: OutputType + Render> OutputType for Rendered<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn qualified_type_name() -> String {
        T::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let span = telemetry::render_span(&field.node.name.node);
        let on = ctx.data_opt::<RenderPages>().is_some_and(|r| r.0);
        let rendered = span.in_scope(|| on.then(|| self.0.render(ctx)).flatten());
        telemetry::record_render(&span, rendered.is_some());
        match rendered {
            Some(value) => Ok(value),
            None => self.0.resolve(ctx, field).await,
        }
    }
}

/// What can render itself from the request's loader cache.
pub trait Render {
    /// The value for the selection set of `ctx` (JSON text, see [`json_text`]), or `None` to
    /// leave it to async-graphql.
    fn render(&self, ctx: &ContextSelectionSet<'_>) -> Option<Value>;
}

/// The bytes per item of the last list and the last page rendered (of any type): the next
/// one's buffer starts that large, so a page of 50 products with their stock rows (60 kB) is
/// not copied through five doublings of a guess.
static LIST_ITEM_BYTES: ItemBytes = ItemBytes::new(64);
static EDGE_ITEM_BYTES: ItemBytes = ItemBytes::new(96);

/// The most a buffer starts with, whatever the hint (a long list after a page of large
/// items would otherwise reserve their size for each of its own): beyond it, it grows.
const MAX_START_BYTES: usize = 256 * 1024;

/// A size hint learned from the last buffer filled.
struct ItemBytes(AtomicUsize);

impl ItemBytes {
    const fn new(guess: usize) -> Self {
        Self(AtomicUsize::new(guess))
    }

    /// A buffer for `items` items and the list's brackets.
    fn buffer(&self, items: usize) -> Vec<u8> {
        let hint = self.0.load(Ordering::Relaxed).saturating_mul(items);
        Vec::with_capacity(hint.min(MAX_START_BYTES) + 2)
    }

    /// Learns from a filled buffer of `items` items (a little more than it held per item).
    fn learn(&self, out: &[u8], items: usize) {
        if let Some(per_item) = out.len().checked_div(items) {
            self.0.store(per_item + 16, Ordering::Relaxed);
        }
    }
}

impl<S: Shape> Render for Vec<S> {
    fn render(&self, ctx: &ContextSelectionSet<'_>) -> Option<Value> {
        let plan = plan::<S>(ctx, &ctx.item.node)?;
        let view = view(ctx)?;
        let mut out = LIST_ITEM_BYTES.buffer(self.len());
        list(&mut out, self, |out, item| {
            object::<S>(out, &view, &plan, item.row())
        })?;
        LIST_ITEM_BYTES.learn(&out, self.len());
        Some(Value::Binary(out.into()))
    }
}

impl<S: Shape> Render for &[Edge<S>]
where
    Edge<S>: OutputType,
{
    fn render(&self, ctx: &ContextSelectionSet<'_>) -> Option<Value> {
        let plan = edge_plan::<S>(ctx, &ctx.item.node)?;
        let view = view(ctx)?;
        let edge_type = <Edge<S>>::type_name();
        let mut out = EDGE_ITEM_BYTES.buffer(self.len());
        list(&mut out, *self, |out, edge| {
            fill(out, &plan, &edge_type, |out, field| match field {
                EdgeField::Cursor => {
                    text(out, &edge.cursor);
                    Some(())
                }
                EdgeField::Node(node) => object::<S>(out, &view, node, edge.node.row()),
            })
        })?;
        EDGE_ITEM_BYTES.learn(&out, self.len());
        Some(Value::Binary(out.into()))
    }
}

/// The JSON text of a rendered value: every `Value::Binary` in a response is one, since no
/// field of the schema outputs binary data.
pub fn json_text(value: &Value) -> Option<&[u8]> {
    match value {
        Value::Binary(text) => Some(text),
        _ => None,
    }
}

/// The request's cached loader values, when the operation's values are never merged (see
/// [`merges`]).
fn view<'a>(ctx: &ContextSelectionSet<'a>) -> Option<View<'a>> {
    let env = &ctx.query_env;
    if merges(ctx, &env.operation.node.selection_set.node, 0)
        || env
            .fragments
            .values()
            .any(|f| merges(ctx, &f.node.selection_set.node, 0))
    {
        return None;
    }
    ctx.data_opt::<Loaders>()?.cached()
}

/// Whether some selection set of the document selects one response key twice with a selection
/// set of its own (through its fragments, whatever their type conditions): execution resolves
/// each and merges their values, which it cannot do with JSON text. `depth` bounds the walk
/// through fragment spreads (validation has refused cycles; this is a second fence).
fn merges(ctx: &ContextSelectionSet<'_>, set: &SelectionSet, depth: usize) -> bool {
    let mut keys: Vec<&Name> = Vec::new();
    if depth > 32 || !objects_once(ctx, set, &mut keys, depth) {
        return true;
    }
    set.items.iter().any(|selection| match &selection.node {
        Selection::Field(field) => merges(ctx, &field.node.selection_set.node, depth + 1),
        Selection::InlineFragment(f) => merges(ctx, &f.node.selection_set.node, depth + 1),
        Selection::FragmentSpread(_) => false, // walked as a fragment of its own
    })
}

/// Collects the response keys of the fields with a selection set that `set` selects (through
/// its fragments) into `keys`; `false` when one comes twice.
fn objects_once<'d>(
    ctx: &ContextSelectionSet<'d>,
    set: &'d SelectionSet,
    keys: &mut Vec<&'d Name>,
    depth: usize,
) -> bool {
    set.items.iter().all(|selection| match &selection.node {
        Selection::Field(field) => {
            if field.node.selection_set.node.items.is_empty() {
                return true;
            }
            let key = &field.node.response_key().node;
            if keys.contains(&key) {
                return false;
            }
            keys.push(key);
            true
        }
        Selection::InlineFragment(f) => objects_once(ctx, &f.node.selection_set.node, keys, depth),
        Selection::FragmentSpread(spread) => {
            depth < 32
                && ctx
                    .query_env
                    .fragments
                    .get(&spread.node.fragment_name.node)
                    .is_some_and(|f| objects_once(ctx, &f.node.selection_set.node, keys, depth + 1))
        }
    })
}

/// The request's cached loader values.
pub type View<'a> = Cached<'a, DbLoader>;

/// An object's selected fields in response order: each response key (as JSON text followed
/// by `:`) and what it shows.
pub type Plan<F> = Vec<(Box<[u8]>, Slot<F>)>;

/// One selected field of an object.
pub enum Slot<F> {
    /// `__typename`.
    Typename,
    /// A field of the type.
    Field(F),
}

/// An object type this module renders: its row and its fields.
pub trait Shape: OutputType + Sized {
    /// The row the wire type holds.
    type Row;
    /// The fields a plan can show.
    type Field;
    /// The row of a wire value.
    fn row(&self) -> &Self::Row;
    /// What a selected field shows; `None` when this module does not render it.
    fn field(ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<Self::Field>;
    /// Writes a field's value for a row; `None` when a relation is not in the cache.
    fn write(
        out: &mut Vec<u8>,
        view: &View<'_>,
        field: &Self::Field,
        row: &Self::Row,
    ) -> Option<()>;
}

/// The fields of an edge.
pub enum EdgeField<F> {
    /// `cursor`.
    Cursor,
    /// `node { … }`.
    Node(Plan<F>),
}

/// The plan of an edge of `S` for a selection set.
fn edge_plan<S: Shape>(
    ctx: &ContextSelectionSet<'_>,
    set: &SelectionSet,
) -> Option<Plan<EdgeField<S::Field>>>
where
    Edge<S>: OutputType,
{
    compile(
        ctx,
        set,
        &<Edge<S>>::type_name(),
        &|ctx, field| match field.node.name.node.as_str() {
            "cursor" => Some(EdgeField::Cursor),
            "node" => Some(EdgeField::Node(plan::<S>(
                ctx,
                &field.node.selection_set.node,
            )?)),
            _ => None,
        },
    )
}

/// The plan of an object of `S` for a selection set.
fn plan<S: Shape>(ctx: &ContextSelectionSet<'_>, set: &SelectionSet) -> Option<Plan<S::Field>> {
    compile(ctx, set, &S::type_name(), &S::field)
}

/// Compiles a selection set on `type_name` into a plan; `None` when some part of it is not
/// rendered here.
fn compile<F>(
    ctx: &ContextSelectionSet<'_>,
    set: &SelectionSet,
    type_name: &str,
    field_of: &dyn Fn(&ContextSelectionSet<'_>, &Positioned<Field>) -> Option<F>,
) -> Option<Plan<F>> {
    let mut plan = Vec::new();
    // Per response key: the field's name and whether it is a leaf (a repeated leaf is the
    // same value; a repeated object would need merging, left to async-graphql).
    let mut seen: Vec<(Name, Name, bool)> = Vec::new();
    each_field(ctx, set, type_name, &mut |field| {
        let key = field.node.response_key().node.clone();
        let leaf = field.node.selection_set.node.items.is_empty();
        if let Some((_, name, was_leaf)) = seen.iter().find(|(k, _, _)| *k == key) {
            return (leaf && *was_leaf && *name == field.node.name.node).then_some(());
        }
        seen.push((key.clone(), field.node.name.node.clone(), leaf));
        let slot = if field.node.name.node == "__typename" {
            Slot::Typename
        } else if field.node.arguments.is_empty() {
            Slot::Field(field_of(ctx, field)?)
        } else {
            return None;
        };
        let mut json = serde_json::to_vec(key.as_str()).ok()?;
        json.push(b':');
        plan.push((json.into(), slot));
        Some(())
    })?;
    (!plan.is_empty()).then_some(plan)
}

/// Calls `visit` on each field a selection set selects on `type_name`, through the fragments
/// that apply to it; `None` when a directive or a fragment is not one this module follows.
fn each_field(
    ctx: &ContextSelectionSet<'_>,
    set: &SelectionSet,
    type_name: &str,
    visit: &mut dyn FnMut(&Positioned<Field>) -> Option<()>,
) -> Option<()> {
    for selection in &set.items {
        let plain = selection
            .node
            .directives()
            .iter()
            .all(|d| matches!(d.node.name.node.as_str(), "skip" | "include"));
        if !plain {
            return None;
        }
        let (condition, inner) = match &selection.node {
            Selection::Field(field) => {
                visit(field)?;
                continue;
            }
            Selection::FragmentSpread(spread) => {
                let fragment = ctx
                    .query_env
                    .fragments
                    .get(&spread.node.fragment_name.node)?;
                (
                    Some(fragment.node.type_condition.node.on.node.as_str()),
                    &fragment.node.selection_set.node,
                )
            }
            Selection::InlineFragment(fragment) => (
                fragment
                    .node
                    .type_condition
                    .as_ref()
                    .map(|c| c.node.on.node.as_str()),
                &fragment.node.selection_set.node,
            ),
        };
        if applies(&ctx.schema_env.registry, type_name, condition)? {
            each_field(ctx, inner, type_name, visit)?;
        }
    }
    Some(())
}

/// Whether a fragment's type condition applies to an object of `type_name`: yes for none,
/// the type itself or an interface it implements, no for another object type, and `None`
/// (not followed here) for anything else.
fn applies(registry: &Registry, type_name: &str, condition: Option<&str>) -> Option<bool> {
    let Some(condition) = condition else {
        return Some(true);
    };
    if condition == type_name
        || registry
            .implements
            .get(type_name)
            .is_some_and(|interfaces| interfaces.contains(condition))
    {
        return Some(true);
    }
    matches!(registry.types.get(condition), Some(MetaType::Object { .. })).then_some(false)
}

/// Writes an object: its plan applied to one row.
fn object<S: Shape>(
    out: &mut Vec<u8>,
    view: &View<'_>,
    plan: &Plan<S::Field>,
    row: &S::Row,
) -> Option<()> {
    fill(out, plan, &S::type_name(), |out, field| {
        S::write(out, view, field, row)
    })
}

/// Writes the object of a plan, each field's value by `write`.
fn fill<F>(
    out: &mut Vec<u8>,
    plan: &Plan<F>,
    type_name: &str,
    mut write: impl FnMut(&mut Vec<u8>, &F) -> Option<()>,
) -> Option<()> {
    out.push(b'{');
    for (i, (key, slot)) in plan.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(key);
        match slot {
            Slot::Typename => text(out, type_name),
            Slot::Field(field) => write(out, field)?,
        }
    }
    out.push(b'}');
    Some(())
}

/// Writes a list, each item by `write`.
fn list<T>(
    out: &mut Vec<u8>,
    items: impl IntoIterator<Item = T>,
    mut write: impl FnMut(&mut Vec<u8>, T) -> Option<()>,
) -> Option<()> {
    out.push(b'[');
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(out, item)?;
    }
    out.push(b']');
    Some(())
}

/// Writes the list of objects of the rows a relation holds.
fn objects<'r, S: Shape + 'r>(
    out: &mut Vec<u8>,
    view: &View<'_>,
    plan: &Plan<S::Field>,
    rows: impl IntoIterator<Item = &'r S::Row>,
) -> Option<()> {
    list(out, rows, |out, row| object::<S>(out, view, plan, row))
}

/// Writes a string.
fn text(out: &mut Vec<u8>, s: &str) {
    // Writing to a `Vec` cannot fail, and a `str` always serialises.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Writes a string or `null`.
fn optional_text(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => text(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Writes a global ID.
fn id(out: &mut Vec<u8>, id: NodeId) {
    text(out, &id.encode().0);
}

/// Writes a number.
fn int(out: &mut Vec<u8>, n: i32) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Writes a boolean.
fn boolean(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// Writes a scalar's or an enum's value.
fn scalar(out: &mut Vec<u8>, value: &Value) {
    // Scalars and enums are strings, numbers or booleans: they always serialise.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// The fields of `Product` rendered here.
pub enum ProductField {
    /// `id`.
    Id,
    /// `sku`.
    Sku,
    /// `name`.
    Name,
    /// `description`.
    Description,
    /// `price`.
    Price,
    /// `archived`.
    Archived,
    /// `createdAt`.
    CreatedAt,
    /// `updatedAt`.
    UpdatedAt,
    /// `category { … }`.
    Category(Plan<CategoryField>),
    /// `stocks { … }`.
    Stocks(Box<Plan<StockField>>),
}

impl Shape for Product {
    type Row = product::Product;
    type Field = ProductField;

    fn row(&self) -> &Self::Row {
        &self.0
    }

    fn field(ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<ProductField> {
        let set = &field.node.selection_set.node;
        Some(match field.node.name.node.as_str() {
            "id" => ProductField::Id,
            "sku" => ProductField::Sku,
            "name" => ProductField::Name,
            "description" => ProductField::Description,
            "price" => ProductField::Price,
            "archived" => ProductField::Archived,
            "createdAt" => ProductField::CreatedAt,
            "updatedAt" => ProductField::UpdatedAt,
            "category" => ProductField::Category(plan::<Category>(ctx, set)?),
            "stocks" => ProductField::Stocks(Box::new(plan::<Stock>(ctx, set)?)),
            _ => return None,
        })
    }

    fn write(
        out: &mut Vec<u8>,
        view: &View<'_>,
        field: &ProductField,
        p: &product::Product,
    ) -> Option<()> {
        match field {
            ProductField::Id => id(out, NodeId::Product(p.id)),
            ProductField::Sku => text(out, &p.sku),
            ProductField::Name => text(out, &p.name),
            ProductField::Description => text(out, &p.description),
            ProductField::Price => scalar(out, &Decimal(p.price.clone()).to_value()),
            ProductField::Archived => boolean(out, p.archived),
            ProductField::CreatedAt => scalar(out, &p.created_at.at().to_value()),
            ProductField::UpdatedAt => scalar(out, &p.updated_at.at().to_value()),
            ProductField::Category(plan) => {
                return object::<Category>(out, view, plan, view.get(&CategoryKey(p.category_id))?);
            }
            ProductField::Stocks(plan) => {
                return objects::<Stock>(out, view, plan, view.get(&ProductStocksKey(p.id))?);
            }
        }
        Some(())
    }
}

/// The fields of `Stock` rendered here.
pub enum StockField {
    /// `id`.
    Id,
    /// `quantity`.
    Quantity,
    /// `reorderPoint`.
    ReorderPoint,
    /// `lowStock`.
    LowStock,
    /// `updatedAt`.
    UpdatedAt,
    /// `store { … }`.
    Store(Plan<StoreField>),
    /// `product { … }`.
    Product(Box<Plan<ProductField>>),
}

impl Shape for Stock {
    type Row = stock::Stock;
    type Field = StockField;

    fn row(&self) -> &Self::Row {
        &self.0
    }

    fn field(ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<StockField> {
        let set = &field.node.selection_set.node;
        Some(match field.node.name.node.as_str() {
            "id" => StockField::Id,
            "quantity" => StockField::Quantity,
            "reorderPoint" => StockField::ReorderPoint,
            "lowStock" => StockField::LowStock,
            "updatedAt" => StockField::UpdatedAt,
            "store" => StockField::Store(plan::<Store>(ctx, set)?),
            "product" => StockField::Product(Box::new(plan::<Product>(ctx, set)?)),
            _ => return None,
        })
    }

    fn write(
        out: &mut Vec<u8>,
        view: &View<'_>,
        field: &StockField,
        s: &stock::Stock,
    ) -> Option<()> {
        match field {
            StockField::Id => id(out, NodeId::Stock(s.product_id, s.store_id)),
            StockField::Quantity => int(out, s.quantity),
            StockField::ReorderPoint => int(out, s.reorder_point),
            StockField::LowStock => boolean(out, s.is_low()),
            StockField::UpdatedAt => scalar(out, &s.updated_at.at().to_value()),
            StockField::Store(plan) => {
                return object::<Store>(out, view, plan, view.get(&StoreKey(s.store_id))?);
            }
            StockField::Product(plan) => {
                return object::<Product>(out, view, plan, view.get(&ProductKey(s.product_id))?);
            }
        }
        Some(())
    }
}

/// The fields of `Store` rendered here.
pub enum StoreField {
    /// `id`.
    Id,
    /// `code`.
    Code,
    /// `name`.
    Name,
}

impl Shape for Store {
    type Row = store::Store;
    type Field = StoreField;

    fn row(&self) -> &Self::Row {
        &self.0
    }

    fn field(_: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<StoreField> {
        Some(match field.node.name.node.as_str() {
            "id" => StoreField::Id,
            "code" => StoreField::Code,
            "name" => StoreField::Name,
            _ => return None,
        })
    }

    fn write(out: &mut Vec<u8>, _: &View<'_>, field: &StoreField, s: &store::Store) -> Option<()> {
        match field {
            StoreField::Id => id(out, NodeId::Store(s.id)),
            StoreField::Code => text(out, &s.code),
            StoreField::Name => text(out, &s.name),
        }
        Some(())
    }
}

/// The fields of `Category` rendered here.
pub enum CategoryField {
    /// `id`.
    Id,
    /// `name`.
    Name,
}

impl Shape for Category {
    type Row = category::Category;
    type Field = CategoryField;

    fn row(&self) -> &Self::Row {
        &self.0
    }

    fn field(_: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<CategoryField> {
        Some(match field.node.name.node.as_str() {
            "id" => CategoryField::Id,
            "name" => CategoryField::Name,
            _ => return None,
        })
    }

    fn write(
        out: &mut Vec<u8>,
        _: &View<'_>,
        field: &CategoryField,
        c: &category::Category,
    ) -> Option<()> {
        match field {
            CategoryField::Id => id(out, NodeId::Category(c.id)),
            CategoryField::Name => text(out, &c.name),
        }
        Some(())
    }
}

/// The fields of `InventoryTransaction` rendered here.
pub enum TransactionField {
    /// `id`.
    Id,
    /// `type`.
    Type,
    /// `quantity`.
    Quantity,
    /// `quantityAfter`.
    QuantityAfter,
    /// `note`.
    Note,
    /// `reference`.
    Reference,
    /// `createdAt`.
    CreatedAt,
    /// `product { … }`.
    Product(Box<Plan<ProductField>>),
    /// `store { … }`.
    Store(Plan<StoreField>),
}

impl Shape for InventoryTransaction {
    type Row = transaction::InventoryTransaction;
    type Field = TransactionField;

    fn row(&self) -> &Self::Row {
        &self.0
    }

    fn field(ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> Option<TransactionField> {
        let set = &field.node.selection_set.node;
        Some(match field.node.name.node.as_str() {
            "id" => TransactionField::Id,
            "type" => TransactionField::Type,
            "quantity" => TransactionField::Quantity,
            "quantityAfter" => TransactionField::QuantityAfter,
            "note" => TransactionField::Note,
            "reference" => TransactionField::Reference,
            "createdAt" => TransactionField::CreatedAt,
            "product" => TransactionField::Product(Box::new(plan::<Product>(ctx, set)?)),
            "store" => TransactionField::Store(plan::<Store>(ctx, set)?),
            _ => return None,
        })
    }

    fn write(
        out: &mut Vec<u8>,
        view: &View<'_>,
        field: &TransactionField,
        t: &transaction::InventoryTransaction,
    ) -> Option<()> {
        match field {
            TransactionField::Id => id(out, NodeId::InventoryTransaction(t.id)),
            TransactionField::Type => scalar(out, &enum_value(TransactionType::from(t.kind))),
            TransactionField::Quantity => int(out, t.quantity),
            TransactionField::QuantityAfter => int(out, t.quantity_after),
            TransactionField::Note => optional_text(out, t.note.as_deref()),
            TransactionField::Reference => optional_text(out, t.reference.as_deref()),
            TransactionField::CreatedAt => scalar(out, &t.created_at.to_value()),
            TransactionField::Product(plan) => {
                return object::<Product>(out, view, plan, view.get(&ProductKey(t.product_id))?);
            }
            TransactionField::Store(plan) => {
                return object::<Store>(out, view, plan, view.get(&StoreKey(t.store_id))?);
            }
        }
        Some(())
    }
}
