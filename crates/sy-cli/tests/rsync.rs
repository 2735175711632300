//! The rsync compatibility suite: every command line of [`CASES`] runs through `rsync` and
//! through `sy` — locally, and to the agent through a remote shell (`-e`) — on the same
//! generated trees, from an empty destination and from a stale one. The resulting trees (names,
//! kinds, contents, modes, times, link targets), the `-i` lines and the exit codes must be
//! rsync's, except for what a case names from the list of deliberate differences in
//! docs/rsync-differences.md. The `-i` lines are compared sorted: sy writes files in parallel,
//! so its order is not rsync's (rsync's own order is deterministic: its file-list order, with
//! deletions as it enters each directory).

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use crate::remote::{fake_rsh, noise, remote_sy};
use crate::util::{Fixture, assert_same_tree, require_tool, stderr};

/// What the destination holds before the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// An empty directory.
    Empty,
    /// An older copy: unchanged, changed, touched, re-permissioned, missing and extraneous
    /// entries, a newer file, a link pointing elsewhere.
    Stale,
}

/// A deliberate difference a case meets (docs/rsync-differences.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Differs {
    /// Nothing: trees, `-i` lines and exit codes are rsync's.
    No,
    /// Times are always kept (rsync without `-t` sets the time of the copy).
    AlwaysTimes,
    /// Permissions are always kept unless `--no-perms` (rsync without `-p` keeps an existing
    /// file's).
    AlwaysPerms,
    /// The destination's root gets the source's time, as in every run; with `--files-from`
    /// rsync leaves it alone (it is not listed): the rest is rsync's.
    RootTime,
}

struct Case {
    args: &'static [&'static str],
    /// The source as typed (run in the fixture's directory).
    src: &'static str,
    /// Where the source's contents land beneath DST/ (a stale destination holds its old copy
    /// there).
    lands: &'static str,
    starts: &'static [Start],
    differs: Differs,
}

const BOTH: &[Start] = &[Start::Empty, Start::Stale];
const EMPTY: &[Start] = &[Start::Empty];

const fn case(args: &'static [&'static str]) -> Case {
    Case {
        args,
        src: "src/",
        lands: "",
        starts: BOTH,
        differs: Differs::No,
    }
}

/// A case whose source is typed otherwise than `src/` (for `-R`): its contents land at `lands`.
const fn from(args: &'static [&'static str], src: &'static str, lands: &'static str) -> Case {
    Case {
        args,
        src,
        lands,
        starts: BOTH,
        differs: Differs::No,
    }
}

