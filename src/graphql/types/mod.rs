//! One file per GraphQL type. Wire types hold rows (or keys) and resolve relations through
//! the request's loaders.

pub mod adjust_stock_input;
pub mod adjust_stock_payload;
pub mod category;
pub mod create_category_input;
pub mod create_product_input;
pub mod create_store_input;
pub mod decimal;
pub mod enums;
pub mod filters;
pub mod movement_direction;
pub mod movement_line;
pub mod node;
pub mod product;
pub mod record_movements_input;
pub mod record_movements_payload;
pub mod set_reorder_point_input;
pub mod stock;
pub mod stock_change;
pub mod stock_movement_input;
pub mod stock_movement_payload;
pub mod store;
pub mod transaction;
pub mod transfer_stock_input;
pub mod transfer_stock_payload;
pub mod update_category_input;
pub mod update_product_input;
pub mod update_store_input;
pub mod user;
