//! Row accounting: what loading read, accepted and rejected, per file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Row accounting for one input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReport {
    /// The file.
    pub file: PathBuf,
    /// Data rows in the file.
    pub total: usize,
    /// Rows accepted.
    pub accepted: usize,
    /// Rows rejected.
    pub rejected: usize,
}

/// What loading did: per-file counts and where rejected rows went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
    /// One entry per file read.
    pub files: Vec<FileReport>,
    /// The reject file, when rows were rejected under `skip`.
    pub reject_file: Option<PathBuf>,
}

impl LoadReport {
    /// Total rejected rows.
    pub fn rejected(&self) -> usize {
        self.files.iter().map(|f| f.rejected).sum()
    }
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for r in &self.files {
            writeln!(
                f,
                "{}: {} rows, {} accepted, {} rejected",
                r.file.display(),
                r.total,
                r.accepted,
                r.rejected
            )?;
        }
        if let Some(p) = &self.reject_file {
            writeln!(f, "rejected rows written to {}", p.display())?;
        }
        Ok(())
    }
}
