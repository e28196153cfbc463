//! The record → FHIR R4 resources, pure. Each resource carries its client UUID as a business
//! identifier (`urn:ietf:rfc:3986` | `urn:uuid:…`), so a retried conditional create never makes a
//! second copy. References to resources that may live on the server already are written as
//! placeholders (`pumpside:Procedure/<case id>`, `pumpside:Patient/<patient id>`) and resolved
//! when the transaction is built (`bundle.rs`). Decimals keep the precision they were received
//! with (`7.380` stays `7.380`).
//!
//! Which record becomes what (docs/sync.md has the full table and the codes):
//! - the case → a Procedure (the run), updated with If-Match when its status changes;
//! - bypass, clamp, arrest, cooling and rewarming events → Observation (category procedure);
//! - ACT, manual values, blood-gas analytes (+ a panel with hasMember), volumes, notes →
//!   Observation; device trends → Observation.valueSampledData, one per channel per 10 minutes;
//! - cardioplegia, heparin, protamine, drugs, fluids, blood products → MedicationAdministration;
//! - circuit components → Device;
//! - a retraction → the retracted resource again with status `entered-in-error`;
//! - a correction → the target's resources updated with the new content, status `corrected`
//!   and a note of who, when and why; an artefact mark → the target's Observations updated with
//!   status `amended` and an artefact interpretation and tag; an amendment after signing → an
//!   Observation (Pumpside `amendment`) whose focus is the amended record.
//!
//! A signed checklist run becomes a QuestionnaireResponse (with its template as a Questionnaire)
//! in the engine, which can read the template from the store (`sync::fhir` writes both).
//!
//! Kept on this device for now (named in `LOCAL_ONLY`, each with its reason at its match arm):
//! protocol, advisory, device association, checklist and anticoagulation overrides, unsigned
//! checklist runs, artefact marks on stretches of device samples, prime composition.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::codes::{self, Reported, Specimen};
use super::codesystem;
use crate::domain::bloodgas::{Analyte, GasTemperature, SampleSite};
use crate::domain::entry::ArtefactTarget;
use crate::domain::record::CaseView;
use crate::domain::{
    CaseKind, CaseStatus, CaseSummary, Channel, Decimal, Entry, EntryId, EntryPayload, EventKind,
    Parameter, Sample, Validity,
};

pub const UCUM: &str = "http://unitsofmeasure.org";
/// The extension naming an ECMO rule's protocol key (`[ecmo]` of the protocol file).
pub const ECMO_RULE_KEY: &str = "https://pumpside.org/fhir/StructureDefinition/ecmo-rule-key";
pub const LOINC: &str = "http://loinc.org";
pub const SNOMED: &str = "http://snomed.info/sct";
pub const MDC: &str = "urn:iso:std:iso:11073:10101";
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
/// Pumpside's own CodeSystem for concepts without a standard code (codes listed in docs/sync.md).
pub const PUMPSIDE: &str = "https://pumpside.org/fhir/CodeSystem/pumpside";
pub const URI: &str = "urn:ietf:rfc:3986";
/// Length of one SampledData chunk of a device trend.
pub const CHUNK_MS: i64 = 10 * 60 * 1000;
/// Sample period inside a chunk (the devices send at 1 Hz).
pub const PERIOD_MS: i64 = 1000;

/// Entry kinds that stay on this device in this version (said on the Sync screen and in docs).
pub const LOCAL_ONLY: [&str; 9] = [
    "anticoagulation_override",
    "artefact_mark of device samples",
    "protocol",
    "advisory",
    "device_associated",
    "device_link",
    "device_released",
    "checklist_override",
    "prime",
];

pub use crate::store::Operation;

/// One resource ready for the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub resource_type: &'static str,
    /// The client UUID (identifier value without `urn:uuid:`).
    pub key: String,
    pub operation: Operation,
    pub payload: Value,
}

/// What an entry becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    Resources(Vec<Mapped>),
    /// The resources created for this entry, again with status entered-in-error.
    Retract {
        target: crate::domain::EntryId,
    },
    /// Kept on this device (see [`LOCAL_ONLY`]).
    LocalOnly,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MapError {
    #[error("case {0} has no patient: a FHIR record needs one (register the patient by MRN)")]
    NoPatient(crate::domain::CaseId),
}

