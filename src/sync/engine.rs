//! The sync engine: plan (record → outbox, in `store` transactions), then upload pending
//! operations in order as FHIR transaction Bundles, one Provenance each. A single task runs it
//! (single flight), nudged on every local change and woken by its retry timer.
//!
//! Outcomes: 2xx → acked with the server's id and version; network error, timeout, 5xx or 429 →
//! retry later with exponential backoff and jitter (safe: creates are conditional on the
//! identifier, updates carry If-Match); 412/409 on an update → conflict, the server's version is
//! kept next to ours for a person; 400/422 → the operation is isolated (sent alone) and
//! rejected with the OperationOutcome, the others go on; 401/403 → sync pauses until the
//! credentials change. Nothing is deleted; nothing is overwritten silently.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};

use super::answer::{self, BatchSizer, Verdict};
use super::config::SyncConfig;
use super::map::{self, Operation, Planned};
use crate::domain::{Author, CaseId, CaseSummary, EntryPayload, PatientId};
use crate::store::{OpSource, OutboxNew, OutboxRow, Outcome, Store, StoreError};

/// How long after a trend chunk ends before it is planned (the recorder commits within seconds).
pub const TREND_GRACE_MS: i64 = 60_000;
const BACKOFF_BASE: Duration = Duration::from_secs(2);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Map(#[from] map::MapError),
    /// The server or the network failed; the operations stay pending.
    #[error("{0}")]
    Transient(String),
    /// 401/403: sync waits for new credentials.
    #[error("the server refused the credentials (HTTP {0}); sync is paused until they are updated in Settings (sync.toml)")]
    Auth(u16),
    /// The OAuth2 token endpoint refused this client: sync waits for new settings.
    #[error("{0}; sync is paused until the OAuth2 settings are fixed in Settings (sync.toml)")]
    TokenRefused(String),
    /// A patient the record needs is not on the server.
    #[error("patient with MRN {0} is not on the server; sync of this case waits (the hospital owns Patient records)")]
    PatientMissing(String),
    /// A case's record was changed outside Pumpside: it is not sent (the findings are in the
    /// case's audit and on the Sync screen).
    #[error("{0}")]
    Altered(String),
    /// The TLS handshake failed: the server's certificate is not trusted (or not valid for its
    /// name), or the server refused ours. Nothing was sent.
    #[error("the server's certificate is not accepted ({0}): nothing was sent. If the hospital runs its own certificate authority, name its CA file in Settings (ca_file in sync.toml)")]
    Certificate(String),
    /// The server's CapabilityStatement lacks something Pumpside needs: nothing is sent.
    #[error("the server cannot take Pumpside's records: {0}. Nothing was sent; the records wait on this device")]
    Capability(String),
}

impl SyncError {
    /// The error as the log may carry it: no patient data. The Sync screen shows the whole
    /// message (with the MRNs a person needs to act on); stderr and log files get this.
    pub fn for_log(&self) -> String {
        match self {
            SyncError::PatientMissing(mrns) => format!(
                "{} patient(s) the record needs are not on the server; sync of their cases waits (the MRNs are on the Sync screen)",
                mrns.split(", ").count()
            ),
            other => other.to_string(),
        }
    }
}

/// What the status bar and the Sync screen show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncStatus {
    pub server: String,
    pub pending: u64,
    pub acked: u64,
    pub rejected: u64,
    pub conflicts: u64,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Operations sent in the current run and its total, while uploading.
    pub progress: Option<(u64, u64)>,
    pub paused: Option<String>,
    pub next_try: Option<DateTime<Utc>>,
    /// The last pull for the on-call view that completed, and what it found.
    pub last_pull: Option<DateTime<Utc>>,
    pub pull: Option<super::pull::PullReport>,
    /// The sync task died and waits to be started again (see [`supervise`]).
    pub task_down: bool,
    /// Why the sync task last died; cleared by the next run that ends well.
    pub task_fault: Option<String>,
}

/// A response as the engine needs it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

/// HTTP to the FHIR server (reqwest, rustls). Patient data and tokens are never logged.
#[derive(Clone)]
pub struct Transport {
    http: reqwest::Client,
    pub(super) config: SyncConfig,
    tokens: super::auth::TokenCache,
}

impl Transport {
    pub fn new(config: SyncConfig) -> Result<Self, SyncError> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::custom(same_origin_redirects));
        if let Some(ca) = &config.ca {
            // Checked when the settings were read; read again here in case the file changed.
            let certs = reqwest::Certificate::from_pem_bundle(&ca.pem).map_err(|_| {
                SyncError::Transient(format!("the CA file {} is not PEM certificates", ca.path))
            })?;
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder
            .build()
            .map_err(|e| SyncError::Transient(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            config,
            tokens: Default::default(),
        })
    }

    /// The bearer token for the next request: the fixed one, or one from the OAuth2 token
    /// endpoint (cached until shortly before it expires).
    async fn bearer(&self) -> Result<Option<String>, SyncError> {
        match (&self.config.oauth, &self.config.token) {
            (Some(cc), _) => self
                .tokens
                .get(&self.http, cc)
                .await
                .map(Some)
                .map_err(|e| match e {
                    super::auth::TokenError::Refused(why) => SyncError::TokenRefused(why),
                    e @ super::auth::TokenError::Unavailable(_) => {
                        SyncError::Transient(e.to_string())
                    }
                }),
            (None, t) => Ok(t.clone()),
        }
    }

    /// One request; with OAuth2, a 401 drops the cached token and the request is tried once
    /// more with a new one (the server may have revoked it early).
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
        extra: &[(&str, &str)],
    ) -> Result<Reply, SyncError> {
        let reply = self
            .send_once(method.clone(), path, body.clone(), extra)
            .await?;
        if reply.status == 401 && self.config.oauth.is_some() {
            self.tokens.clear().await;
            return self.send_once(method, path, body, extra).await;
        }
        Ok(reply)
    }

    async fn send_once(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<String>,
        extra: &[(&str, &str)],
    ) -> Result<Reply, SyncError> {
        let url = format!("{}{}", self.config.base, path);
        let mut req = self
            .http
            .request(method, &url)
            .header("Accept", "application/fhir+json");
        if let Some(t) = self.bearer().await? {
            req = req.bearer_auth(t);
        }
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("Content-Type", "application/fhir+json").body(b);
        }
        let resp = req.send().await.map_err(|e| {
            if let Some(why) = tls_problem(&e) {
                return SyncError::Certificate(why);
            }
            SyncError::Transient(if e.is_timeout() {
                "the server did not answer in time".to_string()
            } else if e.is_connect() {
                "the server cannot be reached".to_string()
            } else {
                format!("network error: {}", without_url(&e))
            })
        })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| {
            SyncError::Transient(format!("reading the answer: {}", without_url(&e)))
        })?;
        Ok(Reply { status, body })
    }

    pub async fn get(&self, path: &str) -> Result<Reply, SyncError> {
        self.send(reqwest::Method::GET, path, None, &[]).await
    }

    pub async fn post(
        &self,
        path: &str,
        body: String,
        extra: &[(&str, &str)],
    ) -> Result<Reply, SyncError> {
        self.send(reqwest::Method::POST, path, Some(body), extra)
            .await
    }
}

