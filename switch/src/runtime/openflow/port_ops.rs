//! A controller's port-mod and packet-out, against the running switch: the same bridge
//! ports the datapath translates with, and the ports' own transmit queues.

use super::views::port_descs;
use crate::pkt::Pkt;
use crate::runtime::state::Shared;
use crate::runtime::worker::TxSink;
use openflow::errors as e;
use openflow::multipart::PortDesc;
use openflow::port::{self as op, PacketOut, PortMod};
use openflow::OfError;
use pipeline::bridge::port_config as pc;
use pipeline::dpaction::Packet;
use pipeline::flow::{Flow, KEY_WORDS};
use pipeline::ofctl::Match;

/// Largest frame a packet-out may carry (a jumbo frame).
const MAX_PACKET_OUT: usize = 9216;

/// Applies a port-mod and returns the port as it is now (for OFPT_PORT_STATUS), or `None`
/// when nothing changed. As in OVS, configuration bits the version does not define are
/// ignored, and the MAC must be the port's (the controller is not changing a port that
/// was replaced under it).
pub(super) fn port_mod(
    sh: &Shared,
    pm: &PortMod,
    version: u8,
) -> Result<Option<PortDesc>, OfError> {
    let known = if version == openflow::OFP10 {
        pc::ALL
    } else {
        pc::ALL & !pc::NO_FLOOD
    };
    let failed = |code: u16, msg: String| {
        let ty = if version == openflow::OFP10 {
            4
        } else {
            op::PORT_MOD_FAILED
        };
        OfError::new((ty, code), msg)
    };
    let desc = port_descs(sh)
        .into_iter()
        .find(|d| d.port_no == pm.port_no)
        .ok_or_else(|| failed(op::PORT_MOD_BAD_PORT, format!("no port {}", pm.port_no)))?;
    if desc.hw_addr != pm.hw_addr {
        return Err(failed(
            op::PORT_MOD_BAD_HW_ADDR,
            format!(
                "port {} has MAC {}, not {}",
                desc.name,
                fmt_mac(&desc.hw_addr),
                fmt_mac(&pm.hw_addr)
            ),
        ));
    }
    let old = sh
        .bridge
        .mod_port(pm.port_no, pm.config & known, pm.mask & known)
        .map_err(|err| failed(op::PORT_MOD_BAD_PORT, err.to_string()))?;
    let now = sh.bridge.ports().get(pm.port_no).map(|p| p.config_bits());
    if now == Some(old.config_bits()) {
        return Ok(None);
    }
    tracing::info!(
        port = %desc.name,
        config = format!("{:#x}", now.unwrap_or(0)),
        "openflow: port-mod"
    );
    Ok(port_descs(sh).into_iter().find(|d| d.port_no == pm.port_no))
}

fn fmt_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Runs a packet-out: the actions are checked against the packet as a flow's are against
/// its match, then executed by the same translation and datapath actions as a received
/// packet (a `resubmit` enters the tables); what leaves is sent on the control thread's
/// transmit queue of each port before the next message is read, so a barrier after a
/// packet-out means the packet was sent.
pub(crate) fn packet_out(sh: &Shared, po: PacketOut) -> Result<(), OfError> {
    if po.buffer_id != op::NO_BUFFER {
        return Err(OfError::new(
            (e::BAD_REQUEST, e::BAD_REQUEST_BUFFER_UNKNOWN),
            format!("buffer {:#x}: brisk buffers no packets", po.buffer_id),
        ));
    }
    if po.data.len() < 14 || po.data.len() > MAX_PACKET_OUT {
        return Err(OfError::new(
            (e::BAD_REQUEST, e::BAD_REQUEST_BAD_PACKET),
            format!(
                "packet-out of {} bytes (an Ethernet frame of 14..{MAX_PACKET_OUT})",
                po.data.len()
            ),
        ));
    }
    // As OVS, an input port that does not exist (below OFPP_MAX) is accepted: the packet
    // simply counts as received there.
    let in_port = po.in_port;
    let pool = sh.pools.main();
    let frame = Pkt::from_bytes(pool, &po.data).ok_or_else(|| {
        OfError::new(
            (e::BAD_REQUEST, e::BAD_REQUEST_BAD_PACKET),
            "packet-out: no packet buffer free",
        )
    })?;
    let pkt = Packet::new(frame, in_port, None);
    // The packet's own fields play the part of a flow's match for the checks.
    let mut mask = Flow::ZERO;
    mask.w[..KEY_WORDS].fill(u64::MAX);
    let known = Match {
        value: pkt.key,
        mask,
    };
    openflow::check::check_action_list(&known, &po.actions, 0, true)?;
    let ports = sh.ports();
    let txq = sh.workers.len() as u16;
    let mut sink = TxSink::new(pool, ports, txq, sh.packet_ins.clone(), sh.learner.clone());
    let _tx = sh.control_tx.lock();
    pipeline::slowpath::packet_out(&sh.bridge, pkt, &po.actions, sh.now_ms(), &mut sink, None);
    sink.flush_all();
    Ok(())
}

/// NXT_RESUME: the paused packet continues with the frozen rest of its walk and the
/// metadata the controller sent back (which it may have changed: registers, as OVS
/// allows), on the control thread's transmit queue like a packet-out.
pub(crate) fn resume(sh: &Shared, r: openflow::packet_in::Resume) -> Result<(), OfError> {
    if r.data.len() < 14 || r.data.len() > MAX_PACKET_OUT {
        return Err(OfError::new(
            (e::BAD_REQUEST, e::BAD_REQUEST_BAD_PACKET),
            format!(
                "NXT_RESUME of {} bytes (an Ethernet frame of 14..{MAX_PACKET_OUT})",
                r.data.len()
            ),
        ));
    }
    let meta = &r.metadata;
    let in_port = pipeline::field::Field::InPort.get(&meta.value) as u32;
    let pool = sh.pools.main();
    let frame = Pkt::from_bytes(pool, &r.data).ok_or_else(|| {
        OfError::new(
            (e::BAD_REQUEST, e::BAD_REQUEST_BAD_PACKET),
            "NXT_RESUME: no packet buffer free",
        )
    })?;
    let mut pkt = Packet::new(frame, in_port, None);
    // The metadata (input port, conntrack, tunnel, registers, `metadata`) as the
    // controller sent it back; the headers stay the packet's own.
    openflow::packet_in::apply_metadata(&r.metadata, r.conntracked, &mut pkt.key);
    let ports = sh.ports();
    let txq = sh.workers.len() as u16;
    let mut sink = TxSink::new(pool, ports, txq, sh.packet_ins.clone(), sh.learner.clone());
    let _tx = sh.control_tx.lock();
    pipeline::slowpath::process_from(
        &sh.bridge,
        pkt,
        pipeline::xlate::Start::Resume(&r.continuation),
        sh.now_ms(),
        &mut sink,
        None,
    );
    sink.flush_all();
    Ok(())
}
