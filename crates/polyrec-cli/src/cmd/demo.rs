//! `polyrec demo`: the whole flow on MovieLens-100K with the default language model, as one
//! use of the facade's `Pipeline`: ingest and validate, encode item and user texts (cached),
//! build the Freebase knowledge graph, train the default multi-scenario multi-task model,
//! print its test metrics per scenario x task, then explained recommendations for a user
//! without and with a free-text request, and for a new item known only by its text.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use polyrec::rank::DeviceRequest;
use polyrec::{NewItem, Pipeline, Request};

const ML100K_SPEC: &str = include_str!("../../../../examples/data/ml-100k.toml");

/// Arguments of `polyrec demo`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  polyrec demo --user 196 --request \"a light comedy for a rainy evening\""
)]
pub struct DemoArgs {
    /// Folder with the ML-100K RecBole files (default: where scripts/setup.sh installs them).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Sentence-transformers model folder (default: all-MiniLM-L6-v2 from the set-up).
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
    /// Training epochs (default: the default configuration's, with early stopping).
    #[arg(long)]
    epochs: Option<usize>,
    /// The model directory to write (default: $POLYREC_HOME/runs/ml-100k-default).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(a: DemoArgs) -> anyhow::Result<ExitCode> {
    // The spec ships inside the binary; it is written next to the runs so that the model
    // directory can name it.
    let home = polyrec::home_dir();
    let spec = home.join("specs").join("ml-100k.toml");
    std::fs::create_dir_all(home.join("specs"))?;
    polyrec::rank::io::atomic_write(&spec, ML100K_SPEC.as_bytes())
        .with_context(|| format!("writing {}", spec.display()))?;
    let out = a
        .out
        .unwrap_or_else(|| home.join("runs").join("ml-100k-default"));

    let mut pipeline = Pipeline::new(spec);
    pipeline.data_dir = a.data_dir;
    pipeline.text_model = a.model;
    pipeline.device = a.device;
    if let Some(e) = a.epochs {
        pipeline.run.train.epochs = e;
    }
    println!("== 1-4. ingest, language model, knowledge graph, training (polyrec::Pipeline)\n");
    let trained = pipeline.run(&out, &mut super::train::Bars { bar: None })?;
    let rec = trained.recommender;
    let ds = rec.dataset();
    println!(
        "{}: {} users, {} items, {} interactions, scenarios {}; model directory {}\n",
        ds.name,
        ds.users.ids.len(),
        ds.items.ids.len(),
        ds.interactions.len(),
        ds.scenarios.join(", "),
        out.display()
    );
    println!("== 5. test metrics per scenario x task\n");
    println!("{}", polyrec::eval::report::to_markdown(&trained.metrics));

    println!("== 6. recommendations for user {}\n", a.user);
    let plain = rec.recommend(&Request {
        user: Some(a.user.clone()),
        k: Some(10),
        ..Default::default()
    })?;
    println!("{plain}");
    println!("== 7. the same user asks: {:?}\n", a.request);
    let asked = rec.recommend(&Request {
        user: Some(a.user.clone()),
        query: Some(a.request.clone()),
        k: Some(10),
        ..Default::default()
    })?;
    println!("{asked}");

    println!("== 8. cold start: a new film known only by its text, and a new user's profile\n");
    let mut rec = rec;
    rec.add_item(NewItem {
        id: "demo-new-1".into(),
        name: Some("Rain Check (2026)".into()),
        text: "Rain Check (2026). Comedy, Romance. Two strangers stuck in a cafe on a rainy \
               evening trade stories in this light, warm comedy."
            .into(),
    })?;
    let mut cold_request = Request {
        profile: Some("I like light romantic comedies and feel-good films".into()),
        query: Some(a.request),
        k: Some(5),
        ..Default::default()
    };
    println!("{}", rec.recommend(&cold_request)?);
    // Where the new film, known only by its text, stands for that request.
    cold_request.k = Some(rec.catalog_len().min(polyrec::recommend::MAX_K));
    let all = rec.recommend(&cold_request)?;
    match all.items.iter().position(|i| i.item == "demo-new-1") {
        Some(p) => println!(
            "the new film Rain Check (2026), added from its text alone, ranks {} of {} for this request (score {:.3})\n",
            p + 1,
            all.items.len(),
            all.items[p].score
        ),
        None => println!(
            "the new film is not among the first {} items\n",
            all.items.len()
        ),
    }
    Ok(ExitCode::SUCCESS)
}