/// How many certificates a PEM bundle holds (the CA file's check when settings are read).
pub(super) fn ca_certificates(pem: &[u8]) -> Result<usize, ()> {
    reqwest::Certificate::from_pem_bundle(pem)
        .map(|c| c.len())
        .map_err(|_| ())
}

/// The TLS failure inside a request error, in rustls's words ("invalid peer certificate:
/// UnknownIssuer", "received fatal alert: …"), when that is why the request failed: a
/// certificate the app does not trust is not "the server cannot be reached".
pub(super) fn tls_problem(e: &reqwest::Error) -> Option<String> {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        let text = s.to_string();
        for marker in [
            "invalid peer certificate",
            "received fatal alert",
            "peer is incompatible",
        ] {
            if let Some(i) = text.find(marker) {
                return Some(text[i..].to_string());
            }
        }
        source = s.source();
    }
    None
}

/// A reqwest error without its URL (query strings can hold identifiers).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(u.as_str(), "<server>");
    }
    s
}

/// The engine. Clone it freely; `run` is started once.
#[derive(Clone)]
pub struct SyncEngine {
    pub(super) store: Store,
    pub(super) transport: Transport,
    author: Author,
    nudge: Arc<Notify>,
    status: Arc<watch::Sender<SyncStatus>>,
    /// The server's CapabilityStatement was read and has what Pumpside needs.
    capable: Arc<std::sync::atomic::AtomicBool>,
}

impl SyncEngine {
    pub fn new(store: Store, config: SyncConfig, author: Author) -> Result<Self, SyncError> {
        let status = SyncStatus {
            server: config.base.clone(),
            ..SyncStatus::default()
        };
        Ok(Self {
            store,
            transport: Transport::new(config)?,
            author,
            nudge: Arc::new(Notify::new()),
            status: Arc::new(watch::channel(status).0),
            capable: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        })
    }

