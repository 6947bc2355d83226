//! The in-memory dataset and its loader: every row is validated, and every rejected row is
//! either reported (policy `fail`) or written to the reject file (policy `skip`).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::read::{RawTable, read_table};
use crate::spec::{
    DatasetSpec, EntityFileSpec, ErrorPolicy, FileSpec, Source, TaskKindSpec, TaskSpec, Template,
    column,
};
use crate::{Error, MAX_REPORTED_ERRORS, Result, RowError, Vocab};

/// A typed attribute column of users or items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Column {
    /// Codes into a vocabulary whose index 0 is the out-of-vocabulary / missing bucket.
    Categorical {
        /// The vocabulary (index 0: `<oov>`).
        vocab: Vocab,
        /// One code per row.
        codes: Vec<u32>,
    },
    /// Numbers; NaN where the value is missing.
    Numeric(Vec<f32>),
}

/// A named attribute column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// Column name.
    pub name: String,
    /// The values.
    pub column: Column,
}

/// Users: dense ids, free text and attributes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Users {
    /// Raw id <-> dense index.
    pub ids: Vocab,
    /// Free text per user, from the spec's template.
    pub texts: Vec<Option<String>>,
    /// Typed attributes.
    pub attributes: Vec<Attribute>,
}

/// Items: dense ids, display names, free text and attributes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Items {
    /// Raw id <-> dense index.
    pub ids: Vocab,
    /// Display name per item (e.g. "Heat (1995)").
    pub names: Vec<Option<String>>,
    /// Free text per item, from the spec's template.
    pub texts: Vec<Option<String>>,
    /// Typed attributes.
    pub attributes: Vec<Attribute>,
}

/// The interaction log, column by column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interactions {
    /// Dense user index per row.
    pub user: Vec<u32>,
    /// Dense item index per row.
    pub item: Vec<u32>,
    /// Scenario index per row (into [`Dataset::scenarios`]).
    pub scenario: Vec<u16>,
    /// Timestamp per row (0 when the log has none).
    pub timestamp: Vec<i64>,
    /// One label column per task, in task order.
    pub labels: Vec<Vec<f32>>,
    /// Text per row (e.g. a review), when the spec defines one.
    pub texts: Option<Vec<Option<String>>>,
    /// Source line of each row.
    pub lines: Vec<u32>,
}

impl Interactions {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.user.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.user.is_empty()
    }

    /// The rows at `rows`, in that order, with every column (users, items, scenarios,
    /// timestamps, labels, texts, source lines) taken consistently. Panics on an index
    /// past the end, like slice indexing.
    pub fn select(&self, rows: &[usize]) -> Interactions {
        fn pick<T: Clone>(v: &[T], rows: &[usize]) -> Vec<T> {
            rows.iter().map(|&r| v[r].clone()).collect()
        }
        Interactions {
            user: pick(&self.user, rows),
            item: pick(&self.item, rows),
            scenario: pick(&self.scenario, rows),
            timestamp: pick(&self.timestamp, rows),
            labels: self.labels.iter().map(|l| pick(l, rows)).collect(),
            texts: self.texts.as_ref().map(|t| pick(t, rows)),
            lines: pick(&self.lines, rows),
        }
    }
}

/// Task kinds, with the classes of a multiclass task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskKind {
    /// 0/1 labels.
    Binary,
    /// Real-valued labels.
    Regression,
    /// Class indices; classes in order of first appearance.
    Multiclass {
        /// Class names.
        classes: Vec<String>,
    },
}

/// A task of the dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: TaskKind,
}

/// A knowledge-graph triple of dense indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Triple {
    /// Head entity.
    pub head: u32,
    /// Relation.
    pub relation: u32,
    /// Tail entity.
    pub tail: u32,
}

/// A link from an item to a knowledge-graph entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ItemLink {
    /// Dense item index.
    pub item: u32,
    /// Entity index.
    pub entity: u32,
}

