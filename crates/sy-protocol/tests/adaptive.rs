//! `--compress=auto`: what it negotiates with new and old peers, and that data arrives intact
//! whichever way each side compresses.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use sy_protocol::{
    CompressionPolicy, Endpoint, HEADER_LEN, Hello, MAGIC, Message, PROTOCOL_VERSIONS, RequestId,
    Role,
};

use crate::util::{connected, deliver, drain};

/// `hello` as a peer that predates adaptive sessions encodes it: without the flags byte.
fn old_hello_bytes(hello: &Hello) -> BytesMut {
    let mut bytes = BytesMut::new();
    hello.encode(&mut bytes);
    bytes.truncate(bytes.len() - 1);
    let body_len = (bytes.len() - MAGIC.len() - HEADER_LEN) as u32;
    bytes[MAGIC.len()..MAGIC.len() + 4].copy_from_slice(&body_len.to_be_bytes());
    bytes
}

/// Text that zstd shrinks and noise that it cannot, interleaved.
fn mixed_data(len: usize) -> Bytes {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut data = Vec::with_capacity(len);
    let mut line = 0u64;
    while data.len() < len {
        if line % 7 == 3 {
            for _ in 0..512 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                data.push(state as u8);
            }
        } else {
            data.extend_from_slice(
                format!(
                    "2026-12-07T19:{:02}:00Z INFO request {line} served in 3 ms\n",
                    line % 60
                )
                .as_bytes(),
            );
        }
        line += 1;
    }
    data.truncate(len);
    Bytes::from(data)
}

/// An application log: what zstd shrinks several times.
fn log_text(len: usize) -> Bytes {
    let mut data = Vec::with_capacity(len + 100);
    let mut line = 0u64;
    while data.len() < len {
        data.extend_from_slice(
            format!(
                "2026-12-07T19:{:02}:{:02}Z INFO worker {} request {line} served in {} ms\n",
                line / 60 % 60,
                line % 60,
                line % 8,
                line * 7919 % 300
            )
            .as_bytes(),
        );
        line += 1;
    }
    data.truncate(len);
    Bytes::from(data)
}

/// Sends `data` as file chunks (every other one stored, as a sender does with data it judged
/// incompressible) and a flush, and returns what the peer decoded.
fn send_file(from: &mut Endpoint, to: &mut Endpoint, data: &Bytes) -> Vec<Message> {
    let mut sent = Vec::new();
    for (index, chunk) in data.chunks(64 << 10).enumerate() {
        let message = Message::FileChunk {
            id: RequestId(1),
            offset: (index * (64 << 10)) as u64,
            data: data.slice_ref(chunk),
        };
        if index % 2 == 0 {
            from.send(&message).unwrap();
        } else {
            from.send_stored(&message).unwrap();
        }
        sent.push(message);
        // Some reads on the way, as a real link interleaves them.
        if index % 5 == 0 {
            deliver(from, to);
        }
    }
    from.flush().unwrap();
    sent.push(Message::Flush);
    deliver(from, to);
    let received = drain(to);
    assert_eq!(received, sent);
    received
}

#[test]
fn auto_with_a_new_agent_is_an_adaptive_session_on_both_sides() {
    let client = Hello::new(1).with_policy(CompressionPolicy::Auto);
    let (client, agent) = connected(client, Hello::new(2));
    let session = *client.session().unwrap();
    assert_eq!(agent.session(), Some(&session));
    assert!(session.adaptive);
    assert_eq!(session.policy(), CompressionPolicy::Auto);
    assert!(session.compression.is_some());
}

#[test]
fn auto_with_an_old_agent_falls_back_to_no_compression_and_still_works() {
    // The old agent's Hello has no flags byte.
    let mut client = Endpoint::new(
        Role::Client,
        Hello::new(1).with_policy(CompressionPolicy::Auto),
    );
    let old_agent_hello = Hello::new(2);
    client.receive(&old_hello_bytes(&old_agent_hello));
    assert_eq!(client.poll_message().unwrap(), None);
    let session = *client.session().unwrap();
    assert_eq!(session.policy(), CompressionPolicy::Never);

    // The old agent reads the client's Hello up to the fields it knows: no fixed wish, so it
    // agrees on no compression too. (Simulated by an agent that cannot run adaptive sessions.)
    let mut agent_hello = Hello::new(2);
    agent_hello.adaptive = false;
    let mut agent = Endpoint::new(Role::Agent, agent_hello);
    let client_hello = client.take_output();
    let decoded = Hello::decode(
        &mut BytesMut::from(&client_hello[..]),
        false,
        PROTOCOL_VERSIONS,
    )
    .unwrap()
    .unwrap();
    assert_eq!(decoded.want_compression, None);
    assert!(decoded.want_adaptive);
    agent.receive(&client_hello);
    assert_eq!(agent.poll_message().unwrap(), None);
    assert_eq!(agent.session().unwrap().compression, None);
    assert_eq!(agent.session().unwrap().policy(), CompressionPolicy::Never);

    let data = mixed_data(1 << 20);
    send_file(&mut client, &mut agent, &data);
    assert_eq!(
        client.stats().sent.wire,
        client.stats().sent.logical,
        "nothing compressed, no block layer"
    );
}

