//! Case clocks derived from the timeline: bypass and cross-clamp time. Derived, never stored, so
//! a correction to an event time corrects every clock.

use chrono::{DateTime, Duration, Utc};

use super::event::EventKind;

/// One interval clock (bypass or cross-clamp): time accumulated over closed intervals plus the
/// start of the open one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IntervalClock {
    pub running_since: Option<DateTime<Utc>>,
    pub closed_total: Duration,
    pub starts: u32,
}

impl IntervalClock {
    fn start(&mut self, at: DateTime<Utc>) {
        // A second "on" while running is a duplicate tap: the first start stands.
        if self.running_since.is_none() {
            self.running_since = Some(at);
            self.starts += 1;
        }
    }

    fn stop(&mut self, at: DateTime<Utc>) {
        if let Some(since) = self.running_since.take() {
            self.closed_total += (at - since).max(Duration::zero());
        }
    }

    pub fn is_running(&self) -> bool {
        self.running_since.is_some()
    }

    /// Total time, including the open interval up to `now`.
    pub fn elapsed(&self, now: DateTime<Utc>) -> Duration {
        self.closed_total
            + self
                .running_since
                .map(|s| (now - s).max(Duration::zero()))
                .unwrap_or_else(Duration::zero)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CaseClocks {
    pub bypass: IntervalClock,
    pub cross_clamp: IntervalClock,
    pub circ_arrest: IntervalClock,
    /// ECMO: time with the pump stopped.
    pub pump_stop: IntervalClock,
    /// ECMO: time on trial off.
    pub trial_off: IntervalClock,
}

impl CaseClocks {
    /// Fold events (any order) into clocks.
    pub fn from_events(events: impl IntoIterator<Item = (EventKind, DateTime<Utc>)>) -> Self {
        let mut evs: Vec<_> = events.into_iter().collect();
        evs.sort_by_key(|(_, at)| *at);
        let mut c = CaseClocks::default();
        for (kind, at) in evs {
            match kind {
                EventKind::BypassOn => c.bypass.start(at),
                EventKind::BypassOff => c.bypass.stop(at),
                EventKind::CrossClampOn => c.cross_clamp.start(at),
                EventKind::CrossClampOff => c.cross_clamp.stop(at),
                EventKind::CircArrestStart => c.circ_arrest.start(at),
                EventKind::CircArrestEnd => c.circ_arrest.stop(at),
                EventKind::PumpStop => c.pump_stop.start(at),
                EventKind::PumpRestart => c.pump_stop.stop(at),
                EventKind::TrialOffStart => c.trial_off.start(at),
                EventKind::TrialOffEnd => c.trial_off.stop(at),
                EventKind::CoolingStart
                | EventKind::RewarmingStart
                | EventKind::ClotsSeen
                | EventKind::Bleeding
                | EventKind::Decannulation => {}
            }
        }
        c
    }
}

/// "1:05:09" or "12:04" — a clock face for durations.
pub fn format_clock(d: Duration) -> String {
    let s = d.num_seconds().max(0);
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{sec:02}")
    } else {
        format!("{m:02}:{sec:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + min * 60, 0).unwrap()
    }

    #[test]
    fn bypass_and_clamp_accumulate_across_runs_and_ignore_duplicate_taps() {
        let c = CaseClocks::from_events([
            (EventKind::BypassOn, t(0)),
            (EventKind::CrossClampOn, t(10)),
            (EventKind::CrossClampOn, t(12)), // duplicate tap
            (EventKind::CrossClampOff, t(70)),
            (EventKind::BypassOff, t(90)),
            (EventKind::BypassOn, t(100)), // back on bypass
        ]);
        assert_eq!(c.cross_clamp.elapsed(t(200)), Duration::minutes(60));
        assert!(!c.cross_clamp.is_running());
        assert!(c.bypass.is_running());
        assert_eq!(c.bypass.starts, 2);
        assert_eq!(c.bypass.elapsed(t(110)), Duration::minutes(100));
    }

    #[test]
    fn event_order_in_input_does_not_matter_and_off_without_on_is_ignored() {
        let c = CaseClocks::from_events([
            (EventKind::BypassOff, t(30)),
            (EventKind::CrossClampOff, t(1)),
            (EventKind::BypassOn, t(0)),
        ]);
        assert_eq!(c.bypass.elapsed(t(99)), Duration::minutes(30));
        assert_eq!(c.cross_clamp.elapsed(t(99)), Duration::zero());
    }

    #[test]
    fn clock_faces() {
        assert_eq!(format_clock(Duration::seconds(59)), "00:59");
        assert_eq!(format_clock(Duration::seconds(3909)), "1:05:09");
    }
}
