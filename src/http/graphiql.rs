//! GraphiQL, served entirely from the binary (no CDN): it works with no internet.

use axum::{
    extract::Path,
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
};

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>stockroom · GraphiQL</title>
  <link rel="stylesheet" href="/graphiql/assets/graphiql.min.css">
  <style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
  <div id="graphiql">Loading…</div>
  <script src="/graphiql/assets/react.production.min.js"></script>
  <script src="/graphiql/assets/react-dom.production.min.js"></script>
  <script src="/graphiql/assets/graphiql.min.js"></script>
  <script>
    const wsScheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const fetcher = GraphiQL.createFetcher({
      url: location.origin + '/graphql',
      subscriptionUrl: wsScheme + '//' + location.host + '/graphql/ws',
    });
    ReactDOM.createRoot(document.getElementById('graphiql')).render(
      React.createElement(GraphiQL, {
        fetcher,
        defaultQuery: '{\n  products(first: 5) {\n    edges { node { sku name price } }\n  }\n}\n',
        headerEditorEnabled: true,
        shouldPersistHeaders: true,
      })
    );
  </script>
</body>
</html>
"#;

/// The GraphiQL page.
pub async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// The page as a response (for `GET /graphql` from a browser).
pub fn page_response() -> Response {
    Html(PAGE).into_response()
}

/// One of the bundled scripts or stylesheets.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, mime): (&'static [u8], &str) = match file.as_str() {
        "graphiql.min.js" => (include_bytes!("assets/graphiql.min.js"), "text/javascript"),
        "graphiql.min.css" => (include_bytes!("assets/graphiql.min.css"), "text/css"),
        "react.production.min.js" => (
            include_bytes!("assets/react.production.min.js"),
            "text/javascript",
        ),
        "react-dom.production.min.js" => (
            include_bytes!("assets/react-dom.production.min.js"),
            "text/javascript",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response()
}
