//! ApiVersions: the first request every Kafka client sends, answered with the version range of
//! each API this listener implements (and only those: a client never sends an API left out).
//! A client newer than the broker asks in a version the broker does not know; as Kafka does
//! (KIP-511), the broker answers UNSUPPORTED_VERSION in version 0, whose layout never changes,
//! with its ranges, and the client retries in the newest version both know.

use bytes::Bytes;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::{Decodable, VersionRange};

/// Kafka's UNSUPPORTED_VERSION.
pub const UNSUPPORTED_VERSION: i16 = 35;
/// Kafka's INVALID_REQUEST.
pub const INVALID_REQUEST: i16 = 42;

/// The APIs this listener implements, with the versions it serves: the ranges are the ones the
/// handlers are written and tested for, within what the codec knows. Transactions are out of
/// scope and left out, so transactional clients see at once that they cannot be served.
pub fn supported() -> Vec<(ApiKey, VersionRange)> {
    vec![(
        ApiKey::ApiVersions,
        VersionRange {
            min: 0,
            max: ApiKey::ApiVersions.valid_versions().max,
        },
    )]
}

/// The range this listener serves for `key`, if it implements it.
pub fn range_of(key: ApiKey) -> Option<VersionRange> {
    supported()
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, r)| r)
}

fn listing() -> Vec<ApiVersion> {
    supported()
        .into_iter()
        .map(|(k, r)| {
            ApiVersion::default()
                .with_api_key(k as i16)
                .with_min_version(r.min)
                .with_max_version(r.max)
        })
        .collect()
}

/// The answer to an ApiVersions request at `version` with `body`: the version to encode the
/// response in, and the response.
pub fn handle(version: i16, mut body: Bytes) -> (i16, ApiVersionsResponse) {
    let ok = range_of(ApiKey::ApiVersions).is_some_and(|r| (r.min..=r.max).contains(&version));
    if !ok {
        let resp = ApiVersionsResponse::default()
            .with_error_code(UNSUPPORTED_VERSION)
            .with_api_keys(listing());
        return (0, resp);
    }
    let error = match ApiVersionsRequest::decode(&mut body, version) {
        Ok(req) if version >= 3 && !valid_software(&req) => INVALID_REQUEST,
        Ok(_) => 0,
        Err(_) => INVALID_REQUEST,
    };
    let resp = ApiVersionsResponse::default()
        .with_error_code(error)
        .with_api_keys(listing());
    (version, resp)
}

/// KIP-511: the client's software name and version are `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
fn valid_software(req: &ApiVersionsRequest) -> bool {
    let ok = |s: &str| {
        let b = s.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
    };
    ok(&req.client_software_name) && ok(&req.client_software_version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn request(version: i16, name: &'static str) -> Bytes {
        let mut b = BytesMut::new();
        ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str(name))
            .with_client_software_version(StrBytes::from_static_str("1.0"))
            .encode(&mut b, version)
            .unwrap();
        b.freeze()
    }

    #[test]
    fn lists_only_what_is_implemented() {
        let (v, resp) = handle(3, request(3, "librdkafka"));
        assert_eq!((v, resp.error_code), (3, 0));
        let keys: Vec<i16> = resp.api_keys.iter().map(|k| k.api_key).collect();
        assert_eq!(keys, [ApiKey::ApiVersions as i16]);
        assert_eq!(resp.api_keys[0].min_version, 0);
    }

    #[test]
    fn a_newer_client_gets_unsupported_version_in_v0() {
        let (v, resp) = handle(99, Bytes::new());
        assert_eq!((v, resp.error_code), (0, UNSUPPORTED_VERSION));
        assert!(!resp.api_keys.is_empty());
    }

    #[test]
    fn bad_software_names_and_garbage_are_invalid_request() {
        let (_, resp) = handle(3, request(3, "-bad-"));
        assert_eq!(resp.error_code, INVALID_REQUEST);
        let (_, resp) = handle(3, Bytes::from_static(&[0xff, 0xff, 0xff]));
        assert_eq!(resp.error_code, INVALID_REQUEST);
        // v0–v2 bodies are empty: whatever follows is ignored, as Kafka does.
        let (_, resp) = handle(0, Bytes::new());
        assert_eq!(resp.error_code, 0);
    }
}
