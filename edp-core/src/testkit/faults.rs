//! A transport wrapper that injects what at-least-once delivery allows: the same event
//! delivered twice, an ack lost (the event comes again after its effects were applied),
//! and delays. Decisions come from a seeded generator, so a failing test replays.
//!
//! ```
//! use std::time::Duration;
//! use edp_core::testkit::{Faults, Faulty};
//! use edp_core::transport::memory::MemoryTransport;
//!
//! let transport = Faulty::new(
//!     MemoryTransport::new(),
//!     Faults::default().duplicate(0.2).lose_ack(0.1).delay(Duration::ZERO, Duration::from_millis(5)).seed(7),
//! );
//! // Build services on `transport` as on any other; `transport.stats()` counts the faults.
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::SmallRng};

use crate::Envelope;
use crate::transport::{
    AckError, Capabilities, CloseError, Delivery, PublishError, ReceiveError, SubscribeError,
    SubscribeOptions, Subscriber, Transport,
};

/// Which faults to inject, each a probability from 0.0 to 1.0 (default: none).
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    duplicate: f64,
    lose_ack: f64,
    delay: Option<(Duration, Duration)>,
    seed: u64,
}

impl Faults {
    /// Delivers an event a second time, right after the first, with this probability.
    pub fn duplicate(mut self, p: f64) -> Self {
        self.duplicate = clamp(p);
        self
    }
    /// Turns an ack into a nack with this probability, as a crash between the
    /// handler's effects and the ack would: the event is delivered again.
    pub fn lose_ack(mut self, p: f64) -> Self {
        self.lose_ack = clamp(p);
        self
    }
    /// Delays each delivery by a uniform random time between `min` and `max`.
    pub fn delay(mut self, min: Duration, max: Duration) -> Self {
        self.delay = Some((min, max.max(min)));
        self
    }
    /// Seeds the decisions.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

fn clamp(p: f64) -> f64 {
    if p.is_finite() {
        p.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// The faults injected so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultyStats {
    /// Deliveries made twice.
    pub duplicated: u64,
    /// Acks turned into nacks.
    pub acks_lost: u64,
    /// Deliveries delayed.
    pub delayed: u64,
}

struct Shared {
    faults: Faults,
    rng: Mutex<SmallRng>,
    duplicated: AtomicU64,
    acks_lost: AtomicU64,
    delayed: AtomicU64,
}

impl Shared {
    /// True with probability `p`.
    fn roll(&self, p: f64) -> bool {
        p > 0.0 && self.uniform() < p
    }

    fn uniform(&self) -> f64 {
        let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
        (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Wraps a transport and injects [`Faults`] into what its subscribers deliver and
/// settle. Publishing is passed through. Clones share the generator and the counts.
#[derive(Clone)]
pub struct Faulty<T> {
    inner: T,
    shared: Arc<Shared>,
}

impl<T> std::fmt::Debug for Faulty<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faulty")
            .field("faults", &self.shared.faults)
            .finish()
    }
}

impl<T: Transport> Faulty<T> {
    /// Injects `faults` into `inner`.
    pub fn new(inner: T, faults: Faults) -> Self {
        Self {
            inner,
            shared: Arc::new(Shared {
                faults,
                rng: Mutex::new(SmallRng::seed_from_u64(faults.seed)),
                duplicated: AtomicU64::new(0),
                acks_lost: AtomicU64::new(0),
                delayed: AtomicU64::new(0),
            }),
        }
    }

    /// The faults injected so far.
    pub fn stats(&self) -> FaultyStats {
        FaultyStats {
            duplicated: self.shared.duplicated.load(Ordering::Relaxed),
            acks_lost: self.shared.acks_lost.load(Ordering::Relaxed),
            delayed: self.shared.delayed.load(Ordering::Relaxed),
        }
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }
}

impl<T: Transport> Transport for Faulty<T> {
    type Subscriber = FaultySubscriber<T::Subscriber>;

    async fn publish(&self, topic: &str, batch: Vec<Envelope>) -> Result<(), PublishError> {
        self.inner.publish(topic, batch).await
    }

    async fn subscribe(
        &self,
        options: SubscribeOptions,
    ) -> Result<Self::Subscriber, SubscribeError> {
        Ok(FaultySubscriber {
            inner: self.inner.subscribe(options).await?,
            shared: self.shared.clone(),
            pending: Mutex::new(Vec::new()),
            settles: Mutex::new(HashMap::new()),
        })
    }

    async fn close(&self) -> Result<(), CloseError> {
        self.inner.close().await
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
}

/// A subscriber of a [`Faulty`] transport.
pub struct FaultySubscriber<S> {
    inner: S,
    shared: Arc<Shared>,
    /// Copies to deliver again.
    pending: Mutex<Vec<Delivery>>,
    /// Deliveries made twice, by token: how many settles are still to come. Only the
    /// first reaches the inner subscriber.
    settles: Mutex<HashMap<(u64, u64, String), u8>>,
}

impl<S> std::fmt::Debug for FaultySubscriber<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultySubscriber").finish_non_exhaustive()
    }
}

fn key(d: &Delivery) -> (u64, u64, String) {
    (d.token.a, d.token.b, d.topic.to_string())
}

impl<S: Subscriber> FaultySubscriber<S> {
    /// Whether this settle is the one to pass on.
    fn first_settle(&self, d: &Delivery) -> bool {
        let mut settles = self.settles.lock().unwrap_or_else(PoisonError::into_inner);
        match settles.get_mut(&key(d)) {
            None => true,
            Some(left) if *left > 1 => {
                *left -= 1;
                true
            }
            Some(_) => {
                settles.remove(&key(d));
                false
            }
        }
    }
}

impl<S: Subscriber> Subscriber for FaultySubscriber<S> {
    async fn recv(&self) -> Option<Result<Delivery, ReceiveError>> {
        let copy = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if let Some(d) = copy {
            return Some(Ok(d));
        }
        let d = match self.inner.recv().await? {
            Ok(d) => d,
            Err(e) => return Some(Err(e)),
        };
        let shared = &self.shared;
        if let Some((min, max)) = shared.faults.delay {
            let wait = min + (max - min).mul_f64(shared.uniform());
            shared.delayed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
        if shared.roll(shared.faults.duplicate) {
            shared.duplicated.fetch_add(1, Ordering::Relaxed);
            self.settles
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key(&d), 2);
            self.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(d.clone());
        }
        Some(Ok(d))
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), AckError> {
        if !self.first_settle(delivery) {
            return Ok(());
        }
        if self.shared.roll(self.shared.faults.lose_ack) {
            self.shared.acks_lost.fetch_add(1, Ordering::Relaxed);
            return self.inner.nack(delivery).await;
        }
        self.inner.ack(delivery).await
    }

    async fn nack(&self, delivery: &Delivery) -> Result<(), AckError> {
        if !self.first_settle(delivery) {
            return Ok(());
        }
        self.inner.nack(delivery).await
    }

    async fn close(&self) -> Result<(), CloseError> {
        self.inner.close().await
    }
}
