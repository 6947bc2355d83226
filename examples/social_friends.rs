//! The social scenario on Last.fm HetRec-2011 (shipped in `examples/data/lastfm`): the
//! friendship hold-out (10% of the friendships hidden; AUC against random non-friend
//! pairs, recall@10 over every non-friend for 200 sampled users) for the link model and
//! the classic baselines, then friends and artists with reasons for one user from a model
//! trained on every friendship.
//!
//! ```text
//! cargo run --release --example social_friends [-- --seeds 1,2,3] [--user 2] [--no-text]
//! ```
use std::error::Error;
use std::path::Path;

use polyrec::data::Dataset;
use polyrec::social::{
    FriendEvaluation, FriendRecommendation, ItemFromFriends, SocialOptions, SocialRecommender,
    evaluate_friends,
};

/// What one run produced.
pub struct Outcome {
    /// One row per seed and method.
    pub evaluation: Vec<FriendEvaluation>,
    /// The model trained on every friendship.
    pub social: SocialRecommender,
    /// The user's suggested friends.
    pub friends: Vec<FriendRecommendation>,
    /// Artists from the user's friends.
    pub artists: Vec<ItemFromFriends>,
}

/// The options of the example: play counts, profile texts through the language model.
pub fn options(text: bool) -> SocialOptions {
    SocialOptions {
        count_task: Some("plays".into()),
        profile_text: text,
        verb: "play".into(),
        ..Default::default()
    }
}

/// Evaluates on `seeds`, trains on everything and recommends for `user`.
pub fn run(seeds: &[u64], user: &str, text: bool) -> Result<Outcome, Box<dyn Error>> {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/lastfm.toml");
    let ds = Dataset::load(&spec, None)?;
    let options = options(text);
    let evaluation = evaluate_friends(&ds, &options, seeds, 0.1, 10, 200, &mut |s: &str| {
        eprintln!("{s}")
    })?;
    println!("== held-out friendships (10%), recall@10 over 200 sampled users\n");
    println!("| seed | method | AUC | recall@10 |\n|---|---|---|---|");
    for e in &evaluation {
        println!(
            "| {} | {} | {:.4} | {:.4} |",
            e.seed, e.method, e.report.auc, e.report.recall
        );
    }
    let social = SocialRecommender::fit(ds, &options, &mut |done, all| {
        eprintln!("training the link model: round {done}/{all}")
    })?;
    let friends = social.recommend_friends(user, 5)?;
    println!("\n== friends for user {user}\n");
    for f in &friends {
        let why: Vec<&str> = f.reasons.iter().map(|r| r.text.as_str()).collect();
        println!("user {:>5}  {:.3}  {}", f.user, f.score, why.join("; "));
    }
    let artists = social.recommend_items_from_friends(user, 5)?;
    println!("\n== artists for user {user}\n");
    for a in &artists {
        println!("{:30}  {}", a.name, a.reasons[0].text);
    }
    Ok(Outcome {
        evaluation,
        social,
        friends,
        artists,
    })
}

#[allow(dead_code)]
fn main() -> Result<(), Box<dyn Error>> {
    let mut seeds = vec![1];
    let mut user = "2".to_string();
    let mut text = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seeds" => {
                seeds = args
                    .next()
                    .ok_or("--seeds 1,2,3")?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "--user" => user = args.next().ok_or("--user ID")?,
            "--no-text" => text = false,
            other => {
                return Err(format!(
                    "unknown argument `{other}` (--seeds 1,2,3, --user ID, --no-text)"
                )
                .into());
            }
        }
    }
    run(&seeds, &user, text).map(|_| ())
}
