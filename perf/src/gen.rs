//! Traffic profiles: a template packet (written in `ofproto/trace` flow syntax) expanded
//! into N flows by varying one field, at a chosen frame size. `brisk-gen` writes them as
//! pcap files for replay ports and sends them from DPDK ports; the benches and tests build
//! their traffic the same way.

use pipeline::build::from_flow;
use pipeline::field::Field;
use pipeline::flow::Flow;
use pipeline::ofctl::{parse_packet_spec, PortMap};

/// Why a profile could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The template did not parse.
    #[error("template: {0}")]
    Spec(String),
    /// The field to vary is unknown or the count is zero.
    #[error("--vary: {0}")]
    Vary(String),
    /// The frame size is outside 64..=9004 or smaller than the headers.
    #[error("--size: {0}")]
    Size(String),
}

/// Fields a profile may vary, and the field each names.
pub const VARY_FIELDS: &[(&str, Field)] = &[
    ("tp_src", Field::TpSrc),
    ("tp_dst", Field::TpDst),
    ("nw_src", Field::NwSrc),
    ("nw_dst", Field::NwDst),
    ("dl_src", Field::EthSrc),
    ("dl_dst", Field::EthDst),
];

/// A set of flows: the template with `vary` taking `count` consecutive values from the
/// template's own value (wrapping within the field's width).
#[derive(Clone, Debug)]
pub struct Profile {
    /// The template key.
    pub template: Flow,
    /// The varied field.
    pub vary: Field,
    /// Number of distinct flows.
    pub count: u32,
    /// Frame length without the 4-byte FCS (the wire size minus 4), at least the headers.
    pub frame_len: usize,
    /// Frame lengths (without FCS) taken in turn by flow index instead of `frame_len`, for
    /// a size mix such as [`IMIX`] (empty: every frame is `frame_len`).
    pub mix: Vec<usize>,
}

/// The simple IMIX on the wire: 7 x 64, 4 x 594, 1 x 1518 bytes, by flow index.
pub const IMIX: [usize; 12] = [64, 594, 64, 64, 594, 64, 1518, 64, 594, 64, 594, 64];

impl Profile {
    /// Parses `spec` (port names resolved through `ports`) and checks the rest.
    pub fn new(
        spec: &str,
        ports: &PortMap,
        vary: &str,
        count: u32,
        wire_size: usize,
    ) -> Result<Profile, ProfileError> {
        let template = parse_packet_spec(spec, ports)
            .map_err(|e| ProfileError::Spec(format!("column {}: {e}", e.column())))?;
        let vary = VARY_FIELDS
            .iter()
            .find(|(n, _)| *n == vary)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                let names: Vec<_> = VARY_FIELDS.iter().map(|(n, _)| *n).collect();
                ProfileError::Vary(format!("'{vary}' is not one of {}", names.join(", ")))
            })?;
        if !(64..=9004).contains(&wire_size) {
            return Err(ProfileError::Size(format!(
                "{wire_size} is outside 64..9004 bytes"
            )));
        }
        let headers = from_flow(&template, 0).len();
        let frame_len = wire_size - 4;
        if frame_len < headers {
            return Err(ProfileError::Size(format!(
                "{wire_size} bytes cannot hold the template's {} bytes of headers + FCS",
                headers
            )));
        }
        if count == 0 {
            return Err(ProfileError::Vary(
                "the flow count must be at least 1".into(),
            ));
        }
        Ok(Profile {
            template,
            vary,
            count,
            frame_len,
            mix: Vec::new(),
        })
    }

    /// The same flows with frame sizes (on the wire) taken in turn by flow index.
    pub fn with_size_mix(mut self, wire_sizes: &[usize]) -> Result<Profile, ProfileError> {
        let headers = from_flow(&self.template, 0).len();
        for &w in wire_sizes {
            if !(64..=9004).contains(&w) || w - 4 < headers {
                return Err(ProfileError::Size(format!(
                    "{w} bytes in the size mix cannot hold {headers} bytes of headers + FCS"
                )));
            }
        }
        self.mix = wire_sizes.iter().map(|w| w - 4).collect();
        self.frame_len = self.mix.iter().copied().min().unwrap_or(self.frame_len);
        Ok(self)
    }

    /// The same flows with the TCP flags set to `flags` (a handshake's SYN, SYN-ACK, ACK);
    /// sequence numbers follow from the endpoints, so the segments form one handshake.
    pub fn with_tcp_flags(&self, flags: u16) -> Profile {
        let mut p = self.clone();
        pipeline::field::Field::TcpFlags.set(&mut p.template, u128::from(flags));
        p
    }

    /// Frame length (without FCS) of flow `i`.
    pub fn len_of(&self, i: u32) -> usize {
        if self.mix.is_empty() {
            self.frame_len
        } else {
            self.mix[(i % self.count) as usize % self.mix.len()]
        }
    }

    /// The key of flow `i` (modulo the count).
    pub fn key(&self, i: u32) -> Flow {
        let mut k = self.template;
        let bits = self.vary.desc().loc.bits;
        let m = pipeline::field::bit_ones(u32::from(bits));
        let v = self.vary.get(&k).wrapping_add(u128::from(i % self.count)) & m;
        self.vary.set(&mut k, v);
        k
    }

    /// The frame of flow `i`: headers from the key, zero payload up to the frame length.
    pub fn frame(&self, i: u32) -> Vec<u8> {
        let k = self.key(i);
        let headers = from_flow(&k, 0).len();
        from_flow(&k, self.len_of(i) - headers)
    }

    /// Every flow's frame once, in order.
    pub fn frames(&self) -> Vec<Vec<u8>> {
        (0..self.count).map(|i| self.frame(i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::packet::extract;

    #[test]
    fn flows_differ_in_the_varied_field_only() {
        let p = Profile::new(
            "in_port=1,udp,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_src=65535,tp_dst=53",
            &PortMap::default(),
            "tp_src",
            3,
            128,
        )
        .unwrap();
        let fr = p.frames();
        assert_eq!(fr.len(), 3);
        for (i, f) in fr.iter().enumerate() {
            assert_eq!(f.len(), 124);
            let mut k = Flow::ZERO;
            let lay = extract(f, 1, &mut k);
            assert_eq!(lay.err, 0);
            // 65535 + i wraps in 16 bits.
            assert_eq!(Field::TpSrc.get(&k), (65535 + i as u128) & 0xffff);
            assert_eq!(Field::TpDst.get(&k), 53);
            assert_eq!(Field::NwSrc.get(&k), 0x0a00_0001);
        }
    }

    #[test]
    fn bad_profiles_say_what_is_wrong() {
        let ports = PortMap::default();
        let spec = "udp,nw_src=10.0.0.1";
        let e = Profile::new(spec, &ports, "ttl", 1, 64).unwrap_err();
        assert!(e.to_string().contains("'ttl' is not one of tp_src"), "{e}");
        let e = Profile::new(spec, &ports, "tp_src", 1, 20).unwrap_err();
        assert!(e.to_string().contains("outside 64..9004"), "{e}");
        let e = Profile::new("udp,nw_src=10.0.0", &ports, "tp_src", 1, 64).unwrap_err();
        assert!(e.to_string().starts_with("template: column"), "{e}");
        let e = Profile::new(spec, &ports, "tp_src", 0, 64).unwrap_err();
        assert!(e.to_string().contains("at least 1"), "{e}");
    }
}