/// The command lines (besides `-i`, added to each that lacks it, and SRC/ DST/).
const CASES: &[Case] = &[
    case(&["-a"]),
    case(&["-av"]),
    case(&["-avh"]),
    case(&["-aiv"]),
    case(&["-rlptgoD"]),
    case(&["-a", "--delete"]),
    case(&["-a", "--del"]),
    case(&["-a", "--delete-after"]),
    case(&["-a", "--delete-delay"]),
    case(&["-a", "--exclude", "*.log"]),
    case(&["-a", "--exclude", "sub/"]),
    case(&["-a", "--exclude", "/a.txt"]),
    case(&["-a", "--exclude", "deep"]),
    case(&[
        "-a",
        "--include",
        "*/",
        "--include",
        "*.txt",
        "--exclude",
        "*",
    ]),
    case(&["-a", "--delete", "--exclude", "*.log"]),
    case(&["-a", "--delete", "--exclude", "olddir/"]),
    case(&["-a", "--exclude-from", "rules"]),
    case(&["-a", "--size-only"]),
    case(&["-a", "-c"]),
    case(&["-a", "-u"]),
    case(&["-a", "--ignore-existing"]),
    case(&["-a", "-n"]),
    case(&["-a", "-n", "--delete"]),
    case(&["-a", "-W"]),
    case(&["-a", "--no-whole-file"]),
    case(&["-a", "--partial"]),
    case(&["-a", "--mkpath"]),
    case(&["-a", "-S"]),
    case(&["-a", "-z"]),
    case(&["-a", "--bwlimit=0"]),
    case(&["-a", "--timeout=0"]),
    case(&["-a", "-8"]),
    case(&["-a", "--no-perms"]),
    case(&["-a", "--delete", "-c"]),
    case(&["-a", "-u", "--delete"]),
    case(&["-a", "-I"]),
    case(&["-a", "--ignore-times", "--delete"]),
    case(&["-a", "--existing"]),
    case(&["-a", "--existing", "--delete"]),
    case(&["-a", "--max-size=100K"]),
    case(&["-a", "--max-size=1K", "--delete"]),
    case(&["-a", "--min-size=6"]),
    case(&["-a", "--include-from", "includes", "--exclude", "*"]),
    case(&["-a", "--modify-window=1"]),
    case(&["-a", "--modify-window", "2", "--delete"]),
    case(&["-a", "-f", "- *.log"]),
    case(&["-a", "--filter", "exclude sub/"]),
    case(&["-a", "-f", "+ keep/***", "-f", "- *"]),
    case(&["-a", "-f", "-! */"]),
    case(&["-a", "-f", "+! *.txt", "-f", "- *"]),
    case(&["-a", "-f", "- *.log", "-f", "!", "-f", "- *.txt"]),
    case(&["-a", "--exclude", "*.txt", "-f", "+ a.txt"]),
    case(&["-a", "-F"]),
    case(&["-a", "-FF"]),
    case(&["-a", "-f", ": .rsync-filter"]),
    case(&[
        "-a",
        "-f",
        "dir-merge .rsync-filter",
        "-f",
        "- .rsync-filter",
    ]),
    case(&["-a", "-f", "merge filters"]),
    case(&["-a", "--delete", "-F"]),
    case(&["-a", "--delete", "--delete-excluded", "--exclude", "*.log"]),
    case(&["-a", "--delete-excluded", "-FF"]),
    case(&["-a", "--delete-excluded", "-f", "P olddir", "-f", "- *.log"]),
    case(&[
        "-a",
        "--delete-excluded",
        "-f",
        "P keep/",
        "--exclude",
        "keep/",
    ]),
    case(&["-a", "--delete", "-f", "protect extra.txt"]),
    case(&["-a", "--delete", "-f", "R extra.txt", "-f", "P *.txt"]),
    Case {
        differs: Differs::RootTime,
        ..case(&["-a", "--files-from", "list"])
    },
    Case {
        differs: Differs::RootTime,
        ..case(&["-ar", "--files-from=list"])
    },
    Case {
        differs: Differs::RootTime,
        ..case(&["-a", "-r", "--delete", "--files-from", "list"])
    },
    Case {
        differs: Differs::RootTime,
        ..case(&["-a", "-0", "--files-from", "list0"])
    },
    Case {
        differs: Differs::RootTime,
        ..case(&["-rlptgoD", "--from0", "--files-from", "list0", "--delete"])
    },
    case(&["-a", "--no-owner", "--no-group"]),
    case(&["-a", "--no-o", "--no-g", "--delete"]),
    case(&["-a", "--delete", "--max-delete=0"]),
    case(&["-a", "--delete", "--max-delete=100"]),
    Case {
        starts: EMPTY,
        differs: Differs::AlwaysPerms,
        ..case(&["-rlt"])
    },
    Case {
        starts: EMPTY,
        differs: Differs::AlwaysTimes,
        ..case(&["-rp"])
    },
    case(&["-a", "--chmod=D755,F644"]),
    case(&["-a", "--chmod=u+x,g-w"]),
    case(&["-a", "--chmod=a+X"]),
    case(&["-a", "--chmod=F600", "--chmod=go+r", "--delete"]),
    case(&["-a", "--chmod=Dg+s,Fo-rwx"]),
    case(&["-a", "--chmod=u+q"]),
    Case {
        starts: EMPTY,
        ..case(&["-rlt", "--chmod=F600"])
    },
    from(&["-aR"], "src/", "src"),
    from(&["-aR", "--delete"], "src/", "src"),
    from(&["-aR"], "src/sub/deep/", "src/sub/deep"),
    from(&["-aR"], "src/./sub/", "sub"),
    from(&["-avR"], "src/./sub/deep", "sub/deep"),
    from(&["-rtR"], "src/sub/c.txt", "src/sub"),
];

/// Whole seconds, so both tools compare them alike.
fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

const OLD: u64 = 1_500_000_000;
const SRC_TIME: u64 = 1_600_000_000;
const NEWER: u64 = 1_700_000_000;

fn set_time(path: &Path, secs: u64) {
    File::open(path).unwrap().set_modified(at(secs)).unwrap();
}

