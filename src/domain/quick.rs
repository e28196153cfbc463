//! One-tap timeline entries: for each kind, the form fields with sensible defaults (from the
//! protocol, the patient's targets and the case so far) and the conversion of what was typed into
//! an entry, with a specific error naming the field. Pure, so the screen stays thin and the
//! defaults are tested.

use std::collections::BTreeMap;

use super::anticoag::{Anticoagulation, HeparinSuggestion};
use super::bloodgas::{Analyte, AnalyteValue, BloodGasPanel, GasTemperature, SampleSite};
use super::board::Targets;
use chrono::NaiveDate;

use super::entry::{
    BloodProductKind, CardioplegiaDose, CardioplegiaRoute, CircuitComponent, ComponentKind,
    FluidKind, PrimeComponent, UltrafiltrationMode, DRUG_UNITS,
};
use super::protocol::Protocol;
use super::record::CaseView;
use super::{Decimal, EntryPayload, Parameter, ValidationError};

/// The entry kinds offered as one tap on the live screen (events have their own buttons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuickKind {
    Cardioplegia,
    Heparin,
    Protamine,
    Act,
    BloodGas,
    Drug,
    Fluid,
    BloodProduct,
    Ultrafiltration,
    CellSaver,
    Urine,
    Measurement,
    Note,
    /// A handover note for the next team (ECMO runs last weeks: each shift hands over).
    HandoverNote,
    /// Where the patient is now (unit and bed).
    Location,
    /// A part of the running circuit replaced, with the new part's lot and why.
    CircuitChange,
    /// An ECMO run's cannulae: sites and sizes.
    Cannulation,
    /// One of the ECMO advisories' ranges for this run only, with why.
    EcmoRule,
    /// Setup: one circuit disposable with lot and expiry.
    Component,
    /// Setup: the prime composition.
    Prime,
}

/// How a field is typed.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    Number,
    Text,
    /// (code, label) pairs; the value is the code.
    Choice(Vec<(String, String)>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub key: String,
    pub label: String,
    pub unit: String,
    pub kind: FieldKind,
    /// Pre-filled value ("" for none).
    pub default: String,
    pub required: bool,
    /// Shown in an empty field (the previous gas's value), never taken as a value.
    pub hint: String,
}

fn number(key: &str, label: &str, unit: &str, default: String, required: bool) -> Field {
    Field {
        key: key.into(),
        label: label.into(),
        unit: unit.into(),
        kind: FieldKind::Number,
        default,
        required,
        hint: String::new(),
    }
}

fn text(key: &str, label: &str, default: &str, required: bool) -> Field {
    Field {
        key: key.into(),
        label: label.into(),
        unit: String::new(),
        kind: FieldKind::Text,
        default: default.into(),
        required,
        hint: String::new(),
    }
}

fn choice(key: &str, label: &str, options: &[(&str, &str)], default: &str) -> Field {
    Field {
        key: key.into(),
        label: label.into(),
        unit: String::new(),
        kind: FieldKind::Choice(
            options
                .iter()
                .map(|(c, l)| (c.to_string(), l.to_string()))
                .collect(),
        ),
        default: default.into(),
        required: true,
        hint: String::new(),
    }
}

const ROUTES: [(&str, &str); 4] = [
    ("antegrade", "Antegrade"),
    ("retrograde", "Retrograde"),
    ("ostial", "Ostial"),
    ("graft", "Via graft"),
];
const SITES: [(&str, &str); 6] = [
    ("patient_artery", "Patient artery"),
    ("post_oxygenator", "Post-oxygenator (arterial line)"),
    ("pre_oxygenator", "Pre-oxygenator (venous line)"),
    ("venous", "Patient venous"),
    ("mixed_venous", "Mixed venous (pulmonary artery)"),
    ("capillary", "Capillary"),
];
const FLUIDS: [(&str, &str); 3] = [
    ("crystalloid", "Crystalloid"),
    ("colloid", "Colloid"),
    ("albumin", "Albumin"),
];
const PRODUCTS: [(&str, &str); 5] = [
    ("red_cells", "Red cells"),
    ("plasma", "Plasma"),
    ("platelets", "Platelets"),
    ("cryoprecipitate", "Cryoprecipitate"),
    ("whole_blood", "Whole blood"),
];
const COMPONENTS: [(&str, &str); 10] = [
    ("oxygenator", "Oxygenator"),
    ("tubing_pack", "Tubing pack"),
    ("arterial_cannula", "Arterial cannula"),
    ("venous_cannula", "Venous cannula"),
    ("cardioplegia_cannula", "Cardioplegia cannula"),
    ("vent_cannula", "Vent cannula"),
    ("hemofilter", "Haemofilter"),
    ("cardioplegia_set", "Cardioplegia set"),
    ("arterial_filter", "Arterial filter"),
    ("other", "Other"),
];
const COMPONENT_KINDS: [ComponentKind; 10] = [
    ComponentKind::Oxygenator,
    ComponentKind::TubingPack,
    ComponentKind::ArterialCannula,
    ComponentKind::VenousCannula,
    ComponentKind::CardioplegiaCannula,
    ComponentKind::VentCannula,
    ComponentKind::Hemofilter,
    ComponentKind::CardioplegiaSet,
    ComponentKind::ArterialFilter,
    ComponentKind::Other,
];
const UF_MODES: [(&str, &str); 3] = [
    ("conventional", "Conventional"),
    ("zero_balance", "Zero-balance"),
    ("modified", "Modified (MUF)"),
];

