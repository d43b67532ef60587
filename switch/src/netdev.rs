//! What every kind of device port reports, whichever layer drives it.

/// Port counters (from `rte_eth_stats_get` for DPDK ports, the socket and the kernel for
/// brisk's own kernel-socket ports).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets dropped by the NIC (rx queue full).
    pub imissed: u64,
    /// Receive errors.
    pub ierrors: u64,
    /// Transmit errors.
    pub oerrors: u64,
    /// Receive mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// Link state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkInfo {
    /// Link up.
    pub up: bool,
    /// Speed in Mb/s.
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}
