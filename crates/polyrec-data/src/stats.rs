//! Summary statistics of a dataset per scenario x task (what `polyrec data inspect` prints).

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;

use crate::{Dataset, TaskKind};

/// Statistics of one scenario (or of all rows) for one task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskStats {
    /// Task name.
    pub task: String,
    /// Rows with a defined label.
    pub rows: usize,
    /// Share of positive labels (binary tasks).
    pub positive_rate: Option<f64>,
    /// Mean label (regression tasks).
    pub mean: Option<f64>,
    /// Number of distinct classes seen (multiclass tasks).
    pub classes: Option<usize>,
}

/// Statistics of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioStats {
    /// Scenario name (`overall` for all rows).
    pub scenario: String,
    /// Rows.
    pub rows: usize,
    /// Distinct users.
    pub users: usize,
    /// Distinct items.
    pub items: usize,
    /// Share of those items with free text.
    pub items_with_text: f64,
    /// Share of those items linked to the knowledge graph.
    pub items_with_kg: f64,
    /// Per-task figures.
    pub tasks: Vec<TaskStats>,
}

/// Statistics of a dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetStats {
    /// Dataset name.
    pub name: String,
    /// Users in the catalog (or seen).
    pub users: usize,
    /// Items in the catalog (or seen).
    pub items: usize,
    /// Interactions.
    pub interactions: usize,
    /// Knowledge-graph triples.
    pub kg_triples: usize,
    /// Knowledge-graph relations.
    pub kg_relations: usize,
    /// Items with at least one entity link.
    pub kg_linked_items: usize,
    /// User-user edges.
    pub social_edges: usize,
    /// Overall, then each scenario.
    pub scenarios: Vec<ScenarioStats>,
}

impl DatasetStats {
    /// Computes the statistics.
    pub fn of(ds: &Dataset) -> Self {
        let linked: HashSet<u32> = ds
            .kg
            .iter()
            .flat_map(|k| k.item_links.iter().map(|l| l.item))
            .collect();
        let inter = &ds.interactions;
        let scenario_rows = |s: Option<u16>| -> Vec<usize> {
            (0..inter.len())
                .filter(|&r| s.is_none_or(|s| inter.scenario[r] == s))
                .collect()
        };
        let mut groups = vec![("overall".to_string(), scenario_rows(None))];
        for (i, name) in ds.scenarios.iter().enumerate() {
            groups.push((name.clone(), scenario_rows(Some(i as u16))));
        }
        let scenarios = groups
            .into_iter()
            .map(|(scenario, rows)| {
                let users: HashSet<u32> = rows.iter().map(|&r| inter.user[r]).collect();
                let items: HashSet<u32> = rows.iter().map(|&r| inter.item[r]).collect();
                let n_items = items.len().max(1) as f64;
                let with_text = items
                    .iter()
                    .filter(|&&i| ds.items.texts.get(i as usize).is_some_and(Option::is_some))
                    .count();
                let with_kg = items.iter().filter(|i| linked.contains(i)).count();
                let tasks = ds
                    .tasks
                    .iter()
                    .zip(&inter.labels)
                    .map(|(t, col)| {
                        let vals: Vec<f64> = rows
                            .iter()
                            .map(|&r| f64::from(col[r]))
                            .filter(|v| v.is_finite())
                            .collect();
                        let n = vals.len();
                        let mean = if n == 0 {
                            f64::NAN
                        } else {
                            vals.iter().sum::<f64>() / n as f64
                        };
                        TaskStats {
                            task: t.name.clone(),
                            rows: n,
                            positive_rate: matches!(t.kind, TaskKind::Binary).then_some(mean),
                            mean: matches!(t.kind, TaskKind::Regression).then_some(mean),
                            classes: matches!(t.kind, TaskKind::Multiclass { .. }).then(|| {
                                vals.iter().map(|v| *v as i64).collect::<HashSet<_>>().len()
                            }),
                        }
                    })
                    .collect();
                ScenarioStats {
                    scenario,
                    rows: rows.len(),
                    users: users.len(),
                    items: items.len(),
                    items_with_text: with_text as f64 / n_items,
                    items_with_kg: with_kg as f64 / n_items,
                    tasks,
                }
            })
            .collect();
        Self {
            name: ds.name.clone(),
            users: ds.users.ids.len(),
            items: ds.items.ids.len(),
            interactions: inter.len(),
            kg_triples: ds.kg.as_ref().map_or(0, |k| k.triples.len()),
            kg_relations: ds.kg.as_ref().map_or(0, |k| k.relations.len()),
            kg_linked_items: linked.len(),
            social_edges: ds.social.len(),
            scenarios,
        }
    }
}

impl fmt::Display for DatasetStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} interactions, {} users, {} items; KG: {} triples, {} relations, {} linked items; {} social edges",
            self.name,
            self.interactions,
            self.users,
            self.items,
            self.kg_triples,
            self.kg_relations,
            self.kg_linked_items,
            self.social_edges
        )?;
        writeln!(
            f,
            "{:<14} {:<12} {:>8} {:>7} {:>7} {:>7} {:>7}  label",
            "scenario", "task", "rows", "users", "items", "text%", "kg%"
        )?;
        for s in &self.scenarios {
            for t in &s.tasks {
                let label = match (t.positive_rate, t.mean, t.classes) {
                    (Some(p), _, _) => format!("positive rate {p:.4}"),
                    (_, Some(m), _) => format!("mean {m:.4}"),
                    (_, _, Some(c)) => format!("{c} classes"),
                    _ => String::new(),
                };
                writeln!(
                    f,
                    "{:<14} {:<12} {:>8} {:>7} {:>7} {:>6.1}% {:>6.1}%  {label}",
                    s.scenario,
                    t.task,
                    t.rows,
                    s.users,
                    s.items,
                    100.0 * s.items_with_text,
                    100.0 * s.items_with_kg
                )?;
            }
        }
        Ok(())
    }
}
