//! Bad input over the wire: every malformed or invalid request is answered with the Kafka error
//! code that names the problem (or a gRPC status for transport-level garbage), nothing is
//! appended, and the broker keeps serving afterwards.

mod common;

use brook_log::batch::{self, BatchHeader, HEADER_LEN};
use brook_proto::ErrorCode;
use brook_proto::v1::*;
use bytes::{Buf, BufMut, Bytes};
use common::*;
use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;

/// Produces `records` and asserts the partition answered `expected` with no offset, and that the
/// partition's LEO did not move.
async fn assert_rejected(
    b: &TestBroker,
    topic: &str,
    partition: i32,
    acks: i32,
    records: Bytes,
    expected: ErrorCode,
) -> PartitionProduceResponse {
    let before = b.leo(topic, partition).await;
    let p = b.produce(topic, partition, acks, records).await;
    assert_eq!(code(p.error_code), expected, "{p:?}");
    assert_eq!(p.base_offset, -1, "{p:?}");
    assert_eq!(p.durability, Durability::None as i32, "{p:?}");
    assert_eq!(
        b.leo(topic, partition).await,
        before,
        "a rejected batch must not be appended"
    );
    p
}

/// The broker still takes a good batch (at the expected offset) after the bad input.
async fn assert_still_serving(b: &TestBroker, topic: &str, expected_offset: i64) {
    let off = b.produce_ok(topic, 0, batch(&[b"after"])).await;
    assert_eq!(off, expected_offset);
    let recs = b.read_all(topic, 0, expected_offset).await;
    assert_eq!(values_of(&recs), ["after"]);
}

/// A gRPC codec that sends and receives raw bytes, to put arbitrary bytes on the wire.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

#[derive(Debug, Clone, Copy, Default)]
struct RawEncoder;

#[derive(Debug, Clone, Copy, Default)]
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

async fn raw_produce(b: &TestBroker, body: Bytes) -> Result<Bytes, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(b.channel());
    grpc.ready().await.unwrap();
    grpc.unary(
        tonic::Request::new(body),
        PathAndQuery::from_static("/brook.v1.Brook/Produce"),
        RawCodec,
    )
    .await
    .map(|r| r.into_inner())
}

#[tokio::test]
async fn malformed_protobuf_is_a_grpc_error_and_the_broker_keeps_serving() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    b.produce_ok("t", 0, batch(&[b"first"])).await;

    // The raw path itself works: a well-formed request sent as raw bytes is answered.
    let good = ProduceRequest {
        acks: 1,
        timeout_ms: 1000,
        topics: vec![TopicProduceData {
            name: "t".into(),
            partitions: vec![PartitionProduceData {
                partition: 0,
                records: batch(&[b"raw"]),
            }],
        }],
    };
    let resp = raw_produce(&b, Bytes::from(good.encode_to_vec()))
        .await
        .unwrap();
    let resp = ProduceResponse::decode(resp).unwrap();
    let p = single_produce(resp, "t", 0);
    assert_eq!((code(p.error_code), p.base_offset), (ErrorCode::None, 1));

    let garbage: [&[u8]; 3] = [
        // Field 3 (topics), length-delimited, claims 100 bytes but 2 follow.
        &[0x1a, 0x64, 0x01, 0x02],
        // Wire type 7 does not exist.
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        // A varint that never ends.
        &[
            0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
    ];
    for body in garbage {
        let before = b.leo("t", 0).await;
        let err = raw_produce(&b, Bytes::from_static(body))
            .await
            .expect_err("malformed protobuf must be refused");
        assert_ne!(err.code(), tonic::Code::Ok, "{err:?}");
        assert_eq!(b.leo("t", 0).await, before);
    }
    assert_still_serving(&b, "t", 2).await;
}

#[tokio::test]
async fn a_batch_with_a_bad_crc_is_corrupt_message() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    let good = batch(&[b"hello world"]);
    // Flip a bit inside the records (covered by the CRC).
    let mut bad = good.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    assert_rejected(&b, "t", 0, 1, Bytes::from(bad), ErrorCode::CorruptMessage).await;
    // A bad CRC in a header field covered by the CRC (producer id) is caught too.
    let mut bad = good.to_vec();
    bad[50] ^= 0x40;
    assert_rejected(&b, "t", 0, -1, Bytes::from(bad), ErrorCode::CorruptMessage).await;
    // The stored CRC itself damaged.
    let mut bad = good.to_vec();
    bad[18] ^= 0xff;
    assert_rejected(&b, "t", 0, 1, Bytes::from(bad), ErrorCode::CorruptMessage).await;
    assert_still_serving(&b, "t", 0).await;
}

