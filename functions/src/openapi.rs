//! The OpenAPI document of the real API, generated from the code.
//!
//! Every handler carries a `#[utoipa::path(...)]` annotation, and every area builds its
//! routes with `utoipa_axum::routes!` from those annotations: the same annotation
//! routes the request and documents it. The document served is split from the very
//! router that is mounted, so a route cannot exist undocumented, nor a documented path
//! unrouted. Schemas come from `shared`'s `openapi` feature (`utoipa::ToSchema` on the
//! request and response bodies).
//!
//! `GET /api/openapi.json` (public) serves it: from `vigil serve` (every area, and
//! `dev-login` when it is on) and from the identity function (every deployed
//! function's routes, never `dev-login`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::Extension;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shared::api::ErrorBody;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Response as ResponseDoc};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, ToResponse, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::http::AppState;
use crate::{alerts, devices, identity, ingest, notifications, plans, rbac, sensors, sites};

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/api/openapi.json";

/// Every area's routes with their document: as `vigil serve` mounts them, and (with
/// `dev_login` off) as the deployed functions serve them together.
pub fn routes(dev_login: bool) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(served_by("identity", identity::routes(dev_login)))
        .merge(served_by("rbac", rbac::routes()))
        .merge(served_by("plans", plans::routes()))
        .merge(served_by("sites", sites::routes()))
        .merge(served_by("sensors", sensors::routes()))
        .merge(served_by("alerts", alerts::routes()))
        .merge(served_by("devices", devices::routes()))
        .merge(served_by("ingest", ingest::routes()))
        .merge(served_by("notifications", notifications::routes()))
}

/// `routes`, each request run as the deployed function `binary` that serves them
/// (`store::access`): what `vigil serve` records of its table calls is per function.
fn served_by(binary: &'static str, routes: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    routes.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            crate::store::access::as_function(binary, next.run(request))
        },
    ))
}

/// The document of [`routes`] as it is served: JSON, with its links.
pub fn document(dev_login: bool) -> serde_json::Value {
    linked(&routes(dev_login).into_openapi())
}

/// `router`, answering `GET /api/openapi.json` (routed by the identity area) with
/// `document`, serialized once.
pub fn serving(router: Router<AppState>, document: &serde_json::Value) -> Router<AppState> {
    let json = serde_json::to_vec(document).expect("an OpenAPI document serializes to JSON");
    router.layer(Extension(Served(Bytes::from(json))))
}

/// `document` with an OpenAPI link from each create operation (`POST <collection>`
/// answering `201`) to every operation on the item it made (`<collection>/{param}...`),
/// passing the created id (`id`, or the `id` of the body's one object holding it, as a
/// sensor's onboarding answers) and the collection's own path parameters on. Clients
/// and stateful testers follow them from a resource to what can be done with it.
/// Derived from the paths, so a new item operation is linked without a word here.
///
/// Written into the JSON rather than through utoipa's `Link`, which (5.5) serializes
/// its `operationId` as `operation_id`.
pub fn linked(document: &Document) -> serde_json::Value {
    let mut json = serde_json::to_value(document).expect("the document is JSON");
    let operations = operations_by_path(&json);
    for (collection, method, _) in &operations {
        if method != "post" {
            continue;
        }
        let Some(id_pointer) = created_id(&json, collection) else {
            continue;
        };
        let prefix = format!("{collection}/{{");
        let mut links = serde_json::Map::new();
        for (path, _, operation_id) in &operations {
            let Some((param, _)) = path
                .strip_prefix(&prefix)
                .and_then(|rest| rest.split_once('}'))
            else {
                continue;
            };
            let mut parameters = serde_json::Map::new();
            parameters.insert(param.into(), format!("$response.body#{id_pointer}").into());
            for outer in path_parameters(collection) {
                parameters.insert(outer.into(), format!("$request.path.{outer}").into());
            }
            links.insert(
                operation_id.clone(),
                serde_json::json!({"operationId": operation_id, "parameters": parameters}),
            );
        }
        let created = json.pointer_mut(&format!(
            "/paths/{}/post/responses/201",
            pointer_escaped(collection)
        ));
        if let (Some(response), false) = (created, links.is_empty()) {
            response["links"] = links.into();
        }
    }
    json
}

/// `path` as one token of a JSON pointer.
fn pointer_escaped(path: &str) -> String {
    path.replace('~', "~0").replace('/', "~1")
}

/// `(path, method, operationId)` of every operation.
fn operations_by_path(json: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for (path, item) in json["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            if let Some(id) = operation["operationId"].as_str() {
                found.push((path.clone(), method.clone(), id.to_owned()));
            }
        }
    }
    found
}

