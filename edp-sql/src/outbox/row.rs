//! An outbox row: an envelope and its topic.
//!
//! The relay reads three columns per row: `id`, `topic` and `envelope`, the whole
//! envelope in one compact binary value (reading eleven columns took twice as long,
//! and the relay reads every row it publishes). `event_id`, `event_type` and
//! `subject` are columns too, for people and for the unique event id.
//!
//! `envelope`, all integers little-endian, strings and bytes as a `u32` length and
//! the bytes:
//!
//! ```text
//! u8 format (1) | [16] id | i64 time (µs since the epoch) | u32 dataversion
//! | str source | str type | str datacontenttype | u8 has subject | [str subject]
//! | u32 header count | (str name, str value)* | bytes data
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edp_core::Envelope;
use edp_core::event::Headers;
use uuid::Uuid;

const FORMAT: u8 = 1;

/// A row to insert, borrowed from its envelope.
#[doc(hidden)]
#[derive(Debug)]
pub struct NewRow<'a> {
    pub event_id: Uuid,
    pub topic: &'a str,
    pub event_type: &'a str,
    pub subject: Option<&'a str>,
    pub envelope: Vec<u8>,
    pub created_us: i64,
}

impl<'a> NewRow<'a> {
    pub(crate) fn new(topic: &'a str, env: &'a Envelope, now_us: i64) -> Self {
        Self {
            event_id: env.id,
            topic,
            event_type: &env.event_type,
            subject: env.subject.as_deref(),
            envelope: encode(env),
            created_us: now_us,
        }
    }
}

/// A row read back by the relay.
#[doc(hidden)]
#[derive(Debug)]
pub struct StoredRow {
    pub id: i64,
    pub topic: String,
    pub envelope: Vec<u8>,
}

impl StoredRow {
    /// The envelope as it was written; `Err` names what is unreadable.
    pub(crate) fn into_envelope(self) -> Result<Envelope, String> {
        decode(&self.envelope)
    }
}

/// Microseconds since the Unix epoch (0 before it).
pub(crate) fn micros(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Now, in microseconds since the Unix epoch.
pub(crate) fn now_us() -> i64 {
    micros(SystemTime::now())
}

fn from_micros(us: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(u64::try_from(us).unwrap_or(0))
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // invariant: envelopes hold less than 4 GiB per field (transports refuse far less).
    let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&b[..len as usize]);
}

fn encode(env: &Envelope) -> Vec<u8> {
    let headers_len: usize = env.headers.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
    let mut out = Vec::with_capacity(
        64 + env.source.len()
            + env.event_type.len()
            + env.datacontenttype.len()
            + env.subject.as_ref().map_or(0, String::len)
            + headers_len
            + env.data.len(),
    );
    out.push(FORMAT);
    out.extend_from_slice(env.id.as_bytes());
    out.extend_from_slice(&micros(env.time).to_le_bytes());
    out.extend_from_slice(&env.dataversion.to_le_bytes());
    put_bytes(&mut out, env.source.as_bytes());
    put_bytes(&mut out, env.event_type.as_bytes());
    put_bytes(&mut out, env.datacontenttype.as_bytes());
    match &env.subject {
        Some(s) => {
            out.push(1);
            put_bytes(&mut out, s.as_bytes());
        }
        None => out.push(0),
    }
    let count = u32::try_from(env.headers.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_le_bytes());
    for (name, value) in env.headers.iter().take(count as usize) {
        put_bytes(&mut out, name.as_bytes());
        put_bytes(&mut out, value.as_bytes());
    }
    put_bytes(&mut out, &env.data);
    out
}

/// Reads an encoded envelope, checking every length against what is there.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.rest.len() < n {
            return Err(format!("envelope truncated in {what}"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32, String> {
        self.array::<4>(what).map(u32::from_le_bytes)
    }

    fn bytes(&mut self, what: &str) -> Result<&'a [u8], String> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }

    fn string(&mut self, what: &str) -> Result<String, String> {
        let b = self.bytes(what)?;
        String::from_utf8(b.to_vec()).map_err(|_| format!("envelope {what} is not UTF-8"))
    }
}

fn decode(bytes: &[u8]) -> Result<Envelope, String> {
    let mut r = Reader { rest: bytes };
    let format = r.array::<1>("format")?[0];
    if format != FORMAT {
        return Err(format!(
            "envelope format {format} is unknown (this version reads {FORMAT})"
        ));
    }
    let id = Uuid::from_bytes(r.array::<16>("id")?);
    let time = from_micros(i64::from_le_bytes(r.array::<8>("time")?));
    let dataversion = r.u32("dataversion")?;
    let source = r.string("source")?;
    let event_type = r.string("type")?;
    let content_type = r.string("datacontenttype")?;
    let subject = match r.array::<1>("subject flag")?[0] {
        0 => None,
        _ => Some(r.string("subject")?),
    };
    let count = r.u32("header count")?;
    let mut headers = Headers::new();
    for _ in 0..count {
        let name = r.string("header name")?;
        headers.insert(name, r.string("header value")?);
    }
    let data = r.bytes("data")?.to_vec();
    if !r.rest.is_empty() {
        return Err(format!("envelope has {} bytes too many", r.rest.len()));
    }
    Ok(Envelope::builder(event_type, data)
        .id(id)
        .source(source)
        .time(time)
        .subject_opt(subject)
        .datacontenttype(content_type)
        .dataversion(dataversion)
        .headers(headers)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope::builder("order.placed", &b"{\"a\":1}"[..])
            .source("order")
            .subject("o-1")
            .dataversion(2)
            .header(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )
            .header("correlationid", "req-1")
            .build()
    }

    #[test]
    fn an_envelope_survives_the_row() -> Result<(), String> {
        let env = sample();
        let row = NewRow::new("orders", &env, now_us());
        assert_eq!((row.event_id, row.subject), (env.id, Some("o-1")));
        let back = StoredRow {
            id: 1,
            topic: "orders".into(),
            envelope: row.envelope,
        }
        .into_envelope()?;
        assert_eq!(back.id, env.id);
        assert_eq!(back.source, "order");
        assert_eq!(back.event_type, "order.placed");
        assert_eq!(back.subject.as_deref(), Some("o-1"));
        assert_eq!(back.datacontenttype, "application/json");
        assert_eq!(back.dataversion, 2);
        assert_eq!(back.data, env.data);
        assert_eq!(
            back.headers.get("traceparent"),
            env.headers.get("traceparent")
        );
        assert_eq!(back.correlation_id(), "req-1");
        assert_eq!(micros(back.time), micros(env.time));
        let bare = Envelope::builder("x", Vec::new()).build();
        let back = decode(&encode(&bare))?;
        assert_eq!(
            (back.subject, back.headers.len(), back.data.len()),
            (None, 0, 0)
        );
        Ok(())
    }

    #[test]
    fn damaged_envelopes_are_refused_with_the_reason() {
        let good = encode(&sample());
        for cut in 0..good.len() {
            let err = decode(&good[..cut]).err().unwrap_or_default();
            assert!(err.contains("truncated"), "cut at {cut}: {err}");
        }
        let mut long = good.clone();
        long.push(0);
        assert!(decode(&long).is_err_and(|e| e.contains("too many")));
        let mut future = good;
        future[0] = 9;
        assert!(decode(&future).is_err_and(|e| e.contains("format 9")));
    }
}
