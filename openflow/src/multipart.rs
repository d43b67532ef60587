//! Multipart (statistics) requests and replies: switch description, flows and their
//! aggregate, tables, ports, and the splitting of long replies into several messages.

use crate::buf::{put16, put32, put64, zeros, Reader};
use crate::flow_mod::{decode_flow_stats_request, encode_oxs_stats, FlowStatsRequest};
use crate::group::GROUP_ALL;
use crate::oxm::{port_from_of11, port_to_of11};
use crate::{errors as e, finish, start, OfError, OFP14};

/// `ofp_multipart_type`.
pub mod mp {
    /// OFPMP_DESC.
    pub const DESC: u16 = 0;
    /// OFPMP_FLOW (OFPMP_FLOW_DESC in 1.5).
    pub const FLOW: u16 = 1;
    /// OFPMP_AGGREGATE.
    pub const AGGREGATE: u16 = 2;
    /// OFPMP_TABLE.
    pub const TABLE: u16 = 3;
    /// OFPMP_PORT_STATS.
    pub const PORT_STATS: u16 = 4;
    /// OFPMP_QUEUE.
    pub const QUEUE: u16 = 5;
    /// OFPMP_GROUP.
    pub const GROUP: u16 = 6;
    /// OFPMP_GROUP_DESC.
    pub const GROUP_DESC: u16 = 7;
    /// OFPMP_GROUP_FEATURES.
    pub const GROUP_FEATURES: u16 = 8;
    /// OFPMP_METER.
    pub const METER: u16 = 9;
    /// OFPMP_METER_CONFIG.
    pub const METER_CONFIG: u16 = 10;
    /// OFPMP_METER_FEATURES.
    pub const METER_FEATURES: u16 = 11;
    /// OFPMP_TABLE_FEATURES.
    pub const TABLE_FEATURES: u16 = 12;
    /// OFPMP_PORT_DESC.
    pub const PORT_DESC: u16 = 13;
    /// OFPMP_TABLE_DESC.
    pub const TABLE_DESC: u16 = 14;
    /// OFPMP_EXPERIMENTER.
    pub const EXPERIMENTER: u16 = 0xffff;
}

/// OFPMPF_REQ_MORE / OFPMPF_REPLY_MORE.
pub const MORE: u16 = 1;

/// A multipart request as the switch acts on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MpRequest {
    /// Switch description.
    Desc,
    /// Flow statistics.
    Flow(FlowStatsRequest),
    /// Aggregate flow statistics.
    Aggregate(FlowStatsRequest),
    /// Table statistics.
    Table,
    /// Port statistics (`None`: all ports).
    PortStats(Option<u32>),
    /// Port descriptions (`None`: all ports).
    PortDesc(Option<u32>),
    /// Group descriptions (`None`: all groups).
    GroupDesc(Option<u32>),
    /// Group statistics (`None`: all).
    GroupStats(Option<u32>),
    /// Group features.
    GroupFeatures,
    /// Meter features.
    MeterFeatures,
    /// Meter statistics (`None`: every meter).
    MeterStats(Option<u32>),
    /// Meter configurations (`None`: every meter).
    MeterConfig(Option<u32>),
    /// Table features: read (empty body) or a write (raw properties, refused for now).
    TableFeatures(Vec<u8>),
    /// OpenFlow 1.0's NXST_FLOW: flow statistics with NXM matches.
    NxFlow(FlowStatsRequest),
    /// OpenFlow 1.0's NXST_AGGREGATE.
    NxAggregate(FlowStatsRequest),
    /// Anything else: the type, refused with OFPBRC_BAD_MULTIPART.
    Other(u16),
}

/// OFPP_ANY.
const ANY: u32 = 0xffff_ffff;

