//! One OpenFlow connection's state and what each message does to the bridge.
//!
//! Flow-mods arriving back to back are applied as one batch (one new table version instead
//! of one per flow-mod); if the batch is refused, they are applied one at a time so each
//! refusal is answered with its own message's xid, exactly as OVS answers a sequence of
//! flow-mods. Any other message first applies the batch, so replies keep the order of the
//! requests (a barrier reply means every earlier flow-mod is in the tables).

use super::events::{AsyncEvent, FlowRemoved};
use super::{port_ops, views};
use crate::runtime::packet_in::Subscriber as PacketInSub;
use crate::runtime::state::Shared;
use openflow::errors as e;
use openflow::flow_mod::{Command, FlowModMsg};
use openflow::group::{
    GroupCommand, GroupModMsg, BUCKET_ALL, BUCKET_FIRST, BUCKET_LAST, GROUP_ALL,
};
use openflow::message::{self as m, Message};
use openflow::{error_reply, OfError, OfHeader};
use pipeline::tables::{BucketPosition, FlowMod, FlowModError, GroupMod, ModRun};
use std::collections::HashMap;
use std::sync::Arc;

/// What the connection does after a message.
pub(super) enum Next {
    /// Go on.
    Continue,
    /// Go on; the message was refused with an OpenFlow error.
    Refused,
    /// Close the connection (no version in common).
    Close,
}

/// Bundles open at once per connection.
const MAX_BUNDLES: usize = 16;
/// Messages one bundle may hold (Antrea installs ~160,000 flows in one).
const MAX_BUNDLE_MSGS: usize = 2_000_000;
/// Flow-mods applied as one batch at most.
const MAX_BATCH: usize = 50_000;

struct Bundle {
    flags: u16,
    closed: bool,
    msgs: Vec<(u32, Bundled)>,
}

/// A message a bundle holds. Flow-mods, by far the most common, are stored inline (a
/// bundle of 160,000 of them would otherwise make as many extra allocations).
#[allow(clippy::large_enum_variant)]
enum Bundled {
    Flow(FlowModMsg),
    Group(GroupModMsg),
}

/// A connection's state.
pub(super) struct Session {
    shared: Arc<Shared>,
    of: Arc<super::OfShared>,
    /// This connection's id among the bridge's (for its role).
    conn: u64,
    /// The next asynchronous event this connection has not been sent.
    event_seq: u64,
    version: Option<u8>,
    /// Flow-mods not yet applied: (xid, the message's first bytes for an error, flow-mod).
    batch: Vec<(u32, Vec<u8>, FlowModMsg)>,
    bundles: HashMap<u32, Bundle>,
    miss_send_len: u16,
    config_flags: u16,
    next_xid: u32,
    /// OpenFlow 1.0: flow-mods, flow statistics and flow-removed use NXM
    /// (NXT_SET_FLOW_FORMAT), else `ofp10_match`.
    nxm: bool,
    /// OpenFlow 1.0: a flow-mod command's high byte is its table (NXT_FLOW_MOD_TABLE_ID).
    flow_mod_table_id: bool,
    /// Which asynchronous messages this connection gets (set-async).
    async_cfg: openflow::async_config::AsyncConfig,
    /// The controller set its asynchronous configuration (until then OVS's defaults for
    /// the version apply to packet-ins).
    async_set: bool,
    /// A listener's connection (`ovs-ofctl`), not a controller brisk connected to: it
    /// gets asynchronous messages only with a nonzero `miss_send_len`, as in OVS.
    service: bool,
    /// NXT_SET_CONTROLLER_ID.
    controller_id: u16,
    /// NXT_SET_PACKET_IN_FORMAT (`openflow::packet_in::format`).
    pin_format: u32,
    /// This connection's packet-in queue, while it wants packet-ins.
    pins: Option<Arc<PacketInSub>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        self.of.roles.unregister(self.conn);
        if let Some(s) = self.pins.take() {
            self.shared.packet_ins.unsubscribe(&s);
        }
    }
}

impl Session {
    /// A session on a connection: `service` for listener connections (`ovs-ofctl` and
    /// the like), which as in OVS get asynchronous messages only after setting a nonzero
    /// `miss_send_len`; controllers the switch connected to get them from the start.
    pub(super) fn new(shared: Arc<Shared>, of: Arc<super::OfShared>, service: bool) -> Self {
        let conn = of.roles.register();
        let event_seq = of.events.next_seq();
        Session {
            shared,
            of,
            conn,
            event_seq,
            version: None,
            batch: Vec::new(),
            bundles: HashMap::new(),
            miss_send_len: if service { 0 } else { 128 },
            config_flags: 0,
            next_xid: 1,
            nxm: false,
            flow_mod_table_id: false,
            async_cfg: Default::default(),
            async_set: false,
            service,
            controller_id: 0,
            pin_format: openflow::packet_in::format::STANDARD,
            pins: None,
        }
    }

