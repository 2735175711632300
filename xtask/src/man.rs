//! `cargo xtask man`: regenerates `docs/sy.1` from sy's clap definition.
//!
//! xtask links none of our crates, so the page is written by sy-cli's own test that checks it
//! is up to date (`man_page_is_up_to_date`), run here with `SY_UPDATE_MAN=1`. CI runs the same
//! test without it, so a stale page fails the build.

use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

pub fn run() -> Result<ExitCode> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "test",
            "--quiet",
            "-p",
            "sy-cli",
            "--bin",
            "sy",
            "--",
            "--exact",
            "man::tests::man_page_is_up_to_date",
        ])
        .env("SY_UPDATE_MAN", "1")
        .status()
        .context("running cargo test for sy-cli")?;
    if !status.success() {
        bail!("regenerating docs/sy.1 failed ({status})");
    }
    eprintln!("wrote docs/sy.1");
    Ok(ExitCode::SUCCESS)
}
