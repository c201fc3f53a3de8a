//! The console's files, bundled from `console/` by the crate's build script and embedded
//! here: `/console/` (the page), `/console/console.js`, `/console/console.css`. The
//! country shapes (Natural Earth via world-atlas) are inside the script.

use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use crate::http::AppState;

const INDEX: &str = include_str!(concat!(env!("OUT_DIR"), "/console/index.html"));
const SCRIPT: &str = include_str!(concat!(env!("OUT_DIR"), "/console/console.js"));
const STYLE: &str = include_str!(concat!(env!("OUT_DIR"), "/console/console.css"));

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route(
            "/console/",
            get(|| async { file("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/console/console.js",
            get(|| async { file("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/console/console.css",
            get(|| async { file("text/css; charset=utf-8", STYLE) }),
        )
}

fn file(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:",
            ),
        ],
        body,
    )
        .into_response()
}