/// A UUID derived from `key` and `salt` (SHA-256, version 8 layout): the same inputs always give
/// the same identifier, so a re-planned resource is recognised by the server.
pub fn derived_uuid(key: &str, salt: &str) -> String {
    let h = Sha256::digest(format!("{key}\u{0}{salt}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

const DEC_MARK: &str = "\u{1}dec:";

/// A decimal with the precision it was received with (written as a JSON number by [`to_text`]).
pub fn dec(d: Decimal) -> Value {
    Value::String(format!("{DEC_MARK}{d}"))
}

/// The payload as JSON text, decimals written as numbers exactly as received.
pub fn to_text(v: &Value) -> String {
    let text = v.to_string();
    let marker = "\"\\u0001dec:";
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i]);
        let after = &rest[i + marker.len()..];
        let end = after.find('"').unwrap_or(after.len());
        out.push_str(&after[..end]);
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// JSON text (an outbox row written by [`to_text`]) parsed back with every number kept as
/// written: each becomes a [`dec`] marker, which [`to_text`] writes back as the same number. A
/// plain parse would turn 7.380 into 7.38 on the wire (FHIR treats precision as significant).
pub fn from_text(text: &str) -> Result<Value, serde_json::Error> {
    let mut marked = String::with_capacity(text.len() + 64);
    let mut chars = text.char_indices().peekable();
    let mut in_string = false;
    let mut escaped = false;
    while let Some((i, c)) = chars.next() {
        if in_string {
            marked.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                marked.push(c);
            }
            '-' | '0'..='9' => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, n)) = chars.peek() {
                    if n.is_ascii_digit() || matches!(n, '.' | 'e' | 'E' | '+' | '-') {
                        end = j + n.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let number = &text[i..end];
                // Only a valid JSON number is marked; anything else is left for the parser to
                // refuse with its position.
                if serde_json::from_str::<serde_json::Number>(number).is_ok() {
                    marked.push_str("\"\\u0001dec:");
                    marked.push_str(number);
                    marked.push('"');
                } else {
                    marked.push_str(number);
                }
            }
            _ => marked.push(c),
        }
    }
    serde_json::from_str(&marked)
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn identifier(key: &str) -> Value {
    json!([{ "system": URI, "value": format!("urn:uuid:{key}") }])
}

/// A handover note written on call for a run this device follows from the server: the same
/// Observation a timeline's handover note becomes (Pumpside code `handover-note`, `exam`), with
/// the server's own references (the run's Patient and Procedure), the note's id as its business
/// identifier (a second try never makes a second note) and the writer as performer.
pub fn remote_note(note: &crate::store::RemoteNote) -> Value {
    let mut o = json!({
        "resourceType": "Observation",
        "identifier": identifier(&note.id.to_string()),
        "status": "final",
        "category": category("exam"),
        "code": pumpside_code("handover-note", "Handover note"),
        "subject": { "reference": note.subject },
        "partOf": [{ "reference": format!("Procedure/{}", note.run_id) }],
        "effectiveDateTime": time(note.written),
        "issued": time(note.written),
        "performer": [{ "display": note.by.user }],
        "valueString": note.text,
    });
    if note.demo {
        o["meta"] = json!({ "tag": [{ "system": PUMPSIDE, "code": "demo" }] });
    }
    o
}

pub fn placeholder(resource_type: &str, key: &str) -> Value {
    json!({ "reference": format!("pumpside:{resource_type}/{key}") })
}

/// The UCUM code for a unit as Pumpside records it; `None` when it has none we know.
pub fn ucum(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "mmHg" | "mm[Hg]" => "mm[Hg]",
        "°C" | "Cel" => "Cel",
        "°F" | "[degF]" => "[degF]",
        "L/min" => "L/min",
        "%" => "%",
        "1" => "1",
        "mL" => "mL",
        "mL/min/m²" | "mL/min/m2" => "mL/min/m2",
        "/min" | "{beats}/min" => "/min",
        "s" => "s",
        "IU" | "[iU]" => "[iU]",
        "mg" => "mg",
        "g" => "g",
        "mcg" | "µg" | "ug" => "ug",
        "mmol/L" => "mmol/L",
        "mEq/L" | "meq/L" => "meq/L",
        "g/dL" => "g/dL",
        "g/L" => "g/L",
        "kPa" => "kPa",
        "mg/dL" => "mg/dL",
        "[pH]" => "[pH]",
        "mL/h" => "mL/h",
        // Revolutions per minute: UCUM has no revolution; the rate is 1/min.
        "rpm" | "{rpm}" => "/min",
        "IU/mL" | "[iU]/mL" | "U/mL" => "[iU]/mL",
        "10*9/L" | "10*3/uL" => "10*9/L",
        "U/L" => "U/L",
        "W" => "W",
        _ => return None,
    })
}

fn quantity(value: Decimal, unit: &str) -> Value {
    // FHIR strings may not be empty: a unitless value is UCUM "1".
    let unit = if unit.trim().is_empty() { "1" } else { unit };
    let mut q = json!({ "value": dec(value), "unit": unit });
    if let Some(code) = ucum(unit) {
        q["system"] = json!(UCUM);
        q["code"] = json!(code);
    }
    q
}

fn coding(system: &str, code: &str, display: &str) -> Value {
    if system == PUMPSIDE {
        // The published CodeSystem is versioned; a receiver can tell which edition a code
        // comes from (codes renamed between editions are mapped in the CodeSystem).
        return json!({ "system": system, "version": codesystem::VERSION, "code": code, "display": display });
    }
    json!({ "system": system, "code": code, "display": display })
}

/// Several codings per concept: receivers match the one they know (`codes::parameter`).
pub fn parameter_code(p: Parameter) -> Value {
    let mut codings = Vec::new();
    for (system, code) in codes::parameter(p) {
        codings.push(coding(system, code, p.label()));
    }
    let (code, display) = codesystem::parameter(p);
    codings.push(coding(PUMPSIDE, code, display));
    json!({ "coding": codings, "text": display })
}

fn analyte_code(a: Analyte, unit: &str, specimen: Specimen, reported: Reported) -> Value {
    let mut codings = Vec::new();
    if let Some((c, display)) = codes::analyte(a, unit, specimen, reported) {
        codings.push(coding(LOINC, c, display));
    }
    codings.push(coding(PUMPSIDE, &codesystem::analyte(a), a.label()));
    let text = if reported == Reported::PatientTemperature && codes::temperature_dependent(a) {
        format!("{} (at patient temperature)", a.label())
    } else {
        a.label().to_string()
    };
    json!({ "coding": codings, "text": text })
}

/// Where a blood gas was drawn, as bodySite: text, and a Pumpside coding for circuit sites.
fn gas_site(s: SampleSite) -> Value {
    let text = site_text(s);
    match s {
        SampleSite::PreOxygenator | SampleSite::PostOxygenator => {
            let code = if s == SampleSite::PreOxygenator {
                "site-pre-oxygenator"
            } else {
                "site-post-oxygenator"
            };
            json!({ "coding": [coding(PUMPSIDE, code, text)], "text": text })
        }
        _ => json!({ "text": text }),
    }
}

/// How the analyser reported the temperature-dependent values (Observation.method).
fn gas_method(reported: Reported) -> Value {
    let (code, text) = match reported {
        Reported::At37 => ("gas-reported-at-37", "Reported at 37 °C (alpha-stat)"),
        Reported::PatientTemperature => (
            "gas-reported-at-patient-temperature",
            "pH, pCO₂ and pO₂ adjusted to the patient's temperature (pH-stat)",
        ),
    };
    json!({ "coding": [coding(PUMPSIDE, code, text)], "text": text })
}

fn site_text(s: SampleSite) -> &'static str {
    match s {
        SampleSite::PatientArtery => "patient artery",
        SampleSite::PreOxygenator => "pre-oxygenator",
        SampleSite::PostOxygenator => "post-oxygenator",
        SampleSite::Venous => "venous",
        SampleSite::MixedVenous => "mixed venous (pulmonary artery)",
        SampleSite::Capillary => "capillary",
        SampleSite::Unspecified => "blood (site not given)",
    }
}

