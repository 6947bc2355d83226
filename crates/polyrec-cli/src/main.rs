//! The `polyrec` command-line tool: ingest and inspect data, embed texts, compute metrics
//! and run the end-to-end flow. Each subcommand lives in its own module under `cmd/`.

use clap::{Parser, Subcommand};

mod cmd;

/// Language-model-enhanced multi-scenario, multi-task recommendation.
#[derive(Debug, Parser)]
#[command(name = "polyrec", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect or validate a data set described by a spec.
    #[command(subcommand)]
    Data(cmd::data::DataCommand),
    /// Embed texts with a sentence-transformers model.
    Embed(cmd::embed::EmbedArgs),
    /// Compute metrics from a predictions file.
    Metrics(cmd::metrics::MetricsArgs),
    /// Train a multi-scenario, multi-task model and write a model directory.
    Train(cmd::train::TrainArgs),
    /// Score a trained model directory again (the numbers of its metrics.json).
    Eval(cmd::train::EvalArgs),
    /// Recommend top-K items with reasons for a user or a new user's profile, optionally from a free-text request.
    Recommend(cmd::recommend::RecommendArgs),
    /// Serve recommendations over HTTP (POST /recommend, POST /items, GET /health, GET /metrics).
    Serve(cmd::serve::ServeArgs),
    /// Suggest friends with reasons (the social scenario), or evaluate friend suggestion on held-out friendships.
    Social(cmd::social::SocialArgs),
    /// Run the end-to-end flow on MovieLens-100K with the default model.
    Demo(cmd::demo::DemoArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `serve` writes to sockets, whose broken connections are errors it handles.
    if !matches!(cli.command, Command::Serve(_)) {
        restore_sigpipe();
    }
    let result = match cli.command {
        Command::Data(c) => cmd::data::run(c),
        Command::Embed(a) => in_job(|job| cmd::embed::run(a, job.comm())),
        Command::Metrics(a) => cmd::metrics::run(a),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Train(a) => in_job(|job| cmd::train::train(a, job.comm())),
        Command::Eval(a) => cmd::train::eval(a),
        Command::Recommend(a) => cmd::recommend::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Social(a) => cmd::social::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs a command that can be one rank of an MPI job (`mpirun -np N polyrec train|embed`).
/// A rank that fails ends the whole job (`MPI_Abort`) with its rank and error, so that no
/// other rank waits forever in a collective operation.
fn in_job(
    command: impl FnOnce(&cmd::job::Job) -> anyhow::Result<std::process::ExitCode>,
) -> anyhow::Result<std::process::ExitCode> {
    let job = cmd::job::Job::start()?;
    match command(&job) {
        Err(err) if job.comm().size() > 1 => job.comm().abort(1, &format!("{err:#}")),
        other => other,
    }
}

/// Restores the default action of SIGPIPE, as command-line tools have it: when the reader
/// of our output goes away (`polyrec data inspect ... | head -1`), the process ends
/// quietly (status 141 in a shell) instead of panicking in `println!` on a broken pipe.
/// Rust's runtime ignores SIGPIPE; this is the application's choice, not a library's.
#[allow(unsafe_code)]
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: `signal` with `SIG_DFL` for SIGPIPE, before any thread starts; it only
    // resets the disposition of one signal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
