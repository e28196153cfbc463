//! Checklists on a real SQLite file: runs as entries, every item kind, N/A, mandatory items,
//! signing, the pre-bypass gate with override, template versions, and the FHIR mapping checked
//! by a real FHIR validator (@medplum/core in tests/peers/fhir).

use std::process::Command;

use chrono::{Duration, Utc};
use pumpside::domain::checklist::{self, Answer, Purpose, Template};
use pumpside::domain::{
    Author, CaseId, CaseKind, CaseStatus, Decimal, Entry, EntryId, EntryPayload, EventKind,
    NewEntry, ValidationError,
};
use pumpside::store::{NewCase, Store, StoreError};
use pumpside::sync::fhir;

use crate::record::open;

fn author() -> Author {
    Author::new("R. Perfusionist", "or-3-tablet")
}

async fn add(s: &Store, case: CaseId, payload: EntryPayload) -> Result<Entry, StoreError> {
    s.append_entry(NewEntry {
        case_id: case,
        occurred_at: Utc::now() - Duration::seconds(1),
        author: author(),
        payload,
    })
    .await
}

async fn cpb_case(s: &Store) -> CaseId {
    s.create_case(
        NewCase {
            kind: CaseKind::Cpb,
            patient: None,
            label: "AVR".into(),
            is_demo: false,
            status: CaseStatus::Setup,
        },
        author(),
    )
    .await
    .unwrap()
    .id
}

async fn shipped(s: &Store) -> Vec<Template> {
    let (templates, errors) = checklist::load_all(&checklist::shipped());
    assert!(errors.is_empty());
    for t in &templates {
        s.import_template(t.clone()).await.unwrap();
    }
    templates
}

async fn start(s: &Store, case: CaseId, t: &Template) -> EntryId {
    add(
        s,
        case,
        EntryPayload::ChecklistStarted {
            template: t.id.clone(),
            version: t.version.clone(),
            digest: t.digest.clone(),
            purpose: t.purpose,
        },
    )
    .await
    .unwrap()
    .id
}

async fn answer(
    s: &Store,
    case: CaseId,
    run: EntryId,
    item: &str,
    a: Answer,
) -> Result<Entry, StoreError> {
    add(
        s,
        case,
        EntryPayload::ChecklistAnswer {
            run,
            item: item.into(),
            answer: a,
        },
    )
    .await
}

/// Answer every item of a template the way a perfusionist would.
async fn complete(s: &Store, case: CaseId, t: &Template, run: EntryId) {
    for item in t.items() {
        let a = match &item.kind {
            checklist::ItemKind::Check => Answer::Checked,
            checklist::ItemKind::YesNo => Answer::Yes,
            checklist::ItemKind::Number { min, max, .. } => Answer::Number(
                Decimal::from_f64((min.max(0.0) + max.min(1000.0)) / 2.0, 0).unwrap(),
            ),
            checklist::ItemKind::Text => Answer::Text("nothing to report".into()),
            checklist::ItemKind::Choice { options } => Answer::Choice(options[0].clone()),
        };
        answer(s, case, run, &item.id, a).await.unwrap();
    }
}