fn pumpside_code(code: &str, text: &str) -> Value {
    json!({ "coding": [coding(PUMPSIDE, code, text)], "text": text })
}

fn category(code: &str) -> Value {
    json!([{ "coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": code
    }] }])
}

fn kind_code(kind: CaseKind) -> Value {
    let mut codings = Vec::new();
    if let Some((c, d)) = codes::case_kind(kind) {
        codings.push(coding(SNOMED, c, d));
    }
    codings.push(coding(
        PUMPSIDE,
        &format!("case-kind-{}", kind.code()),
        kind.label(),
    ));
    json!({ "coding": codings, "text": kind.label() })
}

/// The event's codes; the text in the vocabulary of the run's kind (an ECMO run's start of
/// support is not "On bypass"; the Pumpside code is the same concept, the moment support
/// starts).
fn event_code(e: EventKind, kind: crate::domain::CaseKind) -> Value {
    let snomed = match e {
        EventKind::CrossClampOn => Some(("301882004", "Placement of aortic cross clamp")),
        EventKind::CrossClampOff => Some(("301884003", "Removal of aortic cross clamp")),
        _ => None,
    };
    let mut codings = Vec::new();
    if let Some((c, d)) = snomed {
        codings.push(coding(SNOMED, c, d));
    }
    codings.push(coding(PUMPSIDE, &e.code().replace('_', "-"), e.label()));
    json!({ "coding": codings, "text": e.label_for(kind) })
}

/// The run (the case) as a Procedure at the state `entries` describe.
pub fn run_procedure(case: &CaseSummary, entries: &[Entry]) -> Result<Mapped, MapError> {
    let patient = case.patient.ok_or(MapError::NoPatient(case.id))?;
    let view = CaseView::derive(entries);
    let status = entries
        .iter()
        .rev()
        .find_map(|e| match e.payload {
            EntryPayload::Status { status } => Some(status),
            _ => None,
        })
        .unwrap_or(case.status);
    let fhir_status = match status {
        CaseStatus::Planned | CaseStatus::Setup => "preparation",
        CaseStatus::Running => "in-progress",
        CaseStatus::Completed | CaseStatus::Signed => "completed",
    };
    let events: Vec<(EventKind, DateTime<Utc>)> = view
        .entries
        .iter()
        .filter_map(|e| match e.payload {
            EntryPayload::Event { event } => Some((*event, e.occurred_at())),
            _ => None,
        })
        .collect();
    let start = events
        .iter()
        .find(|(k, _)| *k == EventKind::BypassOn)
        .map(|(_, t)| *t)
        .unwrap_or(case.created_at);
    let mut period = json!({ "start": time(start) });
    if status >= CaseStatus::Completed {
        let end = events
            .iter()
            .rev()
            .find(|(k, _)| *k == EventKind::BypassOff)
            .map(|(_, t)| *t)
            .or_else(|| entries.last().map(|e| e.occurred_at))
            .unwrap_or(start);
        period["end"] = json!(time(end.max(start)));
    }
    let key = case.id.to_string();
    let mut p = json!({
        "resourceType": "Procedure",
        "identifier": identifier(&key),
        "status": fhir_status,
        "code": kind_code(case.kind),
        "subject": placeholder("Patient", &patient.to_string()),
        "performedPeriod": period,
        "note": [{ "text": case.label }],
    });
    // Where the patient is: a display-only reference (the hospital's Location resources are
    // not known to the tablet), from the newest location entry.
    if let Some(place) = view.location() {
        p["location"] = json!({ "display": place });
    }
    if status == CaseStatus::Signed {
        p["extension"] = json!([{
            "url": "https://pumpside.org/fhir/StructureDefinition/signed",
            "valueBoolean": true
        }]);
    }
    if case.is_demo {
        p["meta"] = json!({ "tag": [{ "system": PUMPSIDE, "code": "demo", "display": "Demo data, not a patient record" }] });
    }
    Ok(Mapped {
        resource_type: "Procedure",
        key,
        operation: Operation::Create,
        payload: p,
    })
}

/// Fields every resource mapped from an entry shares.
struct Common<'a> {
    case: &'a CaseSummary,
    entry: &'a Entry,
    patient: String,
}

impl Common<'_> {
    fn observation(&self, key: &str, code: Value, cat: &str) -> Map<String, Value> {
        let mut o = json!({
            "resourceType": "Observation",
            "identifier": identifier(key),
            "status": "final",
            "category": category(cat),
            "code": code,
            "subject": placeholder("Patient", &self.patient),
            "partOf": [placeholder("Procedure", &self.case.id.to_string())],
            "effectiveDateTime": time(self.entry.occurred_at),
            "performer": [{ "display": self.entry.author.user }],
        });
        if self.case.is_demo {
            o["meta"] = json!({ "tag": [{ "system": PUMPSIDE, "code": "demo" }] });
        }
        match o {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn medication(&self, key: &str, medication: Value, dose: Value, route: &str) -> Value {
        let mut m = json!({
            "resourceType": "MedicationAdministration",
            "identifier": identifier(key),
            "status": "completed",
            "medicationCodeableConcept": medication,
            "subject": placeholder("Patient", &self.patient),
            "partOf": [placeholder("Procedure", &self.case.id.to_string())],
            "effectiveDateTime": time(self.entry.occurred_at),
            "performer": [{ "actor": { "display": self.entry.author.user } }],
            "dosage": { "route": { "text": route }, "dose": dose },
        });
        if self.case.is_demo {
            m["meta"] = json!({ "tag": [{ "system": PUMPSIDE, "code": "demo" }] });
        }
        m
    }

    fn mapped(&self, resource_type: &'static str, key: String, payload: Value) -> Mapped {
        Mapped {
            resource_type,
            key,
            operation: Operation::Create,
            payload,
        }
    }

    /// A circuit part as a FHIR Device (lot, expiry, model) for the patient.
    fn device(&self, key: &str, comp: &crate::domain::entry::CircuitComponent) -> Value {
        let mut d = json!({
            "resourceType": "Device",
            "identifier": identifier(key),
            "status": "active",
            "manufacturer": comp.manufacturer,
            "lotNumber": comp.lot,
            "expirationDate": comp.expiry.to_string(),
            "deviceName": [{ "name": comp.model, "type": "model-name" }],
            "patient": placeholder("Patient", &self.patient),
        });
        if self.case.is_demo {
            d["meta"] = json!({ "tag": [{ "system": PUMPSIDE, "code": "demo" }] });
        }
        d
    }

    fn quantity_observation(&self, code: Value, cat: &str, value: Quantity) -> Mapped {
        let key = self.entry.id.to_string();
        let mut o = self.observation(&key, code, cat);
        o.insert("valueQuantity".into(), quantity(value.0, value.1));
        self.mapped("Observation", key, Value::Object(o))
    }
}

type Quantity<'a> = (Decimal, &'a str);

