//! Knowledge-graph files: triples, item-entity links and entity display names.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::read::read_table;
use crate::spec::{ErrorPolicy, FileSpec, KgSpec, column};
use crate::{ItemLink, KgData, MAX_REPORTED_ERRORS, Result, RowError, Triple, Vocab};

use super::{Loader, paths};

/// A triples file read and checked apart from the loader's state, so that it can run on
/// another thread while the catalogs and the log load ([`Loader::run`]). Its rejected rows
/// wait here, in file order, until the loader files them at the triples' turn.
pub(super) struct ReadTriples {
    path: PathBuf,
    /// The file's rows (read plus rejected while reading).
    total_rows: usize,
    /// Rows rejected while reading, then rows rejected by the checks, in file order.
    rejects: Vec<RowError>,
    kg: KgData,
}

impl ReadTriples {
    /// Reads the triples file of `ks` (relative to `dir`): rows with non-empty head,
    /// relation and tail and (when the spec lists them) an allowed relation. Under
    /// `on_error = "fail"` it stops once [`MAX_REPORTED_ERRORS`] rows are rejected, which
    /// fails the load anyway.
    pub(super) fn read(ks: &KgSpec, dir: &Path, policy: ErrorPolicy) -> Result<Self> {
        let path = paths::resolve(dir, &ks.triples);
        let mut t = read_table(&path, ks.triples.format)?;
        let total_rows = t.total_rows();
        let cols: Vec<usize> = ks
            .columns
            .iter()
            .map(|c| column(&t.header, c, &path))
            .collect::<Result<_>>()?;
        let allowed: Option<HashSet<&str>> = ks
            .relations
            .as_ref()
            .map(|r| r.iter().map(String::as_str).collect());
        let mut kg = KgData::default();
        let mut rejects = std::mem::take(&mut t.errors);
        let full =
            |r: &Vec<RowError>| policy == ErrorPolicy::Fail && r.len() >= MAX_REPORTED_ERRORS;
        for r in 0..t.len() {
            if full(&rejects) {
                break;
            }
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
                rejects.push(RowError::new(&path, line, &ks.columns[c], v, "empty value"));
                continue;
            }
            if allowed.as_ref().is_some_and(|a| !a.contains(rel)) {
                rejects.push(RowError::new(
                    &path,
                    line,
                    &ks.columns[1],
                    rel,
                    "relation not allowed by the spec's `kg.relations`",
                ));
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
        Ok(Self {
            path,
            total_rows,
            rejects,
            kg,
        })
    }
}

impl Loader<'_> {
    /// Files the triples' rejected rows, then loads links (against the dataset's item ids),
    /// then entity names.
    pub(super) fn load_kg(
        &mut self,
        ks: &KgSpec,
        triples: ReadTriples,
        items: &Vocab,
    ) -> Result<KgData> {
        let rejected = triples.rejects.len();
        for e in triples.rejects {
            self.rejects.push(e)?;
        }
        self.account(&triples.path, triples.total_rows, rejected);
        let mut kg = triples.kg;
        self.load_links(ks, items, &mut kg)?;
        if let Some(f) = &ks.entity_names {
            self.load_entity_names(f, &mut kg)?;
        }
        Ok(kg)
    }

    /// Item-entity links: a known item, a non-empty entity, no duplicate pair.
    fn load_links(&mut self, ks: &KgSpec, items: &Vocab, kg: &mut KgData) -> Result<()> {
        let path = self.path(&ks.links);
        let t = self.open(&ks.links)?;
        let before = self.rejects.len();
        let ic = column(&t.header, &ks.link_columns[0], &path)?;
        let ec = column(&t.header, &ks.link_columns[1], &path)?;
        let mut seen = HashSet::new();
        for r in 0..t.len() {
            let (raw_item, raw_entity) = (t.cell(r, ic).trim(), t.cell(r, ec).trim());
            let reject = |c: usize, value: &str, reason: &str| {
                RowError::new(&path, t.line(r), &ks.link_columns[c], value, reason)
            };
            let Some(item) = items.get(raw_item) else {
                self.rejects
                    .push(reject(0, raw_item, "link to an unknown item id"))?;
                continue;
            };
            if raw_entity.is_empty() {
                self.rejects
                    .push(reject(1, raw_entity, "empty entity id"))?;
                continue;
            }
            let entity = kg.entities.insert(raw_entity).0;
            if !seen.insert((item, entity)) {
                self.rejects
                    .push(reject(1, raw_entity, "duplicate item-entity link"))?;
                continue;
            }
            kg.item_links.push(ItemLink { item, entity });
        }
        let rejected = t.errors.len() + self.rejects.len() - before;
        self.account(&path, t.total_rows(), rejected);
        Ok(())
    }

    /// Display names of entities already met (first column: entity id, second: name).
    fn load_entity_names(&mut self, f: &FileSpec, kg: &mut KgData) -> Result<()> {
        let t = self.open(f)?;
        for r in 0..t.len() {
            if t.header.len() >= 2
                && let Some(e) = kg.entities.get(t.cell(r, 0).trim())
            {
                kg.entity_names.insert(e, t.cell(r, 1).trim().to_string());
            }
        }
        Ok(())
    }
}
