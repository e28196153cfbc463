//! Goal-directed perfusion over a case: DO2i at every pump-flow sample on bypass, using the
//! latest valid blood gas at that moment (clinical.md 2.5), then time and area below the
//! protocol's threshold with gaps reported, and the nadir.

use chrono::{DateTime, Duration, Utc};

use super::bloodgas::{Analyte, SampleSite};
use super::calc::threshold::{below_threshold, BelowThreshold, GdpInputs, Latest};
use super::calc::{oxygen, CalcError, OxygenConstants};
use super::entry::EntryPayload;
use super::quality::bypass_intervals;
use super::record::CaseView;
use super::{LiveSnapshot, Parameter};

/// Arterial oxygen inputs from one blood gas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArterialGas {
    pub at: DateTime<Utc>,
    pub hb_g_dl: f64,
    pub sao2: f64,
    pub pao2: f64,
}

/// The newest arterial gas of the case (derived once per change of the record).
pub fn newest_arterial_gas(view: &CaseView<'_>) -> Option<ArterialGas> {
    arterial_gases(view).last().copied()
}

/// Arterial gases (patient artery or post-oxygenator) with Hb (or Hct), SO2 and PO2, in time
/// order; artefact-marked panels left out.
fn arterial_gases(view: &CaseView<'_>) -> Vec<ArterialGas> {
    view.entries
        .iter()
        .filter(|e| e.artefact.is_none())
        .filter_map(|e| match e.payload {
            EntryPayload::BloodGas(p)
                if matches!(
                    p.site,
                    SampleSite::PatientArtery | SampleSite::PostOxygenator
                ) =>
            {
                let hb = p
                    .canonical(Analyte::Hb)
                    .or_else(|| p.canonical(Analyte::Hct).map(|hct| hct / 3.0))?;
                Some(ArterialGas {
                    at: e.occurred_at(),
                    hb_g_dl: hb,
                    sao2: p.canonical(Analyte::So2)? / 100.0,
                    pao2: p.canonical(Analyte::Po2)?,
                })
            }
            _ => None,
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
pub struct GdpReport {
    pub threshold: f64,
    /// DO2i (mL/min/m²) at each flow sample on bypass that had a blood gas before it.
    pub series: Vec<(DateTime<Utc>, f64)>,
    pub below: BelowThreshold,
    /// Flow samples on bypass left out because no blood gas had been taken yet.
    pub without_gas: usize,
}

/// The inputs of a live DO2i at `now`, given the newest arterial gas (`newest_arterial_gas`,
/// found once per change of the record): pump flow from the live values (a device), not older than
/// `flow_stale_after`; SaO2, PaO2 and Hb (or Hct) from the newest arterial blood gas; an
/// in-line haematocrit (the CDI's) replaces the gas's Hb when it is newer. Inputs that are not
/// there stay `None`, and `live_do2i` names them.
pub fn live_inputs(
    gas: Option<ArterialGas>,
    live: &LiveSnapshot,
    now: DateTime<Utc>,
    flow_stale_after: Duration,
) -> GdpInputs {
    let counted = |p: Parameter| {
        live.latest(p)
            .filter(|s| s.validity.counts() && s.value.is_finite())
            .map(|s| Latest {
                value: s.value,
                at: s.at,
            })
    };
    let pump_flow_l_min = counted(Parameter::PumpFlow).filter(|f| now - f.at <= flow_stale_after);
    let inline_hct = counted(Parameter::Haematocrit);
    let (hb_g_dl, hct) = match (gas, inline_hct) {
        (Some(g), Some(h)) if h.at > g.at => (None, Some(h)),
        (Some(g), _) => (
            Some(Latest {
                value: g.hb_g_dl,
                at: g.at,
            }),
            None,
        ),
        (None, h) => (None, h),
    };
    GdpInputs {
        pump_flow_l_min,
        hb_g_dl,
        hct,
        sao2: gas.map(|g| Latest {
            value: g.sao2,
            at: g.at,
        }),
        pao2_mmhg: gas.map(|g| Latest {
            value: g.pao2,
            at: g.at,
        }),
    }
}

/// DO2i over the case from pump-flow samples (L/min, in time order) and the case's gases.
pub fn do2i_over_case(
    view: &CaseView<'_>,
    flow: &[(DateTime<Utc>, f64)],
    bsa_m2: f64,
    constants: OxygenConstants,
    threshold: f64,
    max_gap: Duration,
    now: DateTime<Utc>,
) -> Result<GdpReport, CalcError> {
    let gases = arterial_gases(view);
    let bypass = bypass_intervals(view, now);
    let mut series = Vec::new();
    let mut without_gas = 0;
    let mut g = 0usize;
    for &(t, q) in flow {
        if !bypass.iter().any(|(a, b)| t >= *a && t <= *b) {
            continue;
        }
        while g < gases.len() && gases[g].at <= t {
            g += 1;
        }
        let Some(gas) = g.checked_sub(1).map(|i| gases[i]) else {
            without_gas += 1;
            continue;
        };
        let ca = oxygen::o2_content(constants, gas.hb_g_dl, gas.sao2, gas.pao2)?;
        let d = oxygen::do2i(ca.value, q / bsa_m2)?;
        series.push((t, d.value));
    }
    let below = below_threshold(&series, threshold, max_gap)?;
    Ok(GdpReport {
        threshold,
        series,
        below,
        without_gas,
    })
}
