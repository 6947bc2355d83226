//! The facade's top-K on leave-one-out: what `recommend` without a query gets from a
//! user's history alone, with and without a two-tower model's candidates.
//!
//! Every user's latest interaction (by time, ties by file order) is held out, exactly as
//! `--split loo` holds it out for training; the recommender sees the rest (its consumed,
//! liked and profile sets lack the held-out row) and answers `recommend` for the user with
//! no query. Hit@10 and NDCG@10 over the users with a held-out item, for three candidate
//! sets: the whole catalog; `LIMIT` candidates from text and graph; and `LIMIT` from text
//! and graph plus the two-tower model's `LIMIT` nearest items. Then the accuracy-diversity
//! trade-off over the whole catalog: the request's `diversity` weight from 0 to 1 against
//! NDCG@10 and intra-list diversity, coverage and novelty at 10 (item text embeddings,
//! popularity among users), as a table and `tradeoff.svg` in the working folder.
//!
//! ```text
//! polyrec train --spec examples/data/ml-100k.toml --split loo --out RANKER
//! polyrec train --spec examples/data/ml-100k.toml --model two_tower --split loo --out TWO_TOWER
//! cargo run --release --example facade_topk -- RANKER TWO_TOWER [LIMIT]
//! ```
use std::collections::HashSet;
use std::error::Error;
use std::path::Path;

use polyrec::eval::diversity::Diversity;
use polyrec::eval::topk::TopK;
use polyrec::rank::model_dir;
use polyrec::{Recommender, Request};

/// `(user id, item id)` pairs held out.
pub type HeldOut = Vec<(String, String)>;

/// Hit@10 and NDCG@10 of `rec` over the held-out `(user id, item id)` pairs, at a weight
/// of the learned retrieval (used when a two-tower model is loaded).
pub fn score(
    rec: &Recommender,
    held: &HeldOut,
    retrieval_weight: f64,
) -> Result<(f64, f64), Box<dyn Error>> {
    let m = score_with(rec, held, 0.0, retrieval_weight)?;
    Ok((m["hit@10"], m["ndcg@10"]))
}

/// Hit@10, NDCG@10, ILD@10, coverage@10 and novelty@10 of `rec` at a diversity weight.
pub fn score_with(
    rec: &Recommender,
    held: &HeldOut,
    diversity: f64,
    retrieval_weight: f64,
) -> Result<std::collections::BTreeMap<String, f64>, Box<dyn Error>> {
    let ds = rec.dataset();
    let (vectors, dim) = rec.item_text_vectors();
    let mut users_per_item = vec![HashSet::new(); ds.items.ids.len()];
    for r in 0..ds.interactions.len() {
        users_per_item[ds.interactions.item[r] as usize].insert(ds.interactions.user[r]);
    }
    let counts: Vec<usize> = users_per_item.iter().map(HashSet::len).collect();
    let mut div = Diversity::new(10, counts.len(), dim, vectors, &counts, ds.users.ids.len())?;
    let mut acc = TopK::new(&[10]);
    for (user, item) in held {
        let answer = rec.recommend(&Request {
            user: Some(user.clone()),
            k: Some(10),
            diversity: Some(diversity),
            retrieval_weight: Some(retrieval_weight),
            ..Default::default()
        })?;
        let ranked: Vec<String> = answer.items.into_iter().map(|r| r.item).collect();
        let codes: Vec<usize> = ranked
            .iter()
            .filter_map(|id| ds.items.ids.get(id).map(|i| i as usize))
            .collect();
        div.add(&codes)?;
        acc.add(&ranked, &HashSet::from([item.clone()]));
    }
    let mut m = acc.means();
    m.extend(div.means());
    Ok(m)
}

