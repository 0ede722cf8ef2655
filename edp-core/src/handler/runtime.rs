use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::broadcast;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::router::Dispatched;
use super::{Message, Router, Service};
use crate::Publisher;
use crate::codec::{Codec, PrepareError};
use crate::error::{BoxError, Unavailable, chain_to_string, find, permanent};
use crate::event::headers;
use crate::middleware::dead_letter::{DeadLetterPolicy, send_dead_letter};
use crate::telemetry;
use crate::telemetry::metrics::HandlerMeter;
use crate::transport::{
    CloseError, Delivery, SubscribeError, SubscribeOptions, Subscriber, Transport,
};

/// A service could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// Joining the consumer group failed.
    #[error("service `{service}` cannot subscribe")]
    Subscribe {
        /// The service.
        service: String,
        /// Why.
        #[source]
        source: SubscribeError,
    },
    /// Leaving the consumer group failed.
    #[error("service `{service}` did not close cleanly")]
    Close {
        /// The service.
        service: String,
        /// Why.
        #[source]
        source: CloseError,
    },
    /// A worker task panicked (a handler panicked); its event is redelivered.
    #[error("a worker of service `{service}` panicked: {message}")]
    Panicked {
        /// The service.
        service: String,
        /// The panic message.
        message: String,
    },
}

/// A transport delivered a record it could not read into a whole envelope (the
/// [`INVALID`](crate::event::headers::INVALID) header says why).
///
/// Handling: permanent; the record is dead-lettered with this reason and the consumer
/// goes on. Fix the producer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the transport could not read this record: {0}")]
pub struct InvalidRecord(pub String);

/// What happened to one delivery; see [`ServiceBuilder::observe`](super::ServiceBuilder::observe).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outcome {
    /// The event id.
    pub id: Uuid,
    /// The event type.
    pub event_type: String,
    /// The topic.
    pub topic: String,
    /// The result.
    pub status: Status,
}

/// The result of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// The handler succeeded; acked (with its batch).
    Handled,
    /// No handler for its type; acked.
    Skipped,
    /// Failed for good; published to the dead-letter topic and acked.
    DeadLettered {
        /// The error with its causes.
        error: String,
    },
    /// Failed and nacked: it will be redelivered.
    Nacked {
        /// The error with its causes.
        error: String,
    },
}

/// A started service; stop it with [`shutdown`](RunningService::shutdown).
#[derive(Debug)]
pub struct RunningService {
    name: Arc<str>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), ServiceError>>,
    assignment: Assignment,
}

/// Whether a running service's consumer holds its partitions; for readiness checks.
///
/// ```
/// # use edp_core::{Service, transport::memory::MemoryTransport};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), edp_core::ServiceError> {
/// let running = Service::builder("audit", MemoryTransport::new()).topic("orders").build().start().await?;
/// let assignment = running.assignment();
/// let health = edp_core::health::Health::new().check("audit-consumer", assignment.check());
/// assert_eq!(health.ready().await.status, edp_core::health::Condition::Up);
/// # running.shutdown().await }
/// ```
#[derive(Clone)]
pub struct Assignment {
    group: Arc<str>,
    probe: Arc<dyn Fn() -> bool + Send + Sync>,
}

impl std::fmt::Debug for Assignment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assignment")
            .field("group", &self.group)
            .field("assigned", &self.is_assigned())
            .finish()
    }
}

/// A consumer that holds no assignment yet; see [`Assignment::check`].
#[derive(Debug, thiserror::Error)]
#[error("consumer group `{0}` has no partition assignment (joining, or a rebalance is in flight)")]
pub struct NotAssigned(pub String);

impl Assignment {
    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Whether the consumer has joined its group and holds its partitions.
    pub fn is_assigned(&self) -> bool {
        (self.probe)()
    }

    /// A readiness check for [`Health::check`](crate::health::Health::check): fails
    /// with [`NotAssigned`] while the consumer holds no assignment.
    pub fn check(
        &self,
    ) -> impl Fn() -> std::future::Ready<Result<(), NotAssigned>> + Send + Sync + 'static {
        let me = self.clone();
        move || {
            std::future::ready(if me.is_assigned() {
                Ok(())
            } else {
                Err(NotAssigned(me.group.to_string()))
            })
        }
    }
}

impl RunningService {
    /// Whether its consumer holds its partitions, as a handle for readiness checks.
    pub fn assignment(&self) -> Assignment {
        self.assignment.clone()
    }

    /// Stops intake, waits for in-flight handlers (up to the grace period), acks, and
    /// leaves the consumer group.
    pub async fn shutdown(self) -> Result<(), ServiceError> {
        self.stop.cancel();
        self.wait().await
    }

    /// A token that stops the service when cancelled.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Waits until the service stops.
    pub async fn wait(self) -> Result<(), ServiceError> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(ServiceError::Panicked {
                service: self.name.to_string(),
                message: e.to_string(),
            }),
        }
    }
}

