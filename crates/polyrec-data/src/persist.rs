//! Atomic file writes and content digests: the leaf every other module of the crate (the
//! loader's reject file, the binary cache, the spec's digest) uses, and which imports none of
//! them. The crates above use the same writer ([`write_atomic_io`]) for their files
//! (embeddings, embedding caches, model directories): one atomic writer in the workspace.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Whether two paths name the same existing file (after symbolic links; on Unix, hard
/// links too): an output that is an input would destroy it.
pub fn same_file(a: &Path, b: &Path) -> bool {
    // As the kernel resolves them, and with `.` and `..` folded first (a path through a
    // folder that does not exist yet, `out/../input.csv`, is the input once a writer
    // creates that folder).
    inode_eq(a, b) || inode_eq(&lexical(a), &lexical(b))
}

fn inode_eq(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if ma.dev() == mb.dev() && ma.ino() == mb.ino() {
            return true;
        }
    }
    let _ = (&ma, &mb);
    matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// `p` made absolute with `.` dropped and `..` folded, without touching the file system.
fn lexical(p: &Path) -> std::path::PathBuf {
    use std::path::Component;
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = std::path::PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Hex SHA-256 of some bytes.
pub fn hex_digest(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex of a digest.
pub(crate) fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to `path` through a temporary file in the same folder, synced, then
/// renamed over `path` (tempfile's `persist`): readers never see a half-written file, and a
/// failed write leaves no temporary file behind. Missing parent folders are created; the
/// file gets the permissions `File::create` would give it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_io(path, bytes).map_err(|e| Error::io(path, e))
}

/// [`write_atomic`] with the plain I/O error, for crates that wrap it in their own error.
pub fn write_atomic_io(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(path, bytes, false)
}

/// [`write_atomic_io`] for files derived from personal data (embedding caches, dataset
/// caches, model directories): on Unix the file is owner-only (0o600) from its first
/// byte, and its folder is made owner-only (0o700). Elsewhere the same as
/// [`write_atomic_io`].
pub fn write_private_io(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with_mode(path, bytes, true)
}

/// Makes `path` owner-only on Unix: a folder 0o700 with everything under it (folders 0o700,
/// files 0o600), a file 0o600. Links are not followed. Does nothing elsewhere.
pub fn make_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(path)?;
        if meta.is_dir() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
            for entry in std::fs::read_dir(path)? {
                make_private(&entry?.path())?;
            }
        } else if meta.is_file() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn write_with_mode(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".polyrec-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if private {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            builder.permissions(std::fs::Permissions::from_mode(0o600));
        } else {
            // Like `File::create`: 0o666 less the umask, not tempfile's private 0o600.
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary_file() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let path = dir.path().join("sub").join("out.txt");
        write_atomic(&path, b"first")?;
        write_atomic(&path, b"second")?;
        assert_eq!(std::fs::read(&path).ok().as_deref(), Some(&b"second"[..]));
        let entries = std::fs::read_dir(dir.path().join("sub"))
            .map_err(|e| Error::io(dir.path(), e))?
            .count();
        assert_eq!(entries, 1);
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn private_files_and_folders_are_owner_only() -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| -> std::io::Result<u32> {
            Ok(std::fs::metadata(p)?.permissions().mode() & 0o777)
        };
        let dir = tempfile::tempdir()?;
        let cache = dir.path().join("cache");
        write_private_io(&cache.join("a.bin"), b"x")?;
        assert_eq!(mode(&cache)?, 0o700);
        assert_eq!(mode(&cache.join("a.bin"))?, 0o600);

        let model = dir.path().join("model");
        write_atomic_io(&model.join("sub").join("w.bin"), b"y")?;
        write_atomic_io(&model.join("m.json"), b"{}")?;
        make_private(&model)?;
        for (p, want) in [
            (model.clone(), 0o700),
            (model.join("sub"), 0o700),
            (model.join("sub").join("w.bin"), 0o600),
            (model.join("m.json"), 0o600),
        ] {
            assert_eq!(mode(&p)?, want, "{}", p.display());
        }
        Ok(())
    }

    #[test]
    fn digest_is_hex_sha256() {
        assert_eq!(
            hex_digest(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
