//! Valid streams cut anywhere decode to the same messages.

use bytes::{Bytes, BytesMut};
use sy_protocol::{Decoder, Endpoint, Hello, Limits, Message, RequestId, Role};

use crate::util::{drain, encode_all, one_of_each};

fn decode_in_pieces(stream: &[u8], cuts: &[usize]) -> Vec<Message> {
    let mut decoder = Decoder::new(Limits::default());
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&stream.len())) {
        buf.extend_from_slice(&stream[start..end]);
        start = end;
        while let Some(message) = decoder.decode(&mut buf).unwrap() {
            out.push(message);
        }
    }
    assert_eq!(decoder.decode_eof(&mut buf).unwrap(), None);
    out
}

#[test]
fn frame_stream_split_at_every_byte_boundary() {
    let messages = one_of_each();
    let stream = encode_all(&messages);
    for cut in 0..=stream.len() {
        assert_eq!(decode_in_pieces(&stream, &[cut]), messages, "cut at {cut}");
    }
}

#[test]
fn frame_stream_fed_one_byte_at_a_time() {
    let messages = one_of_each();
    let stream = encode_all(&messages);
    let cuts: Vec<usize> = (1..stream.len()).collect();
    assert_eq!(decode_in_pieces(&stream, &cuts), messages);
}

#[test]
fn partial_frame_consumes_nothing() {
    let stream = encode_all(&one_of_each()[7..8]);
    let mut decoder = Decoder::new(Limits::default());
    for len in 0..stream.len() {
        let mut buf = BytesMut::from(&stream[..len]);
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        assert_eq!(&buf[..], &stream[..len], "decode consumed part of a frame");
    }
}

/// Everything `client` sends (handshake included), with a pipelined batch, as one byte string.
/// Every third message goes in a stored block; `big` ends the batch as a stored chunk.
fn client_stream(hello: Hello, big: Bytes) -> (Vec<u8>, Vec<Message>) {
    let mut client = Endpoint::new(Role::Client, hello.clone());
    let mut agent = Endpoint::new(Role::Agent, Hello::new(2));
    let mut stream = client.take_output().to_vec();
    client.receive(&agent.take_output());
    assert_eq!(client.poll_message().unwrap(), None);
    let mut sent = one_of_each();
    for (index, message) in sent.iter().enumerate() {
        if index % 3 == 0 {
            client.send_stored(message).unwrap();
        } else {
            client.send(message).unwrap();
        }
    }
    let big = Message::FileChunk {
        id: RequestId(9),
        offset: 0,
        data: big,
    };
    client.send_stored(&big).unwrap();
    client.send(&Message::Goodbye).unwrap();
    sent.extend([big, Message::Goodbye]);
    stream.extend_from_slice(&client.take_output());
    drop(agent.take_output());
    (stream, sent)
}

fn endpoint_in_two_pieces(stream: &[u8], cut: usize) -> Vec<Message> {
    let mut agent = Endpoint::new(Role::Agent, Hello::new(2));
    agent.receive(&stream[..cut]);
    let mut out = drain(&mut agent);
    agent.receive(&stream[cut..]);
    agent.receive_eof();
    out.extend(drain(&mut agent));
    out
}

#[test]
fn endpoint_stream_split_at_every_byte_boundary_plain_and_compressed() {
    for hello in [Hello::new(1), Hello::new(1).with_compression(3)] {
        let (stream, sent) = client_stream(hello.clone(), Bytes::from(vec![b'x'; 3000]));
        for cut in 0..=stream.len() {
            assert_eq!(
                endpoint_in_two_pieces(&stream, cut),
                sent,
                "cut at {cut} of {}, compression {:?}",
                stream.len(),
                hello.want_compression
            );
        }
    }
}

#[test]
fn compressed_endpoint_fed_one_byte_at_a_time() {
    // Over one block of stored data, so blocks of both modes alternate.
    let noise: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let (stream, sent) = client_stream(Hello::new(1).with_compression(5), Bytes::from(noise));
    let mut agent = Endpoint::new(Role::Agent, Hello::new(2));
    let mut out = Vec::new();
    for byte in &stream {
        agent.receive(std::slice::from_ref(byte));
        out.extend(drain(&mut agent));
    }
    agent.receive_eof();
    out.extend(drain(&mut agent));
    assert_eq!(out, sent);
}