/// Loads the ranker of `ranker_dir` over its dataset without each user's latest row, and
/// returns it with the held-out `(user, item)` ids.
pub fn held_out_recommender(ranker_dir: &Path) -> Result<(Recommender, HeldOut), Box<dyn Error>> {
    let device = polyrec::rank::DeviceRequest::Auto.resolve()?;
    let (ranker, config) = model_dir::load(ranker_dir, device)?;
    let spec = config
        .spec
        .clone()
        .ok_or("the model directory names no dataset spec")?;
    let (_, mut ds) = polyrec::pipeline::load_dataset(Path::new(&spec), None)?;
    let split = polyrec::data::leave_one_out(&ds);
    let held: HeldOut = split
        .test
        .iter()
        .map(|&r| {
            let r = r as usize;
            (
                ds.users.ids.names()[ds.interactions.user[r] as usize].clone(),
                ds.items.ids.names()[ds.interactions.item[r] as usize].clone(),
            )
        })
        .collect();
    let test: HashSet<u32> = split.test.iter().copied().collect();
    let keep: Vec<usize> = (0..ds.interactions.len())
        .filter(|r| !test.contains(&(*r as u32)))
        .collect();
    ds.interactions = ds.interactions.select(&keep);
    let encoder = polyrec::pipeline::load_encoder(None)?;
    Ok((Recommender::new(ranker, config, ds, encoder)?, held))
}

/// Writes the user vectors of a two-tower directory trained before they were exported
/// (leave-one-out histories of its dataset, as training saw them).
pub fn export_user_vectors_if_missing(dir: &Path) -> Result<(), Box<dyn Error>> {
    if dir.join("user_index.safetensors").is_file() {
        return Ok(());
    }
    let (model, _, cfg) =
        polyrec::rank::retrieval::load(dir, polyrec::rank::DeviceRequest::Cpu.resolve()?)?;
    let spec = cfg
        .spec
        .clone()
        .ok_or("the two-tower directory names no spec")?;
    let (_, ds) = polyrec::pipeline::load_dataset(Path::new(&spec), None)?;
    let split = polyrec::data::leave_one_out(&ds);
    let seqs = polyrec::rank::retrieval::Sequences::new(&ds, &split, Vec::new())?;
    polyrec::rank::retrieval::export_user_vectors(dir, &model, &ds, &seqs)?;
    Ok(())
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(ranker), Some(two_tower)) = (args.first(), args.get(1)) else {
        return Err("usage: facade_topk RANKER_DIR TWO_TOWER_DIR [LIMIT]".into());
    };
    let limit: usize = args.get(2).map_or(Ok(100), |s| s.parse())?;
    let (mut rec, held) = held_out_recommender(Path::new(ranker))?;
    export_user_vectors_if_missing(Path::new(two_tower))?;
    println!(
        "{} users with a held-out item; hit@10 / ndcg@10:",
        held.len()
    );
    let (h, n) = score(&rec, &held, 0.0)?;
    println!(
        "| multi-task model, whole catalog ({} items) | {h:.4} | {n:.4} |",
        rec.catalog_len()
    );
    rec.candidate_limit = limit;
    let (h, n) = score(&rec, &held, 0.0)?;
    println!("| multi-task model, {limit} candidates from text + graph | {h:.4} | {n:.4} |");
    rec.set_retrieval(Path::new(two_tower))?;
    for w in [0.0, 0.5, 1.0] {
        let (h, n) = score(&rec, &held, w)?;
        println!(
            "| {limit} candidates from two-tower + text + graph, retrieval weight {w} | {h:.4} | {n:.4} |"
        );
    }
    rec.candidate_limit = 5000;
    for w in [0.5, 1.0] {
        let (h, n) = score(&rec, &held, w)?;
        println!("| whole catalog, retrieval weight {w} | {h:.4} | {n:.4} |");
    }
    println!("\n| diversity | hit@10 | ndcg@10 | ILD@10 | coverage@10 | novelty@10 |");
    println!("|---|---|---|---|---|---|");
    let mut points = Vec::new();
    for d in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let m = score_with(&rec, &held, d, 0.5)?;
        println!(
            "| {d} | {:.4} | {:.4} | {:.4} | {:.4} | {:.2} |",
            m["hit@10"], m["ndcg@10"], m["ild@10"], m["coverage@10"], m["novelty@10"]
        );
        points.push((format!("d={d}"), m["ild@10"], m["ndcg@10"]));
    }
    let svg = polyrec::eval::plot::tradeoff_svg(
        "ML-100K leave-one-out: accuracy against diversity",
        "intra-list diversity@10 (text embeddings)",
        "NDCG@10",
        &points,
    );
    std::fs::write("tradeoff.svg", svg)?;
    println!("wrote tradeoff.svg");
    Ok(())
}
