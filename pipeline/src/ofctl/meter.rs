//! Meters in `ovs-ofctl`'s syntax: `meter=1,pktps,burst,stats,bands=type=drop,rate=10,
//! burst_size=20` for `add-meter`/`mod-meter`, `meter=N` (or nothing, or `meter=all`) for
//! `del-meters`/`dump-meters`/`meter-stats`, and the lines `dump-meters` and `meter-stats`
//! print.

use super::ParseError;
use crate::meter::{flags, MeterBand, MeterConfig, MeterStats, METER_ID_MAX};
use std::fmt::Write;

fn perr(s: &str, token: &str, message: impl Into<String>) -> ParseError {
    ParseError {
        offset: s.find(token).unwrap_or(0),
        token: token.to_string(),
        message: message.into(),
    }
}

fn number(s: &str, v: &str, what: &str) -> Result<u32, ParseError> {
    let n = if let Some(h) = v.strip_prefix("0x") {
        u32::from_str_radix(h, 16)
    } else {
        v.parse()
    };
    n.map_err(|_| perr(s, v, format!("invalid value for {what}")))
}

/// `meter=N` (1..=0xffff0000), as `ovs-ofctl` reads it.
fn meter_id(s: &str, v: &str) -> Result<u32, ParseError> {
    let id = number(s, v, "meter")?;
    if id == 0 || id > METER_ID_MAX {
        return Err(perr(s, v, "invalid value for meter"));
    }
    Ok(id)
}

/// A meter for `add-meter`/`mod-meter`.
pub fn parse_meter(s: &str) -> Result<MeterConfig, ParseError> {
    let (head, bands) = match s.find("bands=") {
        Some(i) => (&s[..i], Some(&s[i + "bands=".len()..])),
        None => (s, None),
    };
    let mut c = MeterConfig {
        id: 0,
        flags: 0,
        bands: Vec::new(),
    };
    for item in head.split([',', ' ']).filter(|t| !t.is_empty()) {
        match item.split_once('=') {
            Some(("meter", v)) => c.id = meter_id(s, v)?,
            None if item == "kbps" => c.flags |= flags::KBPS,
            None if item == "pktps" => c.flags |= flags::PKTPS,
            None if item == "burst" => c.flags |= flags::BURST,
            None if item == "stats" => c.flags |= flags::STATS,
            _ => return Err(perr(s, item, format!("unknown meter keyword '{item}'"))),
        }
    }
    if c.id == 0 {
        return Err(perr(s, s, "must specify meter=N"));
    }
    if c.flags & (flags::KBPS | flags::PKTPS) == 0 {
        return Err(perr(s, head, "meter must specify either 'kbps' or 'pktps'"));
    }
    let Some(bands) = bands.filter(|b| !b.trim().is_empty()) else {
        return Err(perr(s, s, "must specify bands"));
    };
    // Each `type=` starts a band; `rate` and `burst_size` fill the latest.
    let mut cur: Option<(u32, u32)> = None;
    let mut done = Vec::new();
    for item in bands.split([',', ' ']).filter(|t| !t.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            return Err(perr(s, item, format!("band field '{item}' needs a value")));
        };
        match k {
            "type" => {
                if v != "drop" {
                    return Err(perr(
                        s,
                        v,
                        format!("band type '{v}': only drop bands are supported"),
                    ));
                }
                done.extend(cur.take());
                cur = Some((0, 0));
            }
            "rate" | "burst_size" => {
                let Some(b) = cur.as_mut() else {
                    return Err(perr(s, item, "a band starts with type="));
                };
                let n = number(s, v, k)?;
                if k == "rate" {
                    b.0 = n;
                } else {
                    b.1 = n;
                }
            }
            _ => return Err(perr(s, item, format!("unknown band field '{k}'"))),
        }
    }
    done.extend(cur);
    for (rate, burst_size) in done {
        if rate == 0 {
            return Err(perr(s, bands, "band must have 'rate'"));
        }
        if c.flags & flags::BURST != 0 && burst_size == 0 {
            return Err(perr(
                s,
                bands,
                "band must have 'burst_size' when 'burst' flag is set",
            ));
        }
        c.bands.push(MeterBand { rate, burst_size });
    }
    Ok(c)
}

