//! `--help` (and the man page, and the completions) in groups, where an rsync user looks for an
//! option: what is copied, what is selected, how files are compared, deletion, the transfer,
//! output, the remote side, SSH, configuration. The groups are one table, applied to the
//! derived command line; a test keeps every option in a group.

use clap::{Command, CommandFactory};

use crate::args::Args;
use crate::exit::Exit;

/// Headings in the order of `--help`, each with the ids of its options.
const GROUPS: &[(&str, &[&str])] = &[
    (
        "What is copied",
        &[
            "archive",
            "recursive",
            "links",
            "copy_links",
            "hard_links",
            "perms",
            "no_perms",
            "chmod",
            "times",
            "no_times",
            "owner",
            "no_owner",
            "group",
            "no_group",
            "devices_specials",
            "sparse",
            "partial",
            "mkpath",
            "relative",
        ],
    ),
    (
        "Selection",
        &[
            "exclude",
            "include",
            "exclude_from",
            "include_from",
            "filter",
            "rsync_filter",
            "files_from",
            "from0",
            "gitignore",
            "existing",
            "ignore_existing",
            "max_size",
            "min_size",
        ],
    ),
    (
        "Comparison",
        &[
            "checksum",
            "size_only",
            "ignore_times",
            "update",
            "modify_window",
            "whole_file",
            "no_whole_file",
        ],
    ),
    ("Deletion", &["delete", "delete_excluded", "max_delete"]),
    (
        "Transfer",
        &[
            "dry_run",
            "jobs",
            "bwlimit",
            "compress",
            "z",
            "compress_level",
            "verify",
            "retry",
            "retry_delay",
            "timeout",
        ],
    ),
    (
        "Output",
        &[
            "verbose",
            "quiet",
            "itemize_changes",
            "human_readable",
            "eight_bit_output",
            "stats",
            "progress",
            "info",
            "json",
            "log_file",
            "log_file_format",
        ],
    ),
    ("Remote side", &["rsh", "remote_path", "no_deploy"]),
    (
        "Built-in SSH client",
        &[
            "ssh_config",
            "port",
            "identity",
            "accept_new_host_key",
            "cipher",
        ],
    ),
    ("Configuration", &["config_file", "profile"]),
];

/// The command line with its options under their headings, and the exit codes after them
/// (from the one table, [`Exit::ALL`]).
pub fn command() -> Command {
    let mut cmd = Args::command().next_help_heading(None::<&str>);
    for (heading, ids) in GROUPS {
        for id in *ids {
            cmd = cmd.mut_arg(*id, |arg| arg.help_heading(*heading));
        }
    }
    let codes: Vec<String> = Exit::ALL
        .iter()
        .map(|exit| format!("{} {}", exit.code(), exit.meaning()))
        .collect();
    let after = format!(
        "{}\n\nExit codes (rsync's where the meaning matches): {}.",
        cmd.get_after_help()
            .map(ToString::to_string)
            .unwrap_or_default(),
        codes.join("; ")
    );
    cmd.after_help(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An option added to the command line must be given a group here.
    #[test]
    fn every_option_has_a_group_and_only_one() {
        let cmd = command();
        let mut seen = std::collections::HashSet::new();
        for (_, ids) in GROUPS {
            for id in *ids {
                assert!(seen.insert(*id), "{id} is in two groups");
            }
        }
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_positional() || arg.is_hide_set() || ["help", "version"].contains(&id) {
                continue;
            }
            assert!(
                arg.get_help_heading().is_some(),
                "--{id} has no group in help.rs"
            );
        }
    }

    #[test]
    fn help_shows_the_groups_in_order() {
        let help = command().render_help().to_string();
        let mut at = 0;
        for (heading, _) in GROUPS {
            let found = help[at..]
                .find(&format!("{heading}:"))
                .unwrap_or_else(|| panic!("{heading} missing or out of order:\n{help}"));
            at += found;
        }
    }
}
