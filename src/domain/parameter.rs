//! Parameters as data: the catalogue (`assets/parameters.toml`, compiled in, plus a hospital's
//! `parameters.toml` in the data directory) says for each parameter its code, label, unit,
//! precision, plausible and usual ranges, the kinds of support that show it, its standard codes
//! and the device fields that feed it. IABP, VAD and a hospital's own parameters come by adding
//! rows; a broken row is refused by file, line and key.
//!
//! A [`Parameter`] is a small copyable handle into the catalogue. The parameters the code itself
//! reasons about (pump flow for DO₂i, the circuit pressures for ΔP, …) are named constants; the
//! catalogue must define each of them, which its unit test checks. Entries and channels store a
//! parameter by its code, so the stored form is what it was when the list was fixed in code.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::case::CaseKind;
use super::validation::{line_at, ValidationError};
use super::Decimal;

pub const BUILTIN_NAME: &str = "assets/parameters.toml";
pub const BUILTIN: &str = include_str!("../../assets/parameters.toml");
/// The file a hospital drops into the data directory to add parameters.
pub const HOSPITAL_FILE: &str = "parameters.toml";

/// A monitored parameter (live screen, device channels, values typed by hand): a handle into
/// the catalogue.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Parameter(u16);

/// The parameters the code names, in handle order (the catalogue must define each).
const WELL_KNOWN: [&str; 32] = [
    "pump-flow",
    "mean-arterial-pressure",
    "arterial-outlet-temp",
    "venous-inflow-temp",
    "patient-temp",
    "venous-saturation",
    "haematocrit",
    "do2i",
    "sweep-gas",
    "fio2",
    "arterial-line-pressure",
    "spo2",
    "pulse-rate",
    "pump-speed",
    "drainage-pressure",
    "pre-oxygenator-pressure",
    "post-oxygenator-pressure",
    "heater-temp",
    "pre-oxygenator-saturation",
    "post-oxygenator-saturation",
    "distal-perfusion-flow",
    "limb-nirs",
    "anti-xa",
    "aptt",
    "platelets",
    "fibrinogen",
    "ldh",
    "plasma-free-hb",
    "lactate",
    // Spare slots.
    "",
    "",
    "",
];

#[allow(non_upper_case_globals)]
impl Parameter {
    pub const PumpFlow: Parameter = Parameter(0);
    pub const MeanArterialPressure: Parameter = Parameter(1);
    pub const ArterialOutletTemp: Parameter = Parameter(2);
    pub const VenousInflowTemp: Parameter = Parameter(3);
    pub const PatientTemp: Parameter = Parameter(4);
    pub const VenousSaturation: Parameter = Parameter(5);
    pub const Haematocrit: Parameter = Parameter(6);
    pub const Do2i: Parameter = Parameter(7);
    pub const SweepGas: Parameter = Parameter(8);
    pub const Fio2: Parameter = Parameter(9);
    pub const ArterialLinePressure: Parameter = Parameter(10);
    /// Peripheral oxygen saturation (pulse oximeter).
    pub const Spo2: Parameter = Parameter(11);
    /// Pulse rate (pulse oximeter, blood pressure monitor).
    pub const PulseRate: Parameter = Parameter(12);
    pub const PumpSpeed: Parameter = Parameter(13);
    /// Pre-pump (drainage) pressure.
    pub const DrainagePressure: Parameter = Parameter(14);
    pub const PreOxygenatorPressure: Parameter = Parameter(15);
    pub const PostOxygenatorPressure: Parameter = Parameter(16);
    pub const HeaterTemp: Parameter = Parameter(17);
    pub const PreOxygenatorSaturation: Parameter = Parameter(18);
    pub const PostOxygenatorSaturation: Parameter = Parameter(19);
    pub const DistalPerfusionFlow: Parameter = Parameter(20);
    pub const LimbNirs: Parameter = Parameter(21);
    pub const AntiXa: Parameter = Parameter(22);
    pub const Aptt: Parameter = Parameter(23);
    pub const Platelets: Parameter = Parameter(24);
    pub const Fibrinogen: Parameter = Parameter(25);
    pub const Ldh: Parameter = Parameter(26);
    pub const PlasmaFreeHb: Parameter = Parameter(27);
    pub const Lactate: Parameter = Parameter(28);
}

