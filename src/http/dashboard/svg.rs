//! The dashboard's charts as inline SVG, drawn on the server (no script, no image request): a
//! stacked bar per day. Sizes are in a fixed viewBox; the page
//! scales it to the screen.

use maud::{html, Markup};

use crate::domain::summary::DayLine;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 32.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 8.0;

const SUCCEEDED: &str = "#1a7f37";
const FAILED: &str = "#c53030";
const ROLLED_BACK: &str = "#b7791f";

/// Deploys per day, stacked by outcome, with the day's date under every few bars.
pub fn daily(days: &[DayLine]) -> Markup {
    let max = days
        .iter()
        .map(|d| d.succeeded + d.failed + d.rolled_back)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let plot_h = HEIGHT - BOTTOM - TOP;
    let slot = (WIDTH - LEFT) / days.len().max(1) as f64;
    let bar = (slot * 0.7).max(1.0);
    let label_every = (days.len() / 8).max(1);
    let y = |v: f64| TOP + plot_h - v / max * plot_h;
    html! {
        svg viewBox={"0 0 " (WIDTH) " " (HEIGHT)} role="img" aria-label="Deploys per day by outcome" {
            line x1=(LEFT) y1=(TOP + plot_h) x2=(WIDTH) y2=(TOP + plot_h) stroke="#99a1b3" stroke-width="1" {}
            text x=(LEFT - 4.0) y=(TOP + 10.0) text-anchor="end" font-size="11" fill="#5b6475" { (max as i64) }
            text x=(LEFT - 4.0) y=(TOP + plot_h) text-anchor="end" font-size="11" fill="#5b6475" { "0" }
            @for (i, d) in days.iter().enumerate() {
                @let x = LEFT + i as f64 * slot + (slot - bar) / 2.0;
                @let segments = [(d.succeeded, SUCCEEDED, "succeeded"), (d.failed, FAILED, "failed"), (d.rolled_back, ROLLED_BACK, "rolled back")];
                g data-date=(d.date) {
                    title { (d.date) ": " (d.succeeded) " succeeded, " (d.failed) " failed, " (d.rolled_back) " rolled back" }
                    @for (j, (n, colour, _)) in segments.iter().enumerate() {
                        @if *n > 0 {
                            @let below: i64 = segments[..j].iter().map(|s| s.0).sum();
                            rect x=(fmt(x)) y=(fmt(y((below + n) as f64))) width=(fmt(bar))
                                height=(fmt(y(below as f64) - y((below + n) as f64))) fill=(colour) {}
                        }
                    }
                }
                @if i % label_every == 0 {
                    text x=(fmt(x + bar / 2.0)) y=(HEIGHT - 6.0) text-anchor="middle" font-size="11" fill="#5b6475" {
                        (d.date.format("%m-%d"))
                    }
                }
            }
        }
        p class="small" {
            span style={"color:" (SUCCEEDED)} { "■" } " succeeded "
            span style={"color:" (FAILED)} { "■" } " failed "
            span style={"color:" (ROLLED_BACK)} { "■" } " rolled back"
        }
    }
}

/// Coordinates with two decimals: small pages, identical output for identical data.
fn fmt(v: f64) -> String {
    format!("{v:.2}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn bars_stack_by_outcome() {
        let day = |d: u32, s: i64, f: i64| DayLine {
            date: NaiveDate::from_ymd_opt(2026, 11, d).unwrap(),
            succeeded: s,
            failed: f,
            rolled_back: 0,
            alerts: 0,
        };
        let svg = daily(&[day(1, 3, 1), day(2, 0, 0)]).into_string();
        assert_eq!(svg.matches("<rect").count(), 2, "{svg}");
        assert!(svg.contains("2026-11-01: 3 succeeded, 1 failed"));
    }
}
