//! Topic recommendation on MovieLens latest-small (shipped in
//! `examples/data/ml-latest-small`): the per-user temporal hold-out (each user's latest 20%
//! of tag applications, users with at least 5), recall@10 of their later topics for the
//! blend and each signal alone, with and without the language model; then topics with
//! reasons for one user from a recommender fitted on the whole tag log.
//!
//! ```text
//! cargo run --release --example topics [-- --user 474] [--no-text] [--grid 5]
//! ```
use std::error::Error;
use std::path::Path;

use polyrec::data::Dataset;
use polyrec::topics::{
    TopicEvaluation, TopicOptions, TopicRecommendation, TopicRecommender, evaluate_topics,
};

/// What one run produced.
pub struct Outcome {
    /// The hold-out.
    pub evaluation: TopicEvaluation,
    /// The recommender fitted on every tag application.
    pub topics: TopicRecommender,
    /// The user's topics (own ones included).
    pub recommended: Vec<TopicRecommendation>,
    /// The user's topics new to them.
    pub new: Vec<TopicRecommendation>,
}

fn table(name: &str, r: &polyrec::graph::topics::TopicReport) {
    println!(
        "\n== {name}: {} held-out users ({} with new topics), {} train / {} test applications",
        r.users_all, r.users_new, r.train_applications, r.test_applications
    );
    println!(
        "weights (reuse, item co-occ., user co-occ., FolkRank, popularity, text): all {:?}, new {:?}\n",
        r.weights.all, r.weights.new
    );
    println!(
        "| scorer | recall@{k} all later topics | recall@{k} new topics |",
        k = r.k
    );
    println!("|---|---|---|");
    for row in &r.rows {
        println!(
            "| {} | {:.4} | {:.4} |",
            row.name, row.recall_all, row.recall_new
        );
    }
}

/// Evaluates, fits on everything and recommends for `user`.
pub fn run(user: &str, text: bool, grid_steps: usize) -> Result<Outcome, Box<dyn Error>> {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/ml-latest-small.toml");
    let ds = Dataset::load(&spec, None)?;
    let mut options = TopicOptions {
        text,
        ..Default::default()
    };
    options.config.grid_steps = grid_steps;
    let evaluation = evaluate_topics(&ds, &options, &mut |s: &str| eprintln!("{s}"))?;
    table("without text", &evaluation.without_text);
    if let Some(r) = &evaluation.with_text {
        table("with text", r);
    }
    let topics = TopicRecommender::fit(ds, &options, &mut |s: &str| eprintln!("{s}"))?;
    let w = &topics.model().weights;
    println!(
        "\nfitted on every application: weights all {:?}, new {:?}",
        w.all, w.new
    );
    let recommended = topics.recommend_topics(user, 10)?;
    let new = topics.recommend_new_topics(user, 10)?;
    for (title, list) in [("topics", &recommended), ("new topics", &new)] {
        println!("\n== {title} for user {user}\n");
        for t in list {
            println!("{:28} {:.3}  {}", t.topic, t.score, t.reasons.join("; "));
        }
    }
    Ok(Outcome {
        evaluation,
        topics,
        recommended,
        new,
    })
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let mut user = "474".to_string();
    let mut text = true;
    let mut grid = 5;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--user" => user = args.next().ok_or("--user ID")?,
            "--no-text" => text = false,
            "--grid" => grid = args.next().ok_or("--grid STEPS")?.parse()?,
            other => {
                return Err(format!(
                    "unknown argument `{other}` (--user ID, --no-text, --grid STEPS)"
                )
                .into());
            }
        }
    }
    run(&user, text, grid).map(|_| ())
}