    /// Subscribes to packet-ins while the connection can receive them (a negotiated
    /// version; a listener's connection only with a nonzero `miss_send_len`, as OVS).
    pub(super) fn sync_packet_ins(&mut self) {
        let wants = self.version.is_some() && (!self.service || self.miss_send_len != 0);
        match (&self.pins, wants) {
            (None, true) => match self.shared.packet_ins.subscribe(self.controller_id) {
                Ok(s) => self.pins = Some(s),
                Err(e) => tracing::warn!("openflow: no packet-in queue for a connection: {e}"),
            },
            (Some(s), false) => {
                self.shared.packet_ins.unsubscribe(s);
                self.pins = None;
            }
            (Some(s), true) => s
                .controller_id
                .store(self.controller_id, std::sync::atomic::Ordering::Relaxed),
            (None, false) => {}
        }
    }

    /// The descriptor that becomes readable when packet-ins wait for this connection.
    pub(super) fn wake_fd(&self) -> Option<std::os::fd::RawFd> {
        self.pins.as_ref().map(|s| s.fd())
    }

    /// Whether this connection is sent a packet-in with `reason` (OFPR_*, brisk's): the
    /// role's mask as set-async left it, else OVS's default (a master or equal gets every
    /// reason but invalid_ttl; a slave none).
    fn wants_packet_in(&self, v: u8, reason: u8) -> bool {
        let slave = self.of.roles.role(self.conn) == super::roles::SLAVE;
        if !self.async_set {
            return !slave && reason != pipeline::dpaction::pin_reason::INVALID_TTL;
        }
        let wire = openflow::packet_in::wire_reason(reason, v);
        openflow::async_config::AsyncConfig::wants(&self.async_cfg.packet_in, slave, wire)
    }

    /// Packet-ins waiting for this connection, encoded in its version and format.
    fn packet_in_messages(&mut self, v: u8, out: &mut Vec<u8>) {
        let Some(sub) = self.pins.clone() else {
            return;
        };
        sub.drain_wakeups();
        let bridge = self.of.bridge_uuid;
        while let Some(p) = sub.pop() {
            if !self.wants_packet_in(v, p.reason) {
                continue;
            }
            let msg = openflow::packet_in::PacketInMsg {
                reason: p.reason,
                table_id: p.table_id,
                cookie: p.cookie,
                data: &p.data,
                metadata: &p.metadata,
                userdata: &p.userdata,
                continuation: p.continuation.as_deref().map(|c| (c, bridge)),
            };
            let m = openflow::packet_in::encode_packet_in(v, self.pin_format, 0, &msg);
            if m.len() > usize::from(u16::MAX) {
                // A jumbo frame with a long continuation: no OpenFlow message can hold it.
                sub.dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(bytes = m.len(), "openflow: a packet-in too big to send");
                continue;
            }
            out.extend_from_slice(&m);
        }
    }

    /// Flow-removed messages for flows that timed out since the last call (none for a
    /// slave, or before the version is negotiated).
    pub(super) fn async_messages(&mut self) -> Vec<u8> {
        let Some(v) = self.version else {
            return Vec::new();
        };
        let mut out = Vec::new();
        self.packet_in_messages(v, &mut out);
        let evs = self.of.events.since(&mut self.event_seq);
        if evs.is_empty() || self.miss_send_len == 0 {
            return out;
        }
        // What this connection asked for (set-async) in its current role.
        let slave = self.of.roles.role(self.conn) == super::roles::SLAVE;
        let cfg = self.async_cfg;
        let wants = openflow::async_config::AsyncConfig::wants;
        for ev in evs {
            self.next_xid = self.next_xid.wrapping_add(1);
            let ev = match ev {
                AsyncEvent::FlowRemoved(f) if wants(&cfg.flow_removed, slave, f.reason) => f,
                AsyncEvent::PortStatus(reason, desc) if wants(&cfg.port_status, slave, reason) => {
                    out.extend_from_slice(&openflow::port::port_status(v, 0, reason, &desc));
                    continue;
                }
                _ => continue,
            };
            let st = openflow::flow_mod::FlowStatsEntry {
                entry: &ev.entry,
                duration_sec: (ev.age_ms / 1000) as u32,
                duration_nsec: ((ev.age_ms % 1000) * 1_000_000) as u32,
                idle_age: (ev.idle_ms / 1000) as u32,
                hard_age: (ev.age_ms / 1000) as u32,
                packets: ev.packets,
                bytes: ev.bytes,
            };
            out.extend_from_slice(&if v == openflow::OFP10 {
                openflow::of10::flow_removed(0, self.nxm, ev.reason, &st)
            } else {
                openflow::flow_mod::flow_removed(v, 0, ev.reason, &st)
            });
        }
        out
    }

