//! The config file: profiles, host tables and defaults under the flags; `sy config show`;
//! errors that name the file, line and key; `sy completions`.

use crate::util::{Fixture, stderr, stdout};

const CONFIG: &str = ".config/sy/config.toml";

#[test]
fn a_profile_s_excludes_apply_and_a_command_line_include_overrides_them() {
    let f = Fixture::new();
    f.write("src/keep.txt", "k");
    f.write("src/a.tmp", "t");
    f.write("src/b.log", "l");
    f.write(
        CONFIG,
        "[defaults]\nexclude = [\"*.log\"]\n[profile.clean]\nexclude = [\"*.tmp\"]\n",
    );
    f.sync(&["--profile", "clean", "--include", "b.log"]);
    assert!(f.dst().join("keep.txt").exists());
    assert!(!f.dst().join("a.tmp").exists(), "profile exclude ignored");
    assert!(f.dst().join("b.log").exists(), "flag include did not win");
    f.sync(&[]);
    assert!(f.dst().join("a.tmp").exists());
}

#[test]
fn a_profile_holds_behaviour_and_the_command_line_overrides_it() {
    let f = Fixture::new();
    f.write("src/a.txt", "new!");
    f.write("src/keep.log", "kept by the profile's include");
    f.write("src/b.log", "excluded");
    f.write("dst/a.txt", "old!");
    f.write("dst/extra.txt", "not in the source");
    let time = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_600_000_000);
    for file in ["src/a.txt", "dst/a.txt"] {
        std::fs::File::open(f.path(file))
            .unwrap()
            .set_modified(time)
            .unwrap();
    }
    f.write(
        CONFIG,
        "[profile.mirror]\ndelete = true\nchecksum = true\ninclude = [\"keep.log\"]\n\
         exclude = [\"*.log\"]\n",
    );
    // Same size and time: only the profile's checksum would see the change; the command
    // line's --size-only wins over it.
    f.sync(&["--profile", "mirror", "--size-only"]);
    assert!(!f.dst().join("extra.txt").exists(), "the profile's delete");
    assert_eq!(std::fs::read(f.dst().join("a.txt")).unwrap(), b"old!");
    assert!(f.dst().join("keep.log").exists(), "the profile's include");
    assert!(!f.dst().join("b.log").exists(), "the profile's exclude");
    f.sync(&["--profile", "mirror"]);
    assert_eq!(std::fs::read(f.dst().join("a.txt")).unwrap(), b"new!");
    let out = f
        .sy()
        .args(["config", "show", "--profile", "mirror"])
        .output()
        .unwrap();
    let text = stdout(&out);
    for key in ["delete", "checksum"] {
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("{key} = true"))
                    && l.ends_with("# [profile.mirror]")),
            "{text}"
        );
    }
}

#[test]
fn a_bad_behaviour_value_in_a_profile_names_file_line_and_key() {
    let f = Fixture::new();
    f.write("src/a", "a");
    let path = f.write(CONFIG, "[profile.m]\njobs = 2\ndelete = \"yes\"\n");
    let out = f
        .sy()
        .args(["--profile", "m", "src/", "dst"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "config file {}, line 3, key `delete`",
            path.display()
        )) && stderr(&out).contains("expected a boolean"),
        "{}",
        stderr(&out)
    );
    assert!(!f.dst().exists());
}

#[test]
fn defaults_apply_without_a_profile() {
    let f = Fixture::new();
    f.write("src/a.log", "l");
    f.write("src/b", "b");
    f.write(CONFIG, "[defaults]\nexclude = [\"*.log\"]\njobs = 1\n");
    f.sync(&[]);
    assert!(!f.dst().join("a.log").exists());
    assert!(f.dst().join("b").exists());
}

