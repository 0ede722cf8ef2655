//! [`Commands`]: what a step, a compensation or the end of a saga sends.

use std::any::TypeId;

use crate::codec::{EncodeError, PrepareError, PrepareFuture};
use crate::error::BoxError;
use crate::event::{Cause, DynEncoder, DynEvent};
use crate::{Envelope, Event};

/// The commands a step or compensation sends, encoded by the saga engine's
/// [`Encoder`](crate::event::Encoder) in the service's codec (see
/// [`SagaEngine::encoder`](super::SagaEngine::encoder)): each carries the saga's id as
/// correlation id (replies carry it back) and the message that moved the saga as
/// causation id. The engine writes them with the instance's new state, in one
/// transaction where the store is a database.
pub struct Commands<'a> {
    encoder: &'a dyn DynEncoder,
    cause: Cause<'a>,
    refused: &'a [Refused],
    pub(crate) out: Vec<(&'static str, Envelope)>,
    pub(crate) unprepared: Vec<Unprepared>,
}

impl std::fmt::Debug for Commands<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Commands")
            .field("source", &self.encoder.source())
            .field("out", &self.out)
            .finish_non_exhaustive()
    }
}

/// A command type the codec must get ready for (an Avro schema to register) before
/// the transition that sent it runs again.
pub(crate) struct Unprepared {
    pub(crate) type_id: TypeId,
    pub(crate) event_type: &'static str,
    pub(crate) work: PrepareFuture,
}

/// A command type the codec refused for good while getting ready: sending one fails
/// the step with this error.
#[derive(Debug)]
pub(crate) struct Refused {
    type_id: TypeId,
    event_type: &'static str,
    reason: String,
}

impl Refused {
    pub(crate) fn new(type_id: TypeId, event_type: &'static str, error: PrepareError) -> Self {
        let reason = match error {
            PrepareError::Encode(e) => e.reason,
            other => other.to_string(),
        };
        Self {
            type_id,
            event_type,
            reason,
        }
    }
}

impl<'a> Commands<'a> {
    /// Commands encoded by `encoder`, following from `cause`; `refused` lists the
    /// types the codec will not encode.
    pub(crate) fn new(
        encoder: &'a dyn DynEncoder,
        cause: Cause<'a>,
        refused: &'a [Refused],
    ) -> Self {
        Self {
            encoder,
            cause,
            refused,
            out: Vec::new(),
            unprepared: Vec::new(),
        }
    }

    /// An empty list with the same encoder and cause.
    pub(crate) fn fork(&self) -> Self {
        Self::new(self.encoder, self.cause, self.refused)
    }

    /// Takes the commands of `other` (a step that succeeded) and the types it needs
    /// prepared.
    pub(crate) fn join(&mut self, mut other: Self) {
        self.out.append(&mut other.out);
        for u in other.unprepared {
            if !self.unprepared.iter().any(|p| p.type_id == u.type_id) {
                self.unprepared.push(u);
            }
        }
    }

    /// Sends `command` to its topic, in the service's codec.
    ///
    /// # Errors
    ///
    /// When it cannot be encoded: the step fails.
    pub fn send<E: Event>(&mut self, command: &E) -> Result<(), BoxError> {
        let type_id = TypeId::of::<E>();
        if let Some(r) = self.refused.iter().find(|r| r.type_id == type_id) {
            return Err(Box::new(EncodeError {
                event_type: r.event_type,
                reason: r.reason.clone(),
            }));
        }
        let command: &dyn DynEvent = command;
        if let Some(work) = self.encoder.prepare_dyn(command) {
            // Sent once the codec is ready: the engine prepares it and runs the
            // transition again.
            if !self.unprepared.iter().any(|u| u.type_id == type_id) {
                self.unprepared.push(Unprepared {
                    type_id,
                    event_type: E::NAME,
                    work,
                });
            }
            return Ok(());
        }
        let env = self.encoder.encode_dyn(command, self.cause)?;
        self.out.push((E::TOPIC, env));
        Ok(())
    }

    /// How many commands are queued.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether none are queued.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }
}