    pub(super) fn negotiated(&self) -> bool {
        self.version.is_some()
    }

    pub(super) fn echo_probe(&mut self) -> Vec<u8> {
        self.next_xid = self.next_xid.wrapping_add(1);
        m::encode(
            self.version.unwrap_or(openflow::OFP13),
            self.next_xid,
            &Message::EchoRequest(Vec::new()),
        )
    }

    /// Handles one message; replies are appended to `out`.
    pub(super) fn handle(&mut self, msg: &[u8], out: &mut Vec<u8>) -> Next {
        let Some(h) = OfHeader::parse(msg) else {
            return Next::Close;
        };
        let version = self.version.unwrap_or(h.version);
        // As OVS, a slave is refused before its change is even decoded.
        let changes = self.version.is_some()
            && if version == openflow::OFP10 {
                use openflow::of10 as o;
                matches!(h.ty, o::T_FLOW_MOD | o::T_PORT_MOD | o::T_PACKET_OUT)
            } else {
                matches!(
                    h.ty,
                    m::T_FLOW_MOD
                        | m::T_GROUP_MOD
                        | openflow::port::T_PACKET_OUT
                        | 16
                        | 17
                        | 29
                        | m::T_BUNDLE_CONTROL
                        | m::T_BUNDLE_ADD
                )
            };
        if changes && self.refuse_slave(version, h.xid, msg, out) {
            return Next::Refused;
        }
        let decoded = match m::decode(msg) {
            Ok(d) => d,
            Err(err) => {
                self.flush(out);
                tracing::debug!(xid = h.xid, "openflow: refused: {err}");
                out.extend_from_slice(&error_reply(version, h.xid, &err, msg));
                return Next::Refused;
            }
        };
        let (h, msg_decoded) = decoded;
        if let Message::Hello { versions } = msg_decoded {
            return self.hello(versions, h.xid, out);
        }
        if self.version.is_none() {
            // OVS sends an error and closes when the first message is not a hello.
            let err = OfError::new(
                (e::BAD_REQUEST, e::BAD_REQUEST_TYPE),
                "the first message must be a hello",
            );
            out.extend_from_slice(&error_reply(h.version, h.xid, &err, msg));
            return Next::Close;
        }
        if h.version != version
            && !matches!(
                msg_decoded,
                Message::EchoRequest(_) | Message::EchoReply(_) | Message::Error { .. }
            )
        {
            self.flush(out);
            let err = OfError::new(
                (e::BAD_REQUEST, e::BAD_REQUEST_VERSION),
                format!(
                    "{} on a connection that negotiated {}",
                    openflow::version_name(h.version),
                    openflow::version_name(version)
                ),
            );
            out.extend_from_slice(&error_reply(version, h.xid, &err, msg));
            return Next::Refused;
        }
        let changes = match &msg_decoded {
            Message::TlvTableMod { .. } => true,
            // NXT_FLOW_MOD and NXT_GROUP_MOD, vendor messages.
            Message::FlowMod(_) | Message::GroupMod(_) => version == openflow::OFP10,
            Message::Multipart(openflow::multipart::MpRequest::TableFeatures(b)) => !b.is_empty(),
            _ => false,
        };
        if changes && self.refuse_slave(version, h.xid, msg, out) {
            return Next::Refused;
        }
        if let Message::FlowMod(mut fm) = msg_decoded {
            if version == openflow::OFP10 {
                if let Err(err) = self.table_of10(&mut fm) {
                    self.flush(out);
                    out.extend_from_slice(&error_reply(version, h.xid, &err, msg));
                    return Next::Refused;
                }
            }
            self.batch
                .push((h.xid, msg[..msg.len().min(64)].to_vec(), fm));
            if self.batch.len() >= MAX_BATCH {
                self.flush(out);
            }
            return Next::Continue;
        }
        self.flush(out);
        match self.act(version, h.xid, msg_decoded, out) {
            Ok(()) => Next::Continue,
            Err(err) => {
                tracing::debug!(xid = h.xid, "openflow: refused: {err}");
                out.extend_from_slice(&error_reply(version, h.xid, &err, msg));
                Next::Refused
            }
        }
    }

