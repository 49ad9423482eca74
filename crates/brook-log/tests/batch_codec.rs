//! Tests of the Kafka v2 record-batch codec (`batch.rs`, `record.rs`): byte layout against a
//! known-good batch from another Kafka implementation, encode/decode round trips, one test per
//! error, and robustness of every decoder against arbitrary and corrupted bytes.

#[path = "common/codec.rs"]
mod codec;
use codec::*;

// ---------------------------------------------------------------------------------------------
// Byte identity with Kafka.

#[test]
fn crc32c_check_value() {
    // The standard CRC-32C (Castagnoli) check value; Kafka's `Crc32C` computes the same.
    assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
}

/// "uncompressed record" from IBM/sarama's `record_test.go` (a Kafka client interoperating with
/// real brokers): one record, timestamp delta 5, key 01020304, value 050607, one header
/// 08090a=0b0c, producer fields 0, leader epoch 0, and max timestamp 0.
const SARAMA_UNCOMPRESSED: [u8; 82] = [
    0, 0, 0, 0, 0, 0, 0, 0, // base offset
    0, 0, 0, 70, // batch length
    0, 0, 0, 0, // partition leader epoch
    2, // magic
    84, 121, 97, 253, // crc
    0, 0, // attributes
    0, 0, 0, 0, // last offset delta
    0, 0, 1, 88, 141, 205, 89, 56, // base timestamp 1479847795000
    0, 0, 0, 0, 0, 0, 0, 0, // max timestamp
    0, 0, 0, 0, 0, 0, 0, 0, // producer id
    0, 0, // producer epoch
    0, 0, 0, 0, // base sequence
    0, 0, 0, 1,  // record count
    40, // record length (zigzag 20)
    0,  // attributes
    10, // timestamp delta (zigzag 5)
    0,  // offset delta
    8, 1, 2, 3, 4, // key
    6, 5, 6, 7, // value
    2, // header count
    6, 8, 9, 10, // header key
    4, 11, 12, // header value
];

#[test]
fn decodes_known_kafka_batch() {
    let h = batch::validate(&SARAMA_UNCOMPRESSED).expect("known-good batch must validate");
    assert_eq!(h.crc, 0x5479_61FD);
    assert_eq!(h.batch_length, 70);
    assert_eq!(h.base_timestamp, 1_479_847_795_000);
    assert_eq!(h.record_count, 1);
    let records = decode_records(&Bytes::from_static(&SARAMA_UNCOMPRESSED)).unwrap();
    assert_eq!(
        records,
        vec![Record {
            offset: 0,
            timestamp: 1_479_847_795_005,
            key: Some(Bytes::from_static(&[1, 2, 3, 4])),
            value: Some(Bytes::from_static(&[5, 6, 7])),
            headers: vec![Header {
                key: "\u{8}\u{9}\u{a}".into(),
                value: Some(Bytes::from_static(&[11, 12])),
            }],
        }]
    );
}

#[test]
fn encodes_known_kafka_batch() {
    let mut b = BatchBuilder::new().producer(0, 0, 0);
    let headers = [Header {
        key: "\u{8}\u{9}\u{a}".into(),
        value: Some(Bytes::from_static(&[11, 12])),
    }];
    b.append(
        1_479_847_795_005,
        Some(&[1, 2, 3, 4]),
        Some(&[5, 6, 7]),
        &headers,
    );
    let mut ours = b.build().to_vec();
    batch::stamp(&mut ours, 0, 0).unwrap();
    assert_eq!(ours.len(), SARAMA_UNCOMPRESSED.len());
    // sarama's test sets the batch's first timestamp 5 ms before its only record and leaves max
    // timestamp 0; a Kafka builder (and ours) uses the first record's timestamp as the base and
    // tracks the max. So base timestamp, max timestamp and the record's timestamp delta differ;
    // everything else, CRC aside, must match byte for byte.
    assert_eq!(ours[27..35], 1_479_847_795_005i64.to_be_bytes());
    assert_eq!(ours[35..43], 1_479_847_795_005i64.to_be_bytes());
    assert_eq!(ours[63], 0, "timestamp delta of the first record");
    assert_eq!(ours[..17], SARAMA_UNCOMPRESSED[..17]);
    assert_eq!(ours[21..27], SARAMA_UNCOMPRESSED[21..27]);
    assert_eq!(ours[43..63], SARAMA_UNCOMPRESSED[43..63]);
    assert_eq!(ours[64..], SARAMA_UNCOMPRESSED[64..]);
    // With sarama's timestamps in place, our CRC region and polynomial give its exact bytes.
    ours[27..35].copy_from_slice(&1_479_847_795_000i64.to_be_bytes());
    ours[35..43].copy_from_slice(&0i64.to_be_bytes());
    ours[63] = 10;
    reseal(&mut ours);
    assert_eq!(ours, SARAMA_UNCOMPRESSED);
}

