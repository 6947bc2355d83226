//! Readers for every supported format. Each produces a [`RawTable`]: a header and rows of
//! text cells with their line numbers, plus the structural errors found on the way (wrong
//! column count, invalid UTF-8, malformed JSON). Semantic checks happen in `dataset`.

use std::path::{Path, PathBuf};

use crate::spec::Format;
use crate::{Error, Result, RowError};

mod csv_format;

/// A table of text cells read from one file.
#[derive(Debug, Default)]
pub struct RawTable {
    /// The file it was read from.
    pub file: PathBuf,
    /// Column names (RecBole `name:type` headers are reduced to `name`).
    pub header: Vec<String>,
    buf: String,
    cells: Vec<(u32, u32)>,
    lines: Vec<usize>,
    /// Rows rejected while reading (structure, encoding).
    pub errors: Vec<RowError>,
}

impl RawTable {
    /// Number of well-formed rows.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there are no well-formed rows.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The line number of row `r`.
    pub fn line(&self, r: usize) -> usize {
        self.lines[r]
    }

    /// Cell `c` of row `r`.
    pub fn cell(&self, r: usize, c: usize) -> &str {
        let (s, e) = self.cells[r * self.header.len() + c];
        &self.buf[s as usize..e as usize]
    }

    /// All cells of row `r`, in header order.
    pub fn row(&self, r: usize) -> Vec<&str> {
        (0..self.header.len()).map(|c| self.cell(r, c)).collect()
    }

    /// [`RawTable::row`] into a buffer the caller reuses across rows (no allocation per row).
    pub fn row_into<'t>(&'t self, r: usize, out: &mut Vec<&'t str>) {
        out.clear();
        out.extend((0..self.header.len()).map(|c| self.cell(r, c)));
    }

    /// Rows read plus rows rejected while reading.
    pub fn total_rows(&self) -> usize {
        self.lines.len() + self.errors.len()
    }

    /// Appends a row; an error once the table's text would pass the 32-bit offsets of its
    /// cells (the table is left as it was).
    fn push_row<'a>(
        &mut self,
        line: usize,
        fields: impl Iterator<Item = &'a str>,
    ) -> std::result::Result<(), RowError> {
        let (buf_len, cells_len) = (self.buf.len(), self.cells.len());
        for f in fields {
            let Some((s, e)) = self.offsets(f) else {
                self.buf.truncate(buf_len);
                self.cells.truncate(cells_len);
                return Err(RowError::new(
                    &self.file,
                    line,
                    "",
                    "",
                    "the table's text passes 4 GiB, the bound for one input",
                ));
            };
            self.buf.push_str(f);
            self.cells.push((s, e));
        }
        self.lines.push(line);
        Ok(())
    }

    /// The offsets `f` would take at the end of the buffer, when they fit in 32 bits.
    fn offsets(&self, f: &str) -> Option<(u32, u32)> {
        let s = u32::try_from(self.buf.len()).ok()?;
        let e = u32::try_from(self.buf.len() + f.len()).ok()?;
        Some((s, e))
    }

    /// Pushes the fields as a row when there are exactly `width` of them; otherwise leaves
    /// the table as it was and returns the count found. One pass over the line. With
    /// `whole`, the fields are slices of that text, which becomes the table's text once
    /// every row is in ([`parse_delimited_owned`]): the cells then point into it and
    /// nothing is copied.
    fn push_row_of_width<'a>(
        &mut self,
        line: usize,
        width: usize,
        fields: impl Iterator<Item = &'a str>,
        whole: Option<&str>,
    ) -> std::result::Result<(), usize> {
        let (buf_len, cells_len) = (self.buf.len(), self.cells.len());
        let mut count = 0;
        for f in fields {
            count += 1;
            if count > width {
                continue;
            }
            let at = match whole {
                // `f` lies within `whole`, which is at most u32::MAX bytes long.
                Some(w) => (f.as_ptr() as usize)
                    .checked_sub(w.as_ptr() as usize)
                    .filter(|s| s + f.len() <= w.len())
                    .and_then(|s| Some((u32::try_from(s).ok()?, u32::try_from(s + f.len()).ok()?))),
                None => self.offsets(f),
            };
            let Some((s, e)) = at else {
                count = usize::MAX;
                break;
            };
            if whole.is_none() {
                self.buf.push_str(f);
            }
            self.cells.push((s, e));
        }
        if count != width {
            self.buf.truncate(buf_len);
            self.cells.truncate(cells_len);
            return Err(count);
        }
        self.lines.push(line);
        Ok(())
    }
}

