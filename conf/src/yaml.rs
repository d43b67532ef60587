//! Limits on the YAML brisk reads, checked before any YAML parser sees the text: its size,
//! how deeply its collections nest, and how many nodes its aliases add once expanded.
//!
//! Both parsers brisk uses (libyaml under `serde_norway`, and `yaml-rust2` for the lines of
//! validation errors) keep a possible "simple key" per open flow collection and look at
//! every one of them for each token, so their time grows with depth × length: a document of
//! 100,000 nested `[` took minutes to refuse. [`scan`] finds the depth in one linear pass that
//! follows libyaml's scanner where tokens begin and end (quoted, plain and block scalars,
//! comments, directives, tags), so a bracket inside a scalar or a comment does not count and
//! one outside always does. `serde_norway` expands an alias by deserializing its anchored
//! node again (its own bound is 100 expansions per event, far more than a node file needs),
//! so [`check`] also bounds the nodes aliases add ("billion laughs").

use crate::bridge::ConfError;

mod aliases;

/// The largest YAML text brisk reads (a node description or a bridge file). A node of a
/// cluster at Kubernetes' published limits (4,999 peers, 110 pods, 10,000 services of
/// three endpoints) with 5,000 remote pods and 100 policies is 3.0 MB
/// (`conf/tests/yaml_limits.rs`).
pub const MAX_YAML_BYTES: usize = 4 << 20;

/// The deepest nesting of collections, block and flow together. Antrea's shapes need 9
/// (`policies[].ingress[].from[].podSelector.matchLabels`).
pub const MAX_YAML_DEPTH: usize = 64;

/// The most nodes aliases may add to a document when they are expanded.
pub const MAX_ALIAS_NODES: usize = 100_000;

/// A limit the text goes beyond, and where.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {msg}")]
pub struct LimitError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (characters).
    pub column: usize,
    /// What limit, and by how much.
    pub msg: String,
}

/// What [`scan`] found in a text within the limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Deepest nesting of collections (block and flow).
    pub depth: usize,
    /// Aliases (`*name`).
    pub aliases: usize,
    /// Anchors (`&name`).
    pub anchors: usize,
}

/// Checks `text` against the limits ([`check`]), then deserializes it; `file` names it in
/// errors. The one YAML entry of bridge files and node descriptions.
pub fn from_str_checked<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &str,
) -> Result<T, crate::bridge::ConfError> {
    check(text, file)?;
    serde_norway::from_str(text).map_err(|e| crate::bridge::ConfError::Yaml {
        file: file.to_string(),
        line: e.location().map_or(0, |l| l.line()),
        msg: e.to_string(),
    })
}

/// Checks a YAML text against every limit before it is parsed: size and depth by [`scan`],
/// then, when it has aliases, the nodes they add. `file` names the text in errors
/// (`FILE:LINE:COLUMN: ...`).
pub fn check(text: &str, file: &str) -> Result<(), ConfError> {
    let err = |e: LimitError| ConfError::Limit {
        file: file.to_string(),
        line: e.line,
        column: e.column,
        msg: e.msg,
    };
    let s = scan(text).map_err(err)?;
    if s.aliases > 0 {
        aliases::check(text, s).map_err(err)?;
    }
    Ok(())
}

/// Size and nesting depth of a YAML text, in one pass over it that no input makes
/// superlinear (no YAML parser runs).
pub fn scan(text: &str) -> Result<Scan, LimitError> {
    if text.len() > MAX_YAML_BYTES {
        let head = &text.as_bytes()[..MAX_YAML_BYTES];
        let line = head.iter().filter(|&&b| b == b'\n').count() + 1;
        let start = head.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = head[start..].iter().filter(|&&b| b & 0xc0 != 0x80).count() + 1;
        return Err(LimitError {
            line,
            column,
            msg: format!("YAML text longer than the limit of {MAX_YAML_BYTES} bytes (4 MiB)"),
        });
    }
    let mut s = Scanner {
        s: text.as_bytes(),
        pos: 0,
        line: 1,
        col: 0,
        flow: 0,
        flows: Vec::new(),
        pairs: 0,
        indents: Vec::new(),
        block_depth: 0,
        allowed: true,
        key: None,
        out: Scan::default(),
    };
    s.run()?;
    Ok(s.out)
}

/// A block collection open at an indentation column.
struct Indent {
    col: isize,
    mapping: bool,
    /// A sequence at the mapping's own column (`key:` then `- item` below it), which adds
    /// a level without an indentation of its own.
    indentless: bool,
}