/// What `entry` of `case` becomes. `entries` is the case up to and including `entry` (status
/// changes need it to describe the run).
pub fn map_entry(
    case: &CaseSummary,
    entry: &Entry,
    entries: &[Entry],
) -> Result<Planned, MapError> {
    let patient = case.patient.ok_or(MapError::NoPatient(case.id))?;
    let c = Common {
        case,
        entry,
        patient: patient.to_string(),
    };
    let key = entry.id.to_string();
    let ml = |v: Decimal| (v, "mL");
    let one = |m: Mapped| Ok(Planned::Resources(vec![m]));
    match &entry.payload {
        // A move is an update of the run: its location is the newest location entry.
        EntryPayload::Status { .. } | EntryPayload::Location { .. } => {
            let mut run = run_procedure(case, entries)?;
            run.operation = Operation::Update;
            one(run)
        }
        EntryPayload::Event { event } => {
            let o = c.observation(&key, event_code(*event, case.kind), "procedure");
            let observation = c.mapped("Observation", key, Value::Object(o));
            // The first "on" (start of bypass or of support) starts the run's performedPeriod:
            // the run is updated with it (documented later than the case was opened, as an
            // ECMO cannulation in the ICU often is).
            let first_on = *event == EventKind::BypassOn
                && entries
                    .iter()
                    .filter(|e| matches!(e.payload, EntryPayload::Event { event: EventKind::BypassOn }))
                    .count()
                    == 1;
            if first_on {
                let mut run = run_procedure(case, entries)?;
                run.operation = Operation::Update;
                Ok(Planned::Resources(vec![observation, run]))
            } else {
                one(observation)
            }
        }
        EntryPayload::Act { seconds } => one(c.quantity_observation(
            json!({ "coding": [coding(LOINC, "3184-9", "Activated clotting time"), coding(PUMPSIDE, "act", "ACT")], "text": "ACT" }),
            "laboratory",
            (*seconds, "s"),
        )),
        EntryPayload::Measurement {
            parameter,
            value,
            unit,
        } => one(c.quantity_observation(
            parameter_code(*parameter),
            if codes::is_vital_sign(*parameter, ucum(unit)) {
                "vital-signs"
            } else {
                "procedure"
            },
            (*value, unit),
        )),
        EntryPayload::Urine { volume_ml } => one(c.quantity_observation(
            pumpside_code("urine-output", "Urine output"),
            "exam",
            ml(*volume_ml),
        )),
        EntryPayload::Ultrafiltration { mode, volume_ml } => {
            let text = format!("Ultrafiltration ({mode:?})");
            one(c.quantity_observation(
                pumpside_code("ultrafiltration-volume", &text),
                "procedure",
                ml(*volume_ml),
            ))
        }
        EntryPayload::CellSaverCollected { volume_ml } => one(c.quantity_observation(
            pumpside_code("cell-saver-collected", "Cell saver collected"),
            "procedure",
            ml(*volume_ml),
        )),
        EntryPayload::CellSaverReturned { volume_ml } => one(c.quantity_observation(
            pumpside_code("cell-saver-returned", "Cell saver returned"),
            "procedure",
            ml(*volume_ml),
        )),
        EntryPayload::ResidualVolume { volume_ml } => one(c.quantity_observation(
            pumpside_code("residual-volume", "Residual pump volume"),
            "procedure",
            ml(*volume_ml),
        )),
        EntryPayload::Note { text } => {
            let mut o = c.observation(&key, pumpside_code("note", "Perfusion note"), "exam");
            o.insert("valueString".into(), json!(text));
            one(c.mapped("Observation", key, Value::Object(o)))
        }
        EntryPayload::EcmoRule { key: rule, value, why } => {
            let mut o = c.observation(&key, pumpside_code("ecmo-rule", "ECMO rule for this run"), "procedure");
            o.insert("valueQuantity".into(), quantity(*value, "1"));
            o.insert(
                "extension".into(),
                json!([{ "url": ECMO_RULE_KEY, "valueCode": rule }]),
            );
            o.insert("note".into(), json!([{ "text": why }]));
            one(c.mapped("Observation", key, Value::Object(o)))
        }
        EntryPayload::HandoverNote { text } => {
            let mut o = c.observation(&key, pumpside_code("handover-note", "Handover note"), "exam");
            o.insert("valueString".into(), json!(text));
            one(c.mapped("Observation", key, Value::Object(o)))
        }
        EntryPayload::BloodGas(panel) => {
            let specimen = Specimen::of(panel.site);
            let reported = match panel.temperature {
                GasTemperature::At37 => Reported::At37,
                GasTemperature::Corrected { .. } => Reported::PatientTemperature,
            };
            let mut members = Vec::new();
            let mut out = Vec::new();
            for (a, v) in &panel.results {
                let member_key = derived_uuid(&key, a.code());
                let unit = if *a == Analyte::Ph && v.unit.trim().is_empty() {
                    "[pH]"
                } else {
                    v.unit.as_str()
                };
                let mut o = c.observation(
                    &member_key,
                    analyte_code(*a, unit, specimen, reported),
                    "laboratory",
                );
                o.insert("valueQuantity".into(), quantity(v.value, unit));
                o.insert("bodySite".into(), gas_site(panel.site));
                if codes::temperature_dependent(*a) {
                    o.insert("method".into(), gas_method(reported));
                }
                members.push(placeholder("Observation", &member_key));
                out.push(c.mapped("Observation", member_key, Value::Object(o)));
            }
            // The temperature a pH-stat gas was adjusted to, as a member of its own (LOINC
            // gas panels list body temperature as one), so a receiver has it with the values.
            if let GasTemperature::Corrected { patient_temp_c } = panel.temperature {
                let member_key = derived_uuid(&key, "patient-temperature");
                let (code, display) = codes::BODY_TEMPERATURE;
                let mut o = c.observation(
                    &member_key,
                    json!({ "coding": [coding(LOINC, code, display), coding(PUMPSIDE, "blood-gas-patient-temperature", "Patient temperature for the blood gas")], "text": "Patient temperature (blood gas)" }),
                    "laboratory",
                );
                o.insert("valueQuantity".into(), quantity(patient_temp_c, "Cel"));
                members.push(placeholder("Observation", &member_key));
                out.push(c.mapped("Observation", member_key, Value::Object(o)));
            }
            let (panel_code, panel_display) = specimen.panel();
            let mut panel_obs = c.observation(
                &key,
                json!({ "coding": [coding(LOINC, panel_code, panel_display), coding(PUMPSIDE, "blood-gas-panel", "Blood gas")], "text": format!("Blood gas ({})", site_text(panel.site)) }),
                "laboratory",
            );
            panel_obs.insert("bodySite".into(), gas_site(panel.site));
            panel_obs.insert("method".into(), gas_method(reported));
            panel_obs.insert("hasMember".into(), Value::Array(members));
            // Taken in from the hospital's laboratory: the results it came from.
            if let Some(source) = &panel.source {
                let from: Vec<Value> = source
                    .resources
                    .iter()
                    .map(|r| json!({ "reference": format!("{}{r}", source.server) }))
                    .collect();
                panel_obs.insert("derivedFrom".into(), Value::Array(from));
                if let Some(p) = &source.performer {
                    panel_obs.insert(
                        "note".into(),
                        json!([{ "text": format!("Taken in from {p} via {}", source.server) }]),
                    );
                }
            }
            // Members first: the panel refers to them.
            out.push(c.mapped("Observation", key, Value::Object(panel_obs)));
            Ok(Planned::Resources(out))
        }
        EntryPayload::Cardioplegia(d) => one(c.mapped(
            "MedicationAdministration",
            key.clone(),
            c.medication(
                &key,
                json!({ "coding": [coding(PUMPSIDE, "cardioplegia", "Cardioplegia")], "text": format!("Cardioplegia: {}", d.solution) }),
                quantity(d.volume_ml, "mL"),
                &format!("{:?}", d.route).to_lowercase(),
            ),
        )),
        EntryPayload::Heparin { units } => one(c.mapped(
            "MedicationAdministration",
            key.clone(),
            c.medication(
                &key,
                json!({ "coding": [coding(RXNORM, "5224", "heparin"), coding(PUMPSIDE, "heparin", "Heparin")], "text": "Heparin" }),
                quantity(*units, "[iU]"),
                "intravenous",
            ),
        )),
        EntryPayload::Protamine { mg } => one(c.mapped(
            "MedicationAdministration",
            key.clone(),
            c.medication(
                &key,
                json!({ "coding": [coding(PUMPSIDE, "protamine", "Protamine")], "text": "Protamine" }),
                quantity(*mg, "mg"),
                "intravenous",
            ),
        )),
        EntryPayload::Drug {
            name, dose, unit, ..
        } => one(c.mapped(
            "MedicationAdministration",
            key.clone(),
            c.medication(
                &key,
                json!({ "text": name }),
                quantity(*dose, unit),
                "into the circuit",
            ),
        )),
        EntryPayload::Fluid {
            kind,
            name,
            volume_ml,
        } => one(c.mapped(
            "MedicationAdministration",
            key.clone(),
            c.medication(
                &key,
                json!({ "coding": [coding(PUMPSIDE, codesystem::fluid(*kind).0, codesystem::fluid(*kind).1)], "text": name }),
                quantity(*volume_ml, "mL"),
                "into the circuit",
            ),
        )),
        EntryPayload::BloodProduct {
            product,
            unit_numbers,
            volume_ml,
        } => {
            let mut m = c.medication(
                &key,
                {
                    let (code, display) = codesystem::blood_product(*product);
                    json!({ "coding": [coding(PUMPSIDE, code, display)], "text": display })
                },
                quantity(*volume_ml, "mL"),
                "into the circuit",
            );
            if !unit_numbers.is_empty() {
                m["note"] = json!([{ "text": format!("Unit numbers: {}", unit_numbers.join(", ")) }]);
            }
            one(c.mapped("MedicationAdministration", key, m))
        }
        EntryPayload::Component(comp) => one(c.mapped("Device", key.clone(), c.device(&key, comp))),
        EntryPayload::Cannulation { .. } => {
            let mut o = c.observation(&key, pumpside_code("cannulation", "ECMO cannulation"), "procedure");
            let text = crate::domain::quick::cannulation_text(&entry.payload).unwrap_or_default();
            o.insert("valueString".into(), json!(text));
            one(c.mapped("Observation", key, Value::Object(o)))
        }
        // The new part as a Device, and the change itself as an Observation naming it, with
        // why: a receiver sees which oxygenator (lot) replaced which, when and by whom.
        EntryPayload::CircuitChange { component, why } => {
            let device_key = derived_uuid(&key, "device");
            let device = c.mapped("Device", device_key.clone(), c.device(&device_key, component));
            let mut o = c.observation(
                &key,
                pumpside_code("circuit-change", "Circuit change"),
                "procedure",
            );
            o.insert("valueString".into(), json!(why));
            o.insert("device".into(), placeholder("Device", &device_key));
            Ok(Planned::Resources(vec![
                device,
                c.mapped("Observation", key, Value::Object(o)),
            ]))
        }
        // A location entered in error: the run goes again with the location before it (its
        // Procedure must not be marked entered-in-error with it).
        EntryPayload::Retraction { target, .. }
            if entries
                .iter()
                .any(|e| e.id == *target && matches!(e.payload, EntryPayload::Location { .. })) =>
        {
            let mut run = run_procedure(case, entries)?;
            run.operation = Operation::Update;
            one(run)
        }
        EntryPayload::Retraction { target, .. } => Ok(Planned::Retract { target: *target }),
        EntryPayload::Correction {
            target, replacement, reason,
        } => correction(case, entry, entries, *target, replacement, reason),
        EntryPayload::ArtefactMark {
            target: ArtefactTarget::Entry(target),
            reason,
        } => artefact_mark(case, entry, entries, *target, reason),
        EntryPayload::Amendment {
            target,
            text,
            reason,
        } => {
            let mut o = c.observation(&key, pumpside_code("amendment", "Amendment"), "exam");
            o.insert("valueString".into(), json!(text));
            o.insert("note".into(), json!([annotation(entry, &format!("Why: {reason}"))]));
            if let Some(focus) = target.and_then(|t| current_resources(case, entries, t).pop()) {
                o.insert("focus".into(), json!([placeholder(focus.resource_type, &focus.key)]));
            }
            one(c.mapped("Observation", key, Value::Object(o)))
        }
        // A signed checklist run goes up whole as a QuestionnaireResponse (planned by the
        // engine from its entries), not entry by entry.
        EntryPayload::ChecklistStarted { .. }
        | EntryPayload::ChecklistAnswer { .. }
        | EntryPayload::ChecklistSigned { .. } => Ok(Planned::LocalOnly),
        // Kept on this device in this version (named in LOCAL_ONLY, said on the Sync screen).
        // Listed one by one: a new kind of entry must be decided here, never fall through.
        EntryPayload::Protocol { .. }
        | EntryPayload::Prime { .. }
        | EntryPayload::ArtefactMark {
            target: ArtefactTarget::Samples { .. },
            ..
        }
        | EntryPayload::ChecklistOverride { .. }
        | EntryPayload::AnticoagulationOverride { .. }
        | EntryPayload::DeviceAssociated { .. }
        | EntryPayload::DeviceReleased { .. }
        | EntryPayload::DeviceLink { .. }
        | EntryPayload::Advisory { .. } => Ok(Planned::LocalOnly),
    }
}

