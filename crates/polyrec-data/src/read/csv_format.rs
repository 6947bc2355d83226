//! RFC 4180 CSV into a [`RawTable`], with unbalanced quotes contained to their line.

use std::path::Path;

use super::RawTable;
use crate::{Result, RowError};

/// RFC 4180 CSV. A quoted field may span lines, but a record that does so must still have
/// the header's width, close every quote and span at most
/// [`crate::limits::MAX_QUOTED_LINES`] lines: otherwise it is an unbalanced quote, its
/// first line is rejected and reading starts again on the next line, so one stray `"`
/// never swallows the rows after it.
pub(super) fn parse_csv(bytes: &[u8], path: &Path) -> Result<RawTable> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut t = RawTable {
        file: path.to_path_buf(),
        ..Default::default()
    };
    let mut first = true;
    // Byte offset and line count where the current reader starts.
    let (mut start, mut base_line) = (0usize, 0usize);
    'restart: while let Some(rest) = bytes.get(start..) {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(false)
            .from_reader(rest);
        let mut rec = csv::ByteRecord::new();
        // Line ends counted in `rest` up to `scan_pos`.
        let (mut scan_pos, mut scan_line) = (0usize, 0usize);
        loop {
            let line = base_line + rdr.position().line() as usize;
            match rdr.read_byte_record(&mut rec) {
                Ok(false) => break 'restart,
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map_or(line, |p| base_line + p.line() as usize);
                    t.errors.push(RowError::new(
                        path,
                        line,
                        "",
                        "",
                        format!("malformed CSV: {e}"),
                    ));
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        break 'restart;
                    }
                    continue;
                }
            }
            // The record's first byte past the line ends before it, and its line counted
            // from the bytes (the csv crate's own count can lag a line after a CRLF).
            let end = (rdr.position().byte() as usize).min(rest.len());
            let mut rec_start = rec.position().map_or(0, |p| p.byte() as usize).min(end);
            while rest
                .get(rec_start)
                .is_some_and(|b| matches!(b, b'\r' | b'\n'))
                && rec_start < end
            {
                rec_start += 1;
            }
            scan_line +=
                memchr::memchr_iter(b'\n', rest.get(scan_pos..rec_start).unwrap_or_default())
                    .count();
            scan_pos = scan_pos.max(rec_start);
            let line = base_line + scan_line + 1;
            let raw = rest.get(rec_start..end).unwrap_or_default();
            if let Some(nl) = unbalanced_quote(raw, rec.len(), (!first).then_some(t.header.len())) {
                t.errors.push(RowError::new(
                    path,
                    line,
                    "",
                    String::from_utf8_lossy(raw.get(..nl).unwrap_or_default()),
                    "unbalanced quote: a quoted field opened on this line runs over the \
                     following lines and does not make a well-formed row; the line is \
                     rejected and reading goes on at the next line",
                ));
                start += rec_start + nl + 1;
                base_line = line;
                continue 'restart;
            }
            let line = line.max(1);
            if let Some(fields) = csv_fields(&mut t, path, line, &rec)
                && !accept_record(&mut t, path, &mut first, line, fields)
            {
                break 'restart;
            }
        }
    }
    Ok(t)
}

/// Takes one CSV record's fields: the first is the header, a row of another width is
/// rejected, the rest are pushed. `false` when reading must stop (a bound was reached).
fn accept_record(
    t: &mut RawTable,
    path: &Path,
    first: &mut bool,
    line: usize,
    fields: Vec<&str>,
) -> bool {
    if *first {
        t.header = fields.iter().map(|s| s.trim().to_string()).collect();
        *first = false;
    } else if fields.len() != t.header.len() {
        let w = t.header.len();
        let raw = fields.join(",");
        let found = fields.len();
        t.errors.push(RowError::new(
            path,
            line,
            "",
            raw,
            format!("expected {w} columns, found {found}"),
        ));
    } else if let Err(e) = t.push_row(line, fields.into_iter()) {
        t.errors.push(e);
        return false;
    }
    true
}

/// For a record that spans lines: the offset of its first newline when it is an unbalanced
/// quote (the wrong width, an odd number of `"`, or too many lines), else `None`.
fn unbalanced_quote(raw: &[u8], fields: usize, width: Option<usize>) -> Option<usize> {
    let body = raw.strip_suffix(b"\n").unwrap_or(raw);
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let first_nl = memchr::memchr(b'\n', body)?;
    let lines = memchr::memchr_iter(b'\n', body).count() + 1;
    let odd = memchr::memchr_iter(b'"', body).count() % 2 == 1;
    let bad = odd || width.is_some_and(|w| w != fields) || lines > crate::limits::MAX_QUOTED_LINES;
    bad.then_some(first_nl)
}

/// The fields of a CSV record as text, or `None` after recording the invalid UTF-8 one.
fn csv_fields<'r>(
    t: &mut RawTable,
    path: &Path,
    line: usize,
    rec: &'r csv::ByteRecord,
) -> Option<Vec<&'r str>> {
    let mut fields = Vec::with_capacity(rec.len());
    for (i, f) in rec.iter().enumerate() {
        match std::str::from_utf8(f) {
            Ok(s) => fields.push(s),
            Err(e) => {
                let field = t.header.get(i).cloned().unwrap_or_else(|| i.to_string());
                t.errors.push(RowError::new(
                    path,
                    line,
                    field,
                    String::from_utf8_lossy(f),
                    format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                ));
                return None;
            }
        }
    }
    Some(fields)
}