    /// An OpenFlow 1.0 flow-mod's table: its command's high byte after
    /// NXT_FLOW_MOD_TABLE_ID (0xff: every table, for deletes and modifies), else table 0 for
    /// adds and every table for the rest, as OVS.
    fn table_of10(&self, fm: &mut FlowModMsg) -> Result<(), OfError> {
        let add = fm.command == Command::Add;
        let bad = |msg: String| OfError::new((e::FLOW_MOD_FAILED, e::FLOW_MOD_BAD_COMMAND), msg);
        if !self.flow_mod_table_id {
            if fm.entry.table != Some(0) {
                return Err(bad(
                    "a table id in the command needs NXT_FLOW_MOD_TABLE_ID first".into(),
                ));
            }
            fm.entry.table = if add { Some(0) } else { None };
        } else if add && fm.entry.table.is_none() {
            return Err(OfError::new(
                (e::FLOW_MOD_FAILED, e::FLOW_MOD_BAD_TABLE_ID),
                "add to table 255",
            ));
        }
        Ok(())
    }

    /// OFPBRC_IS_SLAVE when this connection is a slave (after the pending flow-mods).
    fn refuse_slave(&mut self, version: u8, xid: u32, msg: &[u8], out: &mut Vec<u8>) -> bool {
        let Err(err) = self.of.roles.check_may_change(self.conn) else {
            return false;
        };
        self.flush(out);
        out.extend_from_slice(&error_reply(version, xid, &err, msg));
        true
    }

    fn hello(&mut self, versions: u32, xid: u32, out: &mut Vec<u8>) -> Next {
        if self.version.is_some() {
            return Next::Continue;
        }
        let allowed = self
            .shared
            .of_versions
            .load(std::sync::atomic::Ordering::Relaxed);
        match m::negotiate(versions & allowed) {
            Some(v) => {
                self.version = Some(v);
                Next::Continue
            }
            None => {
                let err = OfError::new(
                    (e::HELLO_FAILED, e::HELLO_INCOMPATIBLE),
                    format!(
                        "peer offers versions {versions:#x}; the bridge allows {} (its protocols)",
                        version_names(allowed)
                    ),
                );
                let text = err.message.clone();
                out.extend_from_slice(&error_reply(openflow::OFP13, xid, &err, text.as_bytes()));
                Next::Close
            }
        }
    }

