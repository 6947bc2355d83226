//! `polyrec metrics`.
use std::process::ExitCode;

/// Arguments of `polyrec metrics`.
#[derive(Debug, clap::Args)]
pub struct MetricsArgs {}

pub fn run(_args: MetricsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`polyrec metrics` is being written")
}