    /// Wake the engine (a local change, a reconnect). Cheap; never waits.
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }

    pub fn status(&self) -> watch::Receiver<SyncStatus> {
        self.status.subscribe()
    }

    /// The background loop under a supervisor: if it dies (a panic in a dependency, a bug), the
    /// status says so at once and it is started again after a backoff. Start this, not `run`.
    pub async fn supervised(self) {
        let status = self.status.clone();
        let engine = self.clone();
        supervise(
            move || engine.clone().run(),
            move |fault| {
                tracing::error!(%fault, "the sync task stopped; restarting it");
                status.send_modify(|s| {
                    s.task_down = true;
                    s.task_fault = Some(fault);
                });
            },
            move |_| {},
        )
        .await
    }

    /// Put back in the queue every operation an earlier run rejected for a reason that lies in
    /// the configuration rather than the record (a wrong address answered 404 with a web page,
    /// credentials refused, a size limit): the settings have changed, or the app was updated to
    /// handle it, so they are tried again. A rejection with the server's verdict on the record
    /// itself (an invalid resource) stays for a person. Returns how many went back.
    pub async fn requeue_configuration_rejections(&self) -> Result<usize, SyncError> {
        let again: Vec<i64> = self
            .store
            .rejected()
            .await?
            .into_iter()
            .filter(|(_, detail)| caused_by_configuration(detail))
            .map(|(seq, _)| seq)
            .collect();
        if again.is_empty() {
            return Ok(0);
        }
        let n = self
            .store
            .requeue(
                again,
                format!(
                    "re-queued: the rejection came from the server's configuration, not the record; sending again to {}",
                    self.transport.config.base
                ),
            )
            .await?;
        tracing::info!(
            operations = n,
            "sync: re-queued rejections caused by configuration"
        );
        Ok(n)
    }

    /// The single background loop: a run, then wait for a nudge or the retry timer.
    pub async fn run(self) {
        self.status.send_modify(|s| s.task_down = false);
        if let Err(e) = self.requeue_configuration_rejections().await {
            tracing::warn!(error = %e.for_log(), "sync: could not re-queue earlier rejections");
        }
        let mut failures: u32 = 0;
        loop {
            let wait = match self.sync_once().await {
                Ok(()) => {
                    failures = 0;
                    self.status.send_modify(|s| s.task_fault = None);
                    Duration::from_secs(60)
                }
                Err(SyncError::Auth(_) | SyncError::TokenRefused(_)) => Duration::from_secs(3600),
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let d = backoff(failures, jitter());
                    tracing::warn!(error = %e.for_log(), retry_in_s = d.as_secs(), "sync run failed");
                    d
                }
            };
            self.status.send_modify(|s| {
                s.next_try = chrono::Duration::from_std(wait)
                    .ok()
                    .map(|d| Utc::now() + d)
            });
            tokio::select! {
                _ = self.nudge.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Plan, upload until nothing is pending or a try fails, then pull for the on-call view
    /// (also after a failed upload: a stuck upload must not blind the on-call board; not after
    /// refused credentials).
    pub async fn sync_once(&self) -> Result<(), SyncError> {
        let uploaded = async {
            self.plan(Utc::now()).await?;
            self.upload().await
        }
        .await;
        // Notes for followed runs go whatever a case's upload met (a patient missing, a record
        // held), and before the pull, so the pull brings them back as the server has them.
        let noted = match &uploaded {
            Err(SyncError::Auth(_) | SyncError::TokenRefused(_)) => Ok(()),
            _ => self.send_notes().await.map(|_| ()),
        };
        let uploaded = uploaded.and(noted);
        let pulled = match &uploaded {
            Err(SyncError::Auth(_) | SyncError::TokenRefused(_)) => None,
            _ => Some(self.pull().await),
        };
        if let Some(Ok(report)) = &pulled {
            let report = report.clone();
            self.status.send_modify(|s| {
                s.last_pull = Some(Utc::now());
                s.pull = Some(report);
            });
        }
        let result = uploaded.and(pulled.unwrap_or(Ok(Default::default())).map(|_| ()));
        self.refresh_status(result.as_ref().err()).await;
        result
    }

    async fn refresh_status(&self, error: Option<&SyncError>) {
        let summary = self.store.outbox_summary().await;
        self.status.send_modify(|s| {
            if let Ok(sum) = &summary {
                s.pending = sum.pending;
                s.acked = sum.acked;
                s.rejected = sum.rejected;
                s.conflicts = sum.conflicts;
                s.last_success = sum.last_ack;
            }
            s.progress = None;
            s.paused = match error {
                Some(SyncError::Auth(code)) => {
                    Some(format!("server refused the credentials (HTTP {code})"))
                }
                Some(SyncError::TokenRefused(why)) => Some(why.clone()),
                _ => None,
            };
            s.last_error = error.map(|e| e.to_string());
        });
    }

    /// Turn unplanned entries and closed trend chunks into outbox rows, one transaction per case.
    pub async fn plan(&self, now: DateTime<Utc>) -> Result<usize, SyncError> {
        let boundary = map::chunk_start(now - chrono::Duration::milliseconds(TREND_GRACE_MS));
        let cases: HashMap<_, CaseSummary> = self
            .store
            .list_cases()
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
        let mut total = 0;
        for work in self.store.sync_work(boundary).await? {
            let Some(case) = cases.get(&work.case_id) else {
                continue;
            };
            if case.patient.is_none() {
                continue; // said on the Sync screen: a case without a patient stays local
            }
            if !self.store.check_case(work.case_id).await?.is_empty() {
                continue; // held: upload() names it
            }
            if case.is_demo && !self.transport.config.create_patients {
                // Simulated data goes to test and demo servers only (also said on the screen).
                continue;
            }
            let mut rows: Vec<OutboxNew> = Vec::new();
            let push = |rows: &mut Vec<OutboxNew>, source: OpSource, m: map::Mapped| {
                rows.push(OutboxNew {
                    source,
                    resource_type: m.resource_type.to_string(),
                    resource_key: m.key,
                    operation: m.operation,
                    payload: map::to_text(&m.payload),
                })
            };
            // The run is created as the first entry (the case's opening status) describes it;
            // that entry needs no update of its own.
            let mut first_status = None;
            if work.scanned_seq == 0 {
                let upto: Vec<_> = work.entries.iter().take(1).cloned().collect();
                push(&mut rows, OpSource::Run, map::run_procedure(case, &upto)?);
                first_status = upto
                    .first()
                    .filter(|e| matches!(e.payload, EntryPayload::Status { .. }))
                    .map(|e| e.id);
            }
            let mut max_seq = work.scanned_seq;
            for (i, e) in work.entries.iter().enumerate() {
                if e.seq <= work.scanned_seq {
                    continue;
                }
                max_seq = max_seq.max(e.seq);
                if Some(e.id) == first_status {
                    continue;
                }
                let source = OpSource::Entry(e.id);
                if let EntryPayload::ChecklistSigned { run } = &e.payload {
                    self.plan_checklist(case, *run, &work.entries[..=i], &source, &mut rows)
                        .await?;
                    continue;
                }
                match map::map_entry(case, e, &work.entries[..=i])? {
                    Planned::Resources(list) => {
                        for m in list {
                            push(&mut rows, source.clone(), m);
                        }
                    }
                    Planned::Retract { target } => {
                        let target_source = OpSource::Entry(target);
                        let mut targets: Vec<(String, String, String)> = rows
                            .iter()
                            .filter(|r| {
                                r.source == target_source && r.operation == Operation::Create
                            })
                            .map(|r| {
                                (
                                    r.resource_type.clone(),
                                    r.resource_key.clone(),
                                    r.payload.clone(),
                                )
                            })
                            .collect();
                        if targets.is_empty() {
                            targets = self.store.planned_for(target_source).await?;
                        }
                        for (rt, key, payload) in targets {
                            // Read back with every number as written (7.380 stays 7.380).
                            let v: Value = map::from_text(&payload)
                                .map_err(|e| StoreError::Corrupt(format!("outbox payload: {e}")))?;
                            rows.push(OutboxNew {
                                source: source.clone(),
                                resource_type: rt,
                                resource_key: key,
                                operation: Operation::Update,
                                payload: map::to_text(&map::entered_in_error(&v)),
                            });
                        }
                    }
                    Planned::LocalOnly => {}
                }
            }
            let mut trend_to = work.trend_to_ms;
            if boundary > work.trend_to_ms {
                for (channel, samples) in &work.channels {
                    let mut windows: BTreeMap<i64, Vec<crate::domain::Sample>> = BTreeMap::new();
                    for s in samples {
                        windows
                            .entry(map::chunk_start(s.received_at))
                            .or_default()
                            .push(*s);
                    }
                    for (start, list) in windows {
                        if start < work.trend_to_ms || start >= boundary {
                            continue;
                        }
                        if let Some(m) = map::trend_chunk(case, channel, start, &list)? {
                            push(
                                &mut rows,
                                OpSource::Trend {
                                    channel: channel.id,
                                    start_ms: start,
                                },
                                m,
                            );
                        }
                    }
                }
                trend_to = boundary;
            }
            if rows.is_empty() && max_seq == work.scanned_seq && trend_to == work.trend_to_ms {
                continue;
            }
            total += self
                .store
                .enqueue(case.id, rows, max_seq, trend_to, self.author.clone())
                .await?;
        }
        if total > 0 {
            tracing::info!(operations = total, "sync planned");
        }
        Ok(total)
    }

    /// A signed checklist run: its template as a Questionnaire (once per template file, keyed by
    /// the file's digest) and the run as a QuestionnaireResponse, partOf the run's Procedure.
    async fn plan_checklist(
        &self,
        case: &CaseSummary,
        run: crate::domain::EntryId,
        entries: &[crate::domain::Entry],
        source: &OpSource,
        rows: &mut Vec<OutboxNew>,
    ) -> Result<(), SyncError> {
        let Some(patient) = case.patient else {
            return Ok(());
        };
        let Some(r) = crate::domain::checklist::runs(entries)
            .into_iter()
            .find(|r| r.id == run)
        else {
            return Ok(());
        };
        let Some(t) = self.store.template(r.digest.clone()).await? else {
            // The store refuses a run whose template it does not hold; say so if it happens.
            tracing::warn!(template = %r.template_id, "signed checklist without its template; kept on this device");
            return Ok(());
        };
        let q_key = map::derived_uuid("questionnaire", &t.digest);
        let mut q = super::fhir::questionnaire(&t);
        let mut ids = vec![json!({ "system": map::URI, "value": format!("urn:uuid:{q_key}") })];
        ids.extend(q["identifier"].as_array().cloned().unwrap_or_default());
        q["identifier"] = json!(ids);
        rows.push(OutboxNew {
            source: OpSource::Questionnaire {
                digest: t.digest.clone(),
            },
            resource_type: "Questionnaire".into(),
            resource_key: q_key,
            operation: Operation::Create,
            payload: map::to_text(&q),
        });
        let mut qr = super::fhir::questionnaire_response(&t, &r, case.id, None);
        qr["subject"] = map::placeholder("Patient", &patient.to_string());
        qr["partOf"] = json!([map::placeholder("Procedure", &case.id.to_string())]);
        if case.is_demo {
            qr["meta"] = json!({ "tag": [{ "system": map::PUMPSIDE, "code": "demo" }] });
        }
        rows.push(OutboxNew {
            source: source.clone(),
            resource_type: "QuestionnaireResponse".into(),
            resource_key: r.id.to_string(),
            operation: Operation::Create,
            payload: map::to_text(&qr),
        });
        Ok(())
    }

    /// Upload pending operations until none is left or a try fails.
    /// Read the server's CapabilityStatement once, before the first upload: a server that lacks
    /// something Pumpside needs is named plainly and nothing is sent. A server without a
    /// readable statement (404, or something else at `metadata`) is tried as it is.
    async fn ensure_capable(&self) -> Result<(), SyncError> {
        use std::sync::atomic::Ordering;
        if self.capable.load(Ordering::Relaxed) {
            return Ok(());
        }
        let reply = self.transport.get("metadata").await?;
        if matches!(reply.status, 401 | 403) {
            return Err(SyncError::Auth(reply.status));
        }
        let statement: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        if reply.status != 200 || statement["resourceType"] != "CapabilityStatement" {
            tracing::warn!(
                status = reply.status,
                "the server has no readable CapabilityStatement; uploading without the check"
            );
            return Ok(());
        }
        match super::capability::check(&statement) {
            Ok(c) => {
                tracing::info!(fhir = %c.fhir_version, update_create = c.update_create, "server capabilities checked");
                self.capable.store(true, Ordering::Relaxed);
                Ok(())
            }
            Err(why) => Err(SyncError::Capability(why)),
        }
    }

    pub async fn upload(&self) -> Result<(), SyncError> {
        if self.store.outbox_summary().await?.pending > 0 {
            self.ensure_capable().await?;
        }
        // The largest Bundle this server took after refusing a bigger one as too large (413),
        // kept in the store: a later pass, or a restart, starts there instead of learning it again.
        let learned = self
            .store
            .size_limit(self.transport.config.base.clone())
            .await?;
        let mut sizer = BatchSizer::new(self.transport.config.batch, learned);
        let total = self.store.outbox_summary().await?.pending;
        let mut done = 0u64;
        // Operations that cannot go yet (a dependency not on the server) are skipped this run.
        let mut skipped: HashSet<i64> = HashSet::new();
        // Patients not on the server: their cases wait, reported when nothing else can go.
        let mut missing: Vec<String> = Vec::new();
        // Each patient's current Encounter, looked up once per run.
        let mut encounters: HashMap<String, Option<String>> = HashMap::new();
        // Each case's record checked against its seals once per run; an altered one is held.
        let mut checked: HashMap<CaseId, Vec<crate::store::Finding>> = HashMap::new();
        loop {
            let mut pending: Vec<OutboxRow> = Vec::new();
            let skipped_before = skipped.len();
            for r in self.store.pending(sizer.batch() + skipped.len()).await? {
                if skipped.contains(&r.seq) {
                    continue;
                }
                if let std::collections::hash_map::Entry::Vacant(slot) = checked.entry(r.case_id) {
                    slot.insert(self.store.check_case(r.case_id).await?);
                }
                if checked.get(&r.case_id).is_some_and(|f| !f.is_empty()) {
                    skipped.insert(r.seq);
                    continue;
                }
                pending.push(r);
            }
            if pending.is_empty() && skipped.len() > skipped_before {
                continue; // this page was all held: the next one is larger by as many rows
            }
            if pending.is_empty() {
                let altered: Vec<_> = checked.iter().filter(|(_, f)| !f.is_empty()).collect();
                if let Some((_, findings)) = altered.first() {
                    return Err(SyncError::Altered(format!(
                        "{} case(s) not sent: the record was changed outside Pumpside and the \
                         checks before upload found it ({}); the findings are in the case's audit",
                        altered.len(),
                        findings[0]
                    )));
                }
                return match missing.is_empty() {
                    true => Ok(()),
                    false => Err(SyncError::PatientMissing(missing.join(", "))),
                };
            }
            let prepared = self
                .prepare(&pending, sizer.next(), &mut encounters)
                .await?;
            for m in &prepared.missing {
                if !missing.contains(m) {
                    missing.push(m.clone());
                }
            }
            let Prepared {
                rows,
                bundle,
                blocked,
                ..
            } = prepared;
            for seq in blocked {
                skipped.insert(seq);
            }
            if rows.is_empty() {
                continue;
            }
            self.status
                .send_modify(|s| s.progress = Some((done, total.max(done))));
            let reply = match self.transport.post("", map::to_text(&bundle), &[]).await {
                Ok(r) => r,
                Err(e) => {
                    self.retry_all(&rows, &e.to_string()).await?;
                    return Err(e);
                }
            };
            let ops: Vec<Operation> = rows.iter().map(|r| r.operation).collect();
            match answer::classify(reply.status, &ops) {
                Verdict::Stored => {
                    sizer.stored(rows.len());
                    let outcomes = answer::acks(&rows, &reply.body);
                    // An answer that does not name what it stored leaves those rows pending:
                    // this pass ends (the task's backoff decides when to try again) instead of
                    // sending them again at once, which looped without pause.
                    let unnamed = outcomes.iter().find_map(|(_, o)| match o {
                        Outcome::Retry { error } => Some(error.clone()),
                        _ => None,
                    });
                    self.store.record_outcomes(outcomes).await?;
                    done += rows.len() as u64;
                    if let Some(error) = unnamed {
                        return Err(SyncError::Transient(error));
                    }
                }
                Verdict::Credentials(code) => return Err(SyncError::Auth(code)),
                Verdict::CheckConflict => {
                    // Without the server's copy we cannot tell a conflict from our own lost
                    // answer: try again later.
                    let current = match self.server_version(&rows[0]).await {
                        Ok(c) => c,
                        Err(e) => {
                            self.retry_all(&rows, &e.to_string()).await?;
                            return Err(e);
                        }
                    };
                    let sent: Value =
                        serde_json::from_str(&map::to_text(&bundle["entry"][0]["resource"]))
                            .unwrap_or(Value::Null);
                    let outcome = match already_applied(&sent, &current) {
                        // An earlier try was applied and its answer lost: not a conflict.
                        Some((server_id, version)) => Outcome::Acked { server_id, version },
                        None => {
                            tracing::warn!(resource = %rows[0].resource_type, "sync conflict: kept both versions");
                            Outcome::Conflict {
                                server_version: current,
                            }
                        }
                    };
                    self.store
                        .record_outcomes(vec![(rows[0].seq, outcome)])
                        .await?;
                }
                // A transaction is posted to the base: 404 says the base is wrong (a setting),
                // never that a record is. The rows wait, unmarked, for the address to be fixed.
                Verdict::WrongBase => {
                    let error = format!(
                        "the server has no FHIR endpoint at {} (HTTP 404): check the server address in Settings",
                        self.transport.config.base
                    );
                    self.retry_all(&rows, &error).await?;
                    return Err(SyncError::Transient(error));
                }
                // Too large for a gateway or the server: smaller Bundles, and the size that
                // worked is remembered; one operation alone too large is named, not retried.
                Verdict::TooLarge => {
                    let limit = sizer.too_large(rows.len());
                    self.store
                        .remember_size_limit(self.transport.config.base.clone(), limit)
                        .await?;
                    tracing::info!(
                        size = rows.len(),
                        next = limit,
                        "sync: Bundle too large for the server, trying smaller ones"
                    );
                }
                Verdict::TooLargeAlone => {
                    tracing::warn!(resource = %rows[0].resource_type, "sync: one operation too large for the server");
                    self.store
                        .record_outcomes(vec![(
                            rows[0].seq,
                            Outcome::Rejected {
                                outcome: format!(
                                    "the server refuses this {} as too large (HTTP 413) even alone",
                                    rows[0].resource_type
                                ),
                            },
                        )])
                        .await?;
                }
                Verdict::Refused => {
                    // The bad operation is found; the others may go in larger Bundles again.
                    sizer.isolated();
                    tracing::warn!(status = reply.status, resource = %rows[0].resource_type, "sync: server rejected an operation");
                    self.store
                        .record_outcomes(vec![(
                            rows[0].seq,
                            Outcome::Rejected {
                                outcome: reply.body,
                            },
                        )])
                        .await?;
                }
                Verdict::Split => {
                    sizer.split(rows.len());
                    tracing::info!(
                        size = rows.len(),
                        next = sizer.next(),
                        "sync: Bundle refused, trying smaller ones"
                    );
                }
                Verdict::Transient(code) => {
                    let error = format!("HTTP {code} from the server");
                    self.retry_all(&rows, &error).await?;
                    return Err(SyncError::Transient(error));
                }
            }
        }
    }

    async fn retry_all(&self, rows: &[OutboxRow], error: &str) -> Result<(), StoreError> {
        self.store
            .record_outcomes(
                rows.iter()
                    .map(|r| {
                        (
                            r.seq,
                            Outcome::Retry {
                                error: error.to_string(),
                            },
                        )
                    })
                    .collect(),
            )
            .await
    }

    /// The server's current copy of the resource an update was meant for (for the person who
    /// resolves the conflict).
    async fn server_version(&self, row: &OutboxRow) -> Result<String, SyncError> {
        let Some((id, _)) = self.store.server_ref(row.resource_key.clone()).await? else {
            return Err(SyncError::Transient(
                "no server id for the conflicting resource".into(),
            ));
        };
        let r = self
            .transport
            .get(&format!("{}/{id}", row.resource_type))
            .await?;
        check_auth(r.status)?;
        if r.status == 200 {
            Ok(r.body)
        } else {
            Err(SyncError::Transient(format!(
                "HTTP {} reading the server's version of a conflicting update",
                r.status
            )))
        }
    }

    /// The ids of what a search finds (a 200 searchset); `what` names it in errors.
    pub(super) async fn search_ids(
        &self,
        query: &str,
        what: &str,
        asked: &(dyn Fn(&Value) -> bool + Sync),
    ) -> Result<Vec<String>, SyncError> {
        let reply = self.transport.get(query).await?;
        check_auth(reply.status)?;
        if reply.status == 404 {
            return Err(SyncError::Transient(format!(
                "the server has no FHIR endpoint at {} (HTTP 404 searching {what}): check the server address in Settings",
                self.transport.config.base
            )));
        }
        if reply.status != 200 {
            return Err(SyncError::Transient(format!(
                "HTTP {} searching {what}",
                reply.status
            )));
        }
        let found: Value = serde_json::from_str(&reply.body)
            .map_err(|e| SyncError::Transient(format!("{what} search answer: {e}")))?;
        // Matches only (an `_include`d resource is not an answer), and each must be what was
        // asked for: a server that answers with another patient is not believed.
        let matches: Vec<&Value> = found["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["search"]["mode"].as_str().is_none_or(|m| m == "match"))
            .map(|e| &e["resource"])
            .collect();
        if let Some(wrong) = matches.iter().find(|r| !asked(r)) {
            return Err(SyncError::Transient(format!(
                "the server's answer to the search for {what} holds a {} that is not what was asked for (id {}); not used",
                wrong["resourceType"].as_str().unwrap_or("resource"),
                wrong["id"].as_str().unwrap_or("?")
            )));
        }
        Ok(matches
            .into_iter()
            .filter_map(|r| r["id"].as_str().map(String::from))
            .collect())
    }

    /// The patient's current Encounter on the server: the one `in-progress` Encounter, if there
    /// is exactly one. None or several: no link (a visit is never guessed). The record has no
    /// visit number yet, so this is the lookup the hospital's data allows.
    async fn current_encounter(&self, patient: &str) -> Result<Option<String>, SyncError> {
        let query = format!(
            "Encounter?subject=Patient/{}&status=in-progress&_count=2",
            enc(patient)
        );
        Ok(
            match self
                .search_ids(&query, "the patient's encounter", &|r| {
                    r["resourceType"] == "Encounter"
                        && r["status"] == "in-progress"
                        && r["subject"]["reference"]
                            .as_str()
                            .is_some_and(|s| s.ends_with(&format!("Patient/{patient}")))
                })
                .await?
                .as_slice()
            {
                [one] => Some(format!("Encounter/{one}")),
                _ => None,
            },
        )
    }

    /// The server id of the case's patient, looked up by MRN (created only when the settings
    /// say this is a test or demo server).
    async fn patient_ref(&self, patient: PatientId) -> Result<String, SyncError> {
        if let Some(id) = self.store.server_patient(patient).await? {
            return Ok(id);
        }
        let p = self
            .store
            .patient(patient)
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("patient {patient} missing")))?;
        let query = mrn_query(&p.mrn);
        let ids = self
            .search_ids(&format!("Patient?{query}"), "the patient", &|r| {
                is_patient_with(r, &p.mrn)
            })
            .await?;
        let id = match ids.as_slice() {
            [one] => one.clone(),
            [] if self.transport.config.create_patients => {
                let reply = self
                    .transport
                    .post(
                        "Patient",
                        map::to_text(&map::patient_resource(&p)),
                        &[("If-None-Exist", &query)],
                    )
                    .await?;
                check_auth(reply.status)?;
                let v: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
                match (reply.status, v["id"].as_str()) {
                    (200 | 201, Some(id)) => id.to_string(),
                    (code, _) => {
                        return Err(SyncError::Transient(format!(
                            "HTTP {code} creating the test patient"
                        )))
                    }
                }
            }
            [] => return Err(SyncError::PatientMissing(p.mrn.value.clone())),
            _ => {
                return Err(SyncError::Transient(format!(
                    "{} patients on the server share MRN {}; a person must resolve it",
                    ids.len(),
                    p.mrn.value
                )))
            }
        };
        self.store
            .remember_server_patient(patient, id.clone())
            .await?;
        Ok(id)
    }

    /// The server's current version of a resource whose create was answered without one (empty
    /// when the server keeps none).
    async fn current_version(&self, resource_type: &str, id: &str) -> Result<String, SyncError> {
        let reply = self.transport.get(&format!("{resource_type}/{id}")).await?;
        if matches!(reply.status, 401 | 403) {
            return Err(SyncError::Auth(reply.status));
        }
        if reply.status != 200 {
            return Err(SyncError::Transient(format!(
                "HTTP {} reading the version of a {resource_type} before updating it",
                reply.status
            )));
        }
        let v: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        Ok(v["meta"]["versionId"]
            .as_str()
            .filter(|v| answer::is_fhir_id(v))
            .unwrap_or("")
            .to_string())
    }

    /// Build the next transaction from the head of `pending`: creates, in order, up to `limit`;
    /// an update goes alone (so a 412 names it). A row whose references cannot be resolved yet
    /// is blocked for this run.
    async fn prepare(
        &self,
        pending: &[OutboxRow],
        limit: usize,
        encounters: &mut HashMap<String, Option<String>>,
    ) -> Result<Prepared, SyncError> {
        let mut rows: Vec<OutboxRow> = Vec::new();
        let mut blocked = Vec::new();
        let mut entries = Vec::new();
        let mut full_urls: HashMap<String, String> = HashMap::new();
        let mut patients: HashMap<String, Option<String>> = HashMap::new();
        let mut missing = Vec::new();
        for row in pending {
            if rows.len() >= limit {
                break;
            }
            let is_update = row.operation == Operation::Update;
            if is_update && !rows.is_empty() {
                break;
            }
            // Numbers kept as written in the outbox (7.380 stays 7.380 on the wire).
            let mut payload: Value = map::from_text(&row.payload)
                .map_err(|e| StoreError::Corrupt(format!("outbox row {}: {e}", row.seq)))?;
            let mut unresolved = false;
            let mut refs = Vec::new();
            collect_refs(&payload, &mut refs);
            let mut resolved: HashMap<String, String> = HashMap::new();
            for r in refs {
                let Some((rt, key)) = r.strip_prefix("pumpside:").and_then(|s| s.split_once('/'))
                else {
                    continue;
                };
                let target = if rt == "Patient" {
                    if !patients.contains_key(key) {
                        let pid: PatientId = key
                            .parse()
                            .map_err(|_| StoreError::Corrupt(format!("patient ref {key}")))?;
                        let id = match self.patient_ref(pid).await {
                            Ok(id) => Some(id),
                            Err(SyncError::PatientMissing(mrn)) => {
                                missing.push(mrn);
                                None
                            }
                            Err(e) => return Err(e),
                        };
                        patients.insert(key.to_string(), id);
                    }
                    patients
                        .get(key)
                        .cloned()
                        .flatten()
                        .map(|id| format!("Patient/{id}"))
                } else if let Some(u) = full_urls.get(key) {
                    Some(u.clone())
                } else {
                    self.store
                        .server_ref(key.to_string())
                        .await?
                        .map(|(id, _)| format!("{rt}/{id}"))
                };
                match target {
                    Some(t) => {
                        resolved.insert(r.clone(), t);
                    }
                    None => unresolved = true,
                }
            }
            let server = if is_update {
                match self.store.server_ref(row.resource_key.clone()).await? {
                    Some((id, version)) if version.is_empty() => {
                        let version = self.current_version(&row.resource_type, &id).await?;
                        Some((id, version))
                    }
                    other => other,
                }
            } else {
                None
            };
            if unresolved || (is_update && server.is_none()) {
                if rows.is_empty() {
                    blocked.push(row.seq);
                    continue;
                }
                break;
            }
            replace_refs(&mut payload, &resolved);
            if let Some(patient) = payload["subject"]["reference"]
                .as_str()
                .and_then(|r| r.strip_prefix("Patient/"))
                .map(String::from)
            {
                if !encounters.contains_key(&patient) {
                    let found = self.current_encounter(&patient).await?;
                    encounters.insert(patient.clone(), found);
                }
                if let Some(Some(enc)) = encounters.get(&patient) {
                    link_encounter(&mut payload, enc);
                }
            }
            let full_url = format!(
                "urn:uuid:{}",
                map::derived_uuid(&row.resource_key, "full-url")
            );
            let request = match &server {
                // A server that keeps no versions cannot guard an update against a lost one.
                Some((id, version)) if version.is_empty() => {
                    payload["id"] = json!(id);
                    json!({ "method": "PUT", "url": format!("{}/{id}", row.resource_type) })
                }
                Some((id, version)) => {
                    payload["id"] = json!(id);
                    json!({ "method": "PUT", "url": format!("{}/{id}", row.resource_type), "ifMatch": format!("W/\"{version}\"") })
                }
                None => json!({
                    "method": "POST",
                    "url": row.resource_type,
                    "ifNoneExist": format!("identifier={}|urn:uuid:{}", map::URI, row.resource_key),
                }),
            };
            let reference = match &server {
                Some((id, _)) => format!("{}/{id}", row.resource_type),
                None => full_url.clone(),
            };
            full_urls.insert(row.resource_key.clone(), reference.clone());
            entries.push((
                reference,
                json!({ "fullUrl": full_url, "resource": payload, "request": request }),
            ));
            rows.push(row.clone());
            if is_update {
                break;
            }
        }
        let ops: Vec<&str> = rows.iter().map(|r| r.op_id.as_str()).collect();
        let provenance_id = map::derived_uuid(&ops.join(","), "provenance");
        // A change to a record already sent (a correction, an artefact mark, a retraction)
        // names who made it and why, from the note the mapping put on the resource.
        let change = rows
            .first()
            .filter(|r| r.operation == Operation::Update)
            .and_then(|_| entries.first())
            .and_then(|(_, e)| {
                e["resource"]["note"]
                    .as_array()
                    .and_then(|n| n.last())
                    .cloned()
            });
        let author = change
            .as_ref()
            .and_then(|n| n["authorString"].as_str())
            .unwrap_or(&self.author.user)
            .to_string();
        let targets: Vec<String> = entries.iter().map(|(r, _)| r.clone()).collect();
        let provenance = self.provenance(
            &provenance_id,
            &targets,
            &author,
            change.as_ref().and_then(|n| n["text"].as_str()),
            change.is_some(),
        );
        let mut bundle_entries: Vec<Value> = entries.into_iter().map(|(_, e)| e).collect();
        if !rows.is_empty() {
            // Created in the same transaction through its urn:uuid fullUrl (POST): a server that
            // refuses update-as-create, or client-assigned ids, takes it like any other.
            bundle_entries.push(json!({
                "fullUrl": format!("urn:uuid:{provenance_id}"),
                "resource": provenance,
                "request": { "method": "POST", "url": "Provenance" },
            }));
        }
        Ok(Prepared {
            rows,
            bundle: json!({ "resourceType": "Bundle", "type": "transaction", "entry": bundle_entries }),
            blocked,
            missing,
        })
    }
}

