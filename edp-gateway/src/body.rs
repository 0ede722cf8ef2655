//! The bodies the proxy moves: what goes to an upstream, what comes back to the
//! client. Concrete types, so that a forwarded request allocates no boxed body.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use edp_core::error::BoxError;
use http_body_util::{Empty, Limited};
use hyper::body::{Frame, Incoming, SizeHint};

/// A request body on its way to an upstream: the client's, limited to the gateway's
/// maximum, or nothing (a retry of a request without a body).
pub(crate) enum Outgoing<B> {
    Client(Limited<B>),
    Empty(Empty<Bytes>),
}

impl<B> Outgoing<B> {
    pub(crate) fn limited(body: B, max: u64) -> Self {
        Self::Client(Limited::new(
            body,
            usize::try_from(max).unwrap_or(usize::MAX),
        ))
    }

    pub(crate) fn empty() -> Self {
        Self::Empty(Empty::new())
    }
}

impl<B> hyper::body::Body for Outgoing<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Client(b) => Pin::new(b).poll_frame(cx),
            Self::Empty(_) => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Client(b) => b.is_end_stream(),
            Self::Empty(_) => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Client(b) => b.size_hint(),
            Self::Empty(_) => SizeHint::with_exact(0),
        }
    }
}

/// An answer's body: the upstream's, streamed through, or one the gateway made (a
/// problem document, a CORS preflight).
#[derive(Debug)]
pub(crate) enum GatewayBody {
    /// Streamed from the upstream.
    Upstream(Incoming),
    /// Made by the gateway.
    Own(Body),
}

impl Default for GatewayBody {
    fn default() -> Self {
        Self::Own(Body::empty())
    }
}

impl From<Body> for GatewayBody {
    fn from(body: Body) -> Self {
        Self::Own(body)
    }
}

impl hyper::body::Body for GatewayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Upstream(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            Self::Own(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Upstream(b) => b.is_end_stream(),
            Self::Own(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Upstream(b) => b.size_hint(),
            Self::Own(b) => b.size_hint(),
        }
    }
}
