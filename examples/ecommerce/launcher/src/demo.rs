//! The demo: place orders over HTTP, wait until each is settled, check every outcome
//! against the payment rule and every notification.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ecommerce_contracts::{OrderLine, OrderPlaced, format_cents};
use ecommerce_notification::{NotificationKind, NotificationList};
use ecommerce_order::{Order, OrderStatus, PlaceOrder};
use ecommerce_payment::{DECLINE_ABOVE_CENTS, decide};
use hyper::StatusCode;

use crate::client::{ClientError, HttpClient};
use crate::storage::Storage;
use crate::system::LaunchError;

/// How to run the demo.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DemoOptions {
    /// How many orders to place (default 100).
    pub orders: usize,
    /// How long every order has, in all, to be settled and notified (default 30 s).
    pub timeout: Duration,
    /// Where the services keep their data (default: SQLite in a temporary directory).
    pub storage: Option<Storage>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            orders: 100,
            timeout: Duration::from_secs(30),
            storage: None,
        }
    }
}

impl DemoOptions {
    /// Places `n` orders.
    pub fn orders(mut self, n: usize) -> Self {
        self.orders = n;
        self
    }

    /// Gives up after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Keeps the services' data in `storage`.
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = Some(storage);
        self
    }
}

/// The demo could not run to the end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The system did not start or stop.
    #[error("the system failed")]
    Launch(#[from] LaunchError),
    /// A request failed.
    #[error("a request to the system failed")]
    Client(#[from] ClientError),
    /// The system answered a request with an unexpected status.
    #[error("{request} answered {status}: {body}")]
    Status {
        /// The request, as `METHOD path`.
        request: String,
        /// The status.
        status: StatusCode,
        /// The body.
        body: String,
    },
}

/// One order of the demo: what happened and what the payment rule says should have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOrder {
    /// The order id.
    pub id: String,
    /// The total, in cents.
    pub total_cents: u64,
    /// Where it ended (`PENDING` if it did not settle in time).
    pub status: OrderStatus,
    /// Where [`ecommerce_payment::decide`] says it should end.
    pub expected: OrderStatus,
    /// The notifications sent about it.
    pub notifications: Vec<NotificationKind>,
}

impl DemoOrder {
    /// Whether it ended as expected, with exactly one matching notification.
    pub fn is_ok(&self) -> bool {
        let kind = match self.expected {
            OrderStatus::Confirmed => NotificationKind::OrderConfirmed,
            _ => NotificationKind::OrderCancelled,
        };
        self.status == self.expected && self.notifications == [kind]
    }

    /// What is wrong with it, if anything.
    pub fn mismatch(&self) -> Option<String> {
        if self.is_ok() {
            return None;
        }
        Some(format!(
            "order {} (total {}): ended {}, expected {}; {} notification(s) {:?}",
            self.id,
            format_cents(self.total_cents),
            self.status,
            self.expected,
            self.notifications.len(),
            self.notifications
        ))
    }
}

/// What the demo did and found.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// Every order, in the order placed.
    pub orders: Vec<DemoOrder>,
    /// Notifications sent in all.
    pub notifications: usize,
    /// From the first request until every order was settled and notified.
    pub elapsed: Duration,
}

impl DemoReport {
    /// How many orders ended `status`.
    pub fn count(&self, status: OrderStatus) -> usize {
        self.orders.iter().filter(|o| o.status == status).count()
    }

    /// What went wrong, one line per order.
    pub fn mismatches(&self) -> Vec<String> {
        self.orders.iter().filter_map(DemoOrder::mismatch).collect()
    }

    /// Whether every order ended as the rule says, with one notification each.
    pub fn is_ok(&self) -> bool {
        self.orders.iter().all(DemoOrder::is_ok) && self.notifications == self.orders.len()
    }

    /// One line: counts, time, verdict.
    pub fn summary(&self) -> String {
        let verdict = if self.is_ok() {
            "all as the payment rule says".to_owned()
        } else {
            format!("{} MISMATCHED", self.mismatches().len())
        };
        format!(
            "{} orders in {:.2} s: {} confirmed, {} cancelled (declined above {}), {} pending; {} notifications; {verdict}",
            self.orders.len(),
            self.elapsed.as_secs_f64(),
            self.count(OrderStatus::Confirmed),
            self.count(OrderStatus::Cancelled),
            format_cents(DECLINE_ABOVE_CENTS),
            self.count(OrderStatus::Pending),
            self.notifications,
        )
    }
}

/// The `i`-th demo order: deterministic, with totals on both sides of the payment
/// limit. Every tenth order is exactly at the limit (approved) and every tenth but one
/// a cent above it (declined); the rest spread from 10.00 to about 1,200.00.
///
/// ```
/// use ecommerce::demo_order;
/// let totals: Vec<u64> = (0..10).map(|i| demo_order(i).validate().unwrap_or(0)).collect();
/// assert!(totals.iter().any(|&t| t > 50_000));
/// assert!(totals.iter().any(|&t| t < 50_000));
/// assert_eq!(totals[8], 50_001);
/// assert_eq!(totals[9], 50_000);
/// ```
pub fn demo_order(i: usize) -> PlaceOrder {
    let (quantity, unit_price_cents) = match i % 10 {
        8 => (1, DECLINE_ABOVE_CENTS + 1),
        9 => (2, DECLINE_ABOVE_CENTS / 2),
        _ => {
            let quantity = 1 + (i % 4) as u32;
            (quantity, 1_000 + (i as u64 * 7_919) % 30_000)
        }
    };
    PlaceOrder {
        customer_id: format!("customer-{}", i % 7),
        items: vec![OrderLine {
            product_id: format!("sku-{}", i % 5),
            quantity,
            unit_price_cents,
        }],
    }
}

