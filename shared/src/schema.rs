//! OpenAPI schemas (the `openapi` feature) of the types whose JSON is not their Rust
//! shape: those serde reads and writes through another type (`try_from`/`into`).
//! Every other API type derives `utoipa::ToSchema` where it is declared.
//!
//! Without the feature these macros expand to nothing, so the wasm app pays nothing.

/// A type written as one JSON string (an enum or struct that serde converts through
/// `String`): the schema names it, says it is a string and what it holds.
macro_rules! string_schema {
    ($ty:ty, $name:literal, $description:expr) => {
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some($description))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $ty {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($name)
            }
        }
    };
}

/// A type serde reads and writes as `$shape` (`#[serde(try_from, into)]`): its schema
/// is `$shape`'s, under the public type's name.
macro_rules! schema_as {
    ($ty:ty => $shape:ty, $name:literal) => {
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                <$shape as utoipa::PartialSchema>::schema()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $ty {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($name)
            }

            fn schemas(
                schemas: &mut Vec<(
                    String,
                    utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
                )>,
            ) {
                <$shape as utoipa::ToSchema>::schemas(schemas);
            }
        }
    };
}
