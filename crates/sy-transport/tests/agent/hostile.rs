//! Hostile peers: a client that names paths it must not touch, and an agent that sends garbage.
//! Each test fails if the check it is about is taken out.

use std::path::Path;
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use sy_protocol::{
    Encoder, Endpoint, Entry, EntryKind, ErrorKind, FileDigest, FileHeader, FilterRules, FrameKind,
    HashSupport, Hello, Limits, Message, ProtocolError, RelPath, RequestId, Role, StrongHash,
    TrafficStats,
};
use sy_transport::{
    Agent, AgentOptions, CompressionPolicy, Error, LinkCause, Local, ScanOptions, ServeOptions,
    Transport, serve,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

use super::run;

/// A client speaking raw protocol to a real agent serving `root`.
pub(super) struct RawClient {
    endpoint: Endpoint,
    io: DuplexStream,
    server: JoinHandle<sy_transport::Result<TrafficStats>>,
}

impl RawClient {
    fn start(root: &Path, hello: Hello) -> RawClient {
        let local = Local::open(root).unwrap();
        RawClient::serving(local, ServeOptions::default(), hello)
    }

    /// A client of an agent serving `local` as `options` say.
    pub(super) fn serving(local: Local, options: ServeOptions, hello: Hello) -> RawClient {
        let (client_end, agent_end) = tokio::io::duplex(1 << 20);
        let (read, write) = tokio::io::split(agent_end);
        let server = tokio::spawn(serve(Arc::new(local), read, write, options));
        RawClient {
            endpoint: Endpoint::new(Role::Client, hello),
            io: client_end,
            server,
        }
    }

    /// Messages sent before the agent's Hello would be held back: finish the handshake first.
    async fn handshake(&mut self) {
        while self.endpoint.session().is_none() {
            let hello = self.endpoint.take_output();
            self.io.write_all(&hello).await.unwrap();
            let mut buf = vec![0; 4096];
            let n = self.io.read(&mut buf).await.unwrap();
            self.endpoint.receive(&buf[..n]);
            assert_eq!(self.endpoint.poll_message().unwrap(), None);
        }
    }

    /// Bytes no encoder would write (the session is not compressed: they are frames as is).
    async fn send_raw(&mut self, bytes: &[u8]) {
        self.handshake().await;
        self.io.write_all(bytes).await.unwrap();
    }

    /// How the agent's session ended, once this side stops too.
    async fn outcome(mut self) -> sy_transport::Result<TrafficStats> {
        self.io.shutdown().await.unwrap();
        let mut sink = Vec::new();
        let _ = self.io.read_to_end(&mut sink).await;
        self.server.await.unwrap()
    }

    pub(super) async fn send(&mut self, messages: Vec<Message>) {
        self.handshake().await;
        for message in messages {
            self.endpoint.send(&message).unwrap();
        }
        self.endpoint.flush().unwrap();
        let out = self.endpoint.take_output();
        self.io.write_all(&out).await.unwrap();
    }

    pub(super) async fn recv(&mut self) -> Message {
        loop {
            match self.endpoint.poll_message().unwrap() {
                Some(Message::Flush) => {}
                Some(message) => return message,
                None => {
                    let mut buf = vec![0; 64 << 10];
                    let n = self.io.read(&mut buf).await.unwrap();
                    assert!(n > 0, "the agent hung up");
                    self.endpoint.receive(&buf[..n]);
                }
            }
        }
    }

    /// The error ending request `id`, skipping anything else.
    pub(super) async fn error_for(&mut self, id: u64) -> (ErrorKind, String) {
        loop {
            if let Message::Error(reply) = self.recv().await
                && reply.id == RequestId(id)
            {
                return (reply.kind, reply.message);
            }
        }
    }
}

pub(super) fn p(path: &str) -> RelPath {
    RelPath::new(path).unwrap()
}

/// A frame as the encoder would lay it out, whatever its body.
fn frame(kind: FrameKind, body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.push(kind.code());
    out.extend_from_slice(body);
    out
}

/// `bytes` as a length-prefixed field (short ones only: a one-byte length).
fn field(bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::try_from(bytes.len()).unwrap()];
    out.extend_from_slice(bytes);
    out
}

