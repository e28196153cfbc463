//! Time and area below a threshold, and live goal-directed-perfusion values (clinical.md 2.5).
//!
//! Convention: samples (tᵢ, vᵢ) in time order; sample i stands for [tᵢ, tᵢ₊₁); the last
//! sample contributes nothing; an interval longer than `max_gap` is not counted and is reported
//! as a gap. Area = Σ max(0, T − vᵢ) · Δt in (unit · min); time below = Σ Δt over vᵢ < T.

use chrono::{DateTime, Duration, Utc};

use super::{check, fraction, oxygen, CalcError, Calculated, OxygenConstants};

#[derive(Debug, Clone, PartialEq)]
pub struct BelowThreshold {
    pub threshold: f64,
    pub time_below: Duration,
    /// (unit · min), e.g. mL/min/m² · min for DO2i.
    pub area: f64,
    /// Time covered by counted intervals.
    pub covered: Duration,
    /// Intervals not counted because samples were too far apart.
    pub gaps: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// Lowest sample and when.
    pub nadir: Option<(f64, DateTime<Utc>)>,
}

/// Time and area below `threshold`. Samples must be in time order and finite.
pub fn below_threshold(
    samples: &[(DateTime<Utc>, f64)],
    threshold: f64,
    max_gap: Duration,
) -> Result<BelowThreshold, CalcError> {
    check("threshold", threshold, -1e6, 1e6, "")?;
    if max_gap <= Duration::zero() {
        return Err(CalcError::Undefined(
            "the gap limit must be positive".into(),
        ));
    }
    let mut r = BelowThreshold {
        threshold,
        time_below: Duration::zero(),
        area: 0.0,
        covered: Duration::zero(),
        gaps: Vec::new(),
        nadir: None,
    };
    for (i, (t, v)) in samples.iter().enumerate() {
        if !v.is_finite() {
            return Err(CalcError::NotFinite {
                input: "sample value",
            });
        }
        if r.nadir.is_none_or(|(n, _)| *v < n) {
            r.nadir = Some((*v, *t));
        }
        let Some((next, _)) = samples.get(i + 1) else {
            break;
        };
        let dt = *next - *t;
        if dt < Duration::zero() {
            return Err(CalcError::Undefined(format!(
                "samples out of time order at {}",
                next.to_rfc3339()
            )));
        }
        if dt > max_gap {
            r.gaps.push((*t, *next));
            continue;
        }
        r.covered += dt;
        if *v < threshold {
            r.time_below += dt;
            r.area += (threshold - v) * dt.num_milliseconds() as f64 / 60_000.0;
        }
    }
    Ok(r)
}

/// A value with the time it was measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latest {
    pub value: f64,
    pub at: DateTime<Utc>,
}

/// The inputs of a live DO2i: the latest valid value of each, whatever its source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GdpInputs {
    pub pump_flow_l_min: Option<Latest>,
    /// Hb in g/dL; when absent, Hct / 3 (g/dL per % Hct, the usual bedside rule) is used.
    pub hb_g_dl: Option<Latest>,
    pub hct: Option<Latest>,
    pub sao2: Option<Latest>,
    pub pao2_mmhg: Option<Latest>,
}

/// A live DO2i with the age of its oldest input.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveDo2i {
    pub do2i: Calculated,
    pub cao2: Calculated,
    pub oldest_input: Duration,
    pub hb_from_hct: bool,
}

/// DO2i now, from the latest flow, Hb (or Hct), SaO2 and PaO2. `None` names what is missing.
pub fn live_do2i(
    inputs: &GdpInputs,
    bsa_m2: f64,
    constants: OxygenConstants,
    now: DateTime<Utc>,
) -> Result<LiveDo2i, CalcError> {
    let missing = |what: &str| CalcError::Undefined(format!("no valid {what} yet"));
    let flow = inputs.pump_flow_l_min.ok_or_else(|| missing("pump flow"))?;
    let sao2 = inputs.sao2.ok_or_else(|| missing("SaO2"))?;
    let pao2 = inputs.pao2_mmhg.ok_or_else(|| missing("PaO2"))?;
    let (hb, hb_from_hct) = match (inputs.hb_g_dl, inputs.hct) {
        (Some(hb), _) => (hb, false),
        (None, Some(hct)) => (
            Latest {
                value: fraction("hct", hct.value)? * 100.0 / 3.0,
                at: hct.at,
            },
            true,
        ),
        (None, None) => return Err(missing("Hb or Hct")),
    };
    let bsa = check("bsa", bsa_m2, 0.05, 4.0, "m²")?;
    let cao2 = oxygen::o2_content(constants, hb.value, sao2.value, pao2.value)?;
    let qi = flow.value / bsa;
    let do2i = oxygen::do2i(cao2.value, qi)?.input("BSA", bsa, "m²");
    let oldest = [flow.at, hb.at, sao2.at, pao2.at]
        .into_iter()
        .min()
        .map(|t| (now - t).max(Duration::zero()))
        .unwrap_or_else(Duration::zero);
    Ok(LiveDo2i {
        do2i,
        cao2,
        oldest_input: oldest,
        hb_from_hct,
    })
}

