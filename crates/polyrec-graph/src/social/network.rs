//! The friendship graph: an undirected petgraph graph of users with sorted neighbour
//! lists, and the classic link-prediction scores computed on it (common neighbours,
//! Adamic-Adar, resource allocation, personalised PageRank).

use petgraph::graph::{NodeIndex, UnGraph};

use crate::{Error, Result};

/// An undirected friendship graph over dense user indices `0..n_users`.
///
/// Node `i` of [`Self::graph`] is user `i`. An edge listed twice (HetRec lists each
/// friendship in both directions) or a self-loop is kept once or dropped, so
/// [`Self::n_edges`] counts friendships, not file rows.
#[derive(Debug, Clone)]
pub struct SocialNetwork {
    /// The petgraph graph; node weights are the user indices.
    pub graph: UnGraph<u32, ()>,
    /// Sorted, distinct neighbours per user (the same edges as `graph`, for merges).
    adjacency: Vec<Vec<u32>>,
}

impl SocialNetwork {
    /// Builds the graph of `n_users` users from `(user, friend)` pairs in either or both
    /// directions. A pair naming a user `>= n_users` is an error.
    pub fn new(n_users: usize, edges: &[(u32, u32)]) -> Result<Self> {
        let mut adjacency = vec![Vec::new(); n_users];
        for &(a, b) in edges {
            for x in [a, b] {
                if x as usize >= n_users {
                    return Err(Error::OutOfRange {
                        kind: "user",
                        index: x,
                        len: n_users,
                    });
                }
            }
            if a != b {
                adjacency[a as usize].push(b);
                adjacency[b as usize].push(a);
            }
        }
        for list in &mut adjacency {
            list.sort_unstable();
            list.dedup();
        }
        let mut graph = UnGraph::with_capacity(n_users, edges.len());
        for u in 0..n_users as u32 {
            graph.add_node(u);
        }
        for (a, list) in adjacency.iter().enumerate() {
            for &b in list.iter().filter(|&&b| b as usize > a) {
                graph.add_edge(NodeIndex::new(a), NodeIndex::new(b as usize), ());
            }
        }
        Ok(Self { graph, adjacency })
    }

    /// The graph of a dataset's users and its social edges (`[social]` in the spec).
    pub fn from_dataset(ds: &polyrec_data::Dataset) -> Result<Self> {
        Self::new(ds.users.ids.len(), &ds.social)
    }

    /// The graph without the friendships in `removed` (either direction).
    pub fn without(&self, removed: &[(u32, u32)]) -> Result<Self> {
        let mut drop: std::collections::HashSet<(u32, u32)> =
            removed.iter().map(|&(a, b)| (a.min(b), a.max(b))).collect();
        drop.shrink_to_fit();
        let kept: Vec<(u32, u32)> = self
            .edges()
            .into_iter()
            .filter(|e| !drop.contains(e))
            .collect();
        Self::new(self.n_users(), &kept)
    }

    /// Number of users (nodes).
    pub fn n_users(&self) -> usize {
        self.adjacency.len()
    }

    /// Number of friendships (undirected edges).
    pub fn n_edges(&self) -> usize {
        self.graph.edge_count()
    }

    /// Every friendship once, as `(a, b)` with `a < b`, in user order.
    pub fn edges(&self) -> Vec<(u32, u32)> {
        let mut out = Vec::with_capacity(self.n_edges());
        for (a, list) in self.adjacency.iter().enumerate() {
            out.extend(
                list.iter()
                    .filter(|&&b| b as usize > a)
                    .map(|&b| (a as u32, b)),
            );
        }
        out
    }

    /// A user's friends, sorted. Empty for an index out of range.
    pub fn friends(&self, user: u32) -> &[u32] {
        self.adjacency.get(user as usize).map_or(&[], Vec::as_slice)
    }

    /// Number of friends.
    pub fn degree(&self, user: u32) -> usize {
        self.friends(user).len()
    }

    /// Whether `a` and `b` are friends.
    pub fn are_friends(&self, a: u32, b: u32) -> bool {
        self.friends(a).binary_search(&b).is_ok()
    }

    /// The friends `a` and `b` have in common, sorted.
    pub fn common_friends(&self, a: u32, b: u32) -> Vec<u32> {
        let (x, y) = (self.friends(a), self.friends(b));
        let (mut i, mut j, mut out) = (0, 0, Vec::new());
        while i < x.len() && j < y.len() {
            match x[i].cmp(&y[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    out.push(x[i]);
                    i += 1;
                    j += 1;
                }
            }
        }
        out
    }

