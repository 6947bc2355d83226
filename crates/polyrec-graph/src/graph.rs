//! The typed knowledge graph and its statistics.

use std::collections::BTreeMap;

use petgraph::graph::{NodeIndex, UnGraph};
use polyrec_data::Dataset;
use serde::Serialize;

use crate::{Error, Result};

/// A node of the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Node {
    /// An item (dense item index).
    Item(u32),
    /// A knowledge-graph entity (entity index).
    Entity(u32),
    /// A user (dense user index).
    User(u32),
}

/// An edge: a relation index. Relation `r < R` is a triple's relation read head -> tail,
/// `r + R` its inverse; the two last ids are item-entity links and user-user edges.
pub type RelationId = u32;

/// Statistics of the graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphStats {
    /// Nodes by kind.
    pub items: usize,
    /// Entity nodes.
    pub entities: usize,
    /// User nodes.
    pub users: usize,
    /// Triples per relation name.
    pub triples_per_relation: BTreeMap<String, usize>,
    /// Items linked to at least one entity.
    pub linked_items: usize,
    /// Share of items linked.
    pub linked_share: f64,
    /// Entity degree: min, median, p99, max.
    pub entity_degree: [usize; 4],
    /// User-user edges.
    pub social_edges: usize,
}

/// A knowledge graph of items, entities and users, with compact adjacency for the hot paths.
#[derive(Debug, Clone)]
pub struct KnowledgeGraph {
    /// The typed petgraph graph (undirected; edge weights are [`RelationId`]s).
    pub graph: UnGraph<Node, RelationId>,
    /// Relation names: triple relations, then their inverses (`~name`), then `linked_to`
    /// and `friend_of`.
    pub relations: Vec<String>,
    /// Entity names, where known (else the entity id).
    pub(crate) entity_labels: Vec<String>,
    /// Item display names.
    pub(crate) item_names: Vec<String>,
    /// Entity -> (relation, entity) neighbours, both directions.
    pub(crate) entity_adj: Vec<Vec<(RelationId, u32)>>,
    /// Item -> linked entities.
    pub(crate) item_entities: Vec<Vec<u32>>,
    /// Entity -> items linked to it.
    pub(crate) entity_items: Vec<Vec<u32>>,
    /// Entity -> items linked to it directly or through one relation (precomputed).
    entity_reach: Vec<usize>,
    item_nodes: Vec<NodeIndex>,
    stats: GraphStats,
}