#[tokio::test]
async fn a_truncated_batch_is_corrupt_message() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    let good = batch(&[b"one", b"two", b"three"]);
    // Torn inside the records.
    let torn = good.slice(..good.len() - 4);
    assert_rejected(&b, "t", 0, 1, torn, ErrorCode::CorruptMessage).await;
    // Torn inside the header.
    let torn = good.slice(..HEADER_LEN - 10);
    assert_rejected(&b, "t", 0, 1, torn, ErrorCode::CorruptMessage).await;
    // No bytes at all.
    assert_rejected(&b, "t", 0, 1, Bytes::new(), ErrorCode::CorruptMessage).await;
    // Trailing bytes after a complete batch.
    let mut long = good.to_vec();
    long.extend_from_slice(&[0, 0, 0]);
    assert_rejected(&b, "t", 0, 1, Bytes::from(long), ErrorCode::CorruptMessage).await;
    assert_still_serving(&b, "t", 0).await;
}

#[tokio::test]
async fn a_batch_above_message_max_bytes_is_message_too_large() {
    let b = TestBroker::start_with(&[("message.max.bytes", "10000")]).await;
    b.create_topic("t", 1, &[]).await;
    let big = batch_of_size(20_000);
    assert!(big.len() > 20_000);
    assert_rejected(&b, "t", 0, 1, big, ErrorCode::MessageTooLarge).await;
    // Just under the limit passes.
    let fits = batch_of_size(9_000);
    assert!(fits.len() <= 10_000);
    assert_eq!(b.produce_ok("t", 0, fits).await, 0);
    // A topic-level max.message.bytes is enforced the same way.
    b.create_topic("small", 1, &[("max.message.bytes", "1000")])
        .await;
    assert_rejected(
        &b,
        "small",
        0,
        -1,
        batch_of_size(2_000),
        ErrorCode::MessageTooLarge,
    )
    .await;
    assert_still_serving(&b, "small", 0).await;
}

#[tokio::test]
async fn a_request_above_message_max_bytes_plus_overhead_is_refused_at_the_transport() {
    let b = TestBroker::start_with(&[("message.max.bytes", "10000")]).await;
    b.create_topic("t", 1, &[]).await;
    // 10000 + 64 KiB of overhead is the decoder's limit; this request is ~100 KB.
    let huge = batch_of_size(100_000);
    let req = ProduceRequest {
        acks: 1,
        timeout_ms: 1000,
        topics: vec![TopicProduceData {
            name: "t".into(),
            partitions: vec![PartitionProduceData {
                partition: 0,
                records: huge,
            }],
        }],
    };
    let err = b
        .client()
        .produce(req)
        .await
        .expect_err("an oversized request must be refused by the transport");
    assert!(
        matches!(
            err.code(),
            tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
        ),
        "{err:?}"
    );
    assert_eq!(b.leo("t", 0).await, 0);
    assert_still_serving(&b, "t", 0).await;
}

#[tokio::test]
async fn a_non_zero_base_offset_from_a_client_is_invalid_record() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    let mut bytes = batch(&[b"a", b"b"]).to_vec();
    batch::stamp(&mut bytes, 5, -1).unwrap();
    // The base offset is outside the CRC: the batch is still intact, just not a producer's.
    assert!(batch::validate(&bytes).is_ok());
    assert_eq!(BatchHeader::parse(&bytes).unwrap().base_offset, 5);
    assert_rejected(&b, "t", 0, 1, Bytes::from(bytes), ErrorCode::InvalidRecord).await;
    assert_still_serving(&b, "t", 0).await;
}

#[tokio::test]
async fn a_compressed_batch_is_unsupported_compression_type() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    // attributes (i16 at 21..23): compression codec in bits 0-2 (1 = gzip … 4 = zstd).
    for codec in 1..=4u8 {
        let bytes = with_attributes(batch(&[b"not really compressed"]), codec);
        assert!(batch::check_crc(&bytes).is_ok(), "the CRC matches");
        assert_eq!(BatchHeader::parse(&bytes).unwrap().compression(), codec);
        assert_rejected(&b, "t", 0, 1, bytes, ErrorCode::UnsupportedCompressionType).await;
    }
    assert_still_serving(&b, "t", 0).await;
}