#[tokio::test]
async fn bypass_needs_a_signed_pre_bypass_checklist_or_an_override_with_a_reason() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let templates = shipped(&s).await;
    let pre = templates
        .iter()
        .find(|t| t.purpose == Purpose::PreBypass)
        .unwrap();

    let case = cpb_case(&s).await;
    let e = add(
        &s,
        case,
        EntryPayload::Event {
            event: EventKind::BypassOn,
        },
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Invalid(ValidationError::ChecklistRequired { .. })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("override with a reason"), "{e}");
    let e = add(
        &s,
        case,
        EntryPayload::ChecklistOverride {
            purpose: Purpose::PreBypass,
            reason: " ".into(),
        },
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("checklist_override.reason"), "{e}");
    // A started but unsigned checklist does not open the gate.
    let run = start(&s, case, pre).await;
    answer(
        &s,
        case,
        run,
        &pre.items().next().unwrap().id,
        Answer::Checked,
    )
    .await
    .unwrap();
    assert!(add(
        &s,
        case,
        EntryPayload::Event {
            event: EventKind::BypassOn
        }
    )
    .await
    .is_err());
    // Override with a reason: recorded on the timeline, bypass starts.
    let ov = add(
        &s,
        case,
        EntryPayload::ChecklistOverride {
            purpose: Purpose::PreBypass,
            reason: "emergency: aortic dissection, surgeon's call".into(),
        },
    )
    .await
    .unwrap();
    add(
        &s,
        case,
        EntryPayload::Event {
            event: EventKind::BypassOn,
        },
    )
    .await
    .unwrap();
    let entries = s.entries(case).await.unwrap();
    assert!(entries
        .iter()
        .any(|e| e.id == ov.id && e.author == author()));

    // A completed, signed checklist opens the gate too.
    let case2 = cpb_case(&s).await;
    let run = start(&s, case2, pre).await;
    complete(&s, case2, pre, run).await;
    add(&s, case2, EntryPayload::ChecklistSigned { run })
        .await
        .unwrap();
    add(
        &s,
        case2,
        EntryPayload::Event {
            event: EventKind::BypassOn,
        },
    )
    .await
    .unwrap();

    // ECMO cases are not gated by the pre-bypass checklist.
    let ecmo = s
        .create_case(
            NewCase {
                kind: CaseKind::EcmoVa,
                patient: None,
                label: "VA bed 2".into(),
                is_demo: false,
                status: CaseStatus::Running,
            },
            author(),
        )
        .await
        .unwrap();
    add(
        &s,
        ecmo.id,
        EntryPayload::Event {
            event: EventKind::BypassOn,
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn runs_record_who_and_when_enforce_items_and_signing_and_are_append_only() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let templates = shipped(&s).await;
    let ecmo = templates.iter().find(|t| t.id == "ecmo-shift").unwrap();
    let case = cpb_case(&s).await;
    let run = start(&s, case, ecmo).await;

    // Wrong kind, out of range, unknown item, unknown run: refused, nothing written.
    let before = s.entries(case).await.unwrap().len();
    assert!(answer(&s, case, run, "sweep", Answer::Checked)
        .await
        .is_err());
    let e = answer(
        &s,
        case,
        run,
        "sweep",
        Answer::Number("40".parse().unwrap()),
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string().contains("40 L/min") && e.to_string().contains("0 to 15 L/min"),
        "{e}"
    );
    assert!(answer(&s, case, run, "no-such-item", Answer::Checked)
        .await
        .is_err());
    assert!(answer(&s, case, EntryId::new(), "sweep", Answer::Checked)
        .await
        .is_err());
    let e = answer(
        &s,
        case,
        run,
        "heater",
        Answer::NotApplicable { reason: "".into() },
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("na_reason"), "{e}");
    assert_eq!(s.entries(case).await.unwrap().len(), before);

    // N/A with a reason counts as answered.
    answer(
        &s,
        case,
        run,
        "limb-perfusion",
        Answer::NotApplicable {
            reason: "VV cannulation".into(),
        },
    )
    .await
    .unwrap();
    let e = add(&s, case, EntryPayload::ChecklistSigned { run })
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("missing:") && e.to_string().contains("cannula-fixation"),
        "{e}"
    );
    complete(&s, case, ecmo, run).await;
    answer(
        &s,
        case,
        run,
        "limb-perfusion",
        Answer::NotApplicable {
            reason: "VV cannulation".into(),
        },
    )
    .await
    .unwrap();
    add(&s, case, EntryPayload::ChecklistSigned { run })
        .await
        .unwrap();
    let e = answer(&s, case, run, "heater", Answer::No)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not yet signed"), "{e}");

    let entries = s.entries(case).await.unwrap();
    let runs = checklist::runs(&entries);
    let r = &runs[0];
    assert!(r.signed.as_ref().is_some_and(|(by, _)| *by == author()));
    let state = checklist::RunState::derive(ecmo, &r.recorded);
    assert!(state.complete());
    assert_eq!(
        state.answers["limb-perfusion"].answer,
        Answer::NotApplicable {
            reason: "VV cannulation".into()
        }
    );
    assert!(r.recorded.iter().all(|a| a.by == author()));
    s.verify_chain(case).await.unwrap();

    // Due logic from the recorded sign time: the 8-hourly check is due 8 h after signing.
    let signed_at = r.signed.as_ref().unwrap().1;
    let due = checklist::due_status(
        ecmo.every_hours.unwrap(),
        Some(signed_at),
        r.started,
        signed_at + Duration::hours(9),
    );
    assert!(due.overdue && due.overdue_by == Duration::hours(1));
}

