//! The command line each tool runs for a scenario and target.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::s3server::{BUCKET, KEY_ID, REGION, SECRET};
use crate::scenarios::{Scenario, Tool};
use crate::sshd::shell_quote;

/// The binaries found (or the reason one is missing, shown in the table as "unsupported").
pub struct Binaries {
    pub sy: Result<PathBuf, String>,
    pub sy_remote: Result<PathBuf, String>,
    pub rsync: Result<PathBuf, String>,
    pub rclone: Result<PathBuf, String>,
    /// The AWS CLI (`aws s3 sync`).
    pub aws: Result<PathBuf, String>,
    /// `zstd` on PATH, for the compressed ceiling of W4z.
    pub zstd: bool,
}

/// How to reach the far side: the `ssh` words for `-e`, the ssh config they read (which sy's
/// built-in client reads with `--ssh-config`), and the host alias.
pub struct Remote {
    pub rsh: Vec<String>,
    pub ssh_config: PathBuf,
    pub login: String,
}

/// Where the s3 target's tools write: `prefix` (`w3/`) in the bench's bucket of the server at
/// `endpoint`.
pub struct Bucket {
    pub endpoint: String,
    pub prefix: String,
}

/// One command to run, and its short name in the table.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub label: String,
    pub program: OsString,
    pub args: Vec<OsString>,
}

impl Invocation {
    fn new(label: &str, program: impl Into<OsString>, args: Vec<OsString>) -> Self {
        Self {
            label: label.to_string(),
            program: program.into(),
            args,
        }
    }

    fn shell(label: &str, script: String) -> Self {
        Self::new(label, "/bin/sh", vec!["-c".into(), script.into()])
    }

    /// The command as one shell line, for the record.
    pub fn command_line(&self) -> String {
        let words: Vec<String> = std::iter::once(&self.program)
            .chain(&self.args)
            .map(|w| w.to_string_lossy().into_owned())
            .collect();
        join_words(&words)
    }
}

/// Joins words into one shell command line, quoting only the words that need it.
pub fn join_words(words: &[String]) -> String {
    let plain = |w: &String| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./=:@,+".contains(&b))
    };
    words
        .iter()
        .map(|w| if plain(w) { w.clone() } else { shell_quote(w) })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `dir/`: the contents of `dir`, rsync-style.
fn contents(dir: &Path) -> OsString {
    let mut s = dir.as_os_str().to_os_string();
    s.push("/");
    s
}

fn quoted(path: &Path) -> String {
    shell_quote(&path.display().to_string())
}

/// The command for `tool` copying `src` into `dst` (local) or into `login:dst` (remote).
/// `Err` names why this tool cannot run this case.
pub fn invocation(
    tool: Tool,
    scenario: &Scenario,
    src: &Path,
    dst: &Path,
    remote: Option<&Remote>,
    bins: &Binaries,
) -> Result<Invocation, String> {
    let destination = match remote {
        Some(r) => {
            let mut s = OsString::from(format!("{}:", r.login));
            s.push(contents(dst));
            s
        }
        None => contents(dst),
    };
    match tool {
        Tool::Rsync | Tool::RsyncZ => {
            let rsync = bins.rsync.clone()?;
            let mut args: Vec<OsString> = vec!["-a".into()];
            if scenario.compress || tool == Tool::RsyncZ {
                args.extend(["-z".into(), "--compress-choice=zstd".into()]);
            }
            if scenario.sparse {
                args.push("--sparse".into());
            }
            if let Some(r) = remote {
                args.extend(["-e".into(), join_words(&r.rsh).into()]);
            }
            args.extend([contents(src), destination]);
            let label = if tool == Tool::RsyncZ {
                "rsync -az --compress-choice=zstd"
            } else {
                "rsync -a"
            };
            Ok(Invocation::new(label, rsync, args))
        }
        Tool::Sy | Tool::SyNever => {
            let sy = bins.sy.clone()?;
            let mut args: Vec<OsString> = Vec::new();
            if scenario.compress {
                args.push("-z".into());
            } else if tool == Tool::SyNever {
                args.push("--compress=never".into());
            }
            if scenario.sparse {
                args.push("--sparse".into());
            }
            // The built-in SSH client, with the same host entry (and cipher) as `ssh`.
            if let Some(r) = remote {
                let agent = bins.sy_remote.clone()?;
                args.extend([
                    "--ssh-config".into(),
                    r.ssh_config.clone().into_os_string(),
                    "--remote-path".into(),
                    agent.into(),
                ]);
            }
            args.extend([contents(src), destination]);
            let label = if tool == Tool::SyNever {
                "sy --compress=never"
            } else {
                "sy"
            };
            Ok(Invocation::new(label, sy, args))
        }
        Tool::SySftp => {
            let sy = bins.sy.clone()?;
            let Some(r) = remote else {
                return Err("remote targets only".into());
            };
            let mut args: Vec<OsString> = Vec::new();
            if scenario.compress {
                args.push("-z".into());
            }
            if scenario.sparse {
                args.push("--sparse".into());
            }
            // No agent at that path, and no copying one there: SFTP.
            args.extend([
                "--ssh-config".into(),
                r.ssh_config.clone().into_os_string(),
                "--no-deploy".into(),
                "--remote-path".into(),
                "/nonexistent/sy-remote".into(),
                contents(src),
                destination,
            ]);
            Ok(Invocation::new("sy over SFTP", sy, args))
        }
        Tool::Sftp => {
            let Some(r) = remote else {
                return Err("remote targets only".into());
            };
            let Some(name) = scenario.source.file_name() else {
                return Err("single-file scenarios only".into());
            };
            // sftp's batch syntax takes double-quoted paths.
            let put = format!(
                "put \"{}\" \"{}\"",
                src.join(name).display(),
                dst.join(name).display()
            );
            let script = format!(
                "echo {} | sftp -q -F {} -b - {}",
                shell_quote(&put),
                quoted(&r.ssh_config),
                r.login
            );
            Ok(Invocation::shell("sftp put", script))
        }
        Tool::Cp => Ok(ceiling(scenario, src, dst, remote, bins)),
        Tool::Rclone | Tool::Aws => Err("the s3 targets only".into()),
    }
}

