//! librdkafka's log lines, as `tracing` events (target `edp_kafka::librdkafka`).

use rdkafka::config::RDKafkaLogLevel;

/// Forwards one librdkafka log line.
pub(crate) fn forward(level: RDKafkaLogLevel, fac: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            tracing::error!(target: "edp_kafka::librdkafka", fac, "{message}");
        }
        RDKafkaLogLevel::Warning => {
            tracing::warn!(target: "edp_kafka::librdkafka", fac, "{message}")
        }
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "edp_kafka::librdkafka", fac, "{message}");
        }
        RDKafkaLogLevel::Debug => {
            tracing::debug!(target: "edp_kafka::librdkafka", fac, "{message}")
        }
    }
}

/// The most detailed level `tracing` would record for librdkafka's lines, so that
/// librdkafka does not format lines nobody reads.
pub(crate) fn level() -> RDKafkaLogLevel {
    const TARGET: &str = "edp_kafka::librdkafka";
    if tracing::enabled!(target: TARGET, tracing::Level::DEBUG) {
        RDKafkaLogLevel::Debug
    } else if tracing::enabled!(target: TARGET, tracing::Level::INFO) {
        RDKafkaLogLevel::Info
    } else {
        RDKafkaLogLevel::Warning
    }
}
