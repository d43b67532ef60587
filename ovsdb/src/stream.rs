//! Framing of a JSON-RPC byte stream. OVSDB (RFC 7047 §4) and OVS's unixctl send JSON
//! objects back to back with no length or delimiter, so a reader must find where each
//! top-level object ends. [`Splitter`] does it in one linear pass over the bytes, keeping
//! its place between reads, and bounds what one message may hold.

use crate::RpcError;

/// Finds complete top-level JSON objects in a byte stream.
#[derive(Debug, Clone)]
pub struct Splitter {
    /// Largest message accepted, in bytes.
    max: usize,
    /// Bytes of the current message scanned so far.
    scanned: usize,
    /// Nesting depth of `{`/`[` outside strings.
    depth: u32,
    in_string: bool,
    escaped: bool,
}

/// Deepest nesting accepted (serde_json's own recursion limit is 128).
pub const MAX_DEPTH: u32 = 120;

impl Splitter {
    /// A splitter accepting messages up to `max` bytes.
    pub fn new(max: usize) -> Splitter {
        Splitter {
            max,
            scanned: 0,
            depth: 0,
            in_string: false,
            escaped: false,
        }
    }

    /// Looks at `buf`, the bytes received and not yet consumed (its first bytes are the
    /// current message's; the same prefix must be passed again until a message is
    /// returned). `Ok(Some(n))`: the first `n` bytes hold one complete message (plus any
    /// whitespace before it); the caller consumes them. `Ok(None)`: more bytes are needed.
    pub fn feed(&mut self, buf: &[u8]) -> Result<Option<usize>, RpcError> {
        let mut i = self.scanned;
        while i < buf.len() {
            let b = buf[i];
            i += 1;
            if i > self.max {
                return Err(RpcError::Framing(format!(
                    "message longer than {} bytes",
                    self.max
                )));
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {}
                b'{' | b'[' => {
                    if self.depth == 0 && b == b'[' {
                        return Err(RpcError::Framing(
                            "a message must be a JSON object, not an array".into(),
                        ));
                    }
                    self.depth += 1;
                    if self.depth > MAX_DEPTH {
                        return Err(RpcError::Framing(format!(
                            "JSON nested deeper than {MAX_DEPTH} levels"
                        )));
                    }
                }
                b'}' | b']' => {
                    if self.depth == 0 {
                        return Err(RpcError::Framing(format!(
                            "unexpected {:?} outside a message",
                            b as char
                        )));
                    }
                    self.depth -= 1;
                    if self.depth == 0 {
                        *self = Splitter::new(self.max);
                        return Ok(Some(i));
                    }
                }
                b'"' if self.depth > 0 => self.in_string = true,
                _ if self.depth == 0 => {
                    return Err(RpcError::Framing(format!(
                        "byte {b:#04x} outside a message (a message is a JSON object)"
                    )))
                }
                _ => {}
            }
        }
        self.scanned = i;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(s: &[u8], chunk: usize) -> Result<Vec<String>, RpcError> {
        let mut sp = Splitter::new(1 << 20);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for c in s.chunks(chunk.max(1)) {
            buf.extend_from_slice(c);
            while let Some(n) = sp.feed(&buf)? {
                out.push(String::from_utf8_lossy(&buf[..n]).trim().to_string());
                buf.drain(..n);
            }
        }
        Ok(out)
    }

    #[test]
    fn splits_back_to_back_objects_at_any_read_size() {
        let s = br#"{"id":1,"method":"echo","params":["}{\"x"]} {"a":[{"b":"\\"}]}
{"c":{}}"#;
        for chunk in 1..s.len() {
            let got = split_all(s, chunk).unwrap();
            assert_eq!(got.len(), 3, "chunk {chunk}: {got:?}");
            assert_eq!(got[0], r#"{"id":1,"method":"echo","params":["}{\"x"]}"#);
            assert_eq!(got[1], r#"{"a":[{"b":"\\"}]}"#);
            assert_eq!(got[2], r#"{"c":{}}"#);
        }
    }

    #[test]
    fn refuses_what_is_not_an_object_and_oversize_and_deep() {
        assert!(matches!(split_all(b"[1]", 4), Err(RpcError::Framing(_))));
        assert!(matches!(split_all(b"42", 4), Err(RpcError::Framing(_))));
        assert!(matches!(split_all(b"}", 4), Err(RpcError::Framing(_))));
        let mut sp = Splitter::new(16);
        assert!(sp.feed(br#"{"a":"0123456789abcdef"}"#).is_err());
        let deep = "{\"a\":".repeat(200);
        assert!(split_all(deep.as_bytes(), 7).is_err());
    }
}
