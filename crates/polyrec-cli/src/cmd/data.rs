//! `polyrec data inspect|validate`.
use std::path::PathBuf;
use std::process::ExitCode;

use polyrec::data::{Dataset, DatasetSpec, DatasetStats, Error, ErrorPolicy};

/// Data subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Print per scenario x task: rows, users, items, label rate or mean, text and KG coverage.
    #[command(
        after_help = "Example:\n  polyrec data inspect --spec examples/data/ml-100k.toml --json"
    )]
    Inspect(SpecArgs),
    /// Exit 0 only when every row is valid; otherwise print the first errors and exit 1.
    #[command(
        after_help = "Example:\n  polyrec data validate --spec examples/data/womens-reviews.toml"
    )]
    Validate(SpecArgs),
}

/// Where the data is.
#[derive(Debug, clap::Args)]
pub struct SpecArgs {
    /// The dataset spec (TOML).
    #[arg(long)]
    spec: PathBuf,
    /// Folder relative data paths resolve against (overrides the spec's `data_dir`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Let the spec's data paths resolve outside the data folder (as the spec's
    /// `allow_outside_data_dir = true` does).
    #[arg(long)]
    allow_outside_data_dir: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn load(a: &SpecArgs, policy: Option<ErrorPolicy>) -> polyrec::data::Result<Dataset> {
    let mut spec = DatasetSpec::from_toml_file(&a.spec)?;
    spec.check_outputs(&a.spec)?;
    let dir =
        spec.resolve_data_dir(&a.spec, a.data_dir.as_deref(), &polyrec::setup::spec_vars())?;
    if let Some(p) = policy {
        spec.on_error = p;
    }
    spec.allow_outside_data_dir |= a.allow_outside_data_dir;
    Dataset::load_spec(&spec, &dir)
}

pub fn run(cmd: DataCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DataCommand::Inspect(a) => {
            let ds = load(&a, None)?;
            let stats = DatasetStats::of(&ds);
            if a.json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                print!("{stats}");
                if ds.report.rejected() > 0 {
                    eprint!("{}", ds.report);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DataCommand::Validate(a) => match load(&a, Some(ErrorPolicy::Fail)) {
            Ok(ds) => {
                for f in &ds.report.files {
                    println!("ok  {}: {} rows", f.file.display(), f.total);
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(Error::InvalidRows { errors, total }) => {
                for e in &errors {
                    println!("{e}");
                }
                println!("{total} invalid row(s) found before stopping");
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e.into()),
        },
    }
}
