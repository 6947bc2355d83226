//! The interaction log: each row's user, item, timestamp, scenario and task labels, checked
//! against the catalogs when there are any. Without an item catalog, items are the ids the
//! log names, with names and texts taken from their first rows.

use std::path::Path;

use crate::limits::MAX_SCENARIOS;
use crate::spec::{DatasetSpec, Source, Template, column};
use crate::{Interactions, Items, Result, RowError, Users, Vocab};

use super::{EntityTable, Loader, RowAt, parse_num};

/// Where the spec's fields are in the interaction file.
struct InteractionColumns {
    user: Option<usize>,
    item: usize,
    timestamp: Option<usize>,
    /// The interaction text (e.g. a review).
    text: Option<Template>,
    /// Item name and text, read from the log when there is no item catalog file.
    item_name: Option<Template>,
    item_text: Option<Template>,
    scenario: Option<usize>,
    /// The column of each task read from the log (`None`: read from a catalog).
    tasks: Vec<Option<usize>>,
}

impl InteractionColumns {
    fn resolve(
        spec: &DatasetSpec,
        has_item_catalog: bool,
        header: &[String],
        path: &Path,
    ) -> Result<Self> {
        let is = &spec.interactions;
        let optional =
            |c: &Option<String>| c.as_deref().map(|c| column(header, c, path)).transpose();
        let template =
            |t: Option<&String>| t.map(|x| Template::compile(x, header, path)).transpose();
        let item_spec = spec.items.as_ref().filter(|_| !has_item_catalog);
        let from_log = |from: Source| {
            from == Source::Interaction || (from == Source::Item && !has_item_catalog)
        };
        Ok(Self {
            user: optional(&is.user)?,
            item: column(header, &is.item, path)?,
            timestamp: optional(&is.timestamp)?,
            text: template(is.text.as_ref())?,
            item_name: template(item_spec.and_then(|es| es.name.as_ref()))?,
            item_text: template(item_spec.and_then(|es| es.text.as_ref()))?,
            scenario: match &spec.scenario {
                Some(s) if from_log(s.from) => Some(column(header, &s.field, path)?),
                _ => None,
            },
            tasks: spec
                .tasks
                .iter()
                .map(|task| match from_log(task.from) {
                    true => column(header, &task.field, path).map(Some),
                    false => Ok(None),
                })
                .collect::<Result<_>>()?,
        })
    }
}

/// Seconds as an `i64`, when the value is within its range (not saturated).
fn timestamp(v: f64) -> Option<i64> {
    const LIMIT: f64 = 9.2e18;
    (v.abs() < LIMIT).then_some(v as i64)
}

/// The interaction log being built, against the catalogs.
struct InteractionLog<'c> {
    users: Option<&'c EntityTable>,
    items: Option<&'c EntityTable>,
    /// Per task, the labels of the catalog it reads (`None`: read from the log, or not in
    /// the catalog), looked up once instead of per row.
    catalog_labels: Vec<Option<&'c [f32]>>,
    /// When the scenario comes from a catalog (or is `all`): the scenario index of each
    /// catalog row met so far ([`NOT_MET`] otherwise), so a row of a known user or item
    /// skips the lookup of its scenario's name.
    scenario_ids: Vec<u32>,
    read: ReadLog,
}

/// A catalog row whose scenario index is not known yet.
const NOT_MET: u32 = u32::MAX;

/// What reading the log gives: the rows, and the user and item ids they met.
pub(super) struct ReadLog {
    pub(super) user_ids: Vocab,
    pub(super) item_ids: Vocab,
    /// Names and texts of items derived from the log (no item catalog file).
    derived_names: Vec<Option<String>>,
    derived_texts: Vec<Option<String>>,
    pub(super) interactions: Interactions,
}

/// An item of a row: one already known, or a new id met in the log.
enum RowItem<'f> {
    Known(u32),
    New(&'f str),
}

