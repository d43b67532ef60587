//! Minimal pcap (libpcap classic format) reading and writing, for replay ports
//! (`net_pcap`) in tests and for captures.

/// Encodes frames as a pcap file (Ethernet link type, microsecond timestamps).
pub fn encode<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.into_iter().enumerate() {
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    out
}

/// Decodes a pcap file into frames (either byte order, micro- or nanosecond variant).
pub fn decode(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    if data.len() < 24 {
        return None;
    }
    let magic = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        _ => return None,
    };
    let rd = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut o = 24;
    let mut frames = Vec::new();
    while o + 16 <= data.len() {
        let incl = rd(&data[o + 8..o + 12]) as usize;
        o += 16;
        if o + incl > data.len() {
            return None;
        }
        frames.push(data[o..o + incl].to_vec());
        o += incl;
    }
    // Anything left over is a cut-off record header.
    (o == data.len()).then_some(frames)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let f: Vec<Vec<u8>> = vec![vec![1, 2, 3], vec![4; 60]];
        let enc = super::encode(f.iter().map(Vec::as_slice));
        assert_eq!(super::decode(&enc).unwrap(), f);
        assert!(super::decode(&enc[..30]).is_none());
    }
}
