//! Actions that end in the datapath: output (ports, tunnels, flood, NORMAL), `dec_ttl`,
//! and `ct` (which freezes the walk for recirculation).

use super::{ct_fields_mask, Ctx, TraceEvent, XlateError};
use crate::bridge::TunnelPort;
use crate::bridge::{port_config, FrozenState, PortKind};
use crate::dpaction::{DpAction, DpCt, DropReason, TnlPending, TunnelMeta};
use crate::field::Field;
use crate::flow::{eth_type, w, Flow, VLAN_CFI};
use crate::ofctl::{port, Action, CtAction, CtZone, SetField};
use crate::tunnel::{encap, Resolution};

impl Ctx<'_> {
    pub(super) fn dec_ttl(&mut self) {
        let ty = self.read(Field::EthType) as u16;
        if ty != eth_type::IPV4 && ty != eth_type::IPV6 {
            self.note("dec_ttl on a non-IP packet: no-op");
            return;
        }
        let ttl = Field::NwTtl.get(&self.flow) as u8;
        let known = Field::NwTtl.get(&self.written) != 0;
        if known {
            if ttl > 1 {
                self.do_set(&SetField {
                    field: Field::NwTtl,
                    value: u128::from(ttl - 1),
                    mask: 0xff,
                    form: crate::ofctl::SetForm::Mod,
                });
            } else {
                self.note("TTL exceeded: dropping");
                self.acts.push(DpAction::Drop(DropReason::TtlExpired));
                self.exit = true;
            }
            return;
        }
        if ttl > 1 {
            // Relative decrement in the datapath, which also drops TTL<=1 packets that
            // share this megaflow.
            self.commit();
            self.acts.push(DpAction::DecTtl);
            Field::NwTtl.set(&mut self.flow, u128::from(ttl - 1));
            Field::NwTtl.set(&mut self.base, u128::from(ttl - 1));
        } else {
            self.read(Field::NwTtl);
            self.note("TTL exceeded: dropping");
            self.acts.push(DpAction::Drop(DropReason::TtlExpired));
            self.exit = true;
        }
    }

    pub(super) fn ct(&mut self, ct: &CtAction) {
        self.commit();
        let zone = match ct.zone {
            CtZone::Imm(z) => z,
            CtZone::Field(sf) => self.read_sf(&sf) as u16,
        };
        let mut mark: Option<(u32, u32)> = None;
        let mut label: Option<(u128, u128)> = None;
        for s in &ct.exec {
            match s.field {
                Field::CtMark => {
                    let (v, m) = mark.unwrap_or((0, 0));
                    let nm = s.mask as u32;
                    mark = Some(((v & !nm) | (s.value as u32 & nm), m | nm));
                }
                Field::CtLabel => {
                    let (v, m) = label.unwrap_or((0, 0));
                    label = Some(((v & !s.mask) | (s.value & s.mask), m | s.mask));
                }
                _ => {}
            }
        }
        if self.trace.is_some() {
            // As OVS: the `exec` actions, each in turn (an empty list drops).
            let depth = self.depth;
            if ct.exec.is_empty() {
                self.trace_event(TraceEvent::Drop { depth });
            }
            for s in &ct.exec {
                let action = Action::Set(*s);
                self.trace_event(TraceEvent::Action { depth, action });
            }
        }
        let recirc = match ct.table {
            Some(t) => {
                let st = FrozenState::capture(&self.flow, &self.written, t);
                match self.bridge.recirc_id(&st) {
                    Some(id) => {
                        self.note(format_args!(
                            "A clone of the packet is forked to recirculate. \
                             The forked pipeline will be resumed at table {t}."
                        ));
                        Some(id)
                    }
                    None => {
                        self.note("out of recirculation ids: dropping");
                        self.error = Some(XlateError::Recirc);
                        self.exit = true;
                        return;
                    }
                }
            }
            None => None,
        };
        self.acts.push(DpAction::Ct(Box::new(DpCt {
            zone,
            commit: ct.commit,
            force: ct.force,
            nat: ct.nat,
            mark,
            label,
            recirc,
        })));
        // The ct_* fields are only meaningful in the recirculated pipeline.
        let m = ct_fields_mask();
        for i in 0..crate::flow::FLOW_WORDS {
            self.flow.w[i] &= !m.w[i];
        }
        self.written.or_with(&m);
        self.note("Sets the packet to an untracked state, and clears all the conntrack fields.");
    }

    pub(super) fn output(&mut self, p: u32) {
        match p {
            port::IN_PORT => {
                let ip = self.read(Field::InPort) as u32;
                self.output_to(ip);
            }
            port::NORMAL => self.normal(),
            port::FLOOD => self.flood(false),
            port::ALL => self.flood(true),
            port::NONE => {}
            // A packet-out's `output:TABLE`: the packet goes through the tables from table 0
            // (flows may not hold it: the flow-mod checks refuse it).
            port::TABLE => self.lookup_table(0),
            port::CONTROLLER => self.output_controller(u16::MAX),
            _ => {
                let ip = self.read(Field::InPort) as u32;
                if ip == p {
                    self.warn("skipping output to input port");
                    return;
                }
                self.output_to(p);
            }
        }
    }

    fn output_to(&mut self, p: u32) {
        let ports = self.ports;
        let Some(info) = ports.get(p) else {
            self.warn("Nonexistent output port");
            return;
        };
        let off = info.config & (port_config::PORT_DOWN | port_config::NO_FWD);
        if off != 0 {
            let why = if off & port_config::PORT_DOWN != 0 {
                "down"
            } else {
                "no-forward"
            };
            self.note(format_args!(
                "port {} is {why} (port-mod): not sent",
                info.name
            ));
            return;
        }
        match &info.kind {
            PortKind::Tunnel(cfg) => {
                let dst = match cfg.remote_ip {
                    Some(ip) => ip,
                    None => self.read(Field::TunDst) as u32,
                };
                if dst == 0 {
                    // OVS's words; brisk's reason: the tunnel port has no destination
                    // (tun_dst unset).
                    self.warn("Tunneling decided against output");
                    return;
                }
                self.commit();
                let tun_id = match cfg.key {
                    Some(k) => k,
                    None => self.read(Field::TunId) as u64,
                };
                let src = match cfg.local_ip {
                    Some(ip) => ip,
                    None => self.read(Field::TunSrc) as u32,
                };
                let flags = self.read(Field::TunFlags) as u16;
                let mut present_m = Flow::ZERO;
                present_m.w[w::TUN_FLAGS] = 0xff << 32;
                self.read_bits(&present_m);
                let present = (self.flow.w[w::TUN_FLAGS] >> 32) as u8;
                let mut md = [0u64; 8];
                for (i, slot) in md.iter_mut().enumerate() {
                    if present & (1 << i) != 0 {
                        *slot = self.read(Field::TunMetadata(i as u8)) as u64;
                    }
                }
                let meta = TunnelMeta {
                    tun_id,
                    src,
                    dst,
                    tos: 0,
                    ttl: 0,
                    flags,
                    md_present: present,
                    md,
                };
                self.tunnel_output(p, cfg, meta);
            }
            _ => {
                self.commit();
                self.acts.push(DpAction::Output(p));
            }
        }
    }

    /// Native tunnelling: the output resolves against the underlay now (route, next hop's
    /// MAC) into a `tnl_push` with the outer-header template, so the megaflow caches it.
    /// A bridge without an uplink hands the packet over on the tunnel port as is.
    fn tunnel_output(&mut self, p: u32, cfg: &TunnelPort, meta: TunnelMeta) {
        let u = self.bridge.underlay();
        // Either way the megaflow follows the underlay: one cached while there was no
        // uplink must encapsulate once one is given.
        self.uses_underlay = true;
        self.note("output to native tunnel");
        if u.uplink.is_none() {
            if u.native_only {
                // brisk's reason: the bridge has no uplink.
                self.warn("native tunnel routing failed");
                self.acts
                    .push(DpAction::OutputDrop(DropReason::TunnelNoRoute));
            } else {
                self.acts.push(DpAction::TunnelOutput { port: p, meta });
            }
            return;
        }
        let r = encap::resolve(&u, &self.bridge.neighbours(), p, cfg, &meta);
        let dst = std::net::Ipv4Addr::from(meta.dst);
        let via = |ctx: &Self, port: u32| {
            ctx.ports
                .get(port)
                .map_or_else(|| port.to_string(), |i| i.name.clone())
        };
        match r {
            Resolution::Push(t) => {
                if self.trace.is_some() {
                    let (dst_mac, src_mac) = t.outer_macs();
                    let (src_ip, dst_ip) = t.outer_ips();
                    let text = format!("tunneling to {dst} via {}", via(self, t.uplink));
                    self.note(text);
                    let text = format!("tunneling from {src_mac} {src_ip} to {dst_mac} {dst_ip}");
                    self.note(text);
                }
                self.acts.push(DpAction::TnlPush(t));
            }
            Resolution::Waiting { nexthop } => {
                if self.trace.is_some() {
                    let uplink = u.uplink.as_ref().map_or(0, |l| l.ofport);
                    let text = format!("tunneling to {dst} via {}", via(self, uplink));
                    self.note(text);
                    let text = format!(
                        "neighbor cache miss for {} on bridge {}, sending ARP request",
                        std::net::Ipv4Addr::from(nexthop),
                        self.bridge.name
                    );
                    self.note(text);
                }
                self.acts.push(DpAction::TnlPending(Box::new(TnlPending {
                    tunnel: p,
                    nexthop,
                    meta,
                })));
            }
            Resolution::NoRoute => {
                self.warn("native tunnel routing failed");
                self.acts
                    .push(DpAction::OutputDrop(DropReason::TunnelNoRoute));
            }
        }
    }

    fn flood(&mut self, all: bool) {
        let ip = self.read(Field::InPort) as u32;
        let ports: Vec<(u32, bool)> = self.ports.iter().map(|p| (p.ofport, p.flood)).collect();
        for (p, flood) in ports {
            if p != ip && (all || flood) {
                self.output_to(p);
            }
        }
    }

    fn normal(&mut self) {
        self.uses_macs = true;
        let in_port = self.read(Field::InPort) as u32;
        let src = self.read(Field::EthSrc) as u64;
        let dst = self.read(Field::EthDst) as u64;
        let tci = self.read(Field::VlanTci) as u16;
        let vlan = if tci & VLAN_CFI != 0 { tci & 0x0fff } else { 0 };
        if self.may_learn {
            self.bridge.learn_mac(src, vlan, in_port, self.now_ms);
        }
        if dst & 0x0100_0000_0000 != 0 {
            self.note("no learned MAC for destination, flooding");
            self.flood(false);
            return;
        }
        match self.bridge.lookup_mac(dst, vlan, self.now_ms) {
            Some(p) if p == in_port => {
                self.note("learned port is input port, dropping");
            }
            Some(p) => {
                self.note("forwarding to learned port");
                self.output_to(p);
            }
            None => {
                self.note("no learned MAC for destination, flooding");
                self.flood(false);
            }
        }
    }
}
