use std::ops::Deref;
use std::sync::Arc;

use super::Envelope;

/// A shared, read-only [`Envelope`]: what deliveries and messages carry. Cloning it
/// costs one reference count; it dereferences to the envelope.
///
/// Envelopes published together can share one allocation
/// ([`SharedEnvelope::batch`]): a transport that stores a batch pays one allocation
/// for it instead of one per event.
///
/// ```
/// use edp_core::{Envelope, SharedEnvelope};
///
/// let shared = SharedEnvelope::new(Envelope::builder("order.placed", &b"{}"[..]).build());
/// let copy = shared.clone();
/// assert_eq!(copy.event_type, "order.placed");
/// assert_eq!(copy.id, shared.id);
/// ```
#[derive(Clone)]
pub struct SharedEnvelope {
    batch: Arc<[Envelope]>,
    index: usize,
}

impl SharedEnvelope {
    /// Shares one envelope.
    pub fn new(envelope: Envelope) -> Self {
        Self {
            batch: Arc::from([envelope]),
            index: 0,
        }
    }

    /// Shares a batch in one allocation; yields one handle per envelope, in order.
    pub fn batch(envelopes: Vec<Envelope>) -> impl ExactSizeIterator<Item = SharedEnvelope> {
        let batch: Arc<[Envelope]> = Arc::from(envelopes);
        (0..batch.len()).map(move |index| SharedEnvelope {
            batch: batch.clone(),
            index,
        })
    }

    /// Shares a batch in allocations of at most `chunk` envelopes each; yields one
    /// handle per envelope, in order. Smaller chunks pin less memory when some of a
    /// chunk's envelopes are freed long before others.
    pub fn chunked(envelopes: Vec<Envelope>, chunk: usize) -> Vec<SharedEnvelope> {
        let chunk = chunk.max(1);
        let mut out = Vec::with_capacity(envelopes.len());
        let mut rest = envelopes.into_iter();
        while rest.len() > 0 {
            let batch: Arc<[Envelope]> = rest.by_ref().take(chunk).collect();
            out.extend((0..batch.len()).map(|index| SharedEnvelope {
                batch: batch.clone(),
                index,
            }));
        }
        out
    }

    /// A copy of the envelope that can be changed (for example to add headers).
    pub fn to_envelope(&self) -> Envelope {
        (**self).clone()
    }
}

impl Deref for SharedEnvelope {
    type Target = Envelope;

    fn deref(&self) -> &Envelope {
        // invariant: `index` is below the batch's length; both are fixed at creation.
        &self.batch[self.index]
    }
}

impl AsRef<Envelope> for SharedEnvelope {
    fn as_ref(&self) -> &Envelope {
        self
    }
}

impl From<Envelope> for SharedEnvelope {
    fn from(envelope: Envelope) -> Self {
        Self::new(envelope)
    }
}

impl std::fmt::Debug for SharedEnvelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl PartialEq for SharedEnvelope {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envs(n: usize) -> Vec<Envelope> {
        (0..n)
            .map(|i| {
                Envelope::builder("t", Vec::new())
                    .subject(i.to_string())
                    .build()
            })
            .collect()
    }

    #[test]
    fn chunked_keeps_order_and_shares_in_runs() {
        let shared = SharedEnvelope::chunked(envs(40), 16);
        let keys: Vec<String> = shared
            .iter()
            .map(|e| e.subject.clone().unwrap_or_default())
            .collect();
        assert_eq!(keys, (0..40).map(|i| i.to_string()).collect::<Vec<_>>());
        assert!(Arc::ptr_eq(&shared[0].batch, &shared[15].batch));
        assert!(!Arc::ptr_eq(&shared[15].batch, &shared[16].batch));
        assert_eq!(shared[39].batch.len(), 8, "the last run holds the rest");
        assert!(SharedEnvelope::chunked(Vec::new(), 16).is_empty());
    }
}