    /// Adamic-Adar: the sum over common friends `z` of `1 / ln(degree(z))`.
    pub fn adamic_adar(&self, a: u32, b: u32) -> f64 {
        self.common_friends(a, b)
            .iter()
            .map(|&z| 1.0 / (self.degree(z) as f64).ln())
            .sum()
    }

    /// Users two hops away (friends of friends who are neither `user` nor a friend), with
    /// the number of paths, sorted by user.
    pub fn friends_of_friends(&self, user: u32) -> Vec<(u32, u32)> {
        let mut count = std::collections::HashMap::new();
        for &f in self.friends(user) {
            for &g in self.friends(f) {
                if g != user && !self.are_friends(user, g) {
                    *count.entry(g).or_insert(0u32) += 1;
                }
            }
        }
        let mut out: Vec<(u32, u32)> = count.into_iter().collect();
        out.sort_unstable();
        out
    }

    /// Personalised PageRank from `source`: the stationary distribution of a walk that
    /// follows a random edge with probability `1 - restart` and jumps back to `source`
    /// otherwise, by `iterations` rounds of power iteration over petgraph's neighbour
    /// lists. A user without friends keeps the walk (its mass returns to `source`).
    pub fn personalized_pagerank(&self, source: u32, restart: f64, iterations: usize) -> Vec<f64> {
        let n = self.n_users();
        let mut rank = vec![0.0; n];
        if source as usize >= n {
            return rank;
        }
        rank[source as usize] = 1.0;
        let mut next = vec![0.0; n];
        for _ in 0..iterations {
            next.iter_mut().for_each(|x| *x = 0.0);
            let mut back = restart;
            for node in self.graph.node_indices() {
                let mass = rank[node.index()];
                if mass == 0.0 {
                    continue;
                }
                let d = self.degree(node.index() as u32);
                if d == 0 {
                    back += (1.0 - restart) * mass;
                    continue;
                }
                let share = (1.0 - restart) * mass / d as f64;
                for m in self.graph.neighbors(node) {
                    next[m.index()] += share;
                }
            }
            next[source as usize] += back;
            std::mem::swap(&mut rank, &mut next);
        }
        rank
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square_with_tail() -> SocialNetwork {
        // 0-1, 1-2, 2-3, 3-0 (a square), 3-4, listed in both directions.
        let e = [
            (0, 1),
            (1, 0),
            (1, 2),
            (2, 3),
            (3, 0),
            (3, 4),
            (4, 3),
            (2, 2),
        ];
        SocialNetwork::new(5, &e).expect("valid edges")
    }

    #[test]
    fn edges_are_counted_once_and_scores_follow_the_definitions() {
        let g = square_with_tail();
        assert_eq!(g.n_edges(), 5);
        assert_eq!(g.edges(), vec![(0, 1), (0, 3), (1, 2), (2, 3), (3, 4)]);
        assert_eq!(g.common_friends(0, 2), vec![1, 3]);
        let aa = 1.0 / 2f64.ln() + 1.0 / 3f64.ln();
        assert!((g.adamic_adar(0, 2) - aa).abs() < 1e-12);
        assert_eq!(g.friends_of_friends(0), vec![(2, 2), (4, 1)]);
        assert!(g.are_friends(4, 3) && !g.are_friends(0, 2));
    }

    #[test]
    fn pagerank_is_a_distribution_and_prefers_the_near() {
        let g = square_with_tail();
        let r = g.personalized_pagerank(0, 0.15, 50);
        assert!((r.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(r[0] > r[1] && r[2] > r[4], "{r:?}");
        // On an undirected graph pi_a(b) d(a) = pi_b(a) d(b).
        let r4 = g.personalized_pagerank(4, 0.15, 200);
        let r0 = g.personalized_pagerank(0, 0.15, 200);
        assert!((r0[4] * 2.0 - r4[0] * 1.0).abs() < 1e-9);
    }

    #[test]
    fn removing_edges_and_bad_indices() {
        let g = square_with_tail().without(&[(3, 0)]).expect("valid");
        assert_eq!(g.n_edges(), 4);
        assert!(!g.are_friends(0, 3));
        assert!(matches!(
            SocialNetwork::new(2, &[(0, 2)]),
            Err(Error::OutOfRange { index: 2, .. })
        ));
    }
}