fn round_to(v: f64, step: f64) -> String {
    let r = (v / step).round() * step;
    format!("{r:.0}")
}

/// The crystalloid share of a cardioplegia solution (del Nido 1 blood : 4 crystalloid; Buckberg
/// 4 : 1; anything else is taken as all crystalloid).
fn crystalloid_share(solution: &str) -> f64 {
    match solution {
        "del Nido" => 0.8,
        "Buckberg 4:1" => 0.2,
        _ => 1.0,
    }
}

impl QuickKind {
    pub const ALL: [QuickKind; 20] = [
        QuickKind::Component,
        QuickKind::Prime,
        QuickKind::Cardioplegia,
        QuickKind::Heparin,
        QuickKind::Protamine,
        QuickKind::Act,
        QuickKind::BloodGas,
        QuickKind::Drug,
        QuickKind::Fluid,
        QuickKind::BloodProduct,
        QuickKind::Ultrafiltration,
        QuickKind::CellSaver,
        QuickKind::Urine,
        QuickKind::Measurement,
        QuickKind::Note,
        QuickKind::HandoverNote,
        QuickKind::Location,
        QuickKind::CircuitChange,
        QuickKind::Cannulation,
        QuickKind::EcmoRule,
    ];

    pub fn label(self) -> &'static str {
        match self {
            QuickKind::Cardioplegia => "Cardioplegia",
            QuickKind::Heparin => "Heparin",
            QuickKind::Protamine => "Protamine",
            QuickKind::Act => "ACT",
            QuickKind::BloodGas => "Blood gas",
            QuickKind::Drug => "Drug",
            QuickKind::Fluid => "Fluid",
            QuickKind::BloodProduct => "Blood product",
            QuickKind::Ultrafiltration => "Ultrafiltration",
            QuickKind::CellSaver => "Cell saver",
            QuickKind::Urine => "Urine",
            QuickKind::Measurement => "Manual value",
            QuickKind::Note => "Note",
            QuickKind::HandoverNote => "Handover note",
            QuickKind::Location => "Location",
            QuickKind::EcmoRule => "ECMO range for this run",
            QuickKind::CircuitChange => "Circuit change",
            QuickKind::Cannulation => "Cannulation",
            QuickKind::Component => "Circuit component",
            QuickKind::Prime => "Prime",
        }
    }

    /// Stable test id.
    pub fn code(self) -> &'static str {
        match self {
            QuickKind::Cardioplegia => "cardioplegia",
            QuickKind::Heparin => "heparin",
            QuickKind::Protamine => "protamine",
            QuickKind::Act => "act",
            QuickKind::BloodGas => "blood_gas",
            QuickKind::Drug => "drug",
            QuickKind::Fluid => "fluid",
            QuickKind::BloodProduct => "blood_product",
            QuickKind::Ultrafiltration => "ultrafiltration",
            QuickKind::CellSaver => "cell_saver",
            QuickKind::Urine => "urine",
            QuickKind::Measurement => "measurement",
            QuickKind::Note => "note",
            QuickKind::HandoverNote => "handover_note",
            QuickKind::Location => "location",
            QuickKind::EcmoRule => "ecmo_rule",
            QuickKind::CircuitChange => "circuit_change",
            QuickKind::Cannulation => "cannulation",
            QuickKind::Component => "circuit_component",
            QuickKind::Prime => "prime",
        }
    }

    /// The form, pre-filled.
    pub fn fields(
        self,
        protocol: &Protocol,
        targets: Option<&Targets>,
        view: &CaseView,
    ) -> Vec<Field> {
        match self {
            QuickKind::Cardioplegia => {
                // Same solution as the last dose, else the protocol's first; the first dose at the
                // planned volume, a re-dose at half of it.
                let last = view.entries.iter().rev().find_map(|e| match e.payload {
                    EntryPayload::Cardioplegia(d) => Some(d.clone()),
                    _ => None,
                });
                let solution = last
                    .as_ref()
                    .map(|d| d.solution.clone())
                    .or_else(|| protocol.cardioplegia.first().map(|c| c.name.clone()))
                    .unwrap_or_default();
                let planned = targets
                    .and_then(|t| t.cardioplegia.as_ref())
                    .filter(|(name, _)| *name == solution)
                    .map(|(_, ml)| *ml);
                let volume = match (planned, &last) {
                    (Some(ml), None) => round_to(ml, 10.0),
                    (Some(ml), Some(_)) => round_to(ml / 2.0, 10.0),
                    (None, Some(d)) => d.volume_ml.to_string(),
                    (None, None) => String::new(),
                };
                let mut options: Vec<(String, String)> = protocol
                    .cardioplegia
                    .iter()
                    .map(|c| (c.name.clone(), c.name.clone()))
                    .collect();
                if !options.iter().any(|(c, _)| *c == solution) && !solution.is_empty() {
                    options.push((solution.clone(), solution.clone()));
                }
                vec![
                    Field {
                        key: "solution".into(),
                        label: "Solution".into(),
                        unit: String::new(),
                        kind: FieldKind::Choice(options),
                        default: solution,
                        required: true,
                        hint: String::new(),
                    },
                    number("volume_ml", "Volume", "mL", volume, true),
                    number(
                        "crystalloid_ml",
                        "Crystalloid part (blank: from the solution's ratio)",
                        "mL",
                        String::new(),
                        false,
                    ),
                    choice("route", "Route", &ROUTES, "antegrade"),
                    number("temperature_c", "Temperature", "°C", "4".into(), true),
                ]
            }
            QuickKind::Heparin => {
                // The loading dose once; after it, a top-up only when the ACT asks for one.
                let a = Anticoagulation::derive(view, protocol);
                let (label, default) = match a.heparin_suggestion() {
                    HeparinSuggestion::Loading => match targets {
                        Some(t) => (
                            format!(
                                "Heparin loading dose ({} IU/kg)",
                                protocol.anticoagulation.heparin_units_per_kg
                            ),
                            round_to(t.heparin_units, 1000.0),
                        ),
                        None => (
                            "Heparin loading dose (no weight on the case: type the dose)".into(),
                            String::new(),
                        ),
                    },
                    HeparinSuggestion::TopUp(c) => (
                        format!(
                            "Heparin top-up (Bull dose–response: ACT {:.0} s → target {:.0} s; {:.0} IU given)",
                            a.counting_act().map_or(0.0, |x| x.value),
                            a.target_s,
                            a.heparin_given()
                        ),
                        round_to(c.value, 500.0),
                    ),
                    HeparinSuggestion::TopUpUnknown(why) => (
                        format!("Heparin top-up: no suggestion ({why})"),
                        String::new(),
                    ),
                    HeparinSuggestion::None => (
                        format!(
                            "Heparin (loading dose given: {:.0} IU in total; ACT at target)",
                            a.heparin_given()
                        ),
                        String::new(),
                    ),
                };
                vec![number("units", &label, "IU", default, true)]
            }
            QuickKind::Protamine => {
                let a = Anticoagulation::derive(view, protocol);
                let (label, default) = match a.protamine(protocol) {
                    Ok(c) => (
                        format!(
                            "Protamine ({:.0} IU heparin given × {} mg per 100 IU)",
                            a.heparin_given(),
                            protocol.anticoagulation.protamine_mg_per_100u
                        ),
                        round_to(c.value, 10.0),
                    ),
                    Err(e) => (format!("Protamine ({e})"), String::new()),
                };
                vec![number("mg", &label, "mg", default, true)]
            }
            QuickKind::Act => vec![number("seconds", "ACT", "s", String::new(), true)],
            QuickKind::BloodGas => {
                let mut f = vec![
                    choice("site", "Sample site", &SITES, "patient_artery"),
                    choice(
                        "temperature",
                        "Reported",
                        &[
                            ("37", "At 37 °C (alpha-stat)"),
                            ("corrected", "Corrected to patient"),
                        ],
                        "37",
                    ),
                ];
                // The previous gas's values as hints, not as values: a new sample is typed.
                let previous = view.entries.iter().rev().find_map(|e| match e.payload {
                    EntryPayload::BloodGas(g) if e.artefact.is_none() => Some(g),
                    _ => None,
                });
                for a in Analyte::ALL {
                    let mut field = number(
                        a.code(),
                        a.label(),
                        a.canonical_unit(),
                        String::new(),
                        false,
                    );
                    if let Some(v) = previous.and_then(|g| g.results.get(&a)) {
                        field.hint = format!("last {} {}", v.value, v.unit)
                            .trim_end()
                            .to_string();
                    }
                    f.push(field);
                }
                f.push(number(
                    "patient_temp_c",
                    "Patient temp (if corrected)",
                    "°C",
                    String::new(),
                    false,
                ));
                f
            }
            QuickKind::Drug => vec![
                text("name", "Drug", "", true),
                number("dose", "Dose", "", String::new(), true),
                Field {
                    key: "unit".into(),
                    label: "Unit".into(),
                    unit: String::new(),
                    kind: FieldKind::Choice(
                        DRUG_UNITS
                            .iter()
                            .map(|u| (u.to_string(), u.to_string()))
                            .collect(),
                    ),
                    default: "mg".into(),
                    required: true,
                    hint: String::new(),
                },
                number(
                    "volume_ml",
                    "Volume into the circuit",
                    "mL",
                    String::new(),
                    false,
                ),
            ],
            QuickKind::Fluid => vec![
                choice("kind", "Kind", &FLUIDS, "crystalloid"),
                text("name", "Name", "Plasma-Lyte 148", true),
                number("volume_ml", "Volume", "mL", "500".into(), true),
            ],
            QuickKind::BloodProduct => vec![
                choice("product", "Product", &PRODUCTS, "red_cells"),
                text("unit_numbers", "Unit numbers (comma separated)", "", true),
                number("volume_ml", "Volume", "mL", "300".into(), true),
            ],
            QuickKind::Ultrafiltration => vec![
                choice("mode", "Mode", &UF_MODES, "conventional"),
                number("volume_ml", "Volume removed", "mL", String::new(), true),
            ],
            QuickKind::CellSaver => vec![
                choice(
                    "action",
                    "Volume",
                    &[
                        ("returned", "Returned to patient"),
                        ("collected", "Collected"),
                    ],
                    "returned",
                ),
                number("volume_ml", "Volume", "mL", String::new(), true),
            ],
            QuickKind::Urine => vec![number("volume_ml", "Urine", "mL", String::new(), true)],
            QuickKind::Measurement => {
                let options: Vec<(String, String)> = Parameter::all()
                    .map(|p| {
                        (
                            p.code().to_string(),
                            format!("{} ({})", p.label(), p.unit()),
                        )
                    })
                    .collect();
                vec![
                    Field {
                        key: "parameter".into(),
                        label: "Parameter".into(),
                        unit: String::new(),
                        kind: FieldKind::Choice(options),
                        default: Parameter::Haematocrit.code().into(),
                        required: true,
                        hint: String::new(),
                    },
                    number(
                        "value",
                        "Value (in the unit shown)",
                        "",
                        String::new(),
                        true,
                    ),
                ]
            }
            QuickKind::Note => vec![text("text", "Note", "", true)],
            QuickKind::HandoverNote => vec![text("text", "Handover note", "", true)],
            QuickKind::EcmoRule => {
                // Each key with the value in force for this run now.
                let (rules, _) = super::ecmo::rules_for(&protocol.ecmo, view);
                let options: Vec<(String, String)> = rules
                    .ranges()
                    .iter()
                    .map(|(k, v, lo, hi)| ((*k).to_string(), format!("{k} (now {v}; {lo}–{hi})")))
                    .collect();
                vec![
                    Field {
                        key: "key".into(),
                        label: "Range or rule".into(),
                        unit: String::new(),
                        kind: FieldKind::Choice(options),
                        default: "anti_xa_low".into(),
                        required: true,
                        hint: String::new(),
                    },
                    number("value", "Value for this run", "", String::new(), true),
                    text("why", "Why (who asked, and why)", "", true),
                ]
            }
            QuickKind::Location => vec![
                text("unit", "Unit", "", true),
                text("bed", "Bed", "", false),
            ],
            QuickKind::Cannulation => {
                let sites: Vec<(&str, &str)> = crate::domain::entry::CannulaSite::ALL
                    .iter()
                    .map(|s| (s.code(), s.label()))
                    .collect();
                vec![
                    choice(
                        "drainage",
                        "Drainage cannula site",
                        &sites,
                        "right_femoral_vein",
                    ),
                    number(
                        "drainage_fr",
                        "Drainage cannula size",
                        "Fr",
                        String::new(),
                        true,
                    ),
                    choice(
                        "return_site",
                        "Return cannula site",
                        &sites,
                        "right_internal_jugular",
                    ),
                    number(
                        "return_fr",
                        "Return cannula size",
                        "Fr",
                        String::new(),
                        true,
                    ),
                    choice(
                        "distal_perfusion",
                        "Distal perfusion cannula",
                        &[("no", "No"), ("yes", "Yes")],
                        "no",
                    ),
                ]
            }
            QuickKind::CircuitChange => vec![
                choice("kind", "New part", &COMPONENTS, "oxygenator"),
                text("manufacturer", "Manufacturer", "", true),
                text("model", "Model", "", true),
                text("lot", "Lot", "", true),
                text("expiry", "Expiry (YYYY-MM-DD)", "", true),
                text("why", "Why (clots, ΔP, leak, plasma leak…)", "", true),
            ],
            QuickKind::Component => vec![
                choice("kind", "Component", &COMPONENTS, "oxygenator"),
                text("manufacturer", "Manufacturer", "", true),
                text("model", "Model", "", true),
                text("lot", "Lot", "", true),
                text("expiry", "Expiry (YYYY-MM-DD)", "", true),
                text("size", "Size as labelled", "", false),
                text("udi", "UDI as scanned", "", false),
            ],
            QuickKind::Prime => vec![
                text("name_1", "Prime fluid", "Plasma-Lyte 148", true),
                number("volume_1", "Volume", "mL", String::new(), true),
                text("name_2", "Additive", "", false),
                number("volume_2", "Volume", "mL", String::new(), false),
                text("name_3", "Additive", "", false),
                number("volume_3", "Volume", "mL", String::new(), false),
            ],
        }
    }

    /// The entry for the typed `values` (by field key), checked as the store will check it.
    pub fn build(self, values: &BTreeMap<String, String>) -> Result<EntryPayload, ValidationError> {
        let get = |k: &str| values.get(k).map(|v| v.trim()).unwrap_or("");
        let dec = |k: &str| -> Result<Decimal, ValidationError> {
            let v = get(k);
            if v.is_empty() {
                return Err(ValidationError::missing(k));
            }
            v.parse::<Decimal>().map_err(|_| ValidationError::Invalid {
                field: k.into(),
                value: v.to_string(),
                allowed: "a number with a decimal point (e.g. 4.5)".into(),
            })
        };
        let opt_dec = |k: &str| -> Result<Option<Decimal>, ValidationError> {
            if get(k).is_empty() {
                Ok(None)
            } else {
                dec(k).map(Some)
            }
        };
        let bad_choice = |k: &str| ValidationError::Invalid {
            field: k.into(),
            value: get(k).to_string(),
            allowed: "one of the choices".into(),
        };
        let payload = match self {
            QuickKind::Cardioplegia => {
                let solution = get("solution").to_string();
                let volume = dec("volume_ml")?;
                let crystalloid = match opt_dec("crystalloid_ml")? {
                    Some(c) => c,
                    None => Decimal::from_f64(volume.to_f64() * crystalloid_share(&solution), 0)
                        .ok_or_else(|| ValidationError::missing("crystalloid_ml"))?,
                };
                let route = match get("route") {
                    "antegrade" => CardioplegiaRoute::Antegrade,
                    "retrograde" => CardioplegiaRoute::Retrograde,
                    "ostial" => CardioplegiaRoute::Ostial,
                    "graft" => CardioplegiaRoute::Graft,
                    _ => return Err(bad_choice("route")),
                };
                EntryPayload::Cardioplegia(CardioplegiaDose {
                    solution,
                    volume_ml: volume,
                    crystalloid_ml: crystalloid,
                    route,
                    temperature_c: dec("temperature_c")?,
                })
            }
            QuickKind::Heparin => EntryPayload::Heparin {
                units: dec("units")?,
            },
            QuickKind::Protamine => EntryPayload::Protamine { mg: dec("mg")? },
            QuickKind::Act => EntryPayload::Act {
                seconds: dec("seconds")?,
            },
            QuickKind::BloodGas => {
                let site = SampleSite::from_code(get("site")).ok_or_else(|| bad_choice("site"))?;
                let temperature = match get("temperature") {
                    "37" => GasTemperature::At37,
                    "corrected" => GasTemperature::Corrected {
                        patient_temp_c: dec("patient_temp_c")?,
                    },
                    _ => return Err(bad_choice("temperature")),
                };
                let mut results = BTreeMap::new();
                for a in Analyte::ALL {
                    if let Some(v) = opt_dec(a.code())? {
                        results.insert(
                            a,
                            AnalyteValue {
                                value: v,
                                unit: a.canonical_unit().to_string(),
                            },
                        );
                    }
                }
                EntryPayload::BloodGas(BloodGasPanel {
                    site,
                    temperature,
                    results,
                    source: None,
                })
            }
            QuickKind::Drug => {
                let unit = get("unit");
                if !DRUG_UNITS.contains(&unit) {
                    return Err(bad_choice("unit"));
                }
                EntryPayload::Drug {
                    name: get("name").to_string(),
                    dose: dec("dose")?,
                    unit: unit.to_string(),
                    volume_ml: opt_dec("volume_ml")?,
                }
            }
            QuickKind::Fluid => EntryPayload::Fluid {
                kind: match get("kind") {
                    "crystalloid" => FluidKind::Crystalloid,
                    "colloid" => FluidKind::Colloid,
                    "albumin" => FluidKind::Albumin,
                    _ => return Err(bad_choice("kind")),
                },
                name: get("name").to_string(),
                volume_ml: dec("volume_ml")?,
            },
            QuickKind::BloodProduct => EntryPayload::BloodProduct {
                product: match get("product") {
                    "red_cells" => BloodProductKind::RedCells,
                    "plasma" => BloodProductKind::Plasma,
                    "platelets" => BloodProductKind::Platelets,
                    "cryoprecipitate" => BloodProductKind::Cryoprecipitate,
                    "whole_blood" => BloodProductKind::WholeBlood,
                    _ => return Err(bad_choice("product")),
                },
                unit_numbers: get("unit_numbers")
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
                volume_ml: dec("volume_ml")?,
            },
            QuickKind::Ultrafiltration => EntryPayload::Ultrafiltration {
                mode: match get("mode") {
                    "conventional" => UltrafiltrationMode::Conventional,
                    "zero_balance" => UltrafiltrationMode::ZeroBalance,
                    "modified" => UltrafiltrationMode::Modified,
                    _ => return Err(bad_choice("mode")),
                },
                volume_ml: dec("volume_ml")?,
            },
            QuickKind::CellSaver => match get("action") {
                "returned" => EntryPayload::CellSaverReturned {
                    volume_ml: dec("volume_ml")?,
                },
                "collected" => EntryPayload::CellSaverCollected {
                    volume_ml: dec("volume_ml")?,
                },
                _ => return Err(bad_choice("action")),
            },
            QuickKind::Urine => EntryPayload::Urine {
                volume_ml: dec("volume_ml")?,
            },
            QuickKind::Measurement => {
                let parameter = Parameter::from_code(get("parameter"))
                    .ok_or_else(|| bad_choice("parameter"))?;
                EntryPayload::Measurement {
                    parameter,
                    value: dec("value")?,
                    unit: parameter.unit().to_string(),
                }
            }
            QuickKind::Note => EntryPayload::Note {
                text: get("text").to_string(),
            },
            QuickKind::HandoverNote => EntryPayload::HandoverNote {
                text: get("text").to_string(),
            },
            QuickKind::EcmoRule => EntryPayload::EcmoRule {
                key: get("key").to_string(),
                value: dec("value")?,
                why: get("why").trim().to_string(),
            },
            QuickKind::Location => EntryPayload::Location {
                unit: get("unit").trim().to_string(),
                bed: get("bed").trim().to_string(),
            },
            QuickKind::Cannulation => {
                use crate::domain::entry::CannulaSite;
                let site = |k: &str| CannulaSite::from_code(get(k)).ok_or_else(|| bad_choice(k));
                EntryPayload::Cannulation {
                    drainage: site("drainage")?,
                    drainage_fr: dec("drainage_fr")?,
                    return_site: site("return_site")?,
                    return_fr: dec("return_fr")?,
                    distal_perfusion: match get("distal_perfusion") {
                        "yes" => true,
                        "no" | "" => false,
                        _ => return Err(bad_choice("distal_perfusion")),
                    },
                }
            }
            QuickKind::CircuitChange => {
                let EntryPayload::Component(component) = QuickKind::Component.build(values)? else {
                    return Err(bad_choice("kind"));
                };
                EntryPayload::CircuitChange {
                    component,
                    why: get("why").trim().to_string(),
                }
            }
            QuickKind::Component => {
                let kind = COMPONENTS
                    .iter()
                    .position(|(c, _)| *c == get("kind"))
                    .map(|i| COMPONENT_KINDS[i])
                    .ok_or_else(|| bad_choice("kind"))?;
                let expiry =
                    NaiveDate::parse_from_str(get("expiry"), "%Y-%m-%d").map_err(|_| {
                        ValidationError::Invalid {
                            field: "expiry".into(),
                            value: get("expiry").to_string(),
                            allowed: "a date as YYYY-MM-DD".into(),
                        }
                    })?;
                let optional = |k: &str| Some(get(k).to_string()).filter(|v| !v.is_empty());
                EntryPayload::Component(CircuitComponent {
                    kind,
                    manufacturer: get("manufacturer").to_string(),
                    model: get("model").to_string(),
                    lot: get("lot").to_string(),
                    expiry,
                    udi: optional("udi"),
                    size: optional("size"),
                })
            }
            QuickKind::Prime => {
                let mut components = Vec::new();
                for i in 1..=3 {
                    let (name, volume) = (format!("name_{i}"), format!("volume_{i}"));
                    if get(&name).is_empty() && get(&volume).is_empty() {
                        continue;
                    }
                    components.push(PrimeComponent {
                        name: get(&name).to_string(),
                        volume_ml: dec(&volume)?,
                    });
                }
                EntryPayload::Prime { components }
            }
        };
        payload.validate()?;
        Ok(payload)
    }
}

