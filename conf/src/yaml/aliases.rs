//! The nodes aliases add to a YAML text once expanded, counted without expanding them.

use super::{LimitError, Scan, MAX_ALIAS_NODES};
use std::collections::HashMap;

/// Expands the aliases of a text (by counting): the nodes they add must stay within
/// [`MAX_ALIAS_NODES`]. `yaml-rust2`'s parser finds the nodes (its time is linear once
/// [`super::scan`] has bounded the depth), on the text with the line breaks libyaml knows
/// and it does not (NEL, LS, PS) made newlines; it must find the anchors and aliases that
/// `scan` found as libyaml's scanner does, or the text is refused rather than miscounted.
pub(super) fn check(text: &str, scanned: Scan) -> Result<(), LimitError> {
    use yaml_rust2::parser::{Event, Parser};
    let text: String = text
        .chars()
        .map(|c| match c {
            '\u{85}' | '\u{2028}' | '\u{2029}' => '\n',
            c => c,
        })
        .collect();
    let mut p = Parser::new_from_str(&text);
    let (mut aliases, mut anchors) = (0, 0);
    // Anchor id -> nodes of its node once expanded.
    let mut sizes: HashMap<usize, usize> = HashMap::new();
    // Open collections: (anchor id, nodes so far); the bottom one is the stream.
    let mut open: Vec<(usize, usize)> = vec![(0, 0)];
    let mut added = 0usize;
    loop {
        let (ev, mark) = p.next_token().map_err(|e| LimitError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            msg: format!("YAML (while counting what aliases expand to): {}", e.info()),
        })?;
        let at = |msg: String| LimitError {
            line: mark.line(),
            column: mark.col() + 1,
            msg,
        };
        let n = match ev {
            Event::StreamEnd if (aliases, anchors) == (scanned.aliases, scanned.anchors) => {
                return Ok(());
            }
            Event::StreamEnd => {
                return Err(LimitError {
                    line: 1,
                    column: 1,
                    msg: format!(
                        "YAML parsers read its anchors and aliases differently ({} and {} or {anchors} and {aliases}): write them plainly (`&name VALUE`, `*name`)",
                        scanned.anchors, scanned.aliases
                    ),
                });
            }
            Event::Scalar(_, _, anchor, _) => {
                anchors += usize::from(anchor > 0);
                if anchor > 0 {
                    sizes.insert(anchor, 1);
                }
                1
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                anchors += usize::from(anchor > 0);
                open.push((anchor, 1));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some((anchor, n)) = open.pop() else {
                    continue;
                };
                if anchor > 0 {
                    sizes.insert(anchor, n);
                }
                n
            }
            Event::Alias(id) => {
                aliases += 1;
                let Some(&n) = sizes.get(&id) else {
                    return Err(at("an alias inside the node its anchor names".into()));
                };
                added = added.saturating_add(n);
                if added > MAX_ALIAS_NODES {
                    return Err(at(format!(
                        "aliases expand to more than the limit of {MAX_ALIAS_NODES} nodes"
                    )));
                }
                n
            }
            _ => continue,
        };
        if let Some(top) = open.last_mut() {
            top.1 = top.1.saturating_add(n);
        }
    }
}
