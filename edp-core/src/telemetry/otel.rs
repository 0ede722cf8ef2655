//! The OpenTelemetry side (feature `otel`): span contexts to and from `traceparent`,
//! and the spans edp makes for events and HTTP requests.
//!
//! edp makes its own spans with the OpenTelemetry SDK directly, not through `tracing`
//! spans: that costs a third as much per span (measured: `tracing` spans record
//! every attribute through field visitors and a registry slot). The span is made the
//! current OpenTelemetry context while the handler or request runs, so the `tracing`
//! spans of user code become its children, and events published there continue it.

use std::sync::RwLock;

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::TraceParent;
use super::events::ConsumeSpans;
use crate::event::Envelope;
use crate::event::headers::{CORRELATION_ID, TRACEPARENT, TRACESTATE};
use crate::transport::Delivery;

static TRACER: RwLock<Option<SdkTracer>> = RwLock::new(None);

/// Installs (or, with `None`, removes) the tracer edp's spans are made with.
pub(crate) fn install(tracer: Option<SdkTracer>) {
    if let Ok(mut t) = TRACER.write() {
        *t = tracer;
    }
}

fn tracer() -> Option<SdkTracer> {
    TRACER.read().ok().and_then(|t| t.clone())
}

/// The current trace context: the current `tracing` span's (user code inside a
/// handler), else the OpenTelemetry context edp attached (a handler's `process`
/// span, a request's `server` span).
pub(crate) fn current_span_context() -> Option<(TraceParent, Option<String>)> {
    let span = tracing::Span::current();
    if !span.is_none() {
        if let Some(found) = context_of(&span.context()) {
            return Some(found);
        }
    }
    context_of(&Context::current())
}

/// A context's span as `traceparent` and `tracestate`.
pub(crate) fn context_of(cx: &Context) -> Option<(TraceParent, Option<String>)> {
    let otel = cx.span();
    let sc = otel.span_context();
    if !sc.is_valid() {
        return None;
    }
    let tp = TraceParent {
        trace_id: u128::from_be_bytes(sc.trace_id().to_bytes()),
        span_id: u64::from_be_bytes(sc.span_id().to_bytes()),
        flags: sc.trace_flags().to_u8(),
    };
    let state = sc.trace_state().header();
    Some((tp, (!state.is_empty()).then_some(state)))
}

/// An OpenTelemetry context whose remote parent is `tp`.
pub(crate) fn remote_context(tp: TraceParent, state: Option<&str>) -> Context {
    let state = state
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    let sc = SpanContext::new(
        TraceId::from_bytes(tp.trace_id.to_be_bytes()),
        SpanId::from_bytes(tp.span_id.to_be_bytes()),
        TraceFlags::new(tp.flags),
        true,
        state,
    );
    Context::new().with_remote_span_context(sc)
}

/// What a `traceparent` value says about sampling: `Some(flag)` for a well-formed
/// value (read from its flags without parsing the ids), `None` for a malformed one.
fn sampled_flag(value: &str) -> Option<bool> {
    let b = value.as_bytes();
    if b.len() < 55 || b[52] != b'-' {
        return None;
    }
    let low = match b[54] {
        c @ b'0'..=b'9' => c - b'0',
        c @ b'a'..=b'f' => c - b'a' + 10,
        _ => return None,
    };
    Some(low & 1 == 1)
}

/// The parent context an event's `traceparent` gives, when its trace is sampled;
/// `None` when it is not. Without a (valid) `traceparent`, the trace starts here,
/// sampled by the event's correlation id, so that every event of one flow (they
/// share it) gets the same answer without carrying anything.
fn parent_of(env: &Envelope) -> Option<Context> {
    if let Some(value) = env.headers.get(TRACEPARENT) {
        if sampled_flag(value) == Some(false) {
            return None;
        }
        if let Some(tp) = TraceParent::parse(value) {
            return tp
                .sampled()
                .then(|| remote_context(tp, env.headers.get(TRACESTATE)));
        }
    }
    root_sampled(env).then(Context::new)
}