/// Knowledge-graph data, in dense indices.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KgData {
    /// Entity ids.
    pub entities: Vocab,
    /// Relation names.
    pub relations: Vocab,
    /// Triples.
    pub triples: Vec<Triple>,
    /// Item-entity links.
    pub item_links: Vec<ItemLink>,
    /// Entity display names, where the data has them.
    pub entity_names: HashMap<u32, String>,
}

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

/// A loaded dataset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// Name from the spec.
    pub name: String,
    /// Users.
    pub users: Users,
    /// Items.
    pub items: Items,
    /// Interactions.
    pub interactions: Interactions,
    /// Scenario names.
    pub scenarios: Vec<String>,
    /// Tasks, in label order.
    pub tasks: Vec<Task>,
    /// Knowledge graph, if the spec has one.
    pub kg: Option<KgData>,
    /// User-user edges.
    pub social: Vec<(u32, u32)>,
    /// Row accounting.
    pub report: LoadReport,
}

impl Dataset {
    /// Loads the dataset a spec file describes. Relative data paths resolve as
    /// [`DatasetSpec::resolve_data_dir`] says; `data_dir` overrides them.
    pub fn load(spec_path: impl AsRef<Path>, data_dir: Option<&Path>) -> Result<Self> {
        let spec_path = spec_path.as_ref();
        let spec = DatasetSpec::from_toml_file(spec_path)?;
        let dir = spec.resolve_data_dir(spec_path, data_dir)?;
        Self::load_spec(&spec, &dir)
    }

    /// Loads from a parsed spec with relative paths resolved against `data_dir`.
    pub fn load_spec(spec: &DatasetSpec, data_dir: &Path) -> Result<Self> {
        Loader::new(spec, data_dir).run()
    }

    /// Index of a task by name.
    pub fn task_index(&self, name: &str) -> Option<usize> {
        self.tasks.iter().position(|t| t.name == name)
    }

    pub(crate) fn reindex(&mut self) {
        self.users.ids.reindex();
        self.items.ids.reindex();
        for a in self
            .users
            .attributes
            .iter_mut()
            .chain(self.items.attributes.iter_mut())
        {
            if let Column::Categorical { vocab, .. } = &mut a.column {
                vocab.reindex();
            }
        }
        if let Some(kg) = &mut self.kg {
            kg.entities.reindex();
            kg.relations.reindex();
        }
    }
}

/// Collects rejected rows under the spec's policy.
struct Rejects {
    policy: ErrorPolicy,
    rows: Vec<RowError>,
}

impl Rejects {
    /// Records one rejected row; under `fail`, stops once enough errors are seen.
    fn push(&mut self, e: RowError) -> Result<()> {
        self.rows.push(e);
        if self.policy == ErrorPolicy::Fail && self.rows.len() >= MAX_REPORTED_ERRORS {
            return Err(self.fail());
        }
        Ok(())
    }
    fn fail(&mut self) -> Error {
        let errors = std::mem::take(&mut self.rows);
        Error::InvalidRows {
            total: errors.len(),
            errors,
        }
    }
}

struct EntityTable {
    ids: Vocab,
    names: Vec<Option<String>>,
    texts: Vec<Option<String>>,
    attributes: Vec<Attribute>,
    /// Scenario name per entity (when the scenario comes from this catalog).
    scenario: Vec<Option<String>>,
    /// Label per task per entity (for tasks read from this catalog).
    labels: HashMap<usize, Vec<f32>>,
}

struct Loader<'a> {
    spec: &'a DatasetSpec,
    dir: &'a Path,
    rejects: Rejects,
    report: LoadReport,
    classes: Vec<Vocab>,
    scenarios: Vocab,
}

fn parse_num(s: &str) -> Option<f64> {
    let v: f64 = s.trim().parse().ok()?;
    v.is_finite().then_some(v)
}

