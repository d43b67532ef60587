//! Groups on the wire: group-mods (OpenFlow 1.3 `ofp11_group_mod` and 1.5 `ofp15_group_mod`
//! with bucket ids, insert/remove-bucket and Netronome's selection-method property, which
//! OVS uses) and the group multipart replies, to and from `pipeline::ofctl::GroupEntry`.

use crate::action::{decode_actions, encode_actions};
use crate::buf::{pad8, put16, put32, put64, zeros, Reader};
use crate::multipart::{mp, ReplyWriter};
use crate::oxm::{self, port_from_of11, port_to_of11};
use crate::{errors as e, OfError, OFP15};
use pipeline::field::Field;
use pipeline::ofctl::{Bucket, GroupEntry, GroupType, Selection};

/// What a group-mod asks.
#[derive(Clone, Debug, PartialEq)]
pub enum GroupCommand {
    /// OFPGC_ADD.
    Add,
    /// OFPGC_MODIFY.
    Modify,
    /// OFPGC15_ADD_OR_MOD (OVS's `mod-group --may-create`).
    AddOrModify,
    /// OFPGC_DELETE (`group_id` OFPG_ALL: every group).
    Delete,
    /// OFPGC15_INSERT_BUCKET at a position: [`BUCKET_FIRST`], [`BUCKET_LAST`] or after a
    /// bucket id.
    InsertBucket(u32),
    /// OFPGC15_REMOVE_BUCKET: [`BUCKET_FIRST`], [`BUCKET_LAST`], [`BUCKET_ALL`] or a bucket
    /// id.
    RemoveBucket(u32),
}

/// OFPG15_BUCKET_FIRST.
pub const BUCKET_FIRST: u32 = 0xffff_fffd;
/// OFPG15_BUCKET_LAST.
pub const BUCKET_LAST: u32 = 0xffff_fffe;
/// OFPG15_BUCKET_ALL.
pub const BUCKET_ALL: u32 = 0xffff_ffff;
/// OFPG_ALL.
pub const GROUP_ALL: u32 = 0xffff_fffc;
/// OFPG_ANY.
pub const GROUP_ANY: u32 = 0xffff_ffff;

/// A decoded group-mod: the command and the group it carries (for deletes, only the id;
/// [`GROUP_ALL`] for all).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupModMsg {
    /// What to do.
    pub command: GroupCommand,
    /// The group (type, buckets, selection) or, for deletes, its id.
    pub group: GroupEntry,
}

const NTR_VENDOR_ID: u32 = 0x0000_154d;
const NTR_COMPAT_VENDOR_ID: u32 = 0x0000_1540;

/// Whether group messages use OpenFlow 1.5's layout: at 1.5, and at 1.0, where OVS's
/// Nicira group messages (NXT_GROUP_MOD, NXST_GROUP_DESC) carry 1.5's bodies with 1.0's
/// actions.
fn layout15(version: u8) -> bool {
    version >= OFP15 || version == crate::OFP10
}

/// A group statistics reply writer: Nicira's NXST_* at OpenFlow 1.0.
fn writer(version: u8, xid: u32, ty: u16) -> ReplyWriter {
    if version == crate::OFP10 {
        // NXST_GROUP 7, NXST_GROUP_DESC 8, NXST_GROUP_FEATURES 9.
        ReplyWriter::nx(xid, u32::from(ty) + 1)
    } else {
        ReplyWriter::new(version, xid, ty)
    }
}

fn gfail(code: u16, msg: impl Into<String>) -> OfError {
    OfError::new((e::GROUP_MOD_FAILED, code), msg)
}

fn type_from(t: u8) -> Result<GroupType, OfError> {
    match t {
        0 => Ok(GroupType::All),
        1 => Ok(GroupType::Select),
        2 => Ok(GroupType::Indirect),
        3 => Err(gfail(10, "fast-failover groups are not supported by brisk")),
        _ => Err(gfail(10, format!("group type {t}"))),
    }
}

