//! Per-zone connection limits (OVS's `dpctl/ct-set-limits`): a zone's commits are refused
//! once it holds its limit of connections, so that one tenant's flood cannot take the
//! table from the others. A zone without a limit of its own has the default one; a limit
//! of 0 is none. Counts are kept for every zone, whatever the limits.

use std::fmt::Write;
use std::sync::atomic::{AtomicU32, Ordering};

const ZONES: usize = 1 << 16;

/// Limits and counts of the 65,536 zones.
pub struct ZoneLimits {
    /// Per zone: 0 when it has no limit of its own, else its limit + 1.
    own: Box<[AtomicU32]>,
    default: AtomicU32,
    count: Box<[AtomicU32]>,
}

impl Default for ZoneLimits {
    fn default() -> Self {
        ZoneLimits {
            own: (0..ZONES).map(|_| AtomicU32::new(0)).collect(),
            default: AtomicU32::new(0),
            count: (0..ZONES).map(|_| AtomicU32::new(0)).collect(),
        }
    }
}

/// A zone's limit as `ct-get-limits` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneLimit {
    /// The zone.
    pub zone: u16,
    /// Its limit in force (0: none).
    pub limit: u32,
    /// Connections it holds.
    pub count: u32,
}

impl ZoneLimits {
    /// The limit in force for `zone` (0: none).
    #[inline]
    pub fn limit(&self, zone: u16) -> u32 {
        match self.own[usize::from(zone)].load(Ordering::Relaxed) {
            0 => self.default.load(Ordering::Relaxed),
            n => n - 1,
        }
    }

    /// Whether `zone` may take one more connection.
    #[inline]
    pub(super) fn admits(&self, zone: u16) -> bool {
        let l = self.limit(zone);
        l == 0 || self.count[usize::from(zone)].load(Ordering::Relaxed) < l
    }

    pub(super) fn added(&self, zone: u16) {
        self.count[usize::from(zone)].fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn removed(&self, zone: u16) {
        self.count[usize::from(zone)].fetch_sub(1, Ordering::Relaxed);
    }

    /// Sets the default limit (0: none).
    pub fn set_default(&self, limit: u32) {
        self.default.store(limit, Ordering::Relaxed);
    }

    /// Gives `zone` a limit of its own (0: none, whatever the default).
    pub fn set(&self, zone: u16, limit: u32) {
        self.own[usize::from(zone)].store(limit.saturating_add(1), Ordering::Relaxed);
    }

    /// Takes `zone`'s own limit away: the default applies again.
    pub fn unset(&self, zone: u16) {
        self.own[usize::from(zone)].store(0, Ordering::Relaxed);
    }

    /// The default limit.
    pub fn default_limit(&self) -> u32 {
        self.default.load(Ordering::Relaxed)
    }

    /// `zone`'s limit in force and count.
    pub fn get(&self, zone: u16) -> ZoneLimit {
        ZoneLimit {
            zone,
            limit: self.limit(zone),
            count: self.count[usize::from(zone)].load(Ordering::Relaxed),
        }
    }

    /// The zones with a limit of their own.
    pub fn explicit(&self) -> Vec<ZoneLimit> {
        (0..ZONES)
            .filter(|&z| self.own[z].load(Ordering::Relaxed) != 0)
            .map(|z| self.get(z as u16))
            .collect()
    }

    /// `ovs-appctl dpctl/ct-get-limits`'s text: the default, then `zones` (all with a limit
    /// of their own when empty).
    pub fn ovs_text(&self, zones: &[u16]) -> String {
        let mut o = format!("default limit={}", self.default_limit());
        let list = if zones.is_empty() {
            self.explicit()
        } else {
            zones.iter().map(|&z| self.get(z)).collect()
        };
        for z in list {
            let _ = write!(o, "\nzone={},limit={},count={}", z.zone, z.limit, z.count);
        }
        o.push('\n');
        o
    }
}

/// Parses `zone=N,limit=L` (OVS's `ct_dpif_parse_zone_limit_tuple`).
pub fn parse_zone_limit(s: &str) -> Result<(u16, u32), String> {
    let mut zone = None;
    let mut limit = None;
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("zone", v)) => {
                zone = Some(
                    v.parse::<u16>()
                        .map_err(|_| format!("invalid zone {v:?}"))?,
                )
            }
            Some(("limit", v)) => {
                limit = Some(
                    v.parse::<u32>()
                        .map_err(|_| format!("invalid limit {v:?}"))?,
                )
            }
            _ => return Err(format!("invalid zone limit {s:?} (zone=N,limit=L)")),
        }
    }
    match (zone, limit) {
        (Some(z), Some(l)) => Ok((z, l)),
        _ => Err(format!("invalid zone limit {s:?} (zone=N,limit=L)")),
    }
}

/// Parses `zone=N[,N]...`.
pub fn parse_zones(s: &str) -> Result<Vec<u16>, String> {
    let Some(list) = s.strip_prefix("zone=") else {
        return Err(format!("invalid argument {s}"));
    };
    list.split(',')
        .map(|z| z.parse::<u16>().map_err(|_| "invalid zone".to_string()))
        .collect()
}