impl<'a> Loader<'a> {
    fn new(spec: &'a DatasetSpec, dir: &'a Path) -> Self {
        let mut scenarios = Vocab::new();
        if let Some(s) = &spec.scenario {
            for b in &s.buckets {
                scenarios.insert(&b.name);
            }
        }
        Self {
            spec,
            dir,
            rejects: Rejects {
                policy: spec.on_error,
                rows: Vec::new(),
            },
            report: LoadReport::default(),
            classes: vec![Vocab::new(); spec.tasks.len()],
            scenarios,
        }
    }

    fn path(&self, f: &FileSpec) -> PathBuf {
        let p = PathBuf::from(&f.path);
        if p.is_absolute() { p } else { self.dir.join(p) }
    }

    fn open(&mut self, f: &FileSpec) -> Result<RawTable> {
        let path = self.path(f);
        let t = read_table(&path, f.format)?;
        for e in &t.errors {
            self.rejects.push(e.clone())?;
        }
        Ok(t)
    }

    fn account(&mut self, file: &Path, total: usize, rejected: usize) {
        self.report.files.push(FileReport {
            file: file.to_path_buf(),
            total,
            accepted: total - rejected,
            rejected,
        });
    }

    /// Derives the label of task `t` from a raw value. Errors are reasons.
    fn label(&mut self, t: usize, raw: &str) -> std::result::Result<f32, String> {
        let task: &TaskSpec = &self.spec.tasks[t];
        let raw = raw.trim();
        if task.kind == TaskKindSpec::Multiclass {
            if raw.is_empty() {
                return Err("empty class label".into());
            }
            return Ok(self.classes[t].insert(raw).0 as f32);
        }
        if let Some(pos) = &task.positive {
            if raw.is_empty() {
                return Err("empty label".into());
            }
            return Ok(f32::from(u8::from(raw == pos)));
        }
        let v = match raw.to_ascii_lowercase().as_str() {
            "true" if task.kind == TaskKindSpec::Binary => 1.0,
            "false" if task.kind == TaskKindSpec::Binary => 0.0,
            _ => parse_num(raw).ok_or_else(|| {
                if raw.eq_ignore_ascii_case("nan") {
                    "NaN is not a valid label".to_string()
                } else {
                    "not a finite number".to_string()
                }
            })?,
        };
        if let Some([lo, hi]) = task.range
            && (v < lo || v > hi)
        {
            return Err(format!("label out of range [{lo}, {hi}]"));
        }
        if let Some(rule) = &task.rule {
            return Ok(f32::from(u8::from(rule.apply(v).unwrap_or(false))));
        }
        if task.kind == TaskKindSpec::Binary && v != 0.0 && v != 1.0 {
            return Err("binary label must be 0 or 1".into());
        }
        Ok(v as f32)
    }

    fn scenario_of(&mut self, raw: &str) -> std::result::Result<String, String> {
        let Some(s) = &self.spec.scenario else {
            return Ok("all".into());
        };
        let raw = raw.trim();
        if s.buckets.is_empty() {
            if raw.is_empty() {
                return Err("empty scenario value".into());
            }
            return Ok(raw.to_string());
        }
        let v = parse_num(raw).ok_or_else(|| "scenario value is not a number".to_string())?;
        s.buckets
            .iter()
            .find(|b| b.max.is_none_or(|m| v <= m))
            .map(|b| b.name.clone())
            .ok_or_else(|| "value is above every scenario bucket".to_string())
    }