impl SyncEngine {
    /// The Provenance that goes with the resources of one transaction: who wrote them (the
    /// author) and which Pumpside put them together (the assembler), with the reason for a
    /// change. `id` is the client's id for it (R4 Provenance has no identifier: a tag).
    pub(super) fn provenance(
        &self,
        id: &str,
        targets: &[String],
        author: &str,
        why: Option<&str>,
        update: bool,
    ) -> Value {
        let mut provenance = json!({
            "resourceType": "Provenance",
            "meta": { "tag": [{ "system": map::URI, "code": format!("urn:uuid:{id}") }] },
            "target": targets.iter().map(|r| json!({ "reference": r })).collect::<Vec<_>>(),
            "recorded": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "activity": { "coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                "code": if update { "UPDATE" } else { "CREATE" },
            }] },
            "agent": [
                { "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author" }] },
                  "who": { "display": author } },
                { "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "assembler" }] },
                  "who": { "display": format!("Pumpside {} on {}", env!("CARGO_PKG_VERSION"), self.author.device) } }
            ],
        });
        if let Some(why) = why {
            provenance["reason"] = json!([{ "text": why }]);
        }
        provenance
    }
}

struct Prepared {
    rows: Vec<OutboxRow>,
    bundle: Value,
    blocked: Vec<i64>,
    /// MRNs the server has no Patient for (their cases wait; the others go on).
    missing: Vec<String>,
}

