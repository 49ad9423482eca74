//! Kafka's framing, without I/O: every request and response is a 4-byte big-endian length and
//! that many bytes. A request starts with its header (API key, API version, correlation id,
//! client id; tagged fields in the "flexible" versions), whose own version follows from the API
//! key and version; a response starts with the correlation id (plus tagged fields when
//! flexible), and responses go back in request order on each connection.
//!
//! The length is checked against `socket.request.max.bytes` *before* the body is read, so an
//! absurd prefix costs nothing; everything after is parsed from a buffer the connection already
//! holds, and every malformed byte becomes a [`FrameError`] (never a panic, never a partial
//! answer).

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};

/// Why a frame cannot be served. Each one closes the connection (with one log line), as Kafka
/// does when it cannot parse a request: the header, and so the correlation id to answer to, is
/// not known or not trustworthy.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix says more than `socket.request.max.bytes` (Kafka's
    /// `InvalidReceiveException`).
    #[error("request of {size} bytes exceeds socket.request.max.bytes ({max})")]
    TooLarge {
        /// The size the prefix announced.
        size: i64,
        /// `socket.request.max.bytes`.
        max: usize,
    },
    /// A negative or too-short length prefix.
    #[error("invalid request length {0}")]
    InvalidLength(i32),
    /// The request header did not parse.
    #[error("malformed request header: {0}")]
    MalformedHeader(String),
    /// An API key Kafka does not define.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    /// A response could not be encoded (a field out of its version's range).
    #[error("encoding the response failed: {0}")]
    Encode(String),
}

/// The smallest request: API key, API version and correlation id (2 + 2 + 4 bytes) plus the
/// client id's length (2).
pub const MIN_REQUEST: i32 = 10;

/// Checks a request's 4-byte length prefix: the body size to read next.
pub fn request_len(prefix: [u8; 4], max: usize) -> Result<usize, FrameError> {
    let len = i32::from_be_bytes(prefix);
    if len < MIN_REQUEST {
        return Err(FrameError::InvalidLength(len));
    }
    let size = usize::try_from(len).map_err(|_| FrameError::InvalidLength(len))?;
    if size > max {
        return Err(FrameError::TooLarge {
            size: i64::from(len),
            max,
        });
    }
    Ok(size)
}

/// A request whose header parsed: the header, the API it names, and the body still encoded.
#[derive(Debug, Clone)]
pub struct Request {
    /// The decoded header.
    pub header: RequestHeader,
    /// The API the header names.
    pub api_key: ApiKey,
    /// The request body (decode it at `header.request_api_version`).
    pub body: Bytes,
}

/// Splits a request frame (without its length prefix) into header and body.
pub fn parse_request(mut frame: Bytes) -> Result<Request, FrameError> {
    if frame.len() < 4 {
        return Err(FrameError::MalformedHeader(
            "shorter than API key and version".into(),
        ));
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api_key = ApiKey::try_from(key).map_err(|()| FrameError::UnknownApiKey(key))?;
    // Out-of-range versions still get a header version (the newest one for the API), so that
    // ApiVersions can answer UNSUPPORTED_VERSION to a client newer than the broker.
    let range = api_key.valid_versions();
    let header_version = api_key.request_header_version(version.clamp(range.min, range.max));
    let header = RequestHeader::decode(&mut frame, header_version)
        .map_err(|e| FrameError::MalformedHeader(e.to_string()))?;
    Ok(Request {
        header,
        api_key,
        body: frame,
    })
}

/// Encodes a response frame (length prefix included) answering `request` with `body` encoded at
/// `version`: the header version follows from the API and version, as for requests.
/// ApiVersions responses always use header v0, even for flexible versions (KIP-511).
pub fn encode_response<T: Encodable>(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> Result<Bytes, FrameError> {
    let failed = |e: &dyn std::fmt::Display| FrameError::Encode(e.to_string());
    let header_version = if api_key == ApiKey::ApiVersions {
        0
    } else {
        api_key.response_header_version(version)
    };
    let mut buf = BytesMut::new();
    buf.put_i32(0); // the length, filled in below
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, header_version)
        .map_err(|e| failed(&e))?;
    body.encode(&mut buf, version).map_err(|e| failed(&e))?;
    let len = i32::try_from(buf.len() - 4).map_err(|e| failed(&e))?;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

/// The correlation id of a frame, if it is long enough to have one (for log lines about a
/// request that did not parse).
pub fn correlation_id(frame: &[u8]) -> Option<i32> {
    let mut b = frame.get(4..8)?;
    Some(b.get_i32())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::ApiVersionsResponse;
    use proptest::prelude::*;

    #[test]
    fn the_length_prefix_is_checked_before_the_body_is_read() {
        assert_eq!(request_len(100i32.to_be_bytes(), 1000), Ok(100));
        assert_eq!(
            request_len(1001i32.to_be_bytes(), 1000),
            Err(FrameError::TooLarge {
                size: 1001,
                max: 1000
            })
        );
        assert_eq!(
            request_len((-1i32).to_be_bytes(), 1000),
            Err(FrameError::InvalidLength(-1))
        );
        assert_eq!(
            request_len(3i32.to_be_bytes(), 1000),
            Err(FrameError::InvalidLength(3))
        );
    }

    #[test]
    fn unknown_api_keys_and_short_headers_are_errors() {
        let mut f = BytesMut::new();
        f.put_i16(9999);
        f.put_i16(0);
        f.put_i32(7);
        f.put_i16(-1);
        assert_eq!(
            parse_request(f.freeze()).unwrap_err(),
            FrameError::UnknownApiKey(9999)
        );
        assert!(matches!(
            parse_request(Bytes::from_static(&[0, 18])),
            Err(FrameError::MalformedHeader(_))
        ));
        // ApiVersions v3 (flexible header v2) cut inside the client id.
        let cut = Bytes::from_static(&[0, 18, 0, 3, 0, 0, 0, 1, 0, 10, b'a']);
        assert!(matches!(
            parse_request(cut),
            Err(FrameError::MalformedHeader(_))
        ));
    }

    #[test]
    fn a_response_frame_carries_its_length_and_correlation_id() {
        let body = ApiVersionsResponse::default();
        let f = encode_response(ApiKey::ApiVersions, 3, 42, &body).unwrap();
        let len = i32::from_be_bytes([f[0], f[1], f[2], f[3]]);
        assert_eq!(len as usize, f.len() - 4);
        assert_eq!(i32::from_be_bytes([f[4], f[5], f[6], f[7]]), 42);
    }

    proptest! {
        /// Any bytes at all: parsing returns a request or an error, and never panics.
        #[test]
        fn arbitrary_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = correlation_id(&bytes);
            let _ = parse_request(Bytes::from(bytes));
        }

        /// A valid API key and version followed by garbage: still no panic.
        #[test]
        fn garbage_after_a_valid_key_never_panics(
            key in 0i16..80,
            version in -2i16..20,
            rest in proptest::collection::vec(any::<u8>(), 0..128),
        ) {
            let mut f = BytesMut::new();
            f.put_i16(key);
            f.put_i16(version);
            f.extend_from_slice(&rest);
            let _ = parse_request(f.freeze());
        }
    }
}