#[tokio::test]
async fn unknown_topic_or_partition_for_produce_fetch_and_list_offsets() {
    let b = TestBroker::start().await;
    b.create_topic("t", 2, &[]).await;
    for (topic, partition) in [("nope", 0), ("t", 2), ("t", -1)] {
        let p = b.produce(topic, partition, 1, batch(&[b"x"])).await;
        assert_eq!(
            code(p.error_code),
            ErrorCode::UnknownTopicOrPartition,
            "{p:?}"
        );
        assert_eq!(p.base_offset, -1);
        let f = b.fetch(topic, partition, 0).await;
        assert_eq!(
            code(f.error_code),
            ErrorCode::UnknownTopicOrPartition,
            "{f:?}"
        );
        assert!(f.records.is_empty());
        for ts in [-2, -1, 0] {
            let l = b.list_offset(topic, partition, ts).await;
            assert_eq!(
                code(l.error_code),
                ErrorCode::UnknownTopicOrPartition,
                "{l:?}"
            );
            assert_eq!(l.offset, -1);
        }
    }
    // Nothing landed in the partitions that do exist, and no topic was auto-created.
    assert_eq!(b.leo("t", 0).await, 0);
    assert_eq!(b.leo("t", 1).await, 0);
    assert!(!b.topic_exists("nope").await);
}

#[tokio::test]
async fn a_negative_partition_max_bytes_is_invalid_request() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    b.produce_ok("t", 0, batch(&[b"x"])).await;
    let f = b.fetch_one(fetch_req("t", 0, 0, 0, 0, 1 << 20, -1)).await;
    assert_eq!(code(f.error_code), ErrorCode::InvalidRequest, "{f:?}");
    assert!(f.records.is_empty());
    // A negative request-level max_bytes too.
    let f = b.fetch_one(fetch_req("t", 0, 0, 0, 0, -5, 1 << 20)).await;
    assert_eq!(code(f.error_code), ErrorCode::InvalidRequest, "{f:?}");
    assert!(f.records.is_empty());
    // The error is answered at once even with a long max wait.
    let start = std::time::Instant::now();
    let f = b
        .fetch_one(fetch_req("t", 0, 1, 5000, 1, 1 << 20, -1))
        .await;
    assert_eq!(code(f.error_code), ErrorCode::InvalidRequest, "{f:?}");
    assert!(start.elapsed() < std::time::Duration::from_secs(4));
}

#[tokio::test]
async fn a_huge_max_bytes_works() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    b.produce_ok("t", 0, batch(&[b"a", b"b"])).await;
    b.produce_ok("t", 0, batch(&[b"c"])).await;
    let f = b
        .fetch_one(fetch_req("t", 0, 0, 0, 1, i32::MAX, i32::MAX))
        .await;
    assert_eq!(code(f.error_code), ErrorCode::None, "{f:?}");
    assert_eq!(values_of(&records_of(&f.records)), ["a", "b", "c"]);
    assert_eq!(f.high_watermark, 3);
}

#[tokio::test]
async fn a_fetch_above_the_log_end_is_offset_out_of_range() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    b.produce_ok("t", 0, batch(&[b"a", b"b"])).await;
    let f = b.fetch("t", 0, 3).await;
    assert_eq!(code(f.error_code), ErrorCode::OffsetOutOfRange, "{f:?}");
    assert!(f.records.is_empty());
    // Far above, and negative, too; and answered at once despite a long max wait.
    let start = std::time::Instant::now();
    let f = b
        .fetch_one(fetch_req("t", 0, 1000, 5000, 1, 1 << 20, 1 << 20))
        .await;
    assert_eq!(code(f.error_code), ErrorCode::OffsetOutOfRange, "{f:?}");
    assert!(start.elapsed() < std::time::Duration::from_secs(4));
    let f = b.fetch("t", 0, -1).await;
    assert_eq!(code(f.error_code), ErrorCode::OffsetOutOfRange, "{f:?}");
    // At the LEO itself is fine: empty, no error.
    let f = b.fetch("t", 0, 2).await;
    assert_eq!(code(f.error_code), ErrorCode::None, "{f:?}");
    assert!(f.records.is_empty());
}

