//! The summary chart: deploys per day stacked by outcome, with alerts per day as a line, and
//! under it the four keys week by week (the trend), drawn with plotters into memory and encoded
//! as PNG. The font is embedded (ab_glyph): no system font
//! lookup, so it draws the same on a bare server. Colours suit Discord's dark theme.

use std::sync::Once;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{register_font, FontStyle};

use crate::domain::summary::Summary;

pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 620;
/// The height of the per-day chart at the top; the trend's four panels share the rest.
const DAILY_HEIGHT: u32 = 400;
pub const FILE_NAME: &str = "summary.png";

const FONT: &str = "loopbot-sans";
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Discord's dark message background, so the image blends in.
const BACKGROUND: RGBColor = RGBColor(0x31, 0x33, 0x38);
const TEXT: RGBColor = RGBColor(0xdb, 0xde, 0xe1);
const GRID: RGBColor = RGBColor(0x4e, 0x50, 0x58);
pub const SUCCEEDED: RGBColor = RGBColor(0x57, 0xf2, 0x87);
pub const FAILED: RGBColor = RGBColor(0xed, 0x42, 0x45);
pub const ROLLED_BACK: RGBColor = RGBColor(0xfe, 0xe7, 0x5c);
const ALERTS: RGBColor = RGBColor(0x5d, 0xad, 0xec);
/// The trend's lines.
pub(crate) const TREND: RGBColor = RGBColor(0xeb, 0x45, 0x9e);

#[derive(Debug, thiserror::Error)]
#[error("cannot draw the chart: {0}")]
pub struct ChartError(String);

fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a font shipped with the source; a failure here is a build mistake.
        if register_font(FONT, FontStyle::Normal, FONT_BYTES).is_err() {
            tracing::error!("the embedded chart font is not a valid font");
        }
    });
}

