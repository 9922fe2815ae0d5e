//! The query limits, checked on the parsed document before anything runs: depth, complexity
//! (a paginated list counts its page size times its children), aliases, root fields and
//! directives; plus the facts the access rule needs (each operation's type, and whether it
//! asks only for introspection).

use std::collections::HashMap;

use async_graphql::{
    Value, Variables,
    parser::types::{
        BaseType, DocumentOperations, ExecutableDocument, Field, OperationType, Selection,
        SelectionSet, TypeKind, TypeSystemDefinition,
    },
};

use crate::{
    config::{DEFAULT_PAGE_SIZE, Limits, MAX_PAGE_SIZE, UNPAGED_LIST_WEIGHT},
    error::AppError,
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

/// The schema's types and fields, as the complexity count needs them.
#[derive(Debug, Clone, Default)]
pub struct SchemaShape {
    fields: HashMap<String, HashMap<String, FieldShape>>,
    /// Names of the query, mutation and subscription roots.
    roots: [String; 3],
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
        };
        let Ok(doc) = async_graphql::parser::parse_schema(sdl) else {
            return shape;
        };
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
                    let fields = match ty.kind {
                        TypeKind::Object(o) => o.fields,
                        TypeKind::Interface(i) => i.fields,
                        _ => continue,
                    };
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
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        shape
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
            visits: 0,
            root_fields: 0,
            introspection_only: true,
            in_progress: Vec::new(),
        };
        let root = Some(shape.roots[root_index(op.ty)].as_str());
        walker.set(&op.selection_set.node, root, 0)?;
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

/// Walks one operation with fragments expanded, counting depth, complexity and root fields.
struct Walker<'a> {
    doc: &'a ExecutableDocument,
    shape: &'a SchemaShape,
    variables: &'a Variables,
    limits: &'a Limits,
    /// Fields visited so far (bounds the walk itself, whatever the fragments multiply).
    visits: usize,
    root_fields: usize,
    introspection_only: bool,
    /// Fragments being expanded (a cycle is left to validation to report).
    in_progress: Vec<&'a str>,
}

impl<'a> Walker<'a> {
    /// The complexity of a selection set on type `ty` whose fields sit at `depth + 1`.
    fn set(
        &mut self,
        set: &'a SelectionSet,
        ty: Option<&'a str>,
        depth: usize,
    ) -> Result<usize, AppError> {
        let mut total = 0usize;
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
                    let child_type = shape.map(|s| s.type_name.as_str());
                    let children = self.set(&field.selection_set.node, child_type, depth + 1)?;
                    let weight = match shape {
                        Some(s) if s.paged => self.page_size(field),
                        Some(s)
                            if s.list
                                && !ty.is_some_and(|t| t.ends_with("Connection"))
                                && !name.starts_with("__") =>
                        {
                            UNPAGED_LIST_WEIGHT
                        }
                        // A field the schema does not (yet) know: weigh it by the page
                        // size it asks for, if any (validation refuses it anyway).
                        None if field
                            .arguments
                            .iter()
                            .any(|(n, _)| matches!(n.node.as_str(), "first" | "last")) =>
                        {
                            self.page_size(field)
                        }
                        _ => 1,
                    };
                    weight.saturating_mul(children.max(1)).saturating_add(1)
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
                    let cost = self.set(&fragment.node.selection_set.node, Some(on), depth);
                    self.in_progress.pop();
                    cost?
                }
                Selection::InlineFragment(inline) => {
                    let on = inline
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(ty, |c| Some(c.node.on.node.as_str()));
                    self.set(&inline.node.selection_set.node, on, depth)?
                }
            };
            total = total.saturating_add(cost);
            if total > self.limits.max_complexity {
                return Err(too_complex("complexity", self.limits.max_complexity));
            }
        }
        Ok(total)
    }

    /// The page size a connection field asks for (`first` or `last`, else the default),
    /// capped at the largest page (a larger one is refused by pagination as BAD_USER_INPUT).
    fn page_size(&self, field: &Field) -> usize {
        let asked = field
            .arguments
            .iter()
            .filter(|(name, _)| matches!(name.node.as_str(), "first" | "last"))
            .filter_map(|(_, value)| {
                let value = value
                    .node
                    .clone()
                    .into_const_with(|var| self.variables.get(&var).cloned().ok_or(()))
                    .ok()?;
                match value {
                    Value::Number(n) => n.as_i64(),
                    _ => None,
                }
            })
            .max()
            .unwrap_or(DEFAULT_PAGE_SIZE);
        usize::try_from(asked.clamp(1, MAX_PAGE_SIZE)).unwrap_or(1)
    }
}
