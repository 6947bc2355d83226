//! The loader: reads the files a [`DatasetSpec`] names, validates every row and builds a
//! [`Dataset`]. One concern per file:
//!
//! | module | what it loads |
//! |---|---|
//! | [`entities`] | the user and item catalogs (ids, names, texts, attributes, catalog labels) |
//! | [`interactions`] | the interaction log (users, items, timestamps, scenarios, labels) |
//! | [`labels`] | task labels and scenarios derived from raw values |
//! | [`kg`] | knowledge-graph triples, item-entity links and entity names |
//! | [`social`] | user-user edges |
//! | [`tags`] | the tag log: users' free-text tags on items, normalised into topics |
//! | [`rejects`] | rejected rows under the spec's policy, and the reject file |
//! | [`paths`] | the containment rule and the reject file checked against the inputs |
//!
//! User-side text (the users' text and the interactions' text) passes through the spec's
//! [`polyrec_privacy::Redactor`] before it is stored, and so does every value quoted in a
//! rejected row.

mod entities;
mod interactions;
mod kg;
mod labels;
mod paths;
mod rejects;
mod social;
mod tags;

use std::path::{Path, PathBuf};

use polyrec_privacy::{Counts, Redactor};

use crate::read::{RawTable, read_table};
use crate::spec::{DatasetSpec, FileSpec, Source, SpecVars};
use crate::{Dataset, FileReport, LoadReport, Result, Task, TaskKind, Vocab};

use entities::EntityTable;
use rejects::Rejects;

impl Dataset {
    /// Loads the dataset a spec file describes. Relative data paths resolve as
    /// [`DatasetSpec::resolve_data_dir`] says, with no variables; `data_dir` overrides
    /// them. A spec whose `data_dir` names `${VAR}` needs [`Dataset::load_with`] or
    /// `data_dir`.
    pub fn load(spec_path: impl AsRef<Path>, data_dir: Option<&Path>) -> Result<Self> {
        Self::load_with(spec_path, data_dir, &SpecVars::new())
    }

    /// [`Dataset::load`] with the variables the spec's `data_dir` may name.
    pub fn load_with(
        spec_path: impl AsRef<Path>,
        data_dir: Option<&Path>,
        vars: &SpecVars,
    ) -> Result<Self> {
        let spec_path = spec_path.as_ref();
        let spec = DatasetSpec::from_toml_file(spec_path)?;
        spec.check_outputs(spec_path)?;
        let dir = spec.resolve_data_dir(spec_path, data_dir, vars)?;
        Self::load_spec(&spec, &dir)
    }

    /// Loads from a parsed spec with relative paths resolved against `data_dir`.
    pub fn load_spec(spec: &DatasetSpec, data_dir: &Path) -> Result<Self> {
        Loader::new(spec, data_dir)?.run()
    }
}

/// The state of one load: the spec, where its files are, the rejected rows so far, the
/// per-file accounting, and the vocabularies labels and scenarios grow while rows are read.
struct Loader<'a> {
    spec: &'a DatasetSpec,
    dir: &'a Path,
    rejects: Rejects,
    /// The spec's redactor (`None` when `[privacy] enabled = false`).
    redactor: Option<Redactor>,
    report: LoadReport,
    /// Classes met so far, per task (empty for tasks that are not multiclass).
    classes: Vec<Vocab>,
    scenarios: Vocab,
    /// Whether a bound of [`crate::limits`] was passed while reading the current row: the
    /// load then stops with that row.
    limit_passed: bool,
}

/// One data row being read (a catalog or a log row): where it is, for error messages.
struct RowAt<'r> {
    path: &'r Path,
    line: usize,
    header: &'r [String],
    fields: &'r [&'r str],
}

impl<'r> RowAt<'r> {
    /// Row `r` of table `t`, read from `path`, split into `fields`.
    fn new(path: &'r Path, t: &'r RawTable, r: usize, fields: &'r [&'r str]) -> Self {
        Self {
            path,
            line: t.line(r),
            header: &t.header,
            fields,
        }
    }

    /// A rejection naming a field and a value.
    fn reject(&self, field: &str, value: &str, reason: impl Into<String>) -> crate::RowError {
        crate::RowError::new(self.path, self.line, field, value, reason)
    }

    /// A rejection of column `c`, naming its header and raw value.
    fn reject_column(&self, c: usize, reason: impl Into<String>) -> crate::RowError {
        self.reject(&self.header[c], self.fields[c], reason)
    }
}

/// A finite number, or `None`.
fn parse_num(s: &str) -> Option<f64> {
    let v: f64 = s.trim().parse().ok()?;
    v.is_finite().then_some(v)
}

impl<'a> Loader<'a> {
    fn new(spec: &'a DatasetSpec, dir: &'a Path) -> Result<Self> {
        paths::check(spec, dir)?;
        let mut scenarios = Vocab::new();
        if let Some(s) = &spec.scenario {
            for b in &s.buckets {
                scenarios.insert(&b.name);
            }
        }
        let redactor = if spec.privacy.enabled {
            Some(Redactor::new(&spec.privacy).map_err(|e| {
                crate::Error::spec(PathBuf::from(&spec.name), format!("[privacy]: {e}"))
            })?)
        } else {
            None
        };
        Ok(Self {
            spec,
            dir,
            rejects: Rejects::new(spec.on_error, redactor.clone()),
            redactor,
            report: LoadReport::default(),
            classes: vec![Vocab::new(); spec.tasks.len()],
            scenarios,
            limit_passed: false,
        })
    }

