//! Users and roles on a real installation (not demo mode), through the real start-up: the
//! first administrator's enrolment, each role refused what it may not do at the service layer
//! (not by a hidden button), the author of every entry the signed-in user, the PIN lock-out
//! surviving a restart, and the idle lock stopping commands while recording goes on.

use std::time::{Duration, Instant};

use pumpside::app::access::{Access, AccessError};
use pumpside::app::view::{AuthSetting, SyncSettings};
use pumpside::app::{AppConfig, Services, WriteError};
use pumpside::domain::intake;
use pumpside::domain::patient::{BloodGroup, Sex};
use pumpside::domain::user::Role;
use pumpside::domain::{CaseKind, EntryPayload};
use pumpside::store::Store;

use crate::services::eventually;

const ADMIN_PIN: &str = "284913";

async fn installation(dir: &std::path::Path) -> Services {
    let config = AppConfig::parse(
        vec!["--key-store".into(), "file".into()],
        Some(dir.to_path_buf()),
        None,
    )
    .unwrap();
    let services = Services::start(config, Instant::now()).await.unwrap();
    // No Bluetooth adapter here: the simulated devices start (a real installation's record
    // rules and sign-in still apply).
    eventually("the simulated devices' case", async || {
        services.current_case().await.unwrap().is_some()
    })
    .await;
    services
}

