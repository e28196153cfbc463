//! What a receiving EHR reads: a venous gas, a pH-stat gas and a post-oxygenator gas uploaded to
//! the real FHIR peer, then a correction, an artefact mark and an amendment, all read back with a
//! plain HTTP client (no Pumpside code on the reading side).

use chrono::{Duration, Utc};
use pumpside::domain::bloodgas::{
    Analyte, AnalyteValue, BloodGasPanel, GasTemperature, SampleSite,
};
use pumpside::domain::entry::ArtefactTarget;
use pumpside::domain::{CaseKind, CaseStatus, EntryPayload};
use pumpside::store::NewCase;
use pumpside::sync::map::derived_uuid;
use pumpside::sync::SyncEngine;
use serde_json::Value;

use crate::sync::{add, author, config, d, open, sync_until_done, test_patient, FhirPeer};

fn gas(
    site: SampleSite,
    temperature: GasTemperature,
    values: &[(Analyte, &str, &str)],
) -> EntryPayload {
    EntryPayload::BloodGas(BloodGasPanel {
        site,
        temperature,
        results: values
            .iter()
            .map(|(a, v, u)| {
                (
                    *a,
                    AnalyteValue {
                        value: d(v),
                        unit: (*u).into(),
                    },
                )
            })
            .collect(),
        source: None,
    })
}