/// Runs the demo: starts the system on a free loopback port, places
/// `options.orders` orders over HTTP, polls each until it is settled, checks the
/// outcomes and the notifications, and stops the system.
///
/// A mismatch is not an error: it is in the report ([`DemoReport::is_ok`]).
pub async fn demo(options: DemoOptions) -> Result<DemoReport, DemoError> {
    demo_on(edp_core::transport::memory::MemoryTransport::new(), options).await
}

/// Runs the demo on `transport` with `codec` (Avro, for example).
pub async fn demo_with<T: edp_core::transport::Transport, C: edp_core::Codec>(
    transport: T,
    codec: C,
    options: DemoOptions,
) -> Result<DemoReport, DemoError> {
    let storage = options.storage.clone().unwrap_or_default();
    let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let system = crate::start_full(transport, codec, storage, any_port).await?;
    finish(system, options).await
}

/// Runs the demo on `transport` (Kafka, for example) instead of a new in-memory bus.
pub async fn demo_on<T: edp_core::transport::Transport>(
    transport: T,
    options: DemoOptions,
) -> Result<DemoReport, DemoError> {
    demo_with(transport, edp_core::JsonCodec, options).await
}

async fn finish<T: edp_core::transport::Transport>(
    system: crate::System<T>,
    options: DemoOptions,
) -> Result<DemoReport, DemoError> {
    let report = drive(system.local_addr(), options).await;
    let stopped = system.shutdown().await;
    let report = report?;
    stopped?;
    Ok(report)
}

/// Runs the demo's requests against a system already serving on `addr`.
pub async fn drive(addr: SocketAddr, options: DemoOptions) -> Result<DemoReport, DemoError> {
    let started = Instant::now();
    let deadline = started + options.timeout;
    let mut client = HttpClient::connect(addr).await?;

    let mut placed = Vec::with_capacity(options.orders);
    for i in 0..options.orders {
        let response = client.post_json("/v1/orders", &demo_order(i)).await?;
        if response.status != StatusCode::CREATED {
            return Err(unexpected("POST /v1/orders", &response));
        }
        let order: Order = response.json()?;
        let location = response
            .header("location")
            .map_or_else(|| format!("/v1/orders/{}", order.id), str::to_owned);
        placed.push((location, order));
    }

    let mut settled: Vec<Option<Order>> = vec![None; placed.len()];
    loop {
        for (slot, (location, _)) in settled.iter_mut().zip(&placed) {
            if slot.is_some() {
                continue;
            }
            let response = client.get(location).await?;
            if response.status != StatusCode::OK {
                return Err(unexpected(&format!("GET {location}"), &response));
            }
            let order: Order = response.json()?;
            if order.status.is_final() {
                *slot = Some(order);
            }
        }
        if settled.iter().all(Option::is_some) || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Notifications follow the final state: wait for one per settled order.
    let want = settled.iter().flatten().count();
    let notifications = loop {
        let response = client.get("/v1/notifications").await?;
        if response.status != StatusCode::OK {
            return Err(unexpected("GET /v1/notifications", &response));
        }
        let list: NotificationList = response.json()?;
        if list.notifications.len() >= want || Instant::now() >= deadline {
            break list.notifications;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let elapsed = started.elapsed();

    let mut by_order: HashMap<&str, Vec<NotificationKind>> = HashMap::new();
    for n in &notifications {
        by_order.entry(&n.order_id).or_default().push(n.kind);
    }
    let orders = placed
        .iter()
        .zip(&settled)
        .map(|((_, order), settled)| DemoOrder {
            id: order.id.clone(),
            total_cents: order.total_cents,
            status: settled.as_ref().map_or(OrderStatus::Pending, |o| o.status),
            expected: expected_status(order),
            notifications: by_order.get(order.id.as_str()).cloned().unwrap_or_default(),
        })
        .collect();
    Ok(DemoReport {
        orders,
        notifications: notifications.len(),
        elapsed,
    })
}

/// Where the payment rule says `order` ends.
fn expected_status(order: &Order) -> OrderStatus {
    let placed = OrderPlaced {
        order_id: order.id.clone(),
        customer_id: order.customer_id.clone(),
        items: order.items.clone(),
        total_cents: order.total_cents,
        coupon: None,
    };
    if decide(&placed).is_approved() {
        OrderStatus::Confirmed
    } else {
        OrderStatus::Cancelled
    }
}

fn unexpected(request: &str, response: &crate::client::Response) -> DemoError {
    DemoError::Status {
        request: request.to_owned(),
        status: response.status,
        body: response.text(),
    }
}
