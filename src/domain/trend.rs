//! The whole-case trend chart as geometry: one lane per parameter (its own scale, so MAP and a
//! temperature are both readable), the mean as a line, the min–max of each bucket as a shaded
//! envelope (an artefact spike shows as a spike, not as a shifted mean), the protocol's band as a
//! shaded strip, events as vertical markers. Pure and independent of Dioxus: the screen turns the
//! model into SVG, the benchmark measures it.
//!
//! Input is the store's bucketed trend (min/max/mean per bucket), so the cost depends on the
//! number of buckets drawn, not on the hours recorded.

use std::fmt::Write;

use chrono::{DateTime, Duration, Utc};

use super::protocol::Protocol;
use super::telemetry::Bucket;
use super::{EventKind, Parameter};

/// Chart width in SVG user units (the SVG scales to its box).
pub const WIDTH: f64 = 1000.0;
/// Height of one lane in user units.
pub const LANE_HEIGHT: f64 = 90.0;
/// Room for the lane's label and scale on the left.
pub const LEFT: f64 = 70.0;
/// Tap zones across the plot for reading exact values.
pub const TAP_ZONES: usize = 100;

/// Parameters drawn on the live screen's chart, top to bottom.
pub const PARAMETERS: [Parameter; 5] = [
    Parameter::PumpFlow,
    Parameter::MeanArterialPressure,
    Parameter::Do2i,
    Parameter::ArterialOutletTemp,
    Parameter::VenousInflowTemp,
];

/// Parameters drawn on an ECMO run's chart, top to bottom: the circuit, then the patient.
pub const ECMO_PARAMETERS: [Parameter; 6] = [
    Parameter::PumpFlow,
    Parameter::PumpSpeed,
    Parameter::PreOxygenatorPressure,
    Parameter::PostOxygenatorPressure,
    Parameter::DrainagePressure,
    Parameter::MeanArterialPressure,
];

/// The chart's parameters for a kind of support.
pub fn parameters_for(kind: super::CaseKind) -> &'static [Parameter] {
    use super::CaseKind::{EcmoVa, EcmoVv, Ecpr};
    match kind {
        EcmoVa | EcmoVv | Ecpr => &ECMO_PARAMETERS,
        _ => &PARAMETERS,
    }
}

/// The visible time span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zoom {
    WholeCase,
    /// A run of days or weeks: the last week, the last day.
    Last7Days,
    Last24Hours,
    LastHour,
    Last15Min,
}

impl Zoom {
    pub const ALL: [Zoom; 3] = [Zoom::WholeCase, Zoom::LastHour, Zoom::Last15Min];
    /// An ECMO run's spans: weeks long, read by the day.
    pub const ECMO: [Zoom; 5] = [
        Zoom::Last24Hours,
        Zoom::Last7Days,
        Zoom::WholeCase,
        Zoom::LastHour,
        Zoom::Last15Min,
    ];

    /// The spans offered for a kind of support, the first the default.
    pub fn for_kind(kind: super::CaseKind) -> &'static [Zoom] {
        use super::CaseKind::{EcmoVa, EcmoVv, Ecpr};
        match kind {
            EcmoVa | EcmoVv | Ecpr => &Self::ECMO,
            _ => &Self::ALL,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Zoom::WholeCase => "Whole case",
            Zoom::Last7Days => "7 days",
            Zoom::Last24Hours => "24 h",
            Zoom::LastHour => "Last hour",
            Zoom::Last15Min => "Last 15 min",
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Zoom::WholeCase => "case",
            Zoom::Last7Days => "7d",
            Zoom::Last24Hours => "24h",
            Zoom::LastHour => "1h",
            Zoom::Last15Min => "15m",
        }
    }

    /// The window for a case that started at `start`, at `now`.
    pub fn window(
        self,
        start: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        let from = match self {
            Zoom::WholeCase => start,
            Zoom::Last7Days => now - Duration::days(7),
            Zoom::Last24Hours => now - Duration::hours(24),
            Zoom::LastHour => now - Duration::hours(1),
            Zoom::Last15Min => now - Duration::minutes(15),
        };
        let from = from.min(now - Duration::minutes(1));
        (from, now)
    }
}

/// One parameter's lane.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    pub parameter: Parameter,
    /// Top of the lane in user units.
    pub top: f64,
    /// Scale shown, in display units (low, high).
    pub scale: (f64, f64),
    /// SVG path data of the mean line ("" when there is no data).
    pub mean_path: String,
    /// SVG path data of the min–max envelope (a closed polygon).
    pub envelope_path: String,
    /// The protocol's band as (y top, y bottom), clipped to the lane.
    pub band: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub x: f64,
    pub label: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChartModel {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub height: f64,
    pub lanes: Vec<Lane>,
    pub markers: Vec<Marker>,
    /// (x, "HH:MM") ticks along the bottom.
    pub ticks: Vec<(f64, String)>,
}

