//! The typed knowledge graph and its statistics.

use std::collections::BTreeMap;

use petgraph::graph::{DiGraph, Edge, NodeIndex};
use petgraph::visit::EdgeRef;
use polyrec_data::{Dataset, KgData};
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
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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

/// A knowledge graph of items, entities and users: a petgraph [`DiGraph`] on which every
/// algorithm of the crate runs (sampling, relatedness, cold start, reasons).
///
/// Node indices are laid out by kind: items `0..n_items`, then entities, then users (only
/// when there are social edges). Every triple, link and social edge is stored in both
/// directions: head -> tail with relation `r`, tail -> head with its inverse `r + R`;
/// item <-> entity with `linked_to`; user <-> user with `friend_of`.
///
/// Edges are inserted so that petgraph's newest-first edge lists come out in data order: an
/// entity's linked items first, in link order, then its triple edges, in triple order. Items
/// first keeps [`Self::entity_items`] to a prefix walk (hub entities have thousands of
/// triple edges and no items). Edges are inserted node by node, so one node's list is one
/// contiguous run of petgraph's edge array: inserted in data order instead (each node's
/// edges scattered over the array), sampling all items took 336 ms instead of 7.4 ms and a
/// reason query 363 us instead of 93 us, from cache misses alone.
/// Sampling draws by position in these lists, so the order is part of the results.
///
/// Measured on ML-100K's Freebase graph (criterion, `cargo bench -p polyrec-graph`, the old
/// hand-made adjacency lists and this graph run back to back on a shared 2-core machine at
/// load ~5.7, so both are inflated): build 39 -> 61 ms, 2-hop sampling of all items
/// 12.0 -> 18.9..23.4 ms, one reason query 129 -> 133 us, top-10 related for all items
/// (earlier run) 1.29 -> 1.17 s. Sampling stays within about 2x of the lists only because it
/// reads a node's run of edges by position (`entity_triple_edges`); through `edges()` it was
/// 5x slower.
#[derive(Debug, Clone)]
pub struct KnowledgeGraph {
    /// The typed petgraph graph (directed, both directions stored; edge weights are
    /// [`RelationId`]s).
    pub graph: DiGraph<Node, RelationId>,
    /// Relation names: triple relations, then their inverses (`~name`), then `linked_to`
    /// and `friend_of`.
    pub relations: Vec<String>,
    /// Entity names, where known (else the entity id).
    pub(crate) entity_labels: Vec<String>,
    /// Item display names.
    pub(crate) item_names: Vec<String>,
    n_items: usize,
    n_entities: usize,
    /// The `linked_to` relation id (item <-> entity edges).
    linked_to: RelationId,
    /// Where each node's run of edges starts in `graph.raw_edges()` (one more entry than
    /// nodes): a run holds the node's out-edges in reverse data order.
    edge_start: Vec<usize>,
    /// Entity -> items linked to it directly or through one relation (precomputed).
    entity_reach: Vec<usize>,
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
        let n_users = if ds.social.is_empty() {
            0
        } else {
            ds.users.ids.len()
        };

