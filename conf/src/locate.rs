//! Where each value of a YAML document is: a map from field paths (`ports[2].ofport`) to
//! 1-based line numbers, so validation errors can name the line of the value at fault.

use std::collections::HashMap;
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

struct Indexer {
    /// Containers being read, with whether each added a segment to `path`.
    stack: Vec<(Frame, bool)>,
    path: Vec<String>,
    lines: HashMap<String, usize>,
}

impl Indexer {
    fn current(&self) -> String {
        let mut s = String::new();
        for p in &self.path {
            if !s.is_empty() && !p.starts_with('[') {
                s.push('.');
            }
            s.push_str(p);
        }
        s
    }

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

    fn record(&mut self, line: usize) {
        let p = self.current();
        self.lines.entry(p).or_insert(line);
    }
}

impl MarkedEventReceiver for Indexer {
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
                    self.path.push(seg);
                    self.record(line);
                    self.path.pop();
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let pushed = match self.next_segment() {
                    Some(seg) => {
                        self.path.push(seg);
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
                    self.path.pop();
                }
            }
            _ => {}
        }
    }
}

/// Maps every field path of `text` to the line its value starts on. Paths look like
/// `ports[2].ofport`. Returns an empty map for text that is not valid YAML.
pub fn locate(text: &str) -> HashMap<String, usize> {
    let mut ix = Indexer {
        stack: Vec::new(),
        path: Vec::new(),
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
    }
}