/// Link a resource to its Encounter (the element is `context` on MedicationAdministration in
/// R4, `encounter` on the others that have one).
fn link_encounter(payload: &mut Value, encounter: &str) {
    let field = match payload["resourceType"].as_str() {
        Some("MedicationAdministration") => "context",
        Some("Procedure" | "Observation" | "QuestionnaireResponse") => "encounter",
        _ => return,
    };
    payload[field] = json!({ "reference": encounter });
}

/// When the server's current copy is exactly what we sent (apart from id and meta), our update
/// was applied on an earlier try whose answer was lost: its id and version.
fn already_applied(sent: &Value, server_text: &str) -> Option<(String, String)> {
    let server: Value = serde_json::from_str(server_text).ok()?;
    let id = server["id"].as_str()?.to_string();
    let version = server["meta"]["versionId"].as_str()?.to_string();
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.as_object_mut() {
            m.remove("id");
            m.remove("meta");
        }
        v
    };
    (strip(sent) == strip(&server)).then_some((id, version))
}

pub(super) fn check_auth(status: u16) -> Result<(), SyncError> {
    if status == 401 || status == 403 {
        Err(SyncError::Auth(status))
    } else {
        Ok(())
    }
}

/// The search for a patient by MRN: `identifier=<system>|<value>`, encoded.
/// A Patient resource carrying identifier `mrn` (system and value exactly).
pub(super) fn is_patient_with(r: &Value, mrn: &crate::domain::patient::Mrn) -> bool {
    r["resourceType"] == "Patient"
        && r["identifier"].as_array().is_some_and(|ids| {
            ids.iter()
                .any(|i| i["system"] == mrn.system.as_str() && i["value"] == mrn.value.as_str())
        })
}