/// Who changed a record, when and why, as a FHIR Annotation on the changed resource.
fn annotation(by: &Entry, text: &str) -> Value {
    json!({ "authorString": by.author.user, "time": time(by.occurred_at), "text": text })
}

fn add_note(payload: &mut Value, note: Value) {
    match payload["note"].as_array_mut() {
        Some(notes) => notes.push(note),
        None => payload["note"] = json!([note]),
    }
}

/// The resources `target` stands for now: its entry with the corrections recorded before the
/// last entry of `entries` applied (the last entry is the change being planned).
fn current_resources(case: &CaseSummary, entries: &[Entry], target: EntryId) -> Vec<Mapped> {
    let before = &entries[..entries.len().saturating_sub(1)];
    let view = CaseView::derive(before);
    let Some(effective) = view.entries.iter().find(|e| e.original.id == target) else {
        return Vec::new();
    };
    let current = Entry {
        payload: effective.payload.clone(),
        ..effective.original.clone()
    };
    match map_entry(case, &current, before) {
        Ok(Planned::Resources(list)) => list,
        _ => Vec::new(),
    }
}

/// A correction of `target`: its resources again with the replacement's content, status
/// `corrected` (Observation; a MedicationAdministration or Device keeps its status) and a note
/// of who, when and why; a resource the replacement no longer has (an analyte taken out of a
/// gas) goes as entered-in-error, one it adds is created. The server keeps every version.
fn correction(
    case: &CaseSummary,
    entry: &Entry,
    entries: &[Entry],
    target: EntryId,
    replacement: &EntryPayload,
    reason: &str,
) -> Result<Planned, MapError> {
    let before = current_resources(case, entries, target);
    let Some(original) = entries.iter().find(|e| e.id == target) else {
        return Ok(Planned::LocalOnly);
    };
    if before.is_empty() {
        // The target stays on this device (a local-only kind), so does its correction.
        return Ok(Planned::LocalOnly);
    }
    let corrected = Entry {
        payload: replacement.clone(),
        ..original.clone()
    };
    let Planned::Resources(after) = map_entry(case, &corrected, entries)? else {
        return Ok(Planned::LocalOnly);
    };
    let note = annotation(entry, &format!("Corrected: {reason}"));
    let mut out = Vec::new();
    for old in &before {
        if !after.iter().any(|m| m.key == old.key) {
            let mut payload = entered_in_error(&old.payload);
            add_note(&mut payload, note.clone());
            out.push(Mapped {
                operation: Operation::Update,
                payload,
                ..old.clone()
            });
        }
    }
    for mut m in after {
        if before.iter().any(|b| b.key == m.key) {
            m.operation = Operation::Update;
        }
        if m.resource_type == "Observation" {
            m.payload["status"] = json!("corrected");
        }
        add_note(&mut m.payload, note.clone());
        out.push(m);
    }
    Ok(Planned::Resources(out))
}

