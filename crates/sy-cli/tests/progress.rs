//! `-P` under a pseudo-terminal (`script`, from util-linux; bsdutils on Debian): the phases and
//! bars are drawn and the closing line has the right counts; piped, nothing is drawn unless
//! `--progress=always`.

use std::process::{Command, Stdio};

use crate::util::{Fixture, require_tool, stderr};

/// `word` single-quoted for `sh -c`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// Runs `sy ARGS SRC/ DST` with stdin, stdout and stderr on a fresh pseudo-terminal; returns
/// the exit code and everything the terminal showed.
fn sy_on_a_terminal(f: &Fixture, args: &[&str]) -> (Option<i32>, String) {
    let mut words = vec![quote(env!("CARGO_BIN_EXE_sy"))];
    words.extend(args.iter().map(|a| quote(a)));
    words.push(quote(&f.src_slash()));
    words.push(quote(&f.dst().display().to_string()));
    let out = Command::new("script")
        .args(["-qec", &words.join(" "), "/dev/null"])
        .current_dir(f.root())
        .env("XDG_CONFIG_HOME", f.path(".config"))
        .env("TERM", "xterm")
        .env("COLUMNS", "120")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn tree(f: &Fixture) {
    f.write("src/big", vec![7u8; 9 << 20]);
    for name in ["a", "b", "d/c"] {
        f.write(format!("src/{name}"), vec![b'x'; 1024]);
    }
}

#[test]
fn progress_is_drawn_on_a_terminal_and_ends_with_the_counts() {
    if !require_tool("script", "bsdutils") {
        return;
    }
    let f = Fixture::new();
    tree(&f);
    let (code, screen) = sy_on_a_terminal(&f, &["-P"]);
    assert_eq!(code, Some(0), "{screen}");
    for drawn in ["scanning", "transferring", "big", "\x1b[2K"] {
        assert!(screen.contains(drawn), "{drawn:?} not drawn: {screen:?}");
    }
    assert!(
        screen.contains(
            "sy: 4 files written, 9.0 MiB moved for 9.0 MiB represented (0.0% saved) in "
        ),
        "{screen:?}"
    );
    f.write("src/a", vec![b'y'; 1024]);
    let (code, screen) = sy_on_a_terminal(&f, &["-P"]);
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains("sy: 1 file written, 1.0 KiB moved for 9.0 MiB represented (100.0% saved)"),
        "{screen:?}"
    );
}

#[test]
fn quiet_and_json_draw_no_progress_even_on_a_terminal() {
    if !require_tool("script", "bsdutils") {
        return;
    }
    let f = Fixture::new();
    tree(&f);
    let (code, screen) = sy_on_a_terminal(&f, &["-P", "-q"]);
    assert_eq!(code, Some(0));
    assert_eq!(screen, "");
    f.write("src/a", vec![b'y'; 1024]);
    let (_, screen) = sy_on_a_terminal(&f, &["-P", "--json"]);
    assert!(screen.lines().all(|l| l.starts_with('{')), "{screen:?}");
}

#[test]
fn piped_progress_is_silent_unless_forced() {
    let f = Fixture::new();
    tree(&f);
    let out = f.sync(&["-P"]);
    assert_eq!(stderr(&out), "");
    f.write("src/a", vec![b'y'; 1024]);
    let out = f.sync(&["--progress=always"]);
    let text = stderr(&out);
    assert!(text.contains("\x1b[2K"), "{text:?}");
    assert!(
        text.contains("sy: 1 file written, 1.0 KiB moved for 9.0 MiB represented"),
        "{text:?}"
    );
}

/// Ctrl-C with the display up: the bar is cleared before the line that says what was done, no
/// closing line claims what the run saved, and the count said how many files were left.
#[test]
fn ctrl_c_clears_the_bar_and_claims_no_savings() {
    use std::io::Read;
    let f = Fixture::new();
    f.write("src/big", vec![7u8; 16 << 20]);
    f.write("src/small", "s");
    let mut sy = Command::new(env!("CARGO_BIN_EXE_sy"));
    let mut child = crate::util::default_signal_actions(&mut sy)
        .env("XDG_CONFIG_HOME", f.path(".config"))
        .env("COLUMNS", "120")
        .args([
            "--progress=always",
            "--bwlimit",
            "2M",
            &f.src_slash(),
            "dst",
        ])
        .current_dir(f.root())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    // The bar shows bytes moving: the big file is under way.
    while !String::from_utf8_lossy(&seen).contains("KiB/16.00 MiB") {
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0, "sy ended early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    err.read_to_end(&mut seen).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let screen = String::from_utf8_lossy(&seen);
    assert!(screen.contains("file left"), "{screen:?}");
    let (before, after) = screen
        .split_once("sy: stopped by SIGINT")
        .unwrap_or_else(|| panic!("{screen:?}"));
    assert!(
        before.ends_with("\r\x1b[2K"),
        "the bar was left: {screen:?}"
    );
    assert!(
        !after.contains("saved") && !after.contains('['),
        "{after:?}"
    );
}
