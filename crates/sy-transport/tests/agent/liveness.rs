//! `AgentOptions::timeout` and the agent's keepalives: an idle but healthy link survives any
//! pause, a silent one fails every call in flight with a clear error instead of hanging.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sy_protocol::{Endpoint, Hello, Role};
use sy_transport::{
    Agent, AgentOptions, KEEPALIVE, Local, ScanOptions, ServeOptions, Transport, serve,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::run;

fn options(timeout: Duration) -> AgentOptions {
    AgentOptions {
        location: "test:".to_owned(),
        compress_level: None,
        timeout: Some(timeout),
    }
}

#[test]
fn an_idle_agent_keeps_the_link_alive_past_the_timeout() {
    run(async {
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
        assert_eq!(agent.failure(), None);
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
    });
}

#[test]
fn a_silent_agent_fails_the_call_after_the_timeout() {
    run(async {
        let (client_end, mut agent_end) = tokio::io::duplex(256 << 10);
        // An agent that shakes hands, then never says another word (nor reads).
        let mut endpoint = Endpoint::new(Role::Agent, Hello::new(5));
        agent_end.write_all(&endpoint.take_output()).await.unwrap();
        let (read, write) = tokio::io::split(client_end);
        let agent = Agent::new(read, write, options(Duration::from_secs(2)));
        let mut buf = vec![0; 4096];
        let n = agent_end.read(&mut buf).await.unwrap();
        endpoint.receive(&buf[..n]);
        agent_end.write_all(&endpoint.take_output()).await.unwrap();
        let started = Instant::now();
        let error = agent
            .scan(ScanOptions::default())
            .await
            .expect_err("nobody answers")
            .to_string();
        let took = started.elapsed();
        assert!(
            error.contains("no data from test: for 2 s (--timeout)"),
            "{error}"
        );
        assert!(took >= Duration::from_millis(1500), "{took:?}");
        assert!(took < Duration::from_secs(20), "{took:?}");
        drop(agent_end);
    });
}
