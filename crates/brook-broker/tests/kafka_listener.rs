//! The Kafka-protocol listener (`kafka.listeners`, issue 14 in progress) spoken to as a Kafka
//! client would, with the `kafka-protocol` codec on the client side: ApiVersions in a flexible
//! version lists exactly what is implemented; a client newer than the broker gets
//! UNSUPPORTED_VERSION in v0; and bad frames — a length over `socket.request.max.bytes`, an
//! unknown API key, a truncated header, an API not implemented — close that connection only,
//! while the listener keeps serving new ones.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use common::TestBroker;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, RequestHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(5);

async fn broker(max_request: &str) -> (TestBroker, SocketAddr) {
    let b = TestBroker::start_with(&[
        ("kafka.listeners", "PLAINTEXT://127.0.0.1:0"),
        ("socket.request.max.bytes", max_request),
    ])
    .await;
    let addr = b.handle().kafka_addr().expect("kafka.listeners is set");
    (b, addr)
}

/// A request frame: length prefix, header at the API's header version, body.
fn request_frame<T: Encodable>(api: ApiKey, version: i16, correlation: i32, body: &T) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation)
        .with_client_id(Some(StrBytes::from_static_str("brook-test")))
        .encode(&mut buf, api.request_header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf.freeze()
}

/// Reads one response frame; `None` when the broker closed the connection instead.
async fn read_frame(s: &mut TcpStream) -> Option<Bytes> {
    let read = async {
        let mut prefix = [0u8; 4];
        s.read_exact(&mut prefix).await.ok()?;
        let mut body = vec![0u8; i32::from_be_bytes(prefix) as usize];
        s.read_exact(&mut body).await.ok()?;
        Some(Bytes::from(body))
    };
    tokio::time::timeout(TIMEOUT, read)
        .await
        .expect("the broker answers or closes")
}

/// Sends ApiVersions at `version` and decodes the answer (header v0, then the body at the
/// version the broker chose: `version`, or 0 for an unsupported one).
async fn api_versions(s: &mut TcpStream, version: i16, correlation: i32) -> ApiVersionsResponse {
    let req = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("brook-test"))
        .with_client_software_version(StrBytes::from_static_str("1.0"));
    let frame = request_frame(ApiKey::ApiVersions, version.min(4), correlation, &req);
    let mut frame = BytesMut::from(&frame[..]);
    // An "unsupported" version is the same bytes with a higher version number.
    frame[6..8].copy_from_slice(&version.to_be_bytes());
    s.write_all(&frame).await.unwrap();
    let mut resp = read_frame(s).await.expect("an ApiVersions answer");
    assert_eq!(
        resp.get_i32(),
        correlation,
        "responses carry the correlation id"
    );
    let at = if version > 4 { 0 } else { version };
    ApiVersionsResponse::decode(&mut resp, at).unwrap()
}

#[tokio::test]
async fn api_versions_lists_what_is_implemented_and_answers_newer_clients() {
    let (_b, addr) = broker("104857600").await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    for (i, version) in [3i16, 0, 4].into_iter().enumerate() {
        let resp = api_versions(&mut s, version, i as i32 + 1).await;
        assert_eq!(resp.error_code, 0, "v{version}");
        let listed: Vec<i16> = resp.api_keys.iter().map(|k| k.api_key).collect();
        assert_eq!(listed, [ApiKey::ApiVersions as i16], "v{version}");
    }
    // A client newer than the broker: UNSUPPORTED_VERSION (35) in v0, with the ranges.
    let resp = api_versions(&mut s, 77, 9).await;
    assert_eq!(resp.error_code, 35);
    assert_eq!(
        resp.api_keys[0].max_version,
        ApiKey::ApiVersions.valid_versions().max
    );
    // The same connection still serves.
    assert_eq!(api_versions(&mut s, 3, 10).await.error_code, 0);
}

/// Sends `raw` on a fresh connection and expects the broker to close it without an answer.
async fn closed_without_answer(addr: SocketAddr, raw: &[u8], what: &str) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    assert!(read_frame(&mut s).await.is_none(), "{what}: answered");
}

#[tokio::test]
async fn bad_frames_close_only_their_connection() {
    let (_b, addr) = broker("4096").await;
    let mut healthy = TcpStream::connect(addr).await.unwrap();
    assert_eq!(api_versions(&mut healthy, 3, 1).await.error_code, 0);

    // Over socket.request.max.bytes: refused from the prefix (nothing else is sent).
    closed_without_answer(addr, &5000i32.to_be_bytes(), "oversized").await;
    closed_without_answer(addr, &(-7i32).to_be_bytes(), "negative length").await;
    // An unknown API key.
    let mut f = BytesMut::new();
    f.put_i32(10);
    f.put_i16(9999);
    f.put_i16(0);
    f.put_i32(5);
    f.put_i16(-1);
    closed_without_answer(addr, &f, "unknown API key").await;
    // A header cut inside the client id (the prefix says 12 bytes; 12 are sent).
    let mut f = BytesMut::new();
    f.put_i32(12);
    f.put_i16(ApiKey::ApiVersions as i16);
    f.put_i16(3);
    f.put_i32(2);
    f.put_i16(200); // a client id of 200 bytes that never come
    f.put_slice(b"ab");
    closed_without_answer(addr, &f, "truncated header").await;
    // An API that is not implemented (and so not listed): the connection closes.
    let metadata = request_frame(ApiKey::Metadata, 12, 3, &MetadataRequest::default());
    closed_without_answer(addr, &metadata, "not implemented").await;

    // The first connection and new ones are unaffected.
    assert_eq!(api_versions(&mut healthy, 3, 2).await.error_code, 0);
    let mut again = TcpStream::connect(addr).await.unwrap();
    assert_eq!(api_versions(&mut again, 0, 1).await.error_code, 0);
}

#[tokio::test]
async fn the_listener_stops_with_its_broker() {
    let (mut b, addr) = broker("104857600").await;
    let mut open = TcpStream::connect(addr).await.unwrap();
    assert_eq!(api_versions(&mut open, 3, 1).await.error_code, 0);
    b.kill().await;
    // The open connection is cut, and the port refuses new ones (the abort lands at once, but
    // asynchronously: bounded polling, no fixed sleep).
    assert!(read_frame(&mut open).await.is_none());
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still accepting after kill"
        );
        tokio::task::yield_now().await;
    }
}
