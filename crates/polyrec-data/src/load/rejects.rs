//! Rejected rows: collected under the spec's policy, and written to the reject file.

use std::path::{Path, PathBuf};

use polyrec_privacy::{Counts, Redactor};

use crate::spec::{DatasetSpec, ErrorPolicy};
use crate::{Error, MAX_REPORTED_ERRORS, Result, RowError};

/// Collects rejected rows under the spec's policy; the value and the reason of each are
/// redacted first, since both are written to the reject file or quoted in an error.
pub(super) struct Rejects {
    policy: ErrorPolicy,
    rows: Vec<RowError>,
    redactor: Option<Redactor>,
    /// Values masked in rejected rows.
    pub(super) redactions: Counts,
}

impl Rejects {
    pub(super) fn new(policy: ErrorPolicy, redactor: Option<Redactor>) -> Self {
        Self {
            policy,
            rows: Vec::new(),
            redactor,
            redactions: Counts::default(),
        }
    }

    /// Rows rejected so far.
    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Records one rejected row; under `fail`, stops once enough errors are seen.
    pub(super) fn push(&mut self, mut e: RowError) -> Result<()> {
        self.redact(&mut e);
        self.rows.push(e);
        if self.policy == ErrorPolicy::Fail && self.rows.len() >= MAX_REPORTED_ERRORS {
            return Err(self.fail());
        }
        Ok(())
    }

    /// Masks personal data in a row error's value and reason.
    pub(super) fn redact(&mut self, e: &mut RowError) {
        if let Some(r) = &self.redactor {
            self.redactions.merge(&r.redact_in_place(&mut e.value));
            self.redactions.merge(&r.redact_in_place(&mut e.reason));
        }
    }

    fn fail(&mut self) -> Error {
        let errors = std::mem::take(&mut self.rows);
        Error::InvalidRows {
            total: errors.len(),
            errors,
        }
    }

    /// At the end of a load: under `fail`, any rejected row is an error; under `skip`, the
    /// rows go to the reject file, whose path is returned. `None` when nothing was rejected.
    pub(super) fn finish(&mut self, spec: &DatasetSpec) -> Result<Option<PathBuf>> {
        if self.rows.is_empty() {
            return Ok(None);
        }
        match spec.on_error {
            ErrorPolicy::Fail => Err(self.fail()),
            ErrorPolicy::Skip => {
                let file = spec.reject_path();
                write_rejects(&file, &self.rows)?;
                Ok(Some(file))
            }
        }
    }
}

/// Writes rejected rows as TSV (file, line, field, value, reason), atomically.
fn write_rejects(path: &Path, rows: &[RowError]) -> Result<()> {
    let mut out = String::from("file\tline\tfield\tvalue\treason\n");
    let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    for e in rows {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            e.file.display(),
            e.line,
            clean(&e.field),
            clean(&e.value),
            clean(&e.reason)
        ));
    }
    crate::persist::write_atomic(path, out.as_bytes())
}
