//! Meters on the wire (OpenFlow 1.3+): OFPT_METER_MOD, and the meter statistics,
//! configuration and features multipart replies, as OVS encodes them.

use crate::buf::{put16, put32, put64, zeros, Reader};
use crate::multipart::{mp, ReplyWriter};
use crate::{errors as e, OfError};
use pipeline::meter::{MeterBand, MeterConfig, MeterStats, MAX_BANDS, MAX_METERS, METER_ID_MAX};
use pipeline::tables::MeterMod;

/// OFPT_METER_MOD.
pub const T_METER_MOD: u8 = 29;
/// OFPM_ALL: every meter (deletes and statistics).
pub const METER_ALL: u32 = 0xffff_ffff;
/// OFPMBT_DROP.
const BAND_DROP: u16 = 1;

fn mod_failed(code: u16, msg: String) -> OfError {
    OfError::new((e::METER_MOD_FAILED, code), msg)
}

/// Decodes an OFPT_METER_MOD body (after the header).
pub fn decode_meter_mod(body: &[u8]) -> Result<MeterMod, OfError> {
    let mut r = Reader::new(body, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
    let command = r.u16("meter-mod command")?;
    let flags = r.u16("meter-mod flags")?;
    let id = r.u32("meter_id")?;
    let mut bands = Vec::new();
    while r.remaining() > 0 {
        let ty = r.u16("band type")?;
        let len = usize::from(r.u16("band length")?);
        if len < 16 || len % 8 != 0 || len - 4 > r.remaining() {
            return Err(mod_failed(
                e::METER_BAD_BAND,
                format!("band of {len} bytes"),
            ));
        }
        let rate = r.u32("band rate")?;
        let burst_size = r.u32("band burst_size")?;
        r.skip(len - 12, "band body")?;
        if ty != BAND_DROP {
            // OVS decodes DSCP remark and experimenter bands; its datapath refuses them.
            return Err(mod_failed(
                e::METER_BAD_BAND,
                format!("band type {ty}: only drop bands are supported"),
            ));
        }
        bands.push(MeterBand { rate, burst_size });
        if bands.len() > MAX_BANDS {
            return Err(mod_failed(
                e::METER_OUT_OF_BANDS,
                "more than 8 bands".into(),
            ));
        }
    }
    let config = || MeterConfig {
        id,
        flags,
        bands: bands.clone(),
    };
    match command {
        0 => Ok(MeterMod::Add(config())),
        1 => Ok(MeterMod::Modify(config())),
        2 if id == METER_ALL => Ok(MeterMod::Delete(None)),
        2 if id == 0 || id > METER_ID_MAX => Err(mod_failed(
            e::METER_INVALID,
            format!("meter {id:#x}: not a meter a controller may delete"),
        )),
        2 => Ok(MeterMod::Delete(Some(id))),
        c => Err(mod_failed(
            e::METER_BAD_COMMAND,
            format!("meter-mod command {c}"),
        )),
    }
}

fn put_band(out: &mut Vec<u8>, b: &MeterBand) {
    put16(out, BAND_DROP);
    put16(out, 16);
    put32(out, b.rate);
    put32(out, b.burst_size);
    zeros(out, 4);
}

/// Encodes an OFPT_METER_MOD body (a controller's or a test's).
pub fn encode_meter_mod(m: &MeterMod, out: &mut Vec<u8>) {
    let (cmd, id, flags, bands): (u16, u32, u16, &[MeterBand]) = match m {
        MeterMod::Add(c) => (0, c.id, c.flags, &c.bands),
        MeterMod::Modify(c) => (1, c.id, c.flags, &c.bands),
        MeterMod::Delete(id) => (2, id.unwrap_or(METER_ALL), 0, &[]),
    };
    put16(out, cmd);
    put16(out, flags);
    put32(out, id);
    for b in bands {
        put_band(out, b);
    }
}

/// The meter a statistics or configuration request names (`None`: every meter).
pub fn decode_meter_request(body: &[u8]) -> Result<Option<u32>, OfError> {
    let mut r = Reader::new(body, (e::BAD_REQUEST, e::BAD_REQUEST_LEN));
    let id = r.u32("meter_id")?;
    Ok((id != METER_ALL).then_some(id))
}

/// One meter's statistics as a reply carries them.
pub struct MeterStatsEntry<'a> {
    /// Meter id.
    pub id: u32,
    /// Flows that use it.
    pub flow_count: u32,
    /// Its counters.
    pub stats: &'a MeterStats,
    /// How long it has existed, ms.
    pub age_ms: u64,
}