pub(super) fn mrn_query(mrn: &crate::domain::patient::Mrn) -> String {
    format!("identifier={}|{}", enc(&mrn.system), enc(&mrn.value))
}

/// Percent-encode a search value (`|`, `&`, `#`, space and non-ASCII).
pub(super) fn enc(s: &str) -> String {
    super::percent_encode(s, b":/")
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("reference", Value::String(s)) if s.starts_with("pumpside:") => {
                        out.push(s.clone())
                    }
                    _ => collect_refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

fn replace_refs(v: &mut Value, resolved: &HashMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "reference" {
                    if let Some(t) = x.as_str().and_then(|s| resolved.get(s)) {
                        *x = Value::String(t.clone());
                        continue;
                    }
                }
                replace_refs(x, resolved);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| replace_refs(x, resolved)),
        _ => {}
    }
}

/// Redirects are followed only to the same origin (scheme, host and port), at most 5: a search
/// for an MRN or a Bundle of patient data never follows a redirect to another server or down to
/// plain http.
fn same_origin_redirects(attempt: reqwest::redirect::Attempt) -> reqwest::redirect::Action {
    let origin = |u: &reqwest::Url| {
        (
            u.scheme().to_string(),
            u.host_str().map(str::to_string),
            u.port_or_known_default(),
        )
    };
    let same = attempt
        .previous()
        .first()
        .is_some_and(|first| origin(first) == origin(attempt.url()));
    if !same {
        let to = attempt.url().origin().ascii_serialization();
        attempt.error(format!(
            "the server redirected to {to}, another server or plain http; not followed"
        ))
    } else if attempt.previous().len() > 5 {
        attempt.error("more than 5 redirects; not followed")
    } else {
        attempt.follow()
    }
}