fn patient(mrn: &str) -> (pumpside::domain::patient::Mrn, pumpside::domain::Patient) {
    let mrn = intake::mrn("urn:oid:1.2.3", mrn).unwrap();
    let typed = [
        ("family", "Lovelace"),
        ("birth", "1961-05-24"),
        ("height", "172"),
        ("weight", "64"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let today = chrono::Utc::now().date_naive();
    let p = intake::patient(mrn.clone(), &typed, Sex::Female, BloodGroup::ONeg, today).unwrap();
    (mrn, p)
}

fn refused_for_role(e: &WriteError) -> bool {
    matches!(e, WriteError::Access(AccessError::NotPermitted { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_is_refused_what_it_may_not_do_at_the_service_layer() {
    let dir = crate::temp_dir();
    let s = installation(dir.path()).await;
    let access = s.access().clone();
    assert!(access.enforced() && access.needs_enrolment() && access.is_locked());
    let (mrn, p) = patient("ROLE-1");

    // Before anyone is enrolled nothing a person asks is done; recording runs.
    let e = s
        .start_case(&mrn, Some(p.clone()), CaseKind::Cpb, "CABG".into())
        .await
        .unwrap_err();
    assert!(
        matches!(e, WriteError::Access(AccessError::NeedsEnrolment)),
        "{e}"
    );
    let demo = s.current_case().await.unwrap().unwrap();
    let e = s
        .case()
        .record(demo.id, EntryPayload::Note { text: "x".into() })
        .await
        .unwrap_err();
    assert!(matches!(e, WriteError::Access(_)), "{e}");

    // A PIN that breaks the rules is refused by name; then the administrator is enrolled,
    // signed in, and a second enrolment is refused.
    let e = access
        .enrol_administrator("Grace Admin", "123456")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("straight run"), "{e}");
    let admin = access
        .enrol_administrator("Grace Admin", ADMIN_PIN)
        .await
        .unwrap();
    assert_eq!(admin.role, Role::Administrator);
    assert!(!access.is_locked());
    assert!(access
        .enrol_administrator("Mallory", "505050")
        .await
        .is_err());
    let perf = access
        .add_user("Paul Perfusionist", Role::Perfusionist, "730184")
        .await
        .unwrap();
    let ecmo = access
        .add_user("Erin ECMO", Role::EcmoSpecialist, "918273")
        .await
        .unwrap();
    let viewer = access
        .add_user("Vic Viewer", Role::Viewer, "640219")
        .await
        .unwrap();

    // Viewer: reads only.
    access.sign_in(&viewer, "640219").await.unwrap();
    let e = s
        .start_case(&mrn, Some(p.clone()), CaseKind::Cpb, "CABG".into())
        .await
        .unwrap_err();
    assert!(refused_for_role(&e), "{e}");
    assert_eq!(
        e.to_string(),
        "not recorded: Vic Viewer (Viewer) may not record in a Cardiopulmonary bypass case"
    );
    let settings = SyncSettings {
        server: "https://fhir.example.org/".into(),
        auth: AuthSetting::None,
        create_patients: false,
        ca_file: String::new(),
    };
    let e = s.save_sync_settings(&settings).await.unwrap_err();
    assert!(
        e.to_string().contains("may not change the sync server"),
        "{e}"
    );
    assert!(!dir.path().join("sync.toml").exists(), "nothing written");
    assert!(access
        .add_user("Eve", Role::Administrator, "246813")
        .await
        .is_err());

    // ECMO specialist: ECMO runs, not bypass.
    access.sign_in(&ecmo, "918273").await.unwrap();
    let e = s
        .start_case(&mrn, Some(p.clone()), CaseKind::Cpb, "CABG".into())
        .await
        .unwrap_err();
    assert!(refused_for_role(&e), "{e}");
    let run = s
        .start_case(&mrn, Some(p.clone()), CaseKind::EcmoVa, "VA run".into())
        .await
        .unwrap();
    let note = s
        .case()
        .record(
            run.id,
            EntryPayload::Note {
                text: "cannulated".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        note.author.user, "Erin ECMO",
        "the signed-in user is the author"
    );
    let audit = s.case_audit(run.id).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|l| l.by == "Erin ECMO" && l.what.contains("cannulated") && !l.device.is_empty()),
        "{audit:?}"
    );

    // Perfusionist: records and signs bypass; not Settings, not users.
    access.sign_in(&perf, "730184").await.unwrap();
    let cpb = s
        .start_case(&mrn, None, CaseKind::Cpb, "CABG".into())
        .await
        .unwrap();
    let e = s.save_sync_settings(&settings).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("Paul Perfusionist (Perfusionist) may not"),
        "{e}"
    );
    let signed = s.case().sign(cpb.id).await.unwrap();
    assert!(signed.iter().all(|e| e.author.user == "Paul Perfusionist"));
    let e = s
        .set_recovery_passphrase("oxygenator lot 4471", "oxygenator lot 4471")
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("may not set the device key's recovery passphrase"),
        "{e}"
    );
    assert!(!pumpside::app::keys::recovery_path(dir.path()).exists());

    // Administrator: changes the sync server, which is an audit event.
    access.sign_in(&admin.id, ADMIN_PIN).await.unwrap();
    s.save_sync_settings(&settings).await.unwrap();
    let e = s
        .set_recovery_passphrase("oxygenator lot 4471", "oxygenator lot 4472")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("differ"), "{e}");
    s.set_recovery_passphrase("oxygenator lot 4471", "oxygenator lot 4471")
        .await
        .unwrap();
    assert!(pumpside::app::keys::recovery_path(dir.path()).exists());
    let audit = s.store().audit(None).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.kind == "recovery-passphrase" && a.by == "Grace Admin"),
        "the recovery copy is an audit event"
    );
    let kinds: Vec<(&str, &str)> = audit
        .iter()
        .map(|a| (a.kind.as_str(), a.detail.as_str()))
        .collect();
    assert!(
        audit.iter().any(|a| a.kind == "sync-settings"
            && a.by == "Grace Admin"
            && a.detail
                .starts_with("sync server set to https://fhir.example.org/ (none)")),
        "{kinds:?}"
    );
    let refusals = audit.iter().filter(|a| a.kind == "refused").count();
    assert!(refusals >= 5, "each refusal is kept: {kinds:?}");
    assert!(audit
        .iter()
        .any(|a| a.kind == "sign-in" && a.detail.contains("switched from")));
}

