//! The query limits, checked on the parsed document before anything runs: depth, complexity,
//! aliases, root fields and directives; plus the facts the access rule needs (each
//! operation's type, and whether it asks only for introspection).
//!
//! Complexity estimates the number of fields of the result. Walking down the document, it
//! keeps how many objects each selection set applies to: a field counts once per object
//! (`totalCount` and a `search` count more: they make the database count or scan), and a list
//! multiplies the objects below it by its size. The size of a connection's page is its
//! `first`/`last` (default 20, at most 100); of `nodes(ids:)` the number of ids; of a list
//! without a page size the data's own fan-out ([`Fanout`]: root categories, the most children
//! of one category, stores) or, for introspection, the schema's (types, the most fields of a
//! type, …). Where the objects are known to be distinct (the categories of one level of the
//! tree, the types of the schema) a list is also capped by how many rows there are in all, so
//! a category tree five levels deep weighs what the whole tree holds, while a walk that
//! repeats objects (`children { parent { children … } } }`) multiplies without a cap.

use std::collections::HashMap;

use async_graphql::{
    Value, Variables,
    parser::types::{
        BaseType, DocumentOperations, ExecutableDocument, Field, OperationType, Selection,
        SelectionSet, TypeKind, TypeSystemDefinition,
    },
};

use crate::{
    config::{DEFAULT_PAGE_SIZE, Limits, MAX_PAGE_SIZE},
    error::AppError,
    graphql::fanout::{Fanout, Snapshot},
};

/// What the limits need to know about one field of the schema.
#[derive(Debug, Clone)]
struct FieldShape {
    /// The named type the field returns (lists unwrapped).
    type_name: String,
    /// Whether it returns a list.
    list: bool,
    /// Whether it takes `first`/`last` (a connection).
    paged: bool,
}

/// How long a list without a page size is: at most `per_parent` items per object, and at
/// most `total` items under a set of distinct objects (`None`: no such bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ListSize {
    per_parent: u64,
    total: Option<u64>,
    /// Whether distinct parents have distinct items (each item has one parent: a category's
    /// children, a type's fields), so the items may be capped again one level down.
    partitions: bool,
}

impl ListSize {
    fn of(per_parent: u64, total: u64, partitions: bool) -> Self {
        Self {
            per_parent,
            total: Some(total),
            partitions,
        }
    }
}

/// Room for what introspection lists beyond the SDL and [`INTROSPECTION_SDL`]: the built-in
/// scalars and directives, and what a newer async-graphql may add.
const INTROSPECTION_EXTRA: u64 = 16;

/// The introspection types, which the schema's SDL leaves out, so the walk knows their lists.
const INTROSPECTION_SDL: &str = "
type __Schema { description: String types: [__Type!]! queryType: __Type! mutationType: __Type
  subscriptionType: __Type directives: [__Directive!]! }
type __Type { kind: __TypeKind! name: String description: String specifiedByURL: String
  fields(includeDeprecated: Boolean = false): [__Field!] interfaces: [__Type!]
  possibleTypes: [__Type!] enumValues(includeDeprecated: Boolean = false): [__EnumValue!]
  inputFields(includeDeprecated: Boolean = false): [__InputValue!] ofType: __Type
  isOneOf: Boolean }
type __Field { name: String! description: String
  args(includeDeprecated: Boolean = false): [__InputValue!]! type: __Type!
  isDeprecated: Boolean! deprecationReason: String }
type __InputValue { name: String! description: String type: __Type! defaultValue: String
  isDeprecated: Boolean! deprecationReason: String }
type __EnumValue { name: String! description: String isDeprecated: Boolean!
  deprecationReason: String }
type __Directive { name: String! description: String locations: [__DirectiveLocation!]!
  args(includeDeprecated: Boolean = false): [__InputValue!]! isRepeatable: Boolean! }
enum __TypeKind { SCALAR OBJECT INTERFACE UNION ENUM INPUT_OBJECT LIST NON_NULL }
enum __DirectiveLocation { QUERY MUTATION SUBSCRIPTION FIELD FRAGMENT_DEFINITION
  FRAGMENT_SPREAD INLINE_FRAGMENT VARIABLE_DEFINITION SCHEMA SCALAR OBJECT FIELD_DEFINITION
  ARGUMENT_DEFINITION INTERFACE UNION ENUM ENUM_VALUE INPUT_OBJECT INPUT_FIELD_DEFINITION }
";

/// The sizes of the introspection lists, counted in the SDL.
#[derive(Debug, Clone, Default)]
struct SchemaCounts {
    types: u64,
    fields: (u64, u64),
    args: (u64, u64),
    input_fields: (u64, u64),
    enum_values: (u64, u64),
    interfaces: (u64, u64),
    possible_types: (u64, u64),
    directives: u64,
    directive_args: (u64, u64),
}

/// Adds one parent's count to a (most per parent, total) pair.
fn tally(pair: &mut (u64, u64), n: usize) {
    let n = u64::try_from(n).unwrap_or(u64::MAX);
    pair.0 = pair.0.max(n);
    pair.1 = pair.1.saturating_add(n);
}

