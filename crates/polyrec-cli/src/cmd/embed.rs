//! `polyrec embed`.
use std::process::ExitCode;

/// Arguments of `polyrec embed`.
#[derive(Debug, clap::Args)]
pub struct EmbedArgs {}

pub fn run(_args: EmbedArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`polyrec embed` is being written")
}