/// Five wrong PINs pause sign-in for that user; the right PIN does not get through while
/// paused; the pause is read from the audit, so a restart does not lift it; other users are
/// not affected.
#[tokio::test]
async fn wrong_pins_pause_sign_in_and_a_restart_does_not_lift_it() {
    let store = Store::open_in_memory().unwrap();
    let access = Access::with_users(store.clone(), "or-3".into())
        .await
        .unwrap();
    access
        .enrol_administrator("Grace Admin", ADMIN_PIN)
        .await
        .unwrap();
    let paul = access
        .add_user("Paul Perfusionist", Role::Perfusionist, "730184")
        .await
        .unwrap();
    for left in (1..=4).rev() {
        let e = access.sign_in(&paul, "000111").await.unwrap_err();
        assert_eq!(e, AccessError::WrongPin { left });
    }
    let e = access.sign_in(&paul, "000111").await.unwrap_err();
    assert!(matches!(e, AccessError::LockedOut { .. }), "{e}");
    let e = access.sign_in(&paul, "730184").await.unwrap_err();
    assert!(
        matches!(e, AccessError::LockedOut { .. }),
        "right PIN while paused: {e}"
    );

    let restarted = Access::with_users(store.clone(), "or-3".into())
        .await
        .unwrap();
    let e = restarted.sign_in(&paul, "730184").await.unwrap_err();
    assert!(
        e.to_string()
            .contains("sign-in for Paul Perfusionist is paused until"),
        "{e}"
    );
    assert!(restarted.locked_out_until(&paul).await.is_some());
    let admin = restarted.users()[0].0.clone();
    restarted.sign_in(&admin, ADMIN_PIN).await.unwrap();
    let failed = store
        .audit(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == "sign-in-failed")
        .count();
    assert_eq!(failed, 5);
}

