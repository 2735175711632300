//! `AgentOptions::timeout` and the agent's keepalives: an idle but healthy link survives any
//! pause, a silent one fails every call in flight with a clear error instead of hanging.
//!
//! The link's clocks are tokio's, so most of these run on a paused clock: it stands still while
//! a task works and jumps to the next timer when every task waits (but not while `Local` works
//! on a blocking thread), so a 5 s pause takes no time and a timeout is exact. The one test
//! whose peer is a real process stays on the real clock.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use sy_protocol::{Endpoint, Hello, Message, Role};
use sy_transport::{
    Agent, AgentOptions, CompressionPolicy, Error, KEEPALIVE, LinkCause, LinkFailure, Local,
    ScanOptions, ServeOptions, Transport, serve,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

fn options(timeout: Duration) -> AgentOptions {
    AgentOptions {
        location: "test:".to_owned(),
        compression: CompressionPolicy::Never,
        timeout: Some(timeout),
        read_pacing: None,
    }
}

/// Fails a test on a paused clock that has not ended within a minute of that clock: when every
/// task waits, the clock jumps to this deadline, so a deadlock fails at once instead of hanging.
async fn within_a_minute(test: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(60), test)
        .await
        .expect("the test timed out");
}

#[tokio::test(start_paused = true)]
async fn an_idle_agent_keeps_the_link_alive_past_the_timeout() {
    within_a_minute(async {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "a").unwrap();
        let (client_end, agent_end) = tokio::io::duplex(256 << 10);
        let (agent_read, agent_write) = tokio::io::split(agent_end);
        let local = Arc::new(Local::open(dir.path()).unwrap());
        let server = tokio::spawn(serve(
            local,
            agent_read,
            agent_write,
            ServeOptions::default(),
        ));
        let (read, write) = tokio::io::split(client_end);
        let timeout = KEEPALIVE * 5 / 2;
        let agent = Agent::new(read, write, options(timeout));
        assert_eq!(
            agent
                .scan(ScanOptions::default())
                .await
                .unwrap()
                .entries
                .len(),
            2
        );
        // Nothing asked, nothing to say: only the keepalives cross the link.
        tokio::time::sleep(timeout * 2).await;
        assert!(agent.failure().is_none(), "{:?}", agent.failure());
        assert_eq!(
            agent
                .scan(ScanOptions::default())
                .await
                .unwrap()
                .entries
                .len(),
            2
        );
        agent.close().await;
        server.await.unwrap().unwrap();
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_silent_agent_fails_the_call_after_the_timeout() {
    within_a_minute(async {
        let (client_end, mut agent_end) = tokio::io::duplex(256 << 10);
        // An agent that shakes hands, then never says another word (nor reads).
        let mut endpoint = Endpoint::new(Role::Agent, Hello::new(5));
        agent_end.write_all(&endpoint.take_output()).await.unwrap();
        let (read, write) = tokio::io::split(client_end);
        let timeout = Duration::from_secs(2);
        let agent = Agent::new(read, write, options(timeout));
        let mut buf = vec![0; 4096];
        let n = agent_end.read(&mut buf).await.unwrap();
        endpoint.receive(&buf[..n]);
        agent_end.write_all(&endpoint.take_output()).await.unwrap();
        let started = Instant::now();
        let error = agent
            .scan(ScanOptions::default())
            .await
            .expect_err("nobody answers");
        let took = started.elapsed();
        // Typed, so a retry layer can tell a lost link by matching: the call's error and the
        // connection's record say the same.
        assert!(
            matches!(
                &error,
                Error::LinkLost { location, cause: LinkCause::Timeout { secs: 2, .. } }
                    if location == "test:"
            ),
            "{error:?}"
        );
        assert!(
            error
                .to_string()
                .contains("no data from test: for 2 s (--timeout)"),
            "{error}"
        );
        assert!(error.is_interrupted());
        assert!(matches!(
            agent.failure(),
            Some(LinkFailure::Lost(LinkCause::Timeout { .. }))
        ));
        assert!(agent.link_lost());
        // The paused clock stood still through the handshake, so the silence began as the
        // call did: it fails at the timeout, not a moment before, and not much after.
        assert!(
            took >= timeout && took < timeout + Duration::from_millis(50),
            "{took:?}"
        );
        drop(agent_end);
    })
    .await;
}

/// The client's runtime is not polled for longer than the timeout (a suspended machine,
/// SIGSTOP) while the agent's keepalives pile up unread in a real pipe: when it resumes, the
/// stall timer and the waiting bytes are ready together, and the bytes must count.
///
/// On the real clock: the bytes must wait in an OS pipe (through `cat`, fed by a peer on a
/// thread of its own) while our runtime's thread is blocked, which the runtime notices in the
/// same step as its expired timer; a paused clock would jump ahead whenever the runtime waited
/// for such bytes. Only the gaps are slept, each just past the timeout; every other wait is
/// for an event (bytes waiting in the pipe), so a slow machine makes the test slower, not
/// wrong.
#[test]
fn a_gap_in_our_own_scheduling_is_not_the_agents_silence() {
    const TIMEOUT: Duration = Duration::from_millis(100);
    let mut cat = std::process::Command::new("cat")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let to_cat = cat.stdin.take().unwrap();
    let from_cat = cat.stdout.take().unwrap();
    // The same pipe, to see whether bytes wait in it.
    let pipe = from_cat.as_fd().try_clone_to_owned().unwrap();
    let wait_for_bytes_in_the_pipe = || {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while rustix::io::ioctl_fionread(&pipe).unwrap() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "nothing from the peer"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let (client_out, agent_in) = tokio::io::duplex(1 << 20);
    let peer = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let mut agent_in = agent_in;
            let mut write = tokio::process::ChildStdin::from_std(to_cat).unwrap();
            let mut endpoint = Endpoint::new(Role::Agent, Hello::new(5));
            write.write_all(&endpoint.take_output()).await.unwrap();
            let mut buf = vec![0; 4096];
            let n = agent_in.read(&mut buf).await.unwrap();
            endpoint.receive(&buf[..n]);
            assert!(endpoint.poll_message().unwrap().is_none());
            // A keepalive every 10 ms until the client goes away.
            loop {
                endpoint.send(&Message::Flush).unwrap();
                if write.write_all(&endpoint.take_output()).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
    });
    // The agent's hello is waiting before the client starts: the handshake cannot be late.
    wait_for_bytes_in_the_pipe();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let read = tokio::process::ChildStdout::from_std(from_cat).unwrap();
        let agent = Agent::new(read, client_out, options(TIMEOUT));
        let started = Instant::now();
        while !agent.established() && started.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(agent.established());
        // A timer that won half the time would fail one of ten rounds but once in a thousand.
        for round in 0..10 {
            // The gap: the runtime's thread blocked past the stall deadline (the last byte
            // came before the gap began), and until keepalives wait in the pipe.
            std::thread::sleep(TIMEOUT + Duration::from_millis(50));
            wait_for_bytes_in_the_pipe();
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert!(agent.failure().is_none(), "round {round}");
        }
    });
    drop(runtime);
    cat.kill().unwrap();
    cat.wait().unwrap();
    peer.join().unwrap();
}

