//! Bounds on what one input may make the loader hold, and the capped reader that enforces
//! the byte bounds. A leaf: it imports only the crate's error.
//!
//! Every bound is a clear [`Error::Limit`] naming the file, the line and the bound, never
//! an allocation that grows until the machine says no: a gzip bomb, `/dev/zero` named as
//! an input, one endless line, 70,000 scenario values for a 16-bit scenario id, a
//! multiclass label column with millions of distinct values.

use std::io::Read;
use std::path::Path;

use crate::{Error, Result, RowError};

/// Largest input, after decompression, in bytes (a table keeps its cells as 32-bit
/// offsets into one buffer).
pub const MAX_INPUT_BYTES: u64 = u32::MAX as u64;

/// Longest physical line of a text input, in bytes.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Largest ratio of decompressed to compressed size of a `.gz` input, once the output
/// passes [`GZIP_RATIO_FLOOR`] (real logs and catalogs compress 3-15 times).
pub const GZIP_MAX_RATIO: u64 = 100;

/// Decompressed size below which the ratio is not checked.
pub const GZIP_RATIO_FLOOR: u64 = 64 << 20;

/// Most distinct scenarios: a scenario id is 16 bits.
pub const MAX_SCENARIOS: usize = u16::MAX as usize + 1;

/// Most distinct classes of a multiclass task (labels are `f32` class indices and a model
/// has one output per class).
pub const MAX_CLASSES: usize = 65_536;

/// Most physical lines one quoted CSV field may span.
pub const MAX_QUOTED_LINES: usize = 100;

/// Longest value quoted in an error message, in characters.
pub const MAX_QUOTED_CHARS: usize = 200;

/// `s` cut to [`MAX_QUOTED_CHARS`] characters, with `...` when cut.
pub fn truncate_for_message(s: &str) -> String {
    truncate_chars(s, MAX_QUOTED_CHARS)
}

/// `s` cut to `max` characters (`...` included when cut).
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some(_) => {
            let keep = max.saturating_sub(3);
            let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
            format!("{}...", &s[..end])
        }
    }
}

/// An [`Error::Limit`] at `line` of `path`.
pub(crate) fn limit_error(path: &Path, line: usize, reason: impl Into<String>) -> Error {
    Error::Limit(RowError::new(path, line, "", "", reason))
}

/// Reads all of `r` into memory, stopping with [`Error::Limit`] once it passes
/// `max_bytes` or a line passes [`MAX_LINE_BYTES`]. `what` says what was being read
/// (`file`, `decompressed file`) in the message.
pub(crate) fn read_capped(
    r: impl Read,
    path: &Path,
    max_bytes: u64,
    what: &str,
) -> Result<Vec<u8>> {
    read_capped_lines(r, path, max_bytes, MAX_LINE_BYTES, what)
}

/// Reads a whole file (regular file or pipe, no decompression) under a size bound and a
/// line-length bound (`usize::MAX` for binary files), for readers of other formats (texts
/// to embed, `.npy` files).
pub fn read_file_capped(path: &Path, max_bytes: u64, max_line: usize) -> Result<Vec<u8>> {
    let file = open_readable(path)?;
    read_capped_lines(
        std::io::BufReader::new(file),
        path,
        max_bytes,
        max_line,
        "file",
    )
}

/// Opens a regular file or a pipe; a device, socket or folder is a limit error.
fn open_readable(path: &Path) -> Result<std::fs::File> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() && !is_fifo(&meta) {
        return Err(limit_error(
            path,
            0,
            "not a regular file or a pipe (a device, socket or folder); name a file",
        ));
    }
    Ok(file)
}

fn read_capped_lines(
    mut r: impl Read,
    path: &Path,
    max_bytes: u64,
    max_line: usize,
    what: &str,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let mut line = 1usize;
    let mut since_newline = 0usize;
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(path, e)),
        };
        let got = chunk.get(..n).unwrap_or_default();
        if (out.len() + n) as u64 > max_bytes {
            return Err(limit_error(
                path,
                line,
                format!("the {what} is larger than {max_bytes} bytes, the bound for one input"),
            ));
        }
        let mut from = 0usize;
        for nl in memchr::memchr_iter(b'\n', got) {
            if since_newline + (nl - from) > max_line {
                return Err(long_line(path, line, max_line));
            }
            since_newline = 0;
            line += 1;
            from = nl + 1;
        }
        since_newline += n - from;
        if since_newline > max_line {
            return Err(long_line(path, line, max_line));
        }
        out.extend_from_slice(got);
    }
}

