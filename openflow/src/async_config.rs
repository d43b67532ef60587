//! A connection's asynchronous configuration (OFPT_SET_ASYNC, OFPT_GET_ASYNC, Nicira's
//! NXT_SET_ASYNC_CONFIG): which packet-in, port-status and flow-removed reasons it is sent,
//! as master or equal and as slave.

use crate::buf::{put16, put32, Reader};
use crate::{errors as e, finish, start, OfError, OFP14};

/// OFPT_GET_ASYNC_REPLY.
pub const T_GET_ASYNC_REPLY: u8 = 27;

/// Reason masks (bit N: reason N) per role: index 0 master or equal, 1 slave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsyncConfig {
    /// OFPR_* reasons of packet-ins.
    pub packet_in: [u32; 2],
    /// OFPPR_* reasons of port-status messages.
    pub port_status: [u32; 2],
    /// OFPRR_* reasons of flow-removed messages.
    pub flow_removed: [u32; 2],
}

impl Default for AsyncConfig {
    /// OVS's: a master or equal controller gets packet-ins (no match, action), every port
    /// status and every flow removal; a slave only port status.
    fn default() -> Self {
        AsyncConfig {
            packet_in: [0x3, 0],
            port_status: [0x7, 0x7],
            flow_removed: [0xf, 0],
        }
    }
}

/// OFPACPT_* property types of OpenFlow 1.4's async configuration, in pairs (slave,
/// master) for packet-in, port status and flow removed.
const PROP_TYPES: [u16; 6] = [0, 1, 2, 3, 4, 5];

impl AsyncConfig {
    fn slot(&mut self, prop: u16) -> Option<&mut u32> {
        let role = usize::from(prop.is_multiple_of(2));
        match prop / 2 {
            0 => Some(&mut self.packet_in[role]),
            1 => Some(&mut self.port_status[role]),
            2 => Some(&mut self.flow_removed[role]),
            _ => None,
        }
    }

    /// Applies a set-async body: OpenFlow 1.0 (Nicira's) and 1.3's six masks, or 1.4+'s
    /// properties (only those given change; role-status, table-status and request-forward
    /// properties are accepted and have nothing to filter).
    pub fn apply(&mut self, body: &[u8], version: u8) -> Result<(), OfError> {
        let short = (e::BAD_REQUEST, e::BAD_REQUEST_LEN);
        if version < OFP14 {
            let mut r = Reader::new(body, short);
            for i in 0..2 {
                self.packet_in[i] = r.u32("packet_in_mask")?;
            }
            for i in 0..2 {
                self.port_status[i] = r.u32("port_status_mask")?;
            }
            for i in 0..2 {
                self.flow_removed[i] = r.u32("flow_removed_mask")?;
            }
            return Ok(());
        }
        let mut next = *self;
        for (ty, value) in crate::buf::props(body, short, "async property")? {
            let mask = Reader::new(value, short).u32("async mask")?;
            match next.slot(ty) {
                Some(slot) => *slot = mask,
                None if (6..=11).contains(&ty) => {}
                None => {
                    return Err(OfError::new(
                        (e::BAD_REQUEST, e::BAD_REQUEST_TYPE),
                        format!("async property type {ty}"),
                    ))
                }
            }
        }
        *self = next;
        Ok(())
    }

    /// OFPT_GET_ASYNC_REPLY with this configuration.
    pub fn reply(&self, version: u8, xid: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        let at = start(&mut out, version, T_GET_ASYNC_REPLY, xid);
        if version < OFP14 {
            for m in self
                .packet_in
                .iter()
                .chain(&self.port_status)
                .chain(&self.flow_removed)
            {
                put32(&mut out, *m);
            }
        } else {
            let mut me = *self;
            for ty in PROP_TYPES {
                let mask = *me.slot(ty).expect("known type");
                put16(&mut out, ty);
                put16(&mut out, 8);
                put32(&mut out, mask);
            }
        }
        finish(&mut out, at);
        out
    }

    /// Whether a message with `reason` (of the kind `masks` holds) goes to a connection in
    /// this role.
    pub fn wants(masks: &[u32; 2], slave: bool, reason: u8) -> bool {
        reason < 32 && masks[usize::from(slave)] & (1 << reason) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_by_version() {
        let mut c = AsyncConfig::default();
        // 1.4+: only the properties given change.
        let mut body = Vec::new();
        for (ty, mask) in [(5u16, 0u32), (2, 0)] {
            put16(&mut body, ty);
            put16(&mut body, 8);
            put32(&mut body, mask);
        }
        c.apply(&body, crate::OFP15).unwrap();
        assert_eq!(c.flow_removed, [0, 0]);
        assert_eq!(c.port_status, [0x7, 0]);
        assert_eq!(c.packet_in, [0x3, 0]);
        let r = c.reply(crate::OFP15, 9);
        let mut back = AsyncConfig {
            packet_in: [0; 2],
            port_status: [0; 2],
            flow_removed: [0; 2],
        };
        back.apply(&r[8..], crate::OFP15).unwrap();
        assert_eq!(back, c);
        // 1.3: six masks.
        let r = c.reply(crate::OFP13, 9);
        assert_eq!(r.len(), 8 + 24);
        let mut back13 = AsyncConfig::default();
        back13.apply(&r[8..], crate::OFP13).unwrap();
        assert_eq!(back13, c);
        assert!(!AsyncConfig::wants(&c.flow_removed, false, 2));
        assert!(AsyncConfig::wants(&c.port_status, false, 2));
        assert!(!AsyncConfig::wants(&c.port_status, true, 2));
        // An unknown property type is refused; a short body too.
        let mut bad = Vec::new();
        put16(&mut bad, 40);
        put16(&mut bad, 8);
        put32(&mut bad, 1);
        assert!(c.apply(&bad, crate::OFP15).is_err());
        assert!(c.apply(&[0; 7], crate::OFP13).is_err());
    }
}
