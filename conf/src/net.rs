//! IPv4 prefixes for the node model: parsing with precise messages, containment and
//! overlap checks, prefix set difference (`ipBlock.except`) and port ranges as masked
//! matches (`endPort`).

use std::fmt;
use std::net::Ipv4Addr;

/// An IPv4 prefix with no host bits set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    /// Network address.
    pub addr: u32,
    /// Prefix length (0..=32).
    pub len: u8,
}

impl Cidr {
    /// The prefix's netmask.
    pub fn mask(&self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.len))
        }
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == self.addr
    }

    /// Whether the two prefixes share an address.
    pub fn overlaps(&self, o: &Cidr) -> bool {
        let m = self.mask() & o.mask();
        self.addr & m == o.addr & m
    }

    /// Whether `o` lies entirely inside this prefix.
    pub fn covers(&self, o: &Cidr) -> bool {
        o.len >= self.len && o.addr & self.mask() == self.addr
    }

    /// First address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr)
    }

    /// Last address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr | !self.mask())
    }

    /// The two halves of this prefix (None for a /32).
    fn split(&self) -> Option<(Cidr, Cidr)> {
        if self.len == 32 {
            return None;
        }
        let len = self.len + 1;
        Some((
            Cidr {
                addr: self.addr,
                len,
            },
            Cidr {
                addr: self.addr | (1 << (32 - u32::from(len))),
                len,
            },
        ))
    }

    /// This prefix minus `except`, as the fewest prefixes covering exactly the rest.
    pub fn subtract(&self, except: &[Cidr]) -> Vec<Cidr> {
        let mut out = Vec::new();
        self.subtract_into(except, &mut out);
        out
    }

    fn subtract_into(&self, except: &[Cidr], out: &mut Vec<Cidr>) {
        if except.iter().any(|e| e.covers(self)) {
            return;
        }
        if !except.iter().any(|e| self.overlaps(e)) {
            out.push(*self);
            return;
        }
        if let Some((a, b)) = self.split() {
            a.subtract_into(except, out);
            b.subtract_into(except, out);
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.addr), self.len)
    }
}

fn split_prefix(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, l) = s
        .split_once('/')
        .ok_or_else(|| format!("'{s}' is not ADDRESS/PREFIX"))?;
    let addr: Ipv4Addr = a
        .parse()
        .map_err(|_| format!("'{a}' is not an IPv4 address"))?;
    let len: u8 = l
        .parse()
        .ok()
        .filter(|&l| l <= 32)
        .ok_or_else(|| format!("'/{l}' is not a prefix length 0..32"))?;
    Ok((addr, len))
}

/// Parses `A.B.C.D/LEN` (no host bits allowed).
pub fn parse_cidr(s: &str) -> Result<Cidr, String> {
    let (addr, len) = split_prefix(s)?;
    let c = Cidr {
        addr: u32::from(addr),
        len,
    };
    let net = u32::from(addr) & c.mask();
    if net != u32::from(addr) {
        return Err(format!(
            "{s} has host bits set (the network is {}/{len})",
            Ipv4Addr::from(net)
        ));
    }
    Ok(c)
}

/// Parses an interface address `A.B.C.D/LEN` into the address and its subnet.
pub fn parse_iface_addr(s: &str) -> Result<(Ipv4Addr, Cidr), String> {
    let (addr, len) = split_prefix(s)?;
    let mut c = Cidr {
        addr: u32::from(addr),
        len,
    };
    c.addr &= c.mask();
    Ok((addr, c))
}

/// The port range `lo..=hi` as the fewest (value, mask) pairs, as OVS matches ranges.
pub fn port_range_masks(lo: u16, hi: u16) -> Vec<(u16, u16)> {
    let mut out = Vec::new();
    let (mut lo, hi) = (u32::from(lo), u32::from(hi));
    while lo <= hi {
        // The largest aligned block starting at lo that fits.
        let mut size = if lo == 0 {
            1 << 16
        } else {
            1 << lo.trailing_zeros()
        };
        while lo + size - 1 > hi {
            size >>= 1;
        }
        out.push((lo as u16, !(size - 1) as u16));
        lo += size;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        let c = parse_cidr("10.222.1.0/24").unwrap();
        assert!(c.contains("10.222.1.47".parse().unwrap()));
        assert!(!c.contains("10.222.2.1".parse().unwrap()));
        assert_eq!(c.broadcast(), "10.222.1.255".parse::<Ipv4Addr>().unwrap());
        assert!(c.overlaps(&parse_cidr("10.222.0.0/16").unwrap()));
        assert!(!c.overlaps(&parse_cidr("10.222.2.0/24").unwrap()));
        assert!(parse_cidr("10.222.1.5/24")
            .unwrap_err()
            .contains("host bits set (the network is 10.222.1.0/24)"));
        assert!(parse_cidr("10.222.1.0")
            .unwrap_err()
            .contains("ADDRESS/PREFIX"));
        assert!(parse_cidr("10.222.1.0/33")
            .unwrap_err()
            .contains("prefix length"));
        assert!(parse_cidr("10.222.300.0/24")
            .unwrap_err()
            .contains("not an IPv4"));
    }

    #[test]
    fn subtract_covers_exactly_the_rest() {
        let c = parse_cidr("10.0.0.0/24").unwrap();
        let ex = [
            parse_cidr("10.0.0.64/26").unwrap(),
            parse_cidr("10.0.0.1/32").unwrap(),
        ];
        let rest = c.subtract(&ex);
        for a in 0..=255u32 {
            let ip = Ipv4Addr::from(0x0a00_0000 | a);
            let inside = rest.iter().filter(|r| r.contains(ip)).count();
            let excluded = ex.iter().any(|e| e.contains(ip));
            assert_eq!(inside, usize::from(!excluded), "{ip}");
        }
        assert_eq!(rest.len(), 7, "{rest:?}");
    }

    #[test]
    fn port_ranges() {
        for (lo, hi) in [
            (80, 80),
            (1000, 2000),
            (0, 65535),
            (1, 65535),
            (32768, 60999),
        ] {
            let m = port_range_masks(lo, hi);
            for p in 0..=65535u32 {
                let hit = m.iter().any(|&(v, k)| p as u16 & k == v);
                assert_eq!(hit, (lo as u32..=hi as u32).contains(&p), "{lo}-{hi} {p}");
            }
        }
        assert_eq!(port_range_masks(80, 80), vec![(80, 0xffff)]);
        assert_eq!(port_range_masks(0, 65535), vec![(0, 0)]);
    }
}
