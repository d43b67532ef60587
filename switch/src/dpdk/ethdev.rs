//! Ethernet ports.

use super::{err, DpdkError, MbufBatch, Mempool, BURST};
use std::ffi::{CStr, CString};

/// `RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP` (function-like macros bindgen
/// cannot evaluate): IPv4/IPv6 with and without fragments, extension headers, TCP and UDP.
const RSS_IP_TCP_UDP: u64 = (1 << 2)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 7)
    | (1 << 8)
    | (1 << 9)
    | (1 << 10)
    | (1 << 11)
    | (1 << 13)
    | (1 << 15)
    | (1 << 16)
    | (1 << 17);

/// Port configuration.
#[derive(Clone, Copy, Debug)]
pub struct PortConf {
    /// Receive queues.
    pub rx_queues: u16,
    /// Transmit queues.
    pub tx_queues: u16,
    /// Receive descriptors per queue.
    pub rx_desc: u16,
    /// Transmit descriptors per queue.
    pub tx_desc: u16,
    /// Enable RSS across receive queues (when more than one).
    pub rss: bool,
    /// Promiscuous mode.
    pub promiscuous: bool,
}

impl Default for PortConf {
    fn default() -> Self {
        PortConf {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            rss: true,
            promiscuous: true,
        }
    }
}

pub use crate::netdev::{LinkInfo, PortStats};

/// An ethdev port.
#[derive(Debug)]
pub struct EthPort {
    id: u16,
    name: String,
    started: bool,
    /// Whether brisk created the device (and so must remove it on close).
    owned_vdev: bool,
}

