//! /graphiql and /console in a real browser: headless Chromium (`/usr/bin/chromium`, installed
//! by .ci/setup) driven by playwright-core from tests/browser, against the real server seeded
//! with the demo catalogue. Also the bundled files' compression, ETag and cache headers.

use std::{path::PathBuf, process::Stdio};

use stockroom::{db, domain::role::Role};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::Command,
};

use crate::helpers::TestApp;

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

#[tokio::test]
async fn graphiql_and_the_console_work_in_headless_chromium() {
    let dir = browser_dir();
    crate::helpers::npm_packages(&dir, "playwright-core", "the browser tests").await;
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: run `bash .ci/setup`"
    );
    let app = TestApp::spawn().await;
    let admin = app.seed_demo().await;
    let viewer = app.user_token("console-viewer", Role::Viewer, &[]).await;

    let mut cmd = Command::new("node");
    cmd.arg("check.mjs")
        .current_dir(&dir)
        .env("STOCKROOM_BASE", &app.base)
        .env("STOCKROOM_ADMIN_TOKEN", &admin)
        .env("STOCKROOM_VIEWER_TOKEN", &viewer)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // `STOCKROOM_SCREENSHOTS=docs cargo test --test api browser` refreshes the README's images.
    if let Ok(shots) = std::env::var("STOCKROOM_SCREENSHOTS") {
        cmd.env(
            "STOCKROOM_SCREENSHOTS",
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(shots),
        );
    }
    let mut child = cmd.spawn().expect("node runs the browser checks");
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let stderr = child.stderr.take().expect("piped stderr");
    let stderr_task = tokio::spawn(async move {
        let mut text = String::new();
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });

    let mut report = String::new();
    let run = async {
        while let Some(line) = stdout.next_line().await.expect("read the checks' output") {
            if line == "REVOKE" {
                // The console is open with the VIEWER token: revoke it, as `token revoke` does.
                let mut conn = app.pool.get().await.unwrap();
                let token = db::models::token::find(&mut conn, &viewer)
                    .await
                    .unwrap()
                    .expect("the viewer's token");
                db::models::token::revoke(&mut conn, token.id)
                    .await
                    .unwrap();
                stdin.write_all(b"revoked\n").await.unwrap();
                stdin.flush().await.unwrap();
            }
            println!("{line}");
            report.push_str(&line);
            report.push('\n');
        }
        child.wait().await.expect("node exits")
    };
    let status = tokio::time::timeout(std::time::Duration::from_secs(180), run)
        .await
        .expect("the browser checks finish within 3 minutes");
    let errors = stderr_task.await.unwrap();
    assert!(
        status.success(),
        "a browser check failed:\n{report}\n{errors}"
    );
}

#[tokio::test]
async fn bundled_files_are_sent_gzipped_with_an_etag_and_cache_headers() {
    let app = TestApp::spawn().await;
    for (path, cache) in [
        ("/console", "no-cache"),
        ("/graphiql", "no-cache"),
        ("/graphiql/assets/graphiql.min.js", "immutable"),
        ("/console/assets/console.js", "immutable"),
    ] {
        let res = app
            .client
            .get(format!("{}{path}", app.base))
            .header("Accept-Encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let headers = res.headers().clone();
        assert_eq!(headers["content-encoding"], "gzip", "{path}");
        assert!(
            headers["cache-control"].to_str().unwrap().contains(cache),
            "{path}"
        );
        let etag = headers["etag"].to_str().unwrap().to_string();
        let again = app
            .client
            .get(format!("{}{path}", app.base))
            .header("Accept-Encoding", "gzip")
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        // A client that takes no gzip gets the same file unzipped, under another ETag.
        let plain = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(plain.status(), 200);
        assert!(plain.headers().get("content-encoding").is_none());
        assert_ne!(plain.headers()["etag"].to_str().unwrap(), etag);
        let body = plain.text().await.unwrap();
        assert!(!body.is_empty(), "{path}");
    }
    let (status, page) = app.get("/console").await;
    assert_eq!(status, 200);
    assert!(page.contains("/console/assets/console.js?v="), "{page}");
    let (status, _) = app.get("/console/assets/console.html").await;
    assert_eq!(status, 404);
    let (status, _) = app.get("/graphiql/assets/nothing.js").await;
    assert_eq!(status, 404);
}