/// The `{name}`s of a path template.
fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// Where the id of what `POST collection` created is in its `201` body (a JSON
/// pointer), when it has one.
fn created_id(json: &serde_json::Value, collection: &str) -> Option<String> {
    let schema = json.pointer(&format!(
        "/paths/{}/post/responses/201/content/application~1json/schema",
        pointer_escaped(collection)
    ))?;
    let resolve = |schema: &serde_json::Value| -> Option<serde_json::Value> {
        match schema["$ref"].as_str() {
            Some(reference) => json.pointer(reference.strip_prefix('#')?).cloned(),
            None => Some(schema.clone()),
        }
    };
    let body = resolve(schema)?;
    let properties = body["properties"].as_object()?;
    if properties.contains_key("id") {
        return Some("/id".into());
    }
    properties.iter().find_map(|(name, inner)| {
        let inner = resolve(inner)?;
        inner["properties"].get("id").map(|_| format!("/{name}/id"))
    })
}

/// The document as served: JSON bytes.
#[derive(Debug, Clone)]
pub struct Served(Bytes);

/// The OpenAPI document of this API.
///
/// Public documentation: no token needed. Generated from the handlers' own
/// annotations, so it lists exactly the routes this deployment serves.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "identity",
    security(()),
    responses(
        (status = 200, description = "The OpenAPI 3.1 document (this document)", body = serde_json::Value),
    )
)]
pub async fn openapi_json(Extension(Served(json)): Extension<Served>) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vigil API",
        description = "Vigil's HTTP API: a security console for OT/IoT sensor fleets. \
            Every error is `{\"error\": {\"code\", \"message\"}}`. Every collection `GET` \
            returns `{\"items\", \"next_cursor\"}` and takes `limit` (default 50, at most \
            500) and an opaque `cursor`. Every single resource `GET` returns a strong \
            `ETag`; `PATCH` and `DELETE` accept `If-Match` (`412` when stale). Order of \
            checks: 413, 401, 404, 403, 400, then 412 and 409.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&SecuritySchemes),
    security(("user_token" = [])),
    tags(
        (name = "identity", description = "Who the caller is, their subscriptions, and this document."),
        (name = "rbac", description = "Roles, role assignments, device groups, API tokens and the audit log."),
        (name = "plans", description = "Monitoring plans and the committed-device estimate."),
        (name = "sites", description = "Sites and their zones."),
        (name = "sensors", description = "Sensors: onboarding, activation files, TI pushes, downloads, export."),
        (name = "alerts", description = "Alerts raised by sensors (site-scoped)."),
        (name = "devices", description = "The device inventory (site-scoped)."),
        (name = "ingest", description = "What sensors send, with their own token."),
        (name = "notifications", description = "Webhook endpoints, notification rules and the delivery log."),
    ),
    components(
        schemas(ErrorBody),
        responses(Invalid, Unauthenticated, Forbidden, NotFound, Conflict, PreconditionFailed, TooLarge),
    ),
)]
struct ApiDoc;

/// The security scheme of users: `Authorization: Bearer <JWT>`.
pub const USER_TOKEN: &str = "user_token";
/// The security scheme of sensors: `Authorization: Bearer <the activation file's token>`.
pub const SENSOR_TOKEN: &str = "sensor_token";

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        let mut user = Http::new(HttpAuthScheme::Bearer);
        user.bearer_format = Some("JWT".into());
        user.description = Some(
            "A user's JWT (the OIDC provider's in the cloud; `POST /api/auth/dev-login` \
             in the local binary). The principal is its `email` claim."
                .into(),
        );
        components.add_security_scheme(USER_TOKEN, SecurityScheme::Http(user));
        let mut sensor = Http::new(HttpAuthScheme::Bearer);
        sensor.description = Some(
            "A sensor's token, from its activation file. Only `/api/ingest/*` takes it; \
             a user token is refused there."
                .into(),
        );
        components.add_security_scheme(SENSOR_TOKEN, SecurityScheme::Http(sensor));
    }
}

// ----- Parameters shared by many operations -----

/// The subscription in the path.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct InSubscription {
    /// The subscription's id.
    #[param(inline)]
    pub sub: shared::model::SubscriptionId,
}

/// `If-Match`, accepted by every `PATCH` and `DELETE`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatchHeader {
    /// The `ETag` last read (e.g. `"v3"`). When present and stale the answer is `412`
    /// and nothing changes; absent means whatever the resource is now.
    #[param(rename = "If-Match")]
    pub if_match: Option<String>,
}

