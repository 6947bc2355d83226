//! Reasons: paths from a user's positively rated items to a candidate through shared
//! entities, as data and as a sentence.
//!
//! Paths are ranked by a stated rule: shorter first (a direct relation between the two
//! films' entities, then one shared entity); then rarer shared entity first (fewer items
//! reach it); then the stronger rating first; then item index, for determinism.

use std::fmt;

use serde::Serialize;

use std::collections::HashMap;

use crate::{KnowledgeGraph, RelationId};

/// A path found, before names are attached.
struct Found {
    length: usize,
    popularity: usize,
    strength: f32,
    from: u32,
    entity: u32,
    relation: RelationId,
}

impl Found {
    /// The ranking rule of the module docs: shorter, then rarer entity, then stronger
    /// rating, then item index, then entity index.
    fn rank(&self, other: &Found) -> std::cmp::Ordering {
        self.length
            .cmp(&other.length)
            .then(self.popularity.cmp(&other.popularity))
            .then(other.strength.total_cmp(&self.strength))
            .then(self.from.cmp(&other.from))
            .then(self.entity.cmp(&other.entity))
    }
}

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

impl ReasonPath {
    /// The reason in words, `feedback` saying how the user took the item it starts from
    /// (e.g. "which you rated 5", "with 3301 plays"). [`Display`](fmt::Display) says
    /// "which you rated" and the strength.
    pub fn describe(&self, feedback: &str) -> String {
        let rel = self.via.relation.trim_start_matches('~');
        if self.length == 1 {
            format!("related to {} by {rel}, {feedback}", self.from_name)
        } else {
            format!(
                "shares {rel} {} with {}, {feedback}",
                self.via.label, self.from_name
            )
        }
    }
}

/// A strength as a person reads it: whole numbers without decimals, others with one.
pub fn strength_text(strength: f32) -> String {
    if strength.fract() == 0.0 {
        format!("{strength:.0}")
    } else {
        format!("{strength:.1}")
    }
}

impl fmt::Display for ReasonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let feedback = format!("which you rated {}", strength_text(self.strength));
        f.write_str(&self.describe(&feedback))
    }
}

impl KnowledgeGraph {
    /// The top `limit` reason paths from the user's `history` (item, strength: only positive
    /// ones should be passed) to `candidate`, ranked as the module docs say.
    pub fn reasons(&self, history: &[(u32, f32)], candidate: u32, limit: usize) -> Vec<ReasonPath> {
        let cand_entities: Vec<u32> = self.item_entities(candidate).collect();
        if cand_entities.is_empty() || limit == 0 {
            return Vec::new();
        }
        // Every entity one relation away from the candidate's entities, with the relation
        // of the first candidate entity (in link order) that reaches it.
        let mut reach: HashMap<u32, RelationId> = HashMap::new();
        for &ec in &cand_entities {
            for (r2, y) in self.entity_neighbours(ec) {
                reach.entry(y).or_insert(r2);
            }
        }
        // The best `limit` distinct paths, kept in order while scanning; names are looked
        // up only for the ones returned. A path equal in every key to a kept one (the same
        // item through the same entity) is a duplicate and is skipped.
        let mut best: Vec<Found> = Vec::with_capacity(limit + 1);
        for &(h, strength) in history {
            if h == candidate {
                continue;
            }
            for eh in self.item_entities(h) {
                for (r1, x) in self.entity_neighbours(eh) {
                    let (length, relation) = if cand_entities.contains(&x) {
                        (1, r1)
                    } else if let Some(&r2) = reach.get(&x) {
                        (2, r2)
                    } else {
                        continue;
                    };
                    let f = Found {
                        length,
                        popularity: self.entity_reach(x),
                        strength,
                        from: h,
                        entity: x,
                        relation,
                    };
                    if best.len() == limit && f.rank(&best[limit - 1]).is_ge() {
                        continue;
                    }
                    let at = best.partition_point(|b| b.rank(&f).is_lt());
                    if best.get(at).is_some_and(|b| b.rank(&f).is_eq()) {
                        continue;
                    }
                    best.insert(at, f);
                    best.truncate(limit);
                }
            }
        }
        best.iter()
            .map(|f| {
                self.path(
                    f.from, f.strength, candidate, f.length, f.relation, f.entity,
                )
            })
            .collect()
    }

    fn path(
        &self,
        from: u32,
        strength: f32,
        to: u32,
        length: usize,
        r: RelationId,
        x: u32,
    ) -> ReasonPath {
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
            popularity: self.entity_reach(x),
        }
    }
}