impl SchemaCounts {
    fn list(&self, ty: &str, field: &str) -> Option<ListSize> {
        let x = INTROSPECTION_EXTRA;
        let pair = |p: (u64, u64), partitions: bool| {
            ListSize::of(p.0.max(x), p.1.saturating_add(x), partitions)
        };
        Some(match (ty, field) {
            ("__Schema", "types") => ListSize::of(self.types + x, self.types + x, true),
            ("__Schema", "directives") => {
                ListSize::of(self.directives + x, self.directives + x, true)
            }
            ("__Type", "fields") => pair(self.fields, true),
            ("__Type", "inputFields") => pair(self.input_fields, true),
            ("__Type", "enumValues") => pair(self.enum_values, true),
            ("__Type", "interfaces") => pair(self.interfaces, false),
            ("__Type", "possibleTypes") => pair(self.possible_types, false),
            ("__Field", "args") => pair(self.args, true),
            ("__Directive", "args") => pair(self.directive_args, true),
            _ => return None,
        })
    }
}

/// The schema's types and fields, as the complexity count needs them, and the data's
/// fan-out numbers.
#[derive(Debug, Clone, Default)]
pub struct SchemaShape {
    fields: HashMap<String, HashMap<String, FieldShape>>,
    /// Names of the query, mutation and subscription roots.
    roots: [String; 3],
    counts: SchemaCounts,
    fanout: Fanout,
    /// How long [`SchemaShape::ready`] waits for the first read of the fan-out numbers.
    first_read_wait: std::time::Duration,
}

fn root_index(ty: OperationType) -> usize {
    match ty {
        OperationType::Query => 0,
        OperationType::Mutation => 1,
        OperationType::Subscription => 2,
    }
}

impl SchemaShape {
    /// Reads the shape from the schema's SDL.
    pub fn from_sdl(sdl: &str) -> Self {
        let mut shape = Self {
            fields: HashMap::new(),
            roots: ["Query".into(), "Mutation".into(), "Subscription".into()],
            counts: SchemaCounts::default(),
            fanout: Fanout::default(),
            first_read_wait: std::time::Duration::ZERO,
        };
        let Ok(doc) = async_graphql::parser::parse_schema(format!("{sdl}\n{INTROSPECTION_SDL}"))
        else {
            return shape;
        };
        let mut implementers: HashMap<String, usize> = HashMap::new();
        for def in doc.definitions {
            match def {
                TypeSystemDefinition::Schema(schema) => {
                    let schema = schema.node;
                    for (ty, name) in [
                        (OperationType::Query, schema.query),
                        (OperationType::Mutation, schema.mutation),
                        (OperationType::Subscription, schema.subscription),
                    ] {
                        if let Some(name) = name {
                            shape.roots[root_index(ty)] = name.node.to_string();
                        }
                    }
                }
                TypeSystemDefinition::Type(ty) => {
                    let ty = ty.node;
                    shape.counts.types += 1;
                    let fields = match ty.kind {
                        TypeKind::Object(o) => {
                            tally(&mut shape.counts.interfaces, o.implements.len());
                            for i in &o.implements {
                                *implementers.entry(i.node.to_string()).or_default() += 1;
                            }
                            o.fields
                        }
                        TypeKind::Interface(i) => {
                            tally(&mut shape.counts.interfaces, i.implements.len());
                            i.fields
                        }
                        TypeKind::Union(u) => {
                            tally(&mut shape.counts.possible_types, u.members.len());
                            continue;
                        }
                        TypeKind::Enum(e) => {
                            tally(&mut shape.counts.enum_values, e.values.len());
                            continue;
                        }
                        TypeKind::InputObject(i) => {
                            tally(&mut shape.counts.input_fields, i.fields.len());
                            continue;
                        }
                        TypeKind::Scalar => continue,
                    };
                    tally(&mut shape.counts.fields, fields.len());
                    for f in &fields {
                        tally(&mut shape.counts.args, f.node.arguments.len());
                    }
                    let map = fields
                        .into_iter()
                        .map(|f| {
                            let f = f.node;
                            let mut base = &f.ty.node.base;
                            let mut list = false;
                            while let BaseType::List(inner) = base {
                                list = true;
                                base = &inner.base;
                            }
                            let type_name = match base {
                                BaseType::Named(n) => n.to_string(),
                                BaseType::List(_) => String::new(),
                            };
                            let paged = f
                                .arguments
                                .iter()
                                .any(|a| matches!(a.node.name.node.as_str(), "first" | "last"));
                            (
                                f.name.node.to_string(),
                                FieldShape {
                                    type_name,
                                    list,
                                    paged,
                                },
                            )
                        })
                        .collect();
                    shape.fields.insert(ty.name.node.to_string(), map);
                }
                TypeSystemDefinition::Directive(d) => {
                    shape.counts.directives += 1;
                    tally(&mut shape.counts.directive_args, d.node.arguments.len());
                }
            }
        }
        for n in implementers.into_values() {
            tally(&mut shape.counts.possible_types, n);
        }
        let meta = [("__schema", "__Schema"), ("__type", "__Type")];
        if let Some(query) = shape.fields.get_mut(&shape.roots[0]) {
            for (name, type_name) in meta {
                query.insert(
                    name.to_string(),
                    FieldShape {
                        type_name: type_name.to_string(),
                        list: false,
                        paged: false,
                    },
                );
            }
        }
        shape
    }