/// Named handles in use (the spare slots of [`WELL_KNOWN`] excluded).
const NAMED: usize = 29;

/// One catalogue row, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub code: String,
    pub label: String,
    /// The display unit.
    pub unit: &'static str,
    pub fraction: bool,
    pub decimals: usize,
    /// In internal units (fractions 0–1).
    pub plausible: (f64, f64),
    /// The usual range, in the display unit.
    pub range: Option<(f64, f64)>,
    pub kinds: Vec<CaseKind>,
    pub tile: bool,
    /// (system, code): system is "loinc", "mdc", "snomed" or a URI.
    pub codes: Vec<(String, String)>,
    pub pumpside: Option<String>,
    pub display: Option<String>,
    pub devices: Vec<String>,
    units: &'static [(&'static str, Conversion)],
    /// Where the row is (file, line).
    pub origin: (String, usize),
}

/// Every parameter Pumpside knows, in handle order.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalogue {
    defs: Vec<Definition>,
    /// The hospital file's text, when one was added.
    hospital: Option<String>,
}

/// A catalogue row that cannot be used, by file, line and key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}, line {line}, key `{key}`: {problem}")]
pub struct CatalogueError {
    pub file: String,
    pub line: usize,
    pub key: String,
    pub problem: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rows {
    #[serde(default)]
    parameter: Vec<Row>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    code: String,
    label: String,
    unit: String,
    #[serde(default)]
    fraction: bool,
    decimals: u8,
    plausible: [f64; 2],
    range: Option<[f64; 2]>,
    kinds: Kinds,
    #[serde(default)]
    tile: bool,
    #[serde(default)]
    codes: Vec<CodeRow>,
    pumpside: Option<String>,
    display: Option<String>,
    #[serde(default)]
    devices: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Kinds {
    All(String),
    Some(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeRow {
    system: String,
    code: String,
}

/// The units a display unit accepts, each with its conversion to it (the display unit first).
fn unit_family(display: &str) -> Option<(&'static str, &'static [(&'static str, Conversion)])> {
    use Conversion::{Affine, Pow10};
    const FRACTION: &[(&str, Conversion)] = &[("%", Pow10(0)), ("1", Pow10(2))];
    const FLOW: &[(&str, Conversion)] = &[("L/min", Pow10(0)), ("mL/min", Pow10(-3))];
    // 1 kPa = 1000 Pa / 133.322387415 Pa per mmHg (the conventional millimetre of mercury,
    // BIPM SI Brochure 9th ed., Table 8).
    const PRESSURE: &[(&str, Conversion)] = &[
        ("mmHg", Pow10(0)),
        ("mm[Hg]", Pow10(0)),
        (
            "kPa",
            Affine {
                scale: 1000.0 / 133.322_387_415,
                offset: 0.0,
            },
        ),
    ];
    // °F → °C: (F − 32) × 5/9.
    const FAHRENHEIT: Conversion = Affine {
        scale: 5.0 / 9.0,
        offset: -32.0 * 5.0 / 9.0,
    };
    const TEMP: &[(&str, Conversion)] = &[
        ("°C", Pow10(0)),
        ("Cel", Pow10(0)),
        ("[degF]", FAHRENHEIT),
        ("°F", FAHRENHEIT),
    ];
    const DO2I: &[(&str, Conversion)] = &[("mL/min/m²", Pow10(0)), ("mL/min/m2", Pow10(0))];
    const RATE: &[(&str, Conversion)] = &[("/min", Pow10(0)), ("{beats}/min", Pow10(0))];
    const SPEED: &[(&str, Conversion)] =
        &[("rpm", Pow10(0)), ("{rpm}", Pow10(0)), ("/min", Pow10(0))];
    const HEPARIN: &[(&str, Conversion)] = &[
        ("IU/mL", Pow10(0)),
        ("[iU]/mL", Pow10(0)),
        ("U/mL", Pow10(0)),
    ];
    const SECONDS: &[(&str, Conversion)] = &[("s", Pow10(0))];
    // 10⁹/L = 10³/µL exactly.
    const COUNT: &[(&str, Conversion)] = &[("10*9/L", Pow10(0)), ("10*3/uL", Pow10(0))];
    // 1 g/L = 100 mg/dL.
    const GRAMS_PER_L: &[(&str, Conversion)] = &[("g/L", Pow10(0)), ("mg/dL", Pow10(-2))];
    const MG_PER_DL: &[(&str, Conversion)] = &[("mg/dL", Pow10(0)), ("g/L", Pow10(2))];
    const ACTIVITY: &[(&str, Conversion)] = &[("U/L", Pow10(0))];
    const MMOL: &[(&str, Conversion)] = &[("mmol/L", Pow10(0))];
    const WATT: &[(&str, Conversion)] = &[("W", Pow10(0))];
    const UNITLESS: &[(&str, Conversion)] = &[("1", Pow10(0))];
    Some(match display {
        "%" => ("%", FRACTION),
        "L/min" => ("L/min", FLOW),
        "mmHg" => ("mmHg", PRESSURE),
        "°C" => ("°C", TEMP),
        "mL/min/m²" => ("mL/min/m²", DO2I),
        "/min" => ("/min", RATE),
        "rpm" => ("rpm", SPEED),
        "IU/mL" => ("IU/mL", HEPARIN),
        "s" => ("s", SECONDS),
        "10*9/L" => ("10*9/L", COUNT),
        "g/L" => ("g/L", GRAMS_PER_L),
        "mg/dL" => ("mg/dL", MG_PER_DL),
        "U/L" => ("U/L", ACTIVITY),
        "mmol/L" => ("mmol/L", MMOL),
        "W" => ("W", WATT),
        "1" => ("1", UNITLESS),
        _ => return None,
    })
}

const DISPLAY_UNITS: &str =
    "%, L/min, mmHg, °C, mL/min/m², /min, rpm, IU/mL, s, 10*9/L, g/L, mg/dL, U/L, mmol/L, W, 1";

/// The lines where each `[[parameter]]` row starts.
fn row_lines(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim() == "[[parameter]]")
        .map(|(i, _)| i + 1)
        .collect()
}

/// The line of `key` inside the row starting at `start` (the row's header when absent).
fn key_line(text: &str, start: usize, key: &str) -> usize {
    for (i, l) in text.lines().enumerate().skip(start) {
        let t = l.trim_start();
        if t.starts_with('[') {
            break;
        }
        if let Some(rest) = t.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return i + 1;
            }
        }
    }
    start
}

/// The name between the first pair of backticks in a parse message ("unknown field `x`").
fn backticked(message: &str) -> Option<&str> {
    let rest = message.split_once('`')?.1;
    Some(rest.split_once('`')?.0)
}

fn code_ok(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 60
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Catalogue {
    /// The built-in catalogue.
    pub fn builtin() -> Result<Self, CatalogueError> {
        let mut c = Catalogue {
            defs: Vec::new(),
            hospital: None,
        };
        c.add(BUILTIN_NAME, BUILTIN)?;
        // Every named handle in its place.
        let mut ordered = Vec::with_capacity(c.defs.len());
        for code in &WELL_KNOWN[..NAMED] {
            let i = c
                .defs
                .iter()
                .position(|d| d.code == *code)
                .ok_or_else(|| CatalogueError {
                    file: BUILTIN_NAME.into(),
                    line: 1,
                    key: "code".into(),
                    problem: format!("the parameter {code:?} that Pumpside needs is not defined"),
                })?;
            ordered.push(c.defs.remove(i));
        }
        ordered.append(&mut c.defs);
        c.defs = ordered;
        Ok(c)
    }

    /// The built-in catalogue with a hospital's rows after it.
    pub fn with_hospital(file: &str, text: &str) -> Result<Self, CatalogueError> {
        let mut c = Self::builtin()?;
        c.add(file, text)?;
        c.hospital = Some(text.to_string());
        Ok(c)
    }

    /// Check and append the rows of one file; nothing is appended when any row is refused.
    fn add(&mut self, file: &str, text: &str) -> Result<(), CatalogueError> {
        let rows: Rows = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_at(text, s.start)).unwrap_or(1);
            let here = text.lines().nth(line.saturating_sub(1)).unwrap_or("");
            let on_line = here.split('=').next().unwrap_or("").trim();
            let message = e.message();
            // An unknown or missing key: the span is the row; name the key itself.
            let named = (message.starts_with("unknown field")
                || message.starts_with("missing field"))
            .then(|| backticked(message))
            .flatten();
            let (line, key) = match named {
                Some(k) => (key_line(text, line, k), k.to_string()),
                None if on_line.is_empty() || on_line.starts_with('[') => {
                    (line, "parameter".to_string())
                }
                None => (line, on_line.to_string()),
            };
            CatalogueError {
                file: file.into(),
                line,
                key,
                problem: message.to_string(),
            }
        })?;
        let starts = row_lines(text);
        let mut new: Vec<Definition> = Vec::new();
        for (i, row) in rows.parameter.into_iter().enumerate() {
            let start = starts.get(i).copied().unwrap_or(1);
            let err = |key: &str, problem: String| CatalogueError {
                file: file.into(),
                line: key_line(text, start, key),
                key: key.into(),
                problem,
            };
            if !code_ok(&row.code) {
                return Err(err(
                    "code",
                    format!(
                        "{:?} is not a code: lower-case letters, digits and hyphens, at most 60",
                        row.code
                    ),
                ));
            }
            if let Some(d) = self
                .defs
                .iter()
                .chain(new.iter())
                .find(|d| d.code == row.code)
            {
                return Err(err(
                    "code",
                    format!(
                        "{:?} is already defined ({}, line {})",
                        row.code, d.origin.0, d.origin.1
                    ),
                ));
            }
            let label = row.label.trim();
            if label.is_empty() || label.chars().count() > 40 {
                return Err(err("label", "a label of 1 to 40 characters".into()));
            }
            let Some((unit, units)) = unit_family(&row.unit) else {
                return Err(err(
                    "unit",
                    format!(
                        "{:?} is not a unit Pumpside converts; one of {DISPLAY_UNITS}",
                        row.unit
                    ),
                ));
            };
            if row.fraction && unit != "%" {
                return Err(err("fraction", "a fraction is shown in %".into()));
            }
            if row.decimals > 6 {
                return Err(err("decimals", "0 to 6 decimal places".into()));
            }
            let [low, high] = row.plausible;
            if !(low.is_finite() && high.is_finite() && low < high) {
                return Err(err(
                    "plausible",
                    format!("[{low}, {high}] is not a range: two finite numbers, low first"),
                ));
            }
            let f = if row.fraction { 100.0 } else { 1.0 };
            let range = match row.range {
                None => None,
                Some([a, b])
                    if a.is_finite() && b.is_finite() && a <= b && a >= low && b <= high =>
                {
                    Some((a, b))
                }
                Some([a, b]) => {
                    return Err(err(
                        "range",
                        format!("[{a}, {b}] must be a range inside the plausible [{low}, {high}]"),
                    ))
                }
            };
            let kinds = match row.kinds {
                Kinds::All(s) if s == "all" => CaseKind::ALL.to_vec(),
                Kinds::All(s) => {
                    return Err(err("kinds", format!("{s:?}: \"all\" or a list of kinds")))
                }
                Kinds::Some(list) => {
                    let mut kinds = Vec::new();
                    for k in list {
                        let Some(kind) = CaseKind::from_code(&k) else {
                            let known: Vec<&str> = CaseKind::ALL.iter().map(|k| k.code()).collect();
                            return Err(err(
                                "kinds",
                                format!(
                                    "{k:?} is not a kind of support; one of {}",
                                    known.join(", ")
                                ),
                            ));
                        };
                        kinds.push(kind);
                    }
                    kinds
                }
            };
            let mut codes = Vec::new();
            for c in row.codes {
                let system_ok = matches!(c.system.as_str(), "loinc" | "mdc" | "snomed")
                    || ["http://", "https://", "urn:"]
                        .iter()
                        .any(|p| c.system.starts_with(p));
                if !system_ok {
                    return Err(err(
                        "codes",
                        format!(
                            "system {:?}: \"loinc\", \"mdc\", \"snomed\" or a URI",
                            c.system
                        ),
                    ));
                }
                let code = c.code.trim();
                if code.is_empty() || code.chars().any(char::is_whitespace) {
                    return Err(err("codes", format!("{:?} is not a code", c.code)));
                }
                codes.push((c.system, code.to_string()));
            }
            if let Some(p) = row.pumpside.as_deref().filter(|p| !code_ok(p)) {
                return Err(err("pumpside", format!("{p:?} is not a code")));
            }
            for d in &row.devices {
                let Some((kind, field)) = d.split_once(':') else {
                    return Err(err("devices", format!("{d:?}: \"<profile>:<field>\"")));
                };
                if !matches!(kind, "telemetry" | "sig" | "cdi") || field.trim().is_empty() {
                    return Err(err(
                        "devices",
                        format!("{d:?}: the profile is telemetry, sig or cdi, then a field"),
                    ));
                }
                if let Some(other) = self
                    .defs
                    .iter()
                    .chain(new.iter())
                    .find(|o| o.devices.contains(d))
                {
                    return Err(err(
                        "devices",
                        format!("{d:?} already feeds {:?}", other.code),
                    ));
                }
            }
            new.push(Definition {
                code: row.code,
                label: label.to_string(),
                unit,
                fraction: row.fraction,
                decimals: usize::from(row.decimals),
                plausible: (low / f, high / f),
                range,
                kinds,
                tile: row.tile,
                codes,
                pumpside: row.pumpside,
                display: row.display,
                devices: row.devices,
                units,
                origin: (file.to_string(), start),
            });
        }
        if self.defs.len() + new.len() > usize::from(u16::MAX) {
            return Err(CatalogueError {
                file: file.into(),
                line: 1,
                key: "parameter".into(),
                problem: "too many parameters".into(),
            });
        }
        self.defs.append(&mut new);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.defs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    pub fn definitions(&self) -> &[Definition] {
        &self.defs
    }
}

static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();

/// The catalogue in force: the built-in one unless [`install_hospital`] added rows first.
pub fn catalogue() -> &'static Catalogue {
    CATALOGUE.get_or_init(|| {
        #[allow(clippy::expect_used)]
        Catalogue::builtin().expect("the built-in parameter catalogue is valid (unit-tested)")
    })
}

/// At start-up, before any value is read: add a hospital's rows. A refused file leaves the
/// built-in catalogue in force and says why; a file changed after the catalogue was put in
/// force asks for a restart.
pub fn install_hospital(file: &str, text: &str) -> Result<(), CatalogueError> {
    let wanted = Catalogue::with_hospital(file, text)?;
    if CATALOGUE.set(wanted).is_ok() {
        return Ok(());
    }
    if catalogue().hospital.as_deref() == Some(text) {
        Ok(())
    } else {
        Err(CatalogueError {
            file: file.into(),
            line: 1,
            key: "parameter".into(),
            problem: "the parameters in force were set when Pumpside started; restart it to use this file".into(),
        })
    }
}

impl std::fmt::Debug for Parameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Parameter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Parameter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Parameter::from_code(&code).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown parameter {code:?} (not in the parameter catalogue)"
            ))
        })
    }
}