impl Loader<'_> {
    /// Loads the interaction log against the catalogs (when there are any).
    pub(super) fn load_interactions(
        &mut self,
        users: Option<&EntityTable>,
        items: Option<&EntityTable>,
    ) -> Result<ReadLog> {
        let spec = self.spec;
        let path = self.path(&spec.interactions.file);
        let t = self.open(&spec.interactions.file)?;
        let before = self.rejects.len();
        let cols = InteractionColumns::resolve(spec, items.is_some(), &t.header, &path)?;
        let catalog_labels = spec
            .tasks
            .iter()
            .enumerate()
            .map(|(ti, task)| {
                let catalog = match task.from {
                    Source::User => users,
                    Source::Item => items,
                    Source::Interaction => None,
                };
                catalog.and_then(|c| c.labels.get(&ti)).map(Vec::as_slice)
            })
            .collect();
        let mut log = InteractionLog {
            users,
            items,
            catalog_labels,
            scenario_ids: Vec::new(),
            read: ReadLog {
                user_ids: users.map_or_else(Vocab::new, |u| u.ids.clone()),
                item_ids: items.map_or_else(Vocab::new, |i| i.ids.clone()),
                derived_names: Vec::new(),
                derived_texts: Vec::new(),
                interactions: Interactions {
                    labels: vec![Vec::with_capacity(t.len()); spec.tasks.len()],
                    texts: cols.text.as_ref().map(|_| Vec::with_capacity(t.len())),
                    ..Default::default()
                },
            },
        };
        let mut labels = vec![0f32; spec.tasks.len()];
        let mut fields = Vec::with_capacity(t.header.len());
        for r in 0..t.len() {
            t.row_into(r, &mut fields);
            let at = RowAt::new(&path, &t, r, &fields);
            if let Err(e) = self.interaction_row(&mut log, &cols, &at, &mut labels) {
                self.reject(e)?;
            }
        }
        let rejected = t.errors.len() + self.rejects.len() - before;
        self.account(&path, t.total_rows(), rejected);
        Ok(log.read)
    }

    /// Validates one row (user, item, timestamp, scenario, labels, in that order: the first
    /// fault rejects it) and appends it to the log.
    fn interaction_row(
        &mut self,
        log: &mut InteractionLog<'_>,
        cols: &InteractionColumns,
        at: &RowAt<'_>,
        labels: &mut [f32],
    ) -> std::result::Result<(), RowError> {
        let user = log.user(cols, at)?;
        let item = log.item(cols, at)?;
        let timestamp = match cols.timestamp {
            Some(c) => parse_num(at.fields[c])
                .ok_or_else(|| at.reject_column(c, "timestamp is not a finite number"))
                .and_then(|v| {
                    timestamp(v).ok_or_else(|| {
                        at.reject_column(c, "timestamp is out of the 64-bit range of seconds")
                    })
                })?,
            None => 0,
        };
        // The catalog row the scenario comes from, and its index when already met.
        let slot = match cols.scenario {
            Some(_) => None,
            None => log.scenario_slot(self.spec, user, &item),
        };
        let known = slot.and_then(|k| log.scenario_ids.get(k).copied().filter(|&s| s != NOT_MET));
        let scenario = match (known, cols.scenario) {
            (Some(_), _) => std::borrow::Cow::Borrowed(""),
            (None, Some(c)) => std::borrow::Cow::Owned(
                self.scenario_of(at.fields[c])
                    .map_err(|reason| at.reject_column(c, format!("scenario: {reason}")))?,
            ),
            (None, None) => {
                std::borrow::Cow::Borrowed(log.catalog_scenario(self.spec, user, &item))
            }
        };
        self.interaction_labels(log, cols, at, user, &item, labels)?;
        if known.is_none()
            && self.scenarios.len() >= MAX_SCENARIOS
            && self.scenarios.get(&scenario).is_none()
        {
            let reason = self.limit(format!(
                "more than {MAX_SCENARIOS} scenarios (a scenario id is 16 bits); group the \
                 values with `buckets` or pick a coarser field"
            ));
            let field = self.spec.scenario.as_ref().map_or("", |s| s.field.as_str());
            return Err(at.reject(field, &scenario, reason));
        }
        let item = log.accept_item(cols, at.fields, item);
        let s = match known {
            Some(s) => s,
            None => {
                let s = self.scenarios.insert(&scenario).0;
                if let Some(k) = slot {
                    if log.scenario_ids.len() <= k {
                        log.scenario_ids.resize(k + 1, NOT_MET);
                    }
                    log.scenario_ids[k] = s;
                }
                s
            }
        };
        let inter = &mut log.read.interactions;
        inter.user.push(user);
        inter.item.push(item);
        // `scenario_of` keeps the count within 16 bits (limits::MAX_SCENARIOS).
        inter
            .scenario
            .push(u16::try_from(s).map_err(|_| {
                at.reject("", "", "more scenarios than a 16-bit scenario id holds")
            })?);
        inter.timestamp.push(timestamp);
        for (column, v) in inter.labels.iter_mut().zip(labels.iter()) {
            column.push(*v);
        }
        if let (Some(texts), Some(tpl)) = (&mut inter.texts, &cols.text) {
            texts.push(tpl.render(at.fields));
        }
        inter.lines.push(at.line as u32);
        Ok(())
    }

    /// Fills `labels` with the row's label of every task: derived from the row, or looked up
    /// in the catalog the task reads (NaN when that catalog lacks it).
    fn interaction_labels(
        &mut self,
        log: &InteractionLog<'_>,
        cols: &InteractionColumns,
        at: &RowAt<'_>,
        user: u32,
        item: &RowItem<'_>,
        labels: &mut [f32],
    ) -> std::result::Result<(), RowError> {
        for (ti, col) in cols.tasks.iter().enumerate() {
            labels[ti] = match (col, self.spec.tasks[ti].from) {
                (Some(c), _) => self.label(ti, at.fields[*c]).map_err(|reason| {
                    at.reject_column(*c, format!("task `{}`: {reason}", self.spec.tasks[ti].name))
                })?,
                (None, Source::User) => {
                    log.catalog_labels[ti].map_or(f32::NAN, |l| l[user as usize])
                }
                (None, _) => match item {
                    RowItem::Known(i) => {
                        log.catalog_labels[ti].map_or(f32::NAN, |l| l[*i as usize])
                    }
                    RowItem::New(_) => f32::NAN,
                },
            };
        }
        Ok(())
    }
}