/// `target` marked as artefact: its Observations updated with status `amended`, an
/// interpretation and a tag saying so, and a note of who, when and why. The value stays (the
/// record keeps what was measured); a receiver reading the interpretation or the tag knows not
/// to chart it as valid, and Pumpside's ECMO board leaves it out of the newest values.
fn artefact_mark(
    case: &CaseSummary,
    entry: &Entry,
    entries: &[Entry],
    target: EntryId,
    reason: &str,
) -> Result<Planned, MapError> {
    let note = annotation(entry, &format!("Marked artefact: {reason}"));
    let out: Vec<Mapped> = current_resources(case, entries, target)
        .into_iter()
        .filter(|m| m.resource_type == "Observation")
        .map(|mut m| {
            m.operation = Operation::Update;
            m.payload["status"] = json!("amended");
            m.payload["interpretation"] = json!([{
                "coding": [coding(PUMPSIDE, "artefact", "Artefact: not a valid measurement")],
                "text": "Artefact: not a valid measurement"
            }]);
            let mut tags = m.payload["meta"]["tag"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            tags.push(json!({ "system": PUMPSIDE, "code": "artefact" }));
            m.payload["meta"]["tag"] = Value::Array(tags);
            add_note(&mut m.payload, note.clone());
            m
        })
        .collect();
    if out.is_empty() {
        return Ok(Planned::LocalOnly);
    }
    Ok(Planned::Resources(out))
}

/// A Patient for a test or demo server that lacks one (never used against a production server:
/// `create_patients` is off by default).
pub fn patient_resource(p: &crate::domain::Patient) -> Value {
    use crate::domain::patient::Sex;
    let gender = match p.sex {
        Sex::Female => "female",
        Sex::Male => "male",
        Sex::Other => "other",
        Sex::Unknown => "unknown",
    };
    let mut name = json!({ "family": p.family_name });
    if !p.given_names.is_empty() {
        name["given"] = json!(p.given_names.split_whitespace().collect::<Vec<_>>());
    }
    json!({
        "resourceType": "Patient",
        "identifier": [{ "system": p.mrn.system, "value": p.mrn.value }],
        "name": [name],
        "gender": gender,
        "birthDate": p.birth_date.to_string(),
    })
}

/// `payload` again as entered-in-error (a retraction never deletes on the server).
pub fn entered_in_error(payload: &Value) -> Value {
    let mut p = payload.clone();
    p["status"] = json!("entered-in-error");
    p
}

/// The start of the chunk holding `t`.
pub fn chunk_start(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis().div_euclid(CHUNK_MS) * CHUNK_MS
}

/// One device trend chunk as SampledData: 600 one-second slots from `start_ms`, each the last
/// sample received in that second; a second without a usable sample is `E`. The identifier is
/// derived from case, channel and chunk start, so a re-upload is recognised.
pub fn trend_chunk(
    case: &CaseSummary,
    channel: &Channel,
    start_ms: i64,
    samples: &[Sample],
) -> Result<Option<Mapped>, MapError> {
    let patient = case.patient.ok_or(MapError::NoPatient(case.id))?;
    let slots = (CHUNK_MS / PERIOD_MS) as usize;
    let mut data: Vec<Option<String>> = vec![None; slots];
    let mut any = false;
    for s in samples {
        let offset = s.received_at.timestamp_millis() - start_ms;
        if !(0..CHUNK_MS).contains(&offset) {
            continue;
        }
        let slot = (offset / PERIOD_MS) as usize;
        data[slot] = match s.validity {
            Validity::Invalid | Validity::Artefact | Validity::Calibrating => None,
            _ => Some(s.value.to_string()),
        };
        any = true;
    }
    if !any {
        return Ok(None);
    }
    let text: Vec<&str> = data.iter().map(|d| d.as_deref().unwrap_or("E")).collect();
    let key = derived_uuid(
        &format!("{}/{}", case.id, channel.id),
        &start_ms.to_string(),
    );
    let start = DateTime::<Utc>::from_timestamp_millis(start_ms).unwrap_or_default();
    let end =
        DateTime::<Utc>::from_timestamp_millis(start_ms + CHUNK_MS - PERIOD_MS).unwrap_or_default();
    let unit = channel.unit.as_str();
    let mut origin = json!({ "value": 0, "unit": unit });
    if let Some(code) = ucum(unit) {
        origin["system"] = json!(UCUM);
        origin["code"] = json!(code);
    }
    let mut o = json!({
        "resourceType": "Observation",
        "identifier": identifier(&key),
        "status": "final",
        // SampledData: never the vital-signs category (the R4 profiles take valueQuantity).
        "category": category("procedure"),
        "code": parameter_code(channel.parameter),
        "subject": placeholder("Patient", &patient.to_string()),
        "partOf": [placeholder("Procedure", &case.id.to_string())],
        "effectivePeriod": { "start": time(start), "end": time(end) },
        "device": { "display": channel.source_device },
        "valueSampledData": {
            "origin": origin,
            "period": PERIOD_MS,
            "dimensions": 1,
            "data": text.join(" "),
        },
    });
    if case.is_demo {
        o["meta"] = json!({ "tag": [{ "system": PUMPSIDE, "code": "demo" }] });
    }
    Ok(Some(Mapped {
        resource_type: "Observation",
        key,
        operation: Operation::Create,
        payload: o,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A running ECMO run of a registered patient, started at 07:00.
    fn ecmo_run(kind: crate::domain::CaseKind) -> CaseSummary {
        CaseSummary {
            id: crate::domain::CaseId::new(),
            patient: Some(crate::domain::PatientId::new()),
            kind,
            status: crate::domain::CaseStatus::Running,
            label: "ECMO run".into(),
            is_demo: false,
            created_at: DateTime::parse_from_rfc3339("2026-11-20T07:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        }
    }

    /// Entry `seq` of `case`, `seq` minutes after its start, written by Nia Night.
    fn entry_of(case: &CaseSummary, seq: u64, payload: EntryPayload) -> Entry {
        let at = case.created_at + chrono::Duration::minutes(seq as i64);
        Entry {
            id: crate::domain::EntryId::new(),
            case_id: case.id,
            seq,
            occurred_at: at,
            recorded_at: at,
            author: crate::domain::Author::new("Nia Night", "icu-tablet-2"),
            payload,
            prev_hash: [0; 32],
            hash: [0; 32],
        }
    }

    fn resources(case: &CaseSummary, entries: &[Entry]) -> Vec<Mapped> {
        match map_entry(case, entries.last().unwrap(), entries).unwrap() {
            Planned::Resources(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_handover_note_is_an_observation_with_its_own_code_author_and_time() {
        let case = ecmo_run(crate::domain::CaseKind::EcmoVv);
        let note = EntryPayload::HandoverNote {
            text: "Sweep 3 L/min; clots at the connector".into(),
        };
        let r = resources(&case, &[entry_of(&case, 1, note)]);
        assert_eq!(r.len(), 1);
        let o = &r[0].payload;
        assert_eq!(r[0].resource_type, "Observation");
        assert_eq!(o["code"]["coding"][0]["code"], "handover-note");
        assert_eq!(o["code"]["coding"][0]["system"], PUMPSIDE);
        assert_eq!(o["valueString"], "Sweep 3 L/min; clots at the connector");
        assert!(super::super::codesystem::contains("handover-note"));
        assert!(o.to_string().contains("Nia Night"), "{o}");
    }

    #[test]
    fn a_circuit_change_sends_the_new_part_and_the_change_naming_it_with_why() {
        use crate::domain::entry::ComponentKind;
        use crate::domain::quick::QuickKind;
        let values: std::collections::BTreeMap<String, String> = [
            ("kind", "oxygenator"),
            ("manufacturer", "Acme"),
            ("model", "Oxy 8000"),
            ("lot", "L4471"),
            ("expiry", "2027-06-30"),
            ("why", "ΔP +40 % in 6 h, clots at the outlet"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let payload = QuickKind::CircuitChange.build(&values).unwrap();
        let EntryPayload::CircuitChange { component, why } = &payload else {
            panic!("{payload:?}")
        };
        assert_eq!(component.kind, ComponentKind::Oxygenator);
        assert_eq!(why, "ΔP +40 % in 6 h, clots at the outlet");
        let mut missing = values.clone();
        missing.insert("why".into(), " ".into());
        // A change without a reason is refused, by the form or by the entry's own check.
        match QuickKind::CircuitChange.build(&missing) {
            Err(e) => assert!(e.to_string().contains("why"), "{e}"),
            Ok(p) => assert!(p.validate().is_err(), "{p:?}"),
        }

        let case = ecmo_run(crate::domain::CaseKind::EcmoVa);
        let r = resources(&case, &[entry_of(&case, 1, payload)]);
        let types: Vec<&str> = r.iter().map(|m| m.resource_type).collect();
        assert_eq!(types, ["Device", "Observation"]);
        assert_eq!(r[0].payload["lotNumber"], "L4471");
        assert_eq!(r[1].payload["code"]["coding"][0]["code"], "circuit-change");
        assert_eq!(
            r[1].payload["valueString"],
            "ΔP +40 % in 6 h, clots at the outlet"
        );
        let device_id = r[0].payload["identifier"][0]["value"]
            .as_str()
            .unwrap()
            .trim_start_matches("urn:uuid:")
            .to_string();
        assert_eq!(r[0].key, device_id);
        assert!(
            r[1].payload["device"]["reference"]
                .as_str()
                .unwrap()
                .ends_with(&format!("Device/{device_id}")),
            "{}",
            r[1].payload
        );
    }

    #[test]
    fn a_move_updates_the_runs_location_and_a_move_entered_in_error_takes_it_back() {
        let case = ecmo_run(crate::domain::CaseKind::EcmoVa);
        let place = |unit: &str, bed: &str| EntryPayload::Location {
            unit: unit.into(),
            bed: bed.into(),
        };
        let icu = entry_of(&case, 1, place("Cardiac ICU", "7"));
        let wrong = entry_of(&case, 2, place("Cath lab", ""));
        let retract = entry_of(
            &case,
            3,
            EntryPayload::Retraction {
                target: wrong.id,
                reason: "the move was cancelled".into(),
            },
        );
        let all = [icu, wrong, retract];
        let run_of = |upto: usize| {
            let r = resources(&case, &all[..=upto]);
            assert_eq!(r.len(), 1);
            assert_eq!(r[0].resource_type, "Procedure");
            assert_eq!(r[0].operation, Operation::Update);
            assert_eq!(r[0].key, case.id.to_string());
            r[0].payload["location"]["display"].clone()
        };
        assert_eq!(run_of(0), "Cardiac ICU, bed 7");
        assert_eq!(run_of(1), "Cath lab");
        assert_eq!(
            run_of(2),
            "Cardiac ICU, bed 7",
            "the run is not entered-in-error"
        );
    }

    #[test]
    fn decimals_keep_their_received_precision_in_the_json_text() {
        let d: Decimal = "7.380".parse().unwrap();
        let v = json!({ "a": dec(d), "b": "text with \"quotes\"", "c": [dec("-0.5".parse().unwrap())] });
        assert_eq!(
            to_text(&v),
            r#"{"a":7.380,"b":"text with \"quotes\"","c":[-0.5]}"#
        );
        let back: Value = serde_json::from_str(&to_text(&v)).unwrap();
        assert_eq!(back["a"], json!(7.38));
    }

    /// An outbox row read back and written again (the engine rewrites references on the
    /// parsed row) keeps every number exactly; strings that look like numbers stay strings.
    #[test]
    fn an_outbox_row_read_back_keeps_every_number_as_written() {
        let text = r#"{"a":7.380,"b":"7.380 \"q\" -1","c":[-0.50,1e3,0,12],"d":{"e":-0.0},"f":true,"g":null,"h":"\\"}"#;
        let mut v = from_text(text).unwrap();
        assert_eq!(to_text(&v), text);
        v["id"] = json!("srv-1");
        assert!(to_text(&v).contains(r#""a":7.380"#));
        assert!(to_text(&v).contains(r#""c":[-0.50,1e3,0,12]"#));
        assert!(
            from_text(r#"{"a":01.2.3}"#).is_err(),
            "not a number: refused"
        );
    }

    #[test]
    fn derived_uuids_are_stable_distinct_and_well_formed() {
        let a = derived_uuid("case/ch", "600000");
        assert_eq!(a, derived_uuid("case/ch", "600000"));
        assert_ne!(a, derived_uuid("case/ch", "1200000"));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8", "version 8 layout: {a}");
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    #[test]
    fn units_map_to_ucum_and_unknown_units_carry_no_code() {
        assert_eq!(ucum("mmHg"), Some("mm[Hg]"));
        assert_eq!(ucum("°C"), Some("Cel"));
        assert_eq!(ucum("furlongs"), None);
        let q = quantity("12".parse().unwrap(), "furlongs");
        assert!(q.get("system").is_none() && q.get("code").is_none());
        let q = quantity("7.38".parse().unwrap(), "");
        assert_eq!(
            (q["unit"].as_str(), q["code"].as_str()),
            (Some("1"), Some("1"))
        );
    }
}
