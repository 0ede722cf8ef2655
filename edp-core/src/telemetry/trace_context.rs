//! The W3C Trace Context `traceparent` value: parsed, checked and written.

use std::fmt;

use rand::{Rng, rngs::SmallRng};
use std::cell::RefCell;

/// A parsed W3C `traceparent` (version 00): trace id, parent span id and flags.
///
/// ```
/// use edp_core::telemetry::TraceParent;
///
/// let tp = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// assert!(tp.sampled());
/// assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(tp.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// assert!(TraceParent::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace id; never zero.
    pub trace_id: u128,
    /// The id of the span this one descends from; never zero.
    pub span_id: u64,
    /// Trace flags; bit 0 is "sampled".
    pub flags: u8,
}

impl TraceParent {
    /// Parses a `traceparent` header value. `None` when it is not a valid version-00
    /// value (wrong length, not lowercase hex, an all-zero id, version `ff`); a later
    /// version is read by its first four fields, as the W3C specification asks.
    pub fn parse(value: &str) -> Option<Self> {
        let b = value.as_bytes();
        if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let version = hex_u8(&b[0..2])?;
        if version == 0xff || (version == 0 && b.len() != 55) || (b.len() > 55 && b[55] != b'-') {
            return None;
        }
        let trace_id = hex_u128(&b[3..35])?;
        let span_id = hex_u64(&b[36..52])?;
        let flags = hex_u8(&b[53..55])?;
        (trace_id != 0 && span_id != 0).then_some(Self {
            trace_id,
            span_id,
            flags,
        })
    }

    /// A new trace with random ids, sampled or not.
    pub fn random(sampled: bool) -> Self {
        RNG.with(|r| {
            let mut r = r.borrow_mut();
            Self {
                trace_id: ((u128::from(r.next_u64()) << 64) | u128::from(r.next_u64())) | 1,
                span_id: r.next_u64() | 1,
                flags: u8::from(sampled),
            }
        })
    }

    /// Whether the trace is sampled (flag bit 0).
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The trace id as 32 lowercase hex digits, as log lines and trace UIs show it.
    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }
}

impl TraceParent {
    /// The header value: `00-{trace id}-{span id}-{flags}`, without the formatting
    /// machinery (this runs for every traced event).
    pub fn header_value(&self) -> String {
        let mut out = String::with_capacity(55);
        out.push_str("00-");
        push_hex(&mut out, self.trace_id, 32);
        out.push('-');
        push_hex(&mut out, u128::from(self.span_id), 16);
        out.push('-');
        push_hex(&mut out, u128::from(self.flags), 2);
        out
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header_value())
    }
}

thread_local! {
    static RNG: RefCell<SmallRng> = RefCell::new(crate::event::envelope::seed_rng());
}

/// A uniform draw in `[0, 1)`, from a per-thread generator (no lock).
#[cfg_attr(not(all(feature = "otel", feature = "http")), allow(dead_code))]
pub(crate) fn unit_draw() -> f64 {
    // 53 random bits: every f64 in [0, 1) with that spacing.
    RNG.with(|r| (r.borrow_mut().next_u64() >> 11) as f64 / (1u64 << 53) as f64)
}

/// Hex digit values; 0xff marks a byte that is not a lowercase hex digit (the
/// specification allows lowercase only).
static HEX: [u8; 256] = {
    let mut t = [0xff_u8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

/// Up to 16 hex digits, without a branch per digit.
fn hex_u64(b: &[u8]) -> Option<u64> {
    let mut v = 0_u64;
    let mut bad = 0_u8;
    for &c in b {
        let d = HEX[usize::from(c)];
        bad |= d;
        v = (v << 4) | u64::from(d & 0x0f);
    }
    (bad & 0xf0 == 0).then_some(v)
}

fn hex_u128(b: &[u8]) -> Option<u128> {
    let (hi, lo) = b.split_at(b.len() - 16);
    Some((u128::from(hex_u64(hi)?) << 64) | u128::from(hex_u64(lo)?))
}

fn hex_u8(b: &[u8]) -> Option<u8> {
    hex_u64(b).map(|v| v as u8)
}

/// Writes `v`'s low `digits` nibbles as lowercase hex.
fn push_hex(out: &mut String, v: u128, digits: u32) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        out.push(char::from(DIGITS[((v >> (i * 4)) & 0xf) as usize]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_bad_values() {
        let v = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
        let tp = TraceParent::parse(v).unwrap();
        assert!(!tp.sampled());
        assert_eq!(tp.to_string(), v);
        for bad in [
            "",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333g-01",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad} was accepted");
        }
        // A later version: the first four fields count, more may follow.
        assert!(
            TraceParent::parse("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-xyz")
                .is_some()
        );
        let r = TraceParent::random(true);
        assert!(r.sampled() && r.trace_id != 0 && r.span_id != 0);
        assert_eq!(TraceParent::parse(&r.to_string()), Some(r));
    }
}
