//! Row accounting: what loading read, accepted and rejected, per file.

use std::collections::BTreeMap;
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
    /// Personal-data values masked in user-side text and rejected rows, per kind
    /// (`"email"`, `"phone"`, ...); kinds with none are absent. Never the values.
    #[serde(default)]
    pub redactions: BTreeMap<String, u64>,
}

impl LoadReport {
    /// Total rejected rows.
    pub fn rejected(&self) -> usize {
        self.files.iter().map(|f| f.rejected).sum()
    }

    /// Adds masked-value counts.
    pub(crate) fn add_redactions(&mut self, counts: &polyrec_privacy::Counts) {
        for (kind, n) in counts.iter().filter(|&(_, n)| n > 0) {
            *self.redactions.entry(kind.name().to_string()).or_default() += n;
        }
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
        if !self.redactions.is_empty() {
            let list: Vec<String> = self
                .redactions
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            writeln!(
                f,
                "personal data masked in user-side text: {}",
                list.join(", ")
            )?;
        }
        Ok(())
    }
}
