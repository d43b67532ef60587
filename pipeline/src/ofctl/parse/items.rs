//! Splitting a flow, an action list or an argument list into `key[=:(]value` items, as
//! OVS's `ofputil_parse_key_value` does; and the error every parser returns.

use crate::ofctl::ParseError;

/// One `key[=:(]value` item of a comma/space separated list.
#[derive(Debug, Clone, Copy)]
pub(in crate::ofctl) struct Item<'a> {
    pub(in crate::ofctl) key: &'a str,
    pub(in crate::ofctl) key_off: usize,
    /// `=`, `:`, `(` or `\0` when there is no value.
    pub(in crate::ofctl) delim: u8,
    pub(in crate::ofctl) value: &'a str,
    pub(in crate::ofctl) value_off: usize,
    /// Offset just past the item.
    pub(in crate::ofctl) end: usize,
}

pub(super) fn err(offset: usize, token: &str, message: impl Into<String>) -> ParseError {
    ParseError {
        offset,
        token: token.to_string(),
        message: message.into(),
    }
}

fn is_separator(c: u8) -> bool {
    matches!(c, b',' | b' ' | b'\t' | b'\r' | b'\n')
}

/// Splits `s` into items the way OVS's `ofputil_parse_key_value` does, honouring
/// parentheses, brackets and double quotes. Offsets are relative to `base`.
pub(super) fn next_item<'a>(
    s: &'a str,
    pos: &mut usize,
    base: usize,
) -> Result<Option<Item<'a>>, ParseError> {
    let b = s.as_bytes();
    let mut i = *pos;
    while i < b.len() && is_separator(b[i]) {
        i += 1;
    }
    if i >= b.len() {
        *pos = i;
        return Ok(None);
    }
    let key_start = i;
    while i < b.len() && !matches!(b[i], b':' | b'=' | b'(') && !is_separator(b[i]) {
        if b[i] == b')' {
            return Err(err(base + i, &s[key_start..=i], "unbalanced ')'"));
        }
        i += 1;
    }
    let key = &s[key_start..i];
    if key.is_empty() {
        return Err(err(
            base + i,
            &s[i..(i + 1).min(s.len())],
            "expected a keyword",
        ));
    }
    let delim = if i < b.len() { b[i] } else { 0 };
    // The value's start and end, and the offset just past the item.
    let (vstart, vend, end) = match delim {
        b'(' => {
            let j = paren_value_end(s, i + 1, key_start, base)?;
            (i + 1, j, j + 1)
        }
        b'=' | b':' => {
            let j = value_end(s, i + 1, key_start, base)?;
            (i + 1, j, j)
        }
        _ => (i, i, i),
    };
    *pos = end;
    Ok(Some(Item {
        key,
        key_off: base + key_start,
        delim: if matches!(delim, b'(' | b'=' | b':') {
            delim
        } else {
            0
        },
        value: &s[vstart..vend],
        value_off: base + vstart,
        end,
    }))
}

/// The end of a `key(value)` value starting at `vstart`: the offset of its closing `)`.
fn paren_value_end(
    s: &str,
    vstart: usize,
    key_start: usize,
    base: usize,
) -> Result<usize, ParseError> {
    let b = s.as_bytes();
    let mut depth = 1usize;
    let mut j = vstart;
    let mut quoted = false;
    while j < b.len() {
        match b[j] {
            b'"' => quoted = !quoted,
            b'\\' if quoted => j += 1,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        j += 1;
    }
    // An escape at the very end may have stepped past it.
    let j = j.min(b.len());
    if depth != 0 {
        return Err(err(base + key_start, &s[key_start..], "missing ')'"));
    }
    Ok(j)
}

/// The end of a `key=value` or `key:value` value starting at `vstart`: the first separator
/// outside brackets and quotes, or the end of `s`.
fn value_end(s: &str, vstart: usize, key_start: usize, base: usize) -> Result<usize, ParseError> {
    let b = s.as_bytes();
    let mut j = vstart;
    let mut depth = 0usize;
    let mut quoted = false;
    while j < b.len() {
        let c = b[j];
        if quoted {
            if c == b'\\' {
                j += 1;
            } else if c == b'"' {
                quoted = false;
            }
        } else {
            match c {
                b'"' => quoted = true,
                b'(' | b'[' => depth += 1,
                b')' | b']' => {
                    if depth == 0 {
                        return Err(err(
                            base + j,
                            &s[key_start..=j],
                            format!("unbalanced '{}'", c as char),
                        ));
                    }
                    depth -= 1
                }
                b',' | b' ' | b'\t' | b'\r' | b'\n' if depth == 0 => break,
                _ => {}
            }
        }
        j += 1;
    }
    let j = j.min(b.len());
    if quoted {
        return Err(err(
            base + vstart,
            &s[vstart..j],
            "unterminated quoted string",
        ));
    }
    if depth != 0 {
        return Err(err(
            base + vstart,
            &s[vstart..j],
            "missing closing ')' or ']'",
        ));
    }
    Ok(j)
}

/// Every item of `s`, offsets relative to `base`.
pub(in crate::ofctl) fn items(s: &str, base: usize) -> Result<Vec<Item<'_>>, ParseError> {
    let mut v = Vec::new();
    let mut pos = 0;
    while let Some(it) = next_item(s, &mut pos, base)? {
        v.push(it);
    }
    Ok(v)
}