    /// The same shape, weighing lists without a page size with these fan-out numbers (the
    /// first requests wait at most `first_read_wait` for their first read).
    pub fn with_fanout(mut self, fanout: Fanout, first_read_wait: std::time::Duration) -> Self {
        self.fanout = fanout;
        self.first_read_wait = first_read_wait;
        self
    }

    /// Waits (briefly, once) until the fan-out numbers have been read a first time, so the
    /// first requests after a start are weighed like the later ones.
    pub async fn ready(&self) {
        self.fanout.ready(self.first_read_wait).await;
    }

    /// The size of a list field without a page size, from the data or the schema; `None`
    /// for a list the estimate knows nothing about.
    fn list(&self, ty: &str, field: &str, fanout: &Snapshot) -> Option<ListSize> {
        let known = |v: Option<u64>| v.map(|v| v.max(1));
        Some(match (ty, field) {
            (root, "categories") if root == self.roots[0] => {
                let roots = known(fanout.roots)?;
                ListSize::of(roots, roots, true)
            }
            ("Category", "children") => ListSize {
                per_parent: known(fanout.max_children)?,
                total: known(fanout.categories),
                partitions: true,
            },
            ("Product", "stocks") | ("User", "stores") => ListSize {
                per_parent: known(fanout.stores)?,
                total: None,
                partitions: false,
            },
            _ => return self.counts.list(ty, field),
        })
    }

    fn field(&self, type_name: Option<&str>, field: &str) -> Option<&FieldShape> {
        self.fields.get(type_name?)?.get(field)
    }
}

/// What the access rule needs to know about one operation of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationFacts {
    /// query, mutation or subscription.
    pub ty: OperationType,
    /// Whether its selections are only `__schema`, `__type` and `__typename`.
    pub introspection_only: bool,
}

/// The operations of a document, by name (`None` for an anonymous single operation).
#[derive(Debug, Clone, Default)]
pub struct DocumentFacts {
    operations: HashMap<Option<String>, OperationFacts>,
}

impl DocumentFacts {
    /// Whether any operation of the document is a query.
    pub fn has_query(&self) -> bool {
        self.operations
            .values()
            .any(|op| op.ty == OperationType::Query)
    }

    /// The operation that runs under this name (the only one when the name is absent).
    pub fn operation(&self, name: Option<&str>) -> Option<OperationFacts> {
        if let Some(facts) = self.operations.get(&name.map(str::to_string)) {
            return Some(*facts);
        }
        if self.operations.len() == 1 {
            return self.operations.values().next().copied();
        }
        None
    }

    /// The name of the operation that runs under `name` (the only one's, when it has one).
    pub fn operation_name<'a>(&'a self, name: Option<&'a str>) -> Option<&'a str> {
        match name {
            Some(name) => Some(name),
            None if self.operations.len() == 1 => {
                self.operations.keys().next().and_then(Option::as_deref)
            }
            None => None,
        }
    }
}

fn too_complex(what: &str, limit: usize) -> AppError {
    AppError::QueryTooComplex {
        message: format!("the query is over the {what} limit of {limit}"),
        limit,
    }
}

/// Refuses, before parsing, a query text with more lexical tokens than allowed or whose
/// brackets nest deeper than the depth limit allows (so a hostile document can make the parser
/// neither work long nor recurse deeply).
pub fn check_text(query: &str, limits: &Limits) -> Result<(), AppError> {
    // Each level of fields can add a selection set, an argument list and a nested value.
    let bound = limits.max_depth.saturating_mul(3).saturating_add(10);
    let mut depth = 0usize;
    let mut tokens = 0usize;
    let mut in_string = false;
    let mut in_comment = false;
    let mut in_word = false;
    let mut escaped = false;
    for b in query.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if in_comment {
            in_comment = !matches!(b, b'\n' | b'\r');
            continue;
        }
        let word = b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+' | b'.');
        if word && !in_word {
            tokens += 1;
        }
        in_word = word;
        match b {
            b'#' => in_comment = true,
            b'"' => {
                in_string = true;
                tokens += 1;
            }
            b'{' | b'(' | b'[' => {
                tokens += 1;
                depth += 1;
                if depth > bound {
                    return Err(too_complex("depth", limits.max_depth));
                }
            }
            b'}' | b')' | b']' => {
                tokens += 1;
                depth = depth.saturating_sub(1);
            }
            b':' | b'=' | b'@' | b'$' | b'!' | b'|' | b'&' => tokens += 1,
            _ => {}
        }
        if tokens > limits.max_tokens {
            return Err(too_complex("token", limits.max_tokens));
        }
    }
    Ok(())
}

