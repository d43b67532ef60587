//! Controller roles across a bridge's OpenFlow connections (OpenFlow 1.3, 6.3.7): every
//! connection starts `equal`; at most one is `master`, and a connection that becomes
//! master makes the previous one `slave`; master and slave requests carry a generation id
//! that must not go backwards. A slave may read but not change the switch.

use openflow::errors as e;
use openflow::OfError;
use parking_lot::Mutex;
use std::collections::HashMap;

/// OFPCR_ROLE_NOCHANGE.
pub const NOCHANGE: u32 = 0;
/// OFPCR_ROLE_EQUAL.
pub const EQUAL: u32 = 1;
/// OFPCR_ROLE_MASTER.
pub const MASTER: u32 = 2;
/// OFPCR_ROLE_SLAVE.
pub const SLAVE: u32 = 3;

#[derive(Default)]
struct Inner {
    next_id: u64,
    roles: HashMap<u64, u32>,
    generation: Option<u64>,
}

/// The roles of one bridge's connections.
#[derive(Default)]
pub struct Roles {
    inner: Mutex<Inner>,
}

impl Roles {
    /// A new connection, `equal`; returns its id.
    pub fn register(&self) -> u64 {
        let mut i = self.inner.lock();
        i.next_id += 1;
        let id = i.next_id;
        i.roles.insert(id, EQUAL);
        id
    }

    /// A connection closed.
    pub fn unregister(&self, id: u64) {
        self.inner.lock().roles.remove(&id);
    }

    /// A connection's role now (another connection may have demoted it).
    pub fn role(&self, id: u64) -> u32 {
        self.inner.lock().roles.get(&id).copied().unwrap_or(EQUAL)
    }

    /// A role request: the role and generation id to reply with, or OVS's refusal.
    pub fn request(&self, id: u64, role: u32, generation_id: u64) -> Result<(u32, u64), OfError> {
        if role > SLAVE {
            return Err(OfError::new(
                (e::ROLE_REQUEST_FAILED, e::ROLE_BAD_ROLE),
                format!("role {role}"),
            ));
        }
        let mut i = self.inner.lock();
        if role == MASTER || role == SLAVE {
            if let Some(g) = i.generation {
                if (generation_id.wrapping_sub(g) as i64) < 0 {
                    return Err(OfError::new(
                        (e::ROLE_REQUEST_FAILED, e::ROLE_STALE),
                        format!("generation id {generation_id} is older than {g}"),
                    ));
                }
            }
            i.generation = Some(generation_id);
        }
        if role == MASTER {
            for (other, r) in i.roles.iter_mut() {
                if *other != id && *r == MASTER {
                    *r = SLAVE;
                }
            }
        }
        if role != NOCHANGE {
            i.roles.insert(id, role);
        }
        let now = i.roles.get(&id).copied().unwrap_or(EQUAL);
        Ok((now, i.generation.unwrap_or(u64::MAX)))
    }

    /// OFPBRC_IS_SLAVE for a slave that tries to change the switch.
    pub fn check_may_change(&self, id: u64) -> Result<(), OfError> {
        if self.role(id) == SLAVE {
            return Err(OfError::new(
                (e::BAD_REQUEST, e::BAD_REQUEST_IS_SLAVE),
                "this connection is a slave: it may read, not change, the switch",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_master_and_generation_ids_only_forward() {
        let r = Roles::default();
        let (a, b) = (r.register(), r.register());
        assert_eq!(r.request(a, MASTER, 5).unwrap(), (MASTER, 5));
        assert!(r.check_may_change(b).is_ok(), "equal may change");
        assert_eq!(r.request(b, MASTER, 6).unwrap(), (MASTER, 6));
        assert_eq!(r.role(a), SLAVE, "the old master is demoted");
        assert_eq!(
            r.check_may_change(a).unwrap_err().code,
            e::BAD_REQUEST_IS_SLAVE
        );
        assert_eq!(r.request(a, MASTER, 4).unwrap_err().code, e::ROLE_STALE);
        assert_eq!(r.request(a, NOCHANGE, 0).unwrap(), (SLAVE, 6));
        assert_eq!(r.request(a, 9, 7).unwrap_err().code, e::ROLE_BAD_ROLE);
        r.unregister(b);
        assert_eq!(r.request(a, MASTER, 7).unwrap(), (MASTER, 7));
    }
}