fn header(id: u64, path: &str, size: u64) -> FileHeader {
    FileHeader {
        id: RequestId(id),
        path: p(path),
        size,
        meta: sy_protocol::Meta {
            mode: 0o644,
            ..Default::default()
        },
        options: Default::default(),
    }
}

pub(super) fn whole_file(id: u64, path: &str, data: &'static [u8]) -> Vec<Message> {
    vec![
        Message::FileBegin(header(id, path, data.len() as u64)),
        Message::FileChunk {
            id: RequestId(id),
            offset: 0,
            data: Bytes::from_static(data),
        },
        Message::FileEnd {
            id: RequestId(id),
            digest: FileDigest::of_bytes(data),
        },
    ]
}

/// Every file beneath `dir`, as paths relative to it.
pub(super) fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            out.push(e.path().strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn paths_that_leave_the_root_end_the_session_and_nothing_is_written_outside() {
    let top = tempfile::tempdir().unwrap();
    let root = top.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let bad: [&[u8]; 6] = [
        b"../escape",
        b"/tmp/abs",
        b"a//b",
        b"a/./b",
        b"nul\0byte",
        b"a/../../b",
    ];
    run(async {
        for path in bad {
            // FileBegin id 1: path, size 4, meta, no options.
            let begin = [&[1][..], &field(path), &[4], &[0; 5], &[0]].concat();
            // TreeOps id 2, no options, one Mkdir.
            let mkdir = [&[2, 0, 1, 0][..], &field(path)].concat();
            for raw in [
                frame(FrameKind::FileBegin, &begin),
                frame(FrameKind::TreeOps, &mkdir),
            ] {
                let mut client = RawClient::start(&root, Hello::new(1));
                client.send_raw(&raw).await;
                let error = client.outcome().await.unwrap_err();
                assert!(
                    matches!(
                        &error,
                        Error::Protocol {
                            source: ProtocolError::InvalidPath { .. },
                            ..
                        }
                    ),
                    "{path:?}: {error:?}"
                );
                assert!(error.to_string().contains("unsafe path"), "{error}");
            }
        }
    });
    assert_eq!(tree(top.path()), ["root"]);
}

#[test]
fn a_request_id_reused_for_another_upload_never_commits_the_first_unverified() {
    let root = tempfile::tempdir().unwrap();
    let size = 200 << 10; // streamed, not batched
    run(async {
        let mut client = RawClient::start(root.path(), Hello::new(1));
        client
            .send(vec![
                Message::FileBegin(header(1, "big", size)),
                Message::FileChunk {
                    id: RequestId(1),
                    offset: 0,
                    data: Bytes::from(vec![b'a'; size as usize]),
                },
                // Replacing upload 1 would close its stream with every byte in: committed
                // without its digest ever being checked.
                Message::FileBegin(header(1, "big", size)),
                Message::FileEnd {
                    id: RequestId(1),
                    digest: FileDigest::from_bytes([0; 32]),
                },
            ])
            .await;
        let mut errors = Vec::new();
        while errors.len() < 2 {
            match client.recv().await {
                Message::Written {
                    id: RequestId(1), ..
                } => {
                    panic!("an upload was committed without a digest check")
                }
                Message::Error(reply) if reply.id == RequestId(1) => errors.push(reply.message),
                _ => {}
            }
        }
        assert!(errors[0].contains("already in use"), "{errors:?}");
        assert!(errors[1].contains("content check failed"), "{errors:?}");
    });
    assert!(!root.path().join("big").exists());
}

#[test]
fn a_delta_reusing_an_open_uploads_id_is_refused_and_the_upload_goes_on() {
    let root = tempfile::tempdir().unwrap();
    let size = 200 << 10;
    let data = vec![b'a'; size as usize];
    run(async {
        let mut client = RawClient::start(root.path(), Hello::new(1));
        client
            .send(vec![
                Message::FileBegin(header(1, "big", size)),
                Message::DeltaBegin {
                    header: header(1, "other", 3),
                    basis: sy_protocol::Basis::Existing,
                },
                Message::FileChunk {
                    id: RequestId(1),
                    offset: 0,
                    data: Bytes::from(data.clone()),
                },
                Message::FileEnd {
                    id: RequestId(1),
                    digest: FileDigest::of_bytes(&data),
                },
            ])
            .await;
        let (_, message) = client.error_for(1).await;
        assert!(message.contains("already in use"), "{message}");
        loop {
            match client.recv().await {
                Message::Written {
                    id: RequestId(1), ..
                } => break,
                Message::Error(reply) => panic!("the upload failed: {}", reply.message),
                _ => {}
            }
        }
    });
    assert_eq!(
        std::fs::read(root.path().join("big")).unwrap().len(),
        200 << 10
    );
    assert!(!root.path().join("other").exists());
}

#[test]
fn a_client_cannot_hold_more_transfers_open_than_the_bound() {
    let root = tempfile::tempdir().unwrap();
    let bound = 256;
    run(async {
        let mut client = RawClient::start(root.path(), Hello::new(1));
        // Uploads begun and never ended, then one more.
        let opened: Vec<Message> = (1..=bound + 1)
            .map(|id| Message::FileBegin(header(id, &format!("f{id}"), 10)))
            .collect();
        client.send(opened).await;
        let (_, message) = client.error_for(bound + 1).await;
        assert!(
            message.contains(&format!(
                "f{}: more than {bound} transfers open at once",
                bound + 1
            )),
            "{message}"
        );
        // Ending one makes room again.
        client
            .send(vec![
                Message::FileChunk {
                    id: RequestId(1),
                    offset: 0,
                    data: Bytes::from_static(b"0123456789"),
                },
                Message::FileEnd {
                    id: RequestId(1),
                    digest: FileDigest::of_bytes(b"0123456789"),
                },
                Message::FileBegin(header(bound + 2, "late", 1)),
                Message::FileChunk {
                    id: RequestId(bound + 2),
                    offset: 0,
                    data: Bytes::from_static(b"x"),
                },
                Message::FileEnd {
                    id: RequestId(bound + 2),
                    digest: FileDigest::of_bytes(b"x"),
                },
                Message::Flush,
            ])
            .await;
        let mut written = 0;
        while written < 2 {
            match client.recv().await {
                Message::Written { .. } => written += 1,
                Message::Error(reply) => panic!("{}", reply.message),
                _ => {}
            }
        }
    });
    assert_eq!(std::fs::read(root.path().join("late")).unwrap(), b"x");
}

#[test]
fn a_symlink_the_client_created_is_never_followed_by_a_later_write() {
    let top = tempfile::tempdir().unwrap();
    let root = top.path().join("root");
    let outside = top.path().join("outside");
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&outside).unwrap();
    run(async {
        let mut client = RawClient::start(&root, Hello::new(1));
        client
            .send(vec![Message::TreeOps {
                id: RequestId(1),
                meta: Default::default(),
                ops: vec![sy_protocol::TreeOp::Symlink {
                    path: p("link"),
                    target: outside.as_os_str().as_encoded_bytes().to_vec(),
                    meta: Default::default(),
                }],
            }])
            .await;
        assert_eq!(client.recv().await, Message::Ok { id: RequestId(1) });
        client.send(whole_file(2, "link/evil", b"evil")).await;
        let (kind, message) = client.error_for(2).await;
        assert_eq!(kind, ErrorKind::InvalidPath, "{message}");
        assert!(message.contains("symbolic link"), "{message}");
    });
    assert!(tree(&outside).is_empty(), "{:?}", tree(&outside));
}

