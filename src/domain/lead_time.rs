//! Lead time per change: the math over the commits a deploy shipped (DORA: commit to running in
//! production). Which commits count is `store::dora::lead_time`; what a deploy shipped is
//! `domain::deploy::ShippedCommit`.

/// Median and p90 of lead times (seconds) already sorted ascending: the median is the mean of the
/// middle two for an even count, the p90 the nearest rank (the ⌈0.9 n⌉-th value). `None` for none.
pub fn median_and_p90(sorted: &[f64]) -> (Option<f64>, Option<f64>) {
    let n = sorted.len();
    if n == 0 {
        return (None, None);
    }
    let median = (sorted[(n - 1) / 2] + sorted[n / 2]) / 2.0;
    let rank = (9 * n).div_ceil(10);
    (Some(median), Some(sorted[rank - 1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_the_middle_and_p90_the_nearest_rank() {
        for (values, median, p90) in [
            (vec![], None, None),
            (vec![5.0], Some(5.0), Some(5.0)),
            (vec![1.0, 3.0], Some(2.0), Some(3.0)),
            (vec![1.0, 2.0, 10.0], Some(2.0), Some(10.0)),
            // Ten values: median between the 5th and 6th, p90 the 9th.
            ((1..=10).map(f64::from).collect(), Some(5.5), Some(9.0)),
            // Eleven: p90 is the ⌈9.9⌉ = 10th.
            ((1..=11).map(f64::from).collect(), Some(6.0), Some(10.0)),
        ] {
            assert_eq!(median_and_p90(&values), (median, p90), "{values:?}");
        }
    }
}