/// The command for `tool` copying the tree `local` into `bucket` (or, with `pull`, the bucket into
/// `local`), through `env` so that the recorded command line carries the configuration (all of it
/// from the environment, nothing from the user's files).
pub fn bucket_invocation(
    tool: Tool,
    local: &Path,
    bucket: &Bucket,
    pull: bool,
    bins: &Binaries,
) -> Result<Invocation, String> {
    let ends = |url: String| {
        if pull {
            [url.into(), contents(local)]
        } else {
            [contents(local), url.into()]
        }
    };
    let mut words: Vec<OsString> = vec!["-u".into(), "AWS_PROFILE".into()];
    words.extend(["-u".into(), "AWS_SESSION_TOKEN".into()]);
    // The AWS way, for the tools that read it (sy and the AWS CLI), and no files of the user's.
    let aws_env: [OsString; 6] = [
        format!("AWS_ENDPOINT_URL={}", bucket.endpoint).into(),
        format!("AWS_ACCESS_KEY_ID={KEY_ID}").into(),
        format!("AWS_SECRET_ACCESS_KEY={SECRET}").into(),
        format!("AWS_REGION={REGION}").into(),
        "AWS_CONFIG_FILE=/dev/null".into(),
        "AWS_SHARED_CREDENTIALS_FILE=/dev/null".into(),
    ];
    let s3_url = format!("s3://{BUCKET}/{}", bucket.prefix);
    let (label, program, args): (&str, PathBuf, Vec<OsString>) = match tool {
        Tool::Sy => {
            words.extend(aws_env);
            ("sy", bins.sy.clone()?, ends(s3_url).into())
        }
        Tool::Aws => {
            words.extend(aws_env);
            let args = ["s3", "sync", "--only-show-errors"]
                .map(OsString::from)
                .into_iter()
                .chain(ends(s3_url))
                .collect();
            ("aws s3 sync", bins.aws.clone()?, args)
        }
        Tool::Rclone => {
            // Debian's rclone refuses a custom CA bundle over plain HTTP.
            words.extend(["-u".into(), "AWS_CA_BUNDLE".into()]);
            words.extend(
                [
                    ("TYPE", "s3"),
                    ("PROVIDER", "Other"),
                    ("ENDPOINT", bucket.endpoint.as_str()),
                    ("ACCESS_KEY_ID", KEY_ID),
                    ("SECRET_ACCESS_KEY", SECRET),
                    ("REGION", REGION),
                    ("FORCE_PATH_STYLE", "true"),
                ]
                .map(|(key, value)| format!("RCLONE_CONFIG_S3_{key}={value}").into()),
            );
            let url = format!("s3:{BUCKET}/{}", bucket.prefix);
            let args = ["sync", "--transfers", "16", "--checkers", "16"]
                .map(OsString::from)
                .into_iter()
                .chain(ends(url))
                .collect();
            (
                "rclone sync --transfers 16 --checkers 16",
                bins.rclone.clone()?,
                args,
            )
        }
        _ => return Err("not a tool of the s3 target".into()),
    };
    words.push(program.into());
    words.extend(args);
    Ok(Invocation::new(label, "env", words))
}

