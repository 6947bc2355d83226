//! A binary cache of an ingested dataset, keyed by the spec and its input files.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use crate::persist::{hex_digest, write_atomic};
use crate::{Dataset, DatasetSpec, Error, Result};

const MAGIC: &[u8; 8] = b"PRDATA01";

/// The cache key: the spec's digest, the crate version, and each input file's path, size and
/// modification time.
pub fn cache_key(spec: &DatasetSpec, data_dir: &Path) -> String {
    let mut h = Sha256::new();
    h.update(spec.digest());
    h.update(env!("CARGO_PKG_VERSION"));
    let mut files = vec![&spec.interactions.file];
    files.extend(spec.users.iter().filter_map(|u| u.file.as_ref()));
    files.extend(spec.items.iter().filter_map(|u| u.file.as_ref()));
    if let Some(kg) = &spec.kg {
        files.extend([&kg.triples, &kg.links]);
        files.extend(kg.entity_names.iter());
    }
    files.extend(spec.social.iter().map(|s| &s.file));
    files.extend(spec.tags.iter().map(|t| &t.file));
    for f in files {
        let p = data_dir.join(&f.path);
        h.update(p.to_string_lossy().as_bytes());
        if let Ok(m) = std::fs::metadata(&p) {
            h.update(m.len().to_le_bytes());
            if let Ok(t) = m.modified().and_then(|t| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .map_err(std::io::Error::other)
            }) {
                h.update(t.as_nanos().to_le_bytes());
            }
        }
    }
    crate::persist::hex(&h.finalize())
}

/// Loads a dataset through a binary cache in `cache_dir`: a valid cache entry for the same
/// spec and unchanged inputs is read back; otherwise the data is parsed and the entry is
/// (re)written atomically. A corrupt or foreign cache file is ignored and replaced.
/// Returns the dataset and whether it came from the cache.
pub fn load_cached(
    spec: &DatasetSpec,
    data_dir: &Path,
    cache_dir: &Path,
) -> Result<(Dataset, bool)> {
    let key = cache_key(spec, data_dir);
    let path = cache_path(cache_dir, &spec.name, &key);
    if let Some(ds) = read_cache(&path, &key) {
        return Ok((ds, true));
    }
    let ds = Dataset::load_spec(spec, data_dir)?;
    let payload = bincode::serialize(&ds).map_err(|e| Error::Cache {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let mut bytes = Vec::with_capacity(payload.len() + 112);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(key.as_bytes());
    bytes.extend_from_slice(hex_digest(&payload).as_bytes());
    bytes.extend_from_slice(&payload);
    // The dataset holds user texts and histories: owner-only.
    crate::persist::write_private_io(&path, &bytes).map_err(|e| Error::io(&path, e))?;
    Ok((ds, false))
}

/// The file a cache entry lives in.
pub fn cache_path(cache_dir: &Path, name: &str, key: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    cache_dir.join(format!("{safe}-{}.bin", &key[..16.min(key.len())]))
}

fn read_cache(path: &Path, key: &str) -> Option<Dataset> {
    let bytes = std::fs::read(path).ok()?;
    let rest = bytes.strip_prefix(MAGIC)?;
    let (k, rest) = rest.split_at_checked(key.len())?;
    if k != key.as_bytes() {
        return None;
    }
    let (digest, payload) = rest.split_at_checked(64)?;
    if digest != hex_digest(payload).as_bytes() {
        return None;
    }
    let mut ds: Dataset = bincode::deserialize(payload).ok()?;
    ds.reindex();
    Some(ds)
}
