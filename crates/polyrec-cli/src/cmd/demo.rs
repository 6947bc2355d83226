//! `polyrec demo`: the end-to-end flow on MovieLens-100K with the default model: ingest,
//! language-model understanding of item texts and a free-text request, knowledge-graph
//! fusion, a content + graph recommender evaluated on a leave-one-out split, and
//! recommendations with reasons.
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use polyrec::data::{Dataset, DatasetSpec, DatasetStats, leave_one_out};
use polyrec::encode::{
    EmbeddingCache, EncoderOptions, SentenceEncoder, TextEncoder, default_model_dir,
};
use polyrec::eval::topk::full_ranking;
use polyrec::graph::{KnowledgeGraph, RelatednessConfig};
use polyrec::rank::DeviceRequest;

const ML100K_SPEC: &str = include_str!("../../../../examples/data/ml-100k.toml");

/// Arguments of `polyrec demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Folder with the ML-100K RecBole files (default: where scripts/setup.sh installs them).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Model folder (default: all-MiniLM-L6-v2 from the set-up).
    #[arg(long)]
    model: Option<PathBuf>,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "auto")]
    device: DeviceRequest,
    /// The free-text request to answer.
    #[arg(long, default_value = "a light comedy for a rainy evening")]
    request: String,
    /// The user (raw id) to recommend for.
    #[arg(long, default_value = "196")]
    user: String,
}

/// A readable model name: the folder, or its parent when the folder is called `model`.
fn model_label(dir: &Path) -> String {
    let name = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("model")
            .to_string()
    };
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("model") => dir.parent().map_or_else(|| name(dir), name),
        _ => name(dir),
    }
}