/// The meter a `del-meters`/`dump-meters`/`meter-stats` names: `meter=N`, or every meter
/// for nothing or `meter=all`.
pub fn parse_meter_selector(s: &str) -> Result<Option<u32>, ParseError> {
    let s = s.trim();
    match s.strip_prefix("meter=") {
        None if s.is_empty() => Ok(None),
        Some("all") => Ok(None),
        Some(v) => meter_id(s, v).map(Some),
        None => Err(perr(s, s, "expected meter=N or meter=all")),
    }
}

/// A meter as `ovs-ofctl dump-meters` prints it: `meter=1 pktps burst stats bands=` and a
/// line per band.
pub fn format_meter(c: &MeterConfig) -> String {
    let mut s = format!("meter={}", c.id);
    for (f, name) in [
        (flags::KBPS, "kbps"),
        (flags::PKTPS, "pktps"),
        (flags::BURST, "burst"),
        (flags::STATS, "stats"),
    ] {
        if c.flags & f != 0 {
            let _ = write!(s, " {name}");
        }
    }
    s.push_str(" bands=\n");
    for b in &c.bands {
        let _ = write!(s, "type=drop rate={}", b.rate);
        if c.flags & flags::BURST != 0 {
            let _ = write!(s, " burst_size={}", b.burst_size);
        }
        s.push('\n');
    }
    s
}

/// A meter's counters as `ovs-ofctl meter-stats` prints them.
pub fn format_meter_stats(id: u32, flows: usize, st: &MeterStats, age_ms: u64) -> String {
    let mut s = format!(
        "meter:{id} flow_count:{flows} packet_in_count:{} byte_in_count:{} duration:{}.{:03}s bands:\n",
        st.packets_in,
        st.bytes_in,
        age_ms / 1000,
        age_ms % 1000
    );
    for (i, (p, b)) in st.bands.iter().enumerate() {
        let _ = writeln!(s, "{i}: packet_count:{p} byte_count:{b}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meters_parse_and_print_as_ovs_ofctl() {
        let c =
            parse_meter("meter=1,pktps,burst,stats,bands=type=drop,rate=10,burst_size=20").unwrap();
        assert_eq!(
            format_meter(&c),
            "meter=1 pktps burst stats bands=\ntype=drop rate=10 burst_size=20\n"
        );
        let c = parse_meter("meter=3,kbps,stats,bands=type=drop,rate=1000,type=drop,rate=2000")
            .unwrap();
        assert_eq!(
            format_meter(&c),
            "meter=3 kbps stats bands=\ntype=drop rate=1000\ntype=drop rate=2000\n"
        );
        for (bad, why) in [
            (
                "meter=0,pktps,bands=type=drop,rate=5",
                "invalid value for meter",
            ),
            (
                "meter=5,pktps,bands=type=drop,rate=0",
                "band must have 'rate'",
            ),
            ("meter=5,pktps", "must specify bands"),
            ("meter=5,pktps,burst,bands=type=drop,rate=5", "burst_size"),
            ("meter=6,bands=type=drop,rate=5", "either 'kbps' or 'pktps'"),
            (
                "meter=4294901761,pktps,bands=type=drop,rate=5",
                "invalid value",
            ),
            ("meter=4,pktps,bands=type=dscp_remark,rate=10", "only drop"),
            (
                "meter=4,pktps,fast,bands=type=drop,rate=10",
                "unknown meter keyword",
            ),
        ] {
            let e = parse_meter(bad).unwrap_err();
            assert!(e.message.contains(why), "{bad}: {e}");
        }
        assert_eq!(parse_meter_selector("").unwrap(), None);
        assert_eq!(parse_meter_selector("meter=all").unwrap(), None);
        assert_eq!(parse_meter_selector("meter=7").unwrap(), Some(7));
        assert!(parse_meter_selector("meter=0").is_err());
    }
}
