//! OpenFlow groups in `ovs-ofctl add-group`/`dump-groups` syntax.
//!
//! A group is a list of buckets, each an action list. `select` runs one bucket picked by a
//! hash of the packet (how AntreaProxy spreads a Service over its endpoints), `all` runs
//! every bucket (on a copy of the packet each), `indirect` runs its single bucket. Syntax,
//! as OVS accepts it:
//!
//! ```text
//! group_id=5,type=select,bucket=bucket_id:0,weight:100,actions=load:0xa0a0001->NXM_NX_REG3[],resubmit(,42),bucket=...
//! group_id=7,type=all,bucket=output:1,bucket=output:2
//! group_id=9,type=select,selection_method=hash,fields(ip_src,ip_dst,tcp_src,tcp_dst),bucket=...
//! ```

use super::parse::{items, parse_actions, Item};
use super::{format_actions, Action, Match, ParseError, PortMap};
use crate::field::Field;
use std::fmt::Write;

/// Highest group number (OpenFlow's `OFPG_MAX`).
pub const GROUP_MAX: u32 = 0xffff_ff00;

/// How a group uses its buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupType {
    /// Every bucket, each on its own copy of the packet.
    All,
    /// One bucket, chosen by a hash of the packet weighted by the buckets' weights.
    Select,
    /// Its one bucket.
    Indirect,
}

impl GroupType {
    /// The name `ovs-ofctl` uses.
    pub fn name(self) -> &'static str {
        match self {
            GroupType::All => "all",
            GroupType::Select => "select",
            GroupType::Indirect => "indirect",
        }
    }
}

/// How a `select` group hashes a packet.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Selection {
    /// No `selection_method`: Ethernet addresses and type, IP addresses and protocol, and
    /// TCP/UDP/SCTP ports, symmetrically (both directions of a connection pick the same
    /// bucket), as OVS's default.
    #[default]
    Default,
    /// `selection_method=hash,fields(...)`: exactly the listed fields.
    Hash(Vec<Field>),
    /// `selection_method=dp_hash`: the datapath's 5-tuple hash (IP addresses, protocol,
    /// ports; no Ethernet fields).
    DpHash,
}

/// One bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Bucket {
    /// `bucket_id` (its position when not given).
    pub id: u32,
    /// Relative weight for `select` (default 1; 0 never chosen).
    pub weight: u16,
    /// `watch_port`, kept and printed (liveness is not tracked: every bucket is live).
    pub watch_port: Option<u32>,
    /// Actions.
    pub actions: Vec<Action>,
}

/// A group as added.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupEntry {
    /// `group_id`.
    pub id: u32,
    /// `type`.
    pub kind: GroupType,
    /// `selection_method` (select groups).
    pub selection: Selection,
    /// `selection_method_param`: mixed into the hash.
    pub selection_param: u64,
    /// Buckets, in order.
    pub buckets: Vec<Bucket>,
}

/// What a group string is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupMode {
    /// `add-group`/`mod-group`: `group_id` and `type` required.
    Add,
    /// `del-groups`: only `group_id` (or nothing, or `group_id=all`).
    Delete,
}

fn perr(offset: usize, token: &str, message: impl Into<String>) -> ParseError {
    ParseError {
        offset,
        token: token.to_string(),
        message: message.into(),
    }
}

fn uint(it: &Item, token: &str, bits: u32, what: &str) -> Result<u128, ParseError> {
    super::value::parse_uint(it.value, bits, what).map_err(|m| perr(it.value_off, token, m))
}

/// Parses a group (`add-group` syntax). In [`GroupMode::Delete`], returns a group with no
/// buckets whose id is [`GroupMode`]'s target, `u32::MAX` meaning all groups.
pub fn parse_group(s: &str, mode: GroupMode, ports: &PortMap) -> Result<GroupEntry, ParseError> {
    let list = items(s, 0)?;
    let first_bucket = list.iter().position(|it| it.key == "bucket");
    let head = parse_head(s, &list[..first_bucket.unwrap_or(list.len())], mode)?;
    if mode == GroupMode::Delete {
        if first_bucket.is_some() {
            let it = &list[first_bucket.unwrap_or(0)];
            return Err(perr(it.key_off, it.key, "del-groups takes no buckets"));
        }
        return Ok(GroupEntry {
            id: head.id.unwrap_or(u32::MAX),
            kind: GroupType::All,
            selection: Selection::Default,
            selection_param: 0,
            buckets: Vec::new(),
        });
    }
    let id = head
        .id
        .ok_or_else(|| perr(0, s.trim(), "must specify a group_id"))?;
    let kind = head
        .kind
        .ok_or_else(|| perr(0, s.trim(), "must specify a type (type=select, ...)"))?;
    let selection = selection(s, head.method, head.fields)?;
    if kind != GroupType::Select && selection != Selection::Default {
        return Err(perr(
            0,
            s.trim(),
            "selection_method is only for select groups",
        ));
    }
    Ok(GroupEntry {
        id,
        kind,
        selection,
        selection_param: head.param,
        buckets: parse_buckets(s, &list, kind, ports)?,
    })
}