#[test]
fn reads_outside_the_scanned_source_set_are_refused() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("public")).unwrap();
    std::fs::write(root.path().join("public/a"), b"shared").unwrap();
    std::fs::write(root.path().join("secret"), b"private").unwrap();
    run(async {
        let mut client = RawClient::start(root.path(), Hello::new(1));
        let read = |id: u64, path: &str| Message::ReadRequest {
            id: RequestId(id),
            path: p(path),
            follow_links: false,
            delta: false,
        };
        // Before any scan nothing is readable.
        client.send(vec![read(1, "public/a")]).await;
        let (kind, message) = client.error_for(1).await;
        assert_eq!(kind, ErrorKind::InvalidPath);
        assert!(message.contains("outside the source set"), "{message}");
        client
            .send(vec![Message::ScanRequest {
                id: RequestId(2),
                base: p("public"),
                filter: FilterRules::default(),
                follow_links: false,
            }])
            .await;
        while !matches!(client.recv().await, Message::ScanDone { .. }) {}
        client.send(vec![read(3, "secret")]).await;
        let (kind, _) = client.error_for(3).await;
        assert_eq!(kind, ErrorKind::InvalidPath);
        client
            .send(vec![Message::ChecksumRequest {
                id: RequestId(4),
                paths: vec![p("secret")],
                follow_links: false,
            }])
            .await;
        let (kind, _) = client.error_for(4).await;
        assert_eq!(kind, ErrorKind::InvalidPath);
        client.send(vec![read(5, "public/a")]).await;
        loop {
            match client.recv().await {
                Message::FileBegin(h) => break assert_eq!(h.path, p("public/a")),
                Message::Error(reply) => panic!("{reply:?}"),
                _ => {}
            }
        }
    });
}

