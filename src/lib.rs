//! Workspace-level helpers shared by polyrec's top-level examples, benches and integration
//! tests: where the installed model and data live, and where the team's reference data sets
//! (`../shared`) are when this checkout has them.
//!
//! ```
//! // With POLYREC_HOME set, the default locations follow it.
//! let home = polyrec_suite::polyrec_home();
//! assert!(home.ends_with("polyrec") || std::env::var_os("POLYREC_HOME").is_some());
//! ```
#![warn(missing_docs)]

use std::path::{Path, PathBuf};

/// The cache directory where `scripts/setup.sh` installs libtorch, the model and data:
/// `$POLYREC_HOME`, else `$XDG_CACHE_HOME/polyrec`, else `~/.cache/polyrec`.
pub fn polyrec_home() -> PathBuf {
    if let Some(h) = std::env::var_os("POLYREC_HOME") {
        return PathBuf::from(h);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default()
                .join(".cache")
        });
    cache.join("polyrec")
}

/// The MovieLens-100K RecBole files: `$POLYREC_DATA_DIR`, else `<home>/data/ml-100k`.
pub fn ml100k_dir() -> PathBuf {
    std::env::var_os("POLYREC_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| polyrec_home().join("data").join("ml-100k"))
}

/// The workspace root (the folder of this package's manifest).
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The team's reference data (`$POLYREC_SHARED_DIR`, else `../shared` beside the
/// checkout), or `None` on a machine that does not have it.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("POLYREC_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("..").join("shared"));
    dir.join("data").is_dir().then_some(dir)
}