    fn act(&mut self, v: u8, xid: u32, msg: Message, out: &mut Vec<u8>) -> Result<(), OfError> {
        let sh = &self.shared;
        match msg {
            Message::Hello { .. } => {}
            Message::Error { ty, code, .. } => {
                tracing::info!(ty, code, "openflow: the peer sent {}", e::name(ty, code));
            }
            Message::EchoRequest(p) => out.extend_from_slice(&m::echo_reply(v, xid, &p)),
            Message::EchoReply(_) => {}
            Message::FeaturesRequest if v == openflow::OFP10 => {
                out.extend_from_slice(&openflow::of10::features_reply(
                    xid,
                    views::datapath_id(sh),
                    254,
                    &views::port_descs(sh),
                ))
            }
            Message::FeaturesRequest => {
                out.extend_from_slice(&m::features_reply(v, xid, views::datapath_id(sh), 254))
            }
            Message::GetConfigRequest => out.extend_from_slice(&m::get_config_reply(
                v,
                xid,
                self.config_flags,
                self.miss_send_len,
            )),
            Message::SetConfig {
                flags,
                miss_send_len,
            } => {
                if flags & !3 != 0 {
                    return Err(OfError::new(
                        (e::SWITCH_CONFIG_FAILED, e::SWITCH_CONFIG_BAD_FLAGS),
                        format!("config flags {flags:#x}"),
                    ));
                }
                self.config_flags = flags;
                self.miss_send_len = miss_send_len;
            }
            Message::Barrier => {
                let ty = if v == openflow::OFP10 {
                    openflow::of10::T_BARRIER_REPLY
                } else {
                    m::T_BARRIER_REPLY
                };
                out.extend_from_slice(&m::bare(v, ty, xid))
            }
            Message::SetFlowFormat(f) => {
                use openflow::of10::{NXFF_NXM, NXFF_OPENFLOW10};
                if v != openflow::OFP10 || !matches!(f, NXFF_NXM | NXFF_OPENFLOW10) {
                    return Err(OfError::new(
                        (e::BAD_REQUEST, e::BAD_REQUEST_EPERM),
                        format!("flow format {f} at {}", openflow::version_name(v)),
                    ));
                }
                self.nxm = f == NXFF_NXM;
            }
            Message::FlowModTableId(on) => self.flow_mod_table_id = on,
            Message::Multipart(req) => views::multipart(sh, &self.of.names, v, xid, req, out)?,
            Message::RoleRequest {
                role,
                generation_id,
            } => {
                let (now, generation) = self.of.roles.request(self.conn, role, generation_id)?;
                out.extend_from_slice(&m::role_reply(v, xid, now, generation));
            }
            Message::GetAsyncRequest => out.extend_from_slice(&self.async_cfg.reply(v, xid)),
            Message::SetAsync(body) => {
                self.async_cfg.apply(&body, v)?;
                self.async_set = true;
            }
            Message::SetControllerId(id) => self.controller_id = id,
            Message::TlvTableRequest => {
                let tlv = sh.bridge.underlay().tlv;
                let maps: Vec<m::TlvMapping> = tlv
                    .slots
                    .iter()
                    .enumerate()
                    .filter_map(|(i, s)| {
                        s.map(|t| m::TlvMapping {
                            class: t.class,
                            ty: t.ty,
                            len: t.len,
                            index: i as u16,
                        })
                    })
                    .collect();
                // Eight slots of at most 8 bytes each.
                out.extend_from_slice(&m::tlv_table_reply(v, xid, 64, 8, &maps));
            }
            Message::TlvTableMod { command, maps } => views::tlv_table_mod(sh, command, &maps)?,
            Message::SetPacketInFormat(f) => {
                if f > 2 {
                    return Err(OfError::new(
                        (e::BAD_REQUEST, e::BAD_REQUEST_EPERM),
                        format!("packet-in format {f}"),
                    ));
                }
                self.pin_format = f;
            }
            Message::Resume(r) => {
                if r.bridge != Some(self.of.bridge_uuid) {
                    // OFPERR_NXR_STALE: not this switch's continuation (or an older run's).
                    let code = if v == openflow::OFP10 {
                        (1, 534)
                    } else {
                        (0xffff, 35)
                    };
                    return Err(OfError::new(
                        code,
                        "NXT_RESUME: the continuation is not this bridge's (a restart, or another switch)",
                    ));
                }
                port_ops::resume(sh, *r)?;
            }
            Message::FlowMod(_) => unreachable!("flow-mods are batched"),
            Message::GroupMod(gm) => {
                refuse_unsupported_buckets(&gm)?;
                let now = sh.now_ms();
                let before = sh.bridge.tables();
                sh.bridge
                    .apply_groups(&[to_group_mod(&gm)], now)
                    .map_err(|err| flow_mod_error(&err))?;
                if gm.command == GroupCommand::Delete {
                    announce_removed(sh, &self.of, &before);
                }
            }
            Message::MeterMod(mm) => {
                let before = sh.bridge.tables();
                sh.bridge
                    .apply_meters(std::slice::from_ref(&mm), sh.now_ms())
                    .map_err(|err| flow_mod_error(&err))?;
                if matches!(mm, pipeline::tables::MeterMod::Delete(_)) {
                    announce_removed(sh, &self.of, &before);
                }
            }
            Message::PortMod(pm) => {
                if let Some(desc) = port_ops::port_mod(sh, &pm, v)? {
                    let ev = AsyncEvent::PortStatus(openflow::port::PR_MODIFY, desc);
                    self.of.events.push(ev);
                }
            }
            Message::PacketOut(po) => port_ops::packet_out(sh, po)?,
            Message::BundleControl { id, ty, flags } => {
                self.bundle_control(v, xid, id, ty, flags, out)?
            }
            Message::BundleAdd {
                id,
                flags,
                xid: inner_xid,
                inner,
            } => self.bundle_add(xid, id, flags, inner_xid, *inner)?,
        }
        Ok(())
    }

