//! How the bench writes a number for people: counts with thousands separators. Shared by the
//! report, the targets, the plots and the `cargo bench` programs, and dependent on none of them.

/// 1234567.8 → "1,234,568".
pub fn count(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(count(0.0), "0");
        assert_eq!(count(999.4), "999");
        assert_eq!(count(1000.0), "1,000");
        assert_eq!(count(1_234_567.8), "1,234,568");
        assert_eq!(count(-5.0), "0");
    }
}