#[test]
fn a_signature_with_hashes_longer_than_negotiated_is_refused() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), vec![7u8; 10_000]).unwrap();
    let mut hello = Hello::new(1);
    hello.hashes = vec![HashSupport {
        kind: StrongHash::Xxh3_128,
        max_len: 8,
    }];
    run(async {
        let mut client = RawClient::start(root.path(), hello);
        client
            .send(vec![Message::ScanRequest {
                id: RequestId(1),
                base: RelPath::root(),
                filter: FilterRules::default(),
                follow_links: false,
            }])
            .await;
        while !matches!(client.recv().await, Message::ScanDone { .. }) {}
        let options = sy_delta::SignatureOptions::for_len(10_000).with_strong_len(16);
        let signature = sy_delta::Signature::calculate(&[7u8; 10_000][..], options).unwrap();
        client
            .send(vec![
                Message::ReadRequest {
                    id: RequestId(2),
                    path: p("f"),
                    follow_links: false,
                    delta: true,
                },
                Message::SignatureChunk {
                    id: RequestId(2),
                    data: Bytes::from(signature.to_bytes()),
                },
                Message::SignatureEnd { id: RequestId(2) },
            ])
            .await;
        let (_, message) = client.error_for(2).await;
        assert!(
            message.contains("over the negotiated maximum of 8"),
            "{message}"
        );
    });
}

/// A client facing an agent that writes `bytes` and then closes (or stays open).
async fn client_error(bytes: Vec<u8>, close: bool) -> Error {
    let (client_end, mut agent_end) = tokio::io::duplex(1 << 20);
    agent_end.write_all(&bytes).await.unwrap();
    let _keep = if close {
        drop(agent_end);
        None
    } else {
        Some(agent_end)
    };
    let (read, write) = tokio::io::split(client_end);
    let agent = Agent::new(
        read,
        write,
        AgentOptions {
            location: "host:dir".to_owned(),
            compression: CompressionPolicy::Never,
            timeout: None,
            read_pacing: None,
        },
    );
    agent
        .scan(ScanOptions::default())
        .await
        .expect_err("a broken agent cannot answer")
}

