//! Envelopes on Kafka records, in the CloudEvents Kafka protocol binding's binary
//! mode: the payload is the record value, the key is the envelope's subject, and the
//! attributes are headers (`ce_id`, `ce_source`, `ce_type`, `ce_time`,
//! `ce_specversion`, `content-type`, plus `ce_dataversion` and every extension header
//! as `ce_<name>`). Any CloudEvents-aware Kafka tool reads them.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use edp_core::Envelope;
use edp_core::event::{Headers, headers};
use rdkafka::message::{BorrowedMessage, Header, Headers as _, Message, OwnedHeaders};
use uuid::Uuid;

const PREFIX: &str = "ce_";
const CONTENT_TYPE: &str = "content-type";

/// The record headers of `envelope`. `ce_dataversion` is left out when it is 1 (the
/// reader's default): one header less to write and parse per record.
pub(crate) fn headers_of(envelope: &Envelope) -> OwnedHeaders {
    let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = envelope.id.hyphenated().encode_lower(&mut id);
    let mut time = [0u8; RFC3339_LEN];
    let time = rfc3339_into(envelope.time, &mut time);
    let mut h = OwnedHeaders::new_with_capacity(7 + envelope.headers.len())
        .insert(header("ce_specversion", "1.0"))
        .insert(header("ce_id", id))
        .insert(header("ce_source", &envelope.source))
        .insert(header("ce_type", &envelope.event_type))
        .insert(header("ce_time", time))
        .insert(header(CONTENT_TYPE, &envelope.datacontenttype));
    if envelope.dataversion != 1 {
        let version = envelope.dataversion.to_string();
        h = h.insert(header("ce_dataversion", &version));
    }
    for (name, value) in envelope.headers.iter() {
        let name = format!("{PREFIX}{name}");
        h = h.insert(header(&name, value));
    }
    h
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

/// The milliseconds since the epoch, for the record timestamp.
pub(crate) fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Reads envelopes from fetched records, on the poll thread.
///
/// Built for the poll thread's hot loop, where profiles showed allocation and hashing:
/// the attribute values of the last record are kept (the records of a topic mostly
/// repeat their type, source and content type), and payloads are copied into shared
/// 64 KiB chunks instead of one allocation each. A chunk is freed when the last
/// record in it is dropped.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    event_type: Option<&'static str>,
    source: Option<&'static str>,
    content_type: Option<&'static str>,
    chunk: BytesMut,
}

/// Payloads are copied into chunks of this size.
const CHUNK: usize = 64 * 1024;

impl Reader {
    /// Reads an envelope from a fetched record. A record that lacks what an envelope
    /// needs still becomes one, marked with the [`headers::INVALID`] header and the
    /// reason, so the service dead-letters it instead of losing it.
    pub(crate) fn envelope(&mut self, msg: &BorrowedMessage<'_>) -> Envelope {
        let mut problems: Vec<String> = Vec::new();
        let mut id = None;
        let mut source = None;
        let mut event_type = None;
        let mut time = None;
        let mut content_type = None;
        let mut version = None;
        let mut extra = Headers::new();
        if let Some(hs) = msg.headers() {
            for h in hs.iter() {
                let Some(raw) = h.value else { continue };
                let slot = match h.key {
                    "ce_type" => Some((&mut self.event_type, &mut event_type)),
                    "ce_source" => Some((&mut self.source, &mut source)),
                    CONTENT_TYPE => Some((&mut self.content_type, &mut content_type)),
                    _ => None,
                };
                if let Some((last, out)) = slot {
                    match repeated(last, raw) {
                        Ok(v) => *out = Some(v),
                        Err(()) => problems.push(format!("header `{}` is not UTF-8", h.key)),
                    }
                    continue;
                }
                let Ok(value) = std::str::from_utf8(raw) else {
                    problems.push(format!("header `{}` is not UTF-8", h.key));
                    continue;
                };
                match h.key {
                    "ce_id" => match Uuid::parse_str(value) {
                        Ok(u) => id = Some(u),
                        Err(e) => problems.push(format!("`ce_id` `{value}` is not a UUID: {e}")),
                    },
                    "ce_time" => time = parse_rfc3339(value),
                    "ce_specversion" => {}
                    "ce_dataversion" => match value.parse() {
                        Ok(v) => version = Some(v),
                        Err(_) => {
                            problems.push(format!("`ce_dataversion` `{value}` is not a number"));
                        }
                    },
                    key => {
                        let name = key.strip_prefix(PREFIX).unwrap_or(key);
                        extra.insert(name.to_owned(), value);
                    }
                }
            }
        }
        if id.is_none() && problems.is_empty() {
            problems.push(
                "no `ce_id` header: not a CloudEvents record (publish it with edp, or set the \
                 CloudEvents Kafka headers ce_id, ce_type, ce_source)"
                    .to_owned(),
            );
        }
        if event_type.is_none() && problems.is_empty() {
            problems.push("no `ce_type` header: the event type is unknown".to_owned());
        }
        let time = time.unwrap_or_else(|| match msg.timestamp().to_millis() {
            Some(ms) if ms >= 0 => UNIX_EPOCH + Duration::from_millis(ms as u64),
            _ => SystemTime::now(),
        });
        if !problems.is_empty() {
            extra.insert(headers::INVALID, problems.join("; "));
        }
        let subject = msg.key().map(|k| match std::str::from_utf8(k) {
            Ok(k) => k.to_owned(),
            Err(_) => String::from_utf8_lossy(k).into_owned(),
        });
        let data = msg.payload().map(|p| self.copy(p)).unwrap_or_default();
        let mut b = Envelope::builder(event_type.unwrap_or_default(), data)
            .id(id.unwrap_or_else(Uuid::now_v7))
            .source(source.unwrap_or_default())
            .time(time)
            .subject_opt(subject)
            .dataversion(version.unwrap_or(1))
            .headers(extra);
        if let Some(ct) = content_type {
            b = b.datacontenttype(ct);
        }
        b.build()
    }