struct Worker<S, C> {
    sub: Arc<S>,
    group: std::borrow::Cow<'static, str>,
    publisher: Publisher<C>,
    dead_letters: Option<DeadLetterPolicy>,
    observer: Option<broadcast::Sender<Outcome>>,
    stop: CancellationToken,
    /// Mirrors `stop` for the per-event check (a token's check takes a lock).
    stopping: Arc<AtomicBool>,
    /// Fires when the shutdown grace period is over: failures then mean
    /// "interrupted", and the event is put back instead of dead-lettered.
    cancel: CancellationToken,
    batch: usize,
    /// `messaging.system` on spans.
    system: &'static str,
    metrics: bool,
}

impl<T: Transport, C: Codec> Service<T, C> {
    /// Runs until ctrl-c or SIGTERM, then shuts down gracefully: stops intake, finishes
    /// in-flight handlers, acks, exits.
    pub async fn run(self) -> Result<(), ServiceError> {
        self.run_until(crate::shutdown::signal()).await
    }

    /// Runs until `shutdown` completes, then shuts down gracefully.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServiceError> {
        let running = self.start().await?;
        let stop = running.stop_token();
        tokio::select! {
            () = shutdown => running.shutdown().await,
            () = stop.cancelled() => running.wait().await,
        }
    }

    /// Joins the consumer group, then handles events in the background. When this
    /// returns, the service is subscribed: events published from now on reach it.
    pub async fn start(self) -> Result<RunningService, ServiceError> {
        let sub = self
            .transport
            .subscribe(SubscribeOptions::new(
                self.group.to_string(),
                self.topics.clone(),
            ))
            .await
            .map_err(|source| ServiceError::Subscribe {
                service: self.name.to_string(),
                source,
            })?;
        let stop = CancellationToken::new();
        let name = self.name.clone();
        let sub = Arc::new(sub);
        let probe = sub.clone();
        let assignment = Assignment {
            group: self.group.clone(),
            probe: Arc::new(move || probe.assigned()),
        };
        let task = tokio::spawn(self.serve(sub, stop.clone()));
        Ok(RunningService {
            name,
            stop,
            task,
            assignment,
        })
    }

    async fn serve(
        self,
        sub: Arc<T::Subscriber>,
        stop: CancellationToken,
    ) -> Result<(), ServiceError> {
        tracing::info!(service = %self.name, group = %self.group, topics = ?self.topics, "service started");
        let mut workers = JoinSet::new();
        let stopping = Arc::new(AtomicBool::new(false));
        for _ in 0..self.concurrency {
            let w = Worker {
                sub: sub.clone(),
                group: std::borrow::Cow::Borrowed(crate::intern::intern(&self.group)),
                publisher: self.publisher.clone(),
                dead_letters: self.dead_letters.clone(),
                observer: self.observer.clone(),
                // A child token per worker: waiting on it takes only its own lock.
                stop: stop.child_token(),
                stopping: stopping.clone(),
                cancel: self.cancel.clone(),
                batch: self.batch,
                system: self.transport.messaging_system(),
                metrics: self.metrics,
            };
            workers.spawn(w.run(self.router.clone()));
        }
        // Run until told to stop, or until every worker ended (the subscription was
        // closed under us, or workers panicked).
        let mut panicked = None;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                r = workers.join_next() => match r {
                    None => {
                        tracing::warn!(service = %self.name, "every worker ended; the service stops");
                        break;
                    }
                    Some(Err(e)) => {
                        tracing::error!(service = %self.name, error = %e, "a worker ended abnormally");
                        panicked = Some(e.to_string());
                    }
                    Some(Ok(())) => {}
                },
            }
        }
        stopping.store(true, Ordering::Release);
        stop.cancel();
        tracing::info!(service = %self.name, "stopping: intake stopped, finishing in-flight handlers");
        let drained = tokio::time::timeout(self.grace, async {
            while let Some(r) = workers.join_next().await {
                if let Err(e) = r {
                    panicked = Some(e.to_string());
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(service = %self.name, grace = ?self.grace, "grace period over; cancelling handlers");
            self.cancel.cancel();
            let _ = tokio::time::timeout(self.grace / 10, async {
                while workers.join_next().await.is_some() {}
            })
            .await;
            workers.abort_all();
        }
        let closed = sub.close().await;
        tracing::info!(service = %self.name, "service stopped");
        if let Some(message) = panicked {
            return Err(ServiceError::Panicked {
                service: self.name.to_string(),
                message,
            });
        }
        closed.map_err(|source| ServiceError::Close {
            service: self.name.to_string(),
            source,
        })
    }
}

impl<S: Subscriber, C: Codec> Worker<S, C> {
    async fn run(self, mut router: Router) {
        let mut meter = HandlerMeter::new(&self.group, self.metrics);
        // One wait for the stop signal for the worker's life: making a new one per
        // batch took a lock each time (measured).
        let stopped = self.stop.cancelled();
        tokio::pin!(stopped);
        loop {
            let next = tokio::select! {
                biased;
                () = &mut stopped => break,
                d = self.sub.recv_batch(self.batch) => d,
            };
            match next {
                None => break,
                Some(Ok(batch)) => self.process_batch(&mut router, &mut meter, batch).await,
                Some(Err(e)) => {
                    tracing::warn!(error = %chain_to_string(&e), "receive failed; retrying in 100 ms");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Handles a batch of one partition in order, then acks it with one cumulative
    /// ack. A nack (which acks the handled ones before it) releases the rest unhandled,
    /// and the transport delivers it again; on shutdown the unhandled rest is released.
    async fn process_batch(
        &self,
        router: &mut Router,
        meter: &mut HandlerMeter,
        batch: Vec<Delivery>,
    ) {
        let taken = batch.len();
        meter.batch_started(taken);
        self.process_taken(router, meter, batch).await;
        meter.batch_finished(taken);
    }

    async fn process_taken(
        &self,
        router: &mut Router,
        meter: &mut HandlerMeter,
        batch: Vec<Delivery>,
    ) {
        let mut handled: Option<Delivery> = None;
        for delivery in batch {
            if self.stopping.load(Ordering::Acquire) {
                // Stop intake: ack what was handled, hand the rest back.
                self.settle(&delivery, false).await;
                return;
            }
            match self.process(router, meter, &delivery).await {
                Status::Nacked { .. } => {
                    self.settle(&delivery, false).await;
                    return;
                }
                _ => handled = Some(delivery),
            }
        }
        if let Some(last) = handled {
            self.settle(&last, true).await;
        }
    }

    async fn settle(&self, delivery: &Delivery, ack: bool) {
        let settled = if ack {
            self.sub.ack(delivery).await
        } else {
            self.sub.nack(delivery).await
        };
        if let Err(e) = settled {
            tracing::warn!(error = %e, event_id = %delivery.envelope.id, "cannot settle delivery; it will be redelivered");
        }
    }

    /// Handles one delivery, reports its outcome, and says how to settle it.
    async fn process(
        &self,
        router: &mut Router,
        meter: &mut HandlerMeter,
        delivery: &Delivery,
    ) -> Status {
        let started = meter.start();
        let spans = telemetry::consume_spans(self.system, delivery, &self.group);
        let work = async {
            let msg = Message::from_delivery(delivery, self.group.clone());
            if let Some(reason) = delivery.envelope.headers.get(headers::INVALID) {
                let err = permanent(InvalidRecord(reason.to_owned()));
                self.failed(delivery, err).await
            } else {
                match router.dispatch(msg).await {
                    Ok(Dispatched::Handled) => Status::Handled,
                    Ok(Dispatched::Skipped) => Status::Skipped,
                    Err(err) => self.failed(delivery, err).await,
                }
            }
        };
        let status = telemetry::in_spans(spans.as_ref(), work).await;
        if let Some(spans) = &spans {
            spans.outcome(match &status {
                Status::DeadLettered { error } | Status::Nacked { error } => Some(error),
                _ => None,
            });
        }
        meter.finish(started, &delivery.envelope.event_type, &status);
        if let Some(tx) = &self.observer {
            let _ = tx.send(Outcome {
                id: delivery.envelope.id,
                event_type: delivery.envelope.event_type.to_string(),
                topic: delivery.topic.to_string(),
                status: status.clone(),
            });
        }
        status
    }

    async fn failed(&self, delivery: &Delivery, err: BoxError) -> Status {
        let error = chain_to_string(&*err);
        if self.cancel.is_cancelled() {
            tracing::warn!(event_id = %delivery.envelope.id, %error, "handler interrupted by shutdown; the event will be redelivered");
            return Status::Nacked { error };
        }
        if find::<PrepareError>(&*err).is_some_and(PrepareError::is_transient) {
            // The event is fine; a service the codec needs (a schema registry) is not.
            tracing::warn!(event_id = %delivery.envelope.id, %error, "codec unavailable; nacked for redelivery");
            return Status::Nacked { error };
        }
        if Unavailable::is_unavailable(&*err) {
            // The event is fine; a service the handler needs (a database) is not.
            tracing::warn!(event_id = %delivery.envelope.id, %error, "dependency unavailable; nacked for redelivery");
            return Status::Nacked { error };
        }
        let Some(policy) = &self.dead_letters else {
            tracing::warn!(event_id = %delivery.envelope.id, %error, "handler failed; nacked for redelivery");
            return Status::Nacked { error };
        };
        let msg = Message::from_delivery(delivery, self.group.clone());
        match send_dead_letter(&self.publisher, policy, &msg, &err).await {
            Ok(()) => Status::DeadLettered { error },
            Err(e) => {
                tracing::error!(event_id = %delivery.envelope.id, error = %e, "cannot publish dead letter; nacked for redelivery");
                Status::Nacked { error }
            }
        }
    }
}