/// Idle past the set time, the screen locks: a command is refused as locked while the simulated
/// devices' values go on into the record; a colleague signs in from the lock screen (the quick
/// switch) and writes as themselves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_lock_stops_commands_and_nothing_that_records() {
    let dir = crate::temp_dir();
    let s = installation(dir.path()).await;
    let access = s.access().clone();
    access
        .enrol_administrator("Grace Admin", ADMIN_PIN)
        .await
        .unwrap();
    let night = access
        .add_user("Nina Night", Role::Perfusionist, "552190")
        .await
        .unwrap();
    access.set_idle_lock(Duration::from_millis(1500));
    eventually("the idle lock", async || access.is_locked()).await;
    let demo = s.current_case().await.unwrap().unwrap();
    let e = s
        .case()
        .record(
            demo.id,
            EntryPayload::Note {
                text: "while locked".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, WriteError::Access(AccessError::Locked)), "{e}");
    let before = s.store().telemetry_stats().await.unwrap().samples;
    eventually("values recorded while locked", async || {
        s.store().telemetry_stats().await.unwrap().samples > before + 5
    })
    .await;
    assert!(access.is_locked(), "still locked while recording went on");

    access.sign_in(&night, "552190").await.unwrap();
    let e = s
        .case()
        .record(
            demo.id,
            EntryPayload::Note {
                text: "handover done".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(e.author.user, "Nina Night");
    let locks = s
        .store()
        .audit(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == "lock" && a.detail.contains("idle"))
        .count();
    assert_eq!(locks, 1);
}

/// The idle time is the hospital's setting: the protocol file's [security] idle_lock_min, read
/// at start; a value outside 1–60 min is refused by file, line and key and the defaults stay.
#[tokio::test]
async fn the_idle_time_comes_from_the_hospitals_protocol_file() {
    let text = toml_with_idle("idle_lock_min = 2");
    let dir = crate::temp_dir();
    std::fs::write(dir.path().join("protocol.toml"), &text).unwrap();
    let s = installation(dir.path()).await;
    assert_eq!(s.access().idle_lock(), Duration::from_secs(120));

    let bad = crate::temp_dir();
    std::fs::write(
        bad.path().join("protocol.toml"),
        toml_with_idle("idle_lock_min = 600"),
    )
    .unwrap();
    let s = installation(bad.path()).await;
    assert_eq!(s.access().idle_lock(), Duration::from_secs(300));
    let problem = s.protocol_problem().expect("the broken file is named");
    assert!(
        problem.contains("security.idle_lock_min") && problem.contains("600"),
        "{problem}"
    );
}

fn toml_with_idle(line: &str) -> String {
    let text = include_str!("../../assets/protocols/default.toml");
    assert!(text.contains("idle_lock_min = 5"));
    text.replace("idle_lock_min = 5", line)
}

/// An administrator changes a role, resets a PIN and deactivates a user; each is a new version
/// and an audit event, in force at once (also for the one signed in); the last administrator
/// stays; nobody else may do it.
#[tokio::test]
async fn an_administrator_changes_roles_resets_pins_and_deactivates_users() {
    use pumpside::app::access::UserChange;
    let store = Store::open_in_memory().unwrap();
    let access = Access::with_users(store.clone(), "or-3".into())
        .await
        .unwrap();
    let admin = access
        .enrol_administrator("Grace Admin", ADMIN_PIN)
        .await
        .unwrap();
    let paul = access
        .add_user("Paul Perfusionist", Role::Perfusionist, "730184")
        .await
        .unwrap();
    let e = access
        .change_user(&admin.id, UserChange::Role(Role::Viewer))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("last administrator"), "{e}");
    let e = access
        .change_user(&admin.id, UserChange::Deactivate)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("last administrator"), "{e}");

    // Paul may not change anyone, himself included.
    access.sign_in(&paul, "730184").await.unwrap();
    let e = access
        .change_user(&paul, UserChange::Role(Role::Administrator))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("may not add or change users"), "{e}");

    // A new role is in force at once for the one signed in.
    access.sign_in(&admin.id, ADMIN_PIN).await.unwrap();
    access
        .change_user(&paul, UserChange::Role(Role::Viewer))
        .await
        .unwrap();
    access.sign_in(&paul, "730184").await.unwrap();
    assert_eq!(access.current().unwrap().role, Role::Viewer);
    assert!(access
        .authorize(pumpside::domain::user::Action::Record(CaseKind::Cpb))
        .is_err());

    // A PIN reset: the old PIN no longer opens, the new one does; a trivial PIN is refused.
    access.sign_in(&admin.id, ADMIN_PIN).await.unwrap();
    assert!(access
        .change_user(&paul, UserChange::Pin("111111".into()))
        .await
        .is_err());
    access
        .change_user(&paul, UserChange::Pin("502817".into()))
        .await
        .unwrap();
    assert!(access.sign_in(&paul, "730184").await.is_err());
    access.sign_in(&paul, "502817").await.unwrap();

    // Deactivated while signed in: signed out and locked, and no longer on the list.
    access.sign_in(&admin.id, ADMIN_PIN).await.unwrap();
    access
        .change_user(&paul, UserChange::Deactivate)
        .await
        .unwrap();
    assert!(access.users().iter().all(|(id, _, _)| id != &paul));
    assert!(matches!(
        access.sign_in(&paul, "502817").await,
        Err(AccessError::UnknownUser)
    ));

    let audit = store.audit(None).await.unwrap();
    let details: Vec<&str> = audit
        .iter()
        .filter(|a| a.kind == "user" && a.by == "Grace Admin")
        .map(|a| a.detail.as_str())
        .collect();
    for want in [
        "Paul Perfusionist: role changed from Perfusionist to Viewer",
        "Paul Perfusionist: PIN reset by an administrator",
        "Paul Perfusionist: deactivated",
    ] {
        assert!(details.contains(&want), "{want:?} not in {details:?}");
    }
    assert!(
        audit.iter().all(|a| !a.detail.contains("502817")),
        "a PIN in the audit"
    );
}
