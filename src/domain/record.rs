//! Derived views of a case record. The record is a list of immutable entries; corrections,
//! retractions, artefact marks and amendments are entries too. Everything a screen or a report
//! shows is computed here from that list, so a correction corrects every view at once.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::bloodgas::Analyte;
use super::entry::{ArtefactTarget, Entry, EntryPayload, UltrafiltrationMode};
use super::{CaseClocks, EntryId, EventKind};

/// A clinical entry as it currently stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Effective<'a> {
    pub original: &'a Entry,
    /// The payload after the latest correction.
    pub payload: &'a EntryPayload,
    /// The correction entries applied, oldest first.
    pub corrections: Vec<&'a Entry>,
    /// Set when the entry was marked as artefact (with the mark's reason).
    pub artefact: Option<&'a str>,
}

impl Effective<'_> {
    pub fn occurred_at(&self) -> DateTime<Utc> {
        self.original.occurred_at
    }
}

/// The current view of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseView<'a> {
    /// Clinical entries in clinical-time order, corrections applied, retractions removed.
    pub entries: Vec<Effective<'a>>,
    /// Entries retracted as entered in error, with the retraction.
    pub retracted: Vec<(&'a Entry, &'a Entry)>,
    pub amendments: Vec<&'a Entry>,
    /// The protocol in force: (name, version) of the latest protocol entry.
    pub protocol: Option<(&'a str, &'a str)>,
    /// Telemetry ranges marked as artefact: (channel, from, to, reason).
    pub sample_artefacts: Vec<(&'a str, DateTime<Utc>, DateTime<Utc>, &'a str)>,
}

impl<'a> CaseView<'a> {
    /// Derive the view from a case's entries (any order).
    pub fn derive(entries: &'a [Entry]) -> Self {
        let mut by_seq: Vec<&Entry> = entries.iter().collect();
        by_seq.sort_by_key(|e| e.seq);
        let mut corrections: HashMap<EntryId, Vec<&Entry>> = HashMap::new();
        let mut retractions: HashMap<EntryId, &Entry> = HashMap::new();
        let mut artefacts: HashMap<EntryId, &str> = HashMap::new();
        let mut amendments = Vec::new();
        let mut sample_artefacts = Vec::new();
        let mut protocol = None;
        for e in &by_seq {
            match &e.payload {
                EntryPayload::Correction { target, .. } => {
                    corrections.entry(*target).or_default().push(e)
                }
                EntryPayload::Retraction { target, .. } => {
                    retractions.entry(*target).or_insert(e);
                }
                EntryPayload::ArtefactMark { target, reason } => match target {
                    ArtefactTarget::Entry(id) => {
                        artefacts.insert(*id, reason.as_str());
                    }
                    ArtefactTarget::Samples { channel, from, to } => {
                        sample_artefacts.push((channel.as_str(), *from, *to, reason.as_str()))
                    }
                },
                EntryPayload::Amendment { .. } => amendments.push(*e),
                EntryPayload::Protocol { name, version } => {
                    protocol = Some((name.as_str(), version.as_str()))
                }
                _ => {}
            }
        }
        let mut view = CaseView {
            entries: Vec::new(),
            retracted: Vec::new(),
            amendments,
            protocol,
            sample_artefacts,
        };
        for e in by_seq.into_iter().filter(|e| e.payload.is_clinical()) {
            if let Some(r) = retractions.get(&e.id) {
                view.retracted.push((e, r));
                continue;
            }
            let corr = corrections.remove(&e.id).unwrap_or_default();
            let payload = match corr.last().map(|c| &c.payload) {
                Some(EntryPayload::Correction { replacement, .. }) => replacement.as_ref(),
                _ => &e.payload,
            };
            view.entries.push(Effective {
                original: e,
                payload,
                corrections: corr,
                artefact: artefacts.get(&e.id).copied(),
            });
        }
        view.entries
            .sort_by_key(|e| (e.original.occurred_at, e.original.seq));
        view
    }

    /// Bypass, cross-clamp and circulatory-arrest clocks.
    /// Where the patient is now: the newest location entry (unit, bed), as people write it.
    pub fn location(&self) -> Option<String> {
        self.entries.iter().rev().find_map(|e| match e.payload {
            EntryPayload::Location { unit, bed } => Some(if bed.trim().is_empty() {
                unit.trim().to_string()
            } else {
                format!("{}, bed {}", unit.trim(), bed.trim())
            }),
            _ => None,
        })
    }

