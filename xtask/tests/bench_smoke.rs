//! End to end: `xtask bench --quick` on one small scenario, locally and over its own sshd, with rsync
//! and the ceiling (no sy, so no release build); and to and from a bucket of moto's S3 server with
//! rclone. Skipped loudly without root, sshd, rsync, moto or rclone; a failure then under
//! `SY_REQUIRE_SSHD=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// `true` when `available`; otherwise the test is skipped loudly, or fails under
/// `SY_REQUIRE_SSHD=1` (CI: root, with rsync and OpenSSH installed) so that CI never passes a
/// test it did not run. The rule of sy-cli's `util::require`; xtask shares no code with the
/// crates it measures.
fn require(available: bool, missing: &str) -> bool {
    if !available {
        assert!(
            std::env::var_os("SY_REQUIRE_SSHD").is_none_or(|v| v != "1"),
            "SY_REQUIRE_SSHD=1, but the bench smoke test {missing}"
        );
        // Written to stderr itself: libtest would swallow `eprintln!` of a test that passes.
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            format!(
                "SKIPPED the bench smoke test: it {missing} \
                 (SY_REQUIRE_SSHD=1 makes this a failure)\n"
            )
            .as_bytes(),
        );
    }
    available
}

#[test]
fn quick_bench_measures_time_memory_and_wire_bytes() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let usable = require(root, "needs root to start its sshd (run the tests as root)")
        && require(
            Path::new("/usr/sbin/sshd").exists(),
            "needs /usr/sbin/sshd (apt-get install openssh-server)",
        )
        && require(
            Command::new("rsync").arg("--version").output().is_ok(),
            "needs rsync on PATH (apt-get install rsync)",
        );
    if !usable {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "bench",
            "--quick",
            "--scenarios",
            "W4",
            "--targets",
            "local,ssh",
            "--tools",
            "rsync,cp",
            "--out",
        ])
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("| W4 256 MiB text log"), "{stdout}");

    let json_path = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
    let summary = |target: &str, tool: &str| {
        report["summaries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["target"] == target && s["tool"] == tool)
            .cloned()
            .unwrap()
    };
    let log_bytes = 256.0 * 1024.0 * 1024.0 / 64.0;
    for tool in ["rsync", "cp"] {
        let local = summary("local", tool);
        assert_eq!(local["status"], "ok", "{local}");
        assert!(local["wall_s"]["median"].as_f64().unwrap() > 0.0);
        assert!(local["max_rss_kib"]["median"].as_f64().unwrap() > 0.0);
        assert!(local["wire_bytes"].is_null(), "no wire locally: {local}");

        let ssh = summary("ssh", tool);
        assert_eq!(ssh["status"], "ok", "{ssh}");
        let wire = ssh["wire_bytes"]["median"].as_f64().unwrap();
        // Uncompressed, the whole file crosses the wire once, plus the ssh handshake and framing.
        assert!(
            wire > log_bytes && wire < log_bytes * 1.1,
            "{tool}: {wire} bytes on the wire"
        );
        assert!(
            ssh["remote_max_rss_kib"]["median"].as_f64().unwrap() > 0.0,
            "{ssh}"
        );
    }
}

#[test]
fn quick_bench_of_a_bucket_counts_requests_by_kind() {
    let moto = std::env::var_os("SY_MOTO_SERVER").map_or_else(
        || PathBuf::from("/opt/sy-moto/bin/moto_server"),
        PathBuf::from,
    );
    let usable = require(
        moto.is_file(),
        "needs moto's S3 server (installed by .ci/run, or named by SY_MOTO_SERVER)",
    ) && require(
        Command::new("rclone").arg("version").output().is_ok(),
        "needs rclone on PATH (apt-get install rclone)",
    );
    if !usable {
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args([
            "bench",
            "--quick",
            "--scenarios",
            "W4,W5",
            "--targets",
            "s3,s3-pull",
            "--tools",
            "rclone",
            "--out",
        ])
        .arg(out.path())
        .env("SY_MOTO_SERVER", &moto)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json_path = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(json_path).unwrap()).unwrap();
    let requests = |target: &str, scenario: &str| {
        let summary = report["summaries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["target"] == target && s["scenario"] == scenario)
            .cloned()
            .unwrap();
        assert_eq!(summary["status"], "ok", "{summary}");
        let count = |kind: &str| summary["requests"][kind].as_u64().unwrap();
        (count("list"), count("head"), count("get"), count("put"))
    };
    // One new file: listed, put whole (4 MiB), then checked with a HEAD, as rclone does.
    assert_eq!(requests("s3", "W4"), (1, 1, 0, 1));
    // Nothing changed: rclone reads each object's mtime with a HEAD, and sends nothing.
    let (lists, heads, gets, puts) = requests("s3", "W5");
    assert!(lists >= 1 && heads > 100 && gets == 0 && puts == 0);
    // The pull of the new file: listed and fetched, nothing written to the bucket.
    assert_eq!(requests("s3-pull", "W4"), (1, 0, 1, 0));
}
