//! Reading text files and writing `.npy` embeddings.
//!
//! The `.npy` format is written and read here rather than through tch's
//! `Tensor::write_npy` / `Tensor::read_npy` (tch 0.24), whose code was checked for this:
//! `write_npy` creates the target file and writes into it in place (a reader can see a
//! half-written file, and a failed write leaves one behind), and the writer it wraps is
//! private, so its bytes cannot go through the workspace's atomic writer; `read_npy`
//! hands the body to libtorch, which copies as many bytes as the header's shape asks for
//! without comparing that with the body's length (a truncated file is read past its end),
//! and its errors ("magic string mismatch") do not name the file.

use std::path::Path;

use crate::{Embeddings, Error, Result};

/// Longest line of a texts file, in bytes: a text is cut to what the model can see
/// before tokenisation, so a long one costs little, but an endless line is refused.
pub const MAX_TEXT_LINE_BYTES: usize = 256 << 20;

/// A whole file under the workspace's input bounds (no devices, at most 4 GiB, lines of at
/// most `max_line` bytes), with the bound's error turned into this crate's.
fn read_capped(path: &Path, max_line: usize) -> Result<Vec<u8>> {
    use polyrec_data::limits::{MAX_INPUT_BYTES, read_file_capped};
    read_file_capped(path, MAX_INPUT_BYTES, max_line).map_err(|e| match e {
        polyrec_data::Error::Io { path, source } => Error::Io { path, source },
        polyrec_data::Error::Limit(row) => Error::Input {
            path: path.to_path_buf(),
            line: row.line,
            message: row.reason,
        },
        other => Error::Input {
            path: path.to_path_buf(),
            line: 0,
            message: other.to_string(),
        },
    })
}

/// Reads texts: JSON Lines of strings (`.jsonl`, `.json`, `.ndjson`), or one text per line
/// for any other extension. Rejects an empty file, invalid UTF-8 and malformed JSON with the
/// line number.
pub fn read_texts(path: &Path) -> Result<Vec<String>> {
    let bytes = read_capped(path, MAX_TEXT_LINE_BYTES)?;
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let input = |line: usize, message: String| Error::Input {
        path: path.to_path_buf(),
        line,
        message,
    };
    if bytes.is_empty() {
        return Err(input(0, "the file is empty".into()));
    }
    let jsonl = matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("jsonl" | "json" | "ndjson")
    );
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let mut texts = Vec::new();
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw)
            .map_err(|e| input(i + 1, format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
        if jsonl {
            let text: String = serde_json::from_str(line).map_err(|e| {
                input(
                    i + 1,
                    format!(
                        "expected a JSON string: {e} (line starts {})",
                        polyrec_data::limits::truncate_for_message(line)
                    ),
                )
            })?;
            texts.push(text);
        } else {
            texts.push(line.to_string());
        }
    }
    Ok(texts)
}

/// Writes embeddings as a float32, C-order `.npy` file of shape `[n, dim]`, atomically.
pub fn write_npy(path: &Path, emb: &Embeddings) -> Result<()> {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        emb.len(),
        emb.dim
    );
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut bytes = Vec::with_capacity(10 + header.len() + emb.data.len() * 4);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in &emb.data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    write_atomic(path, &bytes)
}

/// Reads a float32 C-order 2-D `.npy` file.
pub fn read_npy(path: &Path) -> Result<Embeddings> {
    let bytes = read_capped(path, usize::MAX)?;
    let bad = |m: &str| Error::Input {
        path: path.to_path_buf(),
        line: 0,
        message: m.to_string(),
    };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file"));
    }
    // Version 1 stores the header length in 2 bytes, versions 2 and 3 in 4.
    let (hlen, start): (usize, usize) = match (bytes[6], bytes.get(8..12)) {
        (1, _) => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        (_, Some(&[a, b, c, d])) => (u32::from_le_bytes([a, b, c, d]) as usize, 12),
        _ => return Err(bad("truncated header")),
    };
    let header = std::str::from_utf8(
        bytes
            .get(start..start.saturating_add(hlen))
            .ok_or_else(|| bad("truncated header"))?,
    )
    .map_err(|_| bad("header is not UTF-8"))?;
    if !header.contains("'<f4'") || header.contains("'fortran_order': True") {
        return Err(bad("only little-endian float32 C-order arrays are read"));
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape"))?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().map_err(|_| bad("bad shape")))
        .collect::<Result<_>>()?;
    let [n, dim] = dims[..] else {
        return Err(bad("expected a 2-D array"));
    };
    let body = &bytes[start + hlen..];
    if n.checked_mul(dim).and_then(|x| x.checked_mul(4)) != Some(body.len()) {
        return Err(bad("data size does not match the shape"));
    }
    let data = body
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok(Embeddings { dim, data })
}

/// Writes through a temporary file in the same folder, then renames (the workspace's one
/// atomic writer, [`polyrec_data::persist::write_atomic_io`]).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    polyrec_data::persist::write_atomic_io(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trips_with_the_header_numpy_expects() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        let path = dir.path().join("e.npy");
        let emb = Embeddings {
            dim: 3,
            data: vec![1.0, -2.5, 3.25, 0.0, f32::MIN_POSITIVE, 7.0],
        };
        write_npy(&path, &emb)?;
        let bytes = std::fs::read(&path).unwrap_or_default();
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        assert_eq!(&bytes[..10], b"\x93NUMPY\x01\x00\x76\x00");
        assert_eq!(&bytes[10..10 + header.len()], header.as_bytes());
        assert_eq!(bytes.len(), 128 + 6 * 4, "header padded to 64 bytes");
        assert_eq!(read_npy(&path)?, emb);
        Ok(())
    }

    #[test]
    fn unreadable_npy_files_are_named_with_the_reason() {
        let dir = tempfile::tempdir().ok();
        let dir = dir
            .as_ref()
            .map_or(std::env::temp_dir(), |d| d.path().to_path_buf());
        let good = {
            let path = dir.join("good.npy");
            let emb = Embeddings {
                dim: 2,
                data: vec![1.0; 4],
            };
            write_npy(&path, &emb).ok();
            std::fs::read(&path).unwrap_or_default()
        };
        let header_end = good.len() - 16;
        let patched = |from: &str, to: &str| {
            let text = String::from_utf8_lossy(&good[10..header_end]).replace(from, to);
            [&good[..10], text.as_bytes(), &good[header_end..]].concat()
        };
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("text.npy", b"hello, world".to_vec(), "not a .npy file"),
            ("short.npy", good[..11].to_vec(), "truncated header"),
            (
                "v2.npy",
                [&good[..6], &[2, 0, 0, 0]].concat(),
                "truncated header",
            ),
            ("f8.npy", patched("<f4", "<f8"), "float32"),
            ("fortran.npy", patched("False", "True "), "C-order"),
            ("rank3.npy", patched("(2, 2)", "(1,2,2)"), "2-D"),
            ("cut.npy", good[..good.len() - 4].to_vec(), "does not match"),
            (
                "huge.npy",
                patched("(2, 2)", "(9999999999999,9999999999999)"),
                "does not match",
            ),
        ];
        for (name, bytes, want) in cases {
            let path = dir.join(name);
            std::fs::write(&path, bytes).ok();
            let err = read_npy(&path).map(|_| ()).err().map(|e| e.to_string());
            let err = err.unwrap_or_default();
            assert!(err.contains(name) && err.contains(want), "{name}: {err}");
        }
    }
}
