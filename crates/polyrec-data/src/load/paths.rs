//! Where a load may read and write, checked before any row is read: every input resolves
//! inside the data folder (unless the spec sets `allow_outside_data_dir`), and the reject
//! file is none of the inputs.

use std::path::{Path, PathBuf};

use crate::spec::{DatasetSpec, FileSpec};
use crate::{Error, Result};

/// Every file the spec reads, in load order.
pub(super) fn inputs(spec: &DatasetSpec) -> Vec<&FileSpec> {
    let mut files = Vec::new();
    files.extend(spec.users.as_ref().and_then(|u| u.file.as_ref()));
    files.extend(spec.items.as_ref().and_then(|i| i.file.as_ref()));
    files.push(&spec.interactions.file);
    if let Some(kg) = &spec.kg {
        files.push(&kg.triples);
        files.push(&kg.links);
        files.extend(kg.entity_names.as_ref());
    }
    files.extend(spec.social.as_ref().map(|s| &s.file));
    files
}

/// A spec path resolved against the data folder.
pub(super) fn resolve(dir: &Path, f: &FileSpec) -> PathBuf {
    let p = PathBuf::from(&f.path);
    if p.is_absolute() { p } else { dir.join(p) }
}

/// Checks the containment rule and the reject file against the inputs.
pub(super) fn check(spec: &DatasetSpec, dir: &Path) -> Result<()> {
    let files: Vec<PathBuf> = inputs(spec).iter().map(|f| resolve(dir, f)).collect();
    if !spec.allow_outside_data_dir {
        // A missing folder holds nothing: its files are reported missing when read. An empty
        // folder (a spec named without a folder) is the current one.
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let root = dir
            .canonicalize()
            .or_else(|_| std::path::absolute(dir))
            .map_err(|e| Error::io(dir, e))?;
        for f in &files {
            // A missing file is reported when it is read.
            let Ok(real) = f.canonicalize() else { continue };
            if !real.starts_with(&root) {
                return Err(Error::Path {
                    path: f.clone(),
                    message: format!(
                        "resolves to {}, outside the data folder {}; a spec reads only under \
                         its data folder unless it sets `allow_outside_data_dir = true`",
                        real.display(),
                        root.display()
                    ),
                });
            }
        }
    }
    let reject = spec.reject_path();
    if let Some(input) = files.iter().find(|f| crate::persist::same_file(f, &reject)) {
        return Err(Error::Path {
            path: reject.clone(),
            message: format!(
                "the reject file is the input {}; writing it would destroy that input: \
                 name another `reject_file`",
                input.display()
            ),
        });
    }
    Ok(())
}
