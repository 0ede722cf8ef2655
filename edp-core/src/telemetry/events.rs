//! Trace context on events: stamped when an envelope is made, turned into `publish`,
//! `receive` and `process` spans (OpenTelemetry messaging conventions) while a
//! pipeline is installed, and carried through unchanged otherwise.

use crate::event::Envelope;
use crate::event::headers::{TRACEPARENT, TRACESTATE};

/// Sets the trace context of a new envelope.
///
/// Inside a traced span (a handler's `process` span, an HTTP request's span) the
/// envelope continues that span's trace. Otherwise it carries `parent`'s
/// `traceparent` and `tracestate` unchanged, so a trace goes on through services that
/// trace nothing themselves. The [`Encoder`](crate::event::Encoder) calls this for
/// every envelope it makes; call it yourself for envelopes you build by hand.
///
/// ```
/// use edp_core::{Envelope, telemetry};
///
/// let parent = Envelope::builder("order.placed", b"{}".to_vec())
///     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
///     .build();
/// let mut child = Envelope::builder("payment.charged", b"{}".to_vec()).build();
/// telemetry::stamp(&mut child, Some(&parent));
/// assert_eq!(child.headers.get("traceparent"), parent.headers.get("traceparent"));
/// ```
pub fn stamp(env: &mut Envelope, parent: Option<&Envelope>) {
    #[cfg(feature = "otel")]
    if super::tracing_active() {
        if let Some((tp, state)) = super::otel::current_span_context() {
            env.headers.insert(TRACEPARENT, tp.to_string());
            match state {
                Some(state) => env.headers.insert(TRACESTATE, state),
                None => {
                    env.headers.remove(TRACESTATE);
                }
            }
            return;
        }
    }
    if let Some(parent) = parent {
        for name in [TRACEPARENT, TRACESTATE] {
            if let Some(v) = parent.headers.get(name) {
                env.headers.insert(name, v.to_owned());
            }
        }
    }
}

/// The `publish` spans of one batch; they end when this is dropped, after the send.
#[derive(Debug, Default)]
pub struct PublishSpans {
    /// Held, not read: dropping them after the send ends them.
    #[cfg(feature = "otel")]
    #[allow(dead_code)]
    spans: Vec<opentelemetry::Context>,
}

/// Starts a `publish` span for each envelope of a sampled trace (or that starts one,
/// when the root sampler says so), and points the envelope's `traceparent` at it. An
/// envelope that starts an unsampled trace gets an unsampled `traceparent`, so the
/// services downstream make the same decision.
///
/// [`Publisher`](crate::Publisher) does this for you; code that calls
/// [`Transport::publish`](crate::transport::Transport::publish) itself (the outbox
/// relay) calls it first and drops the result once the batch is sent.
///
/// ```
/// # use edp_core::{Envelope, telemetry};
/// let mut batch = vec![Envelope::builder("order.placed", b"{}".to_vec()).build()];
/// let spans = telemetry::publish_spans("kafka", "orders", &mut batch);
/// // transport.publish("orders", batch).await ...
/// drop(spans);
/// ```
pub fn publish_spans(system: &'static str, topic: &str, batch: &mut [Envelope]) -> PublishSpans {
    #[cfg(feature = "otel")]
    if super::tracing_active() {
        return PublishSpans {
            spans: super::otel::publish_spans(system, topic, batch),
        };
    }
    let _ = (system, topic, batch);
    PublishSpans::default()
}

/// The `receive` and `process` spans of one delivery.
#[derive(Debug)]
pub(crate) struct ConsumeSpans {
    // Dropped in this order: `process` ends before `receive`.
    #[cfg(feature = "otel")]
    pub(crate) process: opentelemetry::Context,
    #[cfg(feature = "otel")]
    pub(crate) receive: opentelemetry::Context,
}

impl ConsumeSpans {
    /// Records the handler's outcome on the spans: an error status with its text.
    pub(crate) fn outcome(&self, error: Option<&str>) {
        #[cfg(feature = "otel")]
        if let Some(error) = error {
            super::otel::fail(&self.process, error);
            super::otel::fail(&self.receive, error);
        }
        let _ = error;
    }
}

/// Runs `work` inside the `process` span, if there is one.
pub(crate) async fn in_spans<F: std::future::Future>(
    spans: Option<&ConsumeSpans>,
    work: F,
) -> F::Output {
    #[cfg(feature = "otel")]
    if let Some(spans) = spans {
        use opentelemetry::context::FutureExt;
        return work.with_context(spans.process.clone()).await;
    }
    let _ = spans;
    work.await
}

/// Starts the spans of one delivery, when its trace is sampled (or, with no trace
/// context, when the root sampler says so). `None` costs nothing further.
#[allow(clippy::ptr_arg)] // the Cow says whether the name is `'static`
pub(crate) fn consume_spans(
    system: &'static str,
    delivery: &crate::transport::Delivery,
    group: &std::borrow::Cow<'static, str>,
) -> Option<ConsumeSpans> {
    #[cfg(feature = "otel")]
    if super::tracing_active() {
        return super::otel::consume_spans(system, delivery, group);
    }
    let _ = (system, delivery, group);
    None
}
