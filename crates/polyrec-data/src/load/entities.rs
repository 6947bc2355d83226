//! The user and item catalogs: ids, display names, texts, typed attributes, and the labels
//! and scenarios of tasks that read the catalog.

use std::collections::HashMap;
use std::path::Path;

use crate::spec::{DatasetSpec, EntityFileSpec, Source, Template, column};
use crate::{Attribute, Column, Result, RowError, Vocab};

use super::{Loader, RowAt, parse_num};

/// A loaded catalog, before it becomes [`crate::Users`] or [`crate::Items`].
pub(super) struct EntityTable {
    pub(super) ids: Vocab,
    pub(super) names: Vec<Option<String>>,
    pub(super) texts: Vec<Option<String>>,
    pub(super) attributes: Vec<Attribute>,
    /// Scenario name per entity (when the scenario comes from this catalog).
    pub(super) scenario: Vec<Option<String>>,
    /// Label per task per entity (for tasks read from this catalog).
    pub(super) labels: HashMap<usize, Vec<f32>>,
}

/// Where the spec's fields are in a catalog file.
struct EntityColumns {
    id: usize,
    name: Option<Template>,
    text: Option<Template>,
    categorical: Vec<usize>,
    numeric: Vec<usize>,
    scenario: Option<usize>,
    /// (task index, column) of the tasks read from this catalog.
    tasks: Vec<(usize, usize)>,
}

impl EntityColumns {
    fn resolve(
        spec: &DatasetSpec,
        es: &EntityFileSpec,
        source: Source,
        header: &[String],
        path: &Path,
    ) -> Result<Self> {
        let template = |t: &Option<String>| {
            t.as_deref()
                .map(|n| Template::compile(n, header, path))
                .transpose()
        };
        let columns = |names: &[String]| -> Result<Vec<usize>> {
            names.iter().map(|c| column(header, c, path)).collect()
        };
        Ok(Self {
            id: column(header, &es.id, path)?,
            name: template(&es.name)?,
            text: template(&es.text)?,
            categorical: columns(&es.categorical)?,
            numeric: columns(&es.numeric)?,
            scenario: match &spec.scenario {
                Some(s) if s.from == source => Some(column(header, &s.field, path)?),
                _ => None,
            },
            tasks: spec
                .tasks
                .iter()
                .enumerate()
                .filter(|(_, task)| task.from == source)
                .map(|(i, task)| column(header, &task.field, path).map(|c| (i, c)))
                .collect::<Result<_>>()?,
        })
    }
}

/// The attribute columns being filled, one entry per categorical or numeric column.
struct AttributeColumns {
    vocabs: Vec<Vocab>,
    codes: Vec<Vec<u32>>,
    numbers: Vec<Vec<f32>>,
}

impl AttributeColumns {
    fn new(cols: &EntityColumns) -> Self {
        Self {
            vocabs: cols
                .categorical
                .iter()
                .map(|_| Vocab::with_oov("<oov>"))
                .collect(),
            codes: vec![Vec::new(); cols.categorical.len()],
            numbers: vec![Vec::new(); cols.numeric.len()],
        }
    }

    /// Appends one accepted row: categorical codes (0 when empty) and its parsed numbers.
    fn push(&mut self, cols: &EntityColumns, fields: &[&str], numbers: Vec<f32>) {
        for (k, &c) in cols.categorical.iter().enumerate() {
            let raw = fields[c].trim();
            let code = if raw.is_empty() {
                0
            } else {
                self.vocabs[k].insert(raw).0
            };
            self.codes[k].push(code);
        }
        for (k, v) in numbers.into_iter().enumerate() {
            self.numbers[k].push(v);
        }
    }

    /// The finished attributes: categorical columns first, then numeric, in spec order.
    fn finish(self, es: &EntityFileSpec) -> Vec<Attribute> {
        let categorical =
            es.categorical
                .iter()
                .zip(self.vocabs)
                .zip(self.codes)
                .map(|((name, vocab), codes)| Attribute {
                    name: name.clone(),
                    column: Column::Categorical { vocab, codes },
                });
        let numeric = es
            .numeric
            .iter()
            .zip(self.numbers)
            .map(|(name, values)| Attribute {
                name: name.clone(),
                column: Column::Numeric(values),
            });
        categorical.chain(numeric).collect()
    }
}