impl KnowledgeGraph {
    /// Builds the graph from a dataset's knowledge graph, items, users and social edges.
    pub fn from_dataset(ds: &Dataset) -> Result<Self> {
        let kg = ds
            .kg
            .as_ref()
            .ok_or_else(|| Error::NoKnowledgeGraph(ds.name.clone()))?;
        let n_items = ds.items.ids.len();
        let n_ent = kg.entities.len();
        let r = kg.relations.len() as u32;
        let mut relations: Vec<String> = kg.relations.names().to_vec();
        relations.extend(kg.relations.names().iter().map(|n| format!("~{n}")));
        relations.push("linked_to".into());
        relations.push("friend_of".into());
        let (linked_to, friend_of) = (2 * r, 2 * r + 1);

        let mut g = UnGraph::<Node, RelationId>::with_capacity(
            n_items + n_ent + ds.users.ids.len(),
            kg.triples.len() + kg.item_links.len() + ds.social.len(),
        );
        let item_nodes: Vec<NodeIndex> = (0..n_items as u32)
            .map(|i| g.add_node(Node::Item(i)))
            .collect();
        let ent_nodes: Vec<NodeIndex> = (0..n_ent as u32)
            .map(|e| g.add_node(Node::Entity(e)))
            .collect();
        let has_users = !ds.social.is_empty();
        let user_nodes: Vec<NodeIndex> = if has_users {
            (0..ds.users.ids.len() as u32)
                .map(|u| g.add_node(Node::User(u)))
                .collect()
        } else {
            Vec::new()
        };

        let mut entity_adj = vec![Vec::new(); n_ent];
        let mut per_relation = BTreeMap::new();
        for t in &kg.triples {
            g.add_edge(
                ent_nodes[t.head as usize],
                ent_nodes[t.tail as usize],
                t.relation,
            );
            entity_adj[t.head as usize].push((t.relation, t.tail));
            entity_adj[t.tail as usize].push((t.relation + r, t.head));
            *per_relation
                .entry(kg.relations.name(t.relation).to_string())
                .or_insert(0) += 1;
        }
        let mut item_entities = vec![Vec::new(); n_items];
        let mut entity_items = vec![Vec::new(); n_ent];
        for l in &kg.item_links {
            g.add_edge(
                item_nodes[l.item as usize],
                ent_nodes[l.entity as usize],
                linked_to,
            );
            item_entities[l.item as usize].push(l.entity);
            entity_items[l.entity as usize].push(l.item);
        }
        for &(a, b) in &ds.social {
            g.add_edge(user_nodes[a as usize], user_nodes[b as usize], friend_of);
        }
        let entity_reach: Vec<usize> = entity_adj
            .iter()
            .zip(&entity_items)
            .map(|(adj, own)| {
                adj.iter()
                    .map(|&(_, x)| entity_items[x as usize].len())
                    .sum::<usize>()
                    + own.len()
            })
            .collect();
        let mut degrees: Vec<usize> = entity_adj.iter().map(Vec::len).collect();
        degrees.sort_unstable();
        let q = |p: f64| {
            degrees
                .get(((degrees.len().saturating_sub(1)) as f64 * p).round() as usize)
                .copied()
                .unwrap_or(0)
        };
        let linked_items = item_entities.iter().filter(|v| !v.is_empty()).count();
        let stats = GraphStats {
            items: n_items,
            entities: n_ent,
            users: user_nodes.len(),
            triples_per_relation: per_relation,
            linked_items,
            linked_share: linked_items as f64 / n_items.max(1) as f64,
            entity_degree: [q(0.0), q(0.5), q(0.99), q(1.0)],
            social_edges: ds.social.len(),
        };
        let entity_labels = (0..n_ent as u32)
            .map(|e| {
                kg.entity_names
                    .get(&e)
                    .cloned()
                    .unwrap_or_else(|| kg.entities.name(e).to_string())
            })
            .collect();
        let item_names = (0..n_items)
            .map(|i| {
                ds.items.names[i]
                    .clone()
                    .unwrap_or_else(|| ds.items.ids.name(i as u32).to_string())
            })
            .collect();
        Ok(Self {
            graph: g,
            relations,
            entity_labels,
            item_names,
            entity_adj,
            item_entities,
            entity_items,
            entity_reach,
            item_nodes,
            stats,
        })
    }

    /// Statistics.
    pub fn stats(&self) -> &GraphStats {
        &self.stats
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.item_entities.len()
    }

    /// Number of entities.
    pub fn n_entities(&self) -> usize {
        self.entity_adj.len()
    }

    /// The petgraph node of an item.
    pub fn item_node(&self, item: u32) -> Option<NodeIndex> {
        self.item_nodes.get(item as usize).copied()
    }

    /// Entities an item is linked to.
    pub fn item_entities(&self, item: u32) -> &[u32] {
        self.item_entities
            .get(item as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// (relation, entity) neighbours of an entity, both directions.
    pub fn entity_neighbours(&self, entity: u32) -> &[(RelationId, u32)] {
        self.entity_adj
            .get(entity as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// The 1-hop (relation, entity) neighbourhood of an item: the neighbours of its linked
    /// entities.
    pub fn item_neighbours(&self, item: u32) -> Vec<(RelationId, u32)> {
        self.item_entities(item)
            .iter()
            .flat_map(|&e| self.entity_neighbours(e).iter().copied())
            .collect()
    }

    /// A relation's name (inverses start with `~`).
    pub fn relation_name(&self, r: RelationId) -> &str {
        self.relations.get(r as usize).map_or("?", String::as_str)
    }

    /// An entity's display label (its name where the data has one, else its id).
    pub fn entity_label(&self, e: u32) -> &str {
        self.entity_labels
            .get(e as usize)
            .map_or("?", String::as_str)
    }

    /// An item's display name.
    pub fn item_name(&self, i: u32) -> &str {
        self.item_names.get(i as usize).map_or("?", String::as_str)
    }

    /// How many items an entity reaches: those linked to it directly or to an entity one
    /// relation away. Its "popularity": rarer shared entities weigh more in relatedness
    /// and rank first among reasons.
    pub fn entity_reach(&self, e: u32) -> usize {
        self.entity_reach.get(e as usize).copied().unwrap_or(0)
    }
}
