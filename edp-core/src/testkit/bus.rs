//! The test bus, its recorders and outcomes.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::broadcast;
use uuid::Uuid;

use crate::codec::{Codec, JsonCodec};
use crate::handler::{Outcome, RunningService};
use crate::transport::memory::{MemorySubscriber, MemoryTransport};
use crate::transport::{SubscribeOptions, Subscriber, Transport};
use crate::{Context, Envelope, Event, Message, Publisher, Service, SharedEnvelope};

/// An in-memory bus for tests: a [`MemoryTransport`], a publisher, and recorders.
#[derive(Debug, Clone)]
pub struct TestBus {
    transport: MemoryTransport,
    publisher: Publisher,
}

impl Default for TestBus {
    fn default() -> Self {
        Self::new()
    }
}

impl TestBus {
    /// A new bus on a fresh in-memory broker.
    pub fn new() -> Self {
        Self::on(MemoryTransport::new())
    }

    /// A bus on an existing in-memory transport.
    pub fn on(transport: MemoryTransport) -> Self {
        Self {
            publisher: Publisher::new("test", transport.clone()),
            transport,
        }
    }

    /// The transport, to build services on.
    pub fn transport(&self) -> MemoryTransport {
        self.transport.clone()
    }

    /// Starts `service`; it is subscribed when this returns.
    ///
    /// # Panics
    /// If the service cannot subscribe (a test failure).
    pub async fn start<C: Codec>(&self, service: Service<MemoryTransport, C>) -> RunningService {
        match service.start().await {
            Ok(r) => r,
            Err(e) => panic!("testkit: service did not start: {e}"),
        }
    }

    /// Publishes `event` as the `test` service; returns its id.
    ///
    /// # Panics
    /// If publishing fails (a test failure).
    pub async fn publish<E: Event>(&self, event: &E) -> Uuid {
        match self.publisher.publish(event).await {
            Ok(id) => id,
            Err(e) => panic!("testkit: cannot publish {}: {e}", E::NAME),
        }
    }

    /// Publishes a hand-made envelope (for example a malformed payload) to `topic`.
    ///
    /// # Panics
    /// If publishing fails (a test failure).
    pub async fn publish_raw(&self, topic: &str, envelope: Envelope) {
        if let Err(e) = self.publisher.send(topic, vec![envelope]).await {
            panic!("testkit: cannot publish to {topic}: {e}");
        }
    }

    /// A context for calling a handler directly, as if `event` had been delivered
    /// from its topic: events the handler publishes go to this bus.
    ///
    /// ```
    /// use edp_core::{Context, error::BoxError, testkit::TestBus};
    /// # use edp_core::Event;
    /// # use serde::{Deserialize, Serialize};
    /// # #[derive(Debug, Serialize, Deserialize, Event)]
    /// # #[event(name = "order.placed", topic = "orders", key = order_id)]
    /// # struct OrderPlaced { order_id: String }
    /// async fn handle(ctx: Context, e: OrderPlaced) -> Result<(), BoxError> {
    ///     assert_eq!(ctx.message().topic, "orders");
    ///     assert_eq!(e.order_id, "o-1");
    ///     Ok(())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let bus = TestBus::new();
    /// let event = OrderPlaced { order_id: "o-1".into() };
    /// handle(bus.context_for(&event), event).await.unwrap();
    /// # }
    /// ```
    ///
    /// # Panics
    /// If `event` cannot be encoded (a test failure).
    pub fn context_for<E: Event>(&self, event: &E) -> Context {
        let envelope = match self.publisher.envelope(event, None) {
            Ok(env) => env,
            Err(e) => panic!("testkit: cannot encode {}: {e}", E::NAME),
        };
        Context::new(
            Message::new(envelope, E::TOPIC),
            self.publisher.clone(),
            tokio_util::sync::CancellationToken::new(),
        )
    }

    /// Records every event published to `topics` from now on, in its own consumer
    /// group.
    ///
    /// # Panics
    /// If the subscription fails (a test failure).
    pub async fn record<T: Into<String>>(&self, topics: impl IntoIterator<Item = T>) -> Recorder {
        let group = format!("testkit-recorder-{}", crate::event::new_event_id());
        match self
            .transport
            .subscribe(SubscribeOptions::new(group, topics))
            .await
        {
            Ok(sub) => Recorder {
                sub,
                buffered: VecDeque::new(),
            },
            Err(e) => panic!("testkit: cannot record: {e}"),
        }
    }
}

/// Records the events of some topics; see [`TestBus::record`].
#[derive(Debug)]
pub struct Recorder {
    sub: MemorySubscriber,
    buffered: VecDeque<SharedEnvelope>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // A recorder's group is its own: delete it, so that it holds nothing back.
        self.sub.leave_and_delete_group();
    }
}