fn agent_hello() -> BytesMut {
    let mut bytes = BytesMut::new();
    Hello::new(9).encode(&mut bytes);
    bytes
}

#[test]
fn junk_before_the_handshake_is_shown_as_the_remote_shells_output() {
    run(async {
        let error = client_error(
            b"Welcome to example.org!\nLast login: never\n".to_vec(),
            false,
        )
        .await
        .to_string();
        assert!(error.contains("remote shell printed"), "{error}");
        assert!(error.contains("Welcome to example.org!"), "{error}");
        assert!(error.contains("host:dir"), "{error}");
    });
}

#[test]
fn broken_streams_from_the_agent_are_clear_errors() {
    run(async {
        // A frame header announcing 4 GiB: refused before any allocation.
        let mut huge = agent_hello();
        huge.put_u32(0xffff_fff0);
        huge.put_u8(FrameKind::ScanEntries.code());
        let error = client_error(huge.to_vec(), false).await;
        assert!(
            matches!(
                &error,
                Error::Protocol {
                    source: ProtocolError::FrameTooLarge { .. },
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("frame limit"), "{error}");

        let mut unknown = agent_hello();
        unknown.put_u32(1);
        unknown.put_u8(0x7e);
        unknown.put_u8(0);
        let error = client_error(unknown.to_vec(), false).await.to_string();
        assert!(error.contains("unknown frame kind 0x7e"), "{error}");

        let mut truncated = agent_hello();
        truncated.put_u32(100);
        truncated.put_u8(FrameKind::ScanEntries.code());
        truncated.put_slice(&[1, 2, 3]);
        // A stream cut short is a lost link, not a broken peer: worth connecting again.
        let error = client_error(truncated.to_vec(), true).await;
        assert!(
            matches!(
                &error,
                Error::LinkLost {
                    cause: LinkCause::Cut(ProtocolError::Truncated { .. }),
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("stream ended inside"), "{error}");

        let error = client_error(agent_hello()[..10].to_vec(), true).await;
        assert!(error.is_interrupted(), "{error:?}");
        assert!(
            error.to_string().contains("closed before the handshake"),
            "{error}"
        );
    });
}

/// An agent that answers the first scan with the frames `answer` makes for its request id.
async fn scan_answered_with(
    answer: impl FnOnce(RequestId) -> Vec<u8> + Send + 'static,
) -> sy_transport::Result<sy_transport::Scan> {
    let (client_end, mut agent_end) = tokio::io::duplex(1 << 20);
    let (read, write) = tokio::io::split(client_end);
    let options = AgentOptions {
        compression: CompressionPolicy::Never,
        ..AgentOptions::default()
    };
    let agent = Agent::new(read, write, options);
    let fake = tokio::spawn(async move {
        let mut endpoint = Endpoint::new(Role::Agent, Hello::new(3));
        agent_end.write_all(&endpoint.take_output()).await.unwrap();
        let mut buf = vec![0; 1 << 16];
        let id = loop {
            let n = agent_end.read(&mut buf).await.unwrap();
            endpoint.receive(&buf[..n]);
            if let Some(Message::ScanRequest { id, .. }) = endpoint.poll_message().unwrap() {
                break id;
            }
        };
        // Nobody asked for compression: frames go on the wire as they are.
        agent_end.write_all(&answer(id)).await.unwrap();
        agent_end
    });
    let scan = agent.scan(ScanOptions::default()).await;
    drop(fake.await.unwrap());
    scan
}

/// The frames of a scan's answer listing `entries`.
fn listing(id: RequestId, entries: Vec<Entry>) -> Vec<u8> {
    let count = entries.len() as u64;
    let mut buf = BytesMut::new();
    let mut encoder = Encoder::new(Limits::default());
    for message in [
        Message::ScanEntries { id, entries },
        Message::ScanDone { id, entries: count },
        Message::Flush,
    ] {
        encoder.encode(&message, &mut buf).unwrap();
    }
    buf.to_vec()
}

fn entry(path: &str, kind: EntryKind) -> Entry {
    Entry {
        path: p(path),
        kind,
        size: 0,
        meta: Default::default(),
        dev: 0,
        ino: 0,
        nlink: 1,
    }
}

#[test]
fn an_agent_listing_entries_beneath_a_symlink_or_outside_the_tree_is_refused() {
    run(async {
        let through_link = vec![
            entry("", EntryKind::Dir),
            entry(
                "l",
                EntryKind::Symlink {
                    target: b"/etc".to_vec(),
                },
            ),
            entry("l/passwd", EntryKind::File),
        ];
        let error = scan_answered_with(|id| listing(id, through_link))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("not inside a directory it listed before"),
            "{error}"
        );

        // ScanEntries: the root, then a file at `../x` (no encoder writes that path).
        let escaping = |id: RequestId| {
            let file = |path: &[u8], kind: u8| {
                [&field(path)[..], &[kind, 0], &[0; 5], &[0, 0, 1]].concat()
            };
            let body = [
                &[u8::try_from(id.0).unwrap(), 2][..],
                &file(b"", 1),
                &file(b"../x", 0),
            ]
            .concat();
            frame(FrameKind::ScanEntries, &body)
        };
        let error = scan_answered_with(escaping).await.unwrap_err();
        assert!(
            matches!(
                &error,
                Error::Protocol {
                    source: ProtocolError::InvalidPath { field: "path", .. },
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("unsafe path"), "{error}");

        let fine = vec![
            entry("", EntryKind::Dir),
            entry("d", EntryKind::Dir),
            entry("d/f", EntryKind::File),
        ];
        let scan = scan_answered_with(|id| listing(id, fine)).await.unwrap();
        assert_eq!(scan.entries.len(), 3);
    });
}

#[test]
fn an_agent_listing_one_path_twice_is_refused() {
    run(async {
        // `a` as a directory, then as a link out of the tree, then `a/x`: the parent check
        // alone would take `a/x` as inside the directory.
        let dir_then_link = vec![
            entry("", EntryKind::Dir),
            entry("a", EntryKind::Dir),
            entry(
                "a",
                EntryKind::Symlink {
                    target: b"/etc".to_vec(),
                },
            ),
            entry("a/x", EntryKind::File),
        ];
        let error = scan_answered_with(|id| listing(id, dir_then_link))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("the agent listed a, which it had listed already"),
            "{error}"
        );

        let file_twice = vec![
            entry("", EntryKind::Dir),
            entry("f", EntryKind::File),
            entry("f", EntryKind::File),
        ];
        let error = scan_answered_with(|id| listing(id, file_twice))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("the agent listed f, which it had listed already"),
            "{error}"
        );
    });
}

#[test]
fn an_agent_fed_garbage_ends_with_a_clear_error_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    run(async {
        for garbage in [b"GET / HTTP/1.1\r\nHost: example\r\n\r\n".to_vec(), {
            let mut hello = BytesMut::new();
            Hello::new(5).encode(&mut hello);
            hello.put_u32(0xffff_fff0);
            hello.put_u8(FrameKind::FileChunk.code());
            hello.to_vec()
        }] {
            let (mut client_end, agent_end) = tokio::io::duplex(1 << 20);
            let (read, write) = tokio::io::split(agent_end);
            let local = Arc::new(Local::open(root.path()).unwrap());
            let server = tokio::spawn(serve(local, read, write, ServeOptions::default()));
            client_end.write_all(&garbage).await.unwrap();
            // Only our sending half ends: the agent can still write its Hello, so what it reports
            // is the garbage, not a broken pipe that raced with reading it.
            client_end.shutdown().await.unwrap();
            let error = server.await.unwrap().unwrap_err().to_string();
            drop(client_end);
            assert!(
                error.contains("printed text") || error.contains("frame limit"),
                "{error}"
            );
        }
    });
    assert!(tree(root.path()).is_empty());
}
