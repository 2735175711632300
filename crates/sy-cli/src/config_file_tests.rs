use super::*;

fn parse(text: &str) -> ConfigFile {
    ConfigFile::parse(text, Path::new("/etc/sy.toml")).unwrap()
}

fn parse_err(text: &str) -> String {
    ConfigFile::parse(text, Path::new("/etc/sy.toml"))
        .unwrap_err()
        .to_string()
}

/// Each key: TOML values for `[defaults]`, the host table and the profile, and a flag layer
/// that sets it.
fn keys() -> Vec<(&'static str, [&'static str; 3], Layer)> {
    vec![
        (
            "jobs",
            ["1", "2", "3"],
            Layer {
                jobs: NonZeroUsize::new(9),
                ..Layer::default()
            },
        ),
        (
            "compress",
            ["\"always\"", "\"never\"", "\"auto\""],
            Layer {
                compress: Some(Compress::Never),
                ..Layer::default()
            },
        ),
        (
            "compress_level",
            ["4", "5", "6"],
            Layer {
                compress_level: Some(CompressLevel(9)),
                ..Layer::default()
            },
        ),
        (
            "rsh",
            ["\"ssh -p 1\"", "\"ssh -p 2\"", "\"ssh -p 3\""],
            Layer {
                rsh: Some(Rsh::try_from("ssh -p 9".to_owned()).unwrap()),
                ..Layer::default()
            },
        ),
        (
            "remote_path",
            ["\"/d/sy-remote\"", "\"/h/sy-remote\"", "\"/p/sy-remote\""],
            Layer {
                remote_path: Some("/f/sy-remote".into()),
                ..Layer::default()
            },
        ),
        (
            "exclude",
            ["[\"d\"]", "[\"h\"]", "[\"p\"]"],
            Layer {
                exclude: Some(vec!["f".into()]),
                ..Layer::default()
            },
        ),
        (
            "bwlimit",
            ["\"1M\"", "\"2M\"", "\"3M\""],
            Layer {
                bwlimit: Some(Rate::try_from("9M".to_owned()).unwrap()),
                ..Layer::default()
            },
        ),
        (
            "gitignore",
            ["true", "false", "true"],
            Layer {
                gitignore: Some(false),
                ..Layer::default()
            },
        ),
        (
            "ssh_config",
            ["\"/d/ssh\"", "\"/h/ssh\"", "\"/p/ssh\""],
            Layer {
                ssh_config: Some("/f/ssh".into()),
                ..Layer::default()
            },
        ),
        (
            "port",
            ["2201", "2202", "2203"],
            Layer {
                port: Some(2209),
                ..Layer::default()
            },
        ),
        (
            "cipher",
            [
                "\"aes128-gcm@openssh.com\"",
                "\"aes256-gcm@openssh.com\"",
                "\"chacha20-poly1305@openssh.com\"",
            ],
            Layer {
                cipher: Some("aes128-ctr".into()),
                ..Layer::default()
            },
        ),
        (
            "deploy",
            ["false", "true", "false"],
            Layer {
                deploy: Some(true),
                ..Layer::default()
            },
        ),
        (
            "include",
            ["[\"d\"]", "[\"h\"]", "[\"p\"]"],
            Layer {
                include: Some(vec!["f".into()]),
                ..Layer::default()
            },
        ),
        switch("delete", |l| &mut l.delete),
        switch("checksum", |l| &mut l.checksum),
        switch("update", |l| &mut l.update),
        switch("hard_links", |l| &mut l.hard_links),
        switch("verify", |l| &mut l.verify),
        switch("sparse", |l| &mut l.sparse),
    ]
}

/// A boolean key: values for `[defaults]`, the host table and the profile that differ in
/// turn, and a flag layer that sets it.
fn switch(
    key: &'static str,
    field: fn(&mut Layer) -> &mut Option<bool>,
) -> (&'static str, [&'static str; 3], Layer) {
    let mut flags = Layer::default();
    *field(&mut flags) = Some(true);
    (key, ["true", "false", "true"], flags)
}