/// A scale that holds every value and the band, padded and rounded so it does not jitter.
fn scale(buckets: &[Bucket], p: Parameter, band: Option<(Option<f64>, Option<f64>)>) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for b in buckets.iter().filter(|b| b.n > 0) {
        lo = lo.min(p.to_display_unit(b.min));
        hi = hi.max(p.to_display_unit(b.max));
    }
    if let Some((l, h)) = band {
        for v in [l, h].into_iter().flatten() {
            lo = lo.min(p.to_display_unit(v));
            hi = hi.max(p.to_display_unit(v));
        }
    }
    if !lo.is_finite() || !hi.is_finite() {
        let (a, b) = p.plausible_range();
        return (p.to_display_unit(a), p.to_display_unit(b));
    }
    let span = (hi - lo).max(1.0);
    let step = 10f64.powf((span / 2.0).log10().floor());
    let lo = ((lo - span * 0.05) / step).floor() * step;
    let hi = ((hi + span * 0.05) / step).ceil() * step;
    (lo, hi)
}

/// Build the chart for `series` (per parameter, the store's buckets in time order) between
/// `from` and `to`.
pub fn chart(
    series: &[(Parameter, Vec<Bucket>)],
    events: &[(EventKind, DateTime<Utc>)],
    protocol: &Protocol,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> ChartModel {
    let span_ms = (to - from).num_milliseconds().max(1) as f64;
    let plot_w = WIDTH - LEFT;
    let x_of = |t: DateTime<Utc>| LEFT + plot_w * ((t - from).num_milliseconds() as f64 / span_ms);
    let mut lanes = Vec::with_capacity(series.len());
    for (i, (p, buckets)) in series.iter().enumerate() {
        let top = i as f64 * LANE_HEIGHT;
        let band = protocol.band(*p);
        let (lo, hi) = scale(buckets, *p, band);
        let pad = 6.0;
        let inner = LANE_HEIGHT - 2.0 * pad;
        let y_of = |v: f64| {
            let d = p.to_display_unit(v);
            top + pad + inner * (1.0 - ((d - lo) / (hi - lo)).clamp(0.0, 1.0))
        };
        let mut mean_path = String::with_capacity(buckets.len() * 16);
        let mut upper = String::with_capacity(buckets.len() * 16);
        let mut lower: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
        let mut prev_end: Option<DateTime<Utc>> = None;
        for b in buckets.iter().filter(|b| b.n > 0 && b.mean.is_finite()) {
            let mid = b.start + (b.end - b.start) / 2;
            let x = x_of(mid);
            // A gap longer than three buckets breaks the line: no value is invented across it.
            let width = b.end - b.start;
            let gap = prev_end.is_some_and(|e| b.start - e > width * 3);
            let cmd = if prev_end.is_none() || gap { 'M' } else { 'L' };
            let _ = write!(mean_path, "{cmd}{x:.1},{:.1}", y_of(b.mean));
            let _ = write!(
                upper,
                "{}{x:.1},{:.1}",
                if upper.is_empty() { 'M' } else { 'L' },
                y_of(b.max)
            );
            lower.push((x, y_of(b.min)));
            prev_end = Some(b.end);
        }
        let mut envelope_path = upper;
        if !envelope_path.is_empty() {
            for (x, y) in lower.iter().rev() {
                let _ = write!(envelope_path, "L{x:.1},{y:.1}");
            }
            envelope_path.push('Z');
        }
        let band = band.map(|(l, h)| {
            let y_top = h.map_or(top + pad, y_of);
            let y_bottom = l.map_or(top + pad + inner, y_of);
            (y_top, y_bottom)
        });
        lanes.push(Lane {
            parameter: *p,
            top,
            scale: (lo, hi),
            mean_path,
            envelope_path,
            band,
        });
    }
    let markers = events
        .iter()
        .filter(|(_, at)| *at >= from && *at <= to)
        .map(|(k, at)| Marker {
            x: x_of(*at),
            label: k.label(),
        })
        .collect();
    let tick_every = [1, 2, 5, 10, 15, 30, 60, 120, 240]
        .into_iter()
        .map(Duration::minutes)
        .find(|d| (to - from).num_seconds() / d.num_seconds().max(1) <= 8)
        .unwrap_or(Duration::hours(6));
    let mut ticks = Vec::new();
    let step = tick_every.num_seconds().max(60);
    let mut t = from.timestamp() / step * step + step;
    while t <= to.timestamp() {
        if let Some(at) = DateTime::from_timestamp(t, 0) {
            ticks.push((x_of(at), at.format("%H:%M").to_string()));
        }
        t += step;
    }
    ChartModel {
        from,
        to,
        height: LANE_HEIGHT * series.len() as f64,
        lanes,
        markers,
        ticks,
    }
}

/// The exact values at tap zone `zone` (of [`TAP_ZONES`]): per parameter, the bucket under the
/// finger as "min–max (mean)" in display units, or "no data".
pub fn values_at(
    series: &[(Parameter, Vec<Bucket>)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    zone: usize,
) -> (DateTime<Utc>, Vec<(Parameter, String)>) {
    let frac = (zone as f64 + 0.5) / TAP_ZONES as f64;
    let at = from + Duration::milliseconds(((to - from).num_milliseconds() as f64 * frac) as i64);
    let rows = series
        .iter()
        .map(|(p, buckets)| {
            let hit = buckets.iter().filter(|b| b.n > 0).min_by_key(|b| {
                (b.start + (b.end - b.start) / 2 - at)
                    .num_milliseconds()
                    .abs()
            });
            let text = match hit {
                Some(b)
                    if (b.start - at).num_seconds().abs() <= (to - from).num_seconds() / 50 + 5
                        || (b.start <= at && at <= b.end) =>
                {
                    if b.n == 1 || (b.max - b.min).abs() < f64::EPSILON {
                        format!("{} {}", p.format(b.mean), p.unit())
                    } else {
                        format!(
                            "{} {} (range {}–{})",
                            p.format(b.mean),
                            p.unit(),
                            p.format(b.min),
                            p.format(b.max)
                        )
                    }
                }
                _ => "no data".to_string(),
            };
            (*p, text)
        })
        .collect();
    (at, rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 8, 0, 0).unwrap() + Duration::seconds(s)
    }

    fn bucket(s: i64, len: i64, min: f64, max: f64, mean: f64) -> Bucket {
        Bucket {
            start: t(s),
            end: t(s + len),
            n: len as u64,
            min,
            max,
            mean,
        }
    }

    #[test]
    fn lines_envelopes_bands_and_markers_land_where_the_values_are() {
        let p = Protocol::defaults().unwrap();
        let map = vec![
            bucket(0, 60, 60.0, 70.0, 65.0),
            bucket(60, 60, 40.0, 50.0, 45.0),
            // a gap of 10 minutes
            bucket(720, 60, 60.0, 60.0, 60.0),
        ];
        let events = vec![
            (EventKind::BypassOn, t(30)),
            (EventKind::BypassOff, t(5000)),
        ];
        let m = chart(
            &[(Parameter::MeanArterialPressure, map)],
            &events,
            &p,
            t(0),
            t(780),
        );
        let lane = &m.lanes[0];
        assert!(
            lane.scale.0 <= 40.0 && lane.scale.1 >= 80.0,
            "{:?}",
            lane.scale
        );
        // Two M commands: the gap breaks the line.
        assert_eq!(lane.mean_path.matches('M').count(), 2, "{}", lane.mean_path);
        assert_eq!(lane.mean_path.matches('L').count(), 1);
        assert!(lane.envelope_path.ends_with('Z'));
        let (band_top, band_bottom) = lane.band.unwrap();
        assert!(band_top < band_bottom, "80 mmHg is drawn above 50 mmHg");
        // Only the marker inside the window, at 30/780 of the plot.
        assert_eq!(m.markers.len(), 1);
        let expected = LEFT + (WIDTH - LEFT) * 30.0 / 780.0;
        assert!((m.markers[0].x - expected).abs() < 0.01);
        assert!(!m.ticks.is_empty());
    }

    #[test]
    fn a_lane_without_data_draws_nothing_and_keeps_a_sane_scale() {
        let p = Protocol::defaults().unwrap();
        let m = chart(
            &[(Parameter::VenousSaturation, vec![])],
            &[],
            &p,
            t(0),
            t(600),
        );
        assert_eq!(m.lanes[0].mean_path, "");
        assert_eq!(m.lanes[0].envelope_path, "");
        let (lo, hi) = m.lanes[0].scale;
        assert!(lo.is_finite() && hi.is_finite() && lo < hi);
    }

    #[test]
    fn a_tap_reads_the_bucket_under_the_finger() {
        let series = vec![(
            Parameter::PumpFlow,
            (0..100)
                .map(|i| bucket(i * 6, 6, 4.0, 4.4, 4.2 + i as f64 / 1000.0))
                .collect(),
        )];
        let (at, rows) = values_at(&series, t(0), t(600), 50);
        assert_eq!(at, t(303));
        assert_eq!(rows[0].1, "4.25 L/min (range 4.00–4.40)");
        let (_, rows) = values_at(&[(Parameter::PumpFlow, vec![])], t(0), t(600), 10);
        assert_eq!(rows[0].1, "no data");
    }

    #[test]
    fn zoom_windows_end_now() {
        let (from, to) = Zoom::Last15Min.window(t(0), t(7200));
        assert_eq!((from, to), (t(7200 - 900), t(7200)));
        let (from, _) = Zoom::WholeCase.window(t(0), t(7200));
        assert_eq!(from, t(0));
        // A case that just started still gets a one-minute window.
        let (from, to) = Zoom::WholeCase.window(t(0), t(10));
        assert_eq!(to - from, Duration::minutes(1));
    }
}
