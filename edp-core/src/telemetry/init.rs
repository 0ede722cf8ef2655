//! Telemetry set-up for a process: logs, and span export when configured.

use tracing_subscriber::filter::FilterExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable lines, for development (the default).
    #[default]
    Pretty,
    /// One JSON object per line, for production log pipelines.
    Json,
}

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// The log filter does not parse.
    #[error(
        "the log filter `{filter}` is not valid: {reason}; write it as RUST_LOG takes it, for example `info,edp_kafka=debug`"
    )]
    Filter {
        /// The filter as given.
        filter: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A subscriber is already installed in this process.
    #[error(
        "a tracing subscriber is already installed; call Telemetry::init once, first thing in main"
    )]
    AlreadyInstalled,
    /// `EDP_LOG_FORMAT` has a value that is not a format.
    #[error("EDP_LOG_FORMAT is `{0}`; expected `pretty` or `json`")]
    Format(String),
    /// The span exporter could not be built.
    #[error("cannot set up span export: {0}")]
    Exporter(String),
}

/// Sets up logs and traces for one process: a `tracing` subscriber (pretty or JSON
/// lines, filtered like `RUST_LOG`) and, with the `otel` feature and an endpoint,
/// OpenTelemetry export over OTLP/HTTP with resource attributes (service name,
/// version, instance).
///
/// [`from_env`](Self::from_env) reads the usual variables: `RUST_LOG`,
/// `EDP_LOG_FORMAT` (`pretty` or `json`), `OTEL_SERVICE_NAME`,
/// `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_TRACES_SAMPLER_ARG` (the share of new traces
/// that are sampled, 0.0 to 1.0; default 0.01, [`DEFAULT_SAMPLE_RATIO`]).
///
/// ```no_run
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let telemetry = edp_core::telemetry::Telemetry::from_env("order-service")?
///     .version(env!("CARGO_PKG_VERSION"))
///     .init()?;
/// // ... run the service ...
/// telemetry.shutdown().await; // exports the spans still buffered
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "call init() to install it"]
pub struct Telemetry {
    service: String,
    version: Option<String>,
    instance: Option<String>,
    format: LogFormat,
    filter: Option<String>,
    sample_ratio: f64,
    #[cfg(feature = "otel")]
    endpoint: Option<String>,
    #[cfg(feature = "otel")]
    exporter: Option<ExporterSlot>,
}

#[cfg(feature = "otel")]
struct ExporterSlot(Box<dyn FnOnce() -> opentelemetry_sdk::trace::SdkTracerProvider + Send>);

#[cfg(feature = "otel")]
impl std::fmt::Debug for ExporterSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExporterSlot")
    }
}

/// The default share of new traces that are sampled: 1%.
///
/// A traced event makes three spans (`send`, `receive`, `process`), which together
/// cost about three times as much CPU as the whole in-memory event; at 1% the
/// pipeline keeps more than 0.85 of its untraced throughput (see the telemetry
/// benchmark). Raise it in development (`OTEL_TRACES_SAMPLER_ARG=1`).
pub const DEFAULT_SAMPLE_RATIO: f64 = 0.01;

