//! What the server says it can do (its CapabilityStatement, `GET [base]/metadata`), read once
//! before the first upload, pure. A server that lacks something Pumpside needs is named plainly
//! before any record is sent, instead of every record failing one by one.

use serde_json::Value;

/// The resource types Pumpside creates.
pub const WRITTEN: [&str; 8] = [
    "Procedure",
    "Observation",
    "MedicationAdministration",
    "Device",
    "Provenance",
    "Questionnaire",
    "QuestionnaireResponse",
    "Patient",
];

/// What the statement says that matters to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capability {
    /// The FHIR version the server declares.
    pub fhir_version: String,
    /// Whether the server creates a resource on a PUT to an id it does not have. Pumpside no
    /// longer needs it (Provenance is POSTed through a urn:uuid); kept for the Sync screen.
    pub update_create: bool,
}

/// Check `statement`: FHIR R4 or R4B, transaction Bundles, and for each type Pumpside writes
/// that the statement lists, create and conditional create. A statement that lists no
/// resources at all is taken at its word for the rest (some servers publish little). The error
/// names everything missing at once.
pub fn check(statement: &Value) -> Result<Capability, String> {
    if statement["resourceType"] != "CapabilityStatement" {
        return Err("its metadata is not a CapabilityStatement".into());
    }
    let mut missing = Vec::new();
    let version = statement["fhirVersion"].as_str().unwrap_or("").to_string();
    if !(version.starts_with("4.0") || version.starts_with("4.3")) {
        missing.push(format!(
            "it declares FHIR {} and Pumpside sends R4 (4.0.1)",
            if version.is_empty() {
                "of no version"
            } else {
                &version
            }
        ));
    }
    let rest = statement["rest"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["mode"] == "server");
    let Some(rest) = rest else {
        missing.push("it declares no server REST interface".into());
        return Err(missing.join("; "));
    };
    let has = |list: &Value, code: &str| {
        list.as_array()
            .is_some_and(|a| a.iter().any(|i| i["code"] == code))
    };
    if !has(&rest["interaction"], "transaction") {
        missing.push("it does not take transaction Bundles".into());
    }
    let resources = rest["resource"].as_array().cloned().unwrap_or_default();
    let mut update_create = false;
    if !resources.is_empty() {
        for t in WRITTEN {
            let Some(r) = resources.iter().find(|r| r["type"] == t) else {
                missing.push(format!("it does not list {t}"));
                continue;
            };
            if !has(&r["interaction"], "create") {
                missing.push(format!("it does not create {t}"));
            }
            // Provenance has no identifier to search by, so it needs no conditional create.
            if t != "Provenance" && r["conditionalCreate"] == false {
                missing.push(format!(
                    "it has no conditional create for {t} (a retried upload would make a second copy)"
                ));
            }
            if t == "Observation" {
                update_create = r["updateCreate"] == true;
            }
        }
    }
    if missing.is_empty() {
        Ok(Capability {
            fhir_version: version,
            update_create,
        })
    } else {
        Err(missing.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn statement(version: &str, transaction: bool, resources: Vec<Value>) -> Value {
        let mut interaction = vec![json!({"code": "search-system"})];
        if transaction {
            interaction.push(json!({"code": "transaction"}));
        }
        json!({"resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
          "fhirVersion": version, "format": ["json"],
          "rest": [{"mode": "server", "interaction": interaction, "resource": resources}]})
    }

    fn resource(t: &str, conditional: bool, update_create: bool) -> Value {
        json!({"type": t, "interaction": [{"code": "create"}, {"code": "update"}, {"code": "read"}],
          "conditionalCreate": conditional, "updateCreate": update_create})
    }

    #[test]
    fn a_server_with_what_pumpside_needs_passes_with_or_without_resource_lists() {
        let all: Vec<Value> = WRITTEN.iter().map(|t| resource(t, true, false)).collect();
        let c = check(&statement("4.0.1", true, all)).unwrap();
        assert_eq!(c.fhir_version, "4.0.1");
        assert!(!c.update_create, "not needed any more");
        assert!(
            check(&statement("4.3.0", true, vec![])).is_ok(),
            "R4B, no list"
        );
    }

    #[test]
    fn what_is_missing_is_named_all_at_once() {
        let some: Vec<Value> = WRITTEN
            .iter()
            .filter(|t| **t != "Device")
            .map(|t| resource(t, *t != "Observation", false))
            .collect();
        let e = check(&statement("5.0.0", false, some)).unwrap_err();
        for part in [
            "FHIR 5.0.0",
            "transaction Bundles",
            "does not list Device",
            "no conditional create for Observation",
        ] {
            assert!(e.contains(part), "{part}: {e}");
        }
        assert!(check(&json!({"resourceType": "OperationOutcome"})).is_err());
        assert!(
            check(&json!({"resourceType": "CapabilityStatement", "fhirVersion": "4.0.1"}))
                .unwrap_err()
                .contains("no server REST")
        );
    }
}
