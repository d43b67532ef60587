//! The meter table: meters added, modified and deleted as one new version of the tables,
//! like groups. Deleting a meter deletes the flows that use it, as OVS does; modifying one
//! replaces it (fresh buckets and counters, as OVS's datapath does), and the new version
//! makes every megaflow that held the old one translate again.

use super::{FlowModError, MeterRefusal, ModSummary, OfTables};
use crate::meter::{flags, Meter, MeterConfig, MAX_BANDS, MAX_METERS, METER_ID_MAX};
use crate::ofctl::{Action, FlowEntry};
use std::sync::Arc;

/// One meter change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MeterMod {
    /// `add-meter`: refused if the id exists.
    Add(MeterConfig),
    /// `mod-meter`: refused if the id does not exist.
    Modify(MeterConfig),
    /// `del-meter` (`None`: every meter).
    Delete(Option<u32>),
}

/// Checks a meter's configuration as OVS does before its datapath sees it.
pub fn check_meter(c: &MeterConfig) -> Result<(), FlowModError> {
    let bad = |why| Err(FlowModError::Meter { id: c.id, why });
    if c.id == 0 || c.id > METER_ID_MAX {
        return bad(MeterRefusal::InvalidId);
    }
    let known = flags::KBPS | flags::PKTPS | flags::BURST | flags::STATS;
    let kbps = c.flags & flags::KBPS != 0;
    let pktps = c.flags & flags::PKTPS != 0;
    if c.flags & !known != 0 || kbps == pktps {
        return bad(MeterRefusal::BadFlags);
    }
    if c.bands.len() > MAX_BANDS {
        return bad(MeterRefusal::OutOfBands);
    }
    if c.bands.iter().any(|b| b.rate == 0) {
        return bad(MeterRefusal::BadRate);
    }
    Ok(())
}

/// Whether a flow uses meter `id` (any meter for `None`) with a meter action or
/// instruction. A `controller(meter_id=N)` does not count, as in OVS: it meters its
/// packet-ins while the meter exists, and its flow outlives the meter.
fn uses_meter(e: &FlowEntry, id: Option<u32>) -> bool {
    e.actions
        .iter()
        .any(|a| matches!(a, Action::Meter(m) if id.is_none_or(|i| i == *m)))
}

impl OfTables {
    /// Meter `id`.
    pub fn meter(&self, id: u32) -> Option<&Arc<Meter>> {
        self.meters.get(&id)
    }

    /// Meters by id.
    pub fn meters(&self) -> impl Iterator<Item = &Arc<Meter>> {
        self.meters.values()
    }

    /// How many flows use meter `id` (`flow_count` of `meter-stats`).
    pub fn meter_refs(&self, id: u32) -> usize {
        self.iter()
            .flat_map(|(_, t)| t.rules_any_order())
            .filter(|r| uses_meter(&r.entry, Some(id)))
            .count()
    }

    /// How many flows use each meter, in one pass over the flows (statistics of every
    /// meter at once).
    pub fn meter_ref_counts(&self) -> std::collections::HashMap<u32, usize> {
        let mut n = std::collections::HashMap::new();
        for r in self.iter().flat_map(|(_, t)| t.rules_any_order()) {
            for a in &r.entry.actions {
                if let Action::Meter(m) = a {
                    *n.entry(*m).or_insert(0) += 1;
                }
            }
        }
        n
    }

    /// Applies meter changes atomically (flows that use a deleted meter go with it).
    pub fn apply_meters(
        &self,
        mods: &[MeterMod],
        now_ms: u64,
    ) -> Result<(OfTables, ModSummary), FlowModError> {
        let mut next = self.clone();
        next.version += 1;
        let mut sum = ModSummary::default();
        let mut meters = (*self.meters).clone();
        let mut gone = Vec::new();
        for m in mods {
            match m {
                MeterMod::Add(c) => {
                    check_meter(c)?;
                    if meters.contains_key(&c.id) {
                        return Err(FlowModError::Meter {
                            id: c.id,
                            why: MeterRefusal::Exists,
                        });
                    }
                    if meters.len() >= MAX_METERS as usize {
                        return Err(FlowModError::Meter {
                            id: c.id,
                            why: MeterRefusal::OutOfMeters,
                        });
                    }
                    meters.insert(c.id, Arc::new(Meter::new(c.clone(), now_ms)));
                    sum.added += 1;
                }
                MeterMod::Modify(c) => {
                    check_meter(c)?;
                    if !meters.contains_key(&c.id) {
                        return Err(FlowModError::Meter {
                            id: c.id,
                            why: MeterRefusal::Unknown,
                        });
                    }
                    meters.insert(c.id, Arc::new(Meter::new(c.clone(), now_ms)));
                    sum.modified += 1;
                }
                MeterMod::Delete(id) => match id {
                    Some(id) => {
                        if meters.remove(id).is_some() {
                            sum.deleted += 1;
                            gone.push(Some(*id));
                        }
                    }
                    None => {
                        sum.deleted += meters.len();
                        meters.clear();
                        gone.push(None);
                    }
                },
            }
        }
        next.meters = Arc::new(meters);
        for id in gone {
            next.delete_meter_users(id);
        }
        Ok((next, sum))
    }

    /// Deletes the flows that use meter `id` (any meter for `None`).
    fn delete_meter_users(&mut self, id: Option<u32>) {
        self.delete_where(|e| uses_meter(e, id));
    }
}
