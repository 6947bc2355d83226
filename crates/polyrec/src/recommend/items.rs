//! The item answer of a request: candidates, ranking, blending, diversity and the
//! cold-start scores of new users and items.

use super::similarity::softmax_weights;
use super::*;

impl Recommender {
    /// The items of a request.
    pub(super) fn recommend_items(&self, req: &Request) -> Result<Response, Error> {
        let n_items = self.ds.items.ids.len();
        let k = req.k.unwrap_or(10);
        if !(1..=MAX_K).contains(&k) {
            return Err(bad("k", format!("{k} is not in 1..={MAX_K}")));
        }
        // Who.
        let user: Option<u32> = match (&req.user, &req.profile, req.liked.is_empty()) {
            (Some(_), Some(_), _) => {
                return Err(bad("profile", "send `user` or `profile`, not both"));
            }
            (Some(id), None, _) => Some(self.ds.users.ids.get(id).ok_or_else(|| {
                bad(
                    "user",
                    format!("unknown user `{id}` (a new user sends `profile` instead)"),
                )
            })?),
            (None, None, true) => {
                return Err(bad(
                    "user",
                    "send `user`, or `profile`/`liked` for a new user",
                ));
            }
            (None, _, _) => None,
        };
        let mut liked: Vec<(u32, f32)> = match user {
            Some(u) => self.liked[u as usize].clone(),
            None => Vec::new(),
        };
        for id in &req.liked {
            let i = self
                .ds
                .items
                .ids
                .get(id)
                .ok_or_else(|| bad("liked", format!("unknown item `{id}`")))?;
            liked.push((i, 1.0));
        }
        // Where.
        let scenario = self.scenario_of(req, user)?;
        // Task weights.
        let heads = self.ranker.heads();
        let mut weights: Vec<f64> = vec![0.0; heads.len()];
        if req.weights.is_empty() {
            for (t, h) in heads.iter().enumerate() {
                if !h.user_level && !matches!(h.kind, HeadKind::Multiclass { .. }) {
                    weights[t] = 1.0;
                }
            }
        } else {
            for (name, &w) in &req.weights {
                let t = heads
                    .iter()
                    .position(|h| &h.name == name && !h.user_level)
                    .ok_or_else(|| {
                        bad(
                            "weights",
                            format!(
                                "`{name}` is not an item-level task of the model (tasks: {})",
                                heads
                                    .iter()
                                    .filter(|h| !h.user_level)
                                    .map(|h| h.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        )
                    })?;
                if matches!(heads[t].kind, HeadKind::Multiclass { .. }) {
                    return Err(bad(
                        "weights",
                        format!("`{name}` is a multiclass task: it has no score to blend"),
                    ));
                }
                if !(w.is_finite() && w >= 0.0) {
                    return Err(bad(
                        "weights",
                        format!("`{name}`: {w} must be finite and >= 0"),
                    ));
                }
                weights[t] = w;
            }
        }
        let total_w: f64 = weights.iter().sum();
        if total_w <= 0.0 {
            return Err(bad("weights", "at least one weight must be positive"));
        }
        // Understanding: the query, and the user's profile vector.
        let query_vec = match &req.query {
            Some(q) => Some(self.encode_text("query", q)?),
            None => None,
        };
        let mut profile_vec: Option<Vec<f32>> = match &req.profile {
            Some(p) => Some(self.encode_text("profile", p)?),
            None => None,
        };
        if profile_vec.is_none() && !liked.is_empty() {
            let mut v = vec![0f32; self.dim];
            for &(i, _) in &liked {
                for (a, b) in v.iter_mut().zip(self.item_vec(i as usize)) {
                    *a += b;
                }
            }
            normalise(&mut v);
            profile_vec = Some(v);
        }
        let relevance_vec = query_vec.as_ref().or(profile_vec.as_ref());
        let text_weight = req
            .text_weight
            .unwrap_or(if query_vec.is_some() { 0.5 } else { 0.2 });
        if !(0.0..=1.0).contains(&text_weight) {
            return Err(bad(
                "text_weight",
                format!("{text_weight} is not in [0, 1]"),
            ));
        }
        // Candidates.
        let total = n_items + self.added.len();
        // Items left out: what the user consumed (unless asked for) and what the request
        // says they liked, as a mask over the catalog.
        let mut excluded = vec![false; n_items];
        if let Some(u) = user
            && !req.include_consumed
        {
            for &i in &self.consumed[u as usize] {
                excluded[i as usize] = true;
            }
        }
        for &(i, _) in &liked[liked.len() - req.liked.len()..] {
            excluded[i as usize] = true;
        }
        let keep = |c: usize| -> bool { c >= n_items || !excluded[c] };
        let mut candidates: Vec<usize> = if total <= self.candidate_limit {
            (0..total).filter(|&c| keep(c)).collect()
        } else {
            let mut set: HashSet<usize> = HashSet::new();
            // Learned retrieval: the user's nearest items by the two-tower vectors.
            if let (Some(r), Some(u)) = (&self.retrieval, user) {
                let found = r.for_user(u, self.candidate_limit, |i| !keep(i as usize));
                set.extend(found.into_iter().map(|(i, _)| i as usize));
            }
            if let Some(v) = relevance_vec {
                let (vecs, added, dim) = (&self.item_vecs, &self.added, self.dim);
                let mut sims: Vec<(usize, f32)> = (0..total)
                    .into_par_iter()
                    .map(|c| {
                        let row = if c < n_items {
                            &vecs[c * dim..(c + 1) * dim]
                        } else {
                            &added[c - n_items].vec[..]
                        };
                        (c, dot(v, row))
                    })
                    .collect();
                let lim = self.candidate_limit.min(sims.len());
                sims.select_nth_unstable_by(lim.saturating_sub(1), |a, b| b.1.total_cmp(&a.1));
                set.extend(sims[..lim].iter().map(|s| s.0));
            }
            if let Some(kg) = &self.kg {
                let cfg = RelatednessConfig::default();
                let mut top = liked.clone();
                top.sort_by(|a, b| b.1.total_cmp(&a.1));
                for &(i, _) in top.iter().take(20) {
                    set.extend(
                        kg.related_items(i, 50, &cfg)
                            .into_iter()
                            .map(|(j, _)| j as usize),
                    );
                }
            }
            if set.is_empty() {
                set.extend(0..self.candidate_limit.min(total));
            }
            let mut v: Vec<usize> = set.into_iter().filter(|&c| keep(c)).collect();
            v.sort_unstable();
            v
        };
        for (attr, values) in &req.filters {
            let column = self
                .ds
                .items
                .attributes
                .iter()
                .find(|a| &a.name == attr)
                .ok_or_else(|| bad("filters", format!("items have no attribute `{attr}`")))?;
            let polyrec_data::Column::Categorical { vocab, codes } = &column.column else {
                return Err(bad(
                    "filters",
                    format!("`{attr}` is not a categorical attribute"),
                ));
            };
            candidates.retain(|&c| {
                c < n_items && codes[c] != 0 && {
                    let v = vocab.name(codes[c]);
                    values
                        .iter()
                        .any(|want| v == want || v.split_whitespace().any(|t| t == want))
                }
            });
        }
        // Ranking: `predictions` is `[candidates x heads]`, row-major.
        let predictions = self.score(user, scenario, &candidates, profile_vec.as_deref())?;
        let hn = heads.len();
        let norms: Vec<(f64, f64)> = heads
            .iter()
            .enumerate()
            .map(|(t, h)| match &h.kind {
                HeadKind::Regression {
                    range: Some([lo, hi]),
                    ..
                } => (f64::from(*lo), f64::from(*hi)),
                HeadKind::Regression { .. } => {
                    let col = predictions.iter().skip(t).step_by(hn.max(1)).copied();
                    let lo = col.clone().fold(f64::INFINITY, f64::min);
                    let hi = col.fold(f64::NEG_INFINITY, f64::max);
                    (lo, hi)
                }
                _ => (0.0, 1.0),
            })
            .collect();
        // Only the tasks with a positive weight take part: (head, weight / total, low, span).
        let blend: Vec<(usize, f64, f64, f64)> = weights
            .iter()
            .enumerate()
            .filter(|(_, w)| **w > 0.0)
            .map(|(t, w)| {
                (
                    t,
                    w / total_w,
                    norms[t].0,
                    (norms[t].1 - norms[t].0).max(1e-9),
                )
            })
            .collect();
        let retrieval_weight = req.retrieval_weight.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&retrieval_weight) {
            return Err(bad(
                "retrieval_weight",
                format!("{retrieval_weight} is not in [0, 1]"),
            ));
        }
        // The learned retrieval's pick scores, `exp(s - max s)` over the candidates.
        let pick: Option<Vec<f64>> = match (&self.retrieval, user) {
            (Some(r), Some(u)) if retrieval_weight > 0.0 => r.scores(u, &candidates).map(|s| {
                let top = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                s.iter().map(|&x| f64::from(x - top).exp()).collect()
            }),
            _ => None,
        };
        // (item, score, text relevance, row of `predictions`)
        let mut scored: Vec<(usize, f64, Option<f64>, usize)> = candidates
            .iter()
            .enumerate()
            .map(|(pos, &c)| {
                let p = &predictions[pos * hn..(pos + 1) * hn];
                let mut personal: f64 = blend
                    .iter()
                    .map(|&(t, w, lo, span)| w * ((p[t] - lo) / span).clamp(0.0, 1.0))
                    .sum();
                if let Some(pick) = &pick {
                    personal =
                        personal.powf(1.0 - retrieval_weight) * pick[pos].powf(retrieval_weight);
                }
                let rel = relevance_vec.map(|v| f64::from(dot(v, self.item_vec(c))));
                let score = match rel {
                    Some(r) => (1.0 - text_weight) * personal + text_weight * r.max(0.0),
                    None => personal,
                };
                (c, score, rel, pos)
            })
            .collect();
        let diversity = req.diversity.unwrap_or(0.0);
        if !(0.0..=1.0).contains(&diversity) {
            return Err(bad("diversity", format!("{diversity} is not in [0, 1]")));
        }
        let k = k.min(scored.len());
        // MMR looks past the top K: a pool of the best few K, then greedy selection.
        let pool = if diversity > 0.0 {
            (k * DIVERSITY_POOL).min(scored.len())
        } else {
            k
        };
        if pool > 0 {
            scored.select_nth_unstable_by(pool - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        }
        scored.truncate(pool);
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if diversity > 0.0 {
            scored = self.mmr(scored, k, diversity);
        }
        let items = scored
            .into_iter()
            .map(|(c, score, rel, pos)| {
                let (item, name) = self.item_name(c);
                let scores = heads
                    .iter()
                    .zip(&predictions[pos * hn..(pos + 1) * hn])
                    .filter(|(h, _)| !h.user_level)
                    .map(|(h, v)| (h.name.clone(), *v))
                    .collect();
                Recommendation {
                    item,
                    name,
                    score,
                    scores,
                    relevance: rel,
                    reasons: self.reasons(
                        c,
                        &liked,
                        user.filter(|_| req.liked.is_empty()),
                        req.query.as_deref(),
                        rel,
                    ),
                }
            })
            .collect();
        Ok(self.response(req, scenario, items))
    }

    /// Greedy maximal-marginal-relevance selection of `k` out of `pool` (best first).
    pub(super) fn mmr<T, U>(
        &self,
        pool: Vec<(usize, f64, T, U)>,
        k: usize,
        d: f64,
    ) -> Vec<(usize, f64, T, U)> {
        let mut rest: Vec<Option<(usize, f64, T, U)>> = pool.into_iter().map(Some).collect();
        let mut max_sim = vec![0f64; rest.len()];
        let mut out = Vec::with_capacity(k);
        while out.len() < k {
            let best = rest
                .iter()
                .enumerate()
                .filter_map(|(j, r)| r.as_ref().map(|r| (j, (1.0 - d) * r.1 - d * max_sim[j])))
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
            let Some((j, _)) = best else { break };
            let chosen = rest[j].take().expect("present");
            let v = self.item_vec(chosen.0);
            for (m, r) in max_sim.iter_mut().zip(&rest) {
                if let Some(r) = r {
                    *m = m.max(f64::from(dot(v, self.item_vec(r.0))));
                }
            }
            out.push(chosen);
        }
        out
    }

    /// Each task's prediction (label units) for every candidate in the scenario,
    /// `[candidates x heads]` row-major.
    pub(super) fn score(
        &self,
        user: Option<u32>,
        scenario: u32,
        candidates: &[usize],
        profile: Option<&[f32]>,
    ) -> Result<Vec<f64>, Error> {
        let n_items = self.ds.items.ids.len();
        let h = self.ranker.heads().len();
        // A known user's predictions do not depend on `profile` (only a new user's text goes
        // into the model), so they come from the per-user cache.
        let cached = match user {
            Some(u) if n_items <= self.candidate_limit => {
                Some(self.catalog_predictions(u, scenario))
            }
            _ => None,
        };
        let predict = |items: &[usize]| -> Vec<f64> {
            match &cached {
                Some(all) => items
                    .iter()
                    .flat_map(|&c| all[c * h..(c + 1) * h].iter().map(|&v| f64::from(v)))
                    .collect(),
                None => self.predict(user, scenario, items, profile),
            }
        };
        let known_pos: Vec<usize> = (0..candidates.len())
            .filter(|&p| candidates[p] < n_items)
            .collect();
        if known_pos.len() == candidates.len() {
            return Ok(predict(candidates));
        }
        let known: Vec<usize> = known_pos.iter().map(|&p| candidates[p]).collect();
        // `table` holds predictions for the items of `row_of` (item -> row).
        let mut table = predict(&known);
        let mut row_of: std::collections::HashMap<usize, usize> =
            known.iter().enumerate().map(|(r, &c)| (c, r)).collect();
        // A new item takes the model's predictions for its nearest catalog items by text,
        // weighted by similarity: the model never saw an item without id and attributes.
        let new_pos: Vec<usize> = (0..candidates.len())
            .filter(|&p| candidates[p] >= n_items)
            .collect();
        let neighbours: Vec<Vec<(usize, f32)>> = new_pos
            .iter()
            .map(|&p| {
                let v = self.item_vec(candidates[p]);
                let mut sims: Vec<(usize, f32)> = (0..n_items)
                    .map(|j| (j, dot(v, self.item_vec(j)).max(0.0)))
                    .collect();
                let k = NEIGHBOURS.min(sims.len());
                if k > 0 {
                    sims.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
                }
                sims.truncate(k);
                sims
            })
            .collect();
        let mut missing: Vec<usize> = neighbours
            .iter()
            .flatten()
            .map(|&(j, _)| j)
            .filter(|j| !row_of.contains_key(j))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let first = table.len() / h.max(1);
        table.extend(predict(&missing));
        row_of.extend(missing.into_iter().enumerate().map(|(r, c)| (c, first + r)));
        let mut out = vec![0.0; candidates.len() * h];
        for (r, &p) in known_pos.iter().enumerate() {
            out[p * h..(p + 1) * h].copy_from_slice(&table[r * h..(r + 1) * h]);
        }
        for (&p, near) in new_pos.iter().zip(&neighbours) {
            let (_, w) = softmax_weights(near);
            let avg = &mut out[p * h..(p + 1) * h];
            for (&(j, _), wj) in near.iter().zip(&w) {
                let r = row_of[&j];
                for (a, v) in avg.iter_mut().zip(&table[r * h..(r + 1) * h]) {
                    *a += wj * v;
                }
            }
            if let Some(u) = user {
                self.blend_history(u, candidates[p], avg);
            }
        }
        Ok(out)
    }

    /// Moves a new item's borrowed predictions towards the user's own labels on the items of
    /// their history closest to it by text (softmax over the five nearest), in proportion
    /// to how close the nearest one is: a sequel of a film the user rated 5 is predicted
    /// near 5 for that user, an item unlike their history keeps the borrowed predictions.
    pub(super) fn blend_history(&self, user: u32, c: usize, pred: &mut [f64]) {
        let rows = &self.rows[user as usize];
        if rows.is_empty() {
            return;
        }
        let v = self.item_vec(c);
        let mut sims: Vec<(u32, f32)> = rows
            .iter()
            .map(|&(i, r)| (r, dot(v, self.item_vec(i as usize)).max(0.0)))
            .collect();
        let k = NEIGHBOURS.min(sims.len());
        sims.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1));
        sims.truncate(k);
        let (top, w) = softmax_weights(&sims);
        for (t, head) in self.ranker.heads().iter().enumerate() {
            if head.user_level || matches!(head.kind, HeadKind::Multiclass { .. }) {
                continue;
            }
            let Some(ti) = self.ds.task_index(&head.name) else {
                continue;
            };
            let own: f64 = sims
                .iter()
                .zip(&w)
                .map(|(&(r, _), wj)| wj * f64::from(self.ds.interactions.labels[ti][r as usize]))
                .sum::<f64>();
            if own.is_finite() {
                pred[t] = top * own + (1.0 - top) * pred[t];
            }
        }
    }
}
