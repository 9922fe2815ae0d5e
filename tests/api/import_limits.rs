//! `stockroom import` keeps its memory flat: one CSV record larger than 1 MiB (an unclosed
//! quote near the top of a large file would make the CSV reader buffer the rest of the file
//! as one field) is refused with file, line and column.

use std::{io::Write, process::Stdio, time::Duration};

use crate::helpers::{BIN, TempDir, fresh_database};

/// The peak resident memory (VmHWM) of a process, in KiB, read from /proc.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Imports a directory whose products.csv opens a quote on line 3 that never closes, followed
/// by `filler` bytes of ordinary rows; answers whether it succeeded, its stderr and its peak
/// resident memory in KiB.
async fn import_unclosed_quote(db_url: &str, filler: usize) -> (bool, String, u64) {
    let dir = TempDir::new("import-huge-record");
    std::fs::write(
        dir.0.join("categories.csv"),
        "id,parent_id,name\n1,,Tools\n",
    )
    .unwrap();
    let mut products =
        std::io::BufWriter::new(std::fs::File::create(dir.0.join("products.csv")).unwrap());
    products
        .write_all(b"id,sku,name,description,price,category_id\n1,P-1,Hammer,,1.00,1\n")
        .unwrap();
    products
        .write_all(b"2,P-2,Saw,\"an unclosed quote,2.00,1\n")
        .unwrap();
    let row = format!("{:<100}\n", "3,P-3,Filler,some text,3.00,1");
    for _ in 0..filler / row.len() {
        products.write_all(row.as_bytes()).unwrap();
    }
    products.flush().unwrap();
    drop(products);

    let mut child = tokio::process::Command::new(BIN)
        .arg("import")
        .arg(&dir.0)
        .env("DATABASE_URL", db_url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let drain = tokio::spawn(async move {
        let mut text = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text)
            .await
            .unwrap();
        text
    });
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        peak = peak.max(peak_kib(pid).unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    (status.success(), drain.await.unwrap(), peak)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_over_one_mebibyte_is_refused_with_file_line_and_column_in_flat_memory() {
    let db_url = fresh_database().await;
    // The same refusal with 2 MiB after the quote: what the process needs anyway (the
    // binary's pages, the runtime, the database client), about 45 MiB for a debug build.
    let (_, _, baseline) = import_unclosed_quote(&db_url, 2 << 20).await;
    let (success, stderr, peak) = import_unclosed_quote(&db_url, 96 << 20).await;
    assert!(!success, "refused");
    assert!(
        stderr.contains("products.csv line 3, column description"),
        "names file, line and column:\n{stderr}"
    );
    // Buffering the record would take the 96 MiB that follow the quote; reading it in
    // bounded pieces takes a few MiB more than the small file at most.
    assert!(
        peak < baseline + 16 * 1024,
        "peak memory {peak} KiB for a 96 MiB file against {baseline} KiB for 2 MiB: \
         the record was buffered"
    );
}