/// What the keywords before the first bucket say, each as given.
#[derive(Default)]
struct GroupHead<'a> {
    id: Option<u32>,
    kind: Option<GroupType>,
    /// `selection_method`: its value, offset and token, for the errors found later.
    method: Option<(&'a str, usize, String)>,
    fields: Option<Vec<Field>>,
    param: u64,
}

/// Reads the keywords before the first bucket (`del-groups` takes only `group_id`).
fn parse_head<'a>(
    s: &str,
    head: &[Item<'a>],
    mode: GroupMode,
) -> Result<GroupHead<'a>, ParseError> {
    let mut g = GroupHead::default();
    for it in head {
        let token = &s[it.key_off..it.end];
        match it.key {
            "group_id" => g.id = Some(group_id(it, token, mode)?),
            _ if mode == GroupMode::Delete => {
                return Err(perr(
                    it.key_off,
                    token,
                    format!("del-groups takes only group_id, not {}", it.key),
                ));
            }
            "type" => g.kind = Some(group_type(it, token)?),
            "selection_method" => {
                g.method = Some((it.value, it.value_off, token.to_string()));
            }
            "selection_method_param" => {
                g.param = uint(it, token, 64, "selection_method_param")? as u64
            }
            "fields" => g.fields = Some(hash_fields(it, token)?),
            // Statistics and counts from dump output are ignored so it can be fed back.
            "duration" | "ref_count" | "packet_count" | "byte_count" => {}
            k => {
                return Err(perr(
                    it.key_off,
                    token,
                    format!("unknown group keyword {k}"),
                ))
            }
        }
    }
    Ok(g)
}

/// `group_id=N` (at most [`GROUP_MAX`]), or `all` for `del-groups`.
fn group_id(it: &Item, token: &str, mode: GroupMode) -> Result<u32, ParseError> {
    if it.value == "all" && mode == GroupMode::Delete {
        return Ok(u32::MAX);
    }
    let v = uint(it, token, 32, "group_id")? as u32;
    if v > GROUP_MAX {
        return Err(perr(
            it.value_off,
            token,
            format!("group_id {v} is above the maximum {GROUP_MAX}"),
        ));
    }
    Ok(v)
}

/// `type=`: fast_failover is refused, brisk having no port liveness to fail over on.
fn group_type(it: &Item, token: &str) -> Result<GroupType, ParseError> {
    Ok(match it.value {
        "all" => GroupType::All,
        "select" => GroupType::Select,
        "indirect" => GroupType::Indirect,
        "ff" | "fast_failover" => {
            return Err(perr(
                it.value_off,
                token,
                "fast_failover groups are not supported (brisk does not track port liveness)",
            ))
        }
        v => {
            return Err(perr(
                it.value_off,
                token,
                format!("unknown group type {v} (all, select, indirect)"),
            ))
        }
    })
}

/// `fields(...)`: the fields `selection_method=hash` hashes (masks are accepted and
/// ignored).
fn hash_fields(it: &Item, token: &str) -> Result<Vec<Field>, ParseError> {
    let mut v = Vec::new();
    for f in it.value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let name = f.split('/').next().unwrap_or(f);
        let field = Field::from_name(name)
            .ok_or_else(|| perr(it.value_off, token, format!("fields: unknown field {name}")))?;
        v.push(field);
    }
    if v.is_empty() {
        return Err(perr(it.value_off, token, "fields() lists no field"));
    }
    Ok(v)
}

/// The selection method from `selection_method` and `fields`, which go together.
fn selection(
    s: &str,
    method: Option<(&str, usize, String)>,
    fields: Option<Vec<Field>>,
) -> Result<Selection, ParseError> {
    match method {
        None => {
            if fields.is_some() {
                return Err(perr(0, s.trim(), "fields() needs selection_method=hash"));
            }
            Ok(Selection::Default)
        }
        Some(("hash", off, token)) => match fields {
            Some(f) => Ok(Selection::Hash(f)),
            None => Err(perr(off, &token, "selection_method=hash needs fields(...)")),
        },
        Some(("dp_hash", _, _)) => Ok(Selection::DpHash),
        Some((m, off, token)) => Err(perr(
            off,
            &token,
            format!("unknown selection_method {m} (hash, dp_hash)"),
        )),
    }
}

