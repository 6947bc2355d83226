//! Atomic writes: every file a model directory holds is written to a temporary name in the
//! same folder and renamed into place, so an interrupted run never leaves half a file.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

fn temp_name(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp{suffix}", std::process::id()))
}

/// Writes bytes to `path` atomically (the workspace's one atomic writer,
/// [`polyrec_data::persist::write_atomic_io`]: temporary file, sync, rename).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    polyrec_data::persist::write_atomic_io(path, bytes).map_err(|e| Error::file(path, e))
}

/// Writes a safetensors file atomically through `write(temp_path)`.
pub fn atomic_safetensors(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), tch::TchError>,
) -> Result<()> {
    let tmp = temp_name(path, ".safetensors");
    let res = write(&tmp)
        .map_err(|e| Error::file(path, e))
        .and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::file(path, e)));
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Reads a whole text file, naming it in the error.
pub fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::file(path, e))
}

/// Loads a safetensors checkpoint into `vs` after checking every stored tensor's shape
/// against the model's parameter of that name (a clear error instead of a libtorch one).
/// With `strict`, a stored name the model does not have is an error too.
pub fn load_checked(vs: &mut tch::nn::VarStore, path: &Path, strict: bool) -> Result<()> {
    let want: std::collections::HashMap<String, Vec<i64>> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (k, v.size()))
        .collect();
    let have = tch::Tensor::read_safetensors(path).map_err(|e| Error::file(path, e))?;
    for (name, t) in &have {
        match want.get(name) {
            Some(shape) if *shape != t.size() => {
                return Err(Error::file(
                    path,
                    format!(
                        "parameter `{name}` has shape {:?}, the model expects {shape:?}",
                        t.size()
                    ),
                ));
            }
            None if strict => {
                return Err(Error::file(
                    path,
                    format!("unexpected parameter `{name}`: another model configuration"),
                ));
            }
            _ => {}
        }
    }
    vs.load(path).map_err(|e| Error::file(path, e))
}