fn type_to(t: GroupType) -> u8 {
    match t {
        GroupType::All => 0,
        GroupType::Select => 1,
        GroupType::Indirect => 2,
    }
}

/// Decodes a group-mod body (after the 8-byte header).
pub fn decode_group_mod(body: &[u8], version: u8) -> Result<GroupModMsg, OfError> {
    let mut r = Reader::new(body, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
    let cmd = r.u16("group_mod command")?;
    let ty = r.u8("group_mod type")?;
    r.skip(1, "group_mod pad")?;
    let id = r.u32("group_mod group_id")?;
    let command_bucket;
    let (buckets_raw, props_raw);
    if layout15(version) {
        let blen = usize::from(r.u16("group_mod bucket_array_len")?);
        r.skip(2, "group_mod pad")?;
        command_bucket = r.u32("group_mod command_bucket_id")?;
        buckets_raw = r.bytes(blen, "group_mod buckets")?;
        props_raw = r.rest();
    } else {
        command_bucket = BUCKET_ALL;
        buckets_raw = r.rest();
        props_raw = &[];
    }
    let command = match cmd {
        0 => GroupCommand::Add,
        1 => GroupCommand::Modify,
        2 => GroupCommand::Delete,
        3 if layout15(version) => GroupCommand::InsertBucket(command_bucket),
        5 if layout15(version) => GroupCommand::RemoveBucket(command_bucket),
        0x8000 if layout15(version) => GroupCommand::AddOrModify,
        c => return Err(gfail(11, format!("group_mod command {c}"))),
    };
    if command == GroupCommand::Delete {
        return Ok(GroupModMsg {
            command,
            group: GroupEntry {
                id,
                kind: GroupType::All,
                selection: Selection::Default,
                selection_param: 0,
                buckets: Vec::new(),
            },
        });
    }
    if id > pipeline::ofctl::GROUP_MAX {
        return Err(gfail(e::GROUP_INVALID, format!("group id {id:#x}")));
    }
    let kind = match command {
        // Insert/remove-bucket messages carry the group's type; OVS ignores it.
        GroupCommand::InsertBucket(_) | GroupCommand::RemoveBucket(_) => {
            type_from(ty).unwrap_or(GroupType::Select)
        }
        _ => type_from(ty)?,
    };
    let buckets = if layout15(version) {
        decode_buckets15(buckets_raw, version)?
    } else {
        decode_buckets11(buckets_raw, kind, version)?
    };
    let (selection, selection_param) = decode_group_props(props_raw, kind)?;
    if kind == GroupType::Indirect && buckets.len() > 1 {
        // OFPGMFC_INVALID_GROUP? OVS uses OFPGMFC_BAD_BUCKET.
        return Err(gfail(12, "an indirect group has exactly one bucket"));
    }
    Ok(GroupModMsg {
        command,
        group: GroupEntry {
            id,
            kind,
            selection,
            selection_param,
            buckets,
        },
    })
}

/// A bucket's `watch_port` (OFPP_ANY: none); a number no port can have is OVS's
/// OFPGMFC_BAD_WATCH.
fn watch(p: u32) -> Result<Option<u32>, OfError> {
    if p == 0xffff_ffff {
        return Ok(None);
    }
    port_from_of11(p)
        .map(Some)
        .ok_or_else(|| gfail(13, format!("watch_port {p:#x}")))
}

fn decode_buckets11(b: &[u8], kind: GroupType, version: u8) -> Result<Vec<Bucket>, OfError> {
    let mut out = Vec::new();
    let mut r = Reader::new(b, (e::GROUP_MOD_FAILED, 12));
    while r.remaining() > 0 {
        let start = r.pos();
        let len = usize::from(r.u16("bucket len")?);
        if len < 16 || len % 8 != 0 || start + len > b.len() {
            return Err(gfail(12, format!("bucket length {len}")));
        }
        let weight = r.u16("bucket weight")?;
        let watch_port = r.u32("bucket watch_port")?;
        let _watch_group = r.u32("bucket watch_group")?;
        r.skip(4, "bucket pad")?;
        let actions = decode_actions(r.bytes(len - 16, "bucket actions")?, version)?;
        out.push(Bucket {
            id: out.len() as u32,
            weight: if kind == GroupType::Select { weight } else { 1 },
            watch_port: watch(watch_port)?,
            actions,
        });
    }
    Ok(out)
}

fn decode_buckets15(b: &[u8], version: u8) -> Result<Vec<Bucket>, OfError> {
    let mut out = Vec::new();
    let mut r = Reader::new(b, (e::GROUP_MOD_FAILED, 12));
    while r.remaining() > 0 {
        let start = r.pos();
        let len = usize::from(r.u16("bucket len")?);
        let alen = usize::from(r.u16("bucket action_array_len")?);
        let id = r.u32("bucket_id")?;
        if len < 8 || len % 8 != 0 || start + len > b.len() || 8 + alen > len {
            return Err(gfail(12, format!("bucket length {len}, actions {alen}")));
        }
        if id > 0xffff_ff00 {
            return Err(gfail(12, format!("bucket id {id:#x}")));
        }
        let actions = decode_actions(r.bytes(alen, "bucket actions")?, version)?;
        let mut props = Reader::new(
            r.bytes(len - 8 - alen, "bucket properties")?,
            (e::GROUP_MOD_FAILED, 12),
        );
        let (mut weight, mut watch_port) = (1u16, None);
        while props.remaining() > 0 {
            let ty = props.u16("bucket property type")?;
            let plen = usize::from(props.u16("bucket property length")?);
            if plen < 4 {
                return Err(gfail(12, format!("bucket property length {plen}")));
            }
            let body = props.bytes(plen - 4, "bucket property")?;
            props
                .skip(plen.div_ceil(8) * 8 - plen, "bucket property pad")
                .ok();
            let mut pr = Reader::new(body, (e::GROUP_MOD_FAILED, 12));
            match ty {
                0 => weight = pr.u16("weight")?,
                1 => {
                    watch_port = watch(pr.u32("watch_port")?)?;
                }
                2 => {}
                _ => return Err(gfail(12, format!("bucket property {ty}"))),
            }
        }
        out.push(Bucket {
            id,
            weight,
            watch_port,
            actions,
        });
    }
    Ok(out)
}

fn decode_group_props(b: &[u8], kind: GroupType) -> Result<(Selection, u64), OfError> {
    let mut r = Reader::new(b, (e::GROUP_MOD_FAILED, 12));
    let mut sel = (Selection::Default, 0);
    while r.remaining() > 0 {
        let ty = r.u16("group property type")?;
        let len = usize::from(r.u16("group property length")?);
        if ty != 0xffff || len < 40 {
            return Err(OfError::new(
                (14, 0),
                format!("group property {ty}, length {len}"),
            ));
        }
        let body = r.bytes(len - 4, "group property")?;
        r.skip(len.div_ceil(8) * 8 - len, "group property pad").ok();
        let mut pr = Reader::new(body, (14, 1));
        let exp = pr.u32("experimenter")?;
        let exp_type = pr.u32("exp_type")?;
        if !(exp == NTR_VENDOR_ID || exp == NTR_COMPAT_VENDOR_ID) || exp_type != 1 {
            return Err(OfError::new(
                (14, 2),
                format!("group property experimenter {exp:#x}/{exp_type}"),
            ));
        }
        if kind != GroupType::Select {
            return Err(OfError::new(
                (14, 3),
                "selection_method is only for select groups",
            ));
        }
        pr.skip(4, "pad")?;
        let name = pr.bytes(16, "selection_method")?;
        let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(16)];
        let param = pr.u64("selection_method_param")?;
        // A field array: each field's header and its mask (all ones: the whole field).
        let mut fields = Vec::new();
        while pr.remaining() > 0 {
            let h = oxm::read_header(&mut pr)?;
            let f = oxm::field_of(&h, e::BAD_MATCH)?;
            let n = usize::from(h.len) - (h.header_len() - 4);
            let mask = pr.bytes(n, "selection field mask")?;
            if h.hasmask || n != usize::from(f.len) || mask.iter().any(|&b| b != 0xff) {
                return Err(OfError::new(
                    (e::BAD_MATCH, e::BAD_MATCH_MASK),
                    format!(
                        "selection field {}: only whole fields are supported by brisk",
                        f.field.name()
                    ),
                ));
            }
            if fields.contains(&f.field) {
                return Err(OfError::new(
                    (e::BAD_MATCH, e::BAD_MATCH_DUP_FIELD),
                    format!("selection field {} twice", f.field.name()),
                ));
            }
            fields.push(f.field);
        }
        sel = match name {
            b"hash" => (Selection::Hash(fields), param),
            b"dp_hash" if fields.is_empty() => (Selection::DpHash, param),
            b"" => (Selection::Default, param),
            other => {
                return Err(OfError::new(
                    (14, 3),
                    format!("selection_method {}", String::from_utf8_lossy(other)),
                ))
            }
        };
    }
    Ok(sel)
}

