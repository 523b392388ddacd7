//! The DORA performance bands (elite, high, medium, low) for the four keys: one table of edges,
//! defaults from the DORA 2023 report, overridable from the configuration.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Band {
    Elite,
    High,
    Medium,
    Low,
}

impl Band {
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Elite => "elite",
            Band::High => "high",
            Band::Medium => "medium",
            Band::Low => "low",
        }
    }
}

/// The edges between elite|high, high|medium and medium|low for one key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edges {
    pub elite: f64,
    pub high: f64,
    pub medium: f64,
}

/// Band thresholds for the four keys. THE one table: defaults from the DORA 2023 Accelerate State
/// of DevOps report, overridable with `LOOPBOT_DORA_BANDS`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bands {
    /// Deploys per day; at or above an edge is that band (elite: at least daily, i.e. on demand).
    pub deployment_frequency: Edges,
    /// Seconds; below an edge is that band.
    pub lead_time: Edges,
    /// Percent; at or below an edge is that band.
    pub change_failure_rate: Edges,
    /// Seconds; below an edge is that band.
    pub time_to_restore: Edges,
}

const DAY: f64 = 86_400.0;

impl Default for Bands {
    fn default() -> Self {
        Self {
            // elite: on demand (≥ 1/day); high: ≥ weekly; medium: ≥ monthly; low: less often.
            deployment_frequency: Edges {
                elite: 1.0,
                high: 1.0 / 7.0,
                medium: 1.0 / 30.0,
            },
            // elite: < 1 day; high: < 1 week; medium: < 1 month; low: longer.
            lead_time: Edges {
                elite: DAY,
                high: 7.0 * DAY,
                medium: 30.0 * DAY,
            },
            // elite: ≤ 5 %; high: ≤ 10 %; medium: ≤ 15 %; low: more.
            change_failure_rate: Edges {
                elite: 5.0,
                high: 10.0,
                medium: 15.0,
            },
            // elite: < 1 hour; high: < 1 day; medium: < 1 week; low: longer.
            time_to_restore: Edges {
                elite: 3_600.0,
                high: DAY,
                medium: 7.0 * DAY,
            },
        }
    }
}

impl Bands {
    /// Parses overrides such as
    /// `deployment_frequency=1,0.15,0.03;lead_time=1d,7d,30d;change_failure_rate=5,10,15;time_to_restore=1h,1d,7d`.
    /// Keys left out keep the defaults. Durations take s, m, h or d.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut bands = Self::default();
        for item in raw.split(';').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, values) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?} is not key=a,b,c"))?;
            let duration = matches!(key.trim(), "lead_time" | "time_to_restore");
            let numbers = values
                .split(',')
                .map(|v| parse_edge(v.trim(), duration))
                .collect::<Result<Vec<f64>, String>>()?;
            let [elite, high, medium] = numbers[..] else {
                return Err(format!("{key} needs three edges (elite,high,medium)"));
            };
            let edges = Edges {
                elite,
                high,
                medium,
            };
            match key.trim() {
                "deployment_frequency" => bands.deployment_frequency = edges,
                "lead_time" => bands.lead_time = edges,
                "change_failure_rate" => bands.change_failure_rate = edges,
                "time_to_restore" => bands.time_to_restore = edges,
                other => return Err(format!("unknown key {other:?}")),
            }
        }
        Ok(bands)
    }

    pub fn deployment_frequency(&self, per_day: f64) -> Band {
        let e = self.deployment_frequency;
        if per_day >= e.elite {
            Band::Elite
        } else if per_day >= e.high {
            Band::High
        } else if per_day >= e.medium {
            Band::Medium
        } else {
            Band::Low
        }
    }

    fn below(e: Edges, v: f64) -> Band {
        if v < e.elite {
            Band::Elite
        } else if v < e.high {
            Band::High
        } else if v < e.medium {
            Band::Medium
        } else {
            Band::Low
        }
    }

    pub fn lead_time(&self, seconds: f64) -> Band {
        Self::below(self.lead_time, seconds)
    }

    pub fn time_to_restore(&self, seconds: f64) -> Band {
        Self::below(self.time_to_restore, seconds)
    }

    pub fn change_failure_rate(&self, percent: f64) -> Band {
        let e = self.change_failure_rate;
        if percent <= e.elite {
            Band::Elite
        } else if percent <= e.high {
            Band::High
        } else if percent <= e.medium {
            Band::Medium
        } else {
            Band::Low
        }
    }
}

fn parse_edge(raw: &str, duration: bool) -> Result<f64, String> {
    if !duration {
        return raw
            .parse::<f64>()
            .map_err(|_| format!("{raw:?} is not a number"));
    }
    let (number, unit) = raw.split_at(raw.find(|c: char| c.is_alphabetic()).unwrap_or(raw.len()));
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration like 1d"))?;
    let scale = match unit {
        "s" | "" => 1.0,
        "m" => 60.0,
        "h" => 3_600.0,
        "d" => DAY,
        _ => return Err(format!("{raw:?}: unit must be s, m, h or d")),
    };
    Ok(n * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_the_table_and_can_be_overridden() {
        let b = Bands::default();
        assert_eq!(b.deployment_frequency(1.0), Band::Elite);
        assert_eq!(b.deployment_frequency(0.2), Band::High);
        assert_eq!(b.deployment_frequency(0.05), Band::Medium);
        assert_eq!(b.deployment_frequency(0.01), Band::Low);
        assert_eq!(b.lead_time(3_600.0), Band::Elite);
        assert_eq!(b.lead_time(2.0 * DAY), Band::High);
        assert_eq!(b.change_failure_rate(5.0), Band::Elite);
        assert_eq!(b.change_failure_rate(25.0), Band::Low);
        assert_eq!(b.time_to_restore(1_800.0), Band::Elite);
        let o = Bands::parse("lead_time=1h,1d,7d; change_failure_rate=1,2,3").unwrap();
        assert_eq!(o.lead_time(2.0 * 3_600.0), Band::High);
        assert_eq!(o.change_failure_rate(2.5), Band::Medium);
        assert_eq!(o.deployment_frequency, b.deployment_frequency);
        assert!(Bands::parse("lead_time=1h,1d").is_err());
        assert!(Bands::parse("speed=1,2,3").is_err());
        assert!(Bands::parse("lead_time=1w,2w,3w").is_err());
    }
}