impl Telemetry {
    /// Pretty logs at `info` (or `RUST_LOG`), no span export.
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            version: None,
            instance: None,
            format: LogFormat::Pretty,
            filter: None,
            sample_ratio: DEFAULT_SAMPLE_RATIO,
            #[cfg(feature = "otel")]
            endpoint: None,
            #[cfg(feature = "otel")]
            exporter: None,
        }
    }

    /// Like [`new`](Self::new), configured from the environment (see the type's
    /// documentation).
    pub fn from_env(service: impl Into<String>) -> Result<Self, TelemetryError> {
        let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| service.into());
        let mut t = Self::new(service);
        t.format = match std::env::var("EDP_LOG_FORMAT").as_deref() {
            Err(_) | Ok("" | "pretty") => LogFormat::Pretty,
            Ok("json") => LogFormat::Json,
            Ok(other) => return Err(TelemetryError::Format(other.to_owned())),
        };
        if let Ok(ratio) = std::env::var("OTEL_TRACES_SAMPLER_ARG") {
            t.sample_ratio = ratio.trim().parse::<f64>().map_err(|_| {
                TelemetryError::Exporter(format!(
                    "OTEL_TRACES_SAMPLER_ARG is `{ratio}`; expected a number from 0.0 to 1.0"
                ))
            })?;
        }
        #[cfg(feature = "otel")]
        if let Ok(endpoint) = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT") {
            if !endpoint.trim().is_empty() {
                t.endpoint = Some(endpoint);
            }
        }
        Ok(t)
    }

    /// The service name, exported as `service.name`.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The service version, exported as `service.version`.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// The instance id, exported as `service.instance.id` (default: host name and
    /// process id).
    pub fn instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Log lines as JSON (`true`) or human-readable (`false`).
    pub fn json(mut self, json: bool) -> Self {
        self.format = if json {
            LogFormat::Json
        } else {
            LogFormat::Pretty
        };
        self
    }

    /// The log filter, in `RUST_LOG` syntax; it wins over `RUST_LOG`.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// The share of new traces that are sampled (0.0 to 1.0). Traces that arrive
    /// with a `traceparent` follow its sampled flag.
    pub fn sample_ratio(mut self, ratio: f64) -> Self {
        self.sample_ratio = ratio;
        self
    }

    /// Exports spans over OTLP/HTTP (protobuf) to the collector at `endpoint`, for
    /// example `http://localhost:4318`; spans are posted to `{endpoint}/v1/traces`.
    #[cfg(feature = "otel")]
    pub fn otlp_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Exports spans to `exporter` as they end, instead of OTLP: for tests (an
    /// `opentelemetry_sdk::trace::InMemorySpanExporter`) and custom back ends.
    #[cfg(feature = "otel")]
    pub fn span_exporter<E>(mut self, exporter: E) -> Self
    where
        E: opentelemetry_sdk::trace::SpanExporter + 'static,
    {
        let resource = self.resource();
        self.exporter = Some(ExporterSlot(Box::new(move || {
            opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_resource(resource)
                .with_sampler(sampler())
                .with_simple_exporter(exporter)
                .build()
        })));
        self
    }

    #[cfg(feature = "otel")]
    fn resource(&self) -> opentelemetry_sdk::Resource {
        use opentelemetry::KeyValue;
        let instance = self.instance.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
            format!("{host}:{}", std::process::id())
        });
        let mut attrs = vec![KeyValue::new("service.instance.id", instance)];
        if let Some(v) = &self.version {
            attrs.push(KeyValue::new("service.version", v.clone()));
        }
        opentelemetry_sdk::Resource::builder()
            .with_service_name(self.service.clone())
            .with_attributes(attrs)
            .build()
    }

    /// Installs it as the process's subscriber. Call once, early in `main`, inside
    /// the tokio runtime when spans are exported over OTLP.
    pub fn init(self) -> Result<TelemetryGuard, TelemetryError> {
        let filter_text = self
            .filter
            .clone()
            .or_else(|| std::env::var("RUST_LOG").ok())
            .unwrap_or_else(|| "info".to_owned());
        let filter = EnvFilter::try_new(&filter_text).map_err(|e| TelemetryError::Filter {
            filter: filter_text.clone(),
            reason: e.to_string(),
        })?;
        let fmt = match self.format {
            LogFormat::Pretty => tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .boxed(),
            LogFormat::Json => tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(std::io::stderr)
                .boxed(),
        }
        // edp's per-event and per-request spans go to the exporter, not into every
        // log line: formatting their attributes costs more than the event.
        .with_filter(filter.and(tracing_subscriber::filter::filter_fn(|meta| {
            !(meta.is_span() && meta.target().starts_with("edp::"))
        })));

        #[cfg(feature = "otel")]
        {
            let ratio = self.sample_ratio;
            let provider = self.provider()?;
            if let Some(provider) = provider {
                use opentelemetry::trace::TracerProvider as _;
                let tracer = provider.tracer("edp");
                // Spans are exported at info and above, whatever the log filter says.
                let otel = tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
                tracing_subscriber::registry()
                    .with(fmt)
                    .with(otel)
                    .try_init()
                    .map_err(|_| TelemetryError::AlreadyInstalled)?;
                super::otel::install(Some(provider.tracer("edp")));
                super::sampling::activate(ratio);
                return Ok(TelemetryGuard {
                    provider: Some(provider),
                });
            }
        }
        tracing_subscriber::registry()
            .with(fmt)
            .try_init()
            .map_err(|_| TelemetryError::AlreadyInstalled)?;
        Ok(TelemetryGuard {
            #[cfg(feature = "otel")]
            provider: None,
        })
    }

    #[cfg(feature = "otel")]
    fn provider(
        mut self,
    ) -> Result<Option<opentelemetry_sdk::trace::SdkTracerProvider>, TelemetryError> {
        if let Some(slot) = self.exporter.take() {
            return Ok(Some((slot.0)()));
        }
        let Some(endpoint) = self.endpoint.take() else {
            return Ok(None);
        };
        use opentelemetry_otlp::WithExportConfig;
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(url)
            .with_timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        let processor =
            opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
                exporter,
                opentelemetry_sdk::runtime::Tokio,
            )
            .build();
        Ok(Some(
            opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_resource(self.resource())
                .with_sampler(sampler())
                .with_span_processor(processor)
                .build(),
        ))
    }
}

/// edp samples new traces at the edges (see [`sample_ratio`](super::sample_ratio)),
/// so the SDK follows parents, and keeps the root spans it is given.
#[cfg(feature = "otel")]
fn sampler() -> opentelemetry_sdk::trace::Sampler {
    use opentelemetry_sdk::trace::Sampler;
    Sampler::ParentBased(Box::new(Sampler::AlwaysOn))
}

/// Keeps span export running; [`shutdown`](Self::shutdown) exports what is buffered.
#[derive(Debug)]
#[must_use = "dropping it does not flush; keep it and call shutdown() before exit"]
pub struct TelemetryGuard {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Exports the spans still buffered and stops exporting. edp makes no more
    /// spans after this.
    pub async fn shutdown(self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider {
            super::sampling::deactivate();
            super::otel::install(None);
            // The SDK blocks while its export task drains: off the async threads.
            let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "span export did not shut down cleanly"),
                Err(e) => tracing::warn!(error = %e, "span export shutdown panicked"),
            }
        }
    }

    /// Exports the spans still buffered, and goes on exporting.
    pub async fn flush(&self) {
        #[cfg(feature = "otel")]
        if let Some(provider) = self.provider.clone() {
            let _ = tokio::task::spawn_blocking(move || provider.force_flush()).await;
        }
    }
}