    pub fn clocks(&self) -> CaseClocks {
        CaseClocks::from_events(self.events())
    }

    pub fn events(&self) -> impl Iterator<Item = (EventKind, DateTime<Utc>)> + '_ {
        self.entries.iter().filter_map(|e| match e.payload {
            EntryPayload::Event { event } => Some((*event, e.occurred_at())),
            _ => None,
        })
    }

    /// Fluid balance over the case (PERForm family definition, clinical.md 2.11).
    pub fn fluid_balance(&self) -> FluidBalance {
        let mut b = FluidBalance::default();
        for e in &self.entries {
            let ml = |d: &super::Decimal| d.to_f64();
            match e.payload {
                EntryPayload::Prime { components } => {
                    b.prime_ml += components.iter().map(|c| ml(&c.volume_ml)).sum::<f64>()
                }
                EntryPayload::Cardioplegia(d) => {
                    b.cardioplegia_crystalloid_ml += ml(&d.crystalloid_ml)
                }
                EntryPayload::CellSaverReturned { volume_ml } => {
                    b.cell_saver_returned_ml += ml(volume_ml)
                }
                EntryPayload::Fluid { volume_ml, .. } => b.other_fluids_ml += ml(volume_ml),
                EntryPayload::Drug {
                    volume_ml: Some(v), ..
                } => b.medication_ml += ml(v),
                EntryPayload::BloodProduct { volume_ml, .. } => {
                    b.blood_products_ml += ml(volume_ml)
                }
                EntryPayload::ResidualVolume { volume_ml } => b.residual_ml += ml(volume_ml),
                EntryPayload::CellSaverCollected { volume_ml } => {
                    b.cell_saver_collected_ml += ml(volume_ml)
                }
                EntryPayload::Urine { volume_ml } => b.urine_ml += ml(volume_ml),
                EntryPayload::Ultrafiltration { mode, volume_ml } => match mode {
                    UltrafiltrationMode::Modified => b.muf_ml += ml(volume_ml),
                    _ => b.uf_ml += ml(volume_ml),
                },
                _ => {}
            }
        }
        b
    }

    /// Lowest and highest value of a blood-gas analyte (canonical unit), with when and which
    /// entry; artefact-marked panels do not count.
    pub fn analyte_extremes(&self, a: Analyte) -> Option<Extremes> {
        let mut ex: Option<Extremes> = None;
        for e in self.entries.iter().filter(|e| e.artefact.is_none()) {
            if let EntryPayload::BloodGas(panel) = e.payload {
                if let Some(v) = panel.canonical(a) {
                    let point = ExtremePoint {
                        value: v,
                        at: e.occurred_at(),
                        entry: e.original.id,
                    };
                    ex = Some(match ex {
                        None => Extremes {
                            nadir: point,
                            peak: point,
                        },
                        Some(mut x) => {
                            if v < x.nadir.value {
                                x.nadir = point;
                            }
                            if v > x.peak.value {
                                x.peak = point;
                            }
                            x
                        }
                    });
                }
            }
        }
        ex
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExtremePoint {
    pub value: f64,
    pub at: DateTime<Utc>,
    pub entry: EntryId,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Extremes {
    pub nadir: ExtremePoint,
    pub peak: ExtremePoint,
}

/// Fluid balance in mL: in − out.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FluidBalance {
    pub prime_ml: f64,
    pub cardioplegia_crystalloid_ml: f64,
    pub cell_saver_returned_ml: f64,
    pub other_fluids_ml: f64,
    pub medication_ml: f64,
    pub blood_products_ml: f64,
    pub residual_ml: f64,
    pub cell_saver_collected_ml: f64,
    pub urine_ml: f64,
    pub muf_ml: f64,
    pub uf_ml: f64,
}

impl FluidBalance {
    pub fn total_in(&self) -> f64 {
        self.prime_ml
            + self.cardioplegia_crystalloid_ml
            + self.cell_saver_returned_ml
            + self.other_fluids_ml
            + self.medication_ml
            + self.blood_products_ml
    }

    pub fn total_out(&self) -> f64 {
        self.residual_ml + self.cell_saver_collected_ml + self.urine_ml + self.muf_ml + self.uf_ml
    }

    pub fn net(&self) -> f64 {
        self.total_in() - self.total_out()
    }
}
