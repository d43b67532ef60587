//! Where each value of a YAML document is: a map from field paths (`ports[2].ofport`) to
//! 1-based line numbers, so validation errors can name the line of the value at fault.

use std::collections::{HashMap, HashSet};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

enum Frame {
    Map {
        key: Option<String>,
        expect_key: bool,
    },
    Seq {
        index: usize,
    },
}

/// Paths longer than this are not recorded (no field brisk validates has one), so that
/// long keys under many values cost no more than reading them.
const MAX_PATH: usize = 512;

struct Indexer<'a> {
    /// Containers being read, with whether each added a segment to `path`.
    stack: Vec<(Frame, bool)>,
    /// The path of the current value, and its length before each segment was added.
    path: String,
    marks: Vec<usize>,
    /// The paths to record (all when `None`).
    wanted: Option<&'a HashSet<String>>,
    lines: HashMap<String, usize>,
}

impl Indexer<'_> {
    /// The path segment of the next value in the innermost container (and advances it).
    fn next_segment(&mut self) -> Option<String> {
        match self.stack.last_mut() {
            Some((Frame::Map { key, expect_key }, _)) => {
                *expect_key = true;
                key.take()
            }
            Some((Frame::Seq { index }, _)) => {
                let s = format!("[{index}]");
                *index += 1;
                Some(s)
            }
            None => None,
        }
    }

    fn push(&mut self, seg: String) {
        self.marks.push(self.path.len());
        if !self.path.is_empty() && !seg.starts_with('[') {
            self.path.push('.');
        }
        self.path.push_str(&seg);
    }

    fn pop(&mut self) {
        if let Some(len) = self.marks.pop() {
            self.path.truncate(len);
        }
    }

    fn record(&mut self, line: usize) {
        if self.path.len() > MAX_PATH || self.wanted.is_some_and(|w| !w.contains(&self.path)) {
            return;
        }
        if !self.lines.contains_key(&self.path) {
            self.lines.insert(self.path.clone(), line);
        }
    }
}

impl MarkedEventReceiver for Indexer<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        match ev {
            Event::Scalar(v, ..) => {
                if let Some((Frame::Map { key, expect_key }, _)) = self.stack.last_mut() {
                    if *expect_key {
                        *key = Some(v);
                        *expect_key = false;
                        return;
                    }
                }
                if let Some(seg) = self.next_segment() {
                    self.push(seg);
                    self.record(line);
                    self.pop();
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let pushed = match self.next_segment() {
                    Some(seg) => {
                        self.push(seg);
                        self.record(line);
                        true
                    }
                    None => false,
                };
                let frame = if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map {
                        key: None,
                        expect_key: true,
                    }
                } else {
                    Frame::Seq { index: 0 }
                };
                self.stack.push((frame, pushed));
            }
            Event::MappingEnd | Event::SequenceEnd => {
                if let Some((_, true)) = self.stack.pop() {
                    self.pop();
                }
            }
            _ => {}
        }
    }
}

/// Maps every field path of `text` to the line its value starts on. Paths look like
/// `ports[2].ofport`. Returns an empty map for text that is not valid YAML or goes beyond
/// a limit of [`crate::yaml::scan`] (checked first: the parser's time grows with depth).
pub fn locate(text: &str) -> HashMap<String, usize> {
    index(text, None)
}

/// [`locate`] for `paths` and the paths around them only (what [`line`] looks up for
/// them): as fast, without a map of every value of a large text.
pub fn locate_paths(text: &str, paths: &[&str]) -> HashMap<String, usize> {
    let mut wanted = HashSet::new();
    for p in paths {
        let mut p = p.to_string();
        loop {
            wanted.insert(p.clone());
            match p.rfind(['.', '[']) {
                Some(i) => p.truncate(i),
                None => break,
            }
        }
    }
    index(text, Some(&wanted))
}

fn index(text: &str, wanted: Option<&HashSet<String>>) -> HashMap<String, usize> {
    if crate::yaml::scan(text).is_err() {
        return HashMap::new();
    }
    let mut ix = Indexer {
        stack: Vec::new(),
        path: String::new(),
        marks: Vec::new(),
        wanted,
        lines: HashMap::new(),
    };
    let mut p = Parser::new_from_str(text);
    if p.load(&mut ix, false).is_err() {
        return HashMap::new();
    }
    ix.lines
}

/// The line of `path`, or of its closest parent that has one (0 if none).
pub fn line(lines: &HashMap<String, usize>, path: &str) -> usize {
    let mut p = path.to_string();
    loop {
        if let Some(&l) = lines.get(&p) {
            return l;
        }
        match p.rfind(['.', '[']) {
            Some(i) => p.truncate(i),
            None => return 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_to_lines() {
        let t = "bridge: br0\nports:\n  - name: a\n    ofport: 1\n  - name: b\n    ofport: 2\n    opts: {x: 1, y: [4, 5]}\nlist: [1, 2]\n";
        let l = locate(t);
        assert_eq!(l.get("bridge"), Some(&1));
        assert_eq!(l.get("ports"), Some(&3));
        assert_eq!(l.get("ports[0].name"), Some(&3));
        assert_eq!(l.get("ports[1].ofport"), Some(&6));
        assert_eq!(l.get("ports[1].opts.y[1]"), Some(&7));
        assert_eq!(l.get("list[1]"), Some(&8));
        assert_eq!(line(&l, "ports[1].missing"), 5);
        assert!(locate("a: [").is_empty());
        let only = locate_paths(t, &["ports[1].opts.y[1]", "ports[1].missing"]);
        assert_eq!(only.get("ports[1].opts.y[1]"), Some(&7));
        assert_eq!(line(&only, "ports[1].missing"), 5);
        assert_eq!(only.get("ports[0].name"), None);
    }
}