#[test]
fn known_empty_batch_crc_and_rejection() {
    // sarama's "empty record" batch: header only, producer fields 0. Its CRC is CRC-32C of
    // bytes 21.. — the region and polynomial S1 prescribes.
    let mut empty = [0u8; 61];
    empty[11] = 49;
    empty[16] = 2;
    empty[17..21].copy_from_slice(&[89, 95, 183, 221]);
    assert_eq!(crc32c::crc32c(&empty[21..]), 0x595F_B7DD);
    // Brook never accepts a batch without records.
    assert!(is_invalid(BatchHeader::parse(&empty)));
    assert!(is_invalid(batch::validate(&empty)));
}

#[test]
fn field_offsets_match_s1() {
    let mut b = BatchBuilder::new().producer(0x0102_0304_0506_0708, 0x090a, 0x0b0c_0d0e);
    b.append(1000, None, Some(b"a"), &[]);
    b.append(3000, Some(b"b"), None, &[]);
    b.append(2000, None, None, &[]);
    let bytes = b.build();
    let v = &bytes[..];
    assert_eq!(v[0..8], 0i64.to_be_bytes(), "base offset: clients send 0");
    assert_eq!(
        v[8..12],
        ((v.len() - 12) as i32).to_be_bytes(),
        "batch length"
    );
    assert_eq!(
        v[12..16],
        (-1i32).to_be_bytes(),
        "leader epoch: clients send -1"
    );
    assert_eq!(v[16], 2, "magic");
    assert_eq!(v[17..21], crc32c::crc32c(&v[21..]).to_be_bytes(), "crc");
    assert_eq!(v[21..23], 0i16.to_be_bytes(), "attributes");
    assert_eq!(v[23..27], 2i32.to_be_bytes(), "last offset delta");
    assert_eq!(
        v[27..35],
        1000i64.to_be_bytes(),
        "base timestamp = first record's"
    );
    assert_eq!(v[35..43], 3000i64.to_be_bytes(), "max timestamp");
    assert_eq!(
        v[43..51],
        0x0102_0304_0506_0708i64.to_be_bytes(),
        "producer id"
    );
    assert_eq!(v[51..53], 0x090ai16.to_be_bytes(), "producer epoch");
    assert_eq!(v[53..57], 0x0b0c_0d0ei32.to_be_bytes(), "base sequence");
    assert_eq!(v[57..61], 3i32.to_be_bytes(), "record count");
    // Records, each as DefaultRecord writes them.
    let mut records = Vec::new();
    records.extend(rec(&[0, 0, 0, 1, 2, b'a', 0])); // ts delta 0, off 0, null key, "a"
    records.extend(rec(&[0, 0xa0, 0x1f, 2, 2, b'b', 1, 0])); // ts delta 2000, off 1, "b", null
    records.extend(rec(&[0, 0xd0, 0x0f, 4, 1, 1, 0])); // ts delta 1000, off 2, null, null
    assert_eq!(v[61..], records[..]);
    assert_eq!(b.size_in_bytes(), v.len());

    // An independent framing of the same records gives the same header layout.
    let mut framed = frame(&records, 3, 0);
    framed[27..35].copy_from_slice(&1000i64.to_be_bytes());
    framed[35..43].copy_from_slice(&3000i64.to_be_bytes());
    framed[43..57].copy_from_slice(&v[43..57]);
    reseal(&mut framed);
    assert_eq!(framed, v);

    let h = batch::validate(v).unwrap();
    assert_eq!(h.size(), v.len());
    assert_eq!(h.last_offset(), 2);
    assert_eq!(h.next_offset(), 3);
    assert_eq!(h.last_sequence(), 0x0b0c_0d0e + 2);
}

