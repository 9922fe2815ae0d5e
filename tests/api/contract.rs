//! The generated schema honours the public contract (`../shared/api/contract.graphql`):
//! every type, field, argument, input field, default and enum value of the contract is there
//! with the same type and nullability. The schema may add more, never less.

use std::collections::HashMap;

use async_graphql::parser::{
    parse_schema,
    types::{InputValueDefinition, ServiceDocument, TypeKind, TypeSystemDefinition},
};
use stockroom::graphql::schema;

/// A flat description of a type's surface: "Type.field(arg)" → "type [= default]".
fn surface(doc: &ServiceDocument) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let input = |prefix: &str, v: &InputValueDefinition, out: &mut HashMap<String, String>| {
        let default = v
            .default_value
            .as_ref()
            .map(|d| format!(" = {}", d.node))
            .unwrap_or_default();
        out.insert(
            format!("{prefix}.{}", v.name.node),
            format!("{}{default}", v.ty.node),
        );
    };
    for def in &doc.definitions {
        let TypeSystemDefinition::Type(ty) = def else {
            continue;
        };
        let name = ty.node.name.node.to_string();
        match &ty.node.kind {
            TypeKind::Scalar => {
                out.insert(name.clone(), "scalar".into());
            }
            TypeKind::Object(obj) => {
                out.insert(name.clone(), "type".into());
                for i in &obj.implements {
                    out.insert(format!("{name} implements {}", i.node), String::new());
                }
                for f in &obj.fields {
                    let field = format!("{name}.{}", f.node.name.node);
                    out.insert(field.clone(), f.node.ty.node.to_string());
                    for a in &f.node.arguments {
                        input(&format!("{field}()"), &a.node, &mut out);
                    }
                }
            }
            TypeKind::Interface(obj) => {
                out.insert(name.clone(), "interface".into());
                for f in &obj.fields {
                    out.insert(
                        format!("{name}.{}", f.node.name.node),
                        f.node.ty.node.to_string(),
                    );
                }
            }
            TypeKind::InputObject(obj) => {
                out.insert(name.clone(), "input".into());
                for f in &obj.fields {
                    input(&name, &f.node, &mut out);
                }
            }
            TypeKind::Enum(e) => {
                out.insert(name.clone(), "enum".into());
                for v in &e.values {
                    out.insert(format!("{name}::{}", v.node.value.node), String::new());
                }
            }
            TypeKind::Union(u) => {
                out.insert(name.clone(), "union".into());
                for m in &u.members {
                    out.insert(format!("{name} | {}", m.node), String::new());
                }
            }
        }
    }
    out
}

#[test]
fn the_schema_contains_the_whole_contract_with_the_same_types() {
    let path = crate::helpers::shared_dir().join("api/contract.graphql");
    let contract = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the contract must sit beside the repo at {} (or set STOCKROOM_SHARED_DIR): {e}",
            path.display()
        )
    });
    let contract = surface(&parse_schema(contract).expect("the contract parses"));
    let ours = surface(&parse_schema(schema::sdl()).expect("our SDL parses"));
    let mut problems: Vec<String> = contract
        .iter()
        .filter_map(|(key, want)| match ours.get(key) {
            None => Some(format!("missing: {key} {want}")),
            Some(have) if have != want => {
                Some(format!("differs: {key}: contract `{want}`, ours `{have}`"))
            }
            Some(_) => None,
        })
        .collect();
    problems.sort();
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