    fn bundle_control(
        &mut self,
        v: u8,
        xid: u32,
        id: u32,
        ty: u16,
        flags: u16,
        out: &mut Vec<u8>,
    ) -> Result<(), OfError> {
        let bfail = |code: u16, msg: String| OfError::new((m::BUNDLE_FAILED, code), msg);
        if flags & !3 != 0 {
            return Err(bfail(m::BFC_BAD_FLAGS, format!("bundle flags {flags:#x}")));
        }
        let reply_ty = match ty {
            m::BCT_OPEN_REQUEST => {
                if self.bundles.contains_key(&id) {
                    return Err(bfail(m::BFC_BUNDLE_EXIST, format!("bundle {id} is open")));
                }
                self.open_bundle(id, flags)?;
                m::BCT_OPEN_REPLY
            }
            m::BCT_CLOSE_REQUEST => {
                let b = self
                    .bundles
                    .get_mut(&id)
                    .ok_or_else(|| bfail(m::BFC_BAD_ID, format!("no bundle {id}")))?;
                if b.closed {
                    return Err(bfail(
                        m::BFC_BUNDLE_CLOSED,
                        format!("bundle {id} is closed"),
                    ));
                }
                b.closed = true;
                m::BCT_CLOSE_REPLY
            }
            m::BCT_COMMIT_REQUEST => {
                let b = self
                    .bundles
                    .remove(&id)
                    .ok_or_else(|| bfail(m::BFC_BAD_ID, format!("no bundle {id}")))?;
                if b.flags != flags {
                    return Err(bfail(
                        m::BFC_BAD_FLAGS,
                        "commit flags differ from open's".into(),
                    ));
                }
                self.commit(b)?;
                m::BCT_COMMIT_REPLY
            }
            m::BCT_DISCARD_REQUEST => {
                self.bundles
                    .remove(&id)
                    .ok_or_else(|| bfail(m::BFC_BAD_ID, format!("no bundle {id}")))?;
                m::BCT_DISCARD_REPLY
            }
            other => {
                return Err(bfail(
                    m::BFC_BAD_TYPE,
                    format!("bundle control type {other}"),
                ))
            }
        };
        out.extend_from_slice(&m::bundle_reply(v, xid, id, reply_ty, flags));
        Ok(())
    }

    fn bundle_add(
        &mut self,
        xid: u32,
        id: u32,
        flags: u16,
        inner_xid: u32,
        inner: Message,
    ) -> Result<(), OfError> {
        let bfail = |code: u16, msg: String| OfError::new((m::BUNDLE_FAILED, code), msg);
        if inner_xid != xid {
            return Err(bfail(
                m::BFC_MSG_BAD_XID,
                format!("bundled message xid {inner_xid} differs from the bundle-add's {xid}"),
            ));
        }
        let item = match inner {
            Message::FlowMod(fm) => {
                views::check_flow_mod(&self.shared, &fm, [])?;
                Bundled::Flow(fm)
            }
            Message::GroupMod(gm) => {
                refuse_unsupported_buckets(&gm)?;
                Bundled::Group(gm)
            }
            _ => {
                return Err(bfail(
                    m::BFC_MSG_UNSUP,
                    "only flow-mods and group-mods can be bundled".into(),
                ))
            }
        };
        // Adding to a bundle that does not exist opens it (OpenFlow 1.4 allows it).
        if !self.bundles.contains_key(&id) {
            self.open_bundle(id, flags)?;
        }
        let b = self.bundles.get_mut(&id).expect("just inserted");
        if b.closed {
            return Err(bfail(
                m::BFC_BUNDLE_CLOSED,
                format!("bundle {id} is closed"),
            ));
        }
        if b.flags != flags {
            return Err(bfail(
                m::BFC_BAD_FLAGS,
                "flags differ from the bundle's".into(),
            ));
        }
        if b.msgs.len() >= MAX_BUNDLE_MSGS {
            return Err(bfail(
                m::BFC_MSG_TOO_MANY,
                format!("bundle {id} holds {MAX_BUNDLE_MSGS} messages"),
            ));
        }
        b.msgs.push((xid, item));
        Ok(())
    }

    fn open_bundle(&mut self, id: u32, flags: u16) -> Result<(), OfError> {
        if self.bundles.len() >= MAX_BUNDLES {
            return Err(OfError::new(
                (m::BUNDLE_FAILED, m::BFC_OUT_OF_BUNDLES),
                format!("{MAX_BUNDLES} bundles are open on this connection"),
            ));
        }
        self.bundles.insert(
            id,
            Bundle {
                flags,
                closed: false,
                msgs: Vec::new(),
            },
        );
        Ok(())
    }