        let mut g = DiGraph::<Node, RelationId>::with_capacity(
            n_items + n_ent + n_users,
            2 * (kg.triples.len() + kg.item_links.len() + ds.social.len()),
        );
        (0..n_items as u32).for_each(|i| _ = g.add_node(Node::Item(i)));
        (0..n_ent as u32).for_each(|e| _ = g.add_node(Node::Entity(e)));
        (0..n_users as u32).for_each(|u| _ = g.add_node(Node::User(u)));
        let entity = |e: u32| n_items + e as usize;
        let user = |u: u32| n_items + n_ent + u as usize;
        // Each node's out-edges in data order: an entity's linked items, then its triple
        // edges (both directions, in triple order).
        let mut out: Vec<Vec<(usize, RelationId)>> = vec![Vec::new(); g.node_count()];
        for l in &kg.item_links {
            out[l.item as usize].push((entity(l.entity), linked_to));
            out[entity(l.entity)].push((l.item as usize, linked_to));
        }
        for t in &kg.triples {
            out[entity(t.head)].push((entity(t.tail), t.relation));
            out[entity(t.tail)].push((entity(t.head), t.relation + r));
        }
        for &(a, b) in &ds.social {
            out[user(a)].push((user(b), friend_of));
            out[user(b)].push((user(a), friend_of));
        }
        // petgraph lists a node's edges newest first: each node's edges go in reversed, and
        // node after node, so that a list reads in data order from one contiguous run of
        // the edge array (the walks stay in cache).
        let mut edge_start = Vec::with_capacity(out.len() + 1);
        for (source, edges) in out.iter().enumerate() {
            edge_start.push(g.edge_count());
            for &(target, relation) in edges.iter().rev() {
                g.add_edge(NodeIndex::new(source), NodeIndex::new(target), relation);
            }
        }
        edge_start.push(g.edge_count());
        let mut this = Self {
            graph: g,
            relations,
            entity_labels: entity_labels(kg),
            item_names: item_names(ds),
            n_items,
            n_entities: n_ent,
            linked_to,
            edge_start,
            entity_reach: Vec::new(),
            stats: GraphStats::default(),
        };
        this.entity_reach = (0..n_ent as u32)
            .map(|e| {
                this.entity_neighbours(e)
                    .map(|(_, x)| this.entity_items(x).count())
                    .sum::<usize>()
                    + this.entity_items(e).count()
            })
            .collect();
        this.stats = this.compute_stats(ds, kg, n_users);
        Ok(this)
    }

    fn compute_stats(&self, ds: &Dataset, kg: &KgData, n_users: usize) -> GraphStats {
        let mut per_relation = BTreeMap::new();
        for t in &kg.triples {
            *per_relation
                .entry(kg.relations.name(t.relation).to_string())
                .or_insert(0) += 1;
        }
        let mut degrees: Vec<usize> = (0..self.n_entities as u32)
            .map(|e| self.entity_neighbours(e).count())
            .collect();
        degrees.sort_unstable();
        let q = |p: f64| {
            degrees
                .get(((degrees.len().saturating_sub(1)) as f64 * p).round() as usize)
                .copied()
                .unwrap_or(0)
        };
        let linked_items = (0..self.n_items as u32)
            .filter(|&i| self.item_entities(i).next().is_some())
            .count();
        GraphStats {
            items: self.n_items,
            entities: self.n_entities,
            users: n_users,
            triples_per_relation: per_relation,
            linked_items,
            linked_share: linked_items as f64 / self.n_items.max(1) as f64,
            entity_degree: [q(0.0), q(0.5), q(0.99), q(1.0)],
            social_edges: ds.social.len(),
        }
    }

    /// Statistics.
    pub fn stats(&self) -> &GraphStats {
        &self.stats
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Number of entities.
    pub fn n_entities(&self) -> usize {
        self.n_entities
    }

    /// The petgraph node of an item.
    pub fn item_node(&self, item: u32) -> Option<NodeIndex> {
        ((item as usize) < self.n_items).then(|| NodeIndex::new(item as usize))
    }

    /// The petgraph node of an entity.
    pub fn entity_node(&self, entity: u32) -> Option<NodeIndex> {
        ((entity as usize) < self.n_entities)
            .then(|| NodeIndex::new(self.n_items + entity as usize))
    }

    /// Entities an item is linked to, in link order (empty for an unknown item).
    pub fn item_entities(&self, item: u32) -> impl Iterator<Item = u32> + '_ {
        let n_items = self.n_items as u32;
        self.item_node(item)
            .into_iter()
            .flat_map(move |n| self.graph.edges(n))
            .map(move |e| e.target().index() as u32 - n_items)
    }

    /// (relation, entity) neighbours of an entity, both directions, in triple order (empty
    /// for an unknown entity).
    pub fn entity_neighbours(&self, entity: u32) -> impl Iterator<Item = (RelationId, u32)> + '_ {
        let (n_items, linked_to) = (self.n_items as u32, self.linked_to);
        self.entity_node(entity)
            .into_iter()
            .flat_map(move |n| self.graph.edges(n))
            .skip_while(move |e| *e.weight() == linked_to)
            .map(move |e| (*e.weight(), e.target().index() as u32 - n_items))
    }

    /// An entity's triple edges as one slice of petgraph's edge array, in reverse data order
    /// (position `i` of [`Self::entity_neighbours`] is `len - 1 - i` here): the O(1)
    /// positional access that sampling needs, where walking petgraph's edge list is O(i).
    pub(crate) fn entity_triple_edges(&self, entity: u32) -> &[Edge<RelationId>] {
        let Some(n) = self.entity_node(entity) else {
            return &[];
        };
        let run =
            &self.graph.raw_edges()[self.edge_start[n.index()]..self.edge_start[n.index() + 1]];
        let links = run
            .iter()
            .rev()
            .take_while(|e| e.weight == self.linked_to)
            .count();
        &run[..run.len() - links]
    }

    /// The entity index of an entity node.
    pub(crate) fn entity_of(&self, node: NodeIndex) -> u32 {
        (node.index() - self.n_items) as u32
    }

    /// Items linked to an entity, in link order (empty for an unknown entity).
    pub fn entity_items(&self, entity: u32) -> impl Iterator<Item = u32> + '_ {
        let linked_to = self.linked_to;
        self.entity_node(entity)
            .into_iter()
            .flat_map(move |n| self.graph.edges(n))
            .take_while(move |e| *e.weight() == linked_to)
            .map(|e| e.target().index() as u32)
    }

    /// The 1-hop (relation, entity) neighbourhood of an item: the neighbours of its linked
    /// entities.
    pub fn item_neighbours(&self, item: u32) -> Vec<(RelationId, u32)> {
        self.item_entities(item)
            .flat_map(|e| self.entity_triple_edges(e).iter().rev())
            .map(|edge| (edge.weight, self.entity_of(edge.target())))
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

/// Entity display labels: the name where the data has one, else the entity id.
fn entity_labels(kg: &KgData) -> Vec<String> {
    (0..kg.entities.len() as u32)
        .map(|e| {
            kg.entity_names
                .get(&e)
                .cloned()
                .unwrap_or_else(|| kg.entities.name(e).to_string())
        })
        .collect()
}

/// Item display names: the name where the data has one, else the item id.
fn item_names(ds: &Dataset) -> Vec<String> {
    (0..ds.items.ids.len())
        .map(|i| {
            ds.items.names[i]
                .clone()
                .unwrap_or_else(|| ds.items.ids.name(i as u32).to_string())
        })
        .collect()
}