/// The field the cursor should start in: the first required field without a default; in a form
/// with no required field (a blood gas), the first empty number. `None`: the defaults may be
/// saved as they are.
pub fn first_to_type(fields: &[Field]) -> Option<usize> {
    let typed = |f: &Field| f.default.is_empty() && !matches!(f.kind, FieldKind::Choice(_));
    fields
        .iter()
        .position(|f| f.required && typed(f))
        .or_else(|| {
            if fields
                .iter()
                .any(|f| f.required && !matches!(f.kind, FieldKind::Choice(_)))
            {
                None
            } else {
                fields.iter().position(typed)
            }
        })
}

/// Where a value typed in field `key` of a `kind` form stands, as it is typed: a blood-gas
/// analyte against the protocol's range for the chosen sample site, an ACT against the target
/// once heparin has been given. `None` when inside, not a number yet, or nothing to judge by.
pub fn typed_flag(
    kind: QuickKind,
    key: &str,
    values: &BTreeMap<String, String>,
    protocol: &Protocol,
    heparin_given: bool,
) -> Option<(super::protocol::Flag, String)> {
    let typed: Decimal = values.get(key)?.trim().parse().ok()?;
    match kind {
        QuickKind::BloodGas => {
            let a = Analyte::ALL.into_iter().find(|a| a.code() == key)?;
            let site = values
                .get("site")
                .and_then(|c| SampleSite::from_code(c))
                .unwrap_or(SampleSite::PatientArtery);
            let c = a.to_canonical(typed, a.canonical_unit()).ok()?;
            let flag = protocol.analyte_flag(a, site, c)?;
            Some((flag, protocol.analyte_range_text(a).unwrap_or_default()))
        }
        QuickKind::Act if key == "seconds" => {
            let target = protocol.anticoagulation.act_target_s;
            (heparin_given && typed.to_f64() < target).then(|| {
                (
                    super::protocol::Flag::Low,
                    format!("target ≥ {target:.0} s"),
                )
            })
        }
        _ => None,
    }
}

