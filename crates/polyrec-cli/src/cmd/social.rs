//! `polyrec social`: friend suggestions (and artists from friends) with reasons for a user
//! of a dataset with a `[social]` table, or the friendship hold-out evaluation.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use polyrec::data::Dataset;
use polyrec::social::{SocialOptions, SocialRecommender, evaluate_friends};

const EXAMPLE: &str = "Examples:
  polyrec social --spec examples/data/lastfm.toml --count-task plays --verb play --user 2 -k 10
  polyrec social --spec examples/data/lastfm.toml --count-task plays --evaluate --seeds 1,2,3 --json";

/// Arguments of `polyrec social`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLE)]
pub struct SocialArgs {
    /// A dataset spec with a [social] table.
    #[arg(long)]
    spec: PathBuf,
    /// The data folder (default: the spec's).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The task whose labels count plays (default: every row counts once).
    #[arg(long)]
    count_task: Option<String>,
    /// The verb of the shared-items reason ("you both VERB X").
    #[arg(long, default_value = "like")]
    verb: String,
    /// Leave profile texts (and the language model) out.
    #[arg(long)]
    no_text: bool,
    /// The sentence-transformers folder (default: the set-up's model).
    #[arg(long)]
    text_model: Option<PathBuf>,
    /// The user to suggest friends to.
    #[arg(long)]
    user: Option<String>,
    /// Suggestions (1..=1000).
    #[arg(short, default_value_t = 10)]
    k: usize,
    /// Run the hold-out evaluation instead (10% of the friendships hidden).
    #[arg(long)]
    evaluate: bool,
    /// Seeds of the hold-out, comma-separated.
    #[arg(long, default_value = "1", value_delimiter = ',')]
    seeds: Vec<u64>,
    /// The seed of the link model's training.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `polyrec social`.
pub fn run(a: SocialArgs) -> anyhow::Result<ExitCode> {
    if !a.evaluate && a.user.is_none() {
        anyhow::bail!("name a --user to suggest friends to, or pass --evaluate");
    }
    let ds = Dataset::load(&a.spec, a.data_dir.as_deref())
        .with_context(|| format!("loading {}", a.spec.display()))?;
    let mut options = SocialOptions {
        count_task: a.count_task.clone(),
        profile_text: !a.no_text,
        text_model: a.text_model.clone(),
        verb: a.verb.clone(),
        ..Default::default()
    };
    options.friends.seed = a.seed;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    if a.evaluate {
        let rows = evaluate_friends(&ds, &options, &a.seeds, 0.1, 10, 200, &mut |s: &str| {
            bar.set_message(s.to_string())
        })?;
        bar.finish_and_clear();
        if a.json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
        } else {
            println!("| seed | method | AUC | recall@10 | users |\n|---|---|---|---|---|");
            for r in &rows {
                println!(
                    "| {} | {} | {:.4} | {:.4} | {} |",
                    r.seed, r.method, r.report.auc, r.report.recall, r.report.users
                );
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    bar.set_message("profile texts and the link model");
    let social = SocialRecommender::fit(ds, &options, &mut |done, all| {
        bar.set_message(format!("training the link model: round {done}/{all}"))
    })?;
    bar.finish_and_clear();
    let user = a.user.as_deref().unwrap_or_default();
    let friends = social.recommend_friends(user, a.k)?;
    let items = social.recommend_items_from_friends(user, a.k)?;
    if a.json {
        let out = serde_json::json!({ "user": user, "friends": friends, "items": items });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("friends for user {user}:");
        for f in &friends {
            let why: Vec<&str> = f.reasons.iter().map(|r| r.text.as_str()).collect();
            println!("  user {}  {:.3}  {}", f.user, f.score, why.join("; "));
        }
        println!("from friends for user {user}:");
        for i in &items {
            println!("  {}  {}", i.name, i.reasons[0].text);
        }
    }
    Ok(ExitCode::SUCCESS)
}
