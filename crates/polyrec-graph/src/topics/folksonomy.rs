//! The folksonomy graph (users, topics, items; weighted by how often each pair occurs) on
//! petgraph, and FolkRank: a personalised PageRank from one user minus the global one.

use petgraph::graph::{NodeIndex, UnGraph};
use petgraph::visit::EdgeRef;

use super::TagHistory;

/// A node of the folksonomy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolkNode {
    /// A user (dense index).
    User(u32),
    /// A topic.
    Topic(u32),
    /// An item (dense index).
    Item(u32),
}

/// The tripartite graph of a tag history: every application adds 1 to the user-topic,
/// user-item and topic-item edges it makes.
#[derive(Debug, Clone)]
pub struct Folksonomy {
    /// The petgraph graph.
    pub graph: UnGraph<FolkNode, f32>,
    user_node: Vec<NodeIndex>,
    topic_node: Vec<NodeIndex>,
    /// Weighted degree per node.
    degree: Vec<f32>,
    /// The non-personalised PageRank, subtracted by [`Folksonomy::folkrank`].
    global: Vec<f32>,
}

/// The damping factor of the walks (the chance to follow an edge rather than restart).
const DAMPING: f32 = 0.7;
/// Power iterations.
const ITERATIONS: usize = 30;

impl Folksonomy {
    /// Builds the graph of a tag history.
    pub fn new(h: &TagHistory) -> Self {
        let mut graph = UnGraph::default();
        let user_node: Vec<NodeIndex> = (0..h.n_users as u32)
            .map(|u| graph.add_node(FolkNode::User(u)))
            .collect();
        let topic_node: Vec<NodeIndex> = (0..h.n_topics as u32)
            .map(|t| graph.add_node(FolkNode::Topic(t)))
            .collect();
        let item_node: Vec<NodeIndex> = (0..h.n_items as u32)
            .map(|i| graph.add_node(FolkNode::Item(i)))
            .collect();
        let mut weights = std::collections::HashMap::new();
        for a in &h.applications {
            let (u, t, i) = (
                user_node[a.user as usize],
                topic_node[a.topic as usize],
                item_node[a.item as usize],
            );
            for pair in [(u, t), (u, i), (t, i)] {
                *weights.entry(pair).or_insert(0.0f32) += 1.0;
            }
        }
        let mut pairs: Vec<_> = weights.into_iter().collect();
        pairs.sort_unstable_by_key(|&((a, b), _)| (a, b));
        for ((a, b), w) in pairs {
            graph.add_edge(a, b, w);
        }
        let mut degree = vec![0.0f32; graph.node_count()];
        for e in graph.edge_references() {
            degree[e.source().index()] += e.weight();
            degree[e.target().index()] += e.weight();
        }
        let mut f = Self {
            graph,
            user_node,
            topic_node,
            degree,
            global: Vec::new(),
        };
        let uniform = vec![1.0 / f.graph.node_count().max(1) as f32; f.graph.node_count()];
        f.global = f.pagerank(&uniform);
        f
    }

    /// PageRank with restart distribution `pref` (sums to 1): mass at a node spreads to its
    /// neighbours in proportion to the edge weights; a node without edges keeps its mass
    /// in the restart.
    fn pagerank(&self, pref: &[f32]) -> Vec<f32> {
        let n = self.graph.node_count();
        let mut w = pref.to_vec();
        let mut next = vec![0.0f32; n];
        for _ in 0..ITERATIONS {
            let mut dangling = 0.0;
            for (v, &x) in w.iter().enumerate() {
                if self.degree[v] == 0.0 {
                    dangling += x;
                }
            }
            for (v, slot) in next.iter_mut().enumerate() {
                *slot = (1.0 - DAMPING + DAMPING * dangling) * pref[v];
            }
            for e in self.graph.edge_references() {
                let (a, b) = (e.source().index(), e.target().index());
                next[b] += DAMPING * w[a] * e.weight() / self.degree[a];
                next[a] += DAMPING * w[b] * e.weight() / self.degree[b];
            }
            std::mem::swap(&mut w, &mut next);
        }
        w
    }

    /// FolkRank of every topic for `user`: the PageRank restarting at the user minus the
    /// global PageRank, so what is popular everywhere does not dominate.
    pub fn folkrank(&self, user: u32) -> Vec<f32> {
        let n = self.graph.node_count();
        let mut pref = vec![0.0f32; n];
        if let Some(&u) = self.user_node.get(user as usize) {
            pref[u.index()] = 1.0;
        }
        let w = self.pagerank(&pref);
        self.topic_node
            .iter()
            .map(|t| w[t.index()] - self.global[t.index()])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::history::Application;
    use super::*;

    #[test]
    fn folkrank_prefers_the_topics_near_the_user() {
        // Users 0 and 1 share item 0; user 2 tags elsewhere with a popular topic 2.
        let app = |user, item, topic| Application {
            user,
            item,
            topic,
            time: 0,
        };
        let h = TagHistory {
            n_users: 4,
            n_items: 3,
            n_topics: 3,
            applications: vec![
                app(0, 0, 0),
                app(1, 0, 1),
                app(2, 1, 2),
                app(3, 2, 2),
                app(2, 2, 2),
            ],
        };
        let f = Folksonomy::new(&h);
        let r = f.folkrank(0);
        assert!(r[0] > r[1] && r[1] > r[2], "{r:?}");
        assert!(
            r[2] < 0.0,
            "a topic out of reach scores below its global rank: {r:?}"
        );
    }
}
