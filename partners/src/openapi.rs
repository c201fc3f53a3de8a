//! `/openapi.json`: the OpenAPI 3.1 document of both APIs, generated from the handlers'
//! `#[utoipa::path]`s and the bodies' `ToSchema`s.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api;

/// The API's document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "landfall partner and operator API",
        description = "Subscriptions to arrival moments, shaped like CAMARA's subscription \
                       APIs (Device Roaming Status, Geofencing); errors are CAMARA's \
                       {status, code, message}."
    ),
    paths(
        api::create_subscription,
        api::list_subscriptions,
        api::get_subscription,
        api::delete_subscription,
        api::create_partner,
        api::list_partners,
        api::get_partner,
        api::update_partner,
        api::delete_partner,
        api::rotate_key,
        api::rotate_webhook_secret,
        api::delivery_status,
        api::dead_letters,
        api::redeliver,
        api::grant_consent,
        api::withdraw_consent,
        api::bulk_consents,
        api::add_opt_out,
        api::remove_opt_out,
        api::bulk_opt_outs,
    ),
    modifiers(&Security),
    tags(
        (name = "subscriptions", description = "The partner API (Authorization: Bearer <API key>)"),
        (name = "operator", description = "The operator API (Authorization: Bearer <operator key>)")
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        for name in ["bearer", "operator"] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// The document as JSON text.
pub fn document_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_string())
}
