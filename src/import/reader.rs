//! Streams one CSV file into PostgreSQL's COPY text format, a bounded chunk at a time, each
//! row written by an encoder: the staging one (the line each record starts on first, the
//! header being line 1) or the quick pass's (checked values, ids mapped).
//!
//! It runs on a blocking thread and hands chunks over a bounded channel, so memory stays flat
//! whatever the file size and parsing overlaps with the server's COPY work.

use std::{fs::File, io::BufReader, path::Path};

use bytes::Bytes;
use indicatif::ProgressBar;
use tokio::sync::mpsc;

use super::{Problem, spec::FileSpec};

/// Bytes gathered before a chunk is handed to COPY.
const CHUNK_BYTES: usize = 1 << 20;
/// Columns of the widest file of the import format, at least.
const MAX_COLUMNS: usize = 16;
/// Structural problems collected before reading stops.
const MAX_PROBLEMS: usize = 100;

/// The header of a file: for each staging column of the spec, the field index in the file.
#[derive(Debug)]
pub struct Header {
    /// `positions[i]` is the field of spec column `i`, if the file has it.
    pub positions: Vec<Option<usize>>,
    /// Number of fields of the header row.
    pub width: usize,
}

/// Reads and checks the header row: every required column present, no unknown or repeated one.
pub fn read_header(spec: &FileSpec, path: &Path) -> Result<Header, Vec<Problem>> {
    let file = File::open(path)
        .map_err(|e| vec![Problem::file(spec.file, 1, format!("cannot be read: {e}"))])?;
    let mut reader = csv_reader(file);
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => {}
        Ok(false) => {
            return Err(vec![Problem::file(
                spec.file,
                1,
                "has no header row".into(),
            )]);
        }
        Err(e) => {
            return Err(vec![Problem::file(
                spec.file,
                1,
                format!("is not valid CSV: {e}"),
            )]);
        }
    }
    let mut problems = Vec::new();
    let mut positions = vec![None; spec.columns.len()];
    for (index, raw) in record.iter().enumerate() {
        let name = String::from_utf8_lossy(raw);
        let name = name.trim_start_matches('\u{feff}').trim();
        match spec.columns.iter().position(|c| c.name == name) {
            Some(col) if positions[col].is_some() => problems.push(Problem::column(
                spec.file,
                1,
                name,
                "appears twice in the header".into(),
            )),
            Some(col) => positions[col] = Some(index),
            None => problems.push(Problem::column(
                spec.file,
                1,
                name,
                format!(
                    "is not a column of {} (expected: {})",
                    spec.file,
                    spec.columns
                        .iter()
                        .map(|c| c.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
    for (col, position) in spec.columns.iter().zip(&positions) {
        if position.is_none() && col.header_required {
            problems.push(Problem::column(
                spec.file,
                1,
                col.name,
                "required column is missing from the header".into(),
            ));
        }
    }
    if problems.is_empty() {
        Ok(Header {
            positions,
            width: record.len(),
        })
    } else {
        Err(problems)
    }
}

fn csv_reader(file: File) -> csv::Reader<BufReader<File>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(BufReader::with_capacity(CHUNK_BYTES, file))
}

/// Why reading stopped before the end of a file.
#[derive(Debug)]
pub enum Stop {
    /// Structural problems (bad CSV, wrong field count, invalid UTF-8): the import is refused.
    Problems(Vec<Problem>),
    /// The row encoder declined a row: the caller goes the careful way instead.
    Declined,
}

/// Writes one row in COPY text format (ending with a newline): gets the line the record starts
/// on and the fields in the spec's column order (`None` when empty or not in the file);
/// returns false to decline the row (reading stops with [`Stop::Declined`]).
pub type Encoder = dyn FnMut(u64, &[Option<&[u8]>], &mut Vec<u8>) -> bool + Send;

/// The staging encoder: `line \t field \t …` for every column of the spec, empty fields
/// (and columns the file leaves out) as `\N`.
pub fn stage_row(line: u64, fields: &[Option<&[u8]>], buf: &mut Vec<u8>) -> bool {
    buf.extend_from_slice(line.to_string().as_bytes());
    for field in fields {
        buf.push(b'\t');
        match field {
            Some(field) => escape_into(buf, field),
            None => buf.extend_from_slice(b"\\N"),
        }
    }
    buf.push(b'\n');
    true
}

/// Reads the data rows of `path` and sends them as COPY text chunks written by `encode`.
/// Returns the number of rows, or why it stopped — in which case the caller must not commit.
pub fn stream(
    path: &Path,
    spec: &FileSpec,
    header: &Header,
    tx: &mpsc::Sender<Bytes>,
    progress: &ProgressBar,
    encode: &mut Encoder,
) -> Result<u64, Stop> {
    let file = File::open(path).map_err(|e| {
        Stop::Problems(vec![Problem::file(
            spec.file,
            1,
            format!("cannot be read: {e}"),
        )])
    })?;
    let mut reader = csv_reader(file);
    let mut record = csv::ByteRecord::new();
    let mut buf = Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4);
    let mut problems = Vec::new();
    let mut rows = 0u64;
    let mut last_offset = 0u64;
    let mut first = true;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                problems.push(Problem::file(
                    spec.file,
                    line,
                    format!("is not valid CSV: {e}"),
                ));
                break;
            }
        }
        let line = record.position().map_or(0, csv::Position::line);
        if first {
            first = false;
            continue;
        }
        if record.len() == 1 && record.get(0).is_some_and(<[u8]>::is_empty) {
            continue; // a blank line
        }
        if record.len() != header.width {
            problems.push(Problem::file(
                spec.file,
                line,
                format!(
                    "has {} fields where the header has {}",
                    record.len(),
                    header.width
                ),
            ));
        } else if std::str::from_utf8(record.as_slice()).is_err() {
            problems.push(Problem::file(spec.file, line, "is not valid UTF-8".into()));
        } else if record.as_slice().contains(&0) {
            problems.push(Problem::file(spec.file, line, "contains a NUL byte".into()));
        }
        if !problems.is_empty() {
            if problems.len() >= MAX_PROBLEMS {
                break;
            }
            continue;
        }
        rows += 1;
        let mut fields: [Option<&[u8]>; MAX_COLUMNS] = [None; MAX_COLUMNS];
        for (field, position) in fields.iter_mut().zip(&header.positions) {
            *field = position
                .and_then(|index| record.get(index))
                .filter(|field| !field.is_empty());
        }
        if !encode(line, &fields[..header.positions.len()], &mut buf) {
            return Err(Stop::Declined);
        }
        if buf.len() >= CHUNK_BYTES {
            let offset = reader.position().byte();
            progress.inc(offset - last_offset);
            last_offset = offset;
            let chunk = Bytes::from(std::mem::replace(
                &mut buf,
                Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4),
            ));
            if tx.blocking_send(chunk).is_err() {
                return Ok(rows); // the receiver failed; it reports why
            }
        }
    }
    if !problems.is_empty() {
        return Err(Stop::Problems(problems));
    }
    progress.inc(reader.position().byte().saturating_sub(last_offset));
    if !buf.is_empty() {
        let _ = tx.blocking_send(Bytes::from(buf));
    }
    Ok(rows)
}

/// COPY text format escaping of one field.
pub fn escape_into(buf: &mut Vec<u8>, field: &[u8]) {
    if !field
        .iter()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
    {
        buf.extend_from_slice(field);
        return;
    }
    for &b in field {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\r' => buf.extend_from_slice(b"\\r"),
            other => buf.push(other),
        }
    }
}
