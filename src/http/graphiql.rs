//! GraphiQL with the Explorer plugin, served entirely from the binary (no CDN): it works with
//! no internet. Example tabs, the pre-filled `Authorization` header and the fetcher live in
//! `web/graphiql/` (built into `assets/` by `web/build.mjs`).

use std::collections::HashMap;

use axum::{
    extract::Path,
    http::HeaderMap,
    response::{IntoResponse, Response},
};

use super::bundled::{self, Bundle, Bundled, Caching};

/// The page and its assets, gzipped.
static FILES: Bundle = Bundle::new(|| {
    use Caching::Immutable;
    HashMap::from([
        (
            "graphiql.html",
            Bundled::new(
                "text/html; charset=utf-8",
                include_bytes!("assets/graphiql.html.gz"),
                Caching::Revalidate,
            ),
        ),
        (
            "graphiql.min.js",
            Bundled::new(
                "text/javascript",
                include_bytes!("assets/graphiql.min.js.gz"),
                Immutable,
            ),
        ),
        (
            "graphiql.min.css",
            Bundled::new(
                "text/css",
                include_bytes!("assets/graphiql.min.css.gz"),
                Immutable,
            ),
        ),
        (
            "react.production.min.js",
            Bundled::new(
                "text/javascript",
                include_bytes!("assets/react.production.min.js.gz"),
                Immutable,
            ),
        ),
        (
            "react-dom.production.min.js",
            Bundled::new(
                "text/javascript",
                include_bytes!("assets/react-dom.production.min.js.gz"),
                Immutable,
            ),
        ),
        (
            "plugin-explorer.umd.js",
            Bundled::new(
                "text/javascript",
                include_bytes!("assets/plugin-explorer.umd.js.gz"),
                Immutable,
            ),
        ),
        (
            "plugin-explorer.css",
            Bundled::new(
                "text/css",
                include_bytes!("assets/plugin-explorer.css.gz"),
                Immutable,
            ),
        ),
        (
            "graphiql-setup.js",
            Bundled::new(
                "text/javascript",
                include_bytes!("assets/graphiql-setup.js.gz"),
                Immutable,
            ),
        ),
    ])
});

/// The GraphiQL page.
pub async fn page(headers: HeaderMap) -> Response {
    page_response(&headers)
}

/// The page as a response (also for `GET /graphql` from a browser).
pub fn page_response(request: &HeaderMap) -> Response {
    bundled::serve(&FILES, "graphiql.html", request)
}

/// One of the bundled scripts or stylesheets (not the page itself).
pub async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    if file.ends_with(".html") {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    bundled::serve(&FILES, &file, &headers)
}