#[test]
fn builder_defaults() {
    let b = BatchBuilder::new();
    assert!(b.is_empty());
    assert_eq!(b.len(), 0);
    assert_eq!(b.size_in_bytes(), HEADER_LEN);
    let v = one_record_batch();
    let h = BatchHeader::parse(&v).unwrap();
    assert_eq!(h.base_offset, 0);
    assert_eq!(h.partition_leader_epoch, -1);
    assert_eq!(h.magic, MAGIC);
    assert_eq!(h.producer_id, NO_PRODUCER_ID);
    assert_eq!(h.producer_epoch, NO_PRODUCER_EPOCH);
    assert_eq!(h.base_sequence, NO_SEQUENCE);
    assert_eq!(h.last_sequence(), NO_SEQUENCE);
    assert!(!h.timestamp_type_log_append());
    assert_eq!(h.compression(), 0);
}

#[test]
fn last_sequence_wraps_like_kafka() {
    let mut h = BatchHeader::parse(&one_record_batch()).unwrap();
    h.last_offset_delta = 4;
    h.base_sequence = i32::MAX - 1;
    // DefaultRecordBatch.incrementSequence: MAX-1 + 4 wraps to 2.
    assert_eq!(h.last_sequence(), 2);
    h.base_sequence = i32::MAX - 4;
    assert_eq!(h.last_sequence(), i32::MAX);
    h.base_sequence = 7;
    assert_eq!(h.last_sequence(), 11);
}

#[test]
fn log_append_time_overrides_record_timestamps() {
    let mut b = BatchBuilder::new();
    b.append(10, None, None, &[]);
    b.append(20, None, None, &[]);
    let mut v = b.build().to_vec();
    v[22] |= 0x08;
    v[35..43].copy_from_slice(&99i64.to_be_bytes());
    reseal(&mut v);
    let recs = decode_records(&Bytes::from(v)).unwrap();
    assert!(recs.iter().all(|r| r.timestamp == 99));
}

// ---------------------------------------------------------------------------------------------
// One test per error.

#[test]
fn short_buffer_is_corrupt() {
    let v = one_record_batch();
    for n in [0, 1, 60] {
        assert!(is_corrupt(BatchHeader::parse(&v[..n])));
        assert!(is_corrupt(batch::check_crc(&v[..n])));
    }
    let mut short = [0u8; 60];
    assert!(is_corrupt(batch::stamp(&mut short, 1, 1)));
}

#[test]
fn bad_magic_is_corrupt() {
    for magic in [0u8, 1, 3, 0xff] {
        let mut v = one_record_batch().to_vec();
        v[16] = magic;
        assert!(is_corrupt(BatchHeader::parse(&v)));
        assert_rejected(&v, is_corrupt);
    }
}

#[test]
fn impossible_length_is_corrupt() {
    for len in [i32::MIN, -1, 0, 48] {
        let mut v = one_record_batch().to_vec();
        v[8..12].copy_from_slice(&len.to_be_bytes());
        assert!(is_corrupt(BatchHeader::parse(&v)));
    }
}

#[test]
fn size_mismatch_is_corrupt() {
    let v = one_record_batch().to_vec();
    assert_rejected(&v[..v.len() - 1], is_corrupt);
    let mut longer = v.clone();
    longer.push(0);
    assert_rejected(&longer, is_corrupt);
    assert!(is_corrupt(batch::check_crc(&longer)));
}

#[test]
fn crc_mismatch_is_corrupt() {
    let mut v = one_record_batch().to_vec();
    let last = v.len() - 1;
    v[last] ^= 1;
    assert!(is_corrupt(batch::check_crc(&v)));
    assert_rejected(&v, is_corrupt);
}

#[test]
fn count_mismatches_are_invalid_record() {
    let r = rec(&min_body(0));
    // record_count 0.
    let mut v = frame(&r, 1, 0);
    v[57..61].copy_from_slice(&0i32.to_be_bytes());
    v[23..27].copy_from_slice(&(-1i32).to_be_bytes());
    reseal(&mut v);
    assert!(is_invalid(BatchHeader::parse(&v)));
    assert_rejected(&v, is_invalid);
    // The empty builder produces exactly such a batch.
    assert_rejected(&BatchBuilder::new().build(), is_invalid);
    // last_offset_delta != record_count - 1.
    let mut v = frame(&r, 1, 0);
    v[23..27].copy_from_slice(&5i32.to_be_bytes());
    reseal(&mut v);
    assert!(is_invalid(BatchHeader::parse(&v)));
    // Negative record count.
    let mut v = frame(&r, 1, 0);
    v[57..61].copy_from_slice(&(-3i32).to_be_bytes());
    v[23..27].copy_from_slice(&(-4i32).to_be_bytes());
    reseal(&mut v);
    assert!(is_invalid(BatchHeader::parse(&v)));
}