    /// Masks personal data in the user-side texts, counting what was masked: the users'
    /// texts, the interactions' texts, and the items' texts when they come from the log
    /// (no catalog file: an item's text is then a user's review).
    fn redact(
        &mut self,
        users: &mut crate::Users,
        items: &mut crate::Items,
        interactions: &mut crate::Interactions,
    ) {
        let Some(r) = &self.redactor else { return };
        let from_log = self.spec.items.as_ref().is_none_or(|i| i.file.is_none());
        let item_texts = items.texts.iter_mut().filter(|_| from_log);
        let mut counts = Counts::default();
        let texts = users
            .texts
            .iter_mut()
            .chain(item_texts)
            .chain(interactions.texts.iter_mut().flatten());
        for t in texts.flatten() {
            counts.merge(&r.redact_in_place(t));
        }
        self.report.add_redactions(&counts);
    }

    /// Loads users, items, interactions, the knowledge graph, social edges and tags in that order
    /// (the order fixes class and scenario numbering), then settles the rejected rows.
    ///
    /// The knowledge graph's triples need nothing the other files give, so they are read on
    /// a second thread of rayon's pool while the catalogs and the log load; their rejected
    /// rows are filed at their turn, so the outcome is the sequential one.
    fn run(mut self) -> Result<Dataset> {
        let spec = self.spec;
        let (dir, policy) = (self.dir, spec.on_error);
        let (first, triples) = rayon::join(
            || self.load_log(),
            || {
                spec.kg
                    .as_ref()
                    .map(|ks| kg::ReadTriples::read(ks, dir, policy))
            },
        );
        let (users, items, mut log) = first?;
        let kg = match (&spec.kg, triples) {
            (Some(ks), Some(triples)) => Some(self.load_kg(ks, triples?, &log.item_ids)?),
            _ => None,
        };
        let social = match &spec.social {
            Some(s) => self.load_social(s, &log.user_ids)?,
            None => Vec::new(),
        };
        let tags = match &spec.tags {
            Some(t) => Some(self.load_tags(t, &log.user_ids, &log.item_ids)?),
            None => None,
        };
        self.report.reject_file = self.rejects.finish(spec)?;
        let rejected_masked = self.rejects.redactions;
        self.report.add_redactions(&rejected_masked);
        let (mut users, mut items) = log.entities(users, items);
        self.redact(&mut users, &mut items, &mut log.interactions);
        let tasks = spec
            .tasks
            .iter()
            .zip(&self.classes)
            .map(|(t, classes)| Task {
                name: t.name.clone(),
                kind: TaskKind::from_spec(t.kind, classes),
            })
            .collect();
        Ok(Dataset {
            name: spec.name.clone(),
            users,
            items,
            interactions: log.interactions,
            scenarios: self.scenarios.names().to_vec(),
            tasks,
            kg,
            social,
            tags,
            report: self.report,
        })
    }

    /// The user and item catalogs (when the spec names them), then the interaction log.
    fn load_log(
        &mut self,
    ) -> Result<(
        Option<EntityTable>,
        Option<EntityTable>,
        interactions::ReadLog,
    )> {
        let spec = self.spec;
        let users = match &spec.users {
            Some(u) => self.load_entities(u, Source::User)?,
            None => None,
        };
        let items = match &spec.items {
            Some(i) => self.load_entities(i, Source::Item)?,
            None => None,
        };
        let log = self.load_interactions(users.as_ref(), items.as_ref())?;
        Ok((users, items, log))
    }

    /// A spec path resolved against the data folder.
    fn path(&self, f: &FileSpec) -> PathBuf {
        paths::resolve(self.dir, f)
    }

    /// Reads a file; its structural errors (bad lines, wrong widths) are rejected rows.
    fn open(&mut self, f: &FileSpec) -> Result<RawTable> {
        let path = self.path(f);
        let t = read_table(&path, f.format)?;
        for e in &t.errors {
            self.rejects.push(e.clone())?;
        }
        Ok(t)
    }

    /// Records that a bound was passed (the load stops after the row) and gives the reason
    /// that rejects the row.
    fn limit(&mut self, reason: String) -> String {
        self.limit_passed = true;
        reason
    }

    /// Files a rejected row; when it passed a bound, the load stops with that bound's error,
    /// which names the row's file, line, field and value.
    fn reject(&mut self, mut e: crate::RowError) -> Result<()> {
        if std::mem::take(&mut self.limit_passed) {
            self.rejects.redact(&mut e);
            return Err(crate::Error::Limit(e));
        }
        self.rejects.push(e)
    }

    /// Records the row counts of one file.
    fn account(&mut self, file: &Path, total: usize, rejected: usize) {
        self.report.files.push(FileReport {
            file: file.to_path_buf(),
            total,
            accepted: total - rejected,
            rejected,
        });
    }
}
