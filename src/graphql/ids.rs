//! Relay global IDs: opaque, stable and typed.
//!
//! An ID is base64url (no padding) of `Type:key`; a stock row's key is `productId:storeId`.
//! Decoding checks the type, so a Store ID given as `productId` is BAD_USER_INPUT.

use async_graphql::ID;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::error::{AppError, AppResult};

/// The types that implement `Node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeType {
    /// `Product`.
    Product,
    /// `Category`.
    Category,
    /// `Store`.
    Store,
    /// `Stock`.
    Stock,
    /// `InventoryTransaction`.
    InventoryTransaction,
    /// `User`.
    User,
}

impl NodeType {
    const ALL: [Self; 6] = [
        Self::Product,
        Self::Category,
        Self::Store,
        Self::Stock,
        Self::InventoryTransaction,
        Self::User,
    ];

    /// The GraphQL type name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Product => "Product",
            Self::Category => "Category",
            Self::Store => "Store",
            Self::Stock => "Stock",
            Self::InventoryTransaction => "InventoryTransaction",
            Self::User => "User",
        }
    }
}

/// A decoded global ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeId {
    /// A product by id.
    Product(i32),
    /// A category by id.
    Category(i32),
    /// A store by id.
    Store(i32),
    /// A stock row by (product id, store id).
    Stock(i32, i32),
    /// A ledger row by id.
    InventoryTransaction(i64),
    /// A user by id.
    User(i32),
}

impl NodeId {
    /// The opaque ID of this node.
    pub fn encode(self) -> ID {
        let raw = match self {
            Self::Product(id) => format!("Product:{id}"),
            Self::Category(id) => format!("Category:{id}"),
            Self::Store(id) => format!("Store:{id}"),
            Self::Stock(p, s) => format!("Stock:{p}:{s}"),
            Self::InventoryTransaction(id) => format!("InventoryTransaction:{id}"),
            Self::User(id) => format!("User:{id}"),
        };
        ID(URL_SAFE_NO_PAD.encode(raw))
    }

    /// Decodes an ID; `None` when it is not one of ours.
    pub fn decode(id: &str) -> Option<Self> {
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(id).ok()?).ok()?;
        let (kind, key) = raw.split_once(':')?;
        let kind = NodeType::ALL.into_iter().find(|t| t.name() == kind)?;
        let int = |s: &str| s.parse::<i32>().ok().filter(|v| *v > 0);
        Some(match kind {
            NodeType::Product => Self::Product(int(key)?),
            NodeType::Category => Self::Category(int(key)?),
            NodeType::Store => Self::Store(int(key)?),
            NodeType::User => Self::User(int(key)?),
            NodeType::Stock => {
                let (p, s) = key.split_once(':')?;
                Self::Stock(int(p)?, int(s)?)
            }
            NodeType::InventoryTransaction => {
                Self::InventoryTransaction(key.parse::<i64>().ok().filter(|v| *v > 0)?)
            }
        })
    }

    /// Decodes an ID or fails with BAD_USER_INPUT naming `field`.
    pub fn parse(id: &ID, field: &str) -> AppResult<Self> {
        Self::decode(id)
            .ok_or_else(|| AppError::bad_input(field, format!("`{field}` is not a valid ID")))
    }
}

fn wrong_type(field: &str, expected: NodeType) -> AppError {
    AppError::bad_input(
        field,
        format!("`{field}` must be the ID of a {}", expected.name()),
    )
}

/// The product id inside a Product ID argument.
pub fn product_id(id: &ID, field: &str) -> AppResult<i32> {
    match NodeId::parse(id, field)? {
        NodeId::Product(v) => Ok(v),
        _ => Err(wrong_type(field, NodeType::Product)),
    }
}

/// The category id inside a Category ID argument.
pub fn category_id(id: &ID, field: &str) -> AppResult<i32> {
    match NodeId::parse(id, field)? {
        NodeId::Category(v) => Ok(v),
        _ => Err(wrong_type(field, NodeType::Category)),
    }
}

/// The store id inside a Store ID argument.
pub fn store_id(id: &ID, field: &str) -> AppResult<i32> {
    match NodeId::parse(id, field)? {
        NodeId::Store(v) => Ok(v),
        _ => Err(wrong_type(field, NodeType::Store)),
    }
}

/// The user id inside a User ID argument.
pub fn user_id(id: &ID, field: &str) -> AppResult<i32> {
    match NodeId::parse(id, field)? {
        NodeId::User(v) => Ok(v),
        _ => Err(wrong_type(field, NodeType::User)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::testing::bad_input;

    #[test]
    fn every_kind_of_id_decodes_to_the_node_it_was_encoded_from() {
        for node in [
            NodeId::Product(1),
            NodeId::Category(2),
            NodeId::Store(3),
            NodeId::Stock(4, 5),
            NodeId::InventoryTransaction(i64::from(i32::MAX) + 1),
            NodeId::User(6),
        ] {
            let id = node.encode();
            assert_eq!(NodeId::decode(&id), Some(node), "{}", id.as_str());
            assert_eq!(NodeId::parse(&id, "id").unwrap(), node);
        }
        assert_eq!(product_id(&NodeId::Product(7).encode(), "id").unwrap(), 7);
        assert_eq!(category_id(&NodeId::Category(8).encode(), "id").unwrap(), 8);
        assert_eq!(store_id(&NodeId::Store(9).encode(), "id").unwrap(), 9);
        assert_eq!(user_id(&NodeId::User(10).encode(), "id").unwrap(), 10);
    }

    #[test]
    fn an_id_is_opaque_base64url_of_its_type_and_key() {
        let id = NodeId::Stock(4, 5).encode();
        assert_eq!(id.as_str(), URL_SAFE_NO_PAD.encode("Stock:4:5"));
    }

    #[test]
    fn an_id_of_another_type_is_refused_naming_the_argument_and_the_type_wanted() {
        let store = NodeId::Store(3).encode();
        let (field, message) = bad_input(product_id(&store, "input.productId"));
        assert_eq!(field, "input.productId");
        assert_eq!(message, "`input.productId` must be the ID of a Product");
        let product = NodeId::Product(3).encode();
        let (_, message) = bad_input(store_id(&product, "input.storeId"));
        assert_eq!(message, "`input.storeId` must be the ID of a Store");
        let (_, message) = bad_input(category_id(&product, "input.categoryId"));
        assert_eq!(message, "`input.categoryId` must be the ID of a Category");
        let (_, message) = bad_input(user_id(&product, "userId"));
        assert_eq!(message, "`userId` must be the ID of a User");
    }

    #[test]
    fn a_garbage_id_is_refused_as_not_a_valid_id() {
        let ours = |raw: &str| URL_SAFE_NO_PAD.encode(raw);
        for garbage in [
            String::new(),
            "not an id!".into(),
            "UHJvZHVjdDox====".into(),
            ours("Product"),
            ours("Product:"),
            ours("Product:abc"),
            ours("Product:0"),
            ours("Product:-1"),
            ours("Product:99999999999"),
            ours("Stock:4"),
            ours("Stock:4:x"),
            ours("InventoryTransaction:0"),
            ours("Warehouse:1"),
            ours("product:1"),
            URL_SAFE_NO_PAD.encode([0xff, 0xfe, b':', b'1']),
        ] {
            assert_eq!(NodeId::decode(&garbage), None, "{garbage}");
            let (field, message) = bad_input(product_id(&ID(garbage.clone()), "id"));
            assert_eq!(field, "id");
            assert_eq!(message, "`id` is not a valid ID", "{garbage}");
        }
    }
}