/// Reads the whole file, decompressing gzip transparently, under the bounds of
/// [`crate::limits`] (size, line length, decompression ratio; no devices).
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    crate::limits::read_input(path)
}

/// Reads a table in the given format (or the one its name suggests).
pub fn read_table(path: &Path, format: Option<Format>) -> Result<RawTable> {
    let format = format.or_else(|| Format::from_path(path)).ok_or_else(|| {
        Error::spec(
            path,
            "cannot tell the format from the file name; set `format`",
        )
    })?;
    match format {
        Format::Parquet => read_parquet(path),
        Format::Atomic | Format::Tsv | Format::Headerless => {
            Ok(parse_delimited_owned(read_bytes(path)?, path, format))
        }
        _ => parse_table(&read_bytes(path)?, path, format),
    }
}

/// Parses in-memory bytes of a text format. Never panics, whatever the bytes.
pub fn parse_table(bytes: &[u8], path: &Path, format: Format) -> Result<RawTable> {
    match format {
        Format::Atomic | Format::Tsv | Format::Headerless => {
            Ok(parse_delimited_owned(bytes.to_vec(), path, format))
        }
        Format::Csv => csv_format::parse_csv(bytes, path),
        Format::Jsonl => Ok(parse_jsonl(bytes, path)),
        Format::Parquet => Err(Error::spec(path, "parquet data must be read from a file")),
    }
}

fn lines_of(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut start = 0usize;
    let mut n = 0usize;
    std::iter::from_fn(move || {
        if start >= bytes.len() {
            return None;
        }
        let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
        let mut line = &bytes[start..end];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        start = end + 1;
        n += 1;
        Some((n, line))
    })
}

/// The fields of a line split on an ASCII delimiter, like `str::split` on it but with one
/// `memchr` scan for the whole line.
fn split_on(text: &str, delim: u8) -> impl Iterator<Item = &str> {
    let mut ends = memchr::memchr_iter(delim, text.as_bytes()).chain([text.len()]);
    let mut start = 0;
    std::iter::from_fn(move || {
        let end = ends.next()?;
        // An ASCII byte never falls inside a multi-byte character, so this is a boundary.
        let field = text.get(start..end)?;
        start = end + 1;
        Some(field)
    })
}

/// A line as text, or the row error for invalid UTF-8.
fn utf8_line<'a>(path: &Path, n: usize, l: &'a [u8]) -> std::result::Result<&'a str, RowError> {
    std::str::from_utf8(l).map_err(|e| {
        RowError::new(
            path,
            n,
            "",
            String::from_utf8_lossy(l),
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })
}

/// A tab-separated format from the file's bytes. A file that is valid UTF-8 as a whole (the
/// usual case) becomes the table's text as it is, its cells pointing into it; otherwise
/// each line is checked on its own and the cells of the valid ones are copied.
fn parse_delimited_owned(bytes: Vec<u8>, path: &Path, format: Format) -> RawTable {
    let (has_header, atomic) = (format != Format::Headerless, format == Format::Atomic);
    match String::from_utf8(bytes) {
        Ok(text) if u32::try_from(text.len()).is_ok() => {
            let mut t = parse_delimited(Ok(&text), path, b'\t', has_header, atomic);
            t.buf = text;
            t
        }
        Ok(text) => parse_delimited(Err(text.as_bytes()), path, b'\t', has_header, atomic),
        Err(e) => parse_delimited(Err(e.as_bytes()), path, b'\t', has_header, atomic),
    }
}