/// OFPMP_METER reply.
pub fn meter_stats_reply(version: u8, xid: u32, entries: &[MeterStatsEntry<'_>]) -> Vec<u8> {
    let mut w = ReplyWriter::new(version, xid, mp::METER);
    for m in entries {
        let out = w.buf();
        let at = out.len();
        put32(out, m.id);
        put16(out, (40 + 16 * m.stats.bands.len()) as u16);
        zeros(out, 6);
        put32(out, m.flow_count);
        put64(out, m.stats.packets_in);
        put64(out, m.stats.bytes_in);
        put32(out, (m.age_ms / 1000) as u32);
        put32(out, ((m.age_ms % 1000) * 1_000_000) as u32);
        for (p, b) in &m.stats.bands {
            put64(out, *p);
            put64(out, *b);
        }
        w.entry_done(at);
    }
    w.finish()
}

/// OFPMP_METER_CONFIG reply.
pub fn meter_config_reply(version: u8, xid: u32, meters: &[&MeterConfig]) -> Vec<u8> {
    let mut w = ReplyWriter::new(version, xid, mp::METER_CONFIG);
    for c in meters {
        let out = w.buf();
        let at = out.len();
        put16(out, (8 + 16 * c.bands.len()) as u16);
        put16(out, c.flags);
        put32(out, c.id);
        for b in &c.bands {
            put_band(out, b);
        }
        w.entry_done(at);
    }
    w.finish()
}

/// OFPMP_METER_FEATURES reply: what OVS's userspace datapath reports (262,144 meters,
/// 8 drop bands each, kbps, pktps, burst and stats).
pub fn meter_features_reply(version: u8, xid: u32) -> Vec<u8> {
    let mut w = ReplyWriter::new(version, xid, mp::METER_FEATURES);
    let out = w.buf();
    put32(out, MAX_METERS);
    put32(out, 1 << BAND_DROP);
    put32(out, 0xf);
    out.push(MAX_BANDS as u8);
    out.push(0);
    zeros(out, 2);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_mods_round_trip_and_bad_ones_are_refused_with_ovs_codes() {
        let c = MeterConfig {
            id: 5,
            flags: 2 | 4 | 8,
            bands: vec![MeterBand {
                rate: 10,
                burst_size: 20,
            }],
        };
        for m in [
            MeterMod::Add(c.clone()),
            MeterMod::Modify(c.clone()),
            MeterMod::Delete(Some(5)),
            MeterMod::Delete(None),
        ] {
            let mut b = Vec::new();
            encode_meter_mod(&m, &mut b);
            assert_eq!(decode_meter_mod(&b).unwrap(), m);
        }
        let mut b = Vec::new();
        encode_meter_mod(&MeterMod::Add(c), &mut b);
        let mut dscp = b.clone();
        dscp[8..10].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(decode_meter_mod(&dscp).unwrap_err().code, e::METER_BAD_BAND);
        let mut cmd = b.clone();
        cmd[0..2].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(
            decode_meter_mod(&cmd).unwrap_err().code,
            e::METER_BAD_COMMAND
        );
        assert!(decode_meter_mod(&b[..b.len() - 4]).is_err());
        let mut short = b.clone();
        short[10..12].copy_from_slice(&8u16.to_be_bytes());
        assert!(decode_meter_mod(&short).is_err());
    }
}