impl<'c> InteractionLog<'c> {
    /// The row's user: known to the catalog, or (without a catalog) a new or known id; each
    /// row is its own anonymous user when the log has no user column.
    fn user(
        &mut self,
        cols: &InteractionColumns,
        at: &RowAt<'_>,
    ) -> std::result::Result<u32, RowError> {
        let Some(c) = cols.user else {
            return Ok(self.read.user_ids.insert(&format!("row{}", at.line)).0);
        };
        let raw = at.fields[c].trim();
        match (self.users, self.read.user_ids.get(raw)) {
            (_, Some(u)) => Ok(u),
            (Some(_), None) => {
                Err(at.reject_column(c, "unknown user id (not in the user catalog)"))
            }
            (None, None) if raw.is_empty() => Err(at.reject_column(c, "empty user id")),
            (None, None) => Ok(self.read.user_ids.insert(raw).0),
        }
    }

    /// The row's item: known, or a new id (only without an item catalog). A new id is
    /// inserted only once the whole row is valid ([`Self::accept_item`]).
    fn item<'f>(
        &self,
        cols: &InteractionColumns,
        at: &RowAt<'f>,
    ) -> std::result::Result<RowItem<'f>, RowError> {
        let raw = at.fields[cols.item].trim();
        match (self.items, self.read.item_ids.get(raw)) {
            (_, Some(i)) => Ok(RowItem::Known(i)),
            (Some(_), None) => {
                Err(at.reject_column(cols.item, "unknown item id (not in the item catalog)"))
            }
            (None, None) if raw.is_empty() => Err(at.reject_column(cols.item, "empty item id")),
            (None, None) => Ok(RowItem::New(raw)),
        }
    }

    /// The catalog row whose scenario a row takes (scenarios from a catalog, or `all`): its
    /// user, its known item, or slot 0 for `all`; `None` for a new item.
    fn scenario_slot(&self, spec: &DatasetSpec, user: u32, item: &RowItem<'_>) -> Option<usize> {
        match spec.scenario.as_ref().map(|s| s.from) {
            Some(Source::User) => Some(user as usize),
            Some(Source::Item) => match item {
                RowItem::Known(i) => Some(*i as usize),
                RowItem::New(_) => None,
            },
            _ => Some(0),
        }
    }

    /// The scenario of a row whose scenario field is in a catalog (or `all` without one).
    fn catalog_scenario(&self, spec: &DatasetSpec, user: u32, item: &RowItem<'_>) -> &'c str {
        match spec.scenario.as_ref().map(|s| s.from) {
            Some(Source::User) => self
                .users
                .and_then(|u| u.scenario[user as usize].as_deref())
                .unwrap_or_default(),
            Some(Source::Item) => match item {
                RowItem::Known(i) => self
                    .items
                    .and_then(|c| c.scenario[*i as usize].as_deref())
                    .unwrap_or_default(),
                RowItem::New(_) => "",
            },
            _ => "all",
        }
    }

    /// Inserts a new item of a valid row with its name and text; a known item derived from
    /// the log gets a name or text it still lacks.
    fn accept_item(
        &mut self,
        cols: &InteractionColumns,
        fields: &[&str],
        item: RowItem<'_>,
    ) -> u32 {
        let render = |tpl: &Option<Template>| tpl.as_ref().and_then(|t| t.render(fields));
        match item {
            RowItem::New(raw) => {
                let log = &mut self.read;
                let i = log.item_ids.insert(raw).0;
                log.derived_names.push(render(&cols.item_name));
                log.derived_texts.push(render(&cols.item_text));
                i
            }
            RowItem::Known(i) => {
                if self.items.is_none() {
                    let (log, idx) = (&mut self.read, i as usize);
                    if log.derived_texts[idx].is_none() {
                        log.derived_texts[idx] = render(&cols.item_text);
                    }
                    if log.derived_names[idx].is_none() {
                        log.derived_names[idx] = render(&cols.item_name);
                    }
                }
                i
            }
        }
    }
}

impl ReadLog {
    /// The users and items of the dataset: the catalogs with the ids the log may have added,
    /// or the ids the log met with their derived names and texts.
    pub(super) fn entities(
        &mut self,
        users: Option<EntityTable>,
        items: Option<EntityTable>,
    ) -> (Users, Items) {
        let user_ids = std::mem::take(&mut self.user_ids);
        let item_ids = std::mem::take(&mut self.item_ids);
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
                names: std::mem::take(&mut self.derived_names),
                texts: std::mem::take(&mut self.derived_texts),
                attributes: Vec::new(),
            },
        };
        (users, items)
    }
}
