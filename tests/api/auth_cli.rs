//! `stockroom user …` and `stockroom token …` end to end: the binary on the test's database,
//! the tokens it prints used over HTTP, revocation effective on the next request.

use serde_json::json;

use crate::helpers::{BIN, Served, TestApp, error_code, post_graphql};

/// Runs the binary with `args` and these environment variables (`None` removes one).
async fn run(args: &[&str], envs: &[(&str, Option<&std::ffi::OsStr>)]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args);
    for (key, value) in envs {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    cmd.output().await.unwrap()
}

/// The stdout of a run that succeeded (panics with its stderr otherwise).
fn succeeded(out: std::process::Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "stockroom {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs the binary on the app's database; returns stdout (panics on failure).
pub(crate) async fn stockroom(app: &TestApp, args: &[&str]) -> String {
    let out = run(args, &[("DATABASE_URL", Some(app.db_url.as_ref()))]).await;
    succeeded(out, args)
}

/// Runs the binary expecting failure; returns stderr.
async fn stockroom_fails(app: &TestApp, args: &[&str]) -> String {
    let out = run(args, &[("DATABASE_URL", Some(app.db_url.as_ref()))]).await;
    assert!(!out.status.success(), "stockroom {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

fn last_line(out: &str) -> &str {
    out.lines().last().unwrap().trim()
}

#[tokio::test]
async fn user_create_prints_a_working_token_with_its_role_and_stores() {
    let app = TestApp::spawn().await;
    app.seed_demo().await;
    let stores = app
        .graphql_as(
            &app.admin_token().await,
            "{ stores(first: 2) { nodes { code } } }",
            json!({}),
        )
        .await;
    let code = stores["data"]["stores"]["nodes"][0]["code"]
        .as_str()
        .unwrap()
        .to_string();
    let out = stockroom(
        &app,
        &[
            "user",
            "create",
            "clerk",
            "--role",
            "staff",
            "--display-name",
            "A Clerk",
            "--store",
            &code,
        ],
    )
    .await;
    let token = last_line(&out);
    assert!(token.starts_with("sr_"), "{out}");
    let body = app
        .graphql_as(
            token,
            "{ viewer { username displayName role stores { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["viewer"],
        json!({ "username": "clerk", "displayName": "A Clerk", "role": "STAFF",
                "stores": [{ "code": code }] })
    );
    let list = stockroom(&app, &["user", "list"]).await;
    assert!(
        list.lines().any(|l| l.starts_with("clerk\tSTAFF")),
        "{list}"
    );

    let err = stockroom_fails(&app, &["user", "create", "clerk", "--role", "viewer"]).await;
    assert!(err.contains("taken"), "{err}");
    let err = stockroom_fails(&app, &["user", "create", "x", "--role", "boss"]).await;
    assert!(err.contains("role"), "{err}");
    let err = stockroom_fails(
        &app,
        &["user", "create", "y", "--role", "staff", "--store", "NOPE"],
    )
    .await;
    assert!(err.contains("NOPE"), "{err}");
}

#[tokio::test]
async fn tokens_are_created_listed_and_revoked_by_id_or_by_token() {
    let app = TestApp::spawn().await;
    let first = stockroom(&app, &["user", "create", "ann", "--role", "viewer"]).await;
    let first = last_line(&first).to_string();
    let second = stockroom(&app, &["token", "create", "ann"]).await;
    let second = last_line(&second).to_string();
    assert_ne!(first, second);
    for token in [&first, &second] {
        let body = app
            .graphql_as(token, "{ viewer { username } }", json!({}))
            .await;
        assert_eq!(body["data"]["viewer"]["username"], "ann");
    }

    let list = stockroom(&app, &["token", "list", "ann"]).await;
    let rows: Vec<Vec<&str>> = list
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{list}");
    assert!(
        rows.iter()
            .all(|r| r.len() == 4 && r[2] != "-" && r[3] == "-"),
        "{list}"
    );
    // The database holds only hashes.
    let client = crate::helpers::sql(&app.db_url).await;
    let stored: Vec<Vec<u8>> = client
        .query("SELECT token_hash FROM api_tokens", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        stored
            .iter()
            .all(|h| h.len() == 32 && !h.windows(3).any(|w| w == b"sr_")),
        "stored hashes (failed once in session 15, unexplained: shown to diagnose it): {stored:02x?}"
    );

    // Revoke the first by id, the second by the token itself.
    let first_id = rows[0][0];
    stockroom(&app, &["token", "revoke", first_id]).await;
    let body = app
        .graphql_as(&first, "{ viewer { username } }", json!({}))
        .await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));
    let body = app
        .graphql_as(&second, "{ viewer { username } }", json!({}))
        .await;
    assert_eq!(body["data"]["viewer"]["username"], "ann");
    stockroom(&app, &["token", "revoke", &second]).await;
    let body = app
        .graphql_as(&second, "{ viewer { username } }", json!({}))
        .await;
    assert_eq!(error_code(&body), Some("UNAUTHENTICATED"));

    let list = stockroom(&app, &["token", "list", "ann"]).await;
    assert!(list.lines().skip(1).all(|l| !l.ends_with("\t-")), "{list}");
    let err = stockroom_fails(&app, &["token", "revoke", "sr_unknown"]).await;
    assert!(err.contains("no such token"), "{err}");
    let err = stockroom_fails(&app, &["token", "create", "nobody"]).await;
    assert!(err.contains("nobody"), "{err}");
}

#[tokio::test]
async fn user_create_works_on_the_embedded_default_while_serve_holds_the_data_directory() {
    let dir = crate::helpers::TempDir::new("cli-embedded");
    let serve = Served::embedded(&dir.0).await;
    let base = serve.base.clone();

    let args = ["user", "create", "late", "--role", "viewer"];
    let envs = [
        ("DATABASE_URL", None),
        ("STOCKROOM_DATA_DIR", Some(dir.0.as_os_str())),
    ];
    let stdout = succeeded(run(&args, &envs).await, &args);
    let token = last_line(&stdout);
    let body = post_graphql(&base, token, "{ viewer { username } }", json!({})).await;
    assert_eq!(body["data"]["viewer"]["username"], "late", "{body}");

    // Stop serve gracefully so it stops its PostgreSQL before the directory goes.
    assert!(serve.terminate().await.success());
}