fn l2_normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn run(a: DemoArgs) -> anyhow::Result<ExitCode> {
    // 1. Ingest.
    let spec = DatasetSpec::from_toml_str(ML100K_SPEC, Path::new("examples/data/ml-100k.toml"))?;
    let dir = a.data_dir.unwrap_or_else(polyrec::data::default_ml100k_dir);
    let t = Instant::now();
    let ds = Dataset::load_spec(&spec, &dir)?;
    println!(
        "== 1. ingest: MovieLens-100K from {} ({:.2} s)\n",
        dir.display(),
        t.elapsed().as_secs_f64()
    );
    print!("{}", DatasetStats::of(&ds));

    // 2. Language-model understanding.
    let device = a.device.resolve()?;
    let model = match a.model {
        Some(m) => m,
        None => {
            default_model_dir().context("default model not installed (run scripts/setup.sh)")?
        }
    };
    let encoder = SentenceEncoder::load(
        &model,
        EncoderOptions {
            device,
            ..Default::default()
        },
    )?;
    let texts: Vec<&str> = ds
        .items
        .texts
        .iter()
        .map(|t| t.as_deref().unwrap_or(""))
        .collect();
    let cache_dir = std::env::var_os("POLYREC_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join("embeddings");
    let mut cache = EmbeddingCache::open(&cache_dir, &encoder);
    let t = Instant::now();
    let (items_emb, stats) = super::encode_with_progress(&encoder, Some(&mut cache), &texts)?;
    println!(
        "\n== 2. text understanding: {} on {device:?}, {} layers, {} dims; {} item texts in {:.2} s ({} computed, {} cached)",
        model_label(&model),
        encoder.files().bert.num_hidden_layers,
        encoder.dim(),
        texts.len(),
        t.elapsed().as_secs_f64(),
        stats.computed,
        stats.hits
    );
    let sample = 0usize;
    let row = items_emb.row(sample);
    println!(
        "   {:?} -> [{}, ...] (norm {:.4})",
        texts[sample],
        row.iter()
            .take(6)
            .map(|v| format!("{v:+.4}"))
            .collect::<Vec<_>>()
            .join(", "),
        row.iter().map(|v| v * v).sum::<f32>().sqrt()
    );
    let req = encoder.encode(&[a.request.as_str()])?;
    let mut by_request: Vec<(usize, f32)> = (0..ds.items.ids.len())
        .map(|i| (i, dot(req.row(0), items_emb.row(i))))
        .collect();
    by_request.sort_by(|x, y| y.1.total_cmp(&x.1));
    println!("   request {:?}, closest items by cosine:", a.request);
    for (i, s) in by_request.iter().take(5) {
        println!(
            "     {s:.3}  {}",
            ds.items.texts[*i].as_deref().unwrap_or("?")
        );
    }

    // 3. Knowledge-graph fusion.
    let t = Instant::now();
    let kg = KnowledgeGraph::from_dataset(&ds)?;
    let gs = kg.stats();
    println!(
        "\n== 3. knowledge graph: {} items, {} entities, {} relations (+ inverses), {:.1}% of items linked; built in {:.2} s",
        gs.items,
        gs.entities,
        gs.triples_per_relation.len(),
        100.0 * gs.linked_share,
        t.elapsed().as_secs_f64()
    );

    // 4. A content + graph recommender, evaluated leave-one-out over all items.
    let like = ds.task_index("like").context("task like")?;
    let rating = ds.task_index("rating").context("task rating")?;
    let split = leave_one_out(&ds);
    let n_users = ds.users.ids.len();
    let n_items = ds.items.ids.len();
    let dim = items_emb.dim;
    let mut profiles = vec![0f32; n_users * dim];
    let mut train_items: Vec<HashSet<u32>> = vec![HashSet::new(); n_users];
    let mut liked: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_users];
    for &r in &split.train {
        let (u, i) = (
            ds.interactions.user[r as usize] as usize,
            ds.interactions.item[r as usize],
        );
        train_items[u].insert(i);
        if ds.interactions.labels[like][r as usize] > 0.5 {
            liked[u].push((i, ds.interactions.labels[rating][r as usize]));
            for (p, v) in profiles[u * dim..(u + 1) * dim]
                .iter_mut()
                .zip(items_emb.row(i as usize))
            {
                *p += v;
            }
        }
    }
    for u in 0..n_users {
        l2_normalise(&mut profiles[u * dim..(u + 1) * dim]);
    }
    let mut popularity = vec![0f32; n_items];
    for &r in &split.train {
        popularity[ds.interactions.item[r as usize] as usize] += 1.0;
    }
    let max_pop = popularity.iter().copied().fold(1.0, f32::max);
    let mut relevant: Vec<HashSet<u32>> = vec![HashSet::new(); n_users];
    for &r in &split.test {
        relevant[ds.interactions.user[r as usize] as usize]
            .insert(ds.interactions.item[r as usize]);
    }
    let t = Instant::now();
    let ks = [5, 10, 20];
    let text_only = full_ranking(n_items, &train_items, &relevant, &ks, |u, buf| {
        let p = &profiles[u * dim..(u + 1) * dim];
        for (i, s) in buf.iter_mut().enumerate() {
            *s = dot(p, items_emb.row(i));
        }
    });
    let popular = full_ranking(n_items, &train_items, &relevant, &ks, |_, buf| {
        buf.copy_from_slice(&popularity)
    });
    let blended = full_ranking(n_items, &train_items, &relevant, &ks, |u, buf| {
        let p = &profiles[u * dim..(u + 1) * dim];
        for (i, s) in buf.iter_mut().enumerate() {
            *s = dot(p, items_emb.row(i)) + 0.5 * (popularity[i] / max_pop).sqrt();
        }
    });
    println!(
        "\n== 4. leave-one-out top-K over all {n_items} items ({} users, training items excluded; {:.2} s)",
        text_only.users(),
        t.elapsed().as_secs_f64()
    );
    println!(
        "   {:<34} {:>9} {:>9} {:>9} {:>9}",
        "model", "hit@10", "ndcg@10", "recall@20", "mrr@20"
    );
    for (name, m) in [
        ("popularity", &popular),
        ("text profile (MiniLM)", &text_only),
        ("text profile + popularity", &blended),
    ] {
        let v = m.means();
        let g = |k: &str| v.get(k).copied().unwrap_or(f64::NAN);
        println!(
            "   {name:<34} {:>9.4} {:>9.4} {:>9.4} {:>9.4}",
            g("hit@10"),
            g("ndcg@10"),
            g("recall@20"),
            g("mrr@20")
        );
    }

    // 5. Recommendations with reasons.
    let u = ds
        .users
        .ids
        .get(&a.user)
        .with_context(|| format!("user {} not found", a.user))? as usize;
    let p = &profiles[u * dim..(u + 1) * dim];
    let cfg = RelatednessConfig::default();
    let mut graph_score = vec![0f64; n_items];
    for &(i, w) in &liked[u] {
        for (j, s) in kg.related_scores(i, &cfg) {
            graph_score[j as usize] += f64::from(w) * s;
        }
    }
    let gmax = graph_score.iter().copied().fold(1e-9, f64::max);
    let mut cands: Vec<(usize, f32)> = (0..n_items)
        .filter(|i| !train_items[u].contains(&(*i as u32)))
        .map(|i| {
            (
                i,
                dot(p, items_emb.row(i))
                    + 0.5 * (popularity[i] / max_pop).sqrt()
                    + 0.2 * (graph_score[i] / gmax) as f32,
            )
        })
        .collect();
    cands.sort_by(|x, y| y.1.total_cmp(&x.1));
    println!(
        "\n== 5. top 5 for user {} ({} liked films in training):",
        a.user,
        liked[u].len()
    );
    for (i, s) in cands.iter().take(5) {
        println!(
            "   {s:.3}  {}",
            ds.items.names[*i].as_deref().unwrap_or("?")
        );
        let mut closest: Vec<&(u32, f32)> = liked[u].iter().collect();
        closest.sort_by(|x, y| {
            dot(items_emb.row(y.0 as usize), items_emb.row(*i))
                .total_cmp(&dot(items_emb.row(x.0 as usize), items_emb.row(*i)))
        });
        if let Some(c) = closest.first() {
            println!(
                "          text: close to {} (cosine {:.3}), which you rated {}",
                ds.items.names[c.0 as usize].as_deref().unwrap_or("?"),
                dot(items_emb.row(c.0 as usize), items_emb.row(*i)),
                c.1
            );
        }
        if let Some(r) = kg.reasons(&liked[u], *i as u32, 1).first() {
            println!("          graph: {r}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
