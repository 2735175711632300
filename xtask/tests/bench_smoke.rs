//! End to end: `xtask bench --quick` on one small scenario, locally and over its own sshd, with rsync
//! and the ceiling (no sy, so no release build). Skipped loudly without sshd or root; a failure
//! under `SY_REQUIRE_SSHD=1`.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn sshd_usable() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let usable = root && Path::new("/usr/sbin/sshd").exists();
    if !usable {
        assert!(
            std::env::var_os("SY_REQUIRE_SSHD").is_none_or(|v| v != "1"),
            "SY_REQUIRE_SSHD=1 but /usr/sbin/sshd is missing or we are not root"
        );
        eprintln!("SKIPPED: the bench smoke test needs root and /usr/sbin/sshd");
    }
    usable
}

#[test]
fn quick_bench_measures_time_memory_and_wire_bytes() {
    if !sshd_usable() {
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
    let rsync_installed = Command::new("rsync").arg("--version").output().is_ok();
    if !rsync_installed {
        eprintln!("rsync is not installed: checking the ceiling only");
    }
    for tool in ["rsync", "cp"]
        .into_iter()
        .filter(|t| *t != "rsync" || rsync_installed)
    {
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
