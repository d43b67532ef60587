//! Numeric command-line arguments: each with its range, said whenever a value is outside it
//! (clap's own parsers say "number too large to fit in target type" past 2^64).

/// A clap value parser for integers in `lo..=hi` (decimal).
pub fn range(lo: u64, hi: u64) -> impl Fn(&str) -> Result<u64, String> + Clone {
    move |s: &str| {
        let shown: String = s.chars().take(40).collect();
        let t = s.trim();
        let ok = t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty();
        match t.parse::<u64>() {
            Ok(v) if (lo..=hi).contains(&v) => Ok(v),
            _ if ok || t.starts_with('-') => Err(format!("{shown} is outside {lo}..{hi}")),
            _ => Err(format!("{shown:?} is not a number {lo}..{hi}")),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ranges() {
        let p = super::range(0, 65_535);
        assert_eq!(p("80"), Ok(80));
        assert!(p("65536").unwrap_err().contains("outside 0..65535"));
        assert!(p("18446744073709551616000")
            .unwrap_err()
            .contains("outside"));
        assert!(p("-1").unwrap_err().contains("outside"));
        assert!(p("").unwrap_err().contains("not a number"));
        assert!(p("x").unwrap_err().contains("not a number"));
    }
}