/// Decodes a multipart request body (after the 8-byte header): type, flags, body.
pub fn decode_request(body: &[u8], version: u8) -> Result<(u16, MpRequest), OfError> {
    let mut r = Reader::new(body, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
    let ty = r.u16("multipart type")?;
    let flags = r.u16("multipart flags")?;
    r.skip(4, "multipart pad")?;
    let rest = r.rest();
    let port_arg = |rest: &[u8]| -> Result<Option<u32>, OfError> {
        let mut pr = Reader::new(rest, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
        let p = pr.u32("port_no")?;
        Ok(if p == ANY {
            None
        } else {
            Some(port_from_of11(p).ok_or_else(|| {
                OfError::new(
                    (e::BAD_REQUEST, e::BAD_REQUEST_PORT),
                    format!("port {p:#x}"),
                )
            })?)
        })
    };
    let req = match ty {
        mp::DESC => MpRequest::Desc,
        mp::FLOW => MpRequest::Flow(decode_flow_stats_request(rest)?),
        mp::AGGREGATE => MpRequest::Aggregate(decode_flow_stats_request(rest)?),
        mp::TABLE => MpRequest::Table,
        mp::PORT_STATS => MpRequest::PortStats(port_arg(rest)?),
        mp::PORT_DESC => {
            if version >= crate::OFP15 && !rest.is_empty() {
                MpRequest::PortDesc(port_arg(rest)?)
            } else {
                MpRequest::PortDesc(None)
            }
        }
        mp::GROUP_DESC => {
            if version >= crate::OFP15 && !rest.is_empty() {
                let mut gr = Reader::new(rest, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
                let g = gr.u32("group_id")?;
                MpRequest::GroupDesc((g != GROUP_ALL).then_some(g))
            } else {
                MpRequest::GroupDesc(None)
            }
        }
        mp::GROUP => {
            let mut gr = Reader::new(rest, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
            let g = gr.u32("group_id")?;
            MpRequest::GroupStats((g != GROUP_ALL).then_some(g))
        }
        mp::GROUP_FEATURES => MpRequest::GroupFeatures,
        mp::METER_FEATURES => MpRequest::MeterFeatures,
        mp::METER => MpRequest::MeterStats(crate::meter::decode_meter_request(rest)?),
        mp::METER_CONFIG => MpRequest::MeterConfig(crate::meter::decode_meter_request(rest)?),
        mp::TABLE_FEATURES => MpRequest::TableFeatures(rest.to_vec()),
        other => MpRequest::Other(other),
    };
    if flags & MORE != 0 && !matches!(req, MpRequest::TableFeatures(_)) {
        return Err(OfError::new(
            (e::BAD_REQUEST, e::BAD_REQUEST_MULTIPART),
            "multipart request split over several messages",
        ));
    }
    Ok((ty, req))
}

/// Builds a multipart reply of one type, splitting it into several messages (all but the
/// last flagged MORE) so that none exceeds OpenFlow's 64 KiB.
pub struct ReplyWriter {
    version: u8,
    xid: u32,
    ty: u16,
    out: Vec<u8>,
    cur: usize,
    /// Nicira statistics subtype (OpenFlow 1.0's NXST_FLOW, NXST_AGGREGATE).
    nx_subtype: Option<u32>,
}

/// The largest message body a reply message is filled to before a new one starts.
const SPLIT_AT: usize = 65_535 - 1024;

impl ReplyWriter {
    /// A reply of type `ty` to the request `xid`.
    pub fn new(version: u8, xid: u32, ty: u16) -> Self {
        let mut w = ReplyWriter {
            version,
            xid,
            ty,
            out: Vec::with_capacity(1024),
            cur: 0,
            nx_subtype: None,
        };
        w.begin();
        w
    }

    /// An OpenFlow 1.0 Nicira statistics reply (`NXST_*` subtype).
    pub fn nx(xid: u32, subtype: u32) -> Self {
        let mut w = ReplyWriter {
            version: crate::OFP10,
            xid,
            ty: mp::EXPERIMENTER,
            out: Vec::with_capacity(1024),
            cur: 0,
            nx_subtype: Some(subtype),
        };
        w.begin();
        w
    }

    /// Bytes before the first entry: the header, type and flags (and padding from 1.1 on,
    /// or Nicira's vendor and subtype).
    fn header_len(&self) -> usize {
        match (self.version, self.nx_subtype) {
            (_, Some(_)) => 24,
            (crate::OFP10, None) => 12,
            _ => 16,
        }
    }

    fn begin(&mut self) {
        let ty = if self.version == crate::OFP10 {
            crate::of10::T_STATS_REPLY
        } else {
            crate::message::T_MULTIPART_REPLY
        };
        self.cur = start(&mut self.out, self.version, ty, self.xid);
        put16(&mut self.out, self.ty);
        put16(&mut self.out, 0);
        if let Some(sub) = self.nx_subtype {
            put32(&mut self.out, crate::NX_VENDOR_ID);
            put32(&mut self.out, sub);
            zeros(&mut self.out, 4);
        } else if self.version != crate::OFP10 {
            zeros(&mut self.out, 4);
        }
    }

    /// The buffer to append one entry to; call [`ReplyWriter::entry_done`] after.
    pub fn buf(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    /// Splits before the entry that started at `entry_start` if the message got too long.
    pub fn entry_done(&mut self, entry_start: usize) {
        if self.out.len() - self.cur <= SPLIT_AT || entry_start == self.cur + self.header_len() {
            return;
        }
        let entry = self.out.split_off(entry_start);
        // Close the current message with MORE set, start a new one, move the entry.
        self.out[self.cur + 10..self.cur + 12].copy_from_slice(&MORE.to_be_bytes());
        finish(&mut self.out, self.cur);
        self.begin();
        self.out.extend_from_slice(&entry);
    }

    /// The reply messages, back to back.
    pub fn finish(mut self) -> Vec<u8> {
        finish(&mut self.out, self.cur);
        self.out
    }
}

/// The switch description (`ofp_desc`).
#[derive(Clone, Debug, Default)]
pub struct Desc {
    /// Manufacturer.
    pub mfr: String,
    /// Hardware.
    pub hw: String,
    /// Software.
    pub sw: String,
    /// Serial number.
    pub serial: String,
    /// Datapath description.
    pub dp: String,
}

fn put_str(out: &mut Vec<u8>, s: &str, n: usize) {
    let b = s.as_bytes();
    let k = b.len().min(n - 1);
    out.extend_from_slice(&b[..k]);
    zeros(out, n - k);
}

/// Encodes a DESC reply.
pub fn desc_reply(version: u8, xid: u32, d: &Desc) -> Vec<u8> {
    let mut w = ReplyWriter::new(version, xid, mp::DESC);
    let out = w.buf();
    put_str(out, &d.mfr, 256);
    put_str(out, &d.hw, 256);
    put_str(out, &d.sw, 256);
    put_str(out, &d.serial, 32);
    put_str(out, &d.dp, 256);
    w.finish()
}

/// A port as OpenFlow describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortDesc {
    /// Port number (brisk's numbering: reserved ports at `0xfff8..`).
    pub port_no: u32,
    /// MAC address.
    pub hw_addr: [u8; 6],
    /// Name (at most 15 bytes go on the wire).
    pub name: String,
    /// OFPPC_* bits.
    pub config: u32,
    /// OFPPS_* bits.
    pub state: u32,
    /// Current features (OFPPF_*).
    pub curr: u32,
    /// Current speed, kbps.
    pub curr_speed: u32,
    /// Maximum speed, kbps.
    pub max_speed: u32,
}

/// OFPPC_PORT_DOWN.
pub const PC_PORT_DOWN: u32 = 1;
/// OFPPS_LINK_DOWN.
pub const PS_LINK_DOWN: u32 = 1;
/// OFPPS_LIVE.
pub const PS_LIVE: u32 = 4;

/// Appends one port (`ofp11_port` for 1.3, `ofp14_port` with its Ethernet property for
/// 1.4+).
pub fn encode_port(p: &PortDesc, version: u8, out: &mut Vec<u8>) {
    if version == crate::OFP10 {
        return crate::of10::encode_phy_port(p, out);
    }
    put32(out, port_to_of11(p.port_no));
    if version >= OFP14 {
        put16(out, 72);
        zeros(out, 2);
    } else {
        zeros(out, 4);
    }
    out.extend_from_slice(&p.hw_addr);
    zeros(out, 2);
    put_str(out, &p.name, 16);
    // OFPPC_NO_FLOOD exists only in OpenFlow 1.0 (OVS drops it from later versions too).
    put32(out, p.config & !0x10);
    put32(out, p.state);
    if version >= OFP14 {
        put16(out, 0);
        put16(out, 32);
        zeros(out, 4);
    }
    put32(out, p.curr);
    put32(out, 0);
    put32(out, 0);
    put32(out, 0);
    put32(out, p.curr_speed);
    put32(out, p.max_speed);
}

/// Encodes a PORT_DESC reply.
pub fn port_desc_reply(version: u8, xid: u32, ports: &[PortDesc]) -> Vec<u8> {
    let mut w = ReplyWriter::new(version, xid, mp::PORT_DESC);
    for p in ports {
        let at = w.buf().len();
        encode_port(p, version, w.buf());
        w.entry_done(at);
    }
    w.finish()
}

/// Counters of one port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Port number (brisk's numbering).
    pub port_no: u32,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Packets not sent.
    pub tx_dropped: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Seconds the port has existed.
    pub duration_sec: u32,
}

impl PortStats {
    /// The eight counters every version's port statistics begin with, in their order.
    pub fn put_counters(&self, out: &mut Vec<u8>) {
        for v in [
            self.rx_packets,
            self.tx_packets,
            self.rx_bytes,
            self.tx_bytes,
            self.rx_dropped,
            self.tx_dropped,
            self.rx_errors,
            self.tx_errors,
        ] {
            put64(out, v);
        }
    }
}

/// Encodes a PORT_STATS reply (`ofp13_port_stats`, or `ofp14_port_stats` with its Ethernet
/// property).
pub fn port_stats_reply(version: u8, xid: u32, ports: &[PortStats]) -> Vec<u8> {
    let mut w = ReplyWriter::new(version, xid, mp::PORT_STATS);
    for p in ports {
        let at = w.buf().len();
        let out = w.buf();
        if version == crate::OFP10 {
            crate::of10::encode_port_stats(p, out);
            w.entry_done(at);
            continue;
        }
        if version >= OFP14 {
            put16(out, 120);
            zeros(out, 2);
            put32(out, port_to_of11(p.port_no));
            put32(out, p.duration_sec);
            put32(out, 0);
        } else {
            put32(out, port_to_of11(p.port_no));
            zeros(out, 4);
        }
        p.put_counters(out);
        if version >= OFP14 {
            put16(out, 0);
            put16(out, 40);
            zeros(out, 4);
            zeros(out, 32);
        } else {
            zeros(out, 32);
            put32(out, p.duration_sec);
            put32(out, 0);
        }
        w.entry_done(at);
    }
    w.finish()
}

/// Encodes a TABLE reply: (table id, active flows, lookups, matches) per table.
pub fn table_stats_reply(version: u8, xid: u32, tables: &[(u8, u32, u64, u64)]) -> Vec<u8> {
    let mut w = ReplyWriter::new(version, xid, mp::TABLE);
    for &(id, active, lookups, matched) in tables {
        let at = w.buf().len();
        let out = w.buf();
        if version == crate::OFP10 {
            crate::of10::encode_table_stats(id, active, lookups, matched, out);
            w.entry_done(at);
            continue;
        }
        out.push(id);
        zeros(out, 3);
        put32(out, active);
        put64(out, lookups);
        put64(out, matched);
        w.entry_done(at);
    }
    w.finish()
}

/// Encodes an AGGREGATE reply.
pub fn aggregate_reply(version: u8, xid: u32, packets: u64, bytes: u64, flows: u32) -> Vec<u8> {
    let mut w = ReplyWriter::new(version, xid, mp::AGGREGATE);
    let out = w.buf();
    if version >= crate::OFP15 {
        encode_oxs_stats(out, None, None, packets, bytes, Some(flows));
    } else {
        put_aggregate(out, packets, bytes, flows);
    }
    w.finish()
}

/// `ofp_aggregate_stats_reply` (OpenFlow 1.0 to 1.4, and Nicira's NXST_AGGREGATE).
pub fn put_aggregate(out: &mut Vec<u8>, packets: u64, bytes: u64, flows: u32) {
    put64(out, packets);
    put64(out, bytes);
    put32(out, flows);
    zeros(out, 4);
}

/// One table as a table-features reply describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableFeatures {
    /// Table id.
    pub id: u8,
    /// Name (at most 31 bytes go on the wire).
    pub name: String,
    /// Flows the table may hold.
    pub max_entries: u32,
}

/// Encodes a TABLE_FEATURES reply (`ofp13_table_features` per table, with the eight
/// properties OpenFlow 1.3 requires: every table takes the same instructions, actions and
/// fields, and may go to any later table).
pub fn table_features_reply(version: u8, xid: u32, tables: &[TableFeatures]) -> Vec<u8> {
    let mut w = ReplyWriter::new(version, xid, mp::TABLE_FEATURES);
    for t in tables {
        let at = w.buf().len();
        let out = w.buf();
        put16(out, 64);
        out.push(t.id);
        out.push(0);
        zeros(out, 4);
        put_str(out, &t.name, 32);
        put64(out, 0);
        put64(out, 0);
        put32(out, 0);
        put32(out, t.max_entries);
        put_table_properties(out, t.id, version);
        let n = (out.len() - at) as u16;
        out[at..at + 2].copy_from_slice(&n.to_be_bytes());
        w.entry_done(at);
    }
    w.finish()
}

/// Decodes the tables of a TABLE_FEATURES request that sets them: (table id, name) each;
/// properties are read past (brisk's tables take every match and action).
pub fn decode_table_features(body: &[u8]) -> Result<Vec<(u8, String)>, OfError> {
    let mut out = Vec::new();
    let mut r = Reader::new(body, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
    while r.remaining() > 0 {
        let start = r.pos();
        let len = usize::from(r.u16("table features length")?);
        if len < 64 || len % 8 != 0 || start + len > body.len() {
            // OFPBPC_BAD_LEN of OFPET_BAD_PROPERTY.
            return Err(OfError::new(
                (14, 1),
                format!("table features entry of length {len}"),
            ));
        }
        let id = r.u8("table id")?;
        if id == 0xff {
            // OFPTFFC_BAD_TABLE of OFPET_TABLE_FEATURES_FAILED.
            return Err(OfError::new((13, 0), "table features for table 255"));
        }
        r.skip(5, "table features pad")?;
        let name = r.bytes(32, "table name")?;
        let end = name.iter().position(|&b| b == 0).unwrap_or(32);
        out.push((id, String::from_utf8_lossy(&name[..end]).into_owned()));
        r.skip(len - 40, "table features rest")?;
    }
    Ok(out)
}

fn prop(out: &mut Vec<u8>, ty: u16, payload: &[u8]) {
    let at = out.len();
    put16(out, ty);
    put16(out, (4 + payload.len()) as u16);
    out.extend_from_slice(payload);
    crate::buf::pad8(out, at);
}

/// Every field header a table matches (`masked`: with the mask bit where maskable), or
/// every writable one.
fn field_headers(masked: bool, writable_only: bool) -> Vec<u8> {
    use crate::oxm::{lookup, put_header, CLASS_NXM0, CLASS_NXM1, CLASS_OF, CLASS_PKT_REGS};
    let mut seen = Vec::new();
    let mut out = Vec::new();
    let ranges = [
        (CLASS_OF, 0..64u8),
        (CLASS_PKT_REGS, 0..8),
        (CLASS_NXM0, 0..18),
        (CLASS_NXM1, 0..128),
    ];
    for (class, codes) in ranges {
        for code in codes {
            let Some(f) = lookup(class, code, 0) else {
                continue;
            };
            if seen.contains(&(f.field, f.kind)) || (writable_only && !f.field.desc().writable) {
                continue;
            }
            seen.push((f.field, f.kind));
            put_header(&mut out, &f, masked && f.maskable);
        }
    }
    // A header's length field counts value and mask; only the 4-byte headers go here.
    let mut ids = Vec::with_capacity(out.len());
    for h in out.chunks(4) {
        let mut v = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
        if v >> 16 == u32::from(crate::oxm::CLASS_EXPERIMENTER) {
            continue;
        }
        v &= !0xff;
        let len = crate::oxm::lookup((v >> 16) as u16, ((v >> 9) & 0x7f) as u8, 0)
            .map_or(0, |f| u32::from(f.len) * if v & 0x100 != 0 { 2 } else { 1 });
        ids.extend_from_slice(&(v | len).to_be_bytes());
    }
    ids
}

fn put_table_properties(out: &mut Vec<u8>, id: u8, version: u8) {
    // OFPTFPT_INSTRUCTIONS: Goto-Table and Apply-Actions (4-byte instruction ids).
    let mut inst = Vec::new();
    let last = id >= 253;
    for t in [1u16, 4] {
        if t == 1 && last {
            continue;
        }
        put16(&mut inst, t);
        put16(&mut inst, 4);
    }
    prop(out, 0, &inst);
    // OFPTFPT_NEXT_TABLES: every later table.
    let next: Vec<u8> = (id.saturating_add(1)..254).collect();
    prop(out, 2, &next);
    // OFPTFPT_WRITE_ACTIONS: none (no action set).
    prop(out, 4, &[]);
    // OFPTFPT_APPLY_ACTIONS: output, push/pop VLAN, group, dec_nw_ttl, set_field (and
    // copy_field in 1.5), as 4-byte action ids.
    let mut acts = Vec::new();
    let mut types = vec![0u16, 17, 18, 22, 24, 25];
    if version >= crate::OFP15 {
        types.push(28);
    }
    for t in types {
        put16(&mut acts, t);
        put16(&mut acts, 4);
    }
    prop(out, 6, &acts);
    // OFPTFPT_MATCH, OFPTFPT_WILDCARDS: every field, every one may be wildcarded.
    prop(out, 8, &field_headers(true, false));
    prop(out, 10, &field_headers(false, false));
    // OFPTFPT_WRITE_SETFIELD: none; OFPTFPT_APPLY_SETFIELD: the writable fields.
    prop(out, 12, &[]);
    prop(out, 14, &field_headers(false, true));
}