fn root_sampled(env: &Envelope) -> bool {
    let ratio = super::sample_ratio();
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 {
        return false;
    }
    let seed = match env.headers.get(CORRELATION_ID) {
        // FNV-1a over the text.
        Some(c) => c.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        }),
        // The event's own id: its last 8 bytes are random in a UUIDv7.
        None => {
            let b = env.id.as_bytes();
            u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]])
        }
    };
    // splitmix64's finalizer spreads any seed evenly.
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    ((z >> 11) as f64 / (1u64 << 53) as f64) < ratio
}

thread_local! {
    /// (operation, topic) -> (span name, topic), both interned: span names and topic
    /// attributes then cost no allocation.
    static NAMES: std::cell::RefCell<Vec<(&'static str, &'static str, &'static str)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The span name `"{operation} {topic}"` and the topic, as `&'static str`.
fn span_name(operation: &'static str, topic: &str) -> (&'static str, &'static str) {
    NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if let Some((_, t, n)) = names
            .iter()
            .find(|(o, t, _)| std::ptr::eq(*o, operation) && *t == topic)
        {
            return (*n, *t);
        }
        let name = crate::intern::intern(&format!("{operation} {topic}"));
        let topic = crate::intern::intern(topic);
        names.push((operation, topic, name));
        (name, topic)
    })
}

fn messaging_attributes(
    system: &'static str,
    operation: &'static str,
    topic: &'static str,
    id: &opentelemetry::StringValue,
    env: &Envelope,
) -> Vec<KeyValue> {
    let event_type: opentelemetry::StringValue = match &env.event_type {
        std::borrow::Cow::Borrowed(t) => (*t).into(),
        std::borrow::Cow::Owned(t) => t.clone().into(),
    };
    let mut attrs = Vec::with_capacity(8);
    attrs.extend([
        KeyValue::new("messaging.system", system),
        KeyValue::new("messaging.operation.type", operation),
        KeyValue::new("messaging.operation.name", operation),
        KeyValue::new("messaging.destination.name", topic),
        KeyValue::new("messaging.message.id", id.clone()),
        KeyValue::new("cloudevents.event_type", event_type),
    ]);
    attrs
}

fn message_id(env: &Envelope) -> opentelemetry::StringValue {
    let id: std::sync::Arc<str> = env.id.to_string().into();
    id.into()
}

pub(crate) fn publish_spans(
    system: &'static str,
    topic: &str,
    batch: &mut [Envelope],
) -> Vec<Context> {
    let Some(tracer) = tracer() else {
        return Vec::new();
    };
    let mut spans = Vec::new();
    for env in batch.iter_mut() {
        let Some(parent) = parent_of(env) else {
            continue;
        };
        let (name, topic) = span_name("send", topic);
        let id = message_id(env);
        let span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Producer)
            .with_attributes(messaging_attributes(system, "send", topic, &id, env))
            .start_with_context(&tracer, &parent);
        let cx = parent.with_span(span);
        if let Some((tp, state)) = context_of(&cx) {
            env.headers.insert(TRACEPARENT, tp.header_value());
            match state {
                Some(state) => env.headers.insert(TRACESTATE, state),
                None => {
                    env.headers.remove(TRACESTATE);
                }
            }
        }
        spans.push(cx);
    }
    spans
}

#[allow(clippy::ptr_arg)] // the Cow says whether the name is `'static`
pub(crate) fn consume_spans(
    system: &'static str,
    delivery: &Delivery,
    group: &std::borrow::Cow<'static, str>,
) -> Option<ConsumeSpans> {
    let env = &delivery.envelope;
    let parent = parent_of(env)?;
    let tracer = tracer()?;
    let (receive_name, topic) = span_name("receive", &delivery.topic);
    let (process_name, _) = span_name("process", topic);
    let id = message_id(env);
    let mut attrs = messaging_attributes(system, "receive", topic, &id, env);
    let group: opentelemetry::StringValue = match group {
        std::borrow::Cow::Borrowed(g) => (*g).into(),
        std::borrow::Cow::Owned(g) => g.clone().into(),
    };
    attrs.push(KeyValue::new("messaging.consumer.group.name", group));
    if let Some(p) = delivery.partition {
        attrs.push(KeyValue::new(
            "messaging.destination.partition.id",
            i64::from(p),
        ));
    }
    let mut process_attrs = attrs.clone();
    process_attrs[1] = KeyValue::new("messaging.operation.type", "process");
    process_attrs[2] = KeyValue::new("messaging.operation.name", "process");
    let receive = tracer
        .span_builder(receive_name)
        .with_kind(SpanKind::Consumer)
        .with_attributes(attrs)
        .start_with_context(&tracer, &parent);
    let receive = parent.with_span(receive);
    let process = tracer
        .span_builder(process_name)
        .with_kind(SpanKind::Consumer)
        .with_attributes(process_attrs)
        .start_with_context(&tracer, &receive);
    let process = receive.with_span(process);
    Some(ConsumeSpans { process, receive })
}

/// Marks the context's span failed with `error`.
pub(crate) fn fail(cx: &Context, error: &str) {
    cx.span().set_status(Status::error(error.to_owned()));
}

/// A `server` span for an HTTP request, when its trace is sampled.
#[cfg(feature = "http")]
pub(crate) fn server_span(parts: &http::request::Parts, route: Option<&str>) -> Option<Context> {
    let tracer = tracer()?;
    let value = parts.headers.get(TRACEPARENT).and_then(|v| v.to_str().ok());
    let parent = match value.and_then(TraceParent::parse) {
        Some(p) if !p.sampled() => return None,
        Some(p) => {
            let state = parts.headers.get(TRACESTATE).and_then(|v| v.to_str().ok());
            remote_context(p, state)
        }
        None if super::sampling::sample_root() => Context::new(),
        None => return None,
    };
    let method = parts.method.as_str();
    let name: std::borrow::Cow<'static, str> = match route {
        Some(r) => format!("{method} {r}").into(),
        None => method.to_owned().into(),
    };
    let mut attrs = vec![
        KeyValue::new("http.request.method", method.to_owned()),
        KeyValue::new("url.path", parts.uri.path().to_owned()),
    ];
    if let Some(r) = route {
        attrs.push(KeyValue::new("http.route", r.to_owned()));
    }
    let span = tracer
        .span_builder(name)
        .with_kind(SpanKind::Server)
        .with_attributes(attrs)
        .start_with_context(&tracer, &parent);
    Some(parent.with_span(span))
}

/// Records the response status on a `server` span.
#[cfg(feature = "http")]
pub(crate) fn server_status(cx: &Context, status: u16) {
    let span = cx.span();
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status),
    ));
    if status >= 500 {
        span.set_status(Status::error(format!("HTTP {status}")));
    }
}

/// A `client` span for an outgoing request, when the current trace is sampled; and
/// the trace context to send (the span's, or the current unsampled one).
#[cfg(feature = "http")]
pub(crate) fn client_span(
    method: &str,
    url: &str,
) -> (Option<Context>, Option<(TraceParent, Option<String>)>) {
    let Some((current, state)) = current_span_context() else {
        return (None, None);
    };
    let Some(tracer) = tracer().filter(|_| current.sampled()) else {
        return (None, Some((current, state)));
    };
    let parent = remote_context(current, state.as_deref());
    let span = tracer
        .span_builder(method.to_owned())
        .with_kind(SpanKind::Client)
        .with_attributes(vec![
            KeyValue::new("http.request.method", method.to_owned()),
            KeyValue::new("url.full", url.to_owned()),
        ])
        .start_with_context(&tracer, &parent);
    let cx = parent.with_span(span);
    let sent = context_of(&cx);
    (Some(cx), sent)
}
