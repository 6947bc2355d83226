//! A persistent embedding cache keyed by (model fingerprint, text hash).
//!
//! One file per model: `<dir>/<fingerprint[..16]>.emb` holding a header (magic, the full
//! fingerprint, the dimension, the entry count), the entries (SHA-256 of the text, then
//! the vector) and a SHA-256 trailer over everything before it. A file whose magic,
//! fingerprint, size or checksum does not match is treated as absent and rewritten, never
//! trusted. Writes are atomic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Embeddings, Result, TextEncoder};

const MAGIC: &[u8; 8] = b"PREMB001";

/// Cache statistics of one [`EmbeddingCache::encode`] call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Texts served from the cache (including repeats within the call).
    pub hits: usize,
    /// Distinct texts computed by the model.
    pub computed: usize,
    /// Whether an existing cache file was rejected as corrupt or foreign.
    pub rebuilt: bool,
}

/// The embedding cache of one model.
#[derive(Debug)]
pub struct EmbeddingCache {
    path: PathBuf,
    fingerprint: String,
    dim: usize,
    entries: HashMap<[u8; 32], Vec<f32>>,
    rebuilt: bool,
}

fn text_key(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl EmbeddingCache {
    /// Opens (or starts) the cache of `encoder`'s model in `dir`.
    pub fn open(dir: &Path, encoder: &dyn TextEncoder) -> Self {
        let fingerprint = encoder.fingerprint().to_string();
        let path = dir.join(format!("{}.emb", &fingerprint[..16.min(fingerprint.len())]));
        let dim = encoder.dim();
        let (entries, rebuilt) = match std::fs::read(&path) {
            Ok(bytes) => match parse(&bytes, &fingerprint, dim) {
                Some(e) => (e, false),
                None => (HashMap::new(), true),
            },
            Err(_) => (HashMap::new(), false),
        };
        Self {
            path,
            fingerprint,
            dim,
            entries,
            rebuilt,
        }
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of cached texts.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Embeds texts, computing only those not cached (each distinct text once), and saves
    /// the cache when anything new was computed.
    pub fn encode(
        &mut self,
        encoder: &dyn TextEncoder,
        texts: &[&str],
    ) -> Result<(Embeddings, CacheStats)> {
        let keys: Vec<[u8; 32]> = texts.iter().map(|t| text_key(t)).collect();
        let mut todo: Vec<&str> = Vec::new();
        let mut todo_keys = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (t, k) in texts.iter().zip(&keys) {
            if !self.entries.contains_key(k) && seen.insert(*k) {
                todo.push(t);
                todo_keys.push(*k);
            }
        }
        let stats = CacheStats {
            hits: texts.len() - todo.len(),
            computed: todo.len(),
            rebuilt: self.rebuilt,
        };
        if !todo.is_empty() {
            let fresh = encoder.encode(&todo)?;
            for (i, k) in todo_keys.into_iter().enumerate() {
                self.entries.insert(k, fresh.row(i).to_vec());
            }
            self.save()?;
        }
        let mut data = Vec::with_capacity(texts.len() * self.dim);
        for k in &keys {
            data.extend_from_slice(&self.entries[k]);
        }
        Ok((
            Embeddings {
                dim: self.dim,
                data,
            },
            stats,
        ))
    }

    /// Indices of the texts the cache lacks, each distinct text once (its first
    /// occurrence), in input order: what [`EmbeddingCache::encode`] would compute.
    pub fn missing(&self, texts: &[&str]) -> Vec<usize> {
        let mut seen = std::collections::HashSet::new();
        texts
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                let k = text_key(t);
                !self.entries.contains_key(&k) && seen.insert(k)
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Adds embeddings computed elsewhere (row `i` of `emb` is `texts[i]`'s), for a job
    /// whose processes encode shards and one process keeps the cache. Call
    /// [`EmbeddingCache::save`] to write them.
    pub fn insert(&mut self, texts: &[&str], emb: &Embeddings) -> Result<()> {
        if emb.dim != self.dim || emb.len() != texts.len() {
            return Err(crate::Error::Input {
                path: self.path.clone(),
                line: 0,
                message: format!(
                    "cannot add {} texts with {} embeddings of dimension {} (the cache holds dimension {})",
                    texts.len(),
                    emb.len(),
                    emb.dim,
                    self.dim
                ),
            });
        }
        for (i, t) in texts.iter().enumerate() {
            self.entries.insert(text_key(t), emb.row(i).to_vec());
        }
        Ok(())
    }

    /// Writes the cache file atomically.
    pub fn save(&mut self) -> Result<()> {
        let mut bytes = Vec::with_capacity(16 + self.entries.len() * (32 + 4 * self.dim) + 64);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(self.fingerprint.len() as u32).to_le_bytes());
        bytes.extend_from_slice(self.fingerprint.as_bytes());
        bytes.extend_from_slice(&(self.dim as u32).to_le_bytes());
        bytes.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for (k, v) in &self.entries {
            bytes.extend_from_slice(k);
            for x in v {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
        }
        let sum: [u8; 32] = Sha256::digest(&bytes).into();
        bytes.extend_from_slice(&sum);
        // Embeddings of user texts can be inverted back towards the text: owner-only.
        polyrec_data::persist::write_private_io(&self.path, &bytes).map_err(|source| {
            crate::Error::Io {
                path: self.path.clone(),
                source,
            }
        })?;
        self.rebuilt = false;
        Ok(())
    }
}

fn parse(bytes: &[u8], fingerprint: &str, dim: usize) -> Option<HashMap<[u8; 32], Vec<f32>>> {
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if Sha256::digest(body).as_slice() != sum {
        return None;
    }
    let rest = body.strip_prefix(MAGIC)?;
    let (flen, rest) = rest.split_at_checked(4)?;
    let flen = u32::from_le_bytes(flen.try_into().ok()?) as usize;
    let (fp, rest) = rest.split_at_checked(flen)?;
    if fp != fingerprint.as_bytes() {
        return None;
    }
    let (d, rest) = rest.split_at_checked(4)?;
    if u32::from_le_bytes(d.try_into().ok()?) as usize != dim {
        return None;
    }
    let (n, mut rest) = rest.split_at_checked(8)?;
    let n = u64::from_le_bytes(n.try_into().ok()?) as usize;
    let entry = 32 + 4 * dim;
    if rest.len() != n.checked_mul(entry)? {
        return None;
    }
    let mut map = HashMap::with_capacity(n);
    for _ in 0..n {
        let (e, r) = rest.split_at(entry);
        rest = r;
        let key: [u8; 32] = e[..32].try_into().ok()?;
        let v = e[32..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        map.insert(key, v);
    }
    Some(map)
}