/// A possible simple key of the block context (`key: value`): where it began.
#[derive(Clone, Copy)]
struct Key {
    line: usize,
    pos: usize,
    col: usize,
    /// Deepest flow nesting inside the key (`[[a]]: b`), which the mapping it starts
    /// wraps.
    inner: usize,
}

/// libyaml's scanner reduced to where tokens start and end: `pos` is a byte offset (as
/// libyaml's mark index), `col` counts characters (as its mark column).
struct Scanner<'a> {
    s: &'a [u8],
    pos: usize,
    line: usize,
    col: usize,
    flow: usize,
    /// The open flow collections (as many as `flow`, within the depth limit): whether
    /// each is a sequence, and whether a single-pair mapping (`[a: b]`) is open in it.
    flows: Vec<(bool, bool)>,
    /// Single-pair mappings open (each a level without a bracket).
    pairs: usize,
    indents: Vec<Indent>,
    /// Levels the block collections in `indents` add.
    block_depth: usize,
    /// libyaml's `simple_key_allowed`.
    allowed: bool,
    /// The possible simple key of the flow level 0.
    key: Option<Key>,
    out: Scan,
}

impl Scanner<'_> {
    fn b(&self, k: usize) -> u8 {
        self.s.get(self.pos + k).copied().unwrap_or(0)
    }
    fn end(&self) -> bool {
        self.pos >= self.s.len()
    }
    /// End of text or NUL (libyaml's `IS_Z`: NUL ends its input).
    fn z(&self, k: usize) -> bool {
        self.b(k) == 0
    }
    fn blank(&self, k: usize) -> bool {
        matches!(self.b(k), b' ' | b'\t')
    }
    /// Line breaks as libyaml knows them: CR, LF, NEL, LS, PS.
    fn brk(&self, k: usize) -> bool {
        match self.b(k) {
            b'\r' | b'\n' => true,
            0xc2 => self.b(k + 1) == 0x85,
            0xe2 => self.b(k + 1) == 0x80 && matches!(self.b(k + 2), 0xa8 | 0xa9),
            _ => false,
        }
    }
    fn breakz(&self, k: usize) -> bool {
        self.brk(k) || self.z(k)
    }
    fn blankz(&self, k: usize) -> bool {
        self.blank(k) || self.breakz(k)
    }
    fn alpha(c: u8) -> bool {
        c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
    }
    fn doc_marker(&self) -> bool {
        self.col == 0
            && (self.s[self.pos..].starts_with(b"---") || self.s[self.pos..].starts_with(b"..."))
            && self.blankz(3)
    }

    /// Moves past one character (not a line break).
    fn adv(&mut self) {
        if self.end() {
            return;
        }
        self.pos += match self.b(0) {
            0xf0.. => 4,
            0xe0.. => 3,
            0xc0.. => 2,
            _ => 1,
        };
        self.pos = self.pos.min(self.s.len());
        self.col += 1;
    }

    /// Moves past the line break at `pos` (CR LF is one).
    fn skip_break(&mut self) {
        let n = match self.b(0) {
            b'\r' if self.b(1) == b'\n' => 2,
            b'\r' | b'\n' => 1,
            0xc2 => 2,
            _ => 3,
        };
        self.pos = (self.pos + n).min(self.s.len());
        self.line += 1;
        self.col = 0;
    }

    /// The depth now must be within the limit; `col` is that of the collection's start on
    /// the current line.
    fn check_depth(&mut self, col: usize) -> Result<(), LimitError> {
        let d = self.block_depth + self.flow + self.pairs;
        if let Some(k) = &mut self.key {
            k.inner = k.inner.max(self.flow + self.pairs);
        }
        if d > MAX_YAML_DEPTH {
            return Err(LimitError {
                line: self.line,
                column: col + 1,
                msg: format!("YAML nesting deeper than the limit of {MAX_YAML_DEPTH} levels"),
            });
        }
        self.out.depth = self.out.depth.max(d);
        Ok(())
    }

    fn indent(&self) -> isize {
        self.indents.last().map_or(-1, |i| i.col)
    }

    /// libyaml's `roll_indent`, plus the level an indentless sequence adds.
    fn roll(&mut self, at: usize, mapping: bool) -> Result<(), LimitError> {
        if self.flow > 0 {
            return Ok(());
        }
        let col = at as isize;
        match self.indents.last_mut() {
            Some(top) if top.col == col => {
                if mapping && top.indentless {
                    top.indentless = false;
                    self.block_depth -= 1;
                } else if !mapping && top.mapping && !top.indentless {
                    top.indentless = true;
                    self.block_depth += 1;
                }
            }
            Some(top) if top.col > col => {}
            _ => {
                self.indents.push(Indent {
                    col,
                    mapping,
                    indentless: false,
                });
                self.block_depth += 1;
            }
        }
        self.check_depth(at)
    }

    /// libyaml's `unroll_indent`: closes the block collections deeper than `col`.
    fn unroll(&mut self, col: isize) {
        if self.flow > 0 {
            return;
        }
        while let Some(top) = self.indents.last() {
            if top.col <= col {
                break;
            }
            self.block_depth -= 1 + usize::from(top.indentless);
            self.indents.pop();
        }
    }

    fn save_key(&mut self) {
        if self.allowed && self.flow == 0 {
            self.key = Some(Key {
                line: self.line,
                pos: self.pos,
                col: self.col,
                inner: 0,
            });
        }
    }

    fn remove_key(&mut self) {
        if self.flow == 0 {
            self.key = None;
        }
    }

    fn run(&mut self) -> Result<(), LimitError> {
        loop {
            self.skip_to_token();
            self.unroll(self.col as isize);
            if self.end() {
                return Ok(());
            }
            let c = self.b(0);
            if self.col == 0 && c == b'%' {
                // A directive: nothing but a comment may follow it on its line.
                self.unroll(-1);
                self.remove_key();
                self.allowed = false;
                while !self.breakz(0) {
                    self.adv();
                }
                continue;
            }
            if self.doc_marker() {
                self.unroll(-1);
                self.remove_key();
                self.allowed = false;
                for _ in 0..3 {
                    self.adv();
                }
                continue;
            }
            self.token(c)?;
        }
    }

    /// One token starting with `c` (libyaml's `fetch_next_token` after the checks at
    /// column 0).
    fn token(&mut self, c: u8) -> Result<(), LimitError> {
        match c {
            b'[' | b'{' => {
                self.save_key();
                self.flow += 1;
                self.flows.push((c == b'[', false));
                self.check_depth(self.col)?;
                self.allowed = true;
                self.adv();
            }
            b']' | b'}' => {
                self.remove_key();
                self.end_pair();
                self.flows.pop();
                self.flow = self.flows.len();
                self.allowed = false;
                self.adv();
            }
            b',' => {
                self.remove_key();
                self.end_pair();
                self.allowed = true;
                self.adv();
            }
            b'-' if self.blankz(1) => {
                self.roll(self.col, false)?;
                self.remove_key();
                self.allowed = true;
                self.adv();
            }
            b'?' if self.flow > 0 || self.blankz(1) => {
                self.pair()?;
                self.roll(self.col, true)?;
                self.remove_key();
                self.allowed = self.flow == 0;
                self.adv();
            }
            b':' if self.flow > 0 || self.blankz(1) => {
                self.value()?;
                self.adv();
            }
            b'*' | b'&' => {
                if c == b'*' {
                    self.out.aliases += 1;
                } else {
                    self.out.anchors += 1;
                }
                self.save_key();
                self.allowed = false;
                self.adv();
                while Self::alpha(self.b(0)) {
                    self.adv();
                }
            }
            b'!' => {
                self.save_key();
                self.allowed = false;
                self.tag();
            }
            b'|' | b'>' if self.flow == 0 => {
                self.remove_key();
                self.allowed = true;
                self.block_scalar();
            }
            b'\'' | b'"' => {
                self.save_key();
                self.allowed = false;
                self.quoted(c);
            }
            _ if self.plain_start(c) => {
                self.save_key();
                self.allowed = false;
                self.plain();
            }
            // libyaml stops here ("cannot start any token"); go on, counting what follows.
            _ => self.adv(),
        }
        Ok(())
    }

    /// libyaml's `scan_to_next_token`: spaces, tabs where allowed, comments, line breaks.
    fn skip_to_token(&mut self) {
        loop {
            if self.col == 0 && self.s[self.pos..].starts_with("\u{feff}".as_bytes()) {
                self.adv();
            }
            while self.b(0) == b' ' || ((self.flow > 0 || !self.allowed) && self.b(0) == b'\t') {
                self.adv();
            }
            if self.b(0) == b'#' {
                while !self.breakz(0) {
                    self.adv();
                }
            }
            if !self.brk(0) {
                return;
            }
            self.skip_break();
            if self.flow == 0 {
                self.allowed = true;
            }
        }
    }

    /// A key or value indicator in a flow sequence opens a single-pair mapping there.
    fn pair(&mut self) -> Result<(), LimitError> {
        if let Some((true, pair @ false)) = self.flows.last_mut() {
            *pair = true;
            self.pairs += 1;
            return self.check_depth(self.col);
        }
        Ok(())
    }

    /// The entry of the innermost flow collection ends (`,` or its end).
    fn end_pair(&mut self) {
        if let Some((_, pair @ true)) = self.flows.last_mut() {
            *pair = false;
            self.pairs -= 1;
        }
    }

    /// `:` as a value indicator: a block mapping starts at its key's column.
    fn value(&mut self) -> Result<(), LimitError> {
        if self.flow > 0 {
            self.allowed = false;
            return self.pair();
        }
        // A key on an earlier line, or over 1024 bytes back, has gone stale.
        let key = self
            .key
            .take()
            .filter(|k| k.line == self.line && k.pos + 1024 >= self.pos);
        match key {
            Some(k) => {
                let before = self.block_depth;
                self.roll(k.col, true)?;
                if self.block_depth > before {
                    // The new mapping holds the key's own nesting.
                    let d = self.block_depth + k.inner;
                    if d > MAX_YAML_DEPTH {
                        return Err(LimitError {
                            line: k.line,
                            column: k.col + 1,
                            msg: format!(
                                "YAML nesting deeper than the limit of {MAX_YAML_DEPTH} levels"
                            ),
                        });
                    }
                    self.out.depth = self.out.depth.max(d);
                }
                self.allowed = false;
            }
            None => {
                self.roll(self.col, true)?;
                self.allowed = true;
            }
        }
        Ok(())
    }

    fn plain_start(&self, c: u8) -> bool {
        !(self.blankz(0) || b"-?:,[]{}#&*!|>'\"%@`".contains(&c))
            || (c == b'-' && !self.blank(1))
            || (self.flow == 0 && matches!(c, b'?' | b':') && !self.blankz(1))
    }

    /// A tag: `!<uri>` or `!handle!suffix` / `!suffix`.
    fn tag(&mut self) {
        let uri = |c: u8, flow_ok: bool| {
            Self::alpha(c)
                || b";/?:@&=+$.%!~*'()".contains(&c)
                || (flow_ok && matches!(c, b',' | b'[' | b']'))
        };
        if self.b(1) == b'<' {
            self.adv();
            self.adv();
            while uri(self.b(0), true) {
                self.adv();
            }
            if self.b(0) == b'>' {
                self.adv();
            }
        } else {
            self.adv();
            while uri(self.b(0), false) {
                self.adv();
            }
        }
    }

    /// A single- or double-quoted scalar.
    fn quoted(&mut self, q: u8) {
        self.adv();
        loop {
            if self.doc_marker() || self.z(0) {
                return; // libyaml stops: unexpected document indicator or end of stream
            }
            while !self.blankz(0) {
                match self.b(0) {
                    b'\'' if q == b'\'' && self.b(1) == b'\'' => {
                        self.adv();
                        self.adv();
                    }
                    c if c == q => {
                        self.adv();
                        return;
                    }
                    b'\\' if q == b'"' && self.brk(1) => {
                        self.adv();
                        self.skip_break();
                        break;
                    }
                    b'\\' if q == b'"' => {
                        self.adv();
                        if !self.z(0) {
                            self.adv();
                        }
                    }
                    _ => self.adv(),
                }
            }
            while self.blank(0) || self.brk(0) {
                if self.blank(0) {
                    self.adv();
                } else {
                    self.skip_break();
                }
            }
        }
    }

    /// A plain scalar: it may go on over lines indented more than its block collection
    /// (any line in a flow collection); quotes and brackets inside it are its own.
    fn plain(&mut self) {
        let indent = self.indent() + 1;
        let mut leading_blanks = false;
        loop {
            if self.doc_marker() || self.b(0) == b'#' {
                break;
            }
            while !self.blankz(0) {
                let c = self.b(0);
                if self.flow > 0 && c == b':' && b",?[]{}".contains(&self.b(1)) {
                    return; // libyaml stops: "found unexpected ':'"
                }
                if (c == b':' && self.blankz(1)) || (self.flow > 0 && b",[]{}".contains(&c)) {
                    break;
                }
                self.adv();
            }
            if !(self.blank(0) || self.brk(0)) {
                break;
            }
            while self.blank(0) || self.brk(0) {
                if self.blank(0) {
                    if leading_blanks && (self.col as isize) < indent && self.b(0) == b'\t' {
                        return; // libyaml stops: a tab that violates indentation
                    }
                    self.adv();
                } else {
                    self.skip_break();
                    leading_blanks = true;
                }
            }
            if self.flow == 0 && (self.col as isize) < indent {
                break;
            }
        }
        if leading_blanks {
            self.allowed = true;
        }
    }

    /// A literal (`|`) or folded (`>`) scalar: its header, then every line indented at
    /// least as much as its first (or as its indentation indicator says).
    fn block_scalar(&mut self) {
        let parent = self.indent();
        self.adv();
        let digit = |c: u8| (b'1'..=b'9').contains(&c).then(|| isize::from(c - b'0'));
        let mut increment = None;
        if matches!(self.b(0), b'+' | b'-') {
            self.adv();
            if self.b(0).is_ascii_digit() {
                increment = digit(self.b(0));
                self.adv();
            }
        } else if self.b(0).is_ascii_digit() {
            increment = digit(self.b(0));
            self.adv();
            if matches!(self.b(0), b'+' | b'-') {
                self.adv();
            }
        }
        while self.blank(0) {
            self.adv();
        }
        if self.b(0) == b'#' {
            while !self.breakz(0) {
                self.adv();
            }
        }
        if !self.breakz(0) {
            return; // libyaml stops: "did not find expected comment or line break"
        }
        if self.brk(0) {
            self.skip_break();
        }
        let mut indent = match increment {
            Some(i) if parent >= 0 => parent + i,
            Some(i) => i,
            None => 0,
        };
        if !self.block_breaks(&mut indent, parent) {
            return;
        }
        while self.col as isize == indent && !self.z(0) {
            while !self.breakz(0) {
                self.adv();
            }
            if self.brk(0) {
                self.skip_break();
            }
            if !self.block_breaks(&mut indent, parent) {
                return;
            }
        }
    }

    /// libyaml's `scan_block_scalar_breaks`: empty lines, then the indentation of the next
    /// one; sets an undetermined `indent` from them. False where libyaml stops (a tab in
    /// the indentation).
    fn block_breaks(&mut self, indent: &mut isize, parent: isize) -> bool {
        let mut max_indent = 0;
        loop {
            while (*indent == 0 || (self.col as isize) < *indent) && self.b(0) == b' ' {
                self.adv();
            }
            max_indent = max_indent.max(self.col as isize);
            if (*indent == 0 || (self.col as isize) < *indent) && self.b(0) == b'\t' {
                return false;
            }
            if !self.brk(0) {
                break;
            }
            self.skip_break();
        }
        if *indent == 0 {
            *indent = max_indent.max(parent + 1).max(1);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(t: &str) -> usize {
        scan(t).unwrap().depth
    }

    #[test]
    fn depth_of_block_and_flow() {
        assert_eq!(depth("a"), 0);
        assert_eq!(depth("a: b"), 1);
        assert_eq!(depth("a:\n  b: [c, {d: e}]\n"), 4);
        assert_eq!(depth("- - - x"), 3);
        assert_eq!(depth("a:\n- b\n- c\n"), 2);
        assert_eq!(depth("a:\n- b: c\n  d: e\nf: g\n"), 3);
        // Brackets inside scalars and comments are not nesting.
        assert_eq!(
            depth("a: 'it''s [[['\nb: \"x\\\" [[\"\n# [[[[\nc: x[[y # [[\n"),
            1
        );
        assert_eq!(depth("a: |\n  [[[[\n  it's\nb: [c]\n"), 2);
        assert_eq!(depth("a: it's\nb: [[c]]\n"), 3);
        // A plain scalar goes on over more-indented lines: the quote there is its own.
        assert_eq!(depth("a: b\n  'c\nd: [[e]]\n"), 3);
        // Line breaks libyaml knows end a comment.
        assert_eq!(depth("# x\u{85}[[a]]"), 2);
    }

    #[test]
    fn limits_are_errors_with_a_place() {
        let e = scan(&format!("a:\n  b: {}", "[".repeat(100))).unwrap_err();
        assert_eq!((e.line, e.column), (2, 6 + MAX_YAML_DEPTH - 2));
        assert!(e.msg.contains("limit of 64 levels"), "{e}");
        let e = scan(&"x".repeat(MAX_YAML_BYTES + 1)).unwrap_err();
        assert_eq!((e.line, e.column), (1, MAX_YAML_BYTES + 1));
    }
}