/// The bytes of a downloaded file.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(pub Vec<u8>);

/// The bytes of an uploaded file: at least one. (An upper bound is answered `413`, which
/// JSON Schema cannot say of a body, so the operation's description states it.)
/// Written by hand: the derive takes no length on a newtype's `value_type`.
pub struct Upload;

impl utoipa::PartialSchema for Upload {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .min_length(Some(1))
            .into()
    }
}

impl ToSchema for Upload {}

// ----- The contract's error responses -----

/// `invalid`: malformed JSON, an unknown field or enum value, or a failed validation;
/// the message names the field.
#[derive(Debug, ToResponse)]
#[response(example = json!({"error": {"code": "invalid", "message": "display_name: must not be empty"}}))]
pub struct Invalid(pub ErrorBody);

/// `unauthenticated`: a missing, malformed, expired or wrongly signed token.
#[derive(Debug, ToResponse)]
#[response(example = json!({"error": {"code": "unauthenticated", "message": "authentication required"}}))]
pub struct Unauthenticated(pub ErrorBody);

/// `forbidden`: authenticated, but the permission matrix denies the action at that
/// scope.
#[derive(Debug, ToResponse)]
#[response(example = json!({"error": {"code": "forbidden", "message": "this needs view_sites_and_sensors"}}))]
pub struct Forbidden(pub ErrorBody);

/// `not_found`: no such resource, a subscription the caller holds no assignment in, or
/// a site-scoped resource at a site the caller cannot view.
#[derive(Debug, ToResponse)]
#[response(example = json!({"error": {"code": "not_found", "message": "no such site"}}))]
pub struct NotFound(pub ErrorBody);

/// `conflict`: a duplicate, an illegal state change, or removing the last
/// subscription Owner.
#[derive(Debug, ToResponse)]
#[response(example = json!({"error": {"code": "conflict", "message": "an alert cannot go from closed to new"}}))]
pub struct Conflict(pub ErrorBody);

/// `precondition_failed`: the `If-Match` version is stale; nothing changed.
#[derive(Debug, ToResponse)]
#[response(example = json!({"error": {"code": "precondition_failed", "message": "the resource has changed since it was read (If-Match is stale)"}}))]
pub struct PreconditionFailed(pub ErrorBody);

/// `too_large`: the body is over the limit of 1 MiB.
#[derive(Debug, ToResponse)]
#[response(example = json!({"error": {"code": "too_large", "message": "the request body is over the limit of 1048576 bytes (1 MiB)"}}))]
pub struct TooLarge(pub ErrorBody);

// ----- The error responses most operations share, as one entry each -----

/// The contract's error responses for `codes`, each a reference to its component.
fn errors(codes: &[(u16, &str)]) -> std::collections::BTreeMap<String, RefOr<ResponseDoc>> {
    codes
        .iter()
        .map(|(status, name)| {
            (
                status.to_string(),
                RefOr::Ref(Ref::from_response_name(*name)),
            )
        })
        .collect()
}

macro_rules! error_set {
    ($(#[$doc:meta])* $name:ident: $($status:literal => $response:ident),+) => {
        $(#[$doc])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<String, RefOr<ResponseDoc>> {
                errors(&[$(($status, stringify!($response))),+])
            }
        }
    };
}

