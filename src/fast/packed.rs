//! [`PackedStrs`]: a short list of strings, their bytes side by side, the first ones inline.

use std::fmt;

/// Bytes kept inline in [`PackedStrs`].
const HEAD_BYTES: usize = 48;
/// Strings kept inline in [`PackedStrs`].
const HEAD_STRS: usize = 7;

/// A list of strings, fixed once built, for finding a request's string among a few known
/// ones: the predicted labels a monitor declares, the paths a layer monitors. The first ones
/// (up to seven strings and 48 bytes) sit in the struct itself, one cache line, so a lookup
/// among them reads that line and the string looked for; any others follow on the heap.
/// Under load, other work evicts these lines between two requests, and each line a request
/// touches can cost a trip to memory: a list of boxed strings costs a line per string.
#[repr(C, align(64))]
pub(crate) struct PackedStrs {
    /// How many strings `head` holds.
    head_len: u8,
    /// Where each string of the head ends in `head_bytes`.
    head_ends: [u8; HEAD_STRS],
    head_bytes: [u8; HEAD_BYTES],
    /// The strings after those of the head, in order.
    rest: Option<Box<Spilled>>,
}

/// The strings that do not fit in the head of [`PackedStrs`].
struct Spilled {
    bytes: Box<str>,
    /// Where each string ends in `bytes`.
    ends: Box<[usize]>,
}

impl PackedStrs {
    /// The strings `values`, in order (duplicates kept: the first is found).
    pub(crate) fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut packed = Self {
            head_len: 0,
            head_ends: [0; HEAD_STRS],
            head_bytes: [0; HEAD_BYTES],
            rest: None,
        };
        let mut used = 0;
        let (mut bytes, mut ends) = (String::new(), Vec::new());
        for value in values {
            let end = used + value.len();
            let head = usize::from(packed.head_len);
            // The head keeps the order: once one string spills, every later one follows it.
            if ends.is_empty() && head < HEAD_STRS && end <= HEAD_BYTES {
                packed.head_bytes[used..end].copy_from_slice(value.as_bytes());
                packed.head_ends[head] = u8::try_from(end).unwrap_or(u8::MAX);
                packed.head_len += 1;
                used = end;
            } else {
                bytes.push_str(value);
                ends.push(bytes.len());
            }
        }
        if !ends.is_empty() {
            packed.rest = Some(Box::new(Spilled {
                bytes: bytes.into_boxed_str(),
                ends: ends.into_boxed_slice(),
            }));
        }
        packed
    }

    /// Number of strings.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.head_len) + self.rest.as_ref().map_or(0, |rest| rest.ends.len())
    }

    /// Where each string of the head ends in `head_bytes`.
    fn head_ends(&self) -> impl Iterator<Item = usize> + '_ {
        self.head_ends
            .iter()
            .take(usize::from(self.head_len))
            .map(|&end| usize::from(end))
    }

    /// The position of the first string equal to `value`.
    #[inline]
    pub(crate) fn position(&self, value: &str) -> Option<usize> {
        if let Some(i) = find(&self.head_bytes, self.head_ends(), value) {
            return Some(i);
        }
        let rest = self.rest.as_ref()?;
        let head = usize::from(self.head_len);
        find(rest.bytes.as_bytes(), rest.ends.iter().copied(), value).map(|i| head + i)
    }

    /// The strings, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &str> {
        let head = split(&self.head_bytes, self.head_ends());
        let rest = self
            .rest
            .iter()
            .flat_map(|rest| split(rest.bytes.as_bytes(), rest.ends.iter().copied()));
        head.chain(rest)
    }
}

/// The index of `value` among the strings of `bytes` that end at `ends`.
#[inline]
fn find(bytes: &[u8], ends: impl Iterator<Item = usize>, value: &str) -> Option<usize> {
    let mut start = 0;
    for (i, end) in ends.enumerate() {
        if end - start == value.len() && bytes.get(start..end) == Some(value.as_bytes()) {
            return Some(i);
        }
        start = end;
    }
    None
}

/// The strings of `bytes` that end at `ends` (each was whole UTF-8 when it went in).
fn split<'a>(
    bytes: &'a [u8],
    ends: impl Iterator<Item = usize> + 'a,
) -> impl Iterator<Item = &'a str> {
    let mut start = 0;
    ends.map(move |end| {
        let s = bytes
            .get(start..end)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default();
        start = end;
        s
    })
}

impl fmt::Debug for PackedStrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_found_whole_and_first() {
        let p = PackedStrs::new(["app", "approved", "", "app", "é"]);
        assert_eq!(p.len(), 5);
        assert_eq!(p.position("app"), Some(0));
        assert_eq!(p.position("approved"), Some(1));
        assert_eq!(p.position(""), Some(2));
        assert_eq!(p.position("é"), Some(4));
        for absent in ["ap", "approve", "approvedx", "pp", "appapproved", "e"] {
            assert_eq!(p.position(absent), None, "{absent}");
        }
        assert_eq!(PackedStrs::new(std::iter::empty()).position("a"), None);
    }

    #[test]
    fn strings_past_the_inline_head_keep_their_order() {
        // Nine values: seven inline, two on the heap, a duplicate across the two parts.
        let many = ["a", "b", "c", "d", "e", "f", "g", "h", "a"];
        let p = PackedStrs::new(many);
        assert_eq!((p.len(), usize::from(p.head_len)), (9, 7));
        assert_eq!(p.position("g"), Some(6));
        assert_eq!(p.position("h"), Some(7));
        assert_eq!(p.position("a"), Some(0));
        assert_eq!(p.position("i"), None);
        // Too long for what is left of the head: it and every value after it spill.
        let (long, longer) = ("x".repeat(40), "y".repeat(10));
        let p = PackedStrs::new([long.as_str(), longer.as_str(), "z", ""]);
        assert_eq!((p.len(), usize::from(p.head_len)), (4, 1));
        assert_eq!(p.position(&long), Some(0));
        assert_eq!(p.position(&longer), Some(1));
        assert_eq!(p.position("z"), Some(2));
        assert_eq!(p.position(""), Some(3));
        assert_eq!(p.position(&"x".repeat(39)), None);
        // Exactly the 48 bytes of the head.
        let full = "w".repeat(48);
        let p = PackedStrs::new([full.as_str(), "v"]);
        assert_eq!((p.position(&full), p.position("v")), (Some(0), Some(1)));
        assert_eq!(usize::from(p.head_len), 1);
        assert_eq!(std::mem::size_of::<PackedStrs>(), 64);
    }

    #[test]
    fn iterates_in_order_across_the_head_and_the_rest() {
        let long = "é".repeat(30);
        let values = ["/predict", "", long.as_str(), "/predict/batch"];
        let p = PackedStrs::new(values);
        assert!(p.iter().eq(values));
        assert_eq!(format!("{p:?}"), format!("{values:?}"));
    }
}
