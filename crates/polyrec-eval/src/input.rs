//! Reading the metric inputs: whole files under a size and line-length bound (a device
//! such as `/dev/zero` is refused), a UTF-8 byte-order mark dropped, and values quoted in
//! errors truncated.

use std::io::Read;
use std::path::Path;

use crate::{Error, Result};

/// Largest input file, in bytes.
pub const MAX_INPUT_BYTES: u64 = 4 << 30;

/// Longest line, in bytes.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Longest value quoted in an error message, in characters.
pub const MAX_QUOTED_CHARS: usize = 200;

/// `s` cut to [`MAX_QUOTED_CHARS`] characters (`...` when cut), for error messages.
pub fn quote(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTED_CHARS) {
        None => format!("{s:?}"),
        Some(_) => {
            let end = s
                .char_indices()
                .nth(MAX_QUOTED_CHARS - 3)
                .map_or(s.len(), |(i, _)| i);
            format!("{:?}...", &s[..end])
        }
    }
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn row(path: &Path, line: usize, message: String) -> Error {
    Error::Row {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// Reads a whole input file (regular file or pipe) under the bounds, without a leading
/// UTF-8 byte-order mark.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    let meta = file.metadata().map_err(|e| io(path, e))?;
    if !meta.is_file() && !is_fifo(&meta) {
        return Err(Error::Input(format!(
            "{}: not a regular file or a pipe (a device, socket or folder)",
            path.display()
        )));
    }
    let mut r = std::io::BufReader::new(file);
    let mut out = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let (mut line, mut since_newline) = (1usize, 0usize);
    loop {
        let n = match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(path, e)),
        };
        if (out.len() + n) as u64 > MAX_INPUT_BYTES {
            return Err(row(
                path,
                line,
                format!("the file is larger than {MAX_INPUT_BYTES} bytes, the bound for one input"),
            ));
        }
        let got = chunk.get(..n).unwrap_or_default();
        let mut from = 0usize;
        for nl in memchr::memchr_iter(b'\n', got) {
            if since_newline + (nl - from) > MAX_LINE_BYTES {
                return Err(long_line(path, line));
            }
            since_newline = 0;
            line += 1;
            from = nl + 1;
        }
        since_newline += n - from;
        if since_newline > MAX_LINE_BYTES {
            return Err(long_line(path, line));
        }
        out.extend_from_slice(got);
    }
    if out.starts_with(b"\xef\xbb\xbf") {
        out.drain(..3);
    }
    Ok(out)
}

fn long_line(path: &Path, line: usize) -> Error {
    row(
        path,
        line,
        format!("line is longer than {MAX_LINE_BYTES} bytes, the bound for one line"),
    )
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

/// A line or field as text, or an error naming the line and where the bad byte is.
pub fn utf8<'a>(path: &Path, line: usize, what: &str, bytes: &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| {
        row(
            path,
            line,
            format!("{what}: invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })
}