/// The fastest plain way to get the same result: what a sync tool should approach.
fn ceiling(
    scenario: &Scenario,
    src: &Path,
    dst: &Path,
    remote: Option<&Remote>,
    bins: &Binaries,
) -> Invocation {
    let file = scenario.source.file_name();
    match remote {
        None if scenario.no_change() => Invocation::shell(
            "find -ls (stat both trees)",
            format!(
                "find {} -ls >/dev/null && find {} -ls >/dev/null",
                quoted(src),
                quoted(dst)
            ),
        ),
        None => {
            let mut args: Vec<OsString> = vec!["-a".into()];
            if scenario.sparse {
                args.push("--sparse=always".into());
            }
            let mut from = src.as_os_str().to_os_string();
            from.push("/.");
            args.extend([from, dst.as_os_str().to_os_string()]);
            Invocation::new("cp -a", "cp", args)
        }
        Some(r) => {
            let ssh = |command: String| {
                let mut words = r.rsh.clone();
                words.push(r.login.clone());
                words.push(command);
                join_words(&words)
            };
            match file {
                _ if scenario.no_change() => Invocation::shell("ssh true", ssh("true".into())),
                None => Invocation::shell(
                    "tar | ssh tar",
                    format!(
                        "tar -C {} -cf - . | {}",
                        quoted(src),
                        ssh(format!("tar -C {} -xf -", quoted(dst)))
                    ),
                ),
                Some(name) => {
                    let (from, to) = (quoted(&src.join(name)), quoted(&dst.join(name)));
                    if scenario.compress && bins.zstd {
                        Invocation::shell(
                            "zstd | ssh zstd -d",
                            format!(
                                "zstd -q -c {from} | {}",
                                ssh(format!("zstd -q -d -c > {to}"))
                            ),
                        )
                    } else if scenario.sparse {
                        Invocation::shell(
                            "ssh cp --sparse",
                            format!(
                                "{} < {from}",
                                ssh(format!("cp --sparse=always /dev/stdin {to}"))
                            ),
                        )
                    } else {
                        Invocation::shell(
                            "ssh cat",
                            format!("{} < {from}", ssh(format!("cat > {to}"))),
                        )
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::ScenarioId;

    #[test]
    fn quotes_only_words_that_need_it() {
        let words = ["ssh", "-o", "UserKnownHostsFile=/tmp/k h", "it's"].map(String::from);
        assert_eq!(
            join_words(&words),
            r"ssh -o 'UserKnownHostsFile=/tmp/k h' 'it'\''s'"
        );
    }

    #[test]
    fn rsync_over_ssh_gets_compression_and_the_remote_destination() {
        let bins = Binaries {
            sy: Err("not built".into()),
            sy_remote: Err("not built".into()),
            rsync: Ok("/usr/bin/rsync".into()),
            rclone: Err("not installed".into()),
            aws: Err("not installed".into()),
            zstd: true,
        };
        let remote = Remote {
            rsh: vec!["ssh".into(), "-p".into(), "2222".into()],
            ssh_config: "/b/ssh_config".into(),
            login: "root@127.0.0.1".into(),
        };
        let scenario = Scenario::get(ScenarioId::W4z);
        let inv = invocation(
            Tool::Rsync,
            &scenario,
            Path::new("/s"),
            Path::new("/d"),
            Some(&remote),
            &bins,
        )
        .unwrap();
        assert_eq!(
            inv.args,
            [
                "-a",
                "-z",
                "--compress-choice=zstd",
                "-e",
                "ssh -p 2222",
                "/s/",
                "root@127.0.0.1:/d/"
            ]
        );
        assert_eq!(
            invocation(
                Tool::Sy,
                &scenario,
                Path::new("/s"),
                Path::new("/d"),
                None,
                &bins
            )
            .unwrap_err(),
            "not built"
        );
        let built = Binaries {
            sy: Ok("/b/sy".into()),
            sy_remote: Ok("/b/sy-remote".into()),
            ..bins
        };
        let sy = invocation(
            Tool::Sy,
            &scenario,
            Path::new("/s"),
            Path::new("/d"),
            Some(&remote),
            &built,
        )
        .unwrap();
        assert_eq!(
            sy.args,
            [
                "-z",
                "--ssh-config",
                "/b/ssh_config",
                "--remote-path",
                "/b/sy-remote",
                "/s/",
                "root@127.0.0.1:/d/"
            ]
        );
        let over_sftp = invocation(
            Tool::SySftp,
            &scenario,
            Path::new("/s"),
            Path::new("/d"),
            Some(&remote),
            &built,
        )
        .unwrap();
        assert!(
            over_sftp.command_line().contains(
                "--ssh-config /b/ssh_config --no-deploy --remote-path /nonexistent/sy-remote /s/ \
                 root@127.0.0.1:/d/"
            ),
            "{}",
            over_sftp.command_line()
        );
        let put = invocation(
            Tool::Sftp,
            &Scenario::get(ScenarioId::W1),
            Path::new("/s"),
            Path::new("/d"),
            Some(&remote),
            &built,
        )
        .unwrap();
        assert_eq!(
            put.args[1],
            r#"echo 'put "/s/data.bin" "/d/data.bin"' | sftp -q -F '/b/ssh_config' -b - root@127.0.0.1"#
        );
        for tool in [Tool::SySftp, Tool::Sftp] {
            let local = invocation(
                tool,
                &scenario,
                Path::new("/s"),
                Path::new("/d"),
                None,
                &built,
            );
            assert_eq!(local.unwrap_err(), "remote targets only");
        }
        let bins = built;
        let ceiling = invocation(
            Tool::Cp,
            &scenario,
            Path::new("/s"),
            Path::new("/d"),
            Some(&remote),
            &bins,
        )
        .unwrap();
        assert_eq!(ceiling.label, "zstd | ssh zstd -d");
    }

    #[test]
    fn bucket_tools_are_configured_by_the_environment() {
        let bins = Binaries {
            sy: Ok("/b/sy".into()),
            sy_remote: Err("not built".into()),
            rsync: Err("not installed".into()),
            rclone: Ok("/usr/bin/rclone".into()),
            aws: Ok("/usr/bin/aws".into()),
            zstd: false,
        };
        let bucket = Bucket {
            endpoint: "http://127.0.0.1:4000".into(),
            prefix: "w3/".into(),
        };
        let sy = bucket_invocation(Tool::Sy, Path::new("/s"), &bucket, false, &bins).unwrap();
        assert_eq!(
            sy.command_line(),
            "env -u AWS_PROFILE -u AWS_SESSION_TOKEN AWS_ENDPOINT_URL=http://127.0.0.1:4000 \
             AWS_ACCESS_KEY_ID=sy-bench-key AWS_SECRET_ACCESS_KEY=sy-bench-secret \
             AWS_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
             /b/sy /s/ s3://bench/w3/"
        );
        let aws = bucket_invocation(Tool::Aws, Path::new("/d"), &bucket, true, &bins).unwrap();
        assert!(
            aws.command_line().ends_with(
                "AWS_SHARED_CREDENTIALS_FILE=/dev/null /usr/bin/aws s3 sync --only-show-errors \
                 s3://bench/w3/ /d/"
            ),
            "{}",
            aws.command_line()
        );
        let rclone =
            bucket_invocation(Tool::Rclone, Path::new("/s"), &bucket, false, &bins).unwrap();
        assert_eq!(
            rclone.command_line(),
            "env -u AWS_PROFILE -u AWS_SESSION_TOKEN -u AWS_CA_BUNDLE RCLONE_CONFIG_S3_TYPE=s3 \
             RCLONE_CONFIG_S3_PROVIDER=Other RCLONE_CONFIG_S3_ENDPOINT=http://127.0.0.1:4000 \
             RCLONE_CONFIG_S3_ACCESS_KEY_ID=sy-bench-key \
             RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=sy-bench-secret RCLONE_CONFIG_S3_REGION=us-east-1 \
             RCLONE_CONFIG_S3_FORCE_PATH_STYLE=true /usr/bin/rclone sync --transfers 16 \
             --checkers 16 /s/ s3:bench/w3/"
        );
        let missing = Binaries {
            rclone: Err("rclone not on PATH".into()),
            ..bins
        };
        assert_eq!(
            bucket_invocation(Tool::Rclone, Path::new("/s"), &bucket, false, &missing).unwrap_err(),
            "rclone not on PATH"
        );
        assert!(bucket_invocation(Tool::Rsync, Path::new("/s"), &bucket, false, &missing).is_err());
        let pull = bucket_invocation(Tool::Sy, Path::new("/d"), &bucket, true, &missing).unwrap();
        assert!(
            pull.command_line().ends_with("/b/sy s3://bench/w3/ /d/"),
            "{}",
            pull.command_line()
        );
    }
}
