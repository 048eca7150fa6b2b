//! OpenAPI schemas (the `openapi` feature) of the types whose JSON is not their Rust
//! shape: those serde reads and writes through another type (`try_from`/`into`), and
//! the strings whose parser takes only what a pattern matches.
//! Every other API type derives `utoipa::ToSchema` where it is declared.
//!
//! Without the feature these macros expand to nothing, so the wasm app pays nothing.

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

/// A type whose schema is `$schema` (a block giving the `RefOr<Schema>`), named after
/// the type.
macro_rules! named_schema {
    ($ty:ident, $schema:block) => {
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $schema
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $ty {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($ty))
            }
        }
    };
}

/// A type written as one JSON string that accepts exactly the strings matching
/// `$pattern` (an expression giving the ECMA-262 regular expression): the document
/// states the rule the type's parser applies, so a generated client sends nothing it
/// refuses.
macro_rules! pattern_schema {
    ($ty:ident, $pattern:expr) => {
        pattern_schema!($ty, $pattern, None::<String>);
    };
    ($ty:ident, $pattern:expr, $description:expr) => {
        pattern_schema!($ty, $pattern, $description, None);
    };
    ($ty:ident, $pattern:expr, $description:expr, $max_length:expr) => {
        named_schema!($ty, {
            utoipa::openapi::ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::Type::String)
                .pattern(Some($pattern))
                .description($description)
                .max_length($max_length)
                .into()
        });
    };
}

/// The document's schema of an `IpAddr`: IPv4 in dotted decimal, or IPv6 (compressed
/// or not, with an IPv4 tail as Rust writes mapped addresses).
#[cfg(feature = "openapi")]
pub(crate) struct IpAddress;

/// One IPv4 octet as Rust reads it: no leading zero.
#[cfg(feature = "openapi")]
const IPV4_OCTET: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";

/// An IPv4 address, unanchored.
#[cfg(feature = "openapi")]
pub(crate) fn ipv4_regex() -> String {
    format!(r"(?:{IPV4_OCTET}\.){{3}}{IPV4_OCTET}")
}

/// An IPv6 address, unanchored: the eight groups, each way of compressing a run of them
/// to `::`, and the forms with an IPv4 tail.
#[cfg(feature = "openapi")]
pub(crate) fn ipv6_regex() -> String {
    const H: &str = "[0-9A-Fa-f]{1,4}";
    let ipv4 = ipv4_regex();
    [
        format!("(?:{H}:){{7}}{H}"),
        format!("(?:{H}:){{1,7}}:"),
        format!("(?:{H}:){{1,6}}:{H}"),
        format!("(?:{H}:){{1,5}}(?::{H}){{1,2}}"),
        format!("(?:{H}:){{1,4}}(?::{H}){{1,3}}"),
        format!("(?:{H}:){{1,3}}(?::{H}){{1,4}}"),
        format!("(?:{H}:){{1,2}}(?::{H}){{1,5}}"),
        format!("{H}:(?::{H}){{1,6}}"),
        format!(":(?:(?::{H}){{1,7}}|:)"),
        format!("(?:{H}:){{6}}{ipv4}"),
        format!("::(?:[fF]{{4}}:)?{ipv4}"),
    ]
    .map(|form| format!("(?:{form})"))
    .join("|")
}

named_schema!(IpAddress, {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(format!("^(?:{}|{})$", ipv4_regex(), ipv6_regex())))
        .examples(["10.0.0.5"])
        .into()
});

#[cfg(all(test, feature = "openapi"))]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;

    fn ip_pattern() -> regex::Regex {
        regex::Regex::new(&format!("^(?:{}|{})$", ipv4_regex(), ipv6_regex())).unwrap()
    }

    proptest! {
        #[test]
        fn every_address_rust_writes_matches(v4 in any::<Ipv4Addr>(), v6 in any::<Ipv6Addr>()) {
            let pattern = ip_pattern();
            prop_assert!(pattern.is_match(&v4.to_string()), "{}", v4);
            prop_assert!(pattern.is_match(&v6.to_string()), "{}", v6);
            let mapped = v4.to_ipv6_mapped().to_string();
            prop_assert!(pattern.is_match(&mapped), "{}", mapped);
        }

        #[test]
        fn what_matches_is_an_address_rust_reads(raw in "[0-9a-fA-F:.]{0,40}") {
            if ip_pattern().is_match(&raw) {
                prop_assert!(raw.parse::<IpAddr>().is_ok(), "{}", raw);
            }
        }
    }
}
