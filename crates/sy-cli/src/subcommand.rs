//! Subcommands that cannot be mistaken for paths. clap takes `config` or `completions` as a
//! subcommand only when it is the first argument: after any option (`sy --profile p config
//! show h`) it would be a path, and a sync of `./config` and `./show` into `./h` would run.
//! So the first argument that is neither an option nor an option's value is a subcommand when
//! it is named like one, and moves to the front; a path named so is written `./config`.

use std::ffi::OsString;

/// Moves the subcommand's name to the front of `argv` (after the program name) when options
/// come before it; true when it moved.
pub fn to_front(argv: &mut Vec<OsString>) -> bool {
    let command = crate::help::command();
    // Options that take the next argument as their value (not those that need `=`).
    let with_value: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|a| a.get_action().takes_values() && !a.is_require_equals_set())
        .collect();
    let long_with_value = |name: &str| {
        with_value.iter().any(|a| {
            a.get_long() == Some(name)
                || a.get_all_aliases()
                    .is_some_and(|aliases| aliases.contains(&name))
        })
    };
    let short_with_value = |letter: char| with_value.iter().any(|a| a.get_short() == Some(letter));
    let mut at = 1;
    while let Some(arg) = argv.get(at).map(|a| a.to_string_lossy().into_owned()) {
        if arg == "--" {
            return false;
        }
        let value_follows = if let Some(long) = arg.strip_prefix("--") {
            !long.contains('=') && long_with_value(long)
        } else if let Some(cluster) = arg.strip_prefix('-').filter(|c| !c.is_empty()) {
            // The rest of a cluster after a letter that takes a value is that value.
            cluster
                .chars()
                .position(short_with_value)
                .is_some_and(|i| i + 1 == cluster.chars().count())
        } else {
            let named = command.get_subcommands().any(|s| s.get_name() == arg);
            if named && at > 1 {
                let name = argv.remove(at);
                argv.insert(1, name);
                return true;
            }
            return false;
        };
        at += if value_follows { 2 } else { 1 };
    }
    false
}

/// `error` with a note that `name` was read as the subcommand, and how to name a path so.
pub fn with_tip(error: &clap::Error, name: &OsString) -> clap::Error {
    let text = error.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text).trim_end();
    let name = name.to_string_lossy();
    clap::Error::raw(
        error.kind(),
        format!(
            "{text}\n\ntip: `{name}` is sy's subcommand; write a path of that name as ./{name}\n"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(args: &[&str]) -> (bool, Vec<String>) {
        let mut argv: Vec<OsString> = args.iter().map(OsString::from).collect();
        let moved = to_front(&mut argv);
        let words = argv.iter().map(|a| a.to_string_lossy().into_owned());
        (moved, words.collect())
    }

    #[test]
    fn a_subcommand_after_options_moves_to_the_front() {
        assert_eq!(
            moved(&["sy", "--profile", "p", "config", "show", "h"]),
            (
                true,
                ["sy", "config", "--profile", "p", "show", "h"]
                    .map(String::from)
                    .to_vec()
            )
        );
        assert!(moved(&["sy", "--config=f", "-a", "completions", "bash"]).0);
        assert!(moved(&["sy", "-j", "2", "config", "show"]).0);
        assert!(
            moved(&["sy", "--progress", "config", "show"]).0,
            "--progress takes a value only after ="
        );
    }

    #[test]
    fn paths_and_option_values_stay_where_they_are() {
        assert!(!moved(&["sy", "config", "show"]).0, "already first");
        assert!(!moved(&["sy", "-a", "./config", "dst"]).0);
        assert!(!moved(&["sy", "-a", "src/", "config"]).0, "a destination");
        assert!(
            !moved(&["sy", "--profile", "config", "src/", "dst"]).0,
            "a value"
        );
        assert!(
            !moved(&["sy", "-e", "config", "src/", "h:dst"]).0,
            "a short option's value"
        );
        assert!(
            !moved(&["sy", "-ae", "config", "src/", "h:dst"]).0,
            "at a cluster's end"
        );
        assert!(!moved(&["sy", "-a", "--", "config", "dst"]).0, "after --");
    }
}