error_set!(
    /// A read of one resource: `401`, `403`, `404`.
    ReadErrors: 401 => Unauthenticated, 403 => Forbidden, 404 => NotFound
);
error_set!(
    /// A list (its query string validated): `400`, `401`, `403`, `404`.
    ListErrors: 400 => Invalid, 401 => Unauthenticated, 403 => Forbidden, 404 => NotFound
);
error_set!(
    /// A write with a body: `400`, `401`, `403`, `404`, `409`, `413`.
    CreateErrors: 400 => Invalid, 401 => Unauthenticated, 403 => Forbidden, 404 => NotFound,
        409 => Conflict, 413 => TooLarge
);
error_set!(
    /// A change with a body and `If-Match`: `400`, `401`, `403`, `404`, `409`, `412`, `413`.
    UpdateErrors: 400 => Invalid, 401 => Unauthenticated, 403 => Forbidden, 404 => NotFound,
        409 => Conflict, 412 => PreconditionFailed, 413 => TooLarge
);
error_set!(
    /// A deletion with `If-Match`: `401`, `403`, `404`, `409`, `412`.
    DeleteErrors: 401 => Unauthenticated, 403 => Forbidden, 404 => NotFound,
        409 => Conflict, 412 => PreconditionFailed
);

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    /// `(method, path, operation)` of every operation of a document.
    fn operations(json: &Value) -> Vec<(String, String, Value)> {
        let mut found = Vec::new();
        for (path, item) in json["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                found.push((method.to_uppercase(), path.clone(), operation.clone()));
            }
        }
        found
    }

    fn parameters<'a>(operation: &'a Value, location: &str) -> Vec<&'a str> {
        operation["parameters"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|p| p["in"] == location)
            .map(|p| p["name"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn dev_login_is_documented_only_where_it_is_mounted() {
        let has_dev_login = |dev_login| {
            operations(&document(dev_login))
                .iter()
                .any(|(_, path, _)| path == "/api/auth/dev-login")
        };
        assert!(
            has_dev_login(true),
            "vigil serve with dev-login documents it"
        );
        assert!(
            !has_dev_login(false),
            "the deployed document must not list it"
        );
    }

    #[test]
    fn every_path_parameter_is_declared_and_every_declared_one_is_in_the_path() {
        for (method, path, operation) in operations(&document(true)) {
            let in_template: BTreeSet<&str> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            let declared: BTreeSet<&str> = parameters(&operation, "path").into_iter().collect();
            assert_eq!(in_template, declared, "{method} {path}");
        }
    }

    #[test]
    fn operations_have_unique_ids_a_tag_a_summary_and_an_error_for_a_bad_token() {
        let mut ids = BTreeSet::new();
        for (method, path, operation) in operations(&document(true)) {
            let id = operation["operationId"].as_str().unwrap().to_owned();
            assert!(
                ids.insert(id.clone()),
                "{method} {path}: operationId {id} is taken"
            );
            assert_eq!(
                operation["tags"].as_array().map(Vec::len),
                Some(1),
                "{method} {path}"
            );
            assert!(
                operation["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{method} {path} has no summary"
            );
            let public = operation["security"] == serde_json::json!([{}]);
            assert_eq!(
                operation["responses"].get("401").is_some(),
                !public,
                "{method} {path}: a call with a token can fail with 401, a public one cannot"
            );
        }
    }

    #[test]
    fn every_patch_and_delete_takes_if_match_and_every_single_get_answers_an_etag() {
        for (method, path, operation) in operations(&document(true)) {
            if method == "PATCH" || method == "DELETE" {
                assert_eq!(
                    parameters(&operation, "header"),
                    ["If-Match"],
                    "{method} {path}"
                );
            }
            let single = path.ends_with('}');
            if method == "GET" && single {
                assert!(
                    operation["responses"]["200"]["headers"]["ETag"].is_object(),
                    "GET {path} documents no ETag"
                );
            }
        }
    }

    #[test]
    fn a_create_operation_links_to_the_operations_on_what_it_created() {
        let document = document(false);
        let paths = &document["paths"];
        let site_links =
            &paths["/api/subscriptions/{sub}/sites"]["post"]["responses"]["201"]["links"];
        let on_a_site: Vec<&str> = ["get", "patch", "delete"]
            .iter()
            .map(|m| {
                paths["/api/subscriptions/{sub}/sites/{site}"][m]["operationId"]
                    .as_str()
                    .unwrap()
            })
            .collect();
        for operation_id in on_a_site {
            assert_eq!(
                site_links[operation_id]["parameters"],
                serde_json::json!({"site": "$response.body#/id", "sub": "$request.path.sub"}),
                "{operation_id}"
            );
        }
        // Onboarding answers the sensor beside its activation file.
        let sensor_links =
            &paths["/api/subscriptions/{sub}/sensors"]["post"]["responses"]["201"]["links"];
        let get_sensor = paths["/api/subscriptions/{sub}/sensors/{id}"]["get"]["operationId"]
            .as_str()
            .unwrap();
        assert_eq!(
            sensor_links[get_sensor]["parameters"]["id"],
            "$response.body#/sensor/id"
        );
        // Only what the created id addresses: not the collection's other operations.
        let export = paths["/api/subscriptions/{sub}/sensors/export.csv"]["get"]["operationId"]
            .as_str()
            .unwrap();
        assert!(sensor_links.get(export).is_none());
    }

    #[test]
    fn the_document_lists_itself_as_a_public_identity_route() {
        let document = linked(&identity::routes(false).into_openapi());
        let operation = &document["paths"][DOCUMENT_PATH]["get"];
        assert_eq!(operation["tags"], serde_json::json!(["identity"]));
        assert_eq!(operation["security"], serde_json::json!([{}]));
    }
}
