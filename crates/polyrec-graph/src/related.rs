//! Item-item relatedness through shared entities, and cold-start starting points.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::KnowledgeGraph;

/// How shared entities are weighted.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelatednessConfig {
    /// Weight per relation name (without the `~` of inverses); others get `default_weight`.
    pub relation_weights: HashMap<String, f64>,
    /// Weight of relations not listed.
    pub default_weight: f64,
}

impl Default for RelatednessConfig {
    fn default() -> Self {
        Self {
            relation_weights: HashMap::new(),
            default_weight: 1.0,
        }
    }
}

impl KnowledgeGraph {
    fn relation_weight(&self, cfg: &RelatednessConfig, r: u32) -> f64 {
        let name = self.relation_name(r);
        let name = name.strip_prefix('~').unwrap_or(name);
        cfg.relation_weights
            .get(name)
            .copied()
            .unwrap_or(cfg.default_weight)
    }

    /// Rarity weight of a shared entity: `1 / ln(1 + n)` where `n` is the number of items
    /// that reach it, so an entity shared by 2 items weighs more than one shared by 500.
    pub fn rarity(&self, entity: u32) -> f64 {
        1.0 / (1.0 + self.entity_reach(entity).max(1) as f64).ln()
    }

    /// Relatedness scores of every item reachable from `item` through one shared entity
    /// (item -> e_a -r1- x -r2- e_b -> other item: weight w(r1) w(r2) rarity(x)) or a direct
    /// relation between the items' entities (weight w(r)). The item itself is excluded.
    pub fn related_scores(&self, item: u32, cfg: &RelatednessConfig) -> HashMap<u32, f64> {
        let mut scores: HashMap<u32, f64> = HashMap::new();
        for ea in self.item_entities(item) {
            for (r1, x) in self.entity_neighbours(ea) {
                let w1 = self.relation_weight(cfg, r1);
                for other in self.entity_items(x) {
                    *scores.entry(other).or_default() += w1;
                }
                let rx = self.rarity(x);
                for (r2, eb) in self.entity_neighbours(x) {
                    if eb == ea {
                        continue;
                    }
                    let w = w1 * self.relation_weight(cfg, r2) * rx;
                    for other in self.entity_items(eb) {
                        *scores.entry(other).or_default() += w;
                    }
                }
            }
        }
        scores.remove(&item);
        scores
    }

    /// The `n` most related items of `item`, best first (ties by item index).
    pub fn related_items(&self, item: u32, n: usize, cfg: &RelatednessConfig) -> Vec<(u32, f64)> {
        top_n(self.related_scores(item, cfg), n)
    }

    /// Top-`n` related items for every item, in parallel.
    pub fn all_related(&self, n: usize, cfg: &RelatednessConfig) -> Vec<Vec<(u32, f64)>> {
        (0..self.n_items() as u32)
            .into_par_iter()
            .map(|i| self.related_items(i, n, cfg))
            .collect()
    }

    /// A starting point for a user without history: items related to the items they said
    /// they like (weighted) and to the entities they declared (e.g. matched from an interest
    /// text), excluding `exclude`. Best first.
    pub fn cold_start_candidates(
        &self,
        liked_items: &[(u32, f64)],
        liked_entities: &[u32],
        n: usize,
        exclude: &[u32],
        cfg: &RelatednessConfig,
    ) -> Vec<(u32, f64)> {
        let mut total: HashMap<u32, f64> = HashMap::new();
        for &(i, w) in liked_items {
            for (j, s) in self.related_scores(i, cfg) {
                *total.entry(j).or_default() += w * s;
            }
        }
        for &e in liked_entities {
            if (e as usize) >= self.n_entities() {
                continue;
            }
            let re = self.rarity(e);
            for i in self.entity_items(e) {
                *total.entry(i).or_default() += 1.0;
            }
            for (r, eb) in self.entity_neighbours(e) {
                for i in self.entity_items(eb) {
                    *total.entry(i).or_default() += self.relation_weight(cfg, r) * re;
                }
            }
        }
        for i in exclude.iter().chain(liked_items.iter().map(|(i, _)| i)) {
            total.remove(i);
        }
        top_n(total, n)
    }
}

fn top_n(scores: HashMap<u32, f64>, n: usize) -> Vec<(u32, f64)> {
    let mut v: Vec<(u32, f64)> = scores.into_iter().filter(|(_, s)| *s > 0.0).collect();
    v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(n);
    v
}
