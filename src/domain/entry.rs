//! Timeline entries: everything a perfusionist records on a case, plus the entries that correct,
//! retract, mark or amend earlier ones. Entries are never changed once written; what a screen
//! shows is derived (see `record.rs`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::advisory::AdvisoryAction;
use super::bloodgas::BloodGasPanel;
use super::checklist::{Answer, Purpose};
use super::validation::{check_range, check_text, ValidationError};
use super::{Author, CaseId, CaseStatus, Decimal, EntryId, EventKind, Parameter};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardioplegiaRoute {
    Antegrade,
    Retrograde,
    Ostial,
    Graft,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardioplegiaDose {
    /// Solution or protocol ("del Nido", "Buckberg 4:1", "Custodiol").
    pub solution: String,
    pub volume_ml: Decimal,
    /// The crystalloid part of the volume (counts in fluid balance; the blood part does not).
    pub crystalloid_ml: Decimal,
    pub route: CardioplegiaRoute,
    pub temperature_c: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FluidKind {
    Crystalloid,
    Colloid,
    Albumin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BloodProductKind {
    RedCells,
    Plasma,
    Platelets,
    Cryoprecipitate,
    WholeBlood,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UltrafiltrationMode {
    Conventional,
    ZeroBalance,
    Modified,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    Oxygenator,
    TubingPack,
    ArterialCannula,
    VenousCannula,
    CardioplegiaCannula,
    VentCannula,
    Hemofilter,
    CardioplegiaSet,
    ArterialFilter,
    Other,
}

/// Where an ECMO cannula sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CannulaSite {
    RightFemoralVein,
    LeftFemoralVein,
    RightInternalJugular,
    /// A dual-lumen cannula in the right internal jugular (drainage and return in one).
    DualLumenJugular,
    RightFemoralArtery,
    LeftFemoralArtery,
    RightAxillaryArtery,
    /// Central cannulation: the aorta (return) or the right atrium (drainage).
    Aorta,
    RightAtrium,
}

impl CannulaSite {
    pub const ALL: [CannulaSite; 9] = [
        CannulaSite::RightFemoralVein,
        CannulaSite::LeftFemoralVein,
        CannulaSite::RightInternalJugular,
        CannulaSite::DualLumenJugular,
        CannulaSite::RightFemoralArtery,
        CannulaSite::LeftFemoralArtery,
        CannulaSite::RightAxillaryArtery,
        CannulaSite::Aorta,
        CannulaSite::RightAtrium,
    ];

    pub fn code(self) -> &'static str {
        match self {
            CannulaSite::RightFemoralVein => "right_femoral_vein",
            CannulaSite::LeftFemoralVein => "left_femoral_vein",
            CannulaSite::RightInternalJugular => "right_internal_jugular",
            CannulaSite::DualLumenJugular => "dual_lumen_jugular",
            CannulaSite::RightFemoralArtery => "right_femoral_artery",
            CannulaSite::LeftFemoralArtery => "left_femoral_artery",
            CannulaSite::RightAxillaryArtery => "right_axillary_artery",
            CannulaSite::Aorta => "aorta",
            CannulaSite::RightAtrium => "right_atrium",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CannulaSite::RightFemoralVein => "right femoral vein",
            CannulaSite::LeftFemoralVein => "left femoral vein",
            CannulaSite::RightInternalJugular => "right internal jugular vein",
            CannulaSite::DualLumenJugular => "dual-lumen, right internal jugular",
            CannulaSite::RightFemoralArtery => "right femoral artery",
            CannulaSite::LeftFemoralArtery => "left femoral artery",
            CannulaSite::RightAxillaryArtery => "right axillary artery",
            CannulaSite::Aorta => "aorta",
            CannulaSite::RightAtrium => "right atrium",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn is_femoral_artery(self) -> bool {
        matches!(
            self,
            CannulaSite::RightFemoralArtery | CannulaSite::LeftFemoralArtery
        )
    }
}

/// One disposable in the circuit, traceable by lot and UDI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CircuitComponent {
    pub kind: ComponentKind,
    pub manufacturer: String,
    pub model: String,
    pub lot: String,
    pub expiry: NaiveDate,
    /// Unique Device Identifier as scanned (GS1 or HIBCC string), when the package has one.
    pub udi: Option<String>,
    /// Size as labelled ("24 Fr", "3/8 in").
    pub size: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrimeComponent {
    pub name: String,
    pub volume_ml: Decimal,
}

/// What an artefact mark points at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArtefactTarget {
    /// A manual entry (a blood gas, a typed measurement).
    Entry(EntryId),
    /// Device samples of one channel in a time range (inclusive).
    Samples {
        channel: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

/// The content of an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EntryPayload {
    /// A lifecycle step (planned → setup → running → completed → signed).
    Status {
        status: CaseStatus,
    },
    /// The protocol settings (thresholds, constants) in force for the case from here on.
    Protocol {
        name: String,
        version: String,
    },
    Event {
        event: EventKind,
    },
    Cardioplegia(CardioplegiaDose),
    Heparin {
        units: Decimal,
    },
    Protamine {
        mg: Decimal,
    },
    Act {
        seconds: Decimal,
    },
    Drug {
        name: String,
        dose: Decimal,
        unit: String,
        /// Volume the drug added to the circuit, for fluid balance.
        volume_ml: Option<Decimal>,
    },
    Fluid {
        kind: FluidKind,
        name: String,
        volume_ml: Decimal,
    },
    BloodProduct {
        product: BloodProductKind,
        unit_numbers: Vec<String>,
        volume_ml: Decimal,
    },
    Ultrafiltration {
        mode: UltrafiltrationMode,
        volume_ml: Decimal,
    },
    CellSaverCollected {
        volume_ml: Decimal,
    },
    CellSaverReturned {
        volume_ml: Decimal,
    },
    Urine {
        volume_ml: Decimal,
    },
    /// Volume left in the circuit at the end (fluid balance "out").
    ResidualVolume {
        volume_ml: Decimal,
    },
    Note {
        text: String,
    },
    /// A handover note for whoever takes the run (or the patient) next: who and when are the
    /// entry's author and time; shown newest first on the run's screen.
    HandoverNote {
        text: String,
    },
    /// An ECMO team's range or rule for this run only (a key of the protocol's `[ecmo]`, e.g.
    /// `anti_xa_low`), with why; who and when are the entry's author and time. The newest
    /// entry of a key is in force for the run; a retraction returns it to the protocol's.
    EcmoRule {
        key: String,
        value: Decimal,
        why: String,
    },
    /// The cannulae of an ECMO run: where blood is drained and returned, and their sizes
    /// (French). A femoral arterial return makes the limb perfusion rules apply.
    Cannulation {
        drainage: CannulaSite,
        drainage_fr: Decimal,
        return_site: CannulaSite,
        return_fr: Decimal,
        /// A distal perfusion cannula for the cannulated leg.
        distal_perfusion: bool,
    },
    /// A part of a running circuit replaced (an oxygenator, the whole circuit, a pump head):
    /// the new part with its lot and expiry, and why. ΔP is compared with values after the
    /// newest oxygenator or circuit change only (`domain::ecmo`).
    CircuitChange {
        component: CircuitComponent,
        why: String,
    },
    /// Where the patient is (an ECMO run moves between units and beds): the newest is the
    /// case's location; the earlier ones stay as its history.
    Location {
        unit: String,
        /// Empty when the unit has no beds to name (an OR).
        bed: String,
    },
    BloodGas(BloodGasPanel),
    /// A value typed by hand for a parameter without a device.
    Measurement {
        parameter: Parameter,
        value: Decimal,
        unit: String,
    },
    Component(CircuitComponent),
    Prime {
        components: Vec<PrimeComponent>,
    },
    /// Replaces the content of `target`; the original stays in the record.
    Correction {
        target: EntryId,
        replacement: Box<EntryPayload>,
        reason: String,
    },
    /// `target` was entered in error; it stays in the record, marked.
    Retraction {
        target: EntryId,
        reason: String,
    },
    ArtefactMark {
        target: ArtefactTarget,
        reason: String,
    },
    /// A checklist run begins; the run is identified by this entry's id. `digest` pins the exact
    /// template file used.
    ChecklistStarted {
        template: String,
        version: String,
        digest: String,
        purpose: Purpose,
    },
    /// An answer to one item of run `run` (a later answer to the same item replaces it).
    ChecklistAnswer {
        run: EntryId,
        item: String,
        answer: Answer,
    },
    /// The run is complete and signed by the entry's author.
    ChecklistSigned {
        run: EntryId,
    },
    /// Going ahead without a completed checklist of `purpose`, with the reason.
    ChecklistOverride {
        purpose: Purpose,
        reason: String,
    },
    /// Starting bypass without adequate anticoagulation (heparin given and an ACT at the
    /// protocol's target), with the reason; covers the next bypass start only.
    AnticoagulationOverride {
        reason: String,
    },
    /// A device starts serving this case in `role` (its key from `DeviceIdentity::key`).
    DeviceAssociated {
        device_key: String,
        role: String,
    },
    /// The device stops serving this case.
    DeviceReleased {
        device_key: String,
    },
    /// A device serving this case lost its link (`connected` false, with why) or got it back;
    /// the gap it leaves in the telemetry is explained on the timeline.
    DeviceLink {
        device_key: String,
        connected: bool,
        reason: String,
    },
    /// What an advisory did (raised, cleared, acknowledged, snoozed): the record of what
    /// Pumpside showed and what the perfusionist did about it.
    Advisory {
        rule: String,
        action: AdvisoryAction,
        message: String,
        /// The value that raised or cleared it, in the parameter's internal unit.
        value: Option<Decimal>,
        /// Snoozed until.
        until: Option<DateTime<Utc>>,
    },
    /// Added after signing; may refer to an entry.
    Amendment {
        target: Option<EntryId>,
        text: String,
        reason: String,
    },
}

const MAX_VOLUME_ML: f64 = 20_000.0;

fn volume(field: &str, v: Decimal) -> Result<(), ValidationError> {
    check_range(field, v.to_f64(), v, 0.0, MAX_VOLUME_ML, "mL")?;
    if v.mantissa == 0 {
        return Err(ValidationError::out_of_range(
            field,
            format!("{v} mL"),
            format!("more than 0 up to {MAX_VOLUME_ML} mL"),
        ));
    }
    Ok(())
}

pub const DRUG_UNITS: [&str; 8] = ["mg", "mcg", "g", "[iU]", "mL", "mmol", "mEq", "ng"];

impl EntryPayload {
    /// Storage code of the entry kind.
    pub fn kind(&self) -> &'static str {
        match self {
            EntryPayload::Status { .. } => "status",
            EntryPayload::Protocol { .. } => "protocol",
            EntryPayload::Event { event } => event.code(),
            EntryPayload::Cardioplegia(_) => "cardioplegia",
            EntryPayload::Heparin { .. } => "heparin",
            EntryPayload::Protamine { .. } => "protamine",
            EntryPayload::Act { .. } => "act",
            EntryPayload::Drug { .. } => "drug",
            EntryPayload::Fluid { .. } => "fluid",
            EntryPayload::BloodProduct { .. } => "blood_product",
            EntryPayload::Ultrafiltration { .. } => "ultrafiltration",
            EntryPayload::CellSaverCollected { .. } => "cell_saver_collected",
            EntryPayload::CellSaverReturned { .. } => "cell_saver_returned",
            EntryPayload::Urine { .. } => "urine",
            EntryPayload::ResidualVolume { .. } => "residual_volume",
            EntryPayload::Note { .. } => "note",
            EntryPayload::HandoverNote { .. } => "handover_note",
            EntryPayload::EcmoRule { .. } => "ecmo_rule",
            EntryPayload::Location { .. } => "location",
            EntryPayload::CircuitChange { .. } => "circuit_change",
            EntryPayload::Cannulation { .. } => "cannulation",
            EntryPayload::BloodGas(_) => "blood_gas",
            EntryPayload::Measurement { .. } => "measurement",
            EntryPayload::Component(_) => "circuit_component",
            EntryPayload::Prime { .. } => "prime",
            EntryPayload::Correction { .. } => "correction",
            EntryPayload::Retraction { .. } => "retraction",
            EntryPayload::ArtefactMark { .. } => "artefact_mark",
            EntryPayload::Amendment { .. } => "amendment",
            EntryPayload::Advisory { .. } => "advisory",
            EntryPayload::ChecklistStarted { .. } => "checklist_started",
            EntryPayload::ChecklistAnswer { .. } => "checklist_answer",
            EntryPayload::ChecklistSigned { .. } => "checklist_signed",
            EntryPayload::ChecklistOverride { .. } => "checklist_override",
            EntryPayload::AnticoagulationOverride { .. } => "anticoagulation_override",
            EntryPayload::DeviceAssociated { .. } => "device_associated",
            EntryPayload::DeviceReleased { .. } => "device_released",
            EntryPayload::DeviceLink { .. } => "device_link",
        }
    }

    /// The entry this one refers to, if any.
    pub fn target(&self) -> Option<EntryId> {
        match self {
            EntryPayload::Correction { target, .. } | EntryPayload::Retraction { target, .. } => {
                Some(*target)
            }
            EntryPayload::ArtefactMark {
                target: ArtefactTarget::Entry(id),
                ..
            } => Some(*id),
            EntryPayload::Amendment { target, .. } => *target,
            EntryPayload::ChecklistAnswer { run, .. } | EntryPayload::ChecklistSigned { run } => {
                Some(*run)
            }
            _ => None,
        }
    }

    /// Physical plausibility and completeness of the content on its own.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            EntryPayload::Status { .. } | EntryPayload::Event { .. } => Ok(()),
            EntryPayload::Protocol { name, version } => {
                check_text("protocol.name", name, 200)?;
                check_text("protocol.version", version, 100)
            }
            EntryPayload::Cardioplegia(d) => {
                check_text("cardioplegia.solution", &d.solution, 100)?;
                check_range(
                    "cardioplegia.volume_ml",
                    d.volume_ml.to_f64(),
                    d.volume_ml,
                    1.0,
                    5000.0,
                    "mL",
                )?;
                check_range(
                    "cardioplegia.crystalloid_ml",
                    d.crystalloid_ml.to_f64(),
                    d.crystalloid_ml,
                    0.0,
                    d.volume_ml.to_f64(),
                    "mL",
                )?;
                check_range(
                    "cardioplegia.temperature_c",
                    d.temperature_c.to_f64(),
                    d.temperature_c,
                    0.0,
                    40.0,
                    "°C",
                )
            }
            EntryPayload::Heparin { units } => check_range(
                "heparin.units",
                units.to_f64(),
                units,
                1.0,
                200_000.0,
                "[iU]",
            ),
            EntryPayload::Protamine { mg } => {
                check_range("protamine.mg", mg.to_f64(), mg, 1.0, 2000.0, "mg")
            }
            EntryPayload::Act { seconds } => {
                check_range("act.seconds", seconds.to_f64(), seconds, 30.0, 1500.0, "s")
            }
            EntryPayload::Drug {
                name,
                dose,
                unit,
                volume_ml,
            } => {
                check_text("drug.name", name, 200)?;
                if !DRUG_UNITS.contains(&unit.as_str()) {
                    return Err(ValidationError::Unit {
                        field: "drug.unit".into(),
                        unit: unit.clone(),
                        allowed: DRUG_UNITS.join(", "),
                    });
                }
                if dose.to_f64() <= 0.0 || dose.to_f64() > 1e7 {
                    return Err(ValidationError::out_of_range(
                        "drug.dose",
                        format!("{dose} {unit}"),
                        format!("more than 0 {unit}"),
                    ));
                }
                match volume_ml {
                    Some(v) => volume("drug.volume_ml", *v),
                    None => Ok(()),
                }
            }
            EntryPayload::Fluid {
                name, volume_ml, ..
            } => {
                check_text("fluid.name", name, 200)?;
                volume("fluid.volume_ml", *volume_ml)
            }
            EntryPayload::BloodProduct {
                unit_numbers,
                volume_ml,
                ..
            } => {
                if unit_numbers.is_empty() {
                    return Err(ValidationError::missing("blood_product.unit_numbers"));
                }
                for (i, n) in unit_numbers.iter().enumerate() {
                    check_text(&format!("blood_product.unit_numbers[{i}]"), n, 64)?;
                }
                volume("blood_product.volume_ml", *volume_ml)
            }
            EntryPayload::Ultrafiltration { volume_ml, .. } => {
                volume("ultrafiltration.volume_ml", *volume_ml)
            }
            EntryPayload::CellSaverCollected { volume_ml } => {
                volume("cell_saver_collected.volume_ml", *volume_ml)
            }
            EntryPayload::CellSaverReturned { volume_ml } => {
                volume("cell_saver_returned.volume_ml", *volume_ml)
            }
            EntryPayload::Urine { volume_ml } => volume("urine.volume_ml", *volume_ml),
            EntryPayload::ResidualVolume { volume_ml } => {
                volume("residual_volume.volume_ml", *volume_ml)
            }
            EntryPayload::Note { text } => check_text("note.text", text, 10_000),
            EntryPayload::HandoverNote { text } => check_text("handover_note.text", text, 10_000),
            EntryPayload::EcmoRule { key, value, why } => {
                check_text("ecmo_rule.why", why, 2_000)?;
                if why.trim().is_empty() {
                    return Err(ValidationError::Invalid {
                        field: "ecmo_rule.why".into(),
                        value: String::new(),
                        allowed: "a reason (who asked for this run's range, and why)".into(),
                    });
                }
                let mut rules = super::ecmo::EcmoRules::default();
                rules
                    .set(key, value.to_f64())
                    .map_err(|allowed| ValidationError::Invalid {
                        field: format!("ecmo_rule.{key}"),
                        value: value.to_string(),
                        allowed,
                    })
            }
            EntryPayload::Location { unit, bed } => {
                check_text("location.unit", unit, 80)?;
                if bed.trim().is_empty() {
                    Ok(())
                } else {
                    check_text("location.bed", bed, 40)
                }
            }
            EntryPayload::BloodGas(p) => p.validate(),
            EntryPayload::Measurement {
                parameter,
                value,
                unit,
            } => parameter.check_manual(*value, unit),
            EntryPayload::Cannulation {
                drainage_fr,
                return_fr,
                ..
            } => {
                for (field, fr) in [
                    ("cannulation.drainage_fr", drainage_fr),
                    ("cannulation.return_fr", return_fr),
                ] {
                    let v = fr.to_f64();
                    if !(6.0..=34.0).contains(&v) {
                        return Err(ValidationError::out_of_range(
                            field,
                            format!("{fr} Fr"),
                            "6 to 34 Fr",
                        ));
                    }
                }
                Ok(())
            }
            EntryPayload::CircuitChange { component, why } => {
                check_text("circuit_change.why", why, 2_000)?;
                EntryPayload::Component(component.clone()).validate()
            }
            EntryPayload::Component(c) => {
                check_text("component.manufacturer", &c.manufacturer, 200)?;
                check_text("component.model", &c.model, 200)?;
                check_text("component.lot", &c.lot, 64)?;
                if let Some(udi) = &c.udi {
                    check_text("component.udi", udi, 200)?;
                }
                Ok(())
            }
            EntryPayload::Prime { components } => {
                if components.is_empty() {
                    return Err(ValidationError::missing("prime.components"));
                }
                for (i, p) in components.iter().enumerate() {
                    check_text(&format!("prime.components[{i}].name"), &p.name, 200)?;
                    volume(&format!("prime.components[{i}].volume_ml"), p.volume_ml)?;
                }
                Ok(())
            }
            EntryPayload::Correction {
                replacement,
                reason,
                ..
            } => {
                check_text("correction.reason", reason, 2000)?;
                if !replacement.is_clinical() {
                    return Err(ValidationError::Invalid {
                        field: "correction.replacement".into(),
                        value: replacement.kind().into(),
                        allowed: "a clinical entry (correct the original, not a correction)".into(),
                    });
                }
                replacement.validate()
            }
            EntryPayload::Retraction { reason, .. } => {
                check_text("retraction.reason", reason, 2000)
            }
            EntryPayload::ArtefactMark { target, reason } => {
                check_text("artefact_mark.reason", reason, 2000)?;
                if let ArtefactTarget::Samples { channel, from, to } = target {
                    check_text("artefact_mark.channel", channel, 200)?;
                    if to < from {
                        return Err(ValidationError::Invalid {
                            field: "artefact_mark.to".into(),
                            value: to.to_rfc3339(),
                            allowed: format!("at or after {}", from.to_rfc3339()),
                        });
                    }
                }
                Ok(())
            }
            EntryPayload::Amendment { text, reason, .. } => {
                check_text("amendment.text", text, 10_000)?;
                check_text("amendment.reason", reason, 2000)
            }
            EntryPayload::ChecklistStarted {
                template,
                version,
                digest,
                ..
            } => {
                check_text("checklist.template", template, 200)?;
                check_text("checklist.version", version, 100)?;
                check_text("checklist.digest", digest, 64)
            }
            EntryPayload::ChecklistAnswer { item, answer, .. } => {
                check_text("checklist.item", item, 200)?;
                match answer {
                    Answer::NotApplicable { reason } => {
                        check_text(&format!("checklist.{item}.na_reason"), reason, 500)
                    }
                    _ => Ok(()),
                }
            }
            EntryPayload::ChecklistSigned { .. } => Ok(()),
            EntryPayload::ChecklistOverride { reason, .. } => {
                check_text("checklist_override.reason", reason, 2000)
            }
            EntryPayload::AnticoagulationOverride { reason } => {
                check_text("anticoagulation_override.reason", reason, 2000)
            }
            EntryPayload::DeviceAssociated { device_key, role } => {
                check_text("device.key", device_key, 400)?;
                check_text("device.role", role, 200)
            }
            EntryPayload::DeviceReleased { device_key } => {
                check_text("device.key", device_key, 400)
            }
            EntryPayload::DeviceLink {
                device_key, reason, ..
            } => {
                check_text("device.key", device_key, 400)?;
                if reason.chars().count() > 400 {
                    return Err(ValidationError::out_of_range(
                        "device.link.reason",
                        format!("{} characters", reason.chars().count()),
                        "at most 400 characters",
                    ));
                }
                Ok(())
            }
            EntryPayload::Advisory { rule, message, .. } => {
                check_text("advisory.rule", rule, 100)?;
                check_text("advisory.message", message, 400)
            }
        }
    }

    /// Clinical content (an event, a dose, a gas…), as opposed to entries about the record:
    /// lifecycle, protocol, corrections and marks, checklists, device associations. Only
    /// clinical entries appear in the derived case view and can be corrected.
    pub fn is_clinical(&self) -> bool {
        !matches!(
            self,
            EntryPayload::Status { .. }
                | EntryPayload::Protocol { .. }
                | EntryPayload::Correction { .. }
                | EntryPayload::Retraction { .. }
                | EntryPayload::ArtefactMark { .. }
                | EntryPayload::Amendment { .. }
                | EntryPayload::ChecklistStarted { .. }
                | EntryPayload::ChecklistAnswer { .. }
                | EntryPayload::ChecklistSigned { .. }
                | EntryPayload::ChecklistOverride { .. }
                | EntryPayload::DeviceAssociated { .. }
                | EntryPayload::DeviceReleased { .. }
                | EntryPayload::DeviceLink { .. }
                | EntryPayload::Advisory { .. }
        )
    }

    /// Entries that may still be added to a signed case.
    pub fn allowed_after_signing(&self) -> bool {
        matches!(self, EntryPayload::Amendment { .. })
    }
}

/// An entry to be written: the store assigns sequence, recording time and hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    pub case_id: CaseId,
    /// When it happened (clinical time), which may be before it was typed.
    pub occurred_at: DateTime<Utc>,
    pub author: Author,
    pub payload: EntryPayload,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: EntryId,
    pub case_id: CaseId,
    /// 1, 2, 3… within the case, in recording order.
    pub seq: u64,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    pub author: Author,
    pub payload: EntryPayload,
    /// SHA-256 of the previous entry of the case (zeros for the first).
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// How far ahead of the recording clock an entry's clinical time may be (tablet clocks drift).
pub const MAX_FUTURE_SECS: i64 = 300;

impl NewEntry {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), ValidationError> {
        if self.occurred_at > now + chrono::Duration::seconds(MAX_FUTURE_SECS) {
            return Err(ValidationError::out_of_range(
                "occurred_at",
                self.occurred_at.to_rfc3339(),
                format!(
                    "not more than {MAX_FUTURE_SECS} s after now ({})",
                    now.to_rfc3339()
                ),
            ));
        }
        check_text("author.user", &self.author.user, 200)?;
        check_text("author.device", &self.author.device, 200)?;
        self.payload.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn payloads_round_trip_through_json_with_a_type_tag() {
        let p = EntryPayload::Correction {
            target: EntryId::new(),
            replacement: Box::new(EntryPayload::Heparin { units: d("24000") }),
            reason: "typed 2400".into(),
        };
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"type\":\"correction\""), "{json}");
        let back: EntryPayload = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn impossible_values_are_refused_by_field() {
        let cases: Vec<(EntryPayload, &str)> = vec![
            (EntryPayload::Heparin { units: d("0") }, "heparin.units"),
            (EntryPayload::Act { seconds: d("4800") }, "act.seconds"),
            (
                EntryPayload::Urine { volume_ml: d("-5") },
                "urine.volume_ml",
            ),
            (EntryPayload::Urine { volume_ml: d("0") }, "urine.volume_ml"),
            (
                EntryPayload::Drug {
                    name: "Phenylephrine".into(),
                    dose: d("100"),
                    unit: "mcg/kg/min".into(),
                    volume_ml: None,
                },
                "drug.unit",
            ),
            (
                EntryPayload::BloodProduct {
                    product: BloodProductKind::RedCells,
                    unit_numbers: vec![],
                    volume_ml: d("280"),
                },
                "blood_product.unit_numbers",
            ),
            (EntryPayload::Note { text: "  ".into() }, "note.text"),
            (
                EntryPayload::HandoverNote { text: " ".into() },
                "handover_note.text",
            ),
            (
                EntryPayload::Cardioplegia(CardioplegiaDose {
                    solution: "del Nido".into(),
                    volume_ml: d("1000"),
                    crystalloid_ml: d("1200"),
                    route: CardioplegiaRoute::Antegrade,
                    temperature_c: d("8"),
                }),
                "cardioplegia.crystalloid_ml",
            ),
            (
                EntryPayload::Retraction {
                    target: EntryId::new(),
                    reason: "".into(),
                },
                "retraction.reason",
            ),
        ];
        for (p, field) in cases {
            let e = p.validate().expect_err(field);
            assert_eq!(e.field(), Some(field), "{e}");
        }
    }

    #[test]
    fn a_correction_replaces_only_with_clinical_content() {
        let sign = EntryPayload::Correction {
            target: EntryId::new(),
            replacement: Box::new(EntryPayload::ChecklistSigned {
                run: EntryId::new(),
            }),
            reason: "sneaky".into(),
        };
        assert_eq!(
            sign.validate().unwrap_err().field(),
            Some("correction.replacement")
        );
    }

    #[test]
    fn a_correction_cannot_replace_with_another_correction() {
        let inner = EntryPayload::Retraction {
            target: EntryId::new(),
            reason: "x".into(),
        };
        let p = EntryPayload::Correction {
            target: EntryId::new(),
            replacement: Box::new(inner),
            reason: "y".into(),
        };
        assert_eq!(
            p.validate().unwrap_err().field(),
            Some("correction.replacement")
        );
    }
}
