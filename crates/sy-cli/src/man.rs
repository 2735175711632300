//! The man page, generated from the clap definition (`docs/sy.1`, `cargo xtask man`).

use clap::CommandFactory;

use crate::args::Args;

/// `sy(1)` in roff.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Args::command()).render(&mut page)?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when docs/sy.1 is stale; with `SY_UPDATE_MAN=1` (what `cargo xtask man` sets)
    /// it writes the page instead.
    #[test]
    fn man_page_is_up_to_date() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/sy.1");
        let page = man_page().unwrap();
        if std::env::var_os("SY_UPDATE_MAN").is_some() {
            std::fs::write(&path, &page).unwrap();
        }
        let checked_in = std::fs::read(&path).unwrap_or_default();
        assert!(
            checked_in == page,
            "docs/sy.1 is out of date with the command line: run `cargo xtask man`"
        );
        let text = String::from_utf8(page).unwrap();
        assert!(text.contains(".TH sy 1"), "{text}");
        assert!(text.contains("\\-\\-profile"), "{text}");
    }
}