/// Splits lines into cells. `Ok(text)`: the whole input, valid UTF-8 of at most u32::MAX
/// bytes, which the caller makes the table's text (the cells are offsets into it).
/// `Err(bytes)`: input whose lines are checked one by one, their cells copied.
fn parse_delimited(
    input: std::result::Result<&str, &[u8]>,
    path: &Path,
    delim: u8,
    has_header: bool,
    atomic: bool,
) -> RawTable {
    let mut t = RawTable {
        file: path.to_path_buf(),
        ..Default::default()
    };
    // The whole text, when the cells point into it.
    let whole = input.ok();
    let bytes = input.map_or_else(|b| b, str::as_bytes);
    let mut lines = lines_of(bytes).filter(|(_, l)| !l.is_empty());
    let mut width = None;
    if has_header && let Some((n, l)) = lines.next() {
        match std::str::from_utf8(l) {
            Ok(h) => {
                // A comma-separated file read as tab-separated: keep its header whole, so
                // that the missing-column error shows what it really looks like.
                let commas = !h.contains(delim as char) && h.contains(',');
                t.header = h
                    .split(delim as char)
                    .map(|c| {
                        if atomic && !commas {
                            c.split(':').next().unwrap_or(c)
                        } else {
                            c
                        }
                        .trim()
                        .to_string()
                    })
                    .collect();
                width = Some(t.header.len());
            }
            Err(e) => t.errors.push(RowError::new(
                path,
                n,
                "",
                String::from_utf8_lossy(l),
                format!("header is not valid UTF-8 ({e})"),
            )),
        }
    }
    let mut split_ws = false;
    for (n, l) in lines {
        let line = match whole {
            // The line's own slice of the whole text (it starts and ends at ASCII bytes).
            Some(w) => {
                let s = (l.as_ptr() as usize).wrapping_sub(w.as_ptr() as usize);
                w.get(s..s.saturating_add(l.len())).ok_or_else(|| {
                    let v = String::from_utf8_lossy(l);
                    RowError::new(path, n, "", v, "line does not end at a character boundary")
                })
            }
            None => utf8_line(path, n, l),
        };
        let text = match line {
            Ok(s) => s,
            Err(e) => {
                t.errors.push(e);
                continue;
            }
        };
        if width.is_none() {
            // Headerless: the first row fixes the width; tabs if present, else whitespace.
            split_ws = !text.contains('\t');
            let w = if split_ws {
                text.split_whitespace().count()
            } else {
                text.split('\t').count()
            };
            t.header = (0..w).map(|i| i.to_string()).collect();
            width = Some(w);
        }
        let w = width.unwrap_or(0);
        let pushed = if split_ws {
            t.push_row_of_width(n, w, text.split_whitespace(), whole)
        } else {
            t.push_row_of_width(n, w, split_on(text, delim), whole)
        };
        if let Err(count) = pushed {
            t.errors.push(RowError::new(
                path,
                n,
                "",
                text,
                format!("expected {w} columns, found {count}"),
            ));
        }
    }
    t
}

fn json_cell(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) => a.iter().map(json_cell).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

fn parse_jsonl(bytes: &[u8], path: &Path) -> RawTable {
    let mut t = RawTable {
        file: path.to_path_buf(),
        ..Default::default()
    };
    let mut rows: Vec<(usize, serde_json::Map<String, serde_json::Value>)> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for (n, l) in lines_of(bytes) {
        if l.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let text = match utf8_line(path, n, l) {
            Ok(s) => s,
            Err(e) => {
                t.errors.push(e);
                continue;
            }
        };
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(m)) => {
                for k in m.keys() {
                    if !index.contains_key(k) {
                        index.insert(k.clone(), t.header.len());
                        t.header.push(k.clone());
                    }
                }
                rows.push((n, m));
            }
            Ok(_) => t
                .errors
                .push(RowError::new(path, n, "", text, "expected a JSON object")),
            Err(e) => t.errors.push(RowError::new(
                path,
                n,
                "",
                text,
                format!("malformed JSON: {e}"),
            )),
        }
    }
    for (n, m) in rows {
        let mut cells = vec![String::new(); t.header.len()];
        for (k, v) in &m {
            if let Some(&i) = index.get(k) {
                cells[i] = json_cell(v);
            }
        }
        if let Err(e) = t.push_row(n, cells.iter().map(String::as_str)) {
            t.errors.push(e);
            break;
        }
    }
    t
}