/// The chart of `summary` as PNG bytes, `WIDTH` × `HEIGHT`.
pub fn render_png(summary: &Summary) -> Result<Vec<u8>, ChartError> {
    register();
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    draw(summary, &mut rgb).map_err(|e| ChartError(e.to_string()))?;
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, WIDTH, HEIGHT);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| ChartError(e.to_string()))?;
        writer
            .write_image_data(&rgb)
            .map_err(|e| ChartError(e.to_string()))?;
    }
    Ok(png_bytes)
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw(summary: &Summary, rgb: &mut [u8]) -> DrawResult {
    let whole = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    whole.fill(&BACKGROUND)?;
    let (root, trend_area) = whole.split_vertically(DAILY_HEIGHT);
    draw_trend(summary, &trend_area)?;
    let days = &summary.daily;
    let n = days.len().max(1);
    let top = days
        .iter()
        .map(|d| (d.succeeded + d.failed + d.rolled_back).max(d.alerts))
        .max()
        .unwrap_or(0)
        .max(1);
    let font = |size: f64| (FONT, size).into_font().color(&TEXT);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "Deploys and alerts per day, {} – {}",
                summary.period.from, summary.period.to
            ),
            font(20.0),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(0f64..n as f64, 0f64..(top as f64 * 1.15).ceil())?;
    let labels: Vec<String> = days
        .iter()
        .map(|d| {
            if n <= 7 {
                d.date.format("%a %d").to_string()
            } else {
                d.date.format("%d").to_string()
            }
        })
        .collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(GRID)
        .axis_style(TEXT)
        .label_style(font(13.0))
        .x_labels(0)
        .y_labels(8)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    // Day names under the middle of each bar (plotters' own x labels fall between days).
    let step = if n <= 10 { 1 } else { 3 };
    for (i, label) in labels.iter().enumerate().step_by(step) {
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        root.draw(&Text::new(
            label.clone(),
            (x, y + 6),
            font(13.0).pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
    }

    let mut bars = Vec::new();
    for (i, d) in days.iter().enumerate() {
        let (x0, x1) = (i as f64 + 0.15, i as f64 + 0.85);
        let mut base = 0.0;
        for (count, colour) in [
            (d.succeeded, SUCCEEDED),
            (d.failed, FAILED),
            (d.rolled_back, ROLLED_BACK),
        ] {
            if count > 0 {
                let top = base + count as f64;
                bars.push(Rectangle::new([(x0, base), (x1, top)], colour.filled()));
                base = top;
            }
        }
    }
    chart.draw_series(bars)?;
    let legend = [
        ("succeeded", SUCCEEDED),
        ("failed", FAILED),
        ("rolled back", ROLLED_BACK),
    ];
    for (name, colour) in legend {
        chart
            .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    let alerts_known = days.iter().any(|d| d.alerts > 0);
    if alerts_known {
        chart
            .draw_series(LineSeries::new(
                days.iter()
                    .enumerate()
                    .map(|(i, d)| (i as f64 + 0.5, d.alerts as f64)),
                ALERTS.stroke_width(3),
            ))?
            .label("alerts")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], ALERTS.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .background_style(BACKGROUND.mix(0.9))
        .border_style(GRID)
        .label_font(font(13.0))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    whole.present()?;
    Ok(())
}

/// The four keys week by week, one small line chart each (a gap where a week has no value).
/// One small chart of the trend: its title, a value per week, how a value reads.
type TrendSeries = (&'static str, Vec<Option<f64>>, fn(f64) -> String);

fn draw_trend<DB: DrawingBackend>(
    summary: &Summary,
    area: &DrawingArea<DB, plotters::coord::Shift>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let weeks = &summary.trend;
    if weeks.is_empty() {
        return Ok(());
    }
    let font = |size: f64| (FONT, size).into_font().color(&TEXT);
    let series: [TrendSeries; 4] = [
        (
            "Deploys/day",
            weeks.iter().map(|w| Some(w.deployment_frequency)).collect(),
            |v| format!("{v:.1}"),
        ),
        (
            "Lead time (h)",
            weeks
                .iter()
                .map(|w| w.lead_time_median.map(|s| s / 3600.0))
                .collect(),
            |v| format!("{v:.1}"),
        ),
        (
            "Change failure %",
            weeks.iter().map(|w| w.change_failure_rate).collect(),
            |v| format!("{v:.0}"),
        ),
        (
            "Restore (h)",
            weeks
                .iter()
                .map(|w| w.time_to_restore_median.map(|s| s / 3600.0))
                .collect(),
            |v| format!("{v:.1}"),
        ),
    ];
    let n = weeks.len();
    for ((name, values, label), panel) in series.iter().zip(area.split_evenly((1, 4))) {
        let top = values.iter().flatten().fold(0.0f64, |a, b| a.max(*b));
        let top = if top > 0.0 { top * 1.15 } else { 1.0 };
        let mut chart = ChartBuilder::on(&panel)
            .caption(format!("{name}, {n} weeks"), font(14.0))
            .margin(8)
            .x_label_area_size(6)
            .y_label_area_size(34)
            .build_cartesian_2d(0f64..n.max(2) as f64 - 1.0, 0f64..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(GRID)
            .axis_style(TEXT)
            .label_style(font(11.0))
            .x_labels(0)
            .y_labels(4)
            .y_label_formatter(&|y| label(*y))
            .draw()?;
        // Consecutive known weeks are joined; a week without a value breaks the line.
        let mut run: Vec<(f64, f64)> = Vec::new();
        let mut runs = Vec::new();
        for (i, value) in values.iter().enumerate() {
            match value {
                Some(v) => run.push((i as f64, *v)),
                None => runs.push(std::mem::take(&mut run)),
            }
        }
        runs.push(run);
        for run in runs.into_iter().filter(|r| !r.is_empty()) {
            chart.draw_series(run.iter().map(|p| Circle::new(*p, 3, TREND.filled())))?;
            chart.draw_series(LineSeries::new(run, TREND.stroke_width(2)))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::bands::Bands;
    use crate::domain::period::Period;
    use crate::domain::summary::Figures;
    use chrono::TimeZone;

    #[test]
    fn the_chart_is_a_png_of_the_expected_size_with_bars_in_it() {
        let period = Period::iso_week("2026-W47", chrono_tz::Tz::UTC).unwrap();
        let figures = Figures {
            daily: vec![
                (3, 1, 0, 2),
                (5, 0, 1, 0),
                (0, 0, 0, 4),
                (2, 2, 0, 1),
                (1, 0, 0, 0),
                (0, 0, 0, 0),
                (4, 0, 0, 0),
            ],
            ..Default::default()
        };
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let summary = Summary::build(
            &period,
            &figures,
            &Figures::default(),
            vec!["*/*".into()],
            &Bands::default(),
            now,
            vec![],
        );
        let mut summary = summary;
        summary.trend = crate::domain::trend::weeks_ending_with(&period, 12)
            .iter()
            .enumerate()
            .map(|(i, week)| {
                let figures = Figures {
                    production: crate::domain::summary::ProductionCounts {
                        deployed: 10 + i as i64,
                        change_failures: i as i64 % 3,
                        ..Default::default()
                    },
                    lead_time_median: (i != 4).then_some(3_600.0 * i as f64),
                    ..Default::default()
                };
                crate::domain::trend::TrendWeek::of(week, &figures, now)
            })
            .collect();
        let bytes = render_png(&summary).unwrap();
        if let Some(path) = std::env::var_os("LOOPBOT_CHART_OUT") {
            // To look at the chart: LOOPBOT_CHART_OUT=/tmp/chart.png cargo test --lib chart
            std::fs::write(path, &bytes).unwrap();
        }

        let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
        let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()]
            .chunks(3)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        let count = |c: RGBColor| pixels.iter().filter(|p| **p == [c.0, c.1, c.2]).count();
        // Mostly the dark background, with bars of each outcome and light text drawn on it.
        assert!(count(BACKGROUND) > pixels.len() / 2);
        assert!(count(SUCCEEDED) > 1_000, "succeeded bars");
        assert!(count(FAILED) > 100, "failed bars");
        assert!(count(ROLLED_BACK) > 100, "rolled back bars");
        // The trend's lines, below the per-day chart only.
        let trend_rows = |from: u32, to: u32| {
            pixels[(from * WIDTH) as usize..(to * WIDTH) as usize]
                .iter()
                .filter(|p| **p == [TREND.0, TREND.1, TREND.2])
                .count()
        };
        assert_eq!(trend_rows(0, DAILY_HEIGHT), 0);
        assert!(trend_rows(DAILY_HEIGHT, HEIGHT) > 300, "trend lines");
        let light_text = pixels
            .iter()
            .filter(|p| p.iter().all(|v| *v > 0xc0))
            .count();
        assert!(
            light_text > 200,
            "text from the embedded font: {light_text}"
        );
    }
}