#[test]
fn fewer_records_than_declared_is_invalid() {
    let mut records = rec(&min_body(0));
    records.extend(rec(&min_body(1)));
    assert!(batch::validate(&frame(&records, 2, 0)).is_ok());
    assert_rejected(&frame(&records, 3, 0), is_invalid);
    // A huge declared count is rejected without allocating for it.
    assert_rejected(&frame(&records, i32::MAX, 0), is_invalid);
}

#[test]
fn trailing_bytes_after_records_are_invalid() {
    let mut records = rec(&min_body(0));
    records.extend(rec(&min_body(1)));
    assert_rejected(&frame(&records, 1, 0), is_invalid);
}

#[test]
fn out_of_order_offset_deltas_are_invalid() {
    let mut records = rec(&min_body(1));
    records.extend(rec(&min_body(0)));
    assert_rejected(&frame(&records, 2, 0), is_invalid);
    let mut records = rec(&min_body(0));
    records.extend(rec(&min_body(0)));
    assert_rejected(&frame(&records, 2, 0), is_invalid);
}

#[test]
fn compression_is_unsupported() {
    let r = rec(&min_body(0));
    for codec in 1..=7i16 {
        let v = frame(&r, 1, codec);
        let want = codec as u8;
        assert!(matches!(
            batch::validate(&v),
            Err(LogError::UnsupportedCompressionType(c)) if c == want
        ));
        assert!(matches!(
            decode_records(&Bytes::from(v)),
            Err(LogError::UnsupportedCompressionType(c)) if c == want
        ));
    }
}

#[test]
fn transactional_and_control_are_invalid() {
    let r = rec(&min_body(0));
    for attrs in [0x10i16, 0x20, 0x30] {
        let v = frame(&r, 1, attrs);
        let h = BatchHeader::parse(&v).unwrap();
        assert_eq!(h.is_transactional(), attrs & 0x10 != 0);
        assert_eq!(h.is_control(), attrs & 0x20 != 0);
        assert!(
            batch::check_crc(&v).is_ok(),
            "check_crc looks at header and CRC only"
        );
        assert_rejected(&v, is_invalid);
    }
}

#[test]
fn record_length_beyond_batch_is_corrupt() {
    let mut r = zz(100);
    r.extend(min_body(0));
    assert_rejected(&frame(&r, 1, 0), is_corrupt);
}

#[test]
fn negative_record_length_is_corrupt() {
    let mut r = zz(-6);
    r.extend(min_body(0));
    assert_rejected(&frame(&r, 1, 0), is_corrupt);
}

#[test]
fn record_length_not_matching_fields_is_corrupt() {
    // Declared 7 bytes, fields take 6: one stray byte inside the record.
    let mut body = min_body(0);
    body.push(0);
    assert_rejected(&frame(&rec(&body), 1, 0), is_corrupt);
    // Declared 5 bytes, fields need 6: the header count lies beyond the record.
    let body = min_body(0);
    let mut r = zz(5);
    r.extend(&body);
    assert_rejected(&frame(&r, 1, 0), is_corrupt);
}

#[test]
fn key_or_value_longer_than_record_is_corrupt() {
    // Key length 50 with 1 byte present.
    assert_rejected(&frame(&rec(&[0, 0, 0, 100, b'x', 1, 0]), 1, 0), is_corrupt);
    // Value length 2 with the header count as the only byte left.
    assert_rejected(&frame(&rec(&[0, 0, 0, 1, 4, 0]), 1, 0), is_corrupt);
}

#[test]
fn key_length_below_minus_one_is_corrupt() {
    // zigzag(-2) = 3.
    assert_rejected(&frame(&rec(&[0, 0, 0, 3, 1, 0]), 1, 0), is_corrupt);
    assert_rejected(&frame(&rec(&[0, 0, 0, 1, 3, 0]), 1, 0), is_corrupt);
}