/// The agent stops reading while a large request is still being written, and goes silent:
/// the call fails by the timeout, and closing does not wait forever on the blocked writer.
#[tokio::test(start_paused = true)]
async fn closing_a_link_stalled_mid_write_does_not_hang() {
    within_a_minute(async {
        let (client_end, mut agent_end) = tokio::io::duplex(64 << 10);
        let mut endpoint = Endpoint::new(Role::Agent, Hello::new(5));
        agent_end.write_all(&endpoint.take_output()).await.unwrap();
        let (read, write) = tokio::io::split(client_end);
        let timeout = Duration::from_millis(500);
        let agent = Agent::new(read, write, options(timeout));
        let mut buf = vec![0; 4096];
        let n = agent_end.read(&mut buf).await.unwrap();
        endpoint.receive(&buf[..n]);
        agent_end.write_all(&endpoint.take_output()).await.unwrap();
        // About a megabyte of request: far more than the pipe holds, with nobody reading.
        let paths = (0..20_000)
            .map(|i| sy_transport::RelPath::new(format!("{i:0>60}")).unwrap())
            .collect();
        let started = Instant::now();
        let digests = agent.checksums(paths, false).await;
        assert!(digests.iter().all(Result::is_err));
        let failed = started.elapsed();
        assert!(
            failed >= timeout && failed < timeout + Duration::from_millis(50),
            "{failed:?}"
        );
        // The blocked writer gets as long as the peer got to answer, then is given up on.
        let closing = Instant::now();
        agent.close().await;
        let closed = closing.elapsed();
        assert!(closed <= timeout + Duration::from_millis(50), "{closed:?}");
        drop(agent_end);
    })
    .await;
}
