/// The most partitions a topic can have.
pub const MAX_PARTITIONS: u32 = u16::MAX as u32;

/// Settings of an in-memory broker.
///
/// ```
/// use edp_core::transport::memory::{MemoryConfig, MemoryTransport};
/// let transport = MemoryTransport::with_config(MemoryConfig::default().partitions(4).capacity(256));
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct MemoryConfig {
    /// Partitions per topic (default 8). Order holds per key; keys spread over
    /// partitions, and partitions are consumed in parallel.
    pub partitions: u32,
    /// Events kept per partition (default 1024). A publisher waits while the slowest
    /// active consumer group is this far behind: memory stays bounded. Events
    /// published in one call share memory in runs of up to 16, so a partition far
    /// behind the others keeps at most 16 times its capacity alive.
    pub capacity: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            partitions: 8,
            capacity: 1024,
        }
    }
}

impl MemoryConfig {
    /// Sets the partitions per topic (1 to 65,535).
    pub fn partitions(mut self, partitions: u32) -> Self {
        self.partitions = partitions.clamp(1, MAX_PARTITIONS);
        self
    }

    /// Sets the events kept per partition (at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }
}
