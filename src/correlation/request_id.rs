//! [`RequestId`]: the id of one request, the caller's when it is safe to repeat, else one the
//! crate makes.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use http::{HeaderMap, HeaderValue};

use super::hex_into;

/// The longest incoming request id that is kept, in bytes; a longer one is replaced.
pub(crate) const DEFAULT_MAX_REQUEST_ID_LEN: usize = 128;

/// A request id: visible ASCII only, so it can go into a header, a log line or an exemplar
/// label as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestId(HeaderValue);

impl RequestId {
    /// The id of the request with `headers`: the value of header `name` when it is one value of
    /// 1 to `max_len` visible ASCII bytes (`!` to `~`), otherwise a new one. Two headers of that
    /// name are treated as none (a proxy and a client disagreeing is not an id).
    pub(crate) fn of(headers: &HeaderMap, name: &str, max_len: usize) -> Self {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (Some(value), None) if Self::acceptable(value.as_bytes(), max_len) => {
                Self(value.clone())
            }
            _ => Self::new(),
        }
    }

    /// A new id: 32 lowercase hexadecimal digits, a random 64-bit prefix drawn once per process
    /// (so ids do not repeat across restarts) and a 64-bit count (so they do not repeat within
    /// one).
    pub(crate) fn new() -> Self {
        static PREFIX: LazyLock<u64> = LazyLock::new(|| {
            // `RandomState` is seeded from the operating system's randomness once per process.
            let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
            hasher.write_u32(std::process::id());
            hasher.finish()
        });
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let count = COUNT.fetch_add(1, Ordering::Relaxed);
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&PREFIX.to_be_bytes());
        bytes[8..].copy_from_slice(&count.to_be_bytes());
        let mut hex = [0u8; 32];
        hex_into(&bytes, &mut hex);
        // Hexadecimal digits are always a valid header value.
        Self(HeaderValue::from_bytes(&hex).unwrap_or_else(|_| HeaderValue::from_static("0")))
    }

    fn acceptable(value: &[u8], max_len: usize) -> bool {
        (1..=max_len).contains(&value.len()) && value.iter().all(|b| (b'!'..=b'~').contains(b))
    }

    /// The id, visible ASCII.
    pub(crate) fn as_str(&self) -> &str {
        // Checked visible ASCII (kept) or hexadecimal (made): always UTF-8.
        self.0.to_str().unwrap_or("")
    }

    /// The id as a header value, for the response's `x-request-id`.
    pub(crate) fn header_value(&self) -> &HeaderValue {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "x-request-id";

    fn with(values: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(NAME, HeaderValue::from_bytes(v).unwrap());
        }
        headers
    }

    #[test]
    fn a_clean_incoming_id_is_kept() {
        let id = RequestId::of(&with(&[b"req-42_a.b:c/d"]), NAME, 128);
        assert_eq!(id.as_str(), "req-42_a.b:c/d");
        let longest = "a".repeat(128);
        assert_eq!(
            RequestId::of(&with(&[longest.as_bytes()]), NAME, 128).as_str(),
            longest
        );
    }

    #[test]
    fn an_unsafe_or_odd_incoming_id_is_replaced() {
        let too_long = "a".repeat(129);
        for (values, why) in [
            (vec![], "none"),
            (vec![&b""[..]], "empty"),
            (vec![&b"has space"[..]], "a space"),
            (vec![&b"tab\there"[..]], "a tab"),
            (vec![too_long.as_bytes()], "too long"),
            (vec![&[0xc3, 0xa9][..]], "not ASCII"),
            (vec![&b"one"[..], &b"two"[..]], "two values"),
        ] {
            let id = RequestId::of(&with(&values), NAME, 128);
            assert_eq!(id.as_str().len(), 32, "{why}: {:?}", id.as_str());
            assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()), "{why}");
        }
    }

    #[test]
    fn visible_punctuation_is_kept_for_the_formats_to_escape() {
        // A quote or a backslash is visible ASCII: kept as the caller sent it; the log and
        // exemplar writers escape it where their format needs to.
        let id = RequestId::of(&with(&[br#"a"b\c"#]), NAME, 128);
        assert_eq!(id.as_str(), r#"a"b\c"#);
    }

    #[test]
    fn made_ids_are_unique_and_share_the_process_prefix() {
        let ids: Vec<RequestId> = (0..1000).map(|_| RequestId::new()).collect();
        let mut seen: Vec<&str> = ids.iter().map(RequestId::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 1000);
        let prefix = &ids[0].as_str()[..16];
        assert!(ids.iter().all(|id| &id.as_str()[..16] == prefix));
        assert_eq!(ids[0].header_value().as_bytes(), ids[0].as_str().as_bytes());
    }
}
