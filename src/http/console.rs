//! The `/console` page for store managers: a live low-stock table, product search and a
//! 30-day stock chart, read with the visitor's token. Served from the binary (sources in
//! `web/console/`, built into `assets/` by `web/build.mjs`); it works with no internet.

use std::collections::HashMap;

use axum::{
    extract::Path,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use super::bundled::{self, Bundle, Bundled, Caching};

/// The page and its assets, gzipped.
static FILES: Bundle = Bundle::new(|| {
    HashMap::from([
        (
            "console.html",
            Bundled::new(
                "text/html; charset=utf-8",
                include_bytes!("assets/console.html.gz"),
                Caching::Revalidate,
            ),
        ),
        (
            "console.js",
            Bundled::new(
                "text/javascript",
                include_bytes!("assets/console.js.gz"),
                Caching::Immutable,
            ),
        ),
        (
            "console.css",
            Bundled::new(
                "text/css",
                include_bytes!("assets/console.css.gz"),
                Caching::Immutable,
            ),
        ),
    ])
});

/// The console page.
pub async fn page(headers: HeaderMap) -> Response {
    bundled::serve(&FILES, "console.html", &headers)
}

/// The console's script or stylesheet.
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    if file.ends_with(".html") {
        return StatusCode::NOT_FOUND.into_response();
    }
    bundled::serve(&FILES, &file, &headers)
}
