//! FHIR R4 JSON for checklists: a template is a Questionnaire (versioned canonical), a run is a
//! QuestionnaireResponse. Only this module writes FHIR JSON.

use serde_json::{json, Value};

use crate::domain::checklist::{Answer, ItemKind, Run, RunState, Template};
use crate::domain::CaseId;

/// Canonical base for Pumpside's questionnaires.
pub const QUESTIONNAIRE_BASE: &str = "https://pumpside.org/fhir/Questionnaire/";
const NA_REASON_EXT: &str = "https://pumpside.org/fhir/StructureDefinition/not-applicable-reason";

pub fn questionnaire_url(t: &Template) -> String {
    format!("{QUESTIONNAIRE_BASE}{}", t.id)
}

fn item_json(item: &crate::domain::checklist::Item) -> Value {
    let mut v = json!({
        "linkId": item.id,
        "text": item.text,
        "required": item.mandatory,
    });
    match &item.kind {
        ItemKind::Check | ItemKind::YesNo => v["type"] = json!("boolean"),
        ItemKind::Text => v["type"] = json!("string"),
        ItemKind::Number { unit, min, max } => {
            v["type"] = json!("decimal");
            let mut ext = vec![json!({
                "url": "http://hl7.org/fhir/StructureDefinition/questionnaire-unit",
                "valueCoding": { "system": "http://unitsofmeasure.org", "code": unit, "display": unit }
            })];
            if min.is_finite() && *min > f64::MIN {
                ext.push(json!({ "url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueDecimal": min }));
            }
            if max.is_finite() && *max < f64::MAX {
                ext.push(json!({ "url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueDecimal": max }));
            }
            v["extension"] = json!(ext);
        }
        ItemKind::Choice { options } => {
            v["type"] = json!("choice");
            v["answerOption"] = json!(options
                .iter()
                .map(|o| json!({ "valueString": o }))
                .collect::<Vec<_>>());
        }
    }
    if let Some(help) = &item.help {
        v["item"] =
            json!([{ "linkId": format!("{}.help", item.id), "type": "display", "text": help }]);
    }
    v
}

/// The template as a Questionnaire.
pub fn questionnaire(t: &Template) -> Value {
    let name: String =
        t.id.split(['-', '_', '.'])
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
    json!({
        "resourceType": "Questionnaire",
        "url": questionnaire_url(t),
        "version": t.version,
        "name": name,
        "title": t.title,
        "status": "active",
        "subjectType": ["Patient"],
        "identifier": [{ "system": "urn:ietf:rfc:3986", "value": format!("urn:sha256:{}", t.digest) }],
        "item": t.sections.iter().enumerate().map(|(i, s)| json!({
            "linkId": format!("section-{}", i + 1),
            "type": "group",
            "text": s.title,
            "item": s.items.iter().map(item_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn answer_json(a: &Answer) -> Option<Value> {
    Some(match a {
        Answer::Checked | Answer::Yes => json!({ "valueBoolean": true }),
        Answer::No => json!({ "valueBoolean": false }),
        // Written as received (3.50 stays 3.50) by `map::to_text`.
        Answer::Number(d) => json!({ "valueDecimal": super::map::dec(*d) }),
        Answer::Text(t) => json!({ "valueString": t }),
        Answer::Choice(c) => json!({ "valueString": c }),
        Answer::NotApplicable { .. } => return None,
    })
}

/// A run as a QuestionnaireResponse. `patient` is the Patient's FHIR id when the case has one.
pub fn questionnaire_response(
    t: &Template,
    run: &Run,
    case: CaseId,
    patient: Option<&str>,
) -> Value {
    let state = RunState::derive(t, &run.recorded);
    let mut v = json!({
        "resourceType": "QuestionnaireResponse",
        "identifier": { "system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{}", run.id) },
        "questionnaire": format!("{}|{}", questionnaire_url(t), t.version),
        "status": if run.signed.is_some() { "completed" } else { "in-progress" },
        "item": t.sections.iter().enumerate().map(|(i, s)| {
            let items: Vec<Value> = s.items.iter().filter_map(|it| {
                let rec = state.answers.get(&it.id)?;
                let mut iv = json!({ "linkId": it.id, "text": it.text });
                match answer_json(&rec.answer) {
                    Some(a) => iv["answer"] = json!([a]),
                    None => {
                        if let Answer::NotApplicable { reason } = &rec.answer {
                            iv["extension"] = json!([{ "url": NA_REASON_EXT, "valueString": reason }]);
                        }
                    }
                }
                Some(iv)
            }).collect();
            json!({ "linkId": format!("section-{}", i + 1), "text": s.title, "item": items })
        }).filter(|g| g["item"].as_array().is_some_and(|a| !a.is_empty())).collect::<Vec<_>>(),
        "extension": [{
            "url": "https://pumpside.org/fhir/StructureDefinition/case",
            "valueIdentifier": { "system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{case}") }
        }],
    });
    if let Some((by, at)) = &run.signed {
        v["authored"] = json!(at.to_rfc3339());
        v["author"] = json!({ "display": format!("{} ({})", by.user, by.device) });
    }
    if let Some(p) = patient {
        v["subject"] = json!({ "reference": format!("Patient/{p}") });
    }
    v
}