/// What the timeline shows for an entry: a short, specific line.
/// "Drainage 25 Fr right femoral vein; return 17 Fr left femoral artery; distal perfusion
/// cannula" (also the FHIR value).
pub fn cannulation_text(p: &EntryPayload) -> Option<String> {
    let EntryPayload::Cannulation {
        drainage,
        drainage_fr,
        return_site,
        return_fr,
        distal_perfusion,
    } = p
    else {
        return None;
    };
    let mut text = format!(
        "Drainage {drainage_fr} Fr {}; return {return_fr} Fr {}",
        drainage.label(),
        return_site.label()
    );
    if *distal_perfusion {
        text.push_str("; distal perfusion cannula");
    }
    Some(text)
}

pub fn describe(p: &EntryPayload) -> String {
    match p {
        EntryPayload::Event { event } => event.label().to_string(),
        EntryPayload::Cardioplegia(d) => {
            format!(
                "Cardioplegia {} {} mL at {} °C",
                d.solution, d.volume_ml, d.temperature_c
            )
        }
        EntryPayload::Heparin { units } => format!("Heparin {units} IU"),
        EntryPayload::Protamine { mg } => format!("Protamine {mg} mg"),
        EntryPayload::Act { seconds } => format!("ACT {seconds} s"),
        EntryPayload::BloodGas(g) => {
            let parts: Vec<String> = g
                .results
                .iter()
                .take(4)
                .map(|(a, v)| format!("{} {}", a.label(), v.value))
                .collect();
            format!("Blood gas: {}", parts.join(", "))
        }
        EntryPayload::Drug {
            name, dose, unit, ..
        } => format!("{name} {dose} {unit}"),
        EntryPayload::Fluid {
            name, volume_ml, ..
        } => format!("{name} {volume_ml} mL"),
        EntryPayload::BloodProduct {
            volume_ml,
            unit_numbers,
            ..
        } => {
            format!("Blood product {volume_ml} mL ({})", unit_numbers.join(", "))
        }
        EntryPayload::Ultrafiltration { volume_ml, .. } => {
            format!("Ultrafiltration {volume_ml} mL")
        }
        EntryPayload::CellSaverCollected { volume_ml } => {
            format!("Cell saver collected {volume_ml} mL")
        }
        EntryPayload::CellSaverReturned { volume_ml } => {
            format!("Cell saver returned {volume_ml} mL")
        }
        EntryPayload::Urine { volume_ml } => format!("Urine {volume_ml} mL"),
        EntryPayload::Note { text } => format!("Note: {text}"),
        EntryPayload::HandoverNote { text } => format!("Handover: {text}"),
        EntryPayload::Location { unit, bed } if bed.is_empty() => format!("Location: {unit}"),
        EntryPayload::Location { unit, bed } => format!("Location: {unit}, bed {bed}"),
        EntryPayload::EcmoRule { key, value, why } => {
            format!("ECMO range for this run: {key} = {value} ({why})")
        }
        EntryPayload::Measurement {
            parameter,
            value,
            unit,
        } => {
            format!("{} {value} {unit} (typed)", parameter.label())
        }
        EntryPayload::Cannulation { .. } => cannulation_text(p).unwrap_or_default(),
        EntryPayload::CircuitChange { component: c, why } => format!(
            "Circuit change: {} {} lot {} exp {} ({why})",
            c.manufacturer, c.model, c.lot, c.expiry
        ),
        EntryPayload::Component(c) => format!(
            "{} {} lot {} exp {}",
            c.manufacturer, c.model, c.lot, c.expiry
        ),
        EntryPayload::Prime { components } => {
            let total: f64 = components.iter().map(|c| c.volume_ml.to_f64()).sum();
            format!("Prime {total:.0} mL ({} fluids)", components.len())
        }
        EntryPayload::DeviceLink {
            device_key,
            connected,
            reason,
        } => {
            let device = device_key.rsplit('|').next().unwrap_or(device_key);
            if *connected {
                format!("Device {device} back: {reason}")
            } else {
                format!("Device {device} link lost: {reason}")
            }
        }
        other => other.kind().replace('_', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::entry::Entry;
    use crate::domain::ids::EntryId;
    use crate::domain::{Author, CaseId};
    use chrono::Utc;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn defaults(
        kind: QuickKind,
        targets: Option<&Targets>,
        entries: &[Entry],
    ) -> BTreeMap<String, String> {
        let p = Protocol::defaults().unwrap();
        kind.fields(&p, targets, &CaseView::derive(entries))
            .into_iter()
            .map(|f| (f.key, f.default))
            .collect()
    }

    fn targets() -> Targets {
        Targets {
            bsa_m2: 1.9561,
            flow_l_min: 4.69,
            cardiac_index: 2.4,
            heparin_units: 24_000.0,
            cardioplegia: Some(("del Nido".into(), 1000.0)),
        }
    }

    fn entry(seq: u64, payload: EntryPayload) -> Entry {
        let at = Utc::now();
        Entry {
            id: EntryId::new(),
            case_id: CaseId::new(),
            seq,
            occurred_at: at,
            recorded_at: at,
            author: Author::new("Test", "unit"),
            payload,
            prev_hash: [0; 32],
            hash: [0; 32],
        }
    }

    #[test]
    fn first_cardioplegia_dose_defaults_to_the_plan_and_a_redose_to_half_with_the_solution_ratio() {
        let t = targets();
        let first = defaults(QuickKind::Cardioplegia, Some(&t), &[]);
        assert_eq!(first["solution"], "del Nido");
        assert_eq!(first["volume_ml"], "1000");
        let payload = QuickKind::Cardioplegia.build(&first).unwrap();
        let EntryPayload::Cardioplegia(d) = &payload else {
            panic!("{payload:?}")
        };
        assert_eq!(
            d.crystalloid_ml.to_f64(),
            800.0,
            "del Nido is 1 blood : 4 crystalloid"
        );
        let e = entry(1, payload);
        let redose = defaults(QuickKind::Cardioplegia, Some(&t), &[e]);
        assert_eq!(redose["volume_ml"], "500");
    }

    #[test]
    fn heparin_defaults_to_the_target_and_protamine_to_the_heparin_given() {
        let t = targets();
        assert_eq!(
            defaults(QuickKind::Heparin, Some(&t), &[])["units"],
            "24000"
        );
        assert_eq!(defaults(QuickKind::Heparin, None, &[])["units"], "");
        let given = [
            entry(
                1,
                EntryPayload::Heparin {
                    units: Decimal::new(24000, 0),
                },
            ),
            entry(
                2,
                EntryPayload::Heparin {
                    units: Decimal::new(5000, 0),
                },
            ),
        ];
        assert_eq!(defaults(QuickKind::Protamine, None, &given)["mg"], "290");
    }

    #[test]
    fn a_blood_gas_keeps_every_typed_analyte_and_names_a_bad_one() {
        let mut v = defaults(QuickKind::BloodGas, None, &[]);
        v.insert("ph".into(), "7.38".into());
        v.insert("pco2".into(), "41".into());
        v.insert("hct".into(), "26".into());
        v.insert("site".into(), "post_oxygenator".into());
        let EntryPayload::BloodGas(g) = QuickKind::BloodGas.build(&v).unwrap() else {
            panic!()
        };
        assert_eq!(g.results.len(), 3);
        assert_eq!(g.site, SampleSite::PostOxygenator);
        v.insert("k".into(), "4..1".into());
        let err = QuickKind::BloodGas.build(&v).unwrap_err();
        assert_eq!(err.field(), Some("k"));
        v.insert("k".into(), "40".into());
        let err = QuickKind::BloodGas.build(&v).unwrap_err();
        assert!(err.to_string().contains("k"), "{err}");
        let empty = defaults(QuickKind::BloodGas, None, &[]);
        assert!(
            QuickKind::BloodGas.build(&empty).is_err(),
            "a gas with no result is refused"
        );
    }

    #[test]
    fn every_kind_refuses_an_empty_required_field_by_name_and_accepts_sensible_values() {
        for kind in QuickKind::ALL {
            let p = Protocol::defaults().unwrap();
            let fields = kind.fields(&p, None, &CaseView::derive(&[]));
            let mut v: BTreeMap<String, String> = fields
                .iter()
                .map(|f| (f.key.clone(), f.default.clone()))
                .collect();
            for f in &fields {
                if f.required && f.default.is_empty() {
                    let err = kind.build(&v).unwrap_err();
                    assert!(err.field().is_some(), "{kind:?}: {err}");
                    let filler = match f.kind {
                        FieldKind::Number => match kind {
                            QuickKind::Act => "480",
                            QuickKind::Measurement => "25",
                            QuickKind::Cannulation => "21",
                            // anti_xa_low, the form's first key: inside its bounds and under
                            // the protocol's anti_xa_high.
                            QuickKind::EcmoRule => "0.2",
                            _ => "100",
                        },
                        _ if f.key == "expiry" => "2027-01-31",
                        _ => "Vasopressin",
                    };
                    v.insert(f.key.clone(), filler.into());
                }
            }
            if kind == QuickKind::BloodGas {
                v.insert("ph".into(), "7.4".into());
            }
            let payload = kind.build(&v).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
            assert!(!describe(&payload).is_empty());
        }
    }

    #[test]
    fn the_cursor_starts_where_typing_is_needed() {
        let p = Protocol::defaults().unwrap();
        let view = CaseView::derive(&[]);
        let t = targets();
        let key = |kind: QuickKind, t: Option<&Targets>| {
            let f = kind.fields(&p, t, &view);
            first_to_type(&f).map(|i| f[i].key.clone())
        };
        assert_eq!(key(QuickKind::BloodGas, None).as_deref(), Some("ph"));
        assert_eq!(key(QuickKind::Act, None).as_deref(), Some("seconds"));
        assert_eq!(
            key(QuickKind::Cardioplegia, Some(&t)),
            None,
            "defaults can be saved"
        );
        assert_eq!(key(QuickKind::Heparin, None).as_deref(), Some("units"));
    }

    #[test]
    fn a_manual_value_is_checked_against_what_is_possible() {
        let v = values(&[("parameter", "haematocrit"), ("value", "250")]);
        assert!(QuickKind::Measurement.build(&v).is_err());
        let v = values(&[("parameter", "haematocrit"), ("value", "25")]);
        let EntryPayload::Measurement { unit, .. } = QuickKind::Measurement.build(&v).unwrap()
        else {
            panic!()
        };
        assert_eq!(unit, "%");
    }
}
