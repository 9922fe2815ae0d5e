//! Streams one CSV file into PostgreSQL's COPY text format, a bounded chunk at a time, each
//! row written by an encoder: the staging one (the line each record starts on first, the
//! header being line 1) or the quick pass's (checked values, ids mapped).
//!
//! It runs on a blocking thread and hands chunks over a bounded channel, so memory stays flat
//! whatever the file size and parsing overlaps with the server's COPY work. One record is
//! held whole while it is parsed, so a record over [`MAX_RECORD_BYTES`] (typically an
//! unclosed quote that would swallow the rest of the file) is refused: the file reader stops
//! handing out bytes once the record in progress has grown past the limit, and the problem
//! names the line the record starts on and the column that grew too long.

use std::{
    cell::Cell,
    fs::File,
    io::{BufReader, Read, Seek, SeekFrom},
    path::Path,
    rc::Rc,
};

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
/// Largest CSV record (one row, all its fields and quoting).
pub const MAX_RECORD_BYTES: u64 = 1 << 20;
/// How far the buffers between the file and the CSV parser may have read ahead of it.
const READ_AHEAD: u64 = CHUNK_BYTES as u64 + (64 << 10);

/// How far into a file the reader has read, and where the record being parsed starts.
#[derive(Debug, Clone, Default)]
struct Reach {
    read: Rc<Cell<u64>>,
    record_start: Rc<Cell<u64>>,
    tripped: Rc<Cell<bool>>,
}

/// A file that refuses to hand out more bytes once the record in progress has certainly
/// grown past [`MAX_RECORD_BYTES`] (what the buffers may hold ahead of the parser aside).
struct Bounded {
    file: File,
    reach: Reach,
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let p = &self.reach;
        if p.read.get().saturating_sub(p.record_start.get()) > MAX_RECORD_BYTES + READ_AHEAD {
            p.tripped.set(true);
            return Err(std::io::Error::other("a CSV record is over the size limit"));
        }
        let n = self.file.read(buf)?;
        p.read.set(p.read.get() + n as u64);
        Ok(n)
    }
}

/// The file index of the field of the record starting at byte `start` that reaches past
/// [`MAX_RECORD_BYTES`] (read again, at most that many bytes).
fn overlong_field(path: &Path, start: u64) -> Option<usize> {
    let mut file = File::open(path).ok()?;
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(file.take(MAX_RECORD_BYTES));
    let mut record = csv::ByteRecord::new();
    reader.read_byte_record(&mut record).ok()?;
    record.len().checked_sub(1)
}

/// The problem of a record over the size limit, starting at `start` on `line`.
fn overlong(
    spec: &FileSpec,
    header: Option<&Header>,
    path: &Path,
    start: u64,
    line: u64,
) -> Problem {
    let reason = format!("is part of a record over {MAX_RECORD_BYTES} bytes (an unclosed quote?)");
    let column = overlong_field(path, start).and_then(|index| {
        let header = header?;
        let col = header.positions.iter().position(|p| *p == Some(index))?;
        Some(spec.columns[col].name)
    });
    match column {
        Some(column) => Problem::column(spec.file, line, column, reason),
        None => Problem::file(
            spec.file,
            line,
            format!("has a record over {MAX_RECORD_BYTES} bytes (an unclosed quote?)"),
        ),
    }
}

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
    let reach = Reach::default();
    let mut reader = csv_reader(file, &reach);
    let mut record = csv::ByteRecord::new();
    let read = reader.read_byte_record(&mut record);
    if reach.tripped.get() || reader.position().byte() > MAX_RECORD_BYTES {
        return Err(vec![overlong(spec, None, path, 0, 1)]);
    }
    match read {
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

fn csv_reader(file: File, reach: &Reach) -> csv::Reader<BufReader<Bounded>> {
    let file = Bounded {
        file,
        reach: reach.clone(),
    };
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
    let reach = Reach::default();
    let mut reader = csv_reader(file, &reach);
    let mut record = csv::ByteRecord::new();
    let mut buf = Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4);
    let mut problems = Vec::new();
    let mut rows = 0u64;
    let mut last_offset = 0u64;
    let mut first = true;
    loop {
        let start = reader.position().clone();
        reach.record_start.set(start.byte());
        let read = reader.read_byte_record(&mut record);
        if reach.tripped.get() || reader.position().byte() - start.byte() > MAX_RECORD_BYTES {
            problems.push(overlong(
                spec,
                Some(header),
                path,
                start.byte(),
                start.line(),
            ));
            break;
        }
        match read {
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