fn port_name(id: u16) -> String {
    let mut buf = [0 as std::ffi::c_char; 64];
    // SAFETY: buf is large enough for RTE_ETH_NAME_MAX_LEN and NUL-terminated on success.
    let r = unsafe { dpdk_sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
    if r != 0 {
        return format!("port{id}");
    }
    // SAFETY: DPDK wrote a NUL-terminated string into buf.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Ids of every probed port (`--vdev`, `-a` PCI devices...).
pub fn available_ports() -> Vec<u16> {
    let mut v = Vec::new();
    let mut id = 0u16;
    loop {
        // SAFETY: iterates ethdev ids; returns RTE_MAX_ETHPORTS when done.
        let next = unsafe { dpdk_sys::rte_eth_find_next(id) };
        if u32::from(next) >= dpdk_sys::RTE_MAX_ETHPORTS {
            break;
        }
        v.push(next);
        id = next + 1;
    }
    v
}

impl EthPort {
    /// The port with DPDK port id `id`.
    pub fn from_id(id: u16) -> Result<EthPort, DpdkError> {
        // SAFETY: validity check of a port id; no preconditions.
        if unsafe { dpdk_sys::rte_eth_dev_is_valid_port(id) } == 0 {
            return Err(DpdkError::NoSuchPort(format!("port id {id}")));
        }
        Ok(EthPort {
            id,
            name: port_name(id),
            started: false,
            owned_vdev: false,
        })
    }

    /// The port named `name` (e.g. `net_ring0`, `0000:01:00.0`).
    pub fn by_name(name: &str) -> Result<EthPort, DpdkError> {
        let c = CString::new(name).map_err(|_| DpdkError::BadArgument(name.into()))?;
        let mut id = 0u16;
        // SAFETY: c is a valid C string; id is a valid out pointer.
        let r = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
        if r != 0 {
            return Err(DpdkError::NoSuchPort(name.into()));
        }
        Ok(EthPort {
            id,
            name: name.to_string(),
            started: false,
            owned_vdev: false,
        })
    }

    /// Creates a port from devargs (`net_vhost0,iface=/tmp/s.sock`, `net_tap0,iface=t0`,
    /// a PCI address...). Virtual devices are created with `rte_vdev_init`, others probed.
    pub fn from_devargs(devargs: &str) -> Result<EthPort, DpdkError> {
        let (name, args) = devargs.split_once(',').unwrap_or((devargs, ""));
        let is_vdev = name.starts_with("net_") || name.starts_with("eth_");
        if is_vdev {
            let cn = CString::new(name).map_err(|_| DpdkError::BadArgument(devargs.into()))?;
            let ca = CString::new(args).map_err(|_| DpdkError::BadArgument(devargs.into()))?;
            // SAFETY: valid C strings for the duration of the call.
            let r = unsafe { dpdk_sys::rte_vdev_init(cn.as_ptr(), ca.as_ptr()) };
            // Drivers that refuse their arguments return -1 (not an errno), and an unknown
            // driver a positive number: say so rather than "Operation not permitted".
            if r == -1 || r > 0 {
                return Err(DpdkError::BadArgument(format!(
                    "rte_vdev_init could not create {name} with {args:?}: no driver by that name, or the driver refused the arguments (DPDK's log says which)"
                )));
            }
            if r < 0 {
                return Err(err("rte_vdev_init", r));
            }
        } else {
            let c = CString::new(devargs).map_err(|_| DpdkError::BadArgument(devargs.into()))?;
            // SAFETY: valid C string.
            let r = unsafe { dpdk_sys::rte_dev_probe(c.as_ptr()) };
            if r < 0 {
                return Err(err("rte_dev_probe", r));
            }
        }
        let mut p = EthPort::by_name(name)?;
        p.owned_vdev = is_vdev;
        Ok(p)
    }

    /// DPDK port id.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Device name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// NUMA socket of the device (-1 if unknown).
    pub fn socket(&self) -> i32 {
        // SAFETY: valid port id.
        unsafe { dpdk_sys::rte_eth_dev_socket_id(self.id) }
    }

    /// Maximum queues the driver supports (rx, tx).
    pub fn max_queues(&self) -> Result<(u16, u16), DpdkError> {
        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: info is a valid out struct.
        let r = unsafe { dpdk_sys::rte_eth_dev_info_get(self.id, &mut info) };
        if r != 0 {
            return Err(err("rte_eth_dev_info_get", r));
        }
        Ok((info.max_rx_queues, info.max_tx_queues))
    }

    /// The PMD's name (`net_tap`, `net_af_packet`, `net_ice`...), for driver quirks.
    pub fn driver_name(&self) -> Result<String, DpdkError> {
        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: info is a valid out struct.
        let r = unsafe { dpdk_sys::rte_eth_dev_info_get(self.id, &mut info) };
        if r != 0 {
            return Err(err("rte_eth_dev_info_get", r));
        }
        if info.driver_name.is_null() {
            return Ok(String::new());
        }
        // SAFETY: a non-null driver_name is a NUL-terminated string owned by the driver,
        // valid for the life of the port.
        let name = unsafe { std::ffi::CStr::from_ptr(info.driver_name) };
        Ok(name.to_string_lossy().into_owned())
    }

    /// Configures queues and sets them up on `pool`, then starts the port.
    pub fn configure_and_start(
        &mut self,
        conf: &PortConf,
        pool: &Mempool,
    ) -> Result<(), DpdkError> {
        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: info is a valid out struct.
        let r = unsafe { dpdk_sys::rte_eth_dev_info_get(self.id, &mut info) };
        if r != 0 {
            return Err(err("rte_eth_dev_info_get", r));
        }
        let mut ec = dpdk_sys::rte_eth_conf::default();
        if conf.rss && conf.rx_queues > 1 {
            ec.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
            ec.rx_adv_conf.rss_conf.rss_hf = RSS_IP_TCP_UDP & info.flow_type_rss_offloads;
        }
        // SAFETY: ec is a valid config struct; the port is stopped.
        let r = unsafe {
            dpdk_sys::rte_eth_dev_configure(self.id, conf.rx_queues, conf.tx_queues, &ec)
        };
        if r != 0 {
            return Err(err("rte_eth_dev_configure", r));
        }
        let mut rxd = conf.rx_desc;
        let mut txd = conf.tx_desc;
        // SAFETY: valid pointers to descriptor counts the driver may adjust.
        let r = unsafe { dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(self.id, &mut rxd, &mut txd) };
        if r != 0 {
            return Err(err("rte_eth_dev_adjust_nb_rx_tx_desc", r));
        }
        let socket = self.socket().max(0) as u32;
        for q in 0..conf.rx_queues {
            // SAFETY: configured port, valid queue index, live mempool; NULL conf means
            // driver defaults.
            let r = unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(
                    self.id,
                    q,
                    rxd,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            };
            if r != 0 {
                return Err(err("rte_eth_rx_queue_setup", r));
            }
        }
        for q in 0..conf.tx_queues {
            // SAFETY: as above.
            let r = unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(self.id, q, txd, socket, std::ptr::null())
            };
            if r != 0 {
                return Err(err("rte_eth_tx_queue_setup", r));
            }
        }
        if conf.promiscuous {
            // SAFETY: valid port id; failure (unsupported) is harmless.
            unsafe { dpdk_sys::rte_eth_promiscuous_enable(self.id) };
        }
        // SAFETY: configured port.
        let r = unsafe { dpdk_sys::rte_eth_dev_start(self.id) };
        if r != 0 {
            return Err(err("rte_eth_dev_start", r));
        }
        self.started = true;
        Ok(())
    }

    /// Stops the port (queued packets stay in the driver until close).
    pub fn stop(&mut self) -> Result<(), DpdkError> {
        if self.started {
            // SAFETY: started port.
            let r = unsafe { dpdk_sys::rte_eth_dev_stop(self.id) };
            if r != 0 {
                return Err(err("rte_eth_dev_stop", r));
            }
            self.started = false;
        }
        Ok(())
    }

    /// Receives up to `BURST - batch.len()` packets into `batch`; returns how many.
    #[inline]
    pub fn rx_burst(&self, queue: u16, batch: &mut MbufBatch) -> usize {
        let (ptrs, len) = batch.raw_mut();
        let room = BURST - *len;
        if room == 0 {
            return 0;
        }
        // SAFETY: ptrs[len..BURST] is writable; the driver fills at most `room` slots with
        // owned mbufs, which the batch then owns.
        let n =
            unsafe { dpdk_sys::brisk_eth_rx_burst(self.id, queue, ptrs.add(*len), room as u16) };
        *len += usize::from(n);
        usize::from(n)
    }

    /// Sends the packets of `batch`; the ones the driver took leave the batch, the rest stay
    /// (the caller retries or frees them). Returns how many were sent.
    #[inline]
    pub fn tx_burst(&self, queue: u16, batch: &mut MbufBatch) -> usize {
        let (ptrs, len) = batch.raw_mut();
        if *len == 0 {
            return 0;
        }
        // SAFETY: ptrs[0..len] are owned mbufs; the driver takes ownership of the first n.
        let n =
            usize::from(unsafe { dpdk_sys::brisk_eth_tx_burst(self.id, queue, ptrs, *len as u16) });
        batch.consume_front(n);
        n
    }

    /// Counters.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: s is a valid out struct.
        let r = unsafe { dpdk_sys::rte_eth_stats_get(self.id, &mut s) };
        if r != 0 {
            return Err(err("rte_eth_stats_get", r));
        }
        Ok(PortStats {
            ipackets: s.ipackets,
            opackets: s.opackets,
            ibytes: s.ibytes,
            obytes: s.obytes,
            imissed: s.imissed,
            ierrors: s.ierrors,
            oerrors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Resets counters.
    pub fn reset_stats(&self) {
        // SAFETY: valid port id.
        unsafe { dpdk_sys::rte_eth_stats_reset(self.id) };
    }

    /// Link state without waiting.
    pub fn link(&self) -> LinkInfo {
        let mut l = dpdk_sys::rte_eth_link::default();
        // SAFETY: l is a valid out struct.
        let r = unsafe { dpdk_sys::rte_eth_link_get_nowait(self.id, &mut l) };
        if r != 0 {
            return LinkInfo::default();
        }
        LinkInfo {
            up: l.link_status() != 0,
            speed_mbps: l.link_speed,
            full_duplex: l.link_duplex() != 0,
        }
    }

    /// The port's MTU (`None` if the driver cannot say).
    pub fn mtu(&self) -> Option<u16> {
        let mut m = 0u16;
        // SAFETY: m is a valid out parameter; the port id is valid.
        let r = unsafe { dpdk_sys::rte_eth_dev_get_mtu(self.id, &mut m) };
        (r == 0).then_some(m)
    }

    /// Sets the MTU (`mtu_request`): the driver's refusal, with DPDK's reason.
    pub fn set_mtu(&self, mtu: u16) -> Result<(), String> {
        // SAFETY: the port id is valid; DPDK checks the value against the device's limits.
        let r = unsafe { dpdk_sys::rte_eth_dev_set_mtu(self.id, mtu) };
        if r == 0 {
            Ok(())
        } else {
            Err(format!(
                "rte_eth_dev_set_mtu({mtu}): {}",
                std::io::Error::from_raw_os_error(-r)
            ))
        }
    }

    /// MAC address.
    pub fn mac(&self) -> [u8; 6] {
        let mut a = dpdk_sys::rte_ether_addr::default();
        // SAFETY: a is a valid out struct.
        unsafe { dpdk_sys::rte_eth_macaddr_get(self.id, &mut a) };
        a.addr_bytes
    }
}

impl Drop for EthPort {
    fn drop(&mut self) {
        let _ = self.stop();
        // SAFETY: the port is stopped; close releases its queues (and any mbufs the driver
        // still holds go back to their pools).
        unsafe { dpdk_sys::rte_eth_dev_close(self.id) };
        if self.owned_vdev {
            if let Ok(c) = CString::new(self.name.as_str()) {
                // SAFETY: removes the virtual device brisk created.
                unsafe { dpdk_sys::rte_vdev_uninit(c.as_ptr()) };
            }
        }
    }
}

/// Two ports joined back to back by a pair of rings (what one sends, the other receives):
/// a real PMD (`net_ring`) for tests and demos without hardware.
pub fn ring_pair(a: &str, b: &str, size: u32) -> Result<(EthPort, EthPort), DpdkError> {
    let mk = |name: String| -> Result<*mut dpdk_sys::rte_ring, DpdkError> {
        let c = CString::new(name.clone()).map_err(|_| DpdkError::BadArgument(name))?;
        // SAFETY: valid C string; flags 0 = multi-producer/consumer; NULL means failure.
        let r = unsafe { dpdk_sys::rte_ring_create(c.as_ptr(), size, 0, 0) };
        if r.is_null() {
            Err(err("rte_ring_create", -1))
        } else {
            Ok(r)
        }
    };
    let r_ab = mk(format!("{a}>{b}"))?;
    let r_ba = mk(format!("{b}>{a}"))?;
    let mkport = |name: &str, rx: *mut dpdk_sys::rte_ring, tx: *mut dpdk_sys::rte_ring| {
        let c = CString::new(name).map_err(|_| DpdkError::BadArgument(name.into()))?;
        // SAFETY: rx/tx point to one live ring each; the ring PMD keeps the pointers, and
        // the rings live for the process (DPDK frees them at EAL cleanup).
        let id = unsafe { dpdk_sys::rte_eth_from_rings(c.as_ptr(), &rx, 1, &tx, 1, 0) };
        if id < 0 {
            return Err(err("rte_eth_from_rings", id));
        }
        EthPort::from_id(id as u16)
    };
    let pa = mkport(a, r_ba, r_ab)?;
    let pb = mkport(b, r_ab, r_ba)?;
    Ok((pa, pb))
}
