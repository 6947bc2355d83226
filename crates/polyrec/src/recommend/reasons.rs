//! Why an item is recommended: knowledge-graph paths from the user's liked items and the
//! text evidence (query words, or the liked item whose text is closest).

use super::*;

const STOPWORDS: &[&str] = &[
    "the",
    "and",
    "for",
    "with",
    "that",
    "this",
    "from",
    "about",
    "some",
    "something",
    "want",
    "like",
    "movie",
    "film",
    "films",
    "movies",
    "please",
    "give",
    "show",
    "find",
    "good",
];

impl Recommender {
    /// Graph reasons: paths from the user's liked items to `c` (cached per known user).
    pub(super) fn graph_reasons(
        &self,
        c: usize,
        liked: &[(u32, f32)],
        user: Option<u32>,
    ) -> Arc<Vec<Reason>> {
        let n_items = self.ds.items.ids.len();
        let key = user.map(|u| (u, c as u32));
        if let Some(k) = &key
            && let Some(hit) = lock(&self.reason_cache).get(k)
        {
            return hit;
        }
        let mut out = Vec::new();
        if let Some(kg) = &self.kg
            && c < n_items
        {
            for p in kg.reasons(liked, c as u32, 1) {
                let cand = self.item_name(c).1;
                let path = if p.length == 1 {
                    vec![p.from_name.clone(), p.via.relation.clone(), cand]
                } else {
                    vec![
                        p.from_name.clone(),
                        p.via.relation.clone(),
                        p.via.label.clone(),
                        cand,
                    ]
                };
                out.push(Reason {
                    kind: "graph".into(),
                    text: p.describe(&self.feedback.phrase(p.strength)),
                    path: Some(path),
                    words: Vec::new(),
                });
            }
        }
        let out = Arc::new(out);
        if let Some(k) = key {
            lock(&self.reason_cache).insert(k, Arc::clone(&out));
        }
        out
    }

    pub(super) fn reasons(
        &self,
        c: usize,
        liked: &[(u32, f32)],
        user: Option<u32>,
        query: Option<&str>,
        relevance: Option<f64>,
    ) -> Vec<Reason> {
        let n_items = self.ds.items.ids.len();
        let mut out: Vec<Reason> = self.graph_reasons(c, liked, user).as_ref().clone();
        let text = if c < n_items {
            self.ds.items.texts[c].clone().unwrap_or_default()
        } else {
            String::new()
        };
        if let Some(q) = query {
            let lower = text.to_lowercase();
            let words: Vec<String> = q
                .split(|ch: char| !ch.is_alphanumeric())
                .map(str::to_lowercase)
                .filter(|w| w.len() >= 3 && !STOPWORDS.contains(&w.as_str()))
                .filter(|w| {
                    lower
                        .split(|ch: char| !ch.is_alphanumeric())
                        .any(|t| t == w)
                })
                .collect();
            let sim = relevance.unwrap_or(0.0);
            out.push(Reason {
                kind: "text".into(),
                text: if words.is_empty() {
                    format!("close in meaning to your request (text similarity {sim:.2})")
                } else {
                    format!(
                        "its description matches \"{}\" from your request (text similarity {sim:.2})",
                        words.join("\", \"")
                    )
                },
                path: None,
                words: words.clone(),
            });
        } else if let Some((h, s)) = liked
            .iter()
            .map(|&(h, s)| (h, s, dot(self.item_vec(h as usize), self.item_vec(c))))
            .filter(|&(h, _, _)| h as usize != c)
            .max_by(|a, b| a.2.total_cmp(&b.2))
            .map(|(h, s, sim)| ((h, sim), s))
        {
            let name = self.item_name(h.0 as usize).1;
            out.push(Reason {
                kind: "text".into(),
                text: format!(
                    "close to {name}, {} (text similarity {:.2})",
                    self.feedback.phrase(s),
                    h.1
                ),
                path: None,
                words: Vec::new(),
            });
        } else if let Some(sim) = relevance {
            out.push(Reason {
                kind: "text".into(),
                text: format!("close in meaning to your profile (text similarity {sim:.2})"),
                path: None,
                words: Vec::new(),
            });
        }
        out
    }
}