/// Checks every limit on a parsed document and returns the facts of its operations.
pub fn check(
    doc: &ExecutableDocument,
    variables: &Variables,
    shape: &SchemaShape,
    limits: &Limits,
) -> Result<DocumentFacts, AppError> {
    let mut aliases = 0usize;
    let mut directives = 0usize;
    for (_, op) in doc.operations.iter() {
        directives += op.node.directives.len();
        for var in &op.node.variable_definitions {
            directives += var.node.directives.len();
        }
        count_set(&op.node.selection_set.node, &mut aliases, &mut directives);
    }
    for fragment in doc.fragments.values() {
        directives += fragment.node.directives.len();
        count_set(
            &fragment.node.selection_set.node,
            &mut aliases,
            &mut directives,
        );
    }
    if aliases > limits.max_aliases {
        return Err(too_complex("alias", limits.max_aliases));
    }
    if directives > limits.max_directives {
        return Err(too_complex("directive", limits.max_directives));
    }

    let mut facts = DocumentFacts::default();
    let operations: Vec<_> = match &doc.operations {
        DocumentOperations::Single(op) => vec![(None, op)],
        DocumentOperations::Multiple(map) => map
            .iter()
            .map(|(name, op)| (Some(name.to_string()), op))
            .collect(),
    };
    for (name, op) in operations {
        let op = &op.node;
        let mut walker = Walker {
            doc,
            shape,
            variables,
            limits,
            fanout: shape.fanout.snapshot(),
            visits: 0,
            root_fields: 0,
            introspection_only: true,
            in_progress: Vec::new(),
        };
        let root = Some(shape.roots[root_index(op.ty)].as_str());
        walker.set(&op.selection_set.node, root, 0, Level::ROOT)?;
        if walker.root_fields > limits.max_root_fields {
            return Err(too_complex("root field", limits.max_root_fields));
        }
        facts.operations.insert(
            name,
            OperationFacts {
                ty: op.ty,
                introspection_only: walker.introspection_only,
            },
        );
    }
    Ok(facts)
}

/// Counts aliases and directives of a selection set (fragment spreads are counted where the
/// fragment is defined).
fn count_set(set: &SelectionSet, aliases: &mut usize, directives: &mut usize) {
    for item in &set.items {
        match &item.node {
            Selection::Field(f) => {
                *aliases += usize::from(f.node.alias.is_some());
                *directives += f.node.directives.len();
                count_set(&f.node.selection_set.node, aliases, directives);
            }
            Selection::FragmentSpread(s) => *directives += s.node.directives.len(),
            Selection::InlineFragment(i) => {
                *directives += i.node.directives.len();
                count_set(&i.node.selection_set.node, aliases, directives);
            }
        }
    }
}

/// The objects a selection set applies to, as the walk estimates them.
#[derive(Debug, Clone, Copy)]
struct Level {
    /// How many objects.
    count: u64,
    /// Whether they are known to be distinct (lists under them may be capped by their total).
    distinct: bool,
    /// The page size, when the objects are connections.
    page: Option<u64>,
}

impl Level {
    /// The one root object of an operation.
    const ROOT: Self = Self {
        count: 1,
        distinct: true,
        page: None,
    };
}

/// Walks one operation with fragments expanded, counting depth, complexity and root fields.
struct Walker<'a> {
    doc: &'a ExecutableDocument,
    shape: &'a SchemaShape,
    variables: &'a Variables,
    limits: &'a Limits,
    fanout: Snapshot,
    /// Fields visited so far (bounds the walk itself, whatever the fragments multiply).
    visits: usize,
    root_fields: usize,
    introspection_only: bool,
    /// Fragments being expanded (a cycle is left to validation to report).
    in_progress: Vec<&'a str>,
}

