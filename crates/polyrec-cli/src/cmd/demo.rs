//! `polyrec demo`: the end-to-end flow on MovieLens-100K.
use std::process::ExitCode;

/// Arguments of `polyrec demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

pub fn run(_args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`polyrec demo` is being written")
}