#[test]
fn overlong_varint_is_corrupt() {
    // Six-byte offset delta.
    let body = [0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 1, 1, 0];
    assert_rejected(&frame(&rec(&body), 1, 0), is_corrupt);
    // Eleven-byte timestamp delta.
    let mut body = vec![0];
    body.extend([0x80; 10]);
    body.extend([0x00, 0, 1, 1, 0]);
    assert_rejected(&frame(&rec(&body), 1, 0), is_corrupt);
    // A record length varint cut off by the end of the batch.
    assert_rejected(&frame(&[0x80], 1, 0), is_corrupt);
}

#[test]
fn bad_header_count_is_corrupt() {
    // Negative (zigzag -1 = 1).
    assert_rejected(&frame(&rec(&[0, 0, 0, 1, 1, 1]), 1, 0), is_corrupt);
    // 100 headers in a record with nothing left.
    assert_rejected(&frame(&rec(&[0, 0, 0, 1, 1, 200, 1]), 1, 0), is_corrupt);
}

#[test]
fn null_header_key_is_corrupt() {
    // One header, key length -1.
    assert_rejected(&frame(&rec(&[0, 0, 0, 1, 1, 2, 1, 1]), 1, 0), is_corrupt);
}

#[test]
fn non_utf8_header_key_is_corrupt() {
    assert_rejected(
        &frame(&rec(&[0, 0, 0, 1, 1, 2, 4, 0xc3, 0x28, 1]), 1, 0),
        is_corrupt,
    );
    // The same with a valid two-byte key decodes.
    let ok = frame(&rec(&[0, 0, 0, 1, 1, 2, 4, 0xc3, 0xa9, 1]), 1, 0);
    let recs = decode_records(&Bytes::from(ok)).unwrap();
    assert_eq!(
        recs[0].headers,
        vec![Header {
            key: "é".into(),
            value: None
        }]
    );
}

// ---------------------------------------------------------------------------------------------
// Iteration over concatenated batches.

fn batch_of(n: usize, ts: i64) -> Bytes {
    let mut b = BatchBuilder::new();
    for i in 0..n {
        b.append(ts + i as i64, Some(b"key"), Some(&[i as u8; 10]), &[]);
    }
    b.build()
}

#[test]
fn batches_iterates_and_stops_at_the_end() {
    let (a, b, c) = (batch_of(1, 10), batch_of(3, 20), batch_of(2, 30));
    let mut buf = Vec::new();
    for (i, x) in [&a, &b, &c].into_iter().enumerate() {
        let mut x = x.to_vec();
        batch::stamp(&mut x, (i * 10) as i64, 1).unwrap();
        buf.extend(x);
    }
    let found: Vec<_> = batch::batches(&buf).map(|r| r.unwrap()).collect();
    assert_eq!(
        found.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        vec![0, a.len(), a.len() + b.len()]
    );
    assert_eq!(
        found.iter().map(|(_, h)| h.base_offset).collect::<Vec<_>>(),
        vec![0, 10, 20]
    );
    for (pos, h) in &found {
        assert!(batch::check_crc(&buf[*pos..*pos + h.size()]).is_ok());
    }
    assert_eq!(batch::batches(&[]).count(), 0);
}

#[test]
fn batches_reports_torn_tail_once() {
    let a = batch_of(2, 10);
    let b = batch_of(2, 20);
    for cut in 1..b.len() {
        let mut buf = a.to_vec();
        buf.extend_from_slice(&b[..cut]);
        let mut it = batch::batches(&buf);
        assert_eq!(it.next().unwrap().unwrap().0, 0);
        assert!(is_corrupt(it.next().unwrap()), "cut at {cut}");
        assert!(it.next().is_none());
        assert!(it.next().is_none());
    }
    // Garbage where a header should be.
    let mut buf = a.to_vec();
    buf.extend([0xAB; 70]);
    let items: Vec<_> = batch::batches(&buf).collect();
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    assert!(matches!(items[1], Err(LogError::CorruptMessage(_))));
}

#[test]
fn batches_does_not_check_crc() {
    let mut v = batch_of(1, 10).to_vec();
    let last = v.len() - 1;
    v[last] ^= 0xff;
    assert_eq!(batch::batches(&v).filter(|r| r.is_ok()).count(), 1);
    assert!(is_corrupt(batch::check_crc(&v)));
}