#[tokio::test]
async fn acks_2_is_invalid_required_acks_for_every_partition() {
    let b = TestBroker::start().await;
    b.create_topic("t", 2, &[]).await;
    b.create_topic("u", 1, &[]).await;
    for acks in [2, -2, 100] {
        let r = b
            .produce_request(ProduceRequest {
                acks,
                timeout_ms: 1000,
                topics: vec![
                    TopicProduceData {
                        name: "t".into(),
                        partitions: vec![
                            PartitionProduceData {
                                partition: 0,
                                records: batch(&[b"x"]),
                            },
                            PartitionProduceData {
                                partition: 1,
                                records: batch(&[b"y"]),
                            },
                        ],
                    },
                    TopicProduceData {
                        name: "u".into(),
                        partitions: vec![PartitionProduceData {
                            partition: 0,
                            records: batch(&[b"z"]),
                        }],
                    },
                ],
            })
            .await;
        let mut seen = Vec::new();
        for t in &r.topics {
            for p in &t.partitions {
                assert_eq!(code(p.error_code), ErrorCode::InvalidRequiredAcks, "{p:?}");
                assert_eq!(p.base_offset, -1);
                seen.push((t.name.clone(), p.partition));
            }
        }
        seen.sort();
        assert_eq!(
            seen,
            [
                ("t".to_string(), 0),
                ("t".to_string(), 1),
                ("u".to_string(), 0)
            ]
        );
    }
    assert_eq!(b.leo("t", 0).await, 0);
    assert_eq!(b.leo("t", 1).await, 0);
    assert_eq!(b.leo("u", 0).await, 0);
}

#[tokio::test]
async fn create_topic_with_an_unknown_config_key_is_invalid_config() {
    let b = TestBroker::start().await;
    let r = b
        .create_topic_result("t", 1, 1, &[("flush.message", "1")])
        .await;
    assert_eq!(code(r.error_code), ErrorCode::InvalidConfig, "{r:?}");
    assert!(r.error_message.contains("flush.message"), "{r:?}");
    assert!(!b.topic_exists("t").await);
}

#[tokio::test]
async fn create_topic_with_a_bad_config_value_is_invalid_config() {
    let b = TestBroker::start().await;
    for (k, v) in [
        ("flush.messages", "often"),
        ("min.insync.replicas", "0"),
        ("segment.bytes", "-1"),
        ("unclean.leader.election.enable", "maybe"),
    ] {
        let r = b.create_topic_result("t", 1, 1, &[(k, v)]).await;
        assert_eq!(
            code(r.error_code),
            ErrorCode::InvalidConfig,
            "{k}={v}: {r:?}"
        );
        assert!(r.error_message.contains(k), "{r:?}");
        assert!(!b.topic_exists("t").await);
    }
}

#[tokio::test]
async fn create_topic_with_rf_2_on_one_broker_is_invalid_replication_factor() {
    let b = TestBroker::start().await;
    for rf in [2, 0, -2] {
        let r = b.create_topic_result("t", 1, rf, &[]).await;
        assert_eq!(
            code(r.error_code),
            ErrorCode::InvalidReplicationFactor,
            "rf {rf}: {r:?}"
        );
        assert!(!b.topic_exists("t").await);
    }
}

#[tokio::test]
async fn create_topic_with_zero_partitions_is_invalid_partitions() {
    let b = TestBroker::start().await;
    for n in [0, -2] {
        let r = b.create_topic_result("t", n, 1, &[]).await;
        assert_eq!(
            code(r.error_code),
            ErrorCode::InvalidPartitions,
            "{n}: {r:?}"
        );
        assert!(!b.topic_exists("t").await);
    }
}

