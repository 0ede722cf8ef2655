//! The Handlers and middleware chapter, part two: retry, timeout, circuit breaker,
//! concurrency limit and dead letters, on a payment service that calls an HTTP
//! payment provider.

use std::time::Duration;

use edp_core::error::{BoxError, permanent};
use edp_core::middleware::circuit_breaker::{CircuitBreakerConfig, CircuitBreakerLayer};
use edp_core::middleware::concurrency::ConcurrencyLimitLayer;
use edp_core::middleware::dead_letter::DeadLetterPolicy;
use edp_core::middleware::retry::{RetryLayer, RetryPolicy};
use edp_core::middleware::timeout::TimeoutLayer;
use edp_core::transport::Transport;
use edp_core::{Context, Event, Service};
use serde::{Deserialize, Serialize};
use tower::util::BoxCloneSyncService;
use tower::{Service as _, ServiceExt as _};

use crate::quickstart::OrderPlaced;

/// An order was charged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(name = "payment.succeeded", topic = "payments", key = order_id)]
pub struct PaymentSucceeded {
    /// The order.
    pub order_id: String,
    /// The amount charged, in cents.
    pub amount_cents: u64,
}

/// The payment provider's HTTP API as a tower service, with its own timeout and
/// circuit breaker; see [`provider_client`].
pub type ProviderClient =
    BoxCloneSyncService<http::Request<String>, http::Response<String>, BoxError>;

// ANCHOR: http_client
/// Wraps an HTTP client (any tower service: hyper, reqwest behind a `service_fn`, a
/// fake in tests) with a per-request timeout and a circuit breaker that counts errors
/// and 5xx answers as failures.
pub fn provider_client<S>(http: S) -> ProviderClient
where
    S: tower::Service<http::Request<String>, Response = http::Response<String>>,
    S: Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    let breaker = CircuitBreakerLayer::new(
        CircuitBreakerConfig::default()
            .name("payment-provider")
            .tolerate_consecutive_failures(5) // the 6th failure in a row opens it
            .open_for(Duration::from_secs(30)), // then one probe call after 30 s
    )
    .classify(
        |result: Result<&http::Response<String>, &BoxError>| match result {
            Ok(response) => response.status().is_server_error(),
            Err(_) => true, // timeouts and connection errors
        },
    );
    let client = tower::ServiceBuilder::new()
        .layer(breaker)
        .layer(TimeoutLayer::new(Duration::from_secs(2)))
        .service(http);
    BoxCloneSyncService::new(client)
}
// ANCHOR_END: http_client

// ANCHOR: charge
/// `OrderPlaced` -> a charge at the provider -> `PaymentSucceeded`.
pub async fn charge(
    mut provider: ProviderClient,
    ctx: Context,
    order: OrderPlaced,
) -> Result<(), BoxError> {
    let request = http::Request::post("/v1/charges")
        .header("idempotency-key", order.order_id.as_str()) // retries charge once
        .body(format!(
            r#"{{"order_id":"{}","amount_cents":{}}}"#,
            order.order_id, order.total_cents
        ))?;
    // An open circuit or a timeout is an error here: the handler's retry waits and
    // tries again.
    let response = provider.ready().await?.call(request).await?;
    let status = response.status();
    if status.is_client_error() {
        // The provider refuses this order: no retry will change that.
        return Err(permanent(format!(
            "provider refused order {}: {status}",
            order.order_id
        )));
    }
    if !status.is_success() {
        return Err(format!("provider answered {status}").into()); // 5xx: retried
    }
    ctx.publish(&PaymentSucceeded {
        order_id: order.order_id,
        amount_cents: order.total_cents,
    })
    .await?;
    Ok(())
}
// ANCHOR_END: charge

// ANCHOR: retry_policy
/// Five calls at most, waits capped at 200 ms, 400 ms, 800 ms, 1.6 s, with full
/// jitter; never more than 30 s from the first call.
pub fn retry_policy() -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(5) // calls in all, the first included
        .initial_backoff(Duration::from_millis(200)) // the cap before the first retry
        .multiplier(2.0) // each cap doubles...
        .max_backoff(Duration::from_secs(5)) // ...up to 5 s
        .max_elapsed(Some(Duration::from_secs(30))) // gives up early at 30 s
}
// ANCHOR_END: retry_policy

// ANCHOR: stack
/// The payment service: retries around a per-attempt timeout around a concurrency
/// limit around the handler; dead letters to `dlq.payment.<topic>`.
pub fn payment<T: Transport>(transport: T, provider: ProviderClient) -> Service<T> {
    Service::builder("payment", transport)
        .dead_letters(DeadLetterPolicy::named_by(|topic| {
            format!("dlq.payment.{topic}")
        }))
        .layer(RetryLayer::new(retry_policy())) // outermost: sees every attempt's result
        .layer(TimeoutLayer::new(Duration::from_secs(5))) // per attempt
        .layer(ConcurrencyLimitLayer::new(4)) // at most 4 charges at once
        .handler_with(provider, charge)
        .build()
}
// ANCHOR_END: stack

#[cfg(test)]
mod tests;