fn long_line(path: &Path, line: usize, max_line: usize) -> Error {
    limit_error(
        path,
        line,
        format!("line is longer than {max_line} bytes, the bound for one line"),
    )
}

/// Reads a whole input file, decompressing gzip (by its magic bytes) under the size and
/// ratio bounds. A device or socket (`/dev/zero`, `/dev/stdin` of a terminal) is refused:
/// only regular files and pipes are read.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    let file = open_readable(path)?;
    let mut file = std::io::BufReader::new(file);
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match file.read(magic.get_mut(got..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    let head = magic.get(..got).unwrap_or_default();
    let rest = std::io::Read::chain(head, file);
    if head == [0x1f, 0x8b] {
        let compressed = CountingReader::new(rest);
        let counter = compressed.count.clone();
        let gz = flate2::read::MultiGzDecoder::new(compressed);
        let ratio = RatioGuard {
            inner: gz,
            compressed: counter,
            produced: 0,
        };
        read_capped(ratio, path, MAX_INPUT_BYTES, "decompressed file").map_err(|e| match e {
            Error::Io { path, source } if source.kind() == std::io::ErrorKind::Other => {
                if source.to_string().starts_with(RATIO_TAG) {
                    limit_error(&path, 0, source.to_string())
                } else {
                    Error::Io { path, source }
                }
            }
            other => other,
        })
    } else {
        read_capped(rest, path, MAX_INPUT_BYTES, "file")
    }
}

#[cfg(unix)]
fn is_fifo(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_fifo()
}

#[cfg(not(unix))]
fn is_fifo(_: &std::fs::Metadata) -> bool {
    false
}

const RATIO_TAG: &str = "gzip stream expands";

/// Counts the bytes read through it (the compressed side of a decoder).
struct CountingReader<R> {
    inner: R,
    count: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R> CountingReader<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            count: std::rc::Rc::new(std::cell::Cell::new(0)),
        }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Stops a decoder whose output passes [`GZIP_MAX_RATIO`] times its input (past
/// [`GZIP_RATIO_FLOOR`]).
struct RatioGuard<R> {
    inner: R,
    compressed: std::rc::Rc<std::cell::Cell<u64>>,
    produced: u64,
}

impl<R: Read> Read for RatioGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        let input = self.compressed.get().max(1);
        if self.produced > GZIP_RATIO_FLOOR && self.produced > input.saturating_mul(GZIP_MAX_RATIO)
        {
            return Err(std::io::Error::other(format!(
                "{RATIO_TAG} more than {GZIP_MAX_RATIO} times ({} compressed bytes gave over {} bytes): \
                 refused as a likely decompression bomb",
                input, self.produced
            )));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_short_values_and_cuts_long_ones() {
        assert_eq!(truncate_chars("abc", 5), "abc");
        assert_eq!(truncate_chars("abcdef", 5), "ab...");
        assert_eq!(truncate_chars("ééééé", 5), "ééééé");
        assert_eq!(truncate_chars("éééééé", 5).chars().count(), 5);
    }

    #[test]
    fn a_long_line_is_a_limit_error_with_its_line() {
        let mut text = b"a\nb\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 1));
        match read_capped(&text[..], Path::new("f"), MAX_INPUT_BYTES, "file") {
            Err(Error::Limit(e)) => {
                assert_eq!(e.line, 3);
                assert!(e.reason.contains("longer than"), "{e}");
            }
            other => panic!("expected a limit error, got {:?}", other.map(|v| v.len())),
        }
    }

    #[test]
    fn the_size_bound_holds() {
        let text = [b'\n'; 100];
        assert!(matches!(
            read_capped(&text[..], Path::new("f"), 99, "file"),
            Err(Error::Limit(_))
        ));
        assert_eq!(
            read_capped(&text[..], Path::new("f"), 100, "file")
                .map(|v| v.len())
                .ok(),
            Some(100)
        );
    }
}
