//! [`TraceParent`]: the W3C Trace Context `traceparent` header, parsed strictly.
//!
//! The grammar (W3C Trace Context, level 1, section 3.2):
//! `version "-" trace-id "-" parent-id "-" trace-flags`, each field lowercase hexadecimal:
//! `version` 2 digits and not `ff`, `trace-id` 32 digits and not all zero, `parent-id` 16
//! digits and not all zero, `trace-flags` 2 digits. Version `00` is exactly 55 bytes; a later
//! version may append fields after a `-`, which are ignored (the specification's rule for
//! forward compatibility).

use super::hex_into;

/// The caller's trace: the trace id, the caller's span id (the parent of ours) and the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceParent {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
}

/// Length of a version-00 header.
const LEN_00: usize = 55;

impl TraceParent {
    /// The header `value` parsed, or `None` when it breaks the grammar in any way.
    pub(crate) fn parse(value: &[u8]) -> Option<Self> {
        if value.len() < LEN_00 {
            return None;
        }
        let version = hex_byte(&value[0..2])?;
        match version {
            0xff => return None,
            0x00 if value.len() != LEN_00 => return None,
            // A later version: more fields may follow, after a separator.
            v if v > 0 && value.len() > LEN_00 && value[LEN_00] != b'-' => return None,
            _ => {}
        }
        if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
            return None;
        }
        let mut trace_id = [0u8; 16];
        hex_bytes(&value[3..35], &mut trace_id)?;
        let mut parent_id = [0u8; 8];
        hex_bytes(&value[36..52], &mut parent_id)?;
        let flags = hex_byte(&value[53..55])?;
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            parent_id,
            flags,
        })
    }

    /// The trace id, 16 bytes.
    pub(crate) fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    /// The caller's span id, 8 bytes.
    pub(crate) fn parent_id(&self) -> [u8; 8] {
        self.parent_id
    }

    /// Whether the caller sampled the trace (flag bit 0).
    pub(crate) fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The trace id as 32 lowercase hexadecimal digits, as exemplars and logs write it.
    pub(crate) fn trace_id_hex(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        hex_into(&self.trace_id, &mut out);
        out
    }
}

/// One lowercase hexadecimal digit's value.
fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Two digits as one byte.
fn hex_byte(pair: &[u8]) -> Option<u8> {
    Some(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?)
}

/// `digits` (twice as long as `out`) into `out`.
fn hex_bytes(digits: &[u8], out: &mut [u8]) -> Option<()> {
    for (pair, byte) in digits.chunks_exact(2).zip(out.iter_mut()) {
        *byte = hex_byte(pair)?;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specifications_example_parses() {
        let parent = TraceParent::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(&parent.trace_id_hex(), b"4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            parent.parent_id(),
            [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert!(parent.sampled());
        let unsampled =
            TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
        assert!(!unsampled.sampled());
        assert_eq!(unsampled.trace_id(), parent.trace_id());
    }

    #[test]
    fn a_later_version_may_carry_more_fields() {
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever";
        let parent = TraceParent::parse(later.as_bytes()).unwrap();
        assert_eq!(&parent.trace_id_hex(), b"4bf92f3577b34da6a3ce929d0e0e4736");
        // Exactly 55 bytes is fine for any version.
        assert!(
            TraceParent::parse(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
                .is_some()
        );
    }

    #[test]
    fn every_malformed_header_is_ignored() {
        let bad: &[(&str, &str)] = &[
            ("", "empty"),
            ("00", "too short"),
            (&GOOD[..54], "one byte short"),
            (&format!("{GOOD}0"), "version 00 with a byte more"),
            (&format!("{GOOD}-01"), "version 00 with a field more"),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "version ff",
            ),
            (
                "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "version not hex",
            ),
            (
                "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
                "later version, no separator",
            ),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                "uppercase trace id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
                "uppercase parent id",
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "zero trace id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                "zero parent id",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
                "separator moved",
            ),
            (
                "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
                "wrong separators",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
                "trace id not hex",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
                "parent id not hex",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
                "flags not hex",
            ),
            (
                " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "leading space",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
                "trailing space",
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736\r\n-00f067aa0ba902b7-01",
                "CRLF inside",
            ),
        ];
        for (value, why) in bad {
            assert_eq!(
                TraceParent::parse(value.as_bytes()),
                None,
                "{why}: {value:?}"
            );
        }
        // Not UTF-8 at all.
        let mut bytes = GOOD.as_bytes().to_vec();
        bytes[10] = 0xff;
        assert_eq!(TraceParent::parse(&bytes), None);
    }
}