fn put_buckets(g: &GroupEntry, version: u8, out: &mut Vec<u8>) {
    for b in &g.buckets {
        let at = out.len();
        if layout15(version) {
            put16(out, 0);
            put16(out, 0);
            put32(out, b.id);
            let a0 = out.len();
            encode_actions(&b.actions, version, out);
            let alen = (out.len() - a0) as u16;
            out[at + 2..at + 4].copy_from_slice(&alen.to_be_bytes());
            if g.kind == GroupType::Select {
                put16(out, 0);
                put16(out, 6);
                put16(out, b.weight);
                zeros(out, 2);
            }
            if let Some(p) = b.watch_port {
                put16(out, 1);
                put16(out, 8);
                put32(out, port_to_of11(p));
            }
        } else {
            put16(out, 0);
            put16(
                out,
                if g.kind == GroupType::Select {
                    b.weight
                } else {
                    0
                },
            );
            put32(out, b.watch_port.map_or(0xffff_ffff, port_to_of11));
            put32(out, GROUP_ANY);
            zeros(out, 4);
            encode_actions(&b.actions, version, out);
        }
        let n = (out.len() - at) as u16;
        out[at..at + 2].copy_from_slice(&n.to_be_bytes());
    }
}

fn put_selection(g: &GroupEntry, out: &mut Vec<u8>) {
    let (name, fields): (&[u8], &[Field]) = match &g.selection {
        Selection::Default => return,
        Selection::Hash(f) => (b"hash", f),
        Selection::DpHash => (b"dp_hash", &[]),
    };
    let at = out.len();
    put16(out, 0xffff);
    put16(out, 0);
    put32(out, NTR_VENDOR_ID);
    put32(out, 1);
    zeros(out, 4);
    let mut n = [0u8; 16];
    n[..name.len()].copy_from_slice(name);
    out.extend_from_slice(&n);
    put64(out, g.selection_param);
    for f in fields {
        if let Some(wf) = oxm::preferred(*f) {
            oxm::put_header(out, &wf, false);
            out.resize(out.len() + usize::from(wf.len), 0xff);
        }
    }
    let len = (out.len() - at) as u16;
    out[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
    pad8(out, at);
}

/// Encodes a group-mod body.
pub fn encode_group_mod(gm: &GroupModMsg, version: u8, out: &mut Vec<u8>) {
    let g = &gm.group;
    let (cmd, cbid) = match gm.command {
        GroupCommand::Add => (0u16, BUCKET_ALL),
        GroupCommand::Modify => (1, BUCKET_ALL),
        GroupCommand::Delete => (2, BUCKET_ALL),
        GroupCommand::InsertBucket(p) => (3, p),
        GroupCommand::RemoveBucket(p) => (5, p),
        GroupCommand::AddOrModify => (0x8000, BUCKET_ALL),
    };
    put16(out, cmd);
    out.push(type_to(g.kind));
    out.push(0);
    put32(out, g.id);
    if layout15(version) {
        let at = out.len();
        put16(out, 0);
        zeros(out, 2);
        put32(out, cbid);
        let b0 = out.len();
        if gm.command != GroupCommand::Delete {
            put_buckets(g, version, out);
        }
        let blen = (out.len() - b0) as u16;
        out[at..at + 2].copy_from_slice(&blen.to_be_bytes());
        if matches!(
            gm.command,
            GroupCommand::Add | GroupCommand::Modify | GroupCommand::AddOrModify
        ) {
            put_selection(g, out);
        }
    } else if gm.command != GroupCommand::Delete {
        put_buckets(g, version, out);
    }
}

/// Encodes a GROUP_DESC reply.
pub fn group_desc_reply(version: u8, xid: u32, groups: &[&GroupEntry]) -> Vec<u8> {
    let mut w = writer(version, xid, mp::GROUP_DESC);
    for g in groups {
        let at = w.buf().len();
        let out = w.buf();
        put16(out, 0);
        out.push(type_to(g.kind));
        out.push(0);
        put32(out, g.id);
        if layout15(version) {
            put16(out, 0);
            zeros(out, 6);
            let b0 = out.len();
            put_buckets(g, version, out);
            let blen = (out.len() - b0) as u16;
            out[at + 8..at + 10].copy_from_slice(&blen.to_be_bytes());
            put_selection(g, out);
        } else {
            put_buckets(g, version, out);
        }
        let n = (out.len() - at) as u16;
        out[at..at + 2].copy_from_slice(&n.to_be_bytes());
        w.entry_done(at);
    }
    w.finish()
}

/// Counters of one group for GROUP_STATS.
#[derive(Clone, Debug, Default)]
pub struct GroupStats {
    /// Group id.
    pub id: u32,
    /// Flows that use it.
    pub ref_count: u32,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Age in seconds and nanoseconds.
    pub duration: (u32, u32),
    /// Per bucket (packets, bytes).
    pub buckets: Vec<(u64, u64)>,
}

/// Encodes a GROUP (stats) reply.
pub fn group_stats_reply(version: u8, xid: u32, groups: &[GroupStats]) -> Vec<u8> {
    let mut w = writer(version, xid, mp::GROUP);
    for g in groups {
        let at = w.buf().len();
        let out = w.buf();
        put16(out, 0);
        zeros(out, 2);
        put32(out, g.id);
        put32(out, g.ref_count);
        zeros(out, 4);
        put64(out, g.packets);
        put64(out, g.bytes);
        put32(out, g.duration.0);
        put32(out, g.duration.1);
        for (p, b) in &g.buckets {
            put64(out, *p);
            put64(out, *b);
        }
        let n = (out.len() - at) as u16;
        out[at..at + 2].copy_from_slice(&n.to_be_bytes());
        w.entry_done(at);
    }
    w.finish()
}

/// Encodes a GROUP_FEATURES reply: all, select and indirect groups, `max` of each, the
/// actions buckets may hold.
pub fn group_features_reply(version: u8, xid: u32, max: u32) -> Vec<u8> {
    let mut w = writer(version, xid, mp::GROUP_FEATURES);
    let out = w.buf();
    put32(out, 0b111);
    // OFPGFC_SELECT_WEIGHT | OFPGFC_CHAINING.
    put32(out, 1 | 4);
    for t in 0..4 {
        put32(out, if t < 3 { max } else { 0 });
    }
    // Actions: OUTPUT, PUSH_VLAN, POP_VLAN, GROUP, DEC_NW_TTL, SET_FIELD.
    let acts: u32 = (1 << 0) | (1 << 17) | (1 << 18) | (1 << 22) | (1 << 24) | (1 << 25);
    for t in 0..4 {
        put32(out, if t < 3 { acts } else { 0 });
    }
    w.finish()
}
