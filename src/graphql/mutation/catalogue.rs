//! The catalogue half of `Mutation`: products, categories and stores.

use async_graphql::{Context, ID, MaybeUndefined, Object, Result};

use super::acting_user;
use crate::{
    db::models::{category as category_model, product as product_model, store as store_model},
    domain::{
        money::Price,
        role::Role,
        text::{Description, Name, Sku, StoreCode},
    },
    error::{AppError, Missing},
    graphql::{
        conn,
        fanout::Fanout,
        ids,
        types::{
            category::Category, create_category_input::CreateCategoryInput,
            create_product_input::CreateProductInput, create_store_input::CreateStoreInput,
            product::Product, store::Store, update_category_input::UpdateCategoryInput,
            update_product_input::UpdateProductInput, update_store_input::UpdateStoreInput,
        },
    },
};

/// The catalogue mutations.
#[derive(Default)]
pub struct CatalogueMutation;

/// Tells the fan-out numbers of the limits that categories or stores changed.
fn fanout_changed(ctx: &Context<'_>) {
    if let Some(fanout) = ctx.data_opt::<Fanout>() {
        fanout.changed();
    }
}

#[Object]
impl CatalogueMutation {
    /// Adds a product to the catalogue.
    async fn create_product(
        &self,
        ctx: &Context<'_>,
        input: CreateProductInput,
    ) -> Result<Option<Product>> {
        acting_user(ctx, Role::Manager)?;
        let sku = Sku::parse(&input.sku, "input.sku")?;
        let name = Name::parse(&input.name, "input.name")?;
        let description = Description::parse(
            input.description.as_deref().unwrap_or(""),
            "input.description",
        )?;
        let price = Price::parse(input.price.0, "input.price")?;
        let category_id = ids::category_id(&input.category_id, "input.categoryId")?;
        let mut conn = conn(ctx).await?;
        let row = product_model::create(&mut conn, &sku, &name, &description, &price, category_id)
            .await
            .map_err(|e| e.naming(&[(Missing::Category, "input.categoryId")], None))?;
        Ok(Some(Product(row)))
    }

    /// Changes a product's name, description, price or category.
    async fn update_product(
        &self,
        ctx: &Context<'_>,
        input: UpdateProductInput,
    ) -> Result<Option<Product>> {
        acting_user(ctx, Role::Manager)?;
        let id = ids::product_id(&input.id, "input.id")?;
        let changes = product_model::ProductChanges {
            name: input
                .name
                .as_deref()
                .map(|n| Name::parse(n, "input.name").map(Name::into_inner))
                .transpose()?,
            description: input
                .description
                .as_deref()
                .map(|d| Description::parse(d, "input.description").map(Description::into_inner))
                .transpose()?,
            price: input
                .price
                .map(|p| Price::parse(p.0, "input.price").map(|p| p.get().clone()))
                .transpose()?,
            category_id: input
                .category_id
                .as_ref()
                .map(|c| ids::category_id(c, "input.categoryId"))
                .transpose()?,
        };
        let mut conn = conn(ctx).await?;
        Ok(Some(Product(
            product_model::update(&mut conn, id, &changes)
                .await
                .map_err(|e| {
                    e.naming(
                        &[
                            (Missing::Product, "input.id"),
                            (Missing::Category, "input.categoryId"),
                        ],
                        None,
                    )
                })?,
        )))
    }

    /// Archived products keep their stock and history but leave default listings.
    async fn archive_product(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Product>> {
        acting_user(ctx, Role::Manager)?;
        let id = ids::product_id(&id, "id")?;
        let mut conn = conn(ctx).await?;
        let row = product_model::archive(&mut conn, id)
            .await
            .map_err(|e| e.naming(&[(Missing::Product, "id")], None))?;
        Ok(Some(Product(row)))
    }

    /// Adds a category (a root when no parent is given).
    async fn create_category(
        &self,
        ctx: &Context<'_>,
        input: CreateCategoryInput,
    ) -> Result<Option<Category>> {
        acting_user(ctx, Role::Manager)?;
        let name = Name::parse(&input.name, "input.name")?;
        let parent_id = input
            .parent_id
            .as_ref()
            .map(|p| ids::category_id(p, "input.parentId"))
            .transpose()?;
        let mut conn = conn(ctx).await?;
        let category = category_model::create(&mut conn, &name, parent_id)
            .await
            .map_err(|e| e.naming(&[(Missing::ParentCategory, "input.parentId")], None))?;
        fanout_changed(ctx);
        Ok(Some(Category(category)))
    }

    /// Renames or moves a category; it cannot become its own ancestor.
    async fn update_category(
        &self,
        ctx: &Context<'_>,
        input: UpdateCategoryInput,
    ) -> Result<Option<Category>> {
        acting_user(ctx, Role::Manager)?;
        let id = ids::category_id(&input.id, "input.id")?;
        let name = input
            .name
            .as_deref()
            .map(|n| Name::parse(n, "input.name"))
            .transpose()?;
        let parent = match &input.parent_id {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(p) => Some(Some(ids::category_id(p, "input.parentId")?)),
        };
        if parent == Some(Some(id)) {
            return Err(AppError::bad_input(
                "input.parentId",
                "a category cannot be its own parent",
            )
            .into());
        }
        let mut conn = conn(ctx).await?;
        let category = category_model::update(&mut conn, id, name.as_ref(), parent)
            .await
            .map_err(|e| {
                e.naming(
                    &[
                        (Missing::Category, "input.id"),
                        (Missing::ParentCategory, "input.parentId"),
                    ],
                    Some("input.parentId"),
                )
            })?;
        if parent.is_some() {
            fanout_changed(ctx);
        }
        Ok(Some(Category(category)))
    }

    /// Adds a store.
    async fn create_store(
        &self,
        ctx: &Context<'_>,
        input: CreateStoreInput,
    ) -> Result<Option<Store>> {
        acting_user(ctx, Role::Manager)?;
        let code = StoreCode::parse(&input.code, "input.code")?;
        let name = Name::parse(&input.name, "input.name")?;
        let mut conn = conn(ctx).await?;
        let store = store_model::create(&mut conn, &code, &name).await?;
        fanout_changed(ctx);
        Ok(Some(Store(store)))
    }

    /// Renames a store.
    async fn update_store(
        &self,
        ctx: &Context<'_>,
        input: UpdateStoreInput,
    ) -> Result<Option<Store>> {
        acting_user(ctx, Role::Manager)?;
        let id = ids::store_id(&input.id, "input.id")?;
        let name = input
            .name
            .as_deref()
            .map(|n| Name::parse(n, "input.name"))
            .transpose()?;
        let mut conn = conn(ctx).await?;
        Ok(Some(Store(
            store_model::update(&mut conn, id, name.as_ref())
                .await
                .map_err(|e| e.naming(&[(Missing::Store, "input.id")], None))?,
        )))
    }
}