    fn load_entities(
        &mut self,
        es: &EntityFileSpec,
        source: Source,
    ) -> Result<Option<EntityTable>> {
        let Some(file) = &es.file else {
            return Ok(None);
        };
        let path = self.path(file);
        let t = self.open(file)?;
        let read_errors = self.rejects.rows.len();
        let id_col = column(&t.header, &es.id, &path)?;
        let name_t = es
            .name
            .as_deref()
            .map(|n| Template::compile(n, &t.header, &path))
            .transpose()?;
        let text_t = es
            .text
            .as_deref()
            .map(|n| Template::compile(n, &t.header, &path))
            .transpose()?;
        let cat_cols: Vec<usize> = es
            .categorical
            .iter()
            .map(|c| column(&t.header, c, &path))
            .collect::<Result<_>>()?;
        let num_cols: Vec<usize> = es
            .numeric
            .iter()
            .map(|c| column(&t.header, c, &path))
            .collect::<Result<_>>()?;
        let scen_col = match &self.spec.scenario {
            Some(s) if s.from == source => Some(column(&t.header, &s.field, &path)?),
            _ => None,
        };
        let task_cols: Vec<(usize, usize)> = self
            .spec
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, task)| task.from == source)
            .map(|(i, task)| column(&t.header, &task.field, &path).map(|c| (i, c)))
            .collect::<Result<_>>()?;

        let mut table = EntityTable {
            ids: Vocab::new(),
            names: Vec::new(),
            texts: Vec::new(),
            attributes: Vec::new(),
            scenario: Vec::new(),
            labels: task_cols.iter().map(|&(i, _)| (i, Vec::new())).collect(),
        };
        let mut cat_vocabs: Vec<Vocab> =
            cat_cols.iter().map(|_| Vocab::with_oov("<oov>")).collect();
        let mut cat_codes: Vec<Vec<u32>> = vec![Vec::new(); cat_cols.len()];
        let mut nums: Vec<Vec<f32>> = vec![Vec::new(); num_cols.len()];
        let mut rejected = self.rejects.rows.len() - read_errors + t.errors.len();
        let rejected_before = self.rejects.rows.len();
        for r in 0..t.len() {
            let line = t.line(r);
            let fields = t.row(r);
            let id = fields[id_col].trim();
            let fail = |field: &str, value: &str, reason: String| {
                RowError::new(&path, line, field, value, reason)
            };
            if id.is_empty() {
                self.rejects.push(fail(&es.id, id, "empty id".into()))?;
                continue;
            }
            if table.ids.get(id).is_some() {
                self.rejects.push(fail(&es.id, id, "duplicate id".into()))?;
                continue;
            }
            // Validate derived values before accepting the row.
            let mut labels = Vec::with_capacity(task_cols.len());
            let mut bad = None;
            for &(ti, c) in &task_cols {
                match self.label(ti, fields[c]) {
                    Ok(v) => labels.push((ti, v)),
                    Err(reason) => {
                        bad = Some(fail(
                            &t.header[c],
                            fields[c],
                            format!("task `{}`: {reason}", self.spec.tasks[ti].name),
                        ));
                        break;
                    }
                }
            }
            let scenario = match (bad.is_none(), scen_col) {
                (true, Some(c)) => match self.scenario_of(fields[c]) {
                    Ok(s) => Some(s),
                    Err(reason) => {
                        bad = Some(fail(&t.header[c], fields[c], format!("scenario: {reason}")));
                        None
                    }
                },
                _ => None,
            };
            let mut numbers = Vec::with_capacity(num_cols.len());
            if bad.is_none() {
                for (k, &c) in num_cols.iter().enumerate() {
                    let raw = fields[c].trim();
                    if raw.is_empty() {
                        numbers.push(f32::NAN);
                    } else if let Some(v) = parse_num(raw) {
                        numbers.push(v as f32);
                    } else {
                        bad = Some(fail(&es.numeric[k], raw, "not a finite number".into()));
                        break;
                    }
                }
            }
            if let Some(e) = bad {
                self.rejects.push(e)?;
                continue;
            }
            table.ids.insert(id);
            table
                .names
                .push(name_t.as_ref().and_then(|tpl| tpl.render(&fields)));
            table
                .texts
                .push(text_t.as_ref().and_then(|tpl| tpl.render(&fields)));
            table.scenario.push(scenario);
            for (ti, v) in labels {
                if let Some(col) = table.labels.get_mut(&ti) {
                    col.push(v);
                }
            }
            for (k, &c) in cat_cols.iter().enumerate() {
                let raw = fields[c].trim();
                let code = if raw.is_empty() {
                    0
                } else {
                    cat_vocabs[k].insert(raw).0
                };
                cat_codes[k].push(code);
            }
            for (k, v) in numbers.into_iter().enumerate() {
                nums[k].push(v);
            }
        }
        rejected += self.rejects.rows.len() - rejected_before;
        self.account(&path, t.total_rows(), rejected);
        for ((name, vocab), codes) in es.categorical.iter().zip(cat_vocabs).zip(cat_codes) {
            table.attributes.push(Attribute {
                name: name.clone(),
                column: Column::Categorical { vocab, codes },
            });
        }
        for (name, values) in es.numeric.iter().zip(nums) {
            table.attributes.push(Attribute {
                name: name.clone(),
                column: Column::Numeric(values),
            });
        }
        Ok(Some(table))
    }

    fn run(mut self) -> Result<Dataset> {
        let spec = self.spec;
        let users = match &spec.users {
            Some(u) => self.load_entities(u, Source::User)?,
            None => None,
        };
        let items = match &spec.items {
            Some(i) => self.load_entities(i, Source::Item)?,
            None => None,
        };

        // Interactions.
        let is = &spec.interactions;
        let path = self.path(&is.file);
        let t = self.open(&is.file)?;
        let before = self.rejects.rows.len();
        let structural = t.errors.len();
        let user_col = is
            .user
            .as_deref()
            .map(|c| column(&t.header, c, &path))
            .transpose()?;
        let item_col = column(&t.header, &is.item, &path)?;
        let ts_col = is
            .timestamp
            .as_deref()
            .map(|c| column(&t.header, c, &path))
            .transpose()?;
        let text_t = is
            .text
            .as_deref()
            .map(|x| Template::compile(x, &t.header, &path))
            .transpose()?;
        // Items without a catalog file take name/text templates from the interaction rows.
        let (item_name_t, item_text_t) = match (&spec.items, &items) {
            (Some(es), None) => (
                es.name
                    .as_deref()
                    .map(|n| Template::compile(n, &t.header, &path))
                    .transpose()?,
                es.text
                    .as_deref()
                    .map(|n| Template::compile(n, &t.header, &path))
                    .transpose()?,
            ),
            _ => (None, None),
        };
        let scen_col = match &spec.scenario {
            Some(s) if s.from == Source::Interaction => Some(column(&t.header, &s.field, &path)?),
            Some(s) if s.from == Source::Item && items.is_none() => {
                Some(column(&t.header, &s.field, &path)?)
            }
            _ => None,
        };
        let task_cols: Vec<Option<usize>> = spec
            .tasks
            .iter()
            .map(|task| match task.from {
                Source::Interaction => column(&t.header, &task.field, &path).map(Some),
                Source::Item if items.is_none() => column(&t.header, &task.field, &path).map(Some),
                _ => Ok(None),
            })
            .collect::<Result<_>>()?;

        let mut user_ids = users.as_ref().map_or_else(Vocab::new, |u| u.ids.clone());
        let mut item_ids = items.as_ref().map_or_else(Vocab::new, |i| i.ids.clone());
        let mut derived_names: Vec<Option<String>> = Vec::new();
        let mut derived_texts: Vec<Option<String>> = Vec::new();
        let mut inter = Interactions {
            labels: vec![Vec::with_capacity(t.len()); spec.tasks.len()],
            ..Default::default()
        };
        if text_t.is_some() {
            inter.texts = Some(Vec::with_capacity(t.len()));
        }
        let mut labels = vec![0f32; spec.tasks.len()];
        for r in 0..t.len() {
            let line = t.line(r);
            let fields = t.row(r);
            let fail = |c: usize, reason: String| {
                RowError::new(&path, line, &t.header[c], fields[c], reason)
            };
            // User.
            let user = match user_col {
                Some(c) => {
                    let raw = fields[c].trim();
                    match (&users, user_ids.get(raw)) {
                        (_, Some(u)) => u,
                        (Some(_), None) => {
                            self.rejects.push(fail(
                                c,
                                "unknown user id (not in the user catalog)".into(),
                            ))?;
                            continue;
                        }
                        (None, None) if raw.is_empty() => {
                            self.rejects.push(fail(c, "empty user id".into()))?;
                            continue;
                        }
                        (None, None) => user_ids.insert(raw).0,
                    }
                }
                None => user_ids.insert(&format!("row{line}")).0,
            };
            // Item.
            let raw_item = fields[item_col].trim();
            let (item, new_item) = match (&items, item_ids.get(raw_item)) {
                (_, Some(i)) => (i, false),
                (Some(_), None) => {
                    self.rejects.push(fail(
                        item_col,
                        "unknown item id (not in the item catalog)".into(),
                    ))?;
                    continue;
                }
                (None, None) if raw_item.is_empty() => {
                    self.rejects.push(fail(item_col, "empty item id".into()))?;
                    continue;
                }
                (None, None) => (u32::MAX, true),
            };
            // Timestamp.
            let timestamp = match ts_col {
                Some(c) => match parse_num(fields[c]) {
                    Some(v) => v as i64,
                    None => {
                        self.rejects
                            .push(fail(c, "timestamp is not a finite number".into()))?;
                        continue;
                    }
                },
                None => 0,
            };
            // Scenario.
            let scenario = match scen_col {
                Some(c) => match self.scenario_of(fields[c]) {
                    Ok(s) => s,
                    Err(reason) => {
                        self.rejects.push(fail(c, format!("scenario: {reason}")))?;
                        continue;
                    }
                },
                None => match spec.scenario.as_ref().map(|s| s.from) {
                    Some(Source::User) => users
                        .as_ref()
                        .and_then(|u| u.scenario[user as usize].clone())
                        .unwrap_or_default(),
                    Some(Source::Item) => items
                        .as_ref()
                        .and_then(|i| i.scenario[item as usize].clone())
                        .unwrap_or_default(),
                    _ => "all".to_string(),
                },
            };
            // Labels.
            let mut ok = true;
            for (ti, col) in task_cols.iter().enumerate() {
                labels[ti] = match (col, spec.tasks[ti].from) {
                    (Some(c), _) => match self.label(ti, fields[*c]) {
                        Ok(v) => v,
                        Err(reason) => {
                            self.rejects.push(fail(
                                *c,
                                format!("task `{}`: {reason}", spec.tasks[ti].name),
                            ))?;
                            ok = false;
                            break;
                        }
                    },
                    (None, Source::User) => users
                        .as_ref()
                        .and_then(|u| u.labels.get(&ti))
                        .map_or(f32::NAN, |l| l[user as usize]),
                    (None, _) => items
                        .as_ref()
                        .and_then(|i| i.labels.get(&ti))
                        .map_or(f32::NAN, |l| l[item as usize]),
                };
            }
            if !ok {
                continue;
            }
            let item = if new_item {
                let i = item_ids.insert(raw_item).0;
                derived_names.push(item_name_t.as_ref().and_then(|tpl| tpl.render(&fields)));
                derived_texts.push(item_text_t.as_ref().and_then(|tpl| tpl.render(&fields)));
                i
            } else {
                if items.is_none() {
                    let idx = item as usize;
                    if derived_texts[idx].is_none() {
                        derived_texts[idx] =
                            item_text_t.as_ref().and_then(|tpl| tpl.render(&fields));
                    }
                    if derived_names[idx].is_none() {
                        derived_names[idx] =
                            item_name_t.as_ref().and_then(|tpl| tpl.render(&fields));
                    }
                }
                item
            };
            let s = self.scenarios.insert(&scenario).0;
            inter.user.push(user);
            inter.item.push(item);
            inter.scenario.push(u16::try_from(s).unwrap_or(u16::MAX));
            inter.timestamp.push(timestamp);
            for (ti, v) in labels.iter().enumerate() {
                inter.labels[ti].push(*v);
            }
            if let (Some(texts), Some(tpl)) = (&mut inter.texts, &text_t) {
                texts.push(tpl.render(&fields));
            }
            inter.lines.push(line as u32);
        }
        let rejected = structural + self.rejects.rows.len() - before;
        self.account(&path, t.total_rows(), rejected);

        let kg = match &spec.kg {
            Some(_) => Some(self.load_kg(&item_ids)?),
            None => None,
        };
        let social = match &spec.social {
            Some(s) => self.load_social(s, &user_ids)?,
            None => Vec::new(),
        };

        if !self.rejects.rows.is_empty() {
            match spec.on_error {
                ErrorPolicy::Fail => return Err(self.rejects.fail()),
                ErrorPolicy::Skip => {
                    let file = spec
                        .reject_file
                        .clone()
                        .unwrap_or_else(|| PathBuf::from(format!("{}.rejects.tsv", spec.name)));
                    write_rejects(&file, &self.rejects.rows)?;
                    self.report.reject_file = Some(file);
                }
            }
        }

        let n_users = user_ids.len();
        let users = match users {
            Some(u) => Users {
                ids: user_ids,
                texts: u.texts,
                attributes: u.attributes,
            },
            None => Users {
                ids: user_ids,
                texts: vec![None; n_users],
                attributes: Vec::new(),
            },
        };
        let items = match items {
            Some(i) => Items {
                ids: item_ids,
                names: i.names,
                texts: i.texts,
                attributes: i.attributes,
            },
            None => Items {
                ids: item_ids,
                names: derived_names,
                texts: derived_texts,
                attributes: Vec::new(),
            },
        };
        let tasks = spec
            .tasks
            .iter()
            .zip(&self.classes)
            .map(|(t, classes)| Task {
                name: t.name.clone(),
                kind: match t.kind {
                    TaskKindSpec::Binary => TaskKind::Binary,
                    TaskKindSpec::Regression => TaskKind::Regression,
                    TaskKindSpec::Multiclass => TaskKind::Multiclass {
                        classes: classes.names().to_vec(),
                    },
                },
            })
            .collect();
        Ok(Dataset {
            name: spec.name.clone(),
            users,
            items,
            interactions: inter,
            scenarios: self.scenarios.names().to_vec(),
            tasks,
            kg,
            social,
            report: self.report,
        })
    }

    fn load_kg(&mut self, items: &Vocab) -> Result<KgData> {
        let Some(ks) = &self.spec.kg else {
            return Ok(KgData::default());
        };
        let mut kg = KgData::default();
        // Triples.
        let path = self.path(&ks.triples);
        let t = self.open(&ks.triples)?;
        let before = self.rejects.rows.len();
        let cols: Vec<usize> = ks
            .columns
            .iter()
            .map(|c| column(&t.header, c, &path))
            .collect::<Result<_>>()?;
        let allowed: Option<std::collections::HashSet<&str>> = ks
            .relations
            .as_ref()
            .map(|r| r.iter().map(String::as_str).collect());
        for r in 0..t.len() {
            let (h, rel, tl) = (
                t.cell(r, cols[0]).trim(),
                t.cell(r, cols[1]).trim(),
                t.cell(r, cols[2]).trim(),
            );
            let line = t.line(r);
            if let Some((c, v)) = [(0, h), (1, rel), (2, tl)]
                .into_iter()
                .find(|(_, v)| v.is_empty())
            {
                self.rejects
                    .push(RowError::new(&path, line, &ks.columns[c], v, "empty value"))?;
                continue;
            }
            if allowed.as_ref().is_some_and(|a| !a.contains(rel)) {
                self.rejects.push(RowError::new(
                    &path,
                    line,
                    &ks.columns[1],
                    rel,
                    "relation not allowed by the spec's `kg.relations`",
                ))?;
                continue;
            }
            let head = kg.entities.insert(h).0;
            let relation = kg.relations.insert(rel).0;
            let tail = kg.entities.insert(tl).0;
            kg.triples.push(Triple {
                head,
                relation,
                tail,
            });
        }
        let rejected = t.errors.len() + self.rejects.rows.len() - before;
        self.account(&path, t.total_rows(), rejected);
        // Links.
        let path = self.path(&ks.links);
        let t = self.open(&ks.links)?;
        let before = self.rejects.rows.len();
        let ic = column(&t.header, &ks.link_columns[0], &path)?;
        let ec = column(&t.header, &ks.link_columns[1], &path)?;
        let mut seen = std::collections::HashSet::new();
        for r in 0..t.len() {
            let (raw_item, raw_entity) = (t.cell(r, ic).trim(), t.cell(r, ec).trim());
            let line = t.line(r);
            let Some(item) = items.get(raw_item) else {
                self.rejects.push(RowError::new(
                    &path,
                    line,
                    &ks.link_columns[0],
                    raw_item,
                    "link to an unknown item id",
                ))?;
                continue;
            };
            if raw_entity.is_empty() {
                self.rejects.push(RowError::new(
                    &path,
                    line,
                    &ks.link_columns[1],
                    raw_entity,
                    "empty entity id",
                ))?;
                continue;
            }
            let entity = kg.entities.insert(raw_entity).0;
            if !seen.insert((item, entity)) {
                self.rejects.push(RowError::new(
                    &path,
                    line,
                    &ks.link_columns[1],
                    raw_entity,
                    "duplicate item-entity link",
                ))?;
                continue;
            }
            kg.item_links.push(ItemLink { item, entity });
        }
        let rejected = t.errors.len() + self.rejects.rows.len() - before;
        self.account(&path, t.total_rows(), rejected);
        // Names.
        if let Some(f) = &ks.entity_names {
            let t = self.open(f)?;
            for r in 0..t.len() {
                if t.header.len() >= 2
                    && let Some(e) = kg.entities.get(t.cell(r, 0).trim())
                {
                    kg.entity_names.insert(e, t.cell(r, 1).trim().to_string());
                }
            }
        }
        Ok(kg)
    }

    fn load_social(
        &mut self,
        s: &crate::spec::SocialSpec,
        users: &Vocab,
    ) -> Result<Vec<(u32, u32)>> {
        let path = self.path(&s.file);
        let t = self.open(&s.file)?;
        let before = self.rejects.rows.len();
        let uc = column(&t.header, &s.user, &path)?;
        let fc = column(&t.header, &s.friend, &path)?;
        let mut edges = Vec::with_capacity(t.len());
        for r in 0..t.len() {
            let line = t.line(r);
            let mut ids = [0u32; 2];
            let mut ok = true;
            for (k, (c, name)) in [(uc, &s.user), (fc, &s.friend)].into_iter().enumerate() {
                match users.get(t.cell(r, c).trim()) {
                    Some(u) => ids[k] = u,
                    None => {
                        self.rejects.push(RowError::new(
                            &path,
                            line,
                            name,
                            t.cell(r, c),
                            "unknown user id",
                        ))?;
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                edges.push((ids[0], ids[1]));
            }
        }
        let rejected = t.errors.len() + self.rejects.rows.len() - before;
        self.account(&path, t.total_rows(), rejected);
        Ok(edges)
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
    crate::cache::write_atomic(path, out.as_bytes())
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

/// Writes `bytes` through a temporary file in the same folder, then renames it.
pub(crate) fn write_all_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
