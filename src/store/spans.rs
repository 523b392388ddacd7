//! How a range of instants is read from the per-day rollups (`rollups.rs`): a run of whole UTC
//! days from a rollup table, and the shorter part of each partial day at its edges from the rows,
//! added or taken away. Several numbered ranges become the common table expressions one statement
//! reads.

/// Milliseconds in a UTC day: the rollups' bucket.
pub(super) const DAY_MS: i64 = 86_400_000;

/// `[start, end)` (Unix ms) as a run of whole UTC days, `[first, end)` day numbers, read from a
/// rollup, and the pieces of partial days read from the rows, each added (`sign` 1) or taken away
/// (`sign` -1). A partial day at an edge is read from the rows when it covers at most half the
/// day, else as the whole day's rollup less the rows of the rest of that day: a week in a zone an
/// hour off UTC reads two hours of rows, not a day. Day 0 and earlier are never read from the
/// rollups (the triggers' integer division truncates times before 1970 toward day 0): they are
/// added edges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Split {
    pub days: Option<(i64, i64)>,
    pub edges: Vec<Edge>,
}

/// Rows with an instant in `[lo, hi)` (Unix ms), added (`sign` 1) or taken away (`sign` -1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Edge {
    pub lo: i64,
    pub hi: i64,
    pub sign: i64,
}

impl Edge {
    fn add(lo: i64, hi: i64) -> Self {
        Self { lo, hi, sign: 1 }
    }

    fn take(lo: i64, hi: i64) -> Self {
        Self { lo, hi, sign: -1 }
    }
}

pub(super) fn split(start: i64, end: i64) -> Split {
    const HALF: i64 = DAY_MS / 2;
    let mut out = Split {
        days: None,
        edges: Vec::new(),
    };
    if end <= start {
        return out;
    }
    let (first_touched, last_touched) = (start.div_euclid(DAY_MS), (end - 1).div_euclid(DAY_MS));
    if first_touched == last_touched {
        // Within one day: its rows, or the day less the rows around the range.
        let day = first_touched;
        if day >= 1 && end - start > HALF {
            out.days = Some((day, day + 1));
            out.edges = [
                Edge::take(day * DAY_MS, start),
                Edge::take(end, (day + 1) * DAY_MS),
            ]
            .into_iter()
            .filter(|e| e.lo < e.hi)
            .collect();
        } else {
            out.edges.push(Edge::add(start, end));
        }
        return out;
    }
    let first = (start.div_euclid(DAY_MS) + i64::from(start.rem_euclid(DAY_MS) != 0)).max(1);
    let last = end.div_euclid(DAY_MS);
    if first > last {
        out.edges.push(Edge::add(start, end));
        return out;
    }
    let (mut lo, mut hi) = (first, last);
    if start < first * DAY_MS {
        if first > 1 && first * DAY_MS - start > HALF {
            lo = first - 1;
            out.edges.push(Edge::take(lo * DAY_MS, start));
        } else {
            out.edges.push(Edge::add(start, first * DAY_MS));
        }
    }
    if last * DAY_MS < end {
        if end - last * DAY_MS > HALF {
            hi = last + 1;
            out.edges.push(Edge::take(end, hi * DAY_MS));
        } else {
            out.edges.push(Edge::add(last * DAY_MS, end));
        }
    }
    out.days = (lo < hi).then_some((lo, hi));
    out
}

/// Numbered ranges as two SQL common table expressions: `days(k, lo, hi)` (day numbers, read
/// from a rollup) and `edges(k, lo, hi, sign)` (Unix ms, read from rows, each row's contribution
/// multiplied by `sign`). The values are integers this code computed, inlined so the statements
/// keep their parameters.
pub(super) struct Spans {
    pub ranges: Vec<(i64, i64)>,
}

impl Spans {
    pub fn of(ranges: &[(i64, i64)]) -> Self {
        Self {
            ranges: ranges.to_vec(),
        }
    }

    pub fn ctes(&self) -> String {
        let mut days = Vec::new();
        let mut edges = Vec::new();
        for (k, &(start, end)) in (0i64..).zip(&self.ranges) {
            let split = split(start, end);
            if let Some((lo, hi)) = split.days {
                days.push([k, lo, hi]);
            }
            edges.extend(split.edges.iter().map(|e| [k, e.lo, e.hi, e.sign]));
        }
        format!(
            "days(k, lo, hi) as ({}), edges(k, lo, hi, sign) as ({})",
            values(&days),
            values(&edges)
        )
    }

    /// `rows(k, lo, hi)`: each whole range in ms, for the figures read only from rows (medians).
    pub fn rows_cte(&self) -> String {
        let rows: Vec<_> = (0i64..)
            .zip(&self.ranges)
            .map(|(k, &(lo, hi))| [k, lo, hi])
            .collect();
        format!("rows(k, lo, hi) as ({})", values(&rows))
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }
}

/// Rows of integers as a SQL `values` list; no rows as a query of none with as many columns.
fn values<const N: usize>(rows: &[[i64; N]]) -> String {
    if rows.is_empty() {
        return format!("select {} where false", vec!["0"; N].join(", "));
    }
    let rows: Vec<String> = rows
        .iter()
        .map(|row| {
            let row: Vec<String> = row.iter().map(i64::to_string).collect();
            format!("({})", row.join(", "))
        })
        .collect();
    format!("values {}", rows.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_whole_utc_days_and_the_shorter_part_of_its_partial_days() {
        let day = DAY_MS;
        let hour = 3_600_000;
        let split_of = |days: Option<(i64, i64)>, edges: &[(i64, i64, i64)]| Split {
            days,
            edges: edges
                .iter()
                .map(|&(lo, hi, sign)| Edge { lo, hi, sign })
                .collect(),
        };
        assert_eq!(split(10 * day, 17 * day), split_of(Some((10, 17)), &[]));
        // Berlin's week, 23:00 the day before to 23:00: the hour before day 10 added, day 16 whole
        // less its last hour.
        let (start, end) = (10 * day - hour, 17 * day - hour);
        assert_eq!(
            split(start, end),
            split_of(Some((10, 17)), &[(start, 10 * day, 1), (end, 17 * day, -1)])
        );
        // A week starting 01:00: day 9 whole less its first hour, the last hour added.
        let (start, end) = (10 * day - 23 * hour, 17 * day - 23 * hour);
        assert_eq!(
            split(start, end),
            split_of(Some((9, 16)), &[(9 * day, start, -1), (16 * day, end, 1)])
        );
        // Within one day: its rows when short, the day less the rest when long.
        assert_eq!(
            split(day + 5, day + hour),
            split_of(None, &[(day + 5, day + hour, 1)])
        );
        assert_eq!(
            split(day + 5, 2 * day - 5),
            split_of(
                Some((1, 2)),
                &[(day, day + 5, -1), (2 * day - 5, 2 * day, -1)]
            )
        );
        // Two partial days and no whole one.
        assert_eq!(
            split(day + 20 * hour, 2 * day + 20 * hour),
            split_of(
                Some((2, 3)),
                &[
                    (day + 20 * hour, 2 * day, 1),
                    (2 * day + 20 * hour, 3 * day, -1)
                ]
            )
        );
        // Nothing before day 1 from the rollups.
        assert_eq!(
            split(-3 * day, 3 * day),
            split_of(Some((1, 3)), &[(-3 * day, day, 1)])
        );
        assert_eq!(
            split(-day + 5, 2 * hour),
            split_of(None, &[(-day + 5, 2 * hour, 1)])
        );
        assert_eq!(split(5, 5).days, None);
    }
}
