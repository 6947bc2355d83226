//! Reading text files and writing `.npy` embeddings.

use std::path::Path;

use crate::{Embeddings, Error, Result};

/// Reads texts: JSON Lines of strings (`.jsonl`, `.json`, `.ndjson`), or one text per line
/// for any other extension. Rejects an empty file, invalid UTF-8 and malformed JSON with the
/// line number.
pub fn read_texts(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
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
    let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    let mut texts = Vec::new();
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw)
            .map_err(|e| input(i + 1, format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
        if jsonl {
            let text: String = serde_json::from_str(line)
                .map_err(|e| input(i + 1, format!("expected a JSON string: {e}")))?;
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
    let bytes = std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let bad = |m: &str| Error::Input {
        path: path.to_path_buf(),
        line: 0,
        message: m.to_string(),
    };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file"));
    }
    let (hlen, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(
        bytes
            .get(start..start + hlen)
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
    if body.len() != n * dim * 4 {
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
