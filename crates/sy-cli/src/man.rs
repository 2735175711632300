//! The man page, generated from the clap definition (`docs/sy.1`, `cargo xtask man`), with the
//! sections clap has no words for: commands, examples, files, environment, exit status.

use std::io::Write;

use clap_mangen::Man;

use crate::exit::Exit;

/// `sy(1)` in roff.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let man = Man::new(crate::help::command());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    page.write_all(SECTIONS.as_bytes())?;
    page.write_all(b".SH \"EXIT STATUS\"\n")?;
    for exit in Exit::ALL {
        writeln!(page, ".TP\n.B {}\n{}", exit.code(), escape(exit.meaning()))?;
    }
    page.write_all(SEE_ALSO.as_bytes())?;
    man.render_version_section(&mut page)?;
    Ok(page)
}

/// Text for roff: a leading `.` or `'` would be read as a request, and `-` as a hyphen.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\\\").replace('-', "\\-");
    match text.chars().next() {
        Some('.' | '\'') => format!("\\&{text}"),
        _ => text,
    }
}

/// The sections written by hand, in roff.
const SECTIONS: &str = r#".SH USAGE
A trailing slash on SRC copies its contents; without it, SRC itself is created inside DST (as
rsync does). Either side may be local, \fI[user@]host:path\fR (over SSH) or
\fIs3://bucket/prefix\fR; DST is created if missing. A file in DST is always either its old
version or the new one, never a mix: files are written aside and renamed into place.
.SH COMMANDS
.TP
\fBsy config show\fR [\fIHOST\fR]
Print the settings a run would use (for HOST's table), as TOML.
.TP
\fBsy completions\fR \fISHELL\fR
Print a completion script for bash, zsh, fish, elvish or powershell on stdout.
.PP
A path named like a command is written \fB./config\fR.
.SH EXAMPLES
.TP
\fBsy \-avh src/ backup/\fR
Copy the contents of \fIsrc\fR into \fIbackup\fR (rsync's most typed line works as is).
.TP
\fBsy \-\-delete \-n src/ host:/srv/www/\fR
Show what mirroring \fIsrc\fR to a host over SSH would change, deletions included.
.TP
\fBsy \-\-exclude '*.log' \-\-exclude .git/ project host:work/\fR
Push \fIproject\fR (the directory itself) into \fIwork\fR on a host, without logs or Git data.
.TP
\fBsy \-i \-\-log\-file /var/log/sy.log /etc/ host:/backup/etc/\fR
Itemize each change as rsync's \fB\-i\fR does and keep an audit log.
.TP
\fBsy \-P \-\-bwlimit 5M big.iso host:iso/\fR
One file to a host, with a progress bar, at 5 MiB/s at most.
.TP
\fBsy photos/ s3://bucket/photos/\fR
Copy to S3 or an S3\-compatible store (credentials from AWS_* variables).
.SH FILES
.TP
\fI$XDG_CONFIG_HOME/sy/config.toml\fR (else \fI~/.config/sy/config.toml\fR)
Settings: [defaults], [profile.NAME] and [host."PATTERN"] tables; flags win over the profile,
the profile over host tables, host tables over [defaults]. \fB\-\-config\fR names another file.
.TP
\fI~/.ssh/config\fR, \fI~/.ssh/known_hosts\fR, \fI/etc/ssh/ssh_config\fR
Read by the built\-in SSH client as OpenSSH reads them (host keys are checked; new keys are
added as StrictHostKeyChecking says).
.TP
\fIsy\-remote\fR
The agent sy starts on the far side of an SSH connection; when a host lacks it, sy copies its
own (installed beside \fBsy\fR) to \fI~/.cache/sy\fR there.
.SH ENVIRONMENT
.TP
.B RUST_LOG
A tracing filter for the log lines of \fB\-vv\fR and up (module paths shown when set).
.TP
.B SSH_AUTH_SOCK
The ssh\-agent the built\-in SSH client asks for keys.
.TP
.B HOME, XDG_CONFIG_HOME
Where the configuration and the SSH files are found.
.TP
.B AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
Credentials for \fBs3://\fR endpoints.
.TP
.B AWS_REGION, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, AWS_S3_ADDRESSING_STYLE
The region and, for an S3\-compatible server, its address and addressing style.
.TP
.B COLUMNS
The width of the progress display when it is not drawn on a terminal.
"#;

/// Pages that exist on a system with OpenSSH and rsync.
const SEE_ALSO: &str = ".SH \"SEE ALSO\"\n.BR rsync (1),\n.BR ssh (1),\n.BR ssh_config (5)\n";

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
        for section in ["EXAMPLES", "FILES", "ENVIRONMENT", "\"EXIT STATUS\""] {
            assert!(text.contains(&format!(".SH {section}\n")), "{section}");
        }
        // clap's own subcommand section links to sy-config(1), which does not exist.
        assert!(!text.contains("sy\\-config(1)"), "{text}");
        assert!(text.contains(".B 23\npartial transfer"), "{text}");
    }
}