    /// Applies a bundle's flow-mods and group-mods, in order, as one table version: no
    /// packet sees part of it.
    fn commit(&mut self, b: Bundle) -> Result<(), OfError> {
        let mut runs: Vec<ModRun> = Vec::new();
        for (_, item) in &b.msgs {
            match (item, runs.last_mut()) {
                (Bundled::Flow(fm), Some(ModRun::Flows(v))) => v.push(to_flow_mod(fm)),
                (Bundled::Flow(fm), _) => runs.push(ModRun::Flows(vec![to_flow_mod(fm)])),
                (Bundled::Group(gm), Some(ModRun::Groups(v))) => v.push(to_group_mod(gm)),
                (Bundled::Group(gm), _) => runs.push(ModRun::Groups(vec![to_group_mod(gm)])),
            }
        }
        let now = self.shared.now_ms();
        let t = std::time::Instant::now();
        let n = b.msgs.len();
        let before = self.shared.bridge.tables();
        let done = self.shared.bridge.apply_runs(&runs, now);
        if done.is_ok() && runs.iter().any(removes) {
            announce_removed(&self.shared, &self.of, &before);
        }
        tracing::info!(
            messages = n,
            ms = t.elapsed().as_secs_f64() * 1000.0,
            ok = done.is_ok(),
            "openflow: bundle commit"
        );
        done.map(|_| ()).map_err(|err| {
            let mut e = flow_mod_error(&err);
            e.message = format!("bundle commit refused, nothing applied: {}", e.message);
            OfError::new((m::BUNDLE_FAILED, m::BFC_MSG_FAILED), e.message)
        })
    }

    /// Applies the pending flow-mods.
    pub(super) fn flush(&mut self, out: &mut Vec<u8>) {
        if self.batch.is_empty() {
            return;
        }
        let v = self.version.unwrap_or(openflow::OFP13);
        let batch = std::mem::take(&mut self.batch);
        let now = self.shared.now_ms();
        let mut ok: Vec<(u32, &Vec<u8>, &FlowModMsg)> = Vec::with_capacity(batch.len());
        for (xid, head, fm) in &batch {
            let checked = views::check_flow_mod(&self.shared, fm, ok.iter().map(|x| x.2));
            match checked {
                Ok(()) => ok.push((*xid, head, fm)),
                Err(err) => out.extend_from_slice(&error_reply(v, *xid, &err, head)),
            }
        }
        let mods: Vec<FlowMod> = ok.iter().map(|(_, _, fm)| to_flow_mod(fm)).collect();
        let deletes = mods.iter().any(|m| matches!(m, FlowMod::Delete { .. }));
        let before = self.shared.bridge.tables();
        if self.shared.bridge.apply(&mods, now).is_err() {
            // One at a time, so each refusal names its own message.
            for ((xid, head, _), fm) in ok.iter().zip(mods) {
                if let Err(err) = self.shared.bridge.apply(&[fm], now) {
                    out.extend_from_slice(&error_reply(v, *xid, &flow_mod_error(&err), head));
                }
            }
        }
        if deletes {
            announce_removed(&self.shared, &self.of, &before);
        }
    }
}

/// A group whose buckets hold what the datapath does not run yet is refused.
fn refuse_unsupported_buckets(gm: &GroupModMsg) -> Result<(), OfError> {
    for b in &gm.group.buckets {
        openflow::check::refuse_unsupported(&b.actions)?;
    }
    Ok(())
}

/// Whether a run of a bundle may remove flows.
fn removes(run: &ModRun) -> bool {
    match run {
        ModRun::Flows(v) => v.iter().any(|m| matches!(m, FlowMod::Delete { .. })),
        ModRun::Groups(v) => v.iter().any(|m| matches!(m, GroupMod::Delete(_))),
    }
}

/// Queues OFPT_FLOW_REMOVED for the `send_flow_rem` flows that were in `before` and are gone
/// now: OFPRR_GROUP_DELETE when a group they output to went with them, else OFPRR_DELETE.
/// (A change another connection made at the same moment may be attributed to this one's.)
fn announce_removed(sh: &Shared, of: &super::OfShared, before: &pipeline::tables::OfTables) {
    let now_tables = sh.bridge.tables();
    let now = sh.now_ms();
    for r in now_tables.removed_since(before) {
        let group_gone = r.entry.actions.iter().any(
            |a| matches!(a, pipeline::ofctl::Action::Group(g) if now_tables.group(*g).is_none()),
        );
        let reason = if group_gone {
            openflow::flow_mod::RR_GROUP_DELETE
        } else {
            openflow::flow_mod::RR_DELETE
        };
        of.events
            .push(AsyncEvent::FlowRemoved(FlowRemoved::of(&r, reason, now)));
    }
}