#[test]
fn a_host_table_applies_to_syncs_with_that_host() {
    let f = Fixture::new();
    f.write("src/a", "a");
    f.write(
        CONFIG,
        "[host.\"*.example\"]\nrsh = \"/nonexistent/rsh -p 2\"\n",
    );
    let out = f
        .sy()
        .arg(f.src_slash())
        .arg("box.example:dst")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr(&out).contains("\"/nonexistent/rsh\""),
        "{}",
        stderr(&out)
    );
    // A flag wins over the host table.
    let out = f
        .sy()
        .args(["-e", "/nonexistent/flag-rsh"])
        .arg(f.src_slash())
        .arg("box.example:dst")
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("\"/nonexistent/flag-rsh\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_bad_config_file_is_an_error_naming_file_line_and_key() {
    let f = Fixture::new();
    f.write("src/a", "a");
    let path = f.write(
        CONFIG,
        "[defaults]\njobs = 2\n\n[profile.x]\ncompress = \"yes\"\n",
    );
    let out = f.sy().arg(f.src_slash()).arg(f.dst()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "config file {}, line 5, key `compress`",
            path.display()
        )),
        "{err}"
    );
    assert!(!f.dst().exists(), "nothing may change");
    f.write(CONFIG, "[defaults]\nbogus = 1\n");
    let err = stderr(&f.sy().args(["config", "show"]).output().unwrap());
    assert!(err.contains("line 2, key `bogus`"), "{err}");
}

#[test]
fn an_explicit_config_file_and_an_unknown_profile() {
    let f = Fixture::new();
    f.write("src/a.tmp", "t");
    f.write("other.toml", "[profile.p]\nexclude = [\"*.tmp\"]\n");
    f.sync(&["--config", "other.toml", "--profile", "p"]);
    assert!(!f.dst().join("a.tmp").exists());
    let out = f
        .sy()
        .args(["--profile", "nope", "src/", "dst"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no profile \"nope\""),
        "{}",
        stderr(&out)
    );
    let out = f
        .sy()
        .args(["--profile", "nope", "src/", "dst"])
        .env("XDG_CONFIG_HOME", f.path("empty"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no profile \"nope\": there is no config file")
            && stderr(&out).contains("empty/sy/config.toml does not exist"),
        "{}",
        stderr(&out)
    );
    let out = f
        .sy()
        .args(["--config", "missing.toml", "src/", "dst"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));
}

#[test]
fn config_show_prints_each_setting_and_its_origin() {
    let f = Fixture::new();
    let path = f.write(
        CONFIG,
        "[defaults]\njobs = 3\n[host.\"db*\"]\ncompress = true\n[profile.fast]\ncompress_level = 7\n",
    );
    let out = f
        .sy()
        .args(["config", "show", "--profile", "fast", "db1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no {key} in {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        text.starts_with(&format!("# config file: {}\n", path.display())),
        "{text}"
    );
    assert_eq!(line("jobs"), "jobs = 3 # [defaults]");
    assert_eq!(line("compress"), "compress = \"always\" # [host.\"db*\"]");
    assert_eq!(
        line("compress_level"),
        "compress_level = 7 # [profile.fast]"
    );
    assert_eq!(
        line("rsh"),
        "rsh = \"none (built-in SSH client)\" # built-in"
    );
    assert_eq!(
        line("remote_path"),
        "remote_path = \"sy-remote\" # built-in"
    );
}

#[test]
fn completions_for_each_shell() {
    let f = Fixture::new();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef sy"),
        ("fish", "complete -c sy"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = f.sy().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let text = stdout(&out);
        assert!(text.contains(marker), "{shell}: {text}");
        assert!(text.contains("compress-level"), "{shell}");
    }
    assert_eq!(
        f.sy()
            .args(["completions", "tcsh"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn a_subcommand_after_options_is_the_subcommand_and_prints_toml() {
    let f = Fixture::new();
    f.mkdir("config");
    f.mkdir("show");
    f.write(
        CONFIG,
        "[profile.p]\njobs = 2\nexclude = [\"a \\\"b\\\"\"]\n[host.\"h*\"]\nport = 2222\n",
    );
    let out = f
        .sy()
        .args(["--profile", "p", "config", "show", "h"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!f.path("h").exists(), "a sync of ./config and ./show ran");
    let text = stdout(&out);
    let table: toml::Table = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(table["jobs"].as_integer(), Some(2), "{text}");
    assert_eq!(table["port"].as_integer(), Some(2222), "{text}");
    assert_eq!(table["exclude"][0].as_str(), Some("a \"b\""), "{text}");
    // A path of that name is written ./config; alone after options it is refused with a tip.
    let out = f.sy().args(["-a", "config", "dst"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("./config"), "{}", stderr(&out));
    f.write("config/c.txt", "charlie");
    f.sy().args(["-a", "./config", "dst"]).assert().success();
    assert_eq!(
        std::fs::read(f.path("dst/config/c.txt")).unwrap(),
        b"charlie"
    );
}