/// What a valid catalog row derives, before it is accepted.
struct EntityRow {
    labels: Vec<(usize, f32)>,
    scenario: Option<String>,
    numbers: Vec<f32>,
}

impl Loader<'_> {
    /// Loads a catalog; `None` when the spec names no file (items derived from the log).
    pub(super) fn load_entities(
        &mut self,
        es: &EntityFileSpec,
        source: Source,
    ) -> Result<Option<EntityTable>> {
        let Some(file) = &es.file else {
            return Ok(None);
        };
        let path = self.path(file);
        let t = self.open(file)?;
        let cols = EntityColumns::resolve(self.spec, es, source, &t.header, &path)?;
        let mut table = EntityTable {
            ids: Vocab::new(),
            names: Vec::new(),
            texts: Vec::new(),
            attributes: Vec::new(),
            scenario: Vec::new(),
            labels: cols.tasks.iter().map(|&(i, _)| (i, Vec::new())).collect(),
        };
        let mut attributes = AttributeColumns::new(&cols);
        let before = self.rejects.len();
        let mut fields = Vec::with_capacity(t.header.len());
        for r in 0..t.len() {
            t.row_into(r, &mut fields);
            let at = RowAt::new(&path, &t, r, &fields);
            let id = fields[cols.id].trim();
            let row = match self.entity_row(es, &cols, &table.ids, &at, id) {
                Ok(row) => row,
                Err(e) => {
                    self.reject(e)?;
                    continue;
                }
            };
            table.ids.insert(id);
            let render = |tpl: &Option<Template>| tpl.as_ref().and_then(|t| t.render(&fields));
            table.names.push(render(&cols.name));
            table.texts.push(render(&cols.text));
            table.scenario.push(row.scenario);
            for (ti, v) in row.labels {
                if let Some(col) = table.labels.get_mut(&ti) {
                    col.push(v);
                }
            }
            attributes.push(&cols, &fields, row.numbers);
        }
        let rejected = t.errors.len() + self.rejects.len() - before;
        self.account(&path, t.total_rows(), rejected);
        table.attributes = attributes.finish(es);
        Ok(Some(table))
    }

    /// Validates one catalog row: a new, non-empty id, then its labels, scenario and numbers,
    /// in that order (the first fault rejects the row).
    fn entity_row(
        &mut self,
        es: &EntityFileSpec,
        cols: &EntityColumns,
        ids: &Vocab,
        at: &RowAt<'_>,
        id: &str,
    ) -> std::result::Result<EntityRow, RowError> {
        if id.is_empty() {
            return Err(at.reject(&es.id, id, "empty id"));
        }
        if ids.get(id).is_some() {
            return Err(at.reject(&es.id, id, "duplicate id"));
        }
        let mut labels = Vec::with_capacity(cols.tasks.len());
        for &(ti, c) in &cols.tasks {
            let v = self.label(ti, at.fields[c]).map_err(|reason| {
                at.reject_column(c, format!("task `{}`: {reason}", self.spec.tasks[ti].name))
            })?;
            labels.push((ti, v));
        }
        let scenario = match cols.scenario {
            Some(c) => Some(
                self.scenario_of(at.fields[c])
                    .map_err(|reason| at.reject_column(c, format!("scenario: {reason}")))?,
            ),
            None => None,
        };
        let mut numbers = Vec::with_capacity(cols.numeric.len());
        for (k, &c) in cols.numeric.iter().enumerate() {
            let raw = at.fields[c].trim();
            if raw.is_empty() {
                numbers.push(f32::NAN);
            } else if let Some(v) = parse_num(raw) {
                numbers
                    .push(super::labels::to_f32(v).map_err(|r| at.reject(&es.numeric[k], raw, r))?);
            } else {
                return Err(at.reject(&es.numeric[k], raw, "not a finite number"));
            }
        }
        Ok(EntityRow {
            labels,
            scenario,
            numbers,
        })
    }
}