/// A count as `u64` (saturating).
fn wide(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl<'a> Walker<'a> {
    /// The estimated result fields of a selection set on type `ty` whose fields sit at
    /// `depth + 1`, applied to the objects of `level`.
    fn set(
        &mut self,
        set: &'a SelectionSet,
        ty: Option<&'a str>,
        depth: usize,
        level: Level,
    ) -> Result<u64, AppError> {
        let max = wide(self.limits.max_complexity);
        let mut total = 0u64;
        for item in &set.items {
            let cost = match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let name = field.name.node.as_str();
                    if depth == 0 {
                        self.root_fields += 1;
                        if !matches!(name, "__schema" | "__type" | "__typename") {
                            self.introspection_only = false;
                        }
                    }
                    self.visits += 1;
                    if self.visits > self.limits.max_complexity {
                        return Err(too_complex("complexity", self.limits.max_complexity));
                    }
                    if depth + 1 > self.limits.max_depth {
                        return Err(too_complex("depth", self.limits.max_depth));
                    }
                    let shape = self.shape.field(ty, name);
                    let mut weight = if name == "totalCount" {
                        self.limits.total_count_weight
                    } else {
                        1
                    };
                    if self.searches(field) {
                        weight += self.limits.search_weight;
                    }
                    let own = level.count.saturating_mul(weight);
                    let items = self.items(field, ty, shape, level);
                    let below = if field.selection_set.node.items.is_empty() {
                        if shape.is_some_and(|s| s.list) {
                            items.count
                        } else {
                            0
                        }
                    } else {
                        let child_type = shape.map(|s| s.type_name.as_str());
                        self.set(&field.selection_set.node, child_type, depth + 1, items)?
                    };
                    own.saturating_add(below)
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if self.in_progress.contains(&name) {
                        continue;
                    }
                    let Some(fragment) = self.doc.fragments.get(name) else {
                        continue;
                    };
                    self.in_progress.push(name);
                    let on = fragment.node.type_condition.node.on.node.as_str();
                    let cost = self.set(&fragment.node.selection_set.node, Some(on), depth, level);
                    self.in_progress.pop();
                    cost?
                }
                Selection::InlineFragment(inline) => {
                    let on = inline
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(ty, |c| Some(c.node.on.node.as_str()));
                    self.set(&inline.node.selection_set.node, on, depth, level)?
                }
            };
            total = total.saturating_add(cost);
            if total > max {
                return Err(too_complex("complexity", self.limits.max_complexity));
            }
        }
        Ok(total)
    }

    /// The objects a field returns for the objects of `level`.
    fn items(
        &self,
        field: &Field,
        ty: Option<&str>,
        shape: Option<&FieldShape>,
        level: Level,
    ) -> Level {
        let asks_page = field
            .arguments
            .iter()
            .any(|(n, _)| matches!(n.node.as_str(), "first" | "last"));
        // A field the schema does not know (validation refuses it anyway) is weighed by the
        // page size it asks for, if any.
        if shape.map_or(asks_page, |s| s.paged) {
            return Level {
                count: level.count,
                distinct: false,
                page: Some(self.page_size(field)),
            };
        }
        let name = field.name.node.as_str();
        let unknown_page = shape.is_none() && matches!(name, "edges" | "nodes");
        if let (true, Some(page)) = (unknown_page, level.page) {
            // The page of a connection field the schema does not know.
            return Level {
                count: level.count.saturating_mul(page),
                distinct: false,
                page: None,
            };
        }
        if !shape.is_some_and(|s| s.list) {
            // One object per object (or a field the schema does not know).
            return Level {
                count: level.count,
                distinct: level.count <= 1,
                page: None,
            };
        }
        let ty = ty.unwrap_or_default();
        let size = if ty.ends_with("Connection") && matches!(name, "edges" | "nodes") {
            ListSize {
                per_parent: level
                    .page
                    .unwrap_or(u64::try_from(DEFAULT_PAGE_SIZE).unwrap_or(1)),
                total: None,
                partitions: false,
            }
        } else if ty == self.shape.roots[0] && name == "nodes" {
            ListSize {
                per_parent: self.id_count(field),
                total: None,
                partitions: false,
            }
        } else {
            self.shape.list(ty, name, &self.fanout).unwrap_or(ListSize {
                per_parent: wide(self.limits.unpaged_list_weight),
                total: None,
                partitions: false,
            })
        };
        let mut count = level.count.saturating_mul(size.per_parent);
        let mut distinct = false;
        if level.distinct
            && let Some(total) = size.total
        {
            count = count.min(total);
            distinct = size.partitions;
        }
        Level {
            count,
            distinct,
            page: None,
        }
    }

    /// A field argument's value with the request's variables filled in.
    fn argument(&self, field: &Field, name: &str) -> Option<Value> {
        let (_, value) = field.arguments.iter().find(|(n, _)| n.node == name)?;
        value
            .node
            .clone()
            .into_const_with(|var| self.variables.get(&var).cloned().ok_or(()))
            .ok()
    }

    /// How many ids `nodes(ids:)` is given (a single value is coerced to a list of one);
    /// a list in a variable is measured where it is, not copied.
    fn id_count(&self, field: &Field) -> u64 {
        let Some((_, value)) = field.arguments.iter().find(|(n, _)| n.node == "ids") else {
            return 1;
        };
        let mut in_variable = None;
        let value = value.node.clone().into_const_with(|var| {
            in_variable = Some(match self.variables.get(&var) {
                Some(Value::List(ids)) => ids.len(),
                _ => 1,
            });
            Ok::<_, ()>(Value::Null)
        });
        let len = match value {
            Ok(Value::List(ids)) => ids.len(),
            _ => in_variable.unwrap_or(1),
        };
        wide(len).max(1)
    }

    /// Whether a field filters with a non-empty `search` text (the database scans an index
    /// of text fragments for it).
    fn searches(&self, field: &Field) -> bool {
        match self.argument(field, "filter") {
            Some(Value::Object(filter)) => {
                matches!(filter.get("search"), Some(Value::String(s)) if !s.is_empty())
            }
            _ => false,
        }
    }

    /// The page size a connection field asks for (`first` or `last`, else the default),
    /// capped at the largest page (a larger one is refused by pagination as BAD_USER_INPUT).
    fn page_size(&self, field: &Field) -> u64 {
        let asked = ["first", "last"]
            .into_iter()
            .filter_map(|name| match self.argument(field, name)? {
                Value::Number(n) => n.as_i64(),
                _ => None,
            })
            .max()
            .unwrap_or(DEFAULT_PAGE_SIZE);
        u64::try_from(asked.clamp(1, MAX_PAGE_SIZE)).unwrap_or(1)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::graphql::fanout::Snapshot;

    /// The fan-out of `gen.py --scale 1`: 10 roots of 9 children each, 20 stores.
    const SCALE_ONE: Snapshot = Snapshot {
        categories: Some(100),
        roots: Some(10),
        max_children: Some(9),
        stores: Some(20),
    };

    fn shape_of(fanout: Snapshot) -> SchemaShape {
        SchemaShape::from_sdl(&crate::graphql::schema::sdl())
            .with_fanout(Fanout::fixed(fanout), std::time::Duration::ZERO)
    }

    /// The complexity limit a document needs (its estimate), or the refusal.
    fn estimate(
        shape: &SchemaShape,
        query: &str,
        variables: serde_json::Value,
    ) -> Result<u64, AppError> {
        let limits = Limits {
            max_complexity: 1 << 40,
            max_aliases: usize::MAX,
            max_root_fields: usize::MAX,
            max_directives: usize::MAX,
            ..Limits::default()
        };
        let doc = async_graphql::parser::parse_query(query).expect("the document parses");
        let variables = Variables::from_json(variables);
        // Bisect the smallest limit the document passes.
        let (mut lo, mut hi) = (0u64, 1u64 << 40);
        check(&doc, &variables, shape, &limits)?;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let limits = Limits {
                max_complexity: usize::try_from(mid).unwrap(),
                ..limits.clone()
            };
            if check(&doc, &variables, shape, &limits).is_ok() {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(lo)
    }

    fn passes_defaults(shape: &SchemaShape, query: &str) -> bool {
        let doc = async_graphql::parser::parse_query(query).expect("the document parses");
        check(&doc, &Variables::default(), shape, &Limits::default()).is_ok()
    }

    fn tree(levels: usize) -> String {
        let mut inner = String::from("id name parent { id name }");
        for _ in 1..levels {
            inner = format!("id name parent {{ id name }} children {{ {inner} }}");
        }
        format!("{{ categories {{ {inner} }} }}")
    }

    const PRODUCTS_PAGE: &str = "{ products(first: 100) { nodes { id sku name price \
        category { id name } stocks { id quantity reorderPoint store { id code name } } \
        transactions(first: 10) { nodes { id type quantity quantityAfter createdAt } } } \
        pageInfo { hasNextPage endCursor } } }";

    #[test]
    fn a_five_level_category_tree_weighs_what_the_tree_holds() {
        let shape = shape_of(SCALE_ONE);
        let cost = estimate(&shape, &tree(5), serde_json::json!({})).unwrap();
        // 100 categories with 5 fields each per level at most, whatever the fan-out multiplies.
        assert!(cost <= 5 * 100 * 6 + 10, "{cost}");
        assert!(passes_defaults(&shape, &tree(5)));
        // A wide tree: a thousand categories, one with 200 children.
        let wide = shape_of(Snapshot {
            categories: Some(1000),
            roots: Some(20),
            max_children: Some(200),
            stores: Some(20),
        });
        assert!(passes_defaults(&wide, &tree(5)));
    }

    #[test]
    fn a_walk_that_repeats_objects_is_not_capped_by_the_tree() {
        let shape = shape_of(Snapshot {
            max_children: Some(50),
            ..SCALE_ONE
        });
        let mut inner = String::from("id");
        for _ in 0..4 {
            inner = format!("children {{ parent {{ {inner} }} }}");
        }
        let query = format!("{{ categories {{ {inner} }} }}");
        assert!(!passes_defaults(&shape, &query), "50^4 repeated categories");
    }

    #[test]
    fn the_introspection_queries_of_graphql_js_and_graphiql_pass() {
        let shape = shape_of(SCALE_ONE);
        for query in [GRAPHQL_JS_INTROSPECTION, GRAPHIQL_INTROSPECTION] {
            let cost = estimate(&shape, query, serde_json::json!({})).unwrap();
            assert!(cost < Limits::default().max_complexity as u64 / 2, "{cost}");
        }
        // Introspection lists are weighed too: nesting them multiplies.
        let nested = "{ __schema { types { fields { type { fields { type { fields { type { \
                      fields { type { fields { name } } } } } } } } } } } }";
        assert!(!passes_defaults(&shape, nested));
    }

    #[test]
    fn a_products_page_with_stocks_and_transactions_passes_with_many_stores() {
        for stores in [3, 20, 100] {
            let shape = shape_of(Snapshot {
                stores: Some(stores),
                ..SCALE_ONE
            });
            assert!(passes_defaults(&shape, PRODUCTS_PAGE), "{stores} stores");
        }
    }

    #[test]
    fn the_readme_examples_pass() {
        let shape = shape_of(SCALE_ONE);
        let readme = include_str!("../../README.md");
        let mut seen = 0;
        for block in readme.split("```graphql").skip(1) {
            let query = block.split("```").next().unwrap();
            assert!(passes_defaults(&shape, query), "{query}");
            seen += 1;
        }
        assert!(seen >= 2);
    }

    #[test]
    fn a_million_result_fields_are_refused() {
        let shape = shape_of(SCALE_ONE);
        let query = "{ stores(first: 100) { nodes { stocks(first: 100) { nodes { product { \
                     transactions(first: 100) { nodes { id } } } } } } } }";
        let cost = estimate(&shape, query, serde_json::json!({})).unwrap();
        assert!(cost > 1_000_000, "{cost}");
        assert!(!passes_defaults(&shape, query));
    }

    #[test]
    fn lists_without_a_page_size_follow_the_data() {
        let query = "{ products(first: 10) { nodes { stocks { quantity } } } }";
        let few = estimate(&shape_of(SCALE_ONE), query, serde_json::json!({})).unwrap();
        let many = estimate(
            &shape_of(Snapshot {
                stores: Some(2000),
                ..SCALE_ONE
            }),
            query,
            serde_json::json!({}),
        )
        .unwrap();
        assert!(many > 50 * few, "{few} vs {many}");
        // Unknown numbers weigh the constant of old.
        let unknown =
            estimate(&shape_of(Snapshot::default()), query, serde_json::json!({})).unwrap();
        assert!(
            unknown >= 10 * wide(Limits::default().unpaged_list_weight),
            "{unknown}"
        );
    }

    #[test]
    fn nodes_are_weighed_by_their_ids_also_from_variables() {
        let shape = shape_of(SCALE_ONE);
        let body = "{ ... on Product { transactions(first: 100) { nodes { id quantity } } } }";
        let one = estimate(
            &shape,
            &format!("{{ nodes(ids: [\"a\"]) {body} }}"),
            serde_json::json!({}),
        )
        .unwrap();
        let ids: Vec<String> = (0..100).map(|i| format!("id{i}")).collect();
        let literal = format!(
            "{{ nodes(ids: {}) {body} }}",
            serde_json::to_string(&ids).unwrap()
        );
        let many = estimate(&shape, &literal, serde_json::json!({})).unwrap();
        assert!(many >= 100 * one - 100, "{one} vs {many}");
        let by_variable = estimate(
            &shape,
            &format!("query Q($ids: [ID!]!) {{ nodes(ids: $ids) {body} }}"),
            serde_json::json!({ "ids": ids }),
        )
        .unwrap();
        assert_eq!(by_variable, many);
    }

    #[test]
    fn total_count_and_search_weigh() {
        let shape = shape_of(SCALE_ONE);
        let plain = estimate(
            &shape,
            "{ products { pageInfo { hasNextPage } } }",
            serde_json::json!({}),
        )
        .unwrap();
        let counted =
            estimate(&shape, "{ products { totalCount } }", serde_json::json!({})).unwrap();
        assert!(
            counted >= plain + Limits::default().total_count_weight - 2,
            "{plain} vs {counted}"
        );
        let searched = estimate(
            &shape,
            "query Q($s: String) { products(filter: {search: $s}) { pageInfo { hasNextPage } } }",
            serde_json::json!({ "s": "drill" }),
        )
        .unwrap();
        assert_eq!(searched, plain + Limits::default().search_weight);
        let empty = estimate(
            &shape,
            "{ products(filter: {search: \"\"}) { pageInfo { hasNextPage } } }",
            serde_json::json!({}),
        )
        .unwrap();
        assert_eq!(empty, plain);
    }

    /// The default limits with one changed.
    fn limits_with(change: impl FnOnce(&mut Limits)) -> Limits {
        let mut limits = Limits::default();
        change(&mut limits);
        limits
    }

    /// Checks a document against `limits` on the schema at scale one.
    fn check_with(query: &str, limits: &Limits) -> Result<DocumentFacts, AppError> {
        let doc = async_graphql::parser::parse_query(query).expect("the document parses");
        check(&doc, &Variables::default(), &shape_of(SCALE_ONE), limits)
    }

    /// Asserts QUERY_TOO_COMPLEX over the `what` limit of `limit`.
    fn assert_over<T: std::fmt::Debug>(result: Result<T, AppError>, what: &str, limit: usize) {
        match result {
            Err(AppError::QueryTooComplex { message, limit: l }) => {
                assert_eq!(l, limit);
                assert_eq!(
                    message,
                    format!("the query is over the {what} limit of {limit}")
                );
            }
            other => panic!("expected QUERY_TOO_COMPLEX over the {what} limit, got {other:?}"),
        }
    }

    #[test]
    fn a_text_with_more_tokens_than_allowed_is_refused_before_parsing() {
        let limits = limits_with(|l| l.max_tokens = 10);
        assert!(check_text("{ a b c d e f g h }", &limits).is_ok());
        assert_over(check_text("{ a b c d e f g h i j }", &limits), "token", 10);
    }

    #[test]
    fn brackets_nested_deeper_than_the_depth_limit_allows_are_refused_before_parsing() {
        let limits = limits_with(|l| l.max_depth = 2);
        // Three brackets a level and ten more: 16 for a depth of 2.
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(check_text(&nested(16), &limits).is_ok());
        assert_over(check_text(&nested(17), &limits), "depth", 2);
    }

    #[test]
    fn brackets_and_words_in_strings_and_comments_are_not_counted() {
        let limits = limits_with(|l| {
            l.max_depth = 1;
            l.max_tokens = 20;
        });
        let deep = "{ a ".repeat(100);
        let query = format!("{{ a(s: \"{deep} \\\" {deep}\") # {deep}\n b }}");
        assert!(check_text(&query, &limits).is_ok(), "{query}");
    }

    #[test]
    fn a_document_deeper_than_the_depth_limit_is_refused() {
        let limits = limits_with(|l| l.max_depth = 2);
        assert!(check_with("{ categories { id } }", &limits).is_ok());
        let deeper = check_with("{ categories { parent { id } } }", &limits);
        assert_over(deeper, "depth", 2);
    }

    #[test]
    fn aliases_over_the_limit_are_refused_also_inside_fragments() {
        let limits = limits_with(|l| l.max_aliases = 2);
        assert!(check_with("{ a: categories { id } b: categories { id } }", &limits).is_ok());
        let query = "{ a: categories { ...F } b: categories { id } } \
                     fragment F on Category { c: id }";
        assert_over(check_with(query, &limits), "alias", 2);
    }

    #[test]
    fn directives_over_the_limit_are_refused() {
        let limits = limits_with(|l| l.max_directives = 2);
        let query = "query Q($x: Boolean!) { categories @include(if: $x) { id @skip(if: $x) \
                     name @skip(if: $x) } }";
        assert_over(check_with(query, &limits), "directive", 2);
    }

    #[test]
    fn root_fields_over_the_limit_are_refused() {
        let limits = limits_with(|l| l.max_root_fields = 2);
        assert!(check_with("{ categories { id } __typename }", &limits).is_ok());
        let query = "{ categories { id } __typename c: categories { id } }";
        assert_over(check_with(query, &limits), "root field", 2);
    }

    #[test]
    fn the_facts_tell_each_operation_its_type_and_whether_it_only_introspects() {
        let facts = check_with(
            "query Schema { __schema { queryType { name } } __typename } \
             query Tree { categories { id } } \
             mutation Archive { archiveProduct(id: \"x\") { id } }",
            &Limits::default(),
        )
        .unwrap();
        assert!(facts.has_query());
        let schema = facts.operation(Some("Schema")).unwrap();
        assert_eq!(schema.ty, OperationType::Query);
        assert!(schema.introspection_only);
        assert!(!facts.operation(Some("Tree")).unwrap().introspection_only);
        let archive = facts.operation(Some("Archive")).unwrap();
        assert_eq!(archive.ty, OperationType::Mutation);
        // Several operations and no name: none of them runs.
        assert_eq!(facts.operation(None), None);
        assert_eq!(facts.operation_name(None), None);
        assert_eq!(facts.operation(Some("Missing")), None);
    }

    #[test]
    fn a_single_operation_runs_without_its_name_being_given() {
        let query = "mutation Archive { archiveProduct(id: \"x\") { id } }";
        let facts = check_with(query, &Limits::default()).unwrap();
        assert!(!facts.has_query());
        let ty = facts.operation(None).map(|op| op.ty);
        assert_eq!(ty, Some(OperationType::Mutation));
        assert_eq!(facts.operation_name(None), Some("Archive"));
    }

    /// graphql-js's `getIntrospectionQuery()` (v16, all options off).
    const GRAPHQL_JS_INTROSPECTION: &str = r"
    query IntrospectionQuery {
      __schema {
        queryType { name }
        mutationType { name }
        subscriptionType { name }
        types { ...FullType }
        directives { name description locations args { ...InputValue } }
      }
    }
    fragment FullType on __Type {
      kind name description
      fields(includeDeprecated: true) {
        name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
      }
      inputFields { ...InputValue }
      interfaces { ...TypeRef }
      enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
      possibleTypes { ...TypeRef }
    }
    fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
    fragment TypeRef on __Type {
      kind name
      ofType { kind name ofType { kind name ofType { kind name ofType { kind name
        ofType { kind name ofType { kind name ofType { kind name } } } } } } }
    }";

    /// GraphiQL 3's introspection query (graphql-js's with descriptions of directives'
    /// repeatability, `specifiedByURL`, deprecated arguments and input fields).
    const GRAPHIQL_INTROSPECTION: &str = r"
    query IntrospectionQuery {
      __schema {
        queryType { name }
        mutationType { name }
        subscriptionType { name }
        types { ...FullType }
        directives {
          name description isRepeatable locations
          args(includeDeprecated: true) { ...InputValue }
        }
      }
    }
    fragment FullType on __Type {
      kind name description specifiedByURL
      fields(includeDeprecated: true) {
        name description
        args(includeDeprecated: true) { ...InputValue }
        type { ...TypeRef } isDeprecated deprecationReason
      }
      inputFields(includeDeprecated: true) { ...InputValue }
      interfaces { ...TypeRef }
      enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
      possibleTypes { ...TypeRef }
    }
    fragment InputValue on __InputValue {
      name description type { ...TypeRef } defaultValue isDeprecated deprecationReason
    }
    fragment TypeRef on __Type {
      kind name
      ofType { kind name ofType { kind name ofType { kind name ofType { kind name
        ofType { kind name ofType { kind name ofType { kind name ofType { kind name
          ofType { kind name } } } } } } } } }
    }";
}
