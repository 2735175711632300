//! rdiff-style command line over the whole sy-delta API, on real files:
//!
//! ```text
//! rdiff signature OLD SIG [BLOCK]  # signature of OLD (all cores; block size ≈ √len by default)
//! rdiff delta SIG NEW DELTA        # delta turning OLD (as described by SIG) into NEW
//! rdiff patch OLD DELTA OUT        # rebuild NEW as OUT (written to a temp file, then renamed)
//! rdiff digest FILE                # BLAKE3 of FILE, to compare OUT with NEW
//! ```
//!
//! Run with `cargo run --release -p sy-delta --example rdiff -- delta old.sig new new.delta`.
//! Memory stays constant in the file sizes apart from the signature (20 bytes per block).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use sy_delta::{DeltaWriter, FileDigest, Signature, SignatureOptions, apply, diff};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rdiff: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let command = args.first().and_then(|c| c.to_str()).unwrap_or_default();
    match (command, &args[1.min(args.len())..]) {
        ("signature", [old, sig]) => write_signature(old, sig, None),
        ("signature", [old, sig, block]) => {
            let block = block.to_str().and_then(|b| b.parse().ok());
            let Some(block) = block else {
                bail!(
                    "BLOCK must be a block size in bytes, got {}",
                    block_arg(&args)
                );
            };
            write_signature(old, sig, Some(block))
        }
        ("delta", [sig, new, delta]) => write_delta(sig, new, delta),
        ("patch", [old, delta, out]) => write_patched(old, delta, out),
        ("digest", [file]) => {
            println!(
                "{}",
                FileDigest::of_reader(open(file)?)
                    .with_context(|| format!("reading {}", file.display()))?
            );
            Ok(())
        }
        _ => bail!(
            "usage: rdiff signature OLD SIG [BLOCK] | delta SIG NEW DELTA | patch OLD DELTA OUT | digest FILE"
        ),
    }
}

fn open(path: &Path) -> Result<File> {
    File::open(path).with_context(|| format!("opening {}", path.display()))
}

fn create(path: &Path) -> Result<File> {
    File::create(path).with_context(|| format!("creating {}", path.display()))
}

fn block_arg(args: &[PathBuf]) -> String {
    args.get(3)
        .map(|a| a.display().to_string())
        .unwrap_or_default()
}

fn write_signature(old: &Path, sig_path: &Path, block_size: Option<u32>) -> Result<()> {
    let file = open(old)?;
    let len = file
        .metadata()
        .with_context(|| format!("reading metadata of {}", old.display()))?
        .len();
    let mut opts = SignatureOptions::for_len(len).with_threads(0);
    if let Some(block_size) = block_size {
        opts = opts.with_block_size(block_size);
    }
    let sig =
        Signature::calculate(file, opts).with_context(|| format!("signing {}", old.display()))?;
    let mut out = BufWriter::new(create(sig_path)?);
    sig.write_to(&mut out)
        .and_then(|()| {
            out.flush().map_err(|e| sy_delta::Error::Io {
                context: "flushing",
                source: e,
            })
        })
        .with_context(|| format!("writing {}", sig_path.display()))?;
    eprintln!(
        "{}: {} blocks of {} B, signature {} B",
        old.display(),
        sig.block_count(),
        sig.block_size(),
        sig.serialized_len()
    );
    Ok(())
}

fn write_delta(sig_path: &Path, new: &Path, delta_path: &Path) -> Result<()> {
    let sig_file = open(sig_path)?;
    // A signature file cannot describe more blocks than it has bytes.
    let max_blocks = sig_file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    let sig = Signature::read_from(&mut BufReader::new(sig_file), max_blocks)
        .with_context(|| format!("reading signature {}", sig_path.display()))?;
    let index = sig.into_index();
    let mut writer = DeltaWriter::new(BufWriter::new(create(delta_path)?));
    let stats = diff(&index, open(new)?, &mut writer)
        .with_context(|| format!("diffing {}", new.display()))?;
    writer
        .finish()
        .with_context(|| format!("writing {}", delta_path.display()))?;
    eprintln!(
        "{}: {} B copied, {} B literal, {} ops",
        new.display(),
        stats.copied_bytes,
        stats.literal_bytes,
        stats.ops
    );
    Ok(())
}

fn write_patched(old: &Path, delta_path: &Path, out_path: &Path) -> Result<()> {
    let mut tmp_name = out_path.as_os_str().to_owned();
    tmp_name.push(".rdiff-tmp");
    let tmp = PathBuf::from(tmp_name);
    let result = (|| {
        let mut out = BufWriter::new(create(&tmp)?);
        let written = apply(open(old)?, BufReader::new(open(delta_path)?), &mut out)
            .with_context(|| format!("applying {} to {}", delta_path.display(), old.display()))?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, out_path)
            .with_context(|| format!("renaming into {}", out_path.display()))?;
        eprintln!("{}: {written} B", out_path.display());
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