#[tokio::test]
async fn a_case_keeps_the_template_version_it_used() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let templates = shipped(&s).await;
    let cs = templates.iter().find(|t| t.id == "cell-saver").unwrap();
    let case = cpb_case(&s).await;
    let run = start(&s, case, cs).await;
    // The hospital edits the template: same version refused, new version accepted.
    let edited = cs
        .source
        .replace("Waste bag in place", "Waste bag in place and labelled");
    let same_version = Template::parse("site/cell-saver.toml", &edited).unwrap();
    let e = s.import_template(same_version).await.unwrap_err();
    assert!(e.to_string().contains("new version"), "{e}");
    let v2 = Template::parse(
        "site/cell-saver.toml",
        &edited.replace(
            &format!("version = \"{}\"", cs.version),
            "version = \"2026-12-01.1\"",
        ),
    )
    .unwrap();
    assert!(s.import_template(v2.clone()).await.unwrap());
    assert!(
        !s.import_template(v2.clone()).await.unwrap(),
        "re-import is a no-op"
    );
    // The running case still answers against its own version.
    complete(&s, case, cs, run).await;
    add(&s, case, EntryPayload::ChecklistSigned { run })
        .await
        .unwrap();
    let entries = s.entries(case).await.unwrap();
    let r = &checklist::runs(&entries)[0];
    assert_eq!(r.digest, cs.digest);
    let stored = s.template(r.digest.clone()).await.unwrap().unwrap();
    assert!(stored.source.contains("Waste bag in place\""));
    assert_eq!(
        s.templates()
            .await
            .unwrap()
            .iter()
            .filter(|t| t.id == "cell-saver")
            .count(),
        2
    );
}

fn validator() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/fhir");
    assert!(
        dir.join("node_modules/@medplum/core").exists(),
        "the FHIR validator is not installed: run scripts/setup.sh (npm ci in tests/peers/fhir)"
    );
    dir.join("validate.mjs")
}

#[tokio::test]
async fn every_shipped_template_and_a_completed_run_are_valid_fhir_r4() {
    let dir = crate::temp_dir();
    let s = open(&dir);
    let templates = shipped(&s).await;
    let mut resources: Vec<serde_json::Value> = templates.iter().map(fhir::questionnaire).collect();
    let case = cpb_case(&s).await;
    for t in &templates {
        let run = start(&s, case, t).await;
        complete(&s, case, t, run).await;
        if let Some(first_optional) = t.items().find(|i| !i.mandatory) {
            answer(
                &s,
                case,
                run,
                &first_optional.id,
                Answer::NotApplicable {
                    reason: "not needed".into(),
                },
            )
            .await
            .unwrap();
        }
        add(&s, case, EntryPayload::ChecklistSigned { run })
            .await
            .unwrap();
    }
    let entries = s.entries(case).await.unwrap();
    for (t, r) in templates.iter().zip(checklist::runs(&entries)) {
        let qr = fhir::questionnaire_response(t, &r, case, Some("example-patient"));
        assert_eq!(qr["status"], "completed");
        assert_eq!(
            qr["questionnaire"],
            format!("{}|{}", fhir::questionnaire_url(t), t.version)
        );
        resources.push(qr);
    }
    let file = dir.path().join("fhir.json");
    // As the app sends them: `to_text` writes decimals exactly as they were answered.
    let text: Vec<String> = resources.iter().map(pumpside::sync::map::to_text).collect();
    std::fs::write(&file, format!("[{}]", text.join(","))).unwrap();
    let out = Command::new("node")
        .arg(validator())
        .arg(&file)
        .output()
        .expect("node (run scripts/setup.sh)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "FHIR validation failed:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with("valid ")).count(),
        resources.len(),
        "{text}"
    );

    // The validator is real: a broken resource is refused.
    let mut broken = resources[0].clone();
    broken["item"][0]["linkid"] = serde_json::json!("typo");
    std::fs::write(&file, serde_json::to_string(&broken).unwrap()).unwrap();
    let out = Command::new("node")
        .arg(validator())
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
}
