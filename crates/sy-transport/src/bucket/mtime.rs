//! A file's modification time kept with its object, as user metadata `mtime` (sent as
//! `x-amz-meta-mtime`), in rclone's format: seconds since the epoch, a dot, nanoseconds
//! (`1700000000.123456789`). Listings do not return it; a GET does.

use object_store::{Attribute, Attributes, ObjectMeta};

use crate::Timestamp;

/// The metadata key.
const MTIME: &str = "mtime";

/// The attributes an upload of a file with `mtime` carries.
pub(crate) fn attributes(mtime: Timestamp) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert(
        Attribute::Metadata(MTIME.into()),
        format!("{}.{:09}", mtime.secs, mtime.nanos).into(),
    );
    attributes
}

/// The modification time recorded in `attributes`, if there is a readable one.
pub(crate) fn recorded(attributes: &Attributes) -> Option<Timestamp> {
    let value = attributes.get(&Attribute::Metadata(MTIME.into()))?;
    parse(value.as_ref())
}

fn parse(text: &str) -> Option<Timestamp> {
    let (secs, fraction) = text.split_once('.').unwrap_or((text, ""));
    let secs = secs.parse().ok()?;
    if fraction.len() > 9 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    Some(Timestamp { secs, nanos })
}

/// When the server last wrote the object (its `Last-Modified`), as a [`Timestamp`].
pub(crate) fn written(object: &ObjectMeta) -> Timestamp {
    Timestamp {
        secs: object.last_modified.timestamp(),
        nanos: object
            .last_modified
            .timestamp_subsec_nanos()
            .min(999_999_999),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recorded_time_round_trips_and_rclones_shorter_form_reads() {
        let t = Timestamp {
            secs: 1_700_000_000,
            nanos: 5,
        };
        assert_eq!(recorded(&attributes(t)), Some(t));
        assert_eq!(
            parse("1700000000.5"),
            Some(Timestamp {
                secs: 1_700_000_000,
                nanos: 500_000_000
            })
        );
        assert_eq!(parse("-3").map(|t| t.secs), Some(-3));
        for bad in ["", "x", "1.2.3", "1.1234567890", "1.-5"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