/// The buckets: each runs from its `bucket=` to the next top-level `bucket=`. Bucket ids
/// must differ, and an indirect group has exactly one.
fn parse_buckets(
    s: &str,
    list: &[Item],
    kind: GroupType,
    ports: &PortMap,
) -> Result<Vec<Bucket>, ParseError> {
    let mut buckets: Vec<Bucket> = Vec::new();
    let starts: Vec<&Item> = list.iter().filter(|it| it.key == "bucket").collect();
    for (i, b) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(s.len(), |n| n.key_off);
        let text = s[b.value_off..end].trim_end_matches([',', ' ', '\t', '\r', '\n']);
        buckets.push(parse_bucket(text, b.value_off, kind, buckets.len(), ports)?);
    }
    for (i, b) in buckets.iter().enumerate() {
        if buckets[..i].iter().any(|o| o.id == b.id) {
            return Err(perr(0, s.trim(), format!("duplicate bucket_id {}", b.id)));
        }
    }
    if kind == GroupType::Indirect && buckets.len() != 1 {
        return Err(perr(
            0,
            s.trim(),
            format!(
                "an indirect group needs exactly one bucket, not {}",
                buckets.len()
            ),
        ));
    }
    Ok(buckets)
}

fn parse_bucket(
    text: &str,
    base: usize,
    kind: GroupType,
    index: usize,
    ports: &PortMap,
) -> Result<Bucket, ParseError> {
    let mut b = Bucket {
        id: index as u32,
        weight: 1,
        watch_port: None,
        actions: Vec::new(),
    };
    let list = items(text, base)?;
    let mut actions: Option<(usize, usize)> = None;
    for it in &list {
        let rel = |o: usize| o - base;
        let token = &text[rel(it.key_off)..it.end];
        let keyword = matches!(it.delim, b':' | b'=');
        match it.key {
            "bucket_id" if keyword => {
                let v = uint(it, token, 32, "bucket_id")? as u32;
                if v > 0xffff_ff00 {
                    return Err(perr(it.value_off, token, "bucket_id is above 0xffffff00"));
                }
                b.id = v;
            }
            "weight" if keyword => {
                if kind != GroupType::Select {
                    return Err(perr(it.key_off, token, "weight is only for select groups"));
                }
                b.weight = uint(it, token, 16, "weight")? as u16;
            }
            "watch_port" if keyword => {
                b.watch_port = Some(
                    super::value::parse_port(it.value, ports)
                        .map_err(|m| perr(it.value_off, token, m))?,
                );
            }
            "watch_group" if keyword => {
                uint(it, token, 32, "watch_group")?;
            }
            "actions" if it.delim == b'=' => {
                actions = Some((it.value_off, base + text.len()));
                break;
            }
            _ => {
                // Legacy form: the rest of the bucket is its actions.
                actions = Some((it.key_off, base + text.len()));
                break;
            }
        }
    }
    if let Some((from, to)) = actions {
        let t = &text[from - base..to - base];
        b.actions = parse_actions(t, from, &Match::CATCHALL, ports)?;
    }
    if b.actions
        .iter()
        .any(|a| matches!(a, Action::Conjunction { .. }))
    {
        return Err(perr(base, text, "a bucket cannot hold conjunction actions"));
    }
    Ok(b)
}

/// Formats a group as `dump-groups` prints it (OpenFlow 1.5 form, with bucket ids).
pub fn format_group(g: &GroupEntry, ports: &PortMap) -> String {
    let mut s = format!("group_id={},type={}", g.id, g.kind.name());
    match &g.selection {
        Selection::Default => {}
        Selection::DpHash => s.push_str(",selection_method=dp_hash"),
        Selection::Hash(f) => {
            let names: Vec<&str> = f.iter().map(|f| f.name()).collect();
            let _ = write!(s, ",selection_method=hash,fields({})", names.join(","));
        }
    }
    if g.selection_param != 0 {
        let _ = write!(s, ",selection_method_param={}", g.selection_param);
    }
    for b in &g.buckets {
        let _ = write!(s, ",bucket=bucket_id:{}", b.id);
        if g.kind == GroupType::Select {
            let _ = write!(s, ",weight:{}", b.weight);
        }
        if let Some(p) = b.watch_port {
            let _ = write!(s, ",watch_port:{}", super::value::format_port(p, ports));
        }
        let _ = write!(s, ",actions={}", format_actions(&b.actions, ports));
    }
    s
}

/// Parses a groups file (`add-groups FILE`): one group per line, `#` comments, blank lines
/// and `dump-groups` header lines skipped. Returns every group with its line number and
/// every error.
pub fn parse_group_file(
    text: &str,
    ports: &PortMap,
) -> (Vec<(usize, GroupEntry)>, Vec<super::FileError>) {
    let mut groups = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with("OFPST_GROUP_DESC reply") {
            continue;
        }
        match parse_group(line, GroupMode::Add, ports) {
            Ok(g) => groups.push((i + 1, g)),
            Err(e) => errors.push(super::FileError {
                line: i + 1,
                column: e.column(),
                error: e,
            }),
        }
    }
    (groups, errors)
}