/// Sets the time of the symbolic link at `path` itself.
fn set_link_time(path: &Path, secs: u64) {
    use rustix::fs::{AtFlags, CWD, Timespec, Timestamps, utimensat};
    let time = Timespec {
        tv_sec: secs as i64,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: time,
        last_modification: time,
    };
    utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The source tree.
fn source(f: &Fixture) {
    f.write("src/a.txt", "alpha");
    f.write("src/b.log", "new log");
    f.write("src/empty", "");
    chmod(&f.path("src/empty"), 0o600);
    f.write("src/big.bin", noise(300_000, 1));
    f.write("src/exec.sh", "#!/bin/sh\n");
    chmod(&f.path("src/exec.sh"), 0o755);
    f.write("src/with space", "s");
    f.write("src/sub/c.txt", "charlie");
    f.write("src/sub/near.txt", "near");
    f.write("src/sub/e.log", "echo");
    f.write("src/sub/deep/d.txt", "delta");
    f.write("src/keep/k.txt", "kilo");
    f.write("src/.rsync-filter", "- *.log\n");
    f.write("src/sub/.rsync-filter", "+ e.log\n- /near.txt\n");
    f.mkdir("src/emptydir");
    f.symlink("a.txt", "src/link");
    f.symlink("sub/c.txt", "src/sublink");
    set_link_time(&f.path("src/link"), SRC_TIME);
    set_link_time(&f.path("src/sublink"), SRC_TIME);
    for file in [
        "a.txt",
        "b.log",
        "empty",
        "big.bin",
        "exec.sh",
        "with space",
        "sub/c.txt",
        "sub/near.txt",
        "sub/e.log",
        "sub/deep/d.txt",
        "keep/k.txt",
        ".rsync-filter",
        "sub/.rsync-filter",
    ] {
        set_time(&f.path("src").join(file), SRC_TIME);
    }
    for dir in ["sub/deep", "sub", "keep", "emptydir", ""] {
        set_time(&f.path("src").join(dir), SRC_TIME);
    }
    f.write("rules", "- *.log\n");
    f.write("includes", "*/\n*.txt\n");
    f.write(
        "list",
        "a.txt\nsub/deep/d.txt\n# a comment\nkeep\nemptydir/\n",
    );
    f.write("list0", "with space\0sub/c.txt\0keep\0");
    f.write(
        "filters",
        "# a merge file\n- *.log\n: .rsync-filter\n+ keep/***\n",
    );
}

/// Fills `dst` (a directory in the fixture) as `start` says, the old copy at `lands` in it.
fn destination(f: &Fixture, dst: &str, start: Start, lands: &str) {
    let top = f.mkdir(dst);
    let root = f.mkdir(top.join(lands));
    if start == Start::Stale {
        let put = |rel: &str, content: &[u8], secs: u64| {
            let path = f.write(root.join(rel), content);
            set_time(&path, secs);
        };
        put("a.txt", b"alpha", SRC_TIME);
        put("b.log", b"an old log, longer", OLD);
        put("empty", b"", SRC_TIME);
        chmod(&root.join("empty"), 0o644);
        let mut big = noise(300_000, 1);
        big[150_000..150_100].fill(0);
        put("big.bin", &big, OLD);
        // Same size and time, other content: only -c sees it.
        put("sub/c.txt", b"CHARLIE", SRC_TIME);
        put("sub/e.log", b"newer in the destination", NEWER);
        // A second off, as on a file system that keeps times coarsely: --modify-window.
        put("sub/near.txt", b"near", SRC_TIME + 1);
        put("extra.txt", b"extraneous", OLD);
        put("olddir/x", b"in an extraneous directory", OLD);
        put("keep/k.txt", b"kilo", SRC_TIME);
        std::os::unix::fs::symlink("b.log", root.join("link")).unwrap();
        set_link_time(&root.join("link"), OLD);
        for dir in ["sub", "olddir", "keep"] {
            set_time(&root.join(dir), OLD);
        }
    }
    for dir in root.ancestors().take_while(|dir| dir.starts_with(&top)) {
        set_time(dir, OLD);
    }
}

/// The `-i` lines of `out`: the change codes and names, sorted (rsync's other output, such as
/// `-v`'s header and totals or "created directory", is left out).
fn itemized(out: &Output) -> Vec<String> {
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines: Vec<String> = text
        .lines()
        .filter(|line| is_itemized(line))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

fn is_itemized(line: &str) -> bool {
    let b = line.as_bytes();
    line.starts_with("*deleting ")
        || (b.len() > 12
            && b"<>ch.".contains(&b[0])
            && b"fdLDS".contains(&b[1])
            && b[2..11].iter().all(|c| b"+.cstpoguaxn ".contains(c))
            && b[11] == b' ')
}

/// `-abc`, not `--long` nor a value.
fn is_short_cluster(arg: &str) -> bool {
    arg.starts_with('-') && !arg.starts_with("--")
}

/// What a tool did to a destination: its exit code and `-i` lines.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    code: Option<i32>,
    itemized: Vec<String>,
}

fn outcome(out: &Output) -> Outcome {
    Outcome {
        code: out.status.code(),
        itemized: itemized(out),
    }
}

#[test]
fn command_lines_behave_as_rsyncs() {
    if !require_tool("rsync", "rsync") {
        return;
    }
    let mut rows = 0;
    for (n, case) in CASES.iter().enumerate() {
        for &start in case.starts {
            let f = Fixture::new();
            source(&f);
            for dst in ["by-rsync", "by-sy", "by-agent"] {
                destination(&f, dst, start, case.lands);
            }
            // `-i` once (`-ii` would also list what is unchanged, which sy does not).
            let mut args = case.args.to_vec();
            if !args.iter().any(|a| is_short_cluster(a) && a.contains('i')) {
                args.push("-i");
            }
            let line = format!(
                "{} {} DST/ ({start:?} destination)",
                args.join(" "),
                case.src
            );
            let rsync = Command::new("rsync")
                .current_dir(f.root())
                .args(&args)
                .args([case.src, "by-rsync/"])
                .output()
                .unwrap();
            let sy = f
                .sy()
                .args(&args)
                .args([case.src, "by-sy/"])
                .output()
                .unwrap();
            let rsh = fake_rsh(&f);
            let agent_dst = format!("fakehost:{}/", f.path("by-agent").display());
            let agent = remote_sy(&f, &rsh, &args, case.src, &agent_dst);
            if !case.lands.is_empty() {
                // DST/ itself is not in the transfer: its time is that of the moment the
                // first entry was made in it, which differs from one run to the next.
                for dst in ["by-rsync", "by-sy", "by-agent"] {
                    set_time(&f.path(dst), OLD);
                }
            }
            let expected = outcome(&rsync);
            for (how, out, dst) in [
                ("locally", &sy, "by-sy"),
                ("through the agent", &agent, "by-agent"),
            ] {
                let context = format!(
                    "case {n}: {line}, sy {how}\nrsync stderr: {}\nsy stderr: {}",
                    stderr(&rsync),
                    stderr(out)
                );
                match case.differs {
                    Differs::No => {
                        assert_eq!(outcome(out), expected, "{context}");
                        assert_same_tree(&f.path("by-rsync"), &f.path(dst));
                    }
                    Differs::RootTime => {
                        let mut got = outcome(out);
                        got.itemized.retain(|line| line != ".d..t...... ./");
                        assert_eq!(got, expected, "{context}");
                        for root in ["by-rsync", dst] {
                            set_time(&f.path(root), OLD);
                        }
                        assert_same_tree(&f.path("by-rsync"), &f.path(dst));
                    }
                    Differs::AlwaysTimes | Differs::AlwaysPerms => {
                        assert_eq!(out.status.code(), expected.code, "{context}");
                    }
                }
            }
            rows += 1;
        }
    }
    assert!(rows >= 60, "{rows} command lines");
}

#[test]
fn same_result_as_rsync_archive() {
    if !require_tool("rsync", "rsync") {
        return;
    }
    let f = Fixture::new();
    f.write("src/a.txt", "alpha");
    f.write("src/empty", "");
    f.mkdir("src/empty-dir");
    f.write("src/deep/er/file", vec![3u8; 200_000]);
    f.write("src/with space", "s");
    f.symlink("a.txt", "src/link");
    f.symlink("/nowhere", "src/dangling");
    chmod(&f.path("src/empty"), 0o600);

    // rsync does not set a directory's time when it is already within the same second as the
    // source's (it ignores nanoseconds there), nor the time of a destination it had to create:
    // so give the source directories older times and both sides an existing destination.
    f.mkdir("by-rsync");
    f.mkdir("by-sy");
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for dir in ["src/deep/er", "src/deep", "src/empty-dir", "src"] {
        File::open(f.path(dir))
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
    }
    let status = Command::new("rsync")
        .arg("-a")
        .arg(f.src_slash())
        .arg(f.path("by-rsync"))
        .status()
        .unwrap();
    assert!(status.success());
    f.sy()
        .args(["-a", &f.src_slash(), "by-sy"])
        .assert()
        .success();
    // (Hard links are left out: `rsync -aH` forgets to restore directory times after linking.)
    assert_same_tree(&f.path("by-rsync"), &f.path("by-sy"));
}
