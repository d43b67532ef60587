//! Subfields: `FIELD[a..b]`, `FIELD[n]`, `FIELD[]` or a bare `FIELD`.

use crate::field::{Field, Subfield};

/// Parses `FIELD[a..b]`, `FIELD[n]`, `FIELD[]` or a bare `FIELD`.
pub(super) fn parse_subfield(s: &str) -> Result<Subfield, String> {
    let (name, range) = match s.find('[') {
        Some(i) => {
            let inner = s[i + 1..]
                .strip_suffix(']')
                .ok_or_else(|| format!("'{s}': missing ']'"))?;
            (&s[..i], Some(inner))
        }
        None => (s, None),
    };
    let field = Field::from_name(name).ok_or_else(|| format!("unknown field '{name}'"))?;
    // OVS's `in_port` (NXM_OF_IN_PORT) has 16 bits; `in_port_oxm`, the OpenFlow 1.1 number,
    // has brisk's 32.
    let width = if matches!(name, "in_port" | "NXM_OF_IN_PORT") {
        16
    } else {
        field.bits()
    };
    let (ofs, n_bits) = match range {
        None | Some("") => (0, width),
        Some(r) => {
            let (a, b) = match r.split_once("..") {
                Some((a, b)) => (a, b),
                None => (r, r),
            };
            let a: u32 = a
                .trim()
                .parse()
                .map_err(|_| format!("'{s}': bad bit index '{a}'"))?;
            let b: u32 = b
                .trim()
                .parse()
                .map_err(|_| format!("'{s}': bad bit index '{b}'"))?;
            if a > b {
                return Err(format!("'{s}': start bit {a} is after end bit {b}"));
            }
            if b >= width {
                return Err(format!(
                    "'{s}': bit {b} is beyond the {width}-bit field {}",
                    field.name()
                ));
            }
            (a, b - a + 1)
        }
    };
    Ok(Subfield {
        field,
        ofs: ofs as u8,
        n_bits: n_bits as u8,
    })
}