#[cfg(test)]
mod tests {
    use super::super::close;
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn the_worked_example_gives_area_33_3_and_80_s_below() {
        let vals = [310.0, 290.0, 270.0, 260.0, 280.0, 300.0];
        let s: Vec<_> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| (at(20 * i as i64), *v))
            .collect();
        let r = below_threshold(&s, 300.0, Duration::seconds(100)).unwrap();
        assert!(close(r.area, 33.3, 0.05), "{}", r.area);
        assert_eq!(r.time_below, Duration::seconds(80));
        assert_eq!(r.covered, Duration::seconds(100));
        assert_eq!(r.nadir, Some((260.0, at(60))));
        assert!(r.gaps.is_empty());
    }

    #[test]
    fn gaps_are_reported_not_counted_and_irregular_sampling_is_weighted_by_time() {
        // 250 for 10 s, then a 10-minute silence, then 290 for 50 s, 260 for 5 s, end at 320.
        let s = vec![
            (at(0), 250.0),
            (at(10), 250.0),
            (at(610), 290.0),
            (at(660), 260.0),
            (at(665), 320.0),
        ];
        let r = below_threshold(&s, 280.0, Duration::seconds(60)).unwrap();
        assert_eq!(r.gaps, vec![(at(10), at(610))]);
        assert_eq!(r.time_below, Duration::seconds(15));
        assert!(close(r.area, (30.0 * 10.0 + 20.0 * 5.0) / 60.0, 1e-9));
        assert_eq!(r.covered, Duration::seconds(65));
        let backwards = vec![(at(10), 1.0), (at(5), 1.0)];
        assert!(below_threshold(&backwards, 2.0, Duration::seconds(60)).is_err());
        assert!(below_threshold(&[(at(0), f64::NAN)], 2.0, Duration::seconds(60)).is_err());
        assert_eq!(
            below_threshold(&[], 2.0, Duration::seconds(60))
                .unwrap()
                .time_below,
            Duration::zero()
        );
    }

    #[test]
    fn live_do2i_uses_latest_inputs_and_reports_their_age() {
        let now = at(600);
        let inputs = GdpInputs {
            pump_flow_l_min: Some(Latest {
                value: 4.6944,
                at: at(599),
            }),
            hb_g_dl: Some(Latest {
                value: 8.5,
                at: at(0),
            }),
            hct: None,
            sao2: Some(Latest {
                value: 0.99,
                at: at(0),
            }),
            pao2_mmhg: Some(Latest {
                value: 250.0,
                at: at(0),
            }),
        };
        let r = live_do2i(&inputs, 1.956, OxygenConstants::default(), now).unwrap();
        assert!(close(r.do2i.value, 288.6, 0.5), "{}", r.do2i.value);
        assert_eq!(r.oldest_input, Duration::seconds(600));
        assert!(!r.hb_from_hct);
        let no_flow = GdpInputs {
            pump_flow_l_min: None,
            ..inputs
        };
        assert!(live_do2i(&no_flow, 1.956, OxygenConstants::default(), now)
            .unwrap_err()
            .to_string()
            .contains("pump flow"));
        let from_hct = GdpInputs {
            hb_g_dl: None,
            hct: Some(Latest {
                value: 0.255,
                at: at(0),
            }),
            ..inputs
        };
        let r = live_do2i(&from_hct, 1.956, OxygenConstants::default(), now).unwrap();
        assert!(r.hb_from_hct && close(r.cao2.value, 12.026, 0.001));
    }
}