/// Nothing matching arrived in time.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {waited:?} waiting for {what}; {seen} other event(s) seen: {types:?}")]
pub struct Timeout {
    /// What was awaited.
    pub what: String,
    /// How long.
    pub waited: Duration,
    /// Events seen meanwhile that did not match.
    pub seen: usize,
    /// Their types.
    pub types: Vec<String>,
}

impl Recorder {
    async fn pull(&mut self) -> Option<SharedEnvelope> {
        let d = self.sub.recv().await?.ok()?;
        let _ = self.sub.ack(&d).await;
        Some(d.envelope)
    }

    /// The next event, whatever its type.
    pub async fn next(&mut self, within: Duration) -> Result<SharedEnvelope, Timeout> {
        if let Some(e) = self.buffered.pop_front() {
            return Ok(e);
        }
        match tokio::time::timeout(within, self.pull()).await {
            Ok(Some(e)) => Ok(e),
            _ => Err(Timeout {
                what: "any event".into(),
                waited: within,
                seen: 0,
                types: Vec::new(),
            }),
        }
    }

    /// The next event of type `E`, decoded with JSON; events of other types that
    /// arrive first stay buffered for later calls.
    pub async fn expect<E: Event>(
        &mut self,
        within: Duration,
    ) -> Result<(E, SharedEnvelope), Timeout> {
        self.expect_where::<E>(within, |_| true).await
    }

    /// The next event of type `E` for which `pred` holds.
    pub async fn expect_where<E: Event>(
        &mut self,
        within: Duration,
        pred: impl Fn(&E) -> bool,
    ) -> Result<(E, SharedEnvelope), Timeout> {
        let matches = |env: &Envelope| -> Option<E> {
            if env.event_type != E::NAME {
                return None;
            }
            JsonCodec.decode::<E>(env).ok().filter(|e| pred(e))
        };
        if let Some(i) = self.buffered.iter().position(|env| matches(env).is_some()) {
            if let Some(env) = self.buffered.remove(i) {
                if let Some(e) = matches(&env) {
                    return Ok((e, env));
                }
            }
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.pull()).await {
                Ok(Some(env)) => match matches(&env) {
                    Some(e) => return Ok((e, env)),
                    None => self.buffered.push_back(env),
                },
                _ => {
                    return Err(Timeout {
                        what: format!("a `{}` event", E::NAME),
                        waited: within,
                        seen: self.buffered.len(),
                        types: self
                            .buffered
                            .iter()
                            .map(|e| e.event_type.to_string())
                            .collect(),
                    });
                }
            }
        }
    }

    /// Collects events until `n` arrived or `within` passed; returns what came.
    pub async fn collect(&mut self, n: usize, within: Duration) -> Vec<SharedEnvelope> {
        let mut out: Vec<SharedEnvelope> = Vec::new();
        while out.len() < n {
            match self.buffered.pop_front() {
                Some(e) => out.push(e),
                None => break,
            }
        }
        let deadline = tokio::time::Instant::now() + within;
        while out.len() < n {
            match tokio::time::timeout_at(deadline, self.pull()).await {
                Ok(Some(env)) => out.push(env),
                _ => break,
            }
        }
        out
    }

    /// Every event, in arrival order, up to and including the first for which `last`
    /// holds.
    pub async fn until(
        &mut self,
        within: Duration,
        last: impl Fn(&Envelope) -> bool,
    ) -> Result<Vec<SharedEnvelope>, Timeout> {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen: Vec<SharedEnvelope> = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let env = self.next(left).await.map_err(|_| Timeout {
                what: "the last event awaited".into(),
                waited: within,
                seen: seen.len(),
                types: seen.iter().map(|e| e.event_type.to_string()).collect(),
            })?;
            let done = last(&env);
            seen.push(env);
            if done {
                return Ok(seen);
            }
        }
    }

    /// Asserts that nothing arrives for `within`: returns the unexpected events if any.
    pub async fn quiet_for(&mut self, within: Duration) -> Vec<SharedEnvelope> {
        let mut seen: Vec<SharedEnvelope> = self.buffered.drain(..).collect();
        let deadline = tokio::time::Instant::now() + within;
        while let Ok(Some(env)) = tokio::time::timeout_at(deadline, self.pull()).await {
            seen.push(env);
        }
        seen
    }
}

/// Waits for the outcome of event `id` on an observer from
/// [`ServiceBuilder::observe`](crate::ServiceBuilder::observe).
pub async fn outcome_of(
    outcomes: &mut broadcast::Receiver<Outcome>,
    id: Uuid,
    within: Duration,
) -> Result<Outcome, Timeout> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, outcomes.recv()).await {
            Ok(Ok(o)) if o.id == id => return Ok(o),
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            _ => {
                return Err(Timeout {
                    what: format!("the outcome of event {id}"),
                    waited: within,
                    seen: 0,
                    types: Vec::new(),
                });
            }
        }
    }
}
