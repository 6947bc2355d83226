//! `polyrec data inspect|validate`.
use std::process::ExitCode;

/// Data subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum DataCommand {
    /// Print per scenario x task statistics.
    Inspect,
    /// Exit 0 only when every row is valid.
    Validate,
}

pub fn run(_cmd: DataCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`polyrec data` is being written")
}