/// The one resource carrying this client identifier, and the server's raw JSON text of it.
async fn by_key(peer: &FhirPeer, rt: &str, key: &str) -> (Value, String) {
    let text = reqwest::get(format!(
        "{}{rt}?identifier=urn:ietf:rfc:3986|urn:uuid:{key}",
        peer.base()
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let bundle: Value = serde_json::from_str(&text).unwrap();
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "{rt} {key}: {text}");
    (entries[0]["resource"].clone(), text)
}

fn loinc(v: &Value) -> Vec<String> {
    v["code"]["coding"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["system"] == "http://loinc.org")
        .map(|c| c["code"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn venous_ph_stat_and_circuit_gases_and_their_corrections_read_back_with_the_right_codes() {
    let peer = FhirPeer::start(None);
    let dir = crate::temp_dir();
    let s = open(dir.path());
    let patient = test_patient(&s, "CODES-1").await;
    let case = s
        .create_case(
            NewCase {
                kind: CaseKind::Cpb,
                patient: Some(patient),
                label: "CABG · codes".into(),
                is_demo: false,
                status: CaseStatus::Running,
            },
            author(),
        )
        .await
        .unwrap()
        .id;
    let t0 = Utc::now() - Duration::minutes(30);
    let venous = add(
        &s,
        case,
        t0,
        gas(
            SampleSite::Venous,
            GasTemperature::At37,
            &[
                (Analyte::Ph, "7.340", ""),
                (Analyte::Po2, "40", "mmHg"),
                (Analyte::So2, "72", "%"),
            ],
        ),
    )
    .await;
    let ph_stat = add(
        &s,
        case,
        t0 + Duration::minutes(5),
        gas(
            SampleSite::PatientArtery,
            GasTemperature::Corrected {
                patient_temp_c: d("32.0"),
            },
            &[
                (Analyte::Ph, "7.480", ""),
                (Analyte::Pco2, "31.0", "mmHg"),
                (Analyte::Po2, "250", "mmHg"),
                (Analyte::K, "4.1", "mmol/L"),
                (Analyte::Glucose, "7.2", "mmol/L"),
                (Analyte::Lactate, "18", "mg/dL"),
            ],
        ),
    )
    .await;
    let post = add(
        &s,
        case,
        t0 + Duration::minutes(10),
        gas(
            SampleSite::PostOxygenator,
            GasTemperature::At37,
            &[(Analyte::Po2, "310", "mmHg")],
        ),
    )
    .await;
    let engine = SyncEngine::new(s.clone(), config(&peer.base(), ""), author()).unwrap();
    engine.plan(Utc::now()).await.unwrap();
    let errors = sync_until_done(&engine, &s, 3).await;
    assert!(errors.is_empty(), "{errors:?}");

    // The codes a receiver charts by.
    let member =
        |entry: &pumpside::domain::Entry, a: Analyte| derived_uuid(&entry.id.to_string(), a.code());
    let (v_po2, _) = by_key(&peer, "Observation", &member(&venous, Analyte::Po2)).await;
    assert_eq!(loinc(&v_po2), ["2705-2"], "venous pO2 is not a PaO2");
    let (v_panel, _) = by_key(&peer, "Observation", &venous.id.to_string()).await;
    assert_eq!(loinc(&v_panel), ["24339-4"]);
    let (p_po2, _) = by_key(&peer, "Observation", &member(&post, Analyte::Po2)).await;
    assert_eq!(
        loinc(&p_po2),
        ["11556-8"],
        "post-oxygenator blood is not the patient's artery"
    );
    assert!(p_po2["bodySite"]
        .to_string()
        .contains("site-post-oxygenator"));
    let (h_ph, _) = by_key(&peer, "Observation", &member(&ph_stat, Analyte::Ph)).await;
    assert_eq!(loinc(&h_ph), ["33254-4"]);
    let (h_po2, _) = by_key(&peer, "Observation", &member(&ph_stat, Analyte::Po2)).await;
    assert_eq!(loinc(&h_po2), ["19255-9"]);
    assert!(h_po2["method"]
        .to_string()
        .contains("gas-reported-at-patient-temperature"));
    let (h_k, _) = by_key(&peer, "Observation", &member(&ph_stat, Analyte::K)).await;
    assert_eq!(loinc(&h_k), ["6298-4"]);
    assert!(h_k.get("method").is_none(), "K is not temperature-adjusted");
    let (h_glu, _) = by_key(&peer, "Observation", &member(&ph_stat, Analyte::Glucose)).await;
    assert_eq!(
        loinc(&h_glu),
        ["15074-8"],
        "mmol/L glucose is a substance concentration"
    );
    let (h_lac, _) = by_key(&peer, "Observation", &member(&ph_stat, Analyte::Lactate)).await;
    assert_eq!(
        loinc(&h_lac),
        ["59032-3"],
        "mg/dL lactate is a mass concentration, in blood"
    );
    let (temp, temp_text) = by_key(
        &peer,
        "Observation",
        &derived_uuid(&ph_stat.id.to_string(), "patient-temperature"),
    )
    .await;
    assert_eq!(loinc(&temp), ["8310-5"]);
    assert_eq!(temp["valueQuantity"]["code"], "Cel");
    // (The peer keeps JSON numbers as JavaScript does, 32.0 as 32; what went on the wire is
    // checked byte for byte in fake_fhir.rs.)
    assert_eq!(temp["valueQuantity"]["value"], 32, "{temp_text}");
    let (h_panel, _) = by_key(&peer, "Observation", &ph_stat.id.to_string()).await;
    assert_eq!(loinc(&h_panel), ["24336-0"]);
    assert_eq!(
        h_panel["hasMember"].as_array().unwrap().len(),
        7,
        "6 analytes + temperature"
    );

    // A correction (pO2 mistyped, sO2 not measured), an artefact mark, an amendment.
    let corrected = add(
        &s,
        case,
        t0 + Duration::minutes(20),
        EntryPayload::Correction {
            target: venous.id,
            replacement: Box::new(gas(
                SampleSite::Venous,
                GasTemperature::At37,
                &[(Analyte::Ph, "7.340", ""), (Analyte::Po2, "42", "mmHg")],
            )),
            reason: "transcription error".into(),
        },
    )
    .await;
    add(
        &s,
        case,
        t0 + Duration::minutes(21),
        EntryPayload::ArtefactMark {
            target: ArtefactTarget::Entry(post.id),
            reason: "air bubble in the sample".into(),
        },
    )
    .await;
    let amendment = add(
        &s,
        case,
        t0 + Duration::minutes(22),
        EntryPayload::Amendment {
            target: Some(venous.id),
            text: "Sample drawn during a flow reduction".into(),
            reason: "context for the reviewer".into(),
        },
    )
    .await;
    engine.plan(Utc::now()).await.unwrap();
    let errors = sync_until_done(&engine, &s, 6).await;
    assert!(errors.is_empty(), "{errors:?}");

    let (v_po2, v_text) = by_key(&peer, "Observation", &member(&venous, Analyte::Po2)).await;
    assert_eq!(v_po2["status"], "corrected");
    assert_eq!(v_po2["valueQuantity"]["value"], 42);
    assert_eq!(loinc(&v_po2), ["2705-2"]);
    let note = v_po2["note"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(note["authorString"], author().user);
    assert!(note["text"]
        .as_str()
        .unwrap()
        .contains("transcription error"));
    assert!(v_text.contains("\"versionId\""));
    let (v_so2, _) = by_key(&peer, "Observation", &member(&venous, Analyte::So2)).await;
    assert_eq!(
        v_so2["status"], "entered-in-error",
        "taken out by the correction"
    );
    let (v_panel, _) = by_key(&peer, "Observation", &venous.id.to_string()).await;
    assert_eq!(v_panel["status"], "corrected");
    assert_eq!(v_panel["hasMember"].as_array().unwrap().len(), 2);
    let (p_po2, _) = by_key(&peer, "Observation", &member(&post, Analyte::Po2)).await;
    assert_eq!(p_po2["status"], "amended");
    assert!(p_po2["meta"]["tag"].to_string().contains("artefact"));
    assert!(p_po2["interpretation"].to_string().contains("artefact"));
    assert_eq!(
        p_po2["valueQuantity"]["value"], 310,
        "the value stays as measured"
    );
    let (amend, _) = by_key(&peer, "Observation", &amendment.id.to_string()).await;
    assert_eq!(amend["valueString"], "Sample drawn during a flow reduction");
    let focus = amend["focus"][0]["reference"].as_str().unwrap();
    assert_eq!(
        focus,
        format!("Observation/{}", v_panel["id"].as_str().unwrap())
    );
    // Who and why, in a Provenance of the change.
    let provenance = peer.get("Provenance?_count=500").await;
    let why: Vec<&Value> = provenance["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|p| p["reason"].to_string().contains("transcription error"))
        .collect();
    assert!(!why.is_empty(), "{provenance}");
    assert!(why
        .iter()
        .all(|p| p["activity"]["coding"][0]["code"] == "UPDATE"
            && p["agent"][0]["who"]["display"] == author().user.as_str()));
    assert!(corrected.seq > venous.seq);
    // Nothing left behind.
    assert_eq!(s.outbox_summary().await.unwrap().pending, 0);
    assert_eq!(s.outbox_summary().await.unwrap().rejected, 0);
}

/// A blood gas and a potassium the hospital's point-of-care system posted for the patient (by
/// another FHIR client) are offered in the running case, taken in with one tap as one panel at
/// the sample's time naming its source, never offered again, and a second tap writes nothing.
#[tokio::test]
async fn lab_results_posted_by_another_client_are_offered_and_taken_in_with_one_tap() {
    use pumpside::app::case::WriteError;
    use pumpside::app::{CaseSession, DeviceHub};
    use pumpside::domain::protocol::Protocol;
    use serde_json::json;

    let peer = FhirPeer::start(None);
    let dir = crate::temp_dir();
    let s = open(dir.path());
    let patient = test_patient(&s, "LAB-1").await;
    let case = s
        .create_case(
            NewCase {
                kind: CaseKind::Cpb,
                patient: Some(patient),
                label: "CABG · labs".into(),
                is_demo: false,
                status: CaseStatus::Running,
            },
            author(),
        )
        .await
        .unwrap()
        .id;
    // The tablet uploads first: the server then has the Patient (a test server may create it).
    let engine = SyncEngine::new(s.clone(), config(&peer.base(), ""), author()).unwrap();
    sync_until_done(&engine, &s, 3).await;
    let server_patient = peer
        .get(&format!(
            "Patient?identifier={}|LAB-1",
            crate::sync::TEST_MRN_SYSTEM
        ))
        .await["entry"][0]["resource"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The point-of-care analyser's interface posts three results (raw JSON text: 7.380 as sent).
    let taken = (Utc::now() - Duration::minutes(3)).to_rfc3339();
    let post = |code: &str, value: &str, unit: &str| {
        format!(
            r#"{{"resourceType":"Observation","status":"final","category":[{{"coding":[{{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}}]}}],"code":{{"coding":[{{"system":"http://loinc.org","code":"{code}"}}]}},"subject":{{"reference":"Patient/{server_patient}"}},"effectiveDateTime":"{taken}","performer":[{{"display":"ABL90 FLEX, OR 3"}}],"valueQuantity":{{"value":{value},"unit":"{unit}","system":"http://unitsofmeasure.org","code":"{unit}"}}}}"#
        )
    };
    for (code, value, unit) in [
        ("2744-1", "7.380", "[pH]"),
        ("2703-7", "88", "mm[Hg]"),
        ("6298-4", "4.6", "mmol/L"),
    ] {
        let r = reqwest::Client::new()
            .post(format!("{}Observation", peer.base()))
            .header("Content-Type", "application/fhir+json")
            .body(post(code, value, unit))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
    }
    // Not for this case: a preliminary lactate of the same sample (not final, not offered) and
    // another patient's pO2 taken at the same minute (the search and the subject check keep it out).
    let preliminary = post("32693-4", "1.9", "mmol/L").replace("\"final\"", "\"preliminary\"");
    let someone = reqwest::Client::new()
        .post(format!("{}Patient", peer.base()))
        .header("Content-Type", "application/fhir+json")
        .body(r#"{"resourceType":"Patient","identifier":[{"system":"urn:test:mrn","value":"LAB-OTHER"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(someone.status().as_u16(), 201);
    let someone: serde_json::Value = someone.json().await.unwrap();
    let stranger = post("2703-7", "55", "mm[Hg]").replace(
        &format!("Patient/{server_patient}"),
        &format!("Patient/{}", someone["id"].as_str().unwrap()),
    );
    for body in [preliminary, stranger] {
        let r = reqwest::Client::new()
            .post(format!("{}Observation", peer.base()))
            .header("Content-Type", "application/fhir+json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
    }
    let report = engine.pull().await.unwrap();
    assert!(report.added >= 3, "{report:?}");

    let server = peer.base();
    let offers = pumpside::app::labs::offers(&s, case, &server)
        .await
        .unwrap();
    assert_eq!(offers.len(), 1, "one sample, one offer: {offers:?}");
    let offer = &offers[0];
    assert_eq!(
        offer.panel.results.len(),
        3,
        "pH, pO2 88 and K+; not the preliminary lactate nor the other patient's pO2: {offer:?}"
    );
    assert_eq!(offer.panel.results[&Analyte::Po2].value.to_string(), "88");
    assert_eq!(offer.panel.site, SampleSite::PatientArtery);
    // As the server sent it: this peer keeps JSON numbers as JavaScript does (7.380 → 7.38);
    // a server that keeps 7.380 has it kept (sync::labs unit test).
    assert_eq!(offer.panel.results[&Analyte::Ph].value.to_string(), "7.38");
    assert!(
        offer.summary().contains("ABL90 FLEX, OR 3"),
        "{}",
        offer.summary()
    );

    // One tap.
    let (live_tx, _live_rx) = tokio::sync::mpsc::channel(16);
    let hub = DeviceHub::new(s.clone(), live_tx);
    let session = CaseSession::new(
        s.clone(),
        author(),
        std::sync::Arc::new(Protocol::defaults().unwrap()),
        hub,
    );
    session.start().await.unwrap();
    let entry = pumpside::app::labs::accept(&session, &s, case, &offer.key(), &server)
        .await
        .unwrap();
    let EntryPayload::BloodGas(panel) = &entry.payload else {
        panic!("{entry:?}")
    };
    let source = panel.source.as_ref().expect("names its source");
    assert_eq!(source.server, server);
    assert_eq!(source.resources.len(), 3);
    assert!(source
        .resources
        .iter()
        .all(|r| r.starts_with("Observation/")));
    assert_eq!(source.performer.as_deref(), Some("ABL90 FLEX, OR 3"));
    assert_eq!(
        entry.occurred_at.timestamp(),
        chrono::DateTime::parse_from_rfc3339(&taken)
            .unwrap()
            .timestamp(),
        "at the sample's time"
    );
    // Not offered again; a second tap writes nothing.
    assert!(pumpside::app::labs::offers(&s, case, &server)
        .await
        .unwrap()
        .is_empty());
    let again = pumpside::app::labs::accept(&session, &s, case, &offer.key(), &server).await;
    assert!(matches!(again, Err(WriteError::Unchanged)), "{again:?}");
    let gases = s
        .entries(case)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.payload, EntryPayload::BloodGas(_)))
        .count();
    assert_eq!(gases, 1);
    // Uploaded, pulled back on the next pull: Pumpside's own copy is never offered.
    engine.plan(Utc::now()).await.unwrap();
    sync_until_done(&engine, &s, 3).await;
    engine.pull().await.unwrap();
    assert!(pumpside::app::labs::offers(&s, case, &server)
        .await
        .unwrap()
        .is_empty());
    let (uploaded, _) = by_key(&peer, "Observation", &entry.id.to_string()).await;
    let from = uploaded["derivedFrom"].as_array().unwrap();
    assert_eq!(from.len(), 3);
    assert!(from[0]["reference"].as_str().unwrap().starts_with(&server));
    let _ = json!({});
}
