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