    /// `payload` as shared bytes in the current chunk (large ones on their own).
    fn copy(&mut self, payload: &[u8]) -> Bytes {
        if payload.len() > CHUNK / 4 {
            return Bytes::copy_from_slice(payload);
        }
        if self.chunk.capacity() - self.chunk.len() < payload.len() {
            self.chunk = BytesMut::with_capacity(CHUNK);
        }
        self.chunk.extend_from_slice(payload);
        self.chunk.split().freeze()
    }
}

/// `raw` as a string, without an allocation when it repeats `last` or was seen before.
fn repeated(last: &mut Option<&'static str>, raw: &[u8]) -> Result<Cow<'static, str>, ()> {
    if let Some(l) = *last {
        if l.as_bytes() == raw {
            return Ok(Cow::Borrowed(l));
        }
    }
    let value = std::str::from_utf8(raw).map_err(|_| ())?;
    let v = edp_core::intern::value(value);
    if let Cow::Borrowed(b) = v {
        *last = Some(b);
    }
    Ok(v)
}

/// The length of what [`rfc3339`] writes.
const RFC3339_LEN: usize = "2026-11-25T08:00:00.123456Z".len();

/// `t` as an RFC 3339 UTC timestamp with microseconds: `2026-11-25T08:00:00.123456Z`.
#[cfg(test)]
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let mut buf = [0u8; RFC3339_LEN];
    rfc3339_into(t, &mut buf).to_owned()
}

/// Writes [`rfc3339`]'s form of `t` into `buf`, without an allocation. Years past
/// 9999 are written as 9999 (the form has four digits).
fn rfc3339_into(t: SystemTime, buf: &mut [u8; RFC3339_LEN]) -> &str {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    let fields: [(u64, usize); 7] = [
        (y.clamp(0, 9999) as u64, 4),
        (u64::from(m), 2),
        (u64::from(day), 2),
        (rem / 3600, 2),
        (rem % 3600 / 60, 2),
        (rem % 60, 2),
        (u64::from(d.subsec_micros()), 6),
    ];
    let seps = [b'-', b'-', b'T', b':', b':', b'.', b'Z'];
    let mut at = 0;
    for ((value, width), sep) in fields.into_iter().zip(seps) {
        let mut v = value;
        for i in (0..width).rev() {
            buf[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
        buf[at + width] = sep;
        at += width + 1;
    }
    // invariant: only ASCII digits and separators were written.
    std::str::from_utf8(buf).unwrap_or_default()
}

/// Parses what [`rfc3339`] writes, and any RFC 3339 UTC (`Z` or `+00:00`) timestamp
/// with or without a fraction. `None` for anything else (the record's timestamp is
/// used instead).
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, clock) = s.split_once(['T', 't'])?;
    let mut d = date.splitn(3, '-').map(str::parse::<i64>);
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut c = hms.splitn(3, ':').map(str::parse::<u64>);
    let (hh, mm, ss) = (c.next()?.ok()?, c.next()?.ok()?, c.next()?.ok()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // The first nine digits, right-padded with zeros: nanoseconds.
        let mut nanos = 0u32;
        for i in 0..9 {
            let digit = frac.as_bytes().get(i).map_or(0, |b| u32::from(b - b'0'));
            nanos = nanos * 10 + digit;
        }
        nanos
    };
    let days = u64::try_from(days_from_civil(y, m, day)).ok()?;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

// Howard Hinnant's civil calendar algorithms (public domain).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_to_the_microsecond() {
        let t = UNIX_EPOCH + Duration::new(1_795_000_000, 123_456_000);
        let s = rfc3339(t);
        assert_eq!(s, "2026-11-18T11:06:40.123456Z");
        assert_eq!(parse_rfc3339(&s), Some(t));
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00+00:00"),
            Some(UNIX_EPOCH + Duration::from_secs(951_782_400))
        );
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn malformed_timestamps_are_refused() {
        for bad in [
            "",
            "2026-11-18",
            "2026-13-01T00:00:00Z",
            "2026-11-18T25:00:00Z",
            "2026-11-18T08:26:40.12x4Z",
            "2026-11-18T08:26:40+02:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