fn position(p: u32) -> BucketPosition {
    match p {
        BUCKET_FIRST => BucketPosition::First,
        BUCKET_LAST => BucketPosition::Last,
        BUCKET_ALL => BucketPosition::All,
        id => BucketPosition::Id(id),
    }
}

fn to_group_mod(gm: &GroupModMsg) -> GroupMod {
    let g = &gm.group;
    match gm.command {
        GroupCommand::Add => GroupMod::Add(g.clone()),
        GroupCommand::Modify => GroupMod::Modify {
            entry: g.clone(),
            may_create: false,
        },
        GroupCommand::AddOrModify => GroupMod::Modify {
            entry: g.clone(),
            may_create: true,
        },
        GroupCommand::Delete => GroupMod::Delete((g.id != GROUP_ALL).then_some(g.id)),
        GroupCommand::InsertBucket(p) => GroupMod::InsertBuckets {
            id: g.id,
            at: position(p),
            buckets: g.buckets.clone(),
        },
        GroupCommand::RemoveBucket(p) => GroupMod::RemoveBuckets {
            id: g.id,
            at: position(p),
        },
    }
}

fn to_flow_mod(fm: &FlowModMsg) -> FlowMod {
    match fm.command {
        Command::Add => FlowMod::Add(fm.entry.clone()),
        Command::Modify | Command::ModifyStrict => FlowMod::Modify {
            filter: fm.entry.clone(),
            strict: fm.command == Command::ModifyStrict,
            new_cookie: fm.new_cookie,
        },
        Command::Delete | Command::DeleteStrict => FlowMod::Delete {
            filter: fm.entry.clone(),
            strict: fm.command == Command::DeleteStrict,
            out_group: fm.out_group,
        },
    }
}

/// The OpenFlow error OVS sends for the refusal the tables gave.
pub(super) fn flow_mod_error(err: &FlowModError) -> OfError {
    let tc = match err {
        FlowModError::NoSuchGroup { .. } => (e::BAD_ACTION, e::BAD_ACTION_OUT_GROUP),
        FlowModError::TableFull { .. } => (e::FLOW_MOD_FAILED, e::FLOW_MOD_TABLE_FULL),
        FlowModError::BadGoto { .. } => (e::BAD_INSTRUCTION, e::BAD_INSTRUCTION_TABLE_ID),
        FlowModError::GroupExists(_) => (e::GROUP_MOD_FAILED, e::GROUP_EXISTS),
        FlowModError::GroupMissing(_) => (e::GROUP_MOD_FAILED, e::GROUP_UNKNOWN),
        FlowModError::GroupTableFull(_) => (e::GROUP_MOD_FAILED, e::GROUP_OUT_OF_GROUPS),
        FlowModError::GroupLoop { .. } => (e::GROUP_MOD_FAILED, e::GROUP_LOOP),
        // OFPGMFC_UNKNOWN_BUCKET, OFPGMFC_BUCKET_EXISTS (OpenFlow 1.5).
        FlowModError::UnknownBucket { .. } => (e::GROUP_MOD_FAILED, 15),
        FlowModError::BucketExists { .. } => (e::GROUP_MOD_FAILED, 16),
        FlowModError::NoSuchMeter { .. } => (e::METER_MOD_FAILED, e::METER_INVALID),
        FlowModError::Meter { why, .. } => {
            use pipeline::tables::MeterRefusal as R;
            let code = match why {
                R::Exists => e::METER_EXISTS,
                R::Unknown => e::METER_UNKNOWN,
                R::InvalidId => e::METER_INVALID,
                R::BadFlags => e::METER_BAD_FLAGS,
                R::BadBand => e::METER_BAD_BAND,
                R::BadRate => e::METER_BAD_RATE,
                R::OutOfBands => e::METER_OUT_OF_BANDS,
                R::OutOfMeters => e::METER_OUT_OF_METERS,
            };
            (e::METER_MOD_FAILED, code)
        }
    };
    OfError::new(tc, err.to_string())
}

/// `OpenFlow 1.0, 1.5` for a version bitmap.
fn version_names(bitmap: u32) -> String {
    let names: Vec<String> = (1..=6u32)
        .filter(|v| bitmap & (1 << v) != 0)
        .map(|v| format!("OpenFlow 1.{}", v - 1))
        .collect();
    names.join(", ")
}
