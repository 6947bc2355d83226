//! The friendship hold-out protocol on a dataset with a `[social]` table, without profile
//! text (no language model in this crate): common neighbours, Adamic-Adar, item Jaccard and
//! the learned link model on graph and behaviour features.
//!
//! ```sh
//! cargo run --release -p polyrec-graph --example link_holdout -- examples/data/lastfm.toml plays 1,2,3
//! # then optionally: boosted, boosted:TREES:DEPTH:LEARNING_RATE or logistic; per hidden
//! # friendship: friend-of-friend, similar-behaviour, per-user and uniform negatives; the
//! # rounds of supervision; the weight of the pairwise ranking loss
//! ```

use polyrec_graph::Dataset;
use polyrec_graph::social::{
    Baseline, Behaviour, FriendConfig, FriendModel, LinkHoldout, LinkModelConfig, LinkScorer,
    SocialNetwork, evaluate,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let spec = args
        .get(1)
        .map_or("examples/data/lastfm.toml", String::as_str);
    let task = args.get(2).map(String::as_str).filter(|t| *t != "-");
    let seeds: Vec<u64> = args
        .get(3)
        .map_or("1,2,3", String::as_str)
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let model = match args.get(4).map(String::as_str) {
        Some("logistic") => LinkModelConfig::Logistic {
            steps: 500,
            learning_rate: 0.5,
            l2: 1e-4,
        },
        // boosted:TREES:DEPTH:LEARNING_RATE
        // (a part left out keeps the default's value)
        Some(b) if b.starts_with("boosted:") => {
            let v: Vec<&str> = b.split(':').collect();
            let LinkModelConfig::Boosted {
                trees,
                depth,
                learning_rate,
                lambda,
                min_child_weight,
            } = LinkModelConfig::default()
            else {
                return Err("the default link model is not boosted".into());
            };
            LinkModelConfig::Boosted {
                trees: v.get(1).map_or(Ok(trees), |t| t.parse())?,
                depth: v.get(2).map_or(Ok(depth), |t| t.parse())?,
                learning_rate: v.get(3).map_or(Ok(learning_rate), |t| t.parse())?,
                lambda,
                min_child_weight,
            }
        }
        _ => LinkModelConfig::default(),
    };
    let ds = Dataset::load(spec, None)?;
    let network = SocialNetwork::from_dataset(&ds)?;
    let behaviour = Behaviour::from_dataset(&ds, task)?;
    println!(
        "{}: {} users, {} friendships",
        ds.name,
        network.n_users(),
        network.n_edges()
    );
    for seed in seeds {
        let split = LinkHoldout::new(&network, 0.1, seed)?;
        let mut config = FriendConfig {
            seed,
            model: model.clone(),
            ..FriendConfig::default()
        };
        if let Some(h) = args.get(5) {
            config.hard_negatives = h.parse()?;
        }
        if let Some(h) = args.get(6) {
            config.similar_negatives = h.parse()?;
        }
        if let Some(h) = args.get(7) {
            config.random_negatives = h.parse()?;
        }
        if let Some(h) = args.get(8) {
            config.uniform_negatives = h.parse()?;
        }
        if let Some(h) = args.get(9) {
            config.rounds = h.parse()?;
        }
        if let Some(h) = args.get(10) {
            config.rank_weight = h.parse()?;
        }
        let t = std::time::Instant::now();
        let fm = FriendModel::fit(
            split.visible.clone(),
            Some(behaviour.clone()),
            None,
            &config,
            &mut |_, _| {},
        )?;
        let fit_s = t.elapsed().as_secs_f64();
        let scorers: [(&str, &dyn LinkScorer); 4] = [
            (
                "common neighbours",
                &Baseline::CommonNeighbours(&split.visible),
            ),
            ("Adamic-Adar", &Baseline::AdamicAdar(&split.visible)),
            ("item Jaccard", &Baseline::ItemJaccard(&behaviour)),
            ("link model", &fm),
        ];
        for (name, s) in scorers {
            let r = evaluate(&split, s, 10, 200, seed)?;
            println!(
                "seed {seed} {name:18} AUC {:.4} recall@10 {:.4} ({} users)",
                r.auc, r.recall, r.users
            );
        }
        println!("seed {seed} fit {fit_s:.1} s");
    }
    Ok(())
}
