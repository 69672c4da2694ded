//! Leases: named, expiring claims with fencing tokens, for work owned by one process at a
//! time (an Execution driven by one server, a keyed mutex). Time is the caller's: every call
//! takes `now_ms`, so the store holds no clock.

/// A lease as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The lease's name.
    pub name: String,
    /// Who holds it.
    pub holder: String,
    /// The fencing token of this tenure: it grows with every acquisition (of any lease in the
    /// store) and stays the same across renewals. A resource that remembers the greatest
    /// token it has seen can refuse a stale holder.
    pub token: u64,
    /// The lease is held while the caller's clock reads less than this (milliseconds).
    pub expires_at_ms: i64,
}

impl Lease {
    /// Whether the lease is still held at `now_ms`.
    pub fn is_held_at(&self, now_ms: i64) -> bool {
        now_ms < self.expires_at_ms
    }
}