/// The value (as `config show` prints it) and origin of `key`.
fn get(e: &Effective, key: &str) -> (String, Origin) {
    let line = e
        .show()
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap()
        .to_owned();
    let value = line
        .split_once(" = ")
        .unwrap()
        .1
        .split("  #")
        .next()
        .unwrap()
        .trim()
        .to_owned();
    let origin = match key {
        "jobs" => &e.jobs.origin,
        "compress" => &e.compress.origin,
        "compress_level" => &e.compress_level.origin,
        "rsh" => &e.rsh.origin,
        "remote_path" => &e.remote_path.origin,
        "exclude" => &e.exclude.origin,
        "gitignore" => &e.gitignore.origin,
        "bwlimit" => &e.bwlimit.origin,
        "ssh_config" => &e.ssh_config.origin,
        "port" => &e.port.origin,
        "cipher" => &e.cipher.origin,
        "deploy" => &e.deploy.origin,
        "include" => &e.include.origin,
        "delete" => &e.delete.origin,
        "checksum" => &e.checksum.origin,
        "update" => &e.update.origin,
        "hard_links" => &e.hard_links.origin,
        "verify" => &e.verify.origin,
        "sparse" => &e.sparse.origin,
        _ => panic!("unknown key {key}"),
    };
    (value, origin.clone())
}

#[test]
fn precedence_is_flags_profile_host_defaults_built_in_for_every_key() {
    let keys = keys();
    assert_eq!(
        keys.len(),
        Effective::default_for_test().show().lines().count()
    );
    for (key, [d, h, p], flags) in keys {
        let file = parse(&format!(
            "[defaults]\n{key} = {d}\n[host.\"*.example.com\"]\n{key} = {h}\n\
             [profile.fast]\n{key} = {p}\n"
        ));
        let host = Some("box.example.com");
        let none = Layer::default();
        let (_, origin) = get(&file.resolve(&flags, Some("fast"), host).unwrap(), key);
        assert_eq!(origin, Origin::Flag, "{key}");
        let (value, origin) = get(&file.resolve(&none, Some("fast"), host).unwrap(), key);
        assert_eq!(
            (value.as_str(), origin),
            (p, Origin::Profile("fast".into())),
            "{key}"
        );
        let (value, origin) = get(&file.resolve(&none, None, host).unwrap(), key);
        assert_eq!(
            (value.as_str(), origin),
            (h, Origin::Host("*.example.com".into())),
            "{key}"
        );
        let (value, origin) = get(&file.resolve(&none, None, Some("other")).unwrap(), key);
        assert_eq!((value.as_str(), origin), (d, Origin::Defaults), "{key}");
        let (_, origin) = get(&parse("").resolve(&none, None, host).unwrap(), key);
        assert_eq!(origin, Origin::BuiltIn, "{key}");
    }
}

impl Effective {
    fn default_for_test() -> Effective {
        parse("").resolve(&Layer::default(), None, None).unwrap()
    }
}

#[test]
fn the_first_matching_host_table_wins() {
    let file = parse("[host.\"db*\"]\njobs = 1\n[host.\"*\"]\njobs = 2\ncompress = true\n");
    let e = file.resolve(&Layer::default(), None, Some("db1")).unwrap();
    assert_eq!(e.jobs.value, 1);
    assert_eq!(e.compress.value, Compress::Always);
    assert_eq!(e.compress.origin, Origin::Host("*".into()));
    let e = file.resolve(&Layer::default(), None, Some("web")).unwrap();
    assert_eq!(e.jobs.value, 2);
}

#[test]
fn compress_takes_the_old_booleans_and_the_three_words() {
    for (text, expected) in [
        ("true", Compress::Always),
        ("false", Compress::Never),
        ("\"always\"", Compress::Always),
        ("\"never\"", Compress::Never),
        ("\"auto\"", Compress::Auto),
    ] {
        let e = parse(&format!("[defaults]\ncompress = {text}\n"))
            .resolve(&Layer::default(), None, None)
            .unwrap();
        assert_eq!(e.compress.value, expected, "{text}");
    }
    let err = parse_err("[defaults]\ncompress = \"sometimes\"\n");
    assert!(err.contains("line 2, key `compress`"), "{err}");
}