#[test]
fn an_old_client_never_gets_an_adaptive_session() {
    let mut agent = Endpoint::new(Role::Agent, Hello::new(2));
    agent.receive(&old_hello_bytes(&Hello::new(1)));
    assert_eq!(agent.poll_message().unwrap(), None);
    assert_eq!(agent.session().unwrap().policy(), CompressionPolicy::Never);

    let mut agent = Endpoint::new(Role::Agent, Hello::new(2));
    agent.receive(&old_hello_bytes(&Hello::new(1).with_compression(5)));
    assert_eq!(agent.poll_message().unwrap(), None);
    assert_eq!(
        agent.session().unwrap().policy(),
        CompressionPolicy::Always { level: 5 }
    );
}

#[test]
fn data_round_trips_byte_identical_in_every_mode() {
    let data = mixed_data(3 << 20);
    for policy in [
        CompressionPolicy::Never,
        CompressionPolicy::Always { level: 3 },
        CompressionPolicy::Auto,
    ] {
        let (mut client, mut agent) = connected(Hello::new(1).with_policy(policy), Hello::new(2));
        assert_eq!(client.session().unwrap().policy(), policy);
        // Push, then pull: both directions.
        let pushed = send_file(&mut client, &mut agent, &data);
        let pulled = send_file(&mut agent, &mut client, &data);
        for received in [pushed, pulled] {
            let mut joined = Vec::new();
            for message in received {
                if let Message::FileChunk { data, .. } = message {
                    joined.extend_from_slice(&data);
                }
            }
            assert!(joined[..] == data[..], "{policy}: data differs");
        }
        assert_eq!(agent.stats().received.logical, client.stats().sent.logical);
    }
}

#[test]
fn auto_over_a_slow_link_compresses_and_over_an_idle_one_stores() {
    let text_only = log_text(8 << 20);
    let (mut client, mut agent) = connected(
        Hello::new(1).with_policy(CompressionPolicy::Auto),
        Hello::new(2),
    );
    // A link that drains 1 MB/s: the writer waits for it after each write. Slow enough that
    // compressing pays by a wide margin even on a loaded machine (the governor measures real
    // time: at 5 MB/s a test run beside a build once saw the compressor as the bottleneck).
    let rate = 1e6;
    let (mut written, mut busy) = (0u64, Duration::ZERO);
    for (index, chunk) in text_only.chunks(64 << 10).enumerate() {
        client.link_progress(written, busy);
        client
            .send(&Message::FileChunk {
                id: RequestId(1),
                offset: (index * (64 << 10)) as u64,
                data: text_only.slice_ref(chunk),
            })
            .unwrap();
        let out = client.take_output();
        let pause = Duration::from_secs_f64(out.len() as f64 / rate);
        std::thread::sleep(pause);
        busy += pause;
        written += out.len() as u64;
        agent.receive(&out);
        drain(&mut agent);
    }
    client.flush().unwrap();
    // What counts is what crossed the link (at the end the governor may be in one of its
    // stored check windows).
    let sent = client.stats().sent;
    assert!(
        sent.wire * 2 < sent.logical,
        "text over a slow link: {} wire bytes for {}",
        sent.wire,
        sent.logical
    );

    // The agent's writer is never blocked: its link is not the bottleneck. (At first an idle
    // link says nothing: the buffers on the way are filling. The file goes six times, more
    // than they hold.)
    let mut written = 0u64;
    let mut received = 0;
    for round in 0..6u64 {
        for (index, chunk) in text_only.chunks(64 << 10).enumerate() {
            agent.link_progress(written, Duration::ZERO);
            agent
                .send(&Message::FileChunk {
                    id: RequestId(2 + round),
                    offset: (index * (64 << 10)) as u64,
                    data: text_only.slice_ref(chunk),
                })
                .unwrap();
            let out = agent.take_output();
            written += out.len() as u64;
            client.receive(&out);
            if index % 8 == 0 {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        received += drain(&mut client).len();
    }
    assert!(!agent.compressing(), "an idle link: stored");
    agent.flush().unwrap();
    deliver(&mut agent, &mut client);
    received += drain(&mut client).len();
    assert_eq!(received, 6 * text_only.chunks(64 << 10).count() + 1);
}
