//! `acks`, the producer's durability request (SPEC §4), as a type: parsed once at the edge of
//! the produce path, so nothing below it matches on `-1`, `0` and `1`.

use brook_proto::ErrorCode;

use crate::error::BrokerError;

/// How many replicas must have a batch before the leader answers (Kafka's `acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `acks=0`: the producer does not wait; the answer (if any) says `Durability::None`.
    None,
    /// `acks=1`: answered once the leader appended (and fsynced, if the flush policy says so).
    Leader,
    /// `acks=all` (`-1`): answered once the high watermark passed the batch; refused up front
    /// while the ISR is below `min.insync.replicas`.
    All,
}

impl TryFrom<i32> for Acks {
    type Error = BrokerError;

    /// The wire value; anything but -1, 0 and 1 is `INVALID_REQUIRED_ACKS`.
    fn try_from(acks: i32) -> Result<Acks, BrokerError> {
        match acks {
            0 => Ok(Acks::None),
            1 => Ok(Acks::Leader),
            -1 => Ok(Acks::All),
            other => Err(BrokerError::new(
                ErrorCode::InvalidRequiredAcks,
                format!("acks={other} (must be -1, 0 or 1)"),
            )),
        }
    }
}

impl From<Acks> for i32 {
    fn from(acks: Acks) -> i32 {
        match acks {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_three_kafka_values_parse() {
        for v in [-1, 0, 1] {
            let acks = Acks::try_from(v).map(i32::from);
            assert_eq!(acks.ok(), Some(v));
        }
        for v in [-2, 2, i32::MAX, i32::MIN] {
            let err = Acks::try_from(v).err().map(|e| e.code());
            assert_eq!(err, Some(ErrorCode::InvalidRequiredAcks), "acks={v}");
        }
    }
}
