//! Reasons: paths from a user's positively rated items to a candidate through shared
//! entities, as data and as a sentence.
//!
//! Paths are ranked by a stated rule: shorter first (a direct relation between the two
//! films' entities, then one shared entity); then rarer shared entity first (fewer items
//! reach it); then the stronger rating first; then item index, for determinism.

use std::fmt;

use serde::Serialize;

use crate::KnowledgeGraph;

/// One step of a path: a relation and the entity it reaches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Relation name (inverses start with `~`).
    pub relation: String,
    /// Entity index.
    pub entity: u32,
    /// Entity label (name where known, else id).
    pub label: String,
}

/// A path from one of the user's items to the candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReasonPath {
    /// The user's item the path starts from.
    pub from_item: u32,
    /// Its display name.
    pub from_name: String,
    /// The user's rating (or other strength) of it.
    pub strength: f32,
    /// The candidate item.
    pub to_item: u32,
    /// Entity hops between the two items' entities (1: directly related, 2: one shared entity).
    pub length: usize,
    /// The shared entity (for length 2) or the candidate's entity (length 1).
    pub via: Step,
    /// How many items reach the shared entity (lower is rarer, says more).
    pub popularity: usize,
}

impl fmt::Display for ReasonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rel = self.via.relation.trim_start_matches('~');
        let rating = if self.strength.fract() == 0.0 {
            format!("{:.0}", self.strength)
        } else {
            format!("{:.1}", self.strength)
        };
        if self.length == 1 {
            write!(
                f,
                "related to {} by {rel}, which you rated {rating}",
                self.from_name
            )
        } else {
            write!(
                f,
                "shares {rel} {} with {}, which you rated {rating}",
                self.via.label, self.from_name
            )
        }
    }
}

impl KnowledgeGraph {
    /// The top `limit` reason paths from the user's `history` (item, strength: only positive
    /// ones should be passed) to `candidate`, ranked as the module docs say.
    pub fn reasons(&self, history: &[(u32, f32)], candidate: u32, limit: usize) -> Vec<ReasonPath> {
        let cand_entities = self.item_entities(candidate);
        if cand_entities.is_empty() {
            return Vec::new();
        }
        let mut paths = Vec::new();
        for &(h, strength) in history {
            if h == candidate {
                continue;
            }
            for &eh in self.item_entities(h) {
                for &(r1, x) in self.entity_neighbours(eh) {
                    if cand_entities.contains(&x) {
                        paths.push(self.path(h, strength, candidate, 1, r1, x));
                        continue;
                    }
                    // Shared entity x: does the candidate's entity reach x too?
                    for &ec in cand_entities {
                        if let Some(&(r2, _)) =
                            self.entity_neighbours(ec).iter().find(|&&(_, y)| y == x)
                        {
                            paths.push(self.path(h, strength, candidate, 2, r2, x));
                        }
                    }
                }
            }
        }
        paths.sort_by(|a, b| {
            a.length
                .cmp(&b.length)
                .then(a.popularity.cmp(&b.popularity))
                .then(b.strength.total_cmp(&a.strength))
                .then(a.from_item.cmp(&b.from_item))
                .then(a.via.entity.cmp(&b.via.entity))
        });
        paths.dedup_by(|a, b| a.from_item == b.from_item && a.via.entity == b.via.entity);
        paths.truncate(limit);
        paths
    }

    fn path(&self, from: u32, strength: f32, to: u32, length: usize, r: u32, x: u32) -> ReasonPath {
        ReasonPath {
            from_item: from,
            from_name: self.item_name(from).to_string(),
            strength,
            to_item: to,
            length,
            via: Step {
                relation: self.relation_name(r).to_string(),
                entity: x,
                label: self.entity_label(x).to_string(),
            },
            popularity: self.entity_item_degree(x),
        }
    }
}