#[tokio::test]
async fn create_topic_with_a_bad_name_is_invalid_topic_exception() {
    let b = TestBroker::start().await;
    let long = "x".repeat(250);
    for name in ["a/b", "__x", "", ".", "..", "a b", "ü", long.as_str()] {
        let r = b.create_topic_result(name, 1, 1, &[]).await;
        assert_eq!(
            code(r.error_code),
            ErrorCode::InvalidTopicException,
            "{name:?}: {r:?}"
        );
        if !name.is_empty() {
            assert!(!b.topic_exists(name).await, "{name:?}");
        }
    }
    // Nothing at all was created.
    let all = b
        .admin()
        .describe_topics(DescribeTopicsRequest {
            topics: vec![],
            local_only: false,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(all.topics.is_empty(), "{all:?}");
    // The longest legal name is fine.
    b.create_topic(&"y".repeat(249), 1, &[]).await;
}

#[tokio::test]
async fn create_an_existing_topic_is_topic_already_exists() {
    let b = TestBroker::start().await;
    b.create_topic("t", 2, &[]).await;
    b.produce_ok("t", 1, batch(&[b"kept"])).await;
    let r = b
        .create_topic_result("t", 5, 1, &[("flush.messages", "1")])
        .await;
    assert_eq!(code(r.error_code), ErrorCode::TopicAlreadyExists, "{r:?}");
    // The original topic is untouched: same partitions, no new config, data still there.
    let d = b.describe("t").await;
    assert_eq!(d.partitions.len(), 2);
    assert!(d.configs.is_empty(), "{d:?}");
    assert_eq!(values_of(&b.read_all("t", 1, 0).await), ["kept"]);
}

#[tokio::test]
async fn alter_config_with_a_bad_value_is_invalid_config_and_the_old_config_still_applies() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[("max.message.bytes", "1000")])
        .await;
    for (k, v) in [
        ("max.message.bytes", "huge"),
        ("max.message.bytes", "-1"),
        ("no.such.key", "1"),
    ] {
        let r = b.alter_topic_config("t", &[(k, v)]).await;
        assert_eq!(
            code(r.error_code),
            ErrorCode::InvalidConfig,
            "{k}={v}: {r:?}"
        );
        let d = b.describe("t").await;
        assert_eq!(
            d.configs.get("max.message.bytes").map(String::as_str),
            Some("1000")
        );
        assert!(!d.configs.contains_key("no.such.key"));
        // Still enforced.
        assert_rejected(
            &b,
            "t",
            0,
            1,
            batch_of_size(2_000),
            ErrorCode::MessageTooLarge,
        )
        .await;
    }
    // A mix of one good and one bad key changes nothing either.
    let r = b
        .alter_topic_config(
            "t",
            &[("max.message.bytes", "50000"), ("flush.messages", "x")],
        )
        .await;
    assert_eq!(code(r.error_code), ErrorCode::InvalidConfig, "{r:?}");
    assert_rejected(
        &b,
        "t",
        0,
        1,
        batch_of_size(2_000),
        ErrorCode::MessageTooLarge,
    )
    .await;
    // A good value applies at once.
    let r = b
        .alter_topic_config("t", &[("max.message.bytes", "50000")])
        .await;
    assert_eq!(code(r.error_code), ErrorCode::None, "{r:?}");
    assert_eq!(b.produce_ok("t", 0, batch_of_size(2_000)).await, 0);
    // Unknown topic.
    let r = b
        .alter_topic_config("nope", &[("flush.messages", "1")])
        .await;
    assert_eq!(
        code(r.error_code),
        ErrorCode::UnknownTopicOrPartition,
        "{r:?}"
    );
}

/// Sets `bits` in a batch's attributes and reseals its CRC, so only the attributes are wrong.
fn with_attributes(records: Bytes, bits: u8) -> Bytes {
    let mut bytes = records.to_vec();
    bytes[22] |= bits;
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(bytes)
}

#[tokio::test]
async fn transactional_and_control_batches_are_invalid_record() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    for bits in [batch::TRANSACTIONAL_FLAG as u8, batch::CONTROL_FLAG as u8] {
        let bad = with_attributes(idem_batch(7, 0, 0, 1), bits);
        assert!(batch::check_crc(&bad).is_ok());
        assert_rejected(&b, "t", 0, 1, bad, ErrorCode::InvalidRecord).await;
    }
    assert_still_serving(&b, "t", 0).await;
}

#[tokio::test]
async fn a_batch_without_records_is_invalid_record() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    let empty = brook_log::record::BatchBuilder::new().build();
    assert_rejected(&b, "t", 0, 1, empty, ErrorCode::InvalidRecord).await;
    assert_still_serving(&b, "t", 0).await;
}

#[tokio::test]
async fn a_batch_with_another_magic_is_corrupt_message() {
    let b = TestBroker::start().await;
    b.create_topic("t", 1, &[]).await;
    for magic in [0u8, 1, 3] {
        let mut bytes = batch(&[b"v"]).to_vec();
        bytes[16] = magic;
        assert_rejected(&b, "t", 0, 1, Bytes::from(bytes), ErrorCode::CorruptMessage).await;
    }
    assert_still_serving(&b, "t", 0).await;
}