#[cfg(feature = "parquet")]
fn read_parquet(path: &Path) -> Result<RawTable> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::DataType;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let perr = |m: String| Error::spec(path, format!("parquet: {m}"));
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| perr(e.to_string()))?
        .build()
        .map_err(|e| perr(e.to_string()))?;
    let mut t = RawTable {
        file: path.to_path_buf(),
        ..Default::default()
    };
    let mut record = 0usize;
    for batch in reader {
        let batch = batch.map_err(|e| perr(e.to_string()))?;
        if t.header.is_empty() {
            t.header = batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
        }
        let cols: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| arrow::compute::cast(c, &DataType::Utf8))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| perr(e.to_string()))?;
        for r in 0..batch.num_rows() {
            record += 1;
            let cells: Vec<&str> = cols
                .iter()
                .map(|c| {
                    if c.is_null(r) {
                        ""
                    } else {
                        c.as_string::<i32>().value(r)
                    }
                })
                .collect();
            t.push_row(record, cells.into_iter())
                .map_err(crate::Error::Limit)?;
        }
    }
    Ok(t)
}

#[cfg(not(feature = "parquet"))]
fn read_parquet(path: &Path) -> Result<RawTable> {
    Err(Error::spec(
        path,
        "this build of polyrec-data has no Parquet support (feature `parquet`)",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_header_types_are_stripped_and_bad_rows_reported() {
        let text = b"user_id:token\titem_id:token\trating:float\n1\t2\t3\n4\t5\n\xff\t1\t1\n";
        let t = parse_table(text, Path::new("x.inter"), Format::Atomic).unwrap_or_default();
        assert_eq!(t.header, ["user_id", "item_id", "rating"]);
        assert_eq!(t.len(), 1);
        assert_eq!(t.row(0), ["1", "2", "3"]);
        assert_eq!(t.errors.len(), 2);
        assert_eq!(t.errors[0].line, 3);
        assert!(t.errors[0].reason.contains("expected 3 columns, found 2"));
        assert_eq!(t.errors[1].line, 4);
        assert!(t.errors[1].reason.contains("invalid UTF-8"));
        assert_eq!(t.total_rows(), 3);
    }

    #[test]
    fn csv_quotes_and_line_numbers() {
        let text = b"a,b\n1,\"x, \"\"y\"\"\"\n2,\"multi\nline\"\n3\n";
        let t = parse_table(text, Path::new("x.csv"), Format::Csv).unwrap_or_default();
        assert_eq!(t.len(), 2);
        assert_eq!(t.cell(0, 1), "x, \"y\"");
        assert_eq!(t.cell(1, 1), "multi\nline");
        assert_eq!(t.errors.len(), 1);
        assert_eq!(t.errors[0].line, 5);
    }

    #[test]
    fn jsonl_union_of_keys() {
        let text = b"{\"u\": 1, \"g\": [\"a\", \"b\"]}\n{\"u\": 2, \"t\": null}\nnot json\n";
        let t = parse_table(text, Path::new("x.jsonl"), Format::Jsonl).unwrap_or_default();
        assert_eq!(t.header, ["g", "u", "t"]);
        assert_eq!(t.row(0), ["a b", "1", ""]);
        let mut buf = vec!["left over"];
        t.row_into(0, &mut buf);
        assert_eq!(
            buf,
            t.row(0),
            "row_into clears the buffer, then gives the row"
        );
        assert_eq!(t.errors[0].line, 3);
    }
}
