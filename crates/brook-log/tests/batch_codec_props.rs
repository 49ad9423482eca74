//! Property tests of the batch codec: round trips of arbitrary records, and arbitrary or damaged
//! bytes that must give an error, never a panic or an over-allocation.

#[path = "common/codec.rs"]
mod codec;
use codec::*;

// ---------------------------------------------------------------------------------------------
// Properties.

#[derive(Debug, Clone)]
struct Input {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<Header>,
}

fn header_strategy() -> impl Strategy<Value = Header> {
    (
        "\\PC{0,6}",
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12)),
    )
        .prop_map(|(key, value)| Header {
            key,
            value: value.map(Bytes::from),
        })
}

fn input_strategy() -> impl Strategy<Value = Input> {
    (
        prop_oneof![0i64..=i64::MAX, 1_600_000_000_000i64..1_800_000_000_000],
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
        proptest::collection::vec(header_strategy(), 0..4),
    )
        .prop_map(|(timestamp, key, value, headers)| Input {
            timestamp,
            key,
            value,
            headers,
        })
}

fn producer_strategy() -> impl Strategy<Value = Option<(i64, i16, i32)>> {
    proptest::option::of((0i64..=i64::MAX, 0i16..=i16::MAX, 0i32..=i32::MAX))
}

fn build(inputs: &[Input], producer: Option<(i64, i16, i32)>) -> Bytes {
    let mut b = BatchBuilder::new();
    if let Some((id, epoch, seq)) = producer {
        b = b.producer(id, epoch, seq);
    }
    for (i, r) in inputs.iter().enumerate() {
        assert_eq!(b.len(), i);
        b.append(
            r.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
            &r.headers,
        );
    }
    let out = b.build();
    assert_eq!(out.len(), b.size_in_bytes());
    out
}

fn valid_batch_strategy() -> impl Strategy<Value = Bytes> {
    (
        proptest::collection::vec(input_strategy(), 1..12),
        producer_strategy(),
    )
        .prop_map(|(inputs, producer)| build(&inputs, producer))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip(
        inputs in proptest::collection::vec(input_strategy(), 1..12),
        producer in producer_strategy(),
    ) {
        let bytes = build(&inputs, producer);
        let h = batch::validate(&bytes).unwrap();
        prop_assert_eq!(h.record_count as usize, inputs.len());
        prop_assert_eq!(h.last_offset_delta as usize, inputs.len() - 1);
        prop_assert_eq!(h.base_timestamp, inputs[0].timestamp);
        prop_assert_eq!(h.max_timestamp, inputs.iter().map(|r| r.timestamp).max().unwrap());
        let (id, epoch, seq) = producer.unwrap_or((-1, -1, -1));
        prop_assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence), (id, epoch, seq));
        prop_assert_eq!(batch::check_crc(&bytes).unwrap(), h);

        let expected: Vec<Record> = inputs
            .iter()
            .enumerate()
            .map(|(i, r)| Record {
                offset: i as i64,
                timestamp: r.timestamp,
                key: r.key.clone().map(Bytes::from),
                value: r.value.clone().map(Bytes::from),
                headers: r.headers.clone(),
            })
            .collect();
        prop_assert_eq!(decode_records(&bytes).unwrap(), expected);
    }

    #[test]
    fn stamp_keeps_batch_valid(
        bytes in valid_batch_strategy(),
        base in 0i64..i64::MAX / 2,
        epoch in any::<i32>(),
    ) {
        let before = batch::validate(&bytes).unwrap();
        let mut v = bytes.to_vec();
        batch::stamp(&mut v, base, epoch).unwrap();
        let after = batch::validate(&v).unwrap();
        prop_assert_eq!(after.base_offset, base);
        prop_assert_eq!(after.partition_leader_epoch, epoch);
        prop_assert_eq!(after.crc, before.crc);
        prop_assert_eq!(after.last_offset(), base + i64::from(before.last_offset_delta));
        let recs = decode_records(&Bytes::from(v)).unwrap();
        for (i, r) in recs.iter().enumerate() {
            prop_assert_eq!(r.offset, base + i as i64);
        }
    }

    #[test]
    fn any_byte_flip_in_crc_region_is_detected(
        bytes in valid_batch_strategy(),
        at in any::<proptest::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let mut v = bytes.to_vec();
        let i = 17 + at.index(v.len() - 17);
        v[i] ^= flip;
        prop_assert!(batch::validate(&v).is_err());
        prop_assert!(batch::check_crc(&v).is_err());
        prop_assert!(decode_records(&Bytes::from(v)).is_err());
    }

    #[test]
    fn every_truncation_is_rejected(bytes in valid_batch_strategy()) {
        for n in 0..bytes.len() {
            prop_assert!(batch::validate(&bytes[..n]).is_err());
            prop_assert!(batch::check_crc(&bytes[..n]).is_err());
            prop_assert!(decode_records(&bytes.slice(..n)).is_err());
            let items: Vec<_> = batch::batches(&bytes[..n]).collect();
            prop_assert!(n == 0 || (items.len() == 1 && items[0].is_err()));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = BatchHeader::parse(&bytes);
        let _ = batch::check_crc(&bytes);
        let _ = batch::validate(&bytes);
        let _ = decode_records(&Bytes::from(bytes.clone()));
        prop_assert!(batch::batches(&bytes).count() <= bytes.len() / HEADER_LEN + 1);
        let mut v = bytes;
        let _ = batch::stamp(&mut v, 5, 5);
    }

    /// Arbitrary record bytes behind a header with a correct CRC, so the record parser itself is
    /// exercised rather than stopped at the CRC.
    #[test]
    fn arbitrary_records_section_never_panics(
        records in proptest::collection::vec(any::<u8>(), 0..200),
        count in prop_oneof![1i32..8, any::<i32>()],
    ) {
        let v = frame(&records, count, 0);
        let validated = batch::validate(&v);
        let decoded = decode_records(&Bytes::from(v));
        prop_assert_eq!(validated.is_ok(), decoded.is_ok());
    }

    /// A valid batch with bytes tampered in the records section and the CRC fixed up: the
    /// decoders must not panic and must agree with each other.
    #[test]
    fn tampered_records_never_panic(
        bytes in valid_batch_strategy(),
        edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut v = bytes.to_vec();
        for (at, b) in edits {
            let i = HEADER_LEN + at.index(v.len() - HEADER_LEN);
            v[i] = b;
        }
        reseal(&mut v);
        let validated = batch::validate(&v);
        let decoded = decode_records(&Bytes::from(v));
        prop_assert_eq!(validated.is_ok(), decoded.is_ok(), "{:?} vs {:?}", validated, decoded);
        if let Ok(recs) = decoded {
            prop_assert_eq!(recs.len(), validated.unwrap().record_count as usize);
        }
    }

    #[test]
    fn concatenated_batches_iterate(parts in proptest::collection::vec(valid_batch_strategy(), 0..5)) {
        let mut buf = Vec::new();
        let mut starts = Vec::new();
        for p in &parts {
            starts.push(buf.len());
            buf.extend_from_slice(p);
        }
        let found: Vec<_> = batch::batches(&buf).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(found.iter().map(|(p, _)| *p).collect::<Vec<_>>(), starts);
        for (pos, h) in found {
            prop_assert_eq!(h.size(), LOG_OVERHEAD + h.batch_length as usize);
            prop_assert!(pos + h.size() <= buf.len());
            prop_assert!(batch::validate(&buf[pos..pos + h.size()]).is_ok());
        }
    }
}
