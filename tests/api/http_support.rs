//! Helpers of the HTTP, limits and auth tests: raw requests with chosen headers, and a server
//! whose database cannot be reached (any SQL it tried would answer SERVICE_UNAVAILABLE, so a
//! refusal with another code proves nothing ran).

use serde_json::Value;
use stockroom::config::ServeSettings;

use crate::helpers::TestApp;

/// A URL on which no PostgreSQL listens.
pub const DEAD_DATABASE: &str = "postgres://postgres@127.0.0.1:9/nothing";

/// An HTTP answer: status, headers and body as JSON (Null when it is not JSON).
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `extensions.code` of the first error.
    pub fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }
}

async fn answer(res: reqwest::Response) -> Answer {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}

/// POSTs `body` as-is with these headers to `/graphql`.
pub async fn post_raw(
    app: &TestApp,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> Answer {
    let mut req = app.client.post(format!("{}/graphql", app.base)).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    answer(req.send().await.unwrap()).await
}

/// POSTs a JSON value (application/json), optionally with a token and an Accept header.
pub async fn post_json(
    app: &TestApp,
    token: Option<&str>,
    accept: Option<&str>,
    body: &Value,
) -> Answer {
    let mut headers = vec![("content-type", "application/json")];
    let auth;
    if let Some(token) = token {
        auth = format!("Bearer {token}");
        headers.push(("authorization", auth.as_str()));
    }
    if let Some(accept) = accept {
        headers.push(("accept", accept));
    }
    post_raw(app, &headers, body.to_string()).await
}

/// GETs `/graphql` with these query-string parameters and headers.
pub async fn get_graphql(
    app: &TestApp,
    params: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = app
        .client
        .get(format!("{}/graphql", app.base))
        .query(params);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    answer(req.send().await.unwrap()).await
}

/// A server with public reads on, over a database that cannot be reached.
pub async fn app_without_database() -> TestApp {
    let settings = ServeSettings {
        public_read: true,
        ..ServeSettings::default()
    };
    TestApp::spawn_on(DEAD_DATABASE, settings).await
}

/// A server with public reads on (over a real database).
pub async fn app_with_public_read() -> TestApp {
    TestApp::spawn_with(ServeSettings {
        public_read: true,
        ..ServeSettings::default()
    })
    .await
}