/// Whether a stored rejection came from the configuration (the address, the credentials, a size
/// limit) rather than from the server's verdict on the record: its detail is not a FHIR
/// OperationOutcome (a web server's 404 page: the base path was wrong), or every issue in it is
/// `not-found`, `not-supported`, `login`, `security`, `forbidden`, `too-costly` or `throttled`,
/// or it is this engine's own size-limit rejection.
pub fn caused_by_configuration(detail: &str) -> bool {
    if detail.contains("(HTTP 413)") {
        return true;
    }
    let Ok(v) = serde_json::from_str::<Value>(detail) else {
        return true;
    };
    if v["resourceType"] != "OperationOutcome" {
        return true;
    }
    let issues = v["issue"].as_array().cloned().unwrap_or_default();
    !issues.is_empty()
        && issues.iter().all(|i| {
            matches!(
                i["code"].as_str(),
                Some(
                    "not-found"
                        | "not-supported"
                        | "login"
                        | "security"
                        | "forbidden"
                        | "too-costly"
                        | "throttled"
                )
            )
        })
}

/// Run the task `make` gives, forever: when it ends (it never should) or panics, `down` hears
/// why, and after a backoff (2 s doubling to 5 min) a new task is started and `restarted` hears
/// how many restarts there have been. Cancelling the supervisor ends it.
pub async fn supervise<F, Fut>(mut make: F, down: impl Fn(String), restarted: impl Fn(u32))
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut restarts: u32 = 0;
    loop {
        let why = match tokio::spawn(make()).await {
            Ok(()) => "the sync task ended".to_string(),
            Err(e) if e.is_panic() => {
                let payload = e.into_panic();
                let text = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "no message".into());
                format!("the sync task stopped on an internal fault ({text})")
            }
            Err(_) => return, // cancelled: the app is stopping or sync restarts with new settings
        };
        down(why);
        restarts = restarts.saturating_add(1);
        tokio::time::sleep(backoff(restarts, 1.0)).await;
        restarted(restarts);
    }
}

