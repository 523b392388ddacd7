//! How a duration reads in a summary: the two largest units.

/// `1d 3h`, `2h 5m`, `4m 10s`.
pub fn duration_text(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as i64;
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60, s % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    }
}