#[test]
fn built_in_values() {
    let e = Effective::default_for_test();
    assert_eq!(e.compress.value, Compress::Auto);
    assert_eq!(e.compress_level.value, sy_engine::DEFAULT_COMPRESS_LEVEL);
    assert_eq!(
        e.rsh.value, None,
        "the built-in SSH client, not a remote shell"
    );
    assert!(e.deploy.value);
    assert_eq!((e.port.value, e.cipher.value.as_deref()), (None, None));
    assert_eq!(e.remote_path.value, "sy-remote");
    assert!(e.exclude.value.is_empty());
    assert!(e.jobs.value >= 2);
}

#[test]
fn errors_name_the_file_line_and_key() {
    let err = parse_err("[defaults]\njobs = 2\ncompres = true\n");
    assert!(
        err.starts_with("config file /etc/sy.toml, line 3, key `compres`"),
        "{err}"
    );
    assert!(err.contains("unknown field"), "{err}");
    let err = parse_err("[defaults]\n\njobs = \"many\"\n");
    assert!(err.contains("line 3, key `jobs`"), "{err}");
    let err = parse_err("[profile.x]\ncompress_level = 40\n");
    assert!(err.contains("line 2, key `compress_level`"), "{err}");
    assert!(err.contains("not in 1..=19"), "{err}");
    let err = parse_err("[defaults]\njobs = 0\n");
    assert!(err.contains("line 2, key `jobs`"), "{err}");
    let err = parse_err("[hosts.\"a\"]\njobs = 1\n");
    assert!(err.contains("line 1"), "{err}");
    let err = parse_err("[defaults]\nrsh = \"ssh 'open\"\n");
    assert!(err.contains("line 2, key `rsh`"), "{err}");
    let err = parse_err("[defaults]\nbwlimit = \"fast\"\n");
    assert!(err.contains("line 2, key `bwlimit`"), "{err}");
    let err = parse_err("[defaults\n");
    assert!(err.contains("line 1"), "{err}");
    let err = parse_err("[host.\"a[\"]\njobs = 1\n");
    assert!(err.contains("line 1, key `host.\"a[\"`"), "{err}");
}

#[test]
fn an_unknown_profile_is_an_error_listing_the_known_ones() {
    let file = parse("[profile.a]\n[profile.b]\n");
    let err = file
        .resolve(&Layer::default(), Some("c"), None)
        .unwrap_err()
        .to_string();
    assert_eq!(err, "no profile \"c\" in /etc/sy.toml (profiles: a, b)");
}

#[test]
fn show_prints_values_as_toml_with_their_origin() {
    let file = parse("[defaults]\nexclude = [\"*.tmp\", \"a b\"]\n");
    let text = file.resolve(&Layer::default(), None, None).unwrap().show();
    assert!(
        text.lines()
            .any(|l| l.starts_with("exclude = [\"*.tmp\", \"a b\"]") && l.ends_with("# [defaults]")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("rsh = \"none (built-in SSH client)\"")
                && l.ends_with("# built-in")),
        "{text}"
    );
}

#[test]
fn rates_parse_in_binary_units_and_bare_numbers_are_kib() {
    assert_eq!(parse_rate("10M").unwrap(), 10 << 20);
    assert_eq!(parse_rate("500K").unwrap(), 500 << 10);
    assert_eq!(parse_rate("500k").unwrap(), 500 << 10);
    assert_eq!(parse_rate("1.5G").unwrap(), 3 << 29);
    assert_eq!(parse_rate("100").unwrap(), 100 << 10);
    assert_eq!(parse_rate("4096B").unwrap(), 4096);
    assert_eq!(parse_rate("0").unwrap(), 0, "no limit");
    assert_eq!(parse_rate("0M").unwrap(), 0, "no limit");
    for bad in ["", "M", "10X", "-1M", "1.2.3K", "0.0001B"] {
        assert!(parse_rate(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_remote_shell_command_splits_like_a_shell() {
    assert_eq!(
        split_rsh("ssh -p 2222 -o 'ProxyCommand=nc %h %p'").unwrap(),
        ["ssh", "-p", "2222", "-o", "ProxyCommand=nc %h %p"]
    );
    assert!(split_rsh("ssh 'unclosed").is_err());
    assert!(split_rsh("").is_err());
}
