//! One module per subcommand. Each exposes its clap arguments and
//! `run(args) -> anyhow::Result<ExitCode>`.

pub mod data;
pub mod demo;
pub mod embed;
pub mod metrics;
