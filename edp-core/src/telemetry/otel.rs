//! The OpenTelemetry side (feature `otel`): span contexts to and from `traceparent`,
//! and the spans edp makes for events.

use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::TraceParent;
use super::events::ConsumeSpans;
use crate::event::Envelope;
use crate::event::headers::{TRACEPARENT, TRACESTATE};
use crate::transport::Delivery;

/// The current span's trace context, when it is a valid OpenTelemetry span.
pub(crate) fn current_span_context() -> Option<(TraceParent, Option<String>)> {
    let span = Span::current();
    if span.is_none() {
        return None;
    }
    span_context(&span)
}

/// A span's trace context as `traceparent` and `tracestate`.
pub(crate) fn span_context(span: &Span) -> Option<(TraceParent, Option<String>)> {
    let cx = span.context();
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
pub(crate) fn remote_context(tp: TraceParent, state: Option<&str>) -> opentelemetry::Context {
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
    opentelemetry::Context::new().with_remote_span_context(sc)
}

/// Sets `span`'s parent to the remote context `tp`; logs when the layer is missing.
pub(crate) fn set_remote_parent(span: &Span, tp: TraceParent, state: Option<&str>) {
    if let Err(e) = span.set_parent(remote_context(tp, state)) {
        tracing::debug!(error = %e, "cannot set a span's remote parent");
    }
}

pub(crate) fn publish_spans(
    system: &'static str,
    topic: &str,
    batch: &mut [Envelope],
) -> Vec<Span> {
    let mut spans = Vec::new();
    for env in batch.iter_mut() {
        let parent = env.headers.get(TRACEPARENT).and_then(TraceParent::parse);
        match parent {
            Some(p) if !p.sampled() => continue,
            None if !super::sampling::sample_root() => {
                env.headers
                    .insert(TRACEPARENT, TraceParent::random(false).to_string());
                continue;
            }
            _ => {}
        }
        let span = tracing::info_span!(
            target: "edp::publish",
            "publish",
            otel.name = %format_args!("send {topic}"),
            otel.kind = "producer",
            messaging.system = system,
            messaging.operation.type = "send",
            messaging.operation.name = "send",
            messaging.destination.name = %topic,
            messaging.message.id = %env.id,
            cloudevents.event_type = %env.event_type,
        );
        if let Some(p) = parent {
            set_remote_parent(&span, p, env.headers.get(TRACESTATE));
        }
        if let Some((tp, state)) = span_context(&span) {
            env.headers.insert(TRACEPARENT, tp.to_string());
            if let Some(state) = state {
                env.headers.insert(TRACESTATE, state);
            }
        }
        spans.push(span);
    }
    spans
}

pub(crate) fn consume_spans(
    system: &'static str,
    delivery: &Delivery,
    group: &str,
) -> Option<ConsumeSpans> {
    let env = &delivery.envelope;
    let parent = env.headers.get(TRACEPARENT).and_then(TraceParent::parse);
    match parent {
        Some(p) if !p.sampled() => return None,
        None if !super::sampling::sample_root() => return None,
        _ => {}
    }
    let topic = &*delivery.topic;
    let receive = tracing::info_span!(
        target: "edp::consume",
        "receive",
        otel.name = %format_args!("receive {topic}"),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
        messaging.system = system,
        messaging.operation.type = "receive",
        messaging.operation.name = "receive",
        messaging.destination.name = %topic,
        messaging.destination.partition.id = delivery.partition,
        messaging.consumer.group.name = %group,
        messaging.message.id = %env.id,
        cloudevents.event_type = %env.event_type,
    );
    if let Some(p) = parent {
        set_remote_parent(&receive, p, env.headers.get(TRACESTATE));
    }
    let process = tracing::info_span!(
        target: "edp::consume",
        parent: &receive,
        "process",
        otel.name = %format_args!("process {topic}"),
        otel.kind = "consumer",
        otel.status_code = tracing::field::Empty,
        otel.status_description = tracing::field::Empty,
        messaging.system = system,
        messaging.operation.type = "process",
        messaging.operation.name = "process",
        messaging.destination.name = %topic,
        messaging.consumer.group.name = %group,
        messaging.message.id = %env.id,
        cloudevents.event_type = %env.event_type,
    );
    Some(ConsumeSpans { receive, process })
}
