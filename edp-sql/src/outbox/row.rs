//! An outbox row: an envelope and its topic, in the columns of `edp_outbox`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use edp_core::Envelope;
use edp_core::event::Headers;
use uuid::Uuid;

/// A row to insert, borrowed from its envelope.
#[doc(hidden)]
#[derive(Debug)]
pub struct NewRow<'a> {
    pub event_id: Uuid,
    pub topic: &'a str,
    pub event_type: &'a str,
    pub source: &'a str,
    pub subject: Option<&'a str>,
    pub time_us: i64,
    pub content_type: &'a str,
    pub data_version: i32,
    pub headers: String,
    pub data: &'a [u8],
    pub created_us: i64,
}

impl<'a> NewRow<'a> {
    pub(crate) fn new(topic: &'a str, env: &'a Envelope, now_us: i64) -> Self {
        Self {
            event_id: env.id,
            topic,
            event_type: &env.event_type,
            source: &env.source,
            subject: env.subject.as_deref(),
            time_us: micros(env.time),
            content_type: &env.datacontenttype,
            data_version: i32::try_from(env.dataversion).unwrap_or(i32::MAX),
            headers: headers_to_json(&env.headers),
            data: &env.data,
            created_us: now_us,
        }
    }
}

/// A row read back by the relay.
#[doc(hidden)]
#[derive(Debug)]
pub struct StoredRow {
    pub id: i64,
    pub event_id: Uuid,
    pub topic: String,
    pub event_type: String,
    pub source: String,
    pub subject: Option<String>,
    pub time_us: i64,
    pub content_type: String,
    pub data_version: i32,
    pub headers: String,
    pub data: Vec<u8>,
}

impl StoredRow {
    /// The envelope as it was written; `Err` names what is unreadable.
    pub(crate) fn into_envelope(self) -> Result<Envelope, String> {
        let headers = headers_from_json(&self.headers)?;
        Ok(Envelope::builder(self.event_type, self.data)
            .id(self.event_id)
            .source(self.source)
            .time(from_micros(self.time_us))
            .subject_opt(self.subject)
            .datacontenttype(self.content_type)
            .dataversion(u32::try_from(self.data_version).unwrap_or(1))
            .headers(headers)
            .build())
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

fn headers_to_json(headers: &Headers) -> String {
    let map: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

fn headers_from_json(text: &str) -> Result<Headers, String> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| format!("headers are not a JSON object ({e}): {text}"))?;
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            other => Err(format!("header `{k}` is not a string: {other}")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_survives_the_row() -> Result<(), String> {
        let env = Envelope::builder("order.placed", &b"{\"a\":1}"[..])
            .source("order")
            .subject("o-1")
            .dataversion(2)
            .header(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )
            .header("correlationid", "req-1")
            .build();
        let row = NewRow::new("orders", &env, now_us());
        let stored = StoredRow {
            id: 1,
            event_id: row.event_id,
            topic: row.topic.into(),
            event_type: row.event_type.into(),
            source: row.source.into(),
            subject: row.subject.map(Into::into),
            time_us: row.time_us,
            content_type: row.content_type.into(),
            data_version: row.data_version,
            headers: row.headers.clone(),
            data: row.data.to_vec(),
        };
        let back = stored.into_envelope()?;
        assert_eq!(back.id, env.id);
        assert_eq!(back.subject.as_deref(), Some("o-1"));
        assert_eq!(back.dataversion, 2);
        assert_eq!(back.data, env.data);
        assert_eq!(
            back.headers.get("traceparent"),
            env.headers.get("traceparent")
        );
        assert_eq!(back.correlation_id(), "req-1");
        assert_eq!(micros(back.time), micros(env.time));
        Ok(())
    }

    #[test]
    fn unreadable_headers_are_named() {
        assert!(headers_from_json("[1]").is_err_and(|e| e.contains("not a JSON object")));
        assert!(headers_from_json(r#"{"a":1}"#).is_err_and(|e| e.contains("`a`")));
    }
}