impl Parameter {
    /// Every parameter in the catalogue, in handle order.
    pub fn all() -> impl Iterator<Item = Parameter> {
        (0..catalogue().len()).map(|i| Parameter(i as u16))
    }

    pub fn definition(self) -> &'static Definition {
        &catalogue().defs[usize::from(self.0)]
    }

    pub fn label(self) -> &'static str {
        &self.definition().label
    }

    /// Unit as displayed (UCUM-compatible spelling where one exists).
    pub fn unit(self) -> &'static str {
        self.definition().unit
    }

    /// Fractions are stored 0–1 and displayed as percent.
    fn is_fraction(self) -> bool {
        self.definition().fraction
    }

    /// A value in internal units expressed in the display unit ([`Parameter::unit`]).
    pub fn to_display_unit(self, value: f64) -> f64 {
        if self.is_fraction() {
            value * 100.0
        } else {
            value
        }
    }

    /// Decimal places shown (and recorded for simulated values).
    pub fn decimals(self) -> usize {
        self.definition().decimals
    }

    /// The plausible physical range (in internal units) a value must fall in to be shown at
    /// all; anything outside is a device or typing fault, not physiology.
    pub fn plausible_range(self) -> (f64, f64) {
        self.definition().plausible
    }

    /// The catalogue's usual range in internal units, where it names one.
    pub fn usual_range(self) -> Option<(f64, f64)> {
        let f = if self.is_fraction() { 100.0 } else { 1.0 };
        self.definition().range.map(|(a, b)| (a / f, b / f))
    }

    /// Stable code for storage and channel names.
    pub fn code(self) -> &'static str {
        &self.definition().code
    }

    pub fn from_code(code: &str) -> Option<Self> {
        catalogue()
            .defs
            .iter()
            .position(|d| d.code == code)
            .map(|i| Parameter(i as u16))
    }

    /// The parameter a Pumpside CodeSystem code names (the code, or the row's `pumpside`).
    pub fn from_pumpside_code(code: &str) -> Option<Self> {
        catalogue()
            .defs
            .iter()
            .position(|d| d.pumpside.as_deref().unwrap_or(&d.code) == code)
            .map(|i| Parameter(i as u16))
    }

    /// The parameter a device field feeds ("telemetry:pump-flow", "sig:SpO2", "cdi:hct").
    pub fn for_device(field: &str) -> Option<Self> {
        catalogue()
            .defs
            .iter()
            .position(|d| d.devices.iter().any(|f| f == field))
            .map(|i| Parameter(i as u16))
    }

    /// Whether screens for `kind` show it.
    pub fn shown_for(self, kind: CaseKind) -> bool {
        self.definition().kinds.contains(&kind)
    }

    /// The live screen's tiles for `kind`, in catalogue order.
    pub fn tiles(kind: CaseKind) -> Vec<Parameter> {
        Self::all()
            .filter(|p| p.definition().tile && p.shown_for(kind))
            .collect()
    }

    /// Units a value of this parameter may arrive in, each with its conversion to the display
    /// unit ([`Parameter::unit`], listed first). A power-of-ten conversion is exact on a
    /// [`Decimal`] (a shift of its exponent); the others (kPa, °F) are not, so a value received
    /// in them is stored in the unit it arrived in and converted only for display.
    pub fn units(self) -> &'static [(&'static str, Conversion)] {
        self.definition().units
    }

    /// The conversion of `unit` to the display unit, or a unit error naming the field.
    pub fn conversion(self, field: &str, unit: &str) -> Result<Conversion, ValidationError> {
        self.units()
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, c)| *c)
            .ok_or_else(|| ValidationError::Unit {
                field: field.to_string(),
                unit: unit.to_string(),
                allowed: self
                    .units()
                    .iter()
                    .map(|(u, _)| format!("{u:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// A value in `unit` as an f64 in internal units (fractions for saturations), for display,
    /// advisories and calculations; never for storage.
    pub fn to_internal(self, field: &str, value: f64, unit: &str) -> Result<f64, ValidationError> {
        let display = self.conversion(field, unit)?.apply(value);
        Ok(if self.is_fraction() {
            display / 100.0
        } else {
            display
        })
    }

    /// The unit a channel stores values received in `unit` under: the display unit when the
    /// conversion is exact, else the received unit itself (the value is kept as received).
    pub fn storage_unit(self, unit: &str) -> Result<&'static str, ValidationError> {
        let field = format!("device.{}", self.code());
        match self.conversion(&field, unit)? {
            Conversion::Pow10(_) => Ok(self.unit()),
            Conversion::Affine { .. } => Ok(self
                .units()
                .iter()
                .find(|(u, _)| *u == unit)
                .map(|(u, _)| *u)
                .unwrap_or(self.unit())),
        }
    }

    /// A received value expressed exactly in [`Parameter::storage_unit`]: unchanged, or shifted
    /// by a power of ten (mL/min → L/min, fraction → %). Never rounded.
    pub fn to_storage(self, value: Decimal, unit: &str) -> Result<Decimal, ValidationError> {
        let field = format!("device.{}", self.code());
        match self.conversion(&field, unit)? {
            Conversion::Pow10(0) | Conversion::Affine { .. } => Ok(value),
            Conversion::Pow10(k) => value.shift(k).ok_or_else(|| {
                ValidationError::out_of_range(
                    field,
                    format!("{value} {unit}"),
                    "an exponent within ±127",
                )
            }),
        }
    }

    /// Check a value as received (in `unit`) is possible for this parameter.
    pub fn check_manual(self, value: Decimal, unit: &str) -> Result<(), ValidationError> {
        let field = format!("measurement.{}", self.code());
        self.check_plausible(&field, value, unit)
    }

    /// The value, in `unit`, lies in the parameter's plausible range (see
    /// [`Parameter::plausible_range`]); the error names the range in `unit`.
    pub fn check_plausible(
        self,
        field: &str,
        value: Decimal,
        unit: &str,
    ) -> Result<(), ValidationError> {
        let v = self.to_internal(field, value.to_f64(), unit)?;
        let (low, high) = self.plausible_range();
        if v.is_finite() && v >= low && v <= high {
            Ok(())
        } else {
            let c = self.conversion(field, unit)?;
            let f = if self.is_fraction() { 100.0 } else { 1.0 };
            Err(ValidationError::out_of_range(
                field.to_string(),
                format!("{value} {unit}"),
                format!(
                    "{} to {} {unit}",
                    trim(c.invert(low * f)),
                    trim(c.invert(high * f))
                ),
            ))
        }
    }

    /// Display text for a value in internal units, without the unit.
    pub fn format(self, value: f64) -> String {
        let shown = if self.is_fraction() {
            value * 100.0
        } else {
            value
        };
        format!("{shown:.prec$}", prec = self.decimals())
    }
}

/// How a unit converts to its parameter's display unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Conversion {
    /// `display = value × 10^k`: exact on a decimal.
    Pow10(i8),
    /// `display = value × scale + offset`: not exact; the received value is kept as received.
    Affine { scale: f64, offset: f64 },
}

impl Conversion {
    pub fn apply(self, v: f64) -> f64 {
        match self {
            Conversion::Pow10(k) => {
                if k >= 0 {
                    v * 10f64.powi(i32::from(k))
                } else {
                    v / 10f64.powi(-i32::from(k))
                }
            }
            Conversion::Affine { scale, offset } => v * scale + offset,
        }
    }

    pub fn invert(self, display: f64) -> f64 {
        match self {
            Conversion::Pow10(k) => Conversion::Pow10(-k).apply(display),
            Conversion::Affine { scale, offset } => (display - offset) / scale,
        }
    }
}

/// A range end without float noise ("0.3", not "0.30000000000000004").
fn trim(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_catalogue_defines_every_named_parameter_in_its_place() {
        let c = Catalogue::builtin().unwrap();
        for (i, code) in WELL_KNOWN[..NAMED].iter().enumerate() {
            assert_eq!(c.defs[i].code, *code);
        }
        assert_eq!(Parameter::PumpFlow.code(), "pump-flow");
        assert_eq!(Parameter::Lactate.code(), "lactate");
        assert_eq!(Parameter::AntiXa.unit(), "IU/mL");
        assert_eq!(Parameter::Fio2.plausible_range(), (0.0, 1.0));
        assert_eq!(Parameter::AntiXa.usual_range(), Some((0.3, 0.5)));
        assert_eq!(
            Parameter::for_device("telemetry:pre-oxygenator-pressure"),
            Some(Parameter::PreOxygenatorPressure)
        );
        assert_eq!(Parameter::for_device("sig:SpO2"), Some(Parameter::Spo2));
        assert!(Parameter::for_device("telemetry:unknown").is_none());
        // Every parameter round-trips through its stored form.
        for p in Parameter::all() {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(serde_json::from_str::<Parameter>(&json).unwrap(), p);
        }
        assert!(serde_json::from_str::<Parameter>("\"no-such\"").is_err());
    }

    #[test]
    fn ecmo_tiles_show_the_circuit_and_cpb_tiles_keep_their_order() {
        let ecmo = Parameter::tiles(CaseKind::EcmoVa);
        for p in [
            Parameter::PumpFlow,
            Parameter::PumpSpeed,
            Parameter::SweepGas,
            Parameter::Fio2,
            Parameter::DrainagePressure,
            Parameter::PreOxygenatorPressure,
            Parameter::PostOxygenatorPressure,
            Parameter::HeaterTemp,
        ] {
            assert!(ecmo.contains(&p), "{p:?}");
        }
        assert!(!ecmo.contains(&Parameter::ArterialOutletTemp));
        let cpb = Parameter::tiles(CaseKind::Cpb);
        assert!(cpb.contains(&Parameter::Do2i) && !cpb.contains(&Parameter::PumpSpeed));
    }

    fn hospital(extra: &str) -> Result<Catalogue, CatalogueError> {
        Catalogue::with_hospital("parameters.toml", extra)
    }

    #[test]
    fn a_hospital_adds_an_iabp_parameter_by_adding_a_row() {
        let text = r#"
[[parameter]]
code = "iabp-augmented-diastolic"
label = "Augmented diastolic"
unit = "mmHg"
decimals = 0
plausible = [0, 300]
kinds = ["iabp"]
tile = true
codes = [{ system = "https://hospital.example/codes", code = "ADP" }]
"#;
        let c = hospital(text).unwrap();
        let d = c.defs.last().unwrap();
        assert_eq!(
            (d.code.as_str(), d.unit),
            ("iabp-augmented-diastolic", "mmHg")
        );
        assert_eq!(d.kinds, vec![CaseKind::Iabp]);
        assert_eq!(d.origin, ("parameters.toml".to_string(), 2));
        assert_eq!(c.len(), Catalogue::builtin().unwrap().len() + 1);
    }

    #[test]
    fn a_broken_row_is_named_by_file_line_and_key() {
        let row = |body: &str| format!("# ours\n\n[[parameter]]\n{body}\n");
        let good = "code = \"x-ok\"\nlabel = \"X\"\nunit = \"mmHg\"\ndecimals = 0\nplausible = [0, 10]\nkinds = \"all\"";
        assert!(hospital(&row(good)).is_ok());
        let cases = [
            (good.replace("\"mmHg\"", "\"furlongs\""), "unit", 6),
            (good.replace("x-ok", "Pump Flow"), "code", 4),
            (good.replace("x-ok", "pump-flow"), "code", 4),
            (good.replace("[0, 10]", "[10, 0]"), "plausible", 8),
            (good.replace("[0, 10]", "[0, nan]"), "plausible", 8),
            (good.replace("\"all\"", "[\"ecmo\"]"), "kinds", 9),
            (good.replace("decimals = 0", "decimals = 9"), "decimals", 7),
            (format!("{good}\nrange = [5, 20]"), "range", 10),
            (
                format!("{good}\ndevices = [\"telemetry:pump-flow\"]"),
                "devices",
                10,
            ),
            (
                format!("{good}\ncodes = [{{ system = \"icd\", code = \"1\" }}]"),
                "codes",
                10,
            ),
            (format!("{good}\ncolour = \"red\""), "colour", 10),
            (
                good.replace("decimals = 0", "decimals = \"two\""),
                "decimals",
                7,
            ),
        ];
        for (body, key, line) in cases {
            let e = hospital(&row(&body)).unwrap_err();
            assert_eq!(e.file, "parameters.toml", "{body}");
            assert_eq!((e.key.as_str(), e.line), (key, line), "{e}");
            assert!(!e.problem.is_empty());
        }
        // A file that is not TOML at all.
        let e = hospital("[[parameter]\ncode = 1").unwrap_err();
        assert_eq!(e.line, 1, "{e}");
    }
}