/// Exponential backoff with jitter: 2 s, 4 s, 8 s … up to 5 min, each scaled by 0.5–1.0.
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    exp.min(BACKOFF_MAX)
        .mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1000) / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_from_configuration_are_told_from_verdicts_on_the_record() {
        for config in [
            "<html><body><h1>404 Not Found</h1></body></html>",
            "",
            r#"{"error":"no route"}"#,
            r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"}]}"#,
            r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login"},{"severity":"error","code":"forbidden"}]}"#,
            "the server refuses this Observation as too large (HTTP 413) even alone",
        ] {
            assert!(caused_by_configuration(config), "{config}");
        }
        for verdict in [
            r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"Observation.status: required"}]}"#,
            r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-found"},{"severity":"error","code":"value"}]}"#,
            r#"{"resourceType":"OperationOutcome","issue":[]}"#,
        ] {
            assert!(!caused_by_configuration(verdict), "{verdict}");
        }
    }

    /// A task that panics is reported and started again; the new one keeps running.
    #[tokio::test(start_paused = true)]
    async fn a_dead_task_is_reported_and_restarted() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let starts = Arc::new(AtomicU32::new(0));
        let faults = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let restarts = Arc::new(AtomicU32::new(0));
        let (s2, f2, r2) = (starts.clone(), faults.clone(), restarts.clone());
        let supervisor = tokio::spawn(supervise(
            move || {
                let n = s2.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n == 0 {
                        panic!("chrono overflow");
                    }
                    std::future::pending::<()>().await
                }
            },
            move |why| f2.lock().unwrap().push(why),
            move |n| r2.store(n, Ordering::SeqCst),
        ));
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 2, "started again");
        assert_eq!(restarts.load(Ordering::SeqCst), 1);
        let faults = faults.lock().unwrap().clone();
        assert_eq!(faults.len(), 1);
        assert!(faults[0].contains("chrono overflow"), "{faults:?}");
        supervisor.abort();
    }

    #[test]
    fn backoff_doubles_to_a_cap_and_jitter_only_shortens() {
        assert_eq!(backoff(1, 1.0), Duration::from_secs(2));
        assert_eq!(backoff(2, 1.0), Duration::from_secs(4));
        assert_eq!(backoff(5, 1.0), Duration::from_secs(32));
        assert_eq!(backoff(30, 1.0), BACKOFF_MAX);
        assert_eq!(backoff(2, 0.0), Duration::from_secs(2));
    }

    #[test]
    fn references_are_found_and_replaced_only_in_reference_fields() {
        let mut v = json!({
            "identifier": [{ "value": "pumpside:Procedure/x" }],
            "partOf": [{ "reference": "pumpside:Procedure/x" }],
            "subject": { "reference": "Patient/1" },
        });
        let mut refs = Vec::new();
        collect_refs(&v, &mut refs);
        assert_eq!(refs, vec!["pumpside:Procedure/x".to_string()]);
        let resolved = HashMap::from([(refs[0].clone(), "Procedure/9".to_string())]);
        replace_refs(&mut v, &resolved);
        assert_eq!(v["partOf"][0]["reference"], "Procedure/9");
        assert_eq!(v["identifier"][0]["value"], "pumpside:Procedure/x");
    }

    #[test]
    fn search_values_are_percent_encoded() {
        assert_eq!(enc("urn:oid:1.2|A 1&b"), "urn:oid:1.2%7CA%201%26b");
    }
}
