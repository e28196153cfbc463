//! Checklists: versioned templates as data (TOML), runs whose answers are timeline entries, the
//! pre-bypass gate and due/overdue logic for recurring checks (clinical.md section 3).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::validation::{check_text, ValidationError};
use super::{Author, Decimal};

/// What a template is for; `PreBypass` gates starting bypass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    PreBypass,
    EcmoShift,
    IabpHourly,
    CellSaver,
    Handover,
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ItemKind {
    Check,
    YesNo,
    Number { unit: String, min: f64, max: f64 },
    Text,
    Choice { options: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    pub text: String,
    pub kind: ItemKind,
    pub mandatory: bool,
    pub help: Option<String>,
    /// A number item that must reach a protocol setting (`anticoagulation.act_target_s`): an
    /// answer below it is shown flagged, with the target (the bypass gate judges the record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<String>,
}

impl Item {
    /// The protocol target a number answer falls short of (`at_least`), if it does.
    pub fn short_of(&self, answer: &Answer, protocol: &super::protocol::Protocol) -> Option<f64> {
        let target = protocol.checklist_setting(self.at_least.as_deref()?)?;
        match answer {
            Answer::Number(v) if v.to_f64() < target => Some(target),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub title: String,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub id: String,
    pub version: String,
    pub title: String,
    pub purpose: Purpose,
    /// Recurring checks: due this many hours after the last signed run.
    pub every_hours: Option<f64>,
    pub sections: Vec<Section>,
    /// SHA-256 of the file the template came from (hex): two files with one id and version must
    /// be the same file.
    pub digest: String,
    /// The file's text, kept so a case can always show the exact version it used.
    pub source: String,
}

/// A template file that could not be used, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}, line {line}: {problem}")]
pub struct TemplateError {
    pub file: String,
    pub line: usize,
    pub problem: String,
}

// --- the file format, read loosely so each mistake gets its own sentence ---

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTemplate {
    id: String,
    version: String,
    title: String,
    purpose: Purpose,
    every_hours: Option<f64>,
    sections: Vec<RawSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    title: String,
    items: Vec<RawItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawItem {
    id: String,
    text: Option<String>,
    kind: String,
    #[serde(default = "yes")]
    mandatory: bool,
    help: Option<String>,
    unit: Option<String>,
    min: Option<f64>,
    max: Option<f64>,
    options: Option<Vec<String>>,
    at_least: Option<String>,
}

fn yes() -> bool {
    true
}

/// The line declaring item `id`, its `nth` declaration (0-based) when ids repeat; 1 when not
/// found.
fn line_of_item(text: &str, id: &str, nth: usize) -> usize {
    let key = format!("id = \"{id}\"");
    let compact = format!("id=\"{id}\"");
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            let t = l.trim_start().trim_start_matches('{').trim_start();
            t.starts_with(&key) || t.starts_with(&compact)
        })
        .nth(nth)
        .map(|(i, _)| i + 1)
        .unwrap_or(1)
}

impl Template {
    /// Parse and check a template file.
    pub fn parse(file: &str, text: &str) -> Result<Self, TemplateError> {
        let err = |line: usize, problem: String| TemplateError {
            file: file.to_string(),
            line,
            problem,
        };
        let raw: RawTemplate = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| super::validation::line_at(text, s.start))
                .unwrap_or(1);
            err(line, e.message().trim().to_string())
        })?;
        for (what, v) in [
            ("id", &raw.id),
            ("version", &raw.version),
            ("title", &raw.title),
        ] {
            if v.trim().is_empty() {
                return Err(err(1, format!("`{what}` must not be empty")));
            }
        }
        if let Some(h) = raw.every_hours {
            if !(h.is_finite() && h > 0.0 && h <= 24.0 * 7.0) {
                return Err(err(1, format!("every_hours = {h}: allowed 0 to 168")));
            }
        }
        let mut seen = HashSet::new();
        let mut sections = Vec::new();
        for s in raw.sections {
            let mut items = Vec::new();
            for it in s.items {
                let line = line_of_item(text, &it.id, 0);
                if it.id.trim().is_empty() {
                    return Err(err(line, "an item has an empty id".into()));
                }
                if !seen.insert(it.id.clone()) {
                    let again = line_of_item(text, &it.id, 1);
                    return Err(err(again, format!("duplicate item id `{}`", it.id)));
                }
                let item_text = match it.text {
                    Some(t) if !t.trim().is_empty() => t,
                    _ => return Err(err(line, format!("item `{}` has no text", it.id))),
                };
                let has_range = it.min.is_some() || it.max.is_some();
                if it.kind != "number" && (has_range || it.unit.is_some()) {
                    return Err(err(
                        line,
                        format!(
                            "item `{}`: unit and range apply to number items only",
                            it.id
                        ),
                    ));
                }
                let kind = match it.kind.as_str() {
                    "check" => ItemKind::Check,
                    "yes_no" => ItemKind::YesNo,
                    "text" => ItemKind::Text,
                    "number" => {
                        let unit = match it.unit {
                            Some(u) if !u.trim().is_empty() => u,
                            _ if has_range => {
                                return Err(err(line, format!("item `{}` has a range but no unit", it.id)))
                            }
                            _ => return Err(err(line, format!("number item `{}` needs a unit", it.id))),
                        };
                        let (min, max) = (it.min.unwrap_or(f64::MIN), it.max.unwrap_or(f64::MAX));
                        if !(min.is_finite() && max.is_finite()) || min >= max {
                            return Err(err(line, format!("item `{}`: min {min} is not below max {max}", it.id)));
                        }
                        ItemKind::Number { unit, min, max }
                    }
                    "choice" => match it.options {
                        Some(o) if o.len() >= 2 => ItemKind::Choice { options: o },
                        _ => return Err(err(line, format!("choice item `{}` needs at least two options", it.id))),
                    },
                    other => {
                        return Err(err(
                            line,
                            format!("item `{}` has unknown kind `{other}` (check, yes_no, number, text, choice)", it.id),
                        ))
                    }
                };
                if let Some(key) = &it.at_least {
                    if !matches!(kind, ItemKind::Number { .. }) {
                        return Err(err(
                            line,
                            format!("item `{}`: at_least applies to number items only", it.id),
                        ));
                    }
                    if !super::protocol::CHECKLIST_SETTINGS.contains(&key.as_str()) {
                        return Err(err(
                            line,
                            format!(
                                "item `{}`: at_least = \"{key}\" is not a protocol setting a checklist can use ({})",
                                it.id,
                                super::protocol::CHECKLIST_SETTINGS.join(", ")
                            ),
                        ));
                    }
                }
                items.push(Item {
                    id: it.id,
                    text: item_text,
                    kind,
                    mandatory: it.mandatory,
                    help: it.help,
                    at_least: it.at_least,
                });
            }
            sections.push(Section {
                title: s.title,
                items,
            });
        }
        if seen.is_empty() {
            return Err(err(1, "the template has no items".into()));
        }
        Ok(Template {
            id: raw.id,
            version: raw.version,
            title: raw.title,
            purpose: raw.purpose,
            every_hours: raw.every_hours,
            sections,
            digest: hex(&Sha256::digest(text.as_bytes())),
            source: text.to_string(),
        })
    }

    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.sections.iter().flat_map(|s| s.items.iter())
    }

    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items().find(|i| i.id == id)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parse every file; keep the valid templates, report the others. Two files declaring the same
/// id and version with different content are both suspect: the later one is refused.
pub fn load_all(files: &[(String, String)]) -> (Vec<Template>, Vec<TemplateError>) {
    let mut ok: Vec<Template> = Vec::new();
    let mut errors = Vec::new();
    for (file, text) in files {
        match Template::parse(file, text) {
            Ok(t) => match ok.iter().find(|o| o.id == t.id && o.version == t.version) {
                Some(o) if o.digest != t.digest => errors.push(TemplateError {
                    file: file.clone(),
                    line: 1,
                    problem: format!(
                        "template `{}` version {} already exists with different content: change the version",
                        t.id, t.version
                    ),
                }),
                Some(_) => {}
                None => ok.push(t),
            },
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

/// The templates shipped with Pumpside.
pub fn shipped() -> Vec<(String, String)> {
    [
        (
            "assets/checklists/pre-bypass.toml",
            include_str!("../../assets/checklists/pre-bypass.toml"),
        ),
        (
            "assets/checklists/ecmo-shift.toml",
            include_str!("../../assets/checklists/ecmo-shift.toml"),
        ),
        (
            "assets/checklists/iabp-hourly.toml",
            include_str!("../../assets/checklists/iabp-hourly.toml"),
        ),
        (
            "assets/checklists/cell-saver.toml",
            include_str!("../../assets/checklists/cell-saver.toml"),
        ),
        (
            "assets/checklists/handover.toml",
            include_str!("../../assets/checklists/handover.toml"),
        ),
    ]
    .into_iter()
    .map(|(f, t)| (f.to_string(), t.to_string()))
    .collect()
}

/// An answer to one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Answer {
    Checked,
    Yes,
    No,
    Number(Decimal),
    Text(String),
    Choice(String),
    NotApplicable { reason: String },
}

impl Answer {
    /// Check the answer fits the item.
    pub fn validate(&self, item: &Item) -> Result<(), ValidationError> {
        let field = format!("checklist.{}", item.id);
        let wrong = |allowed: &str| ValidationError::Invalid {
            field: field.clone(),
            value: format!("{self:?}"),
            allowed: allowed.to_string(),
        };
        match (self, &item.kind) {
            (Answer::NotApplicable { reason }, _) => {
                check_text(&format!("{field}.na_reason"), reason, 500)
            }
            (Answer::Checked, ItemKind::Check) => Ok(()),
            (Answer::Yes | Answer::No, ItemKind::YesNo) => Ok(()),
            (Answer::Number(v), ItemKind::Number { unit, min, max }) => {
                let x = v.to_f64();
                if x.is_finite() && x >= *min && x <= *max {
                    Ok(())
                } else {
                    Err(ValidationError::out_of_range(
                        field.clone(),
                        format!("{v} {unit}"),
                        format!("{min} to {max} {unit}"),
                    ))
                }
            }
            (Answer::Text(t), ItemKind::Text) => check_text(&field, t, 2000),
            (Answer::Choice(c), ItemKind::Choice { options }) if options.contains(c) => Ok(()),
            (Answer::Choice(_), ItemKind::Choice { options }) => {
                Err(wrong(&format!("one of {}", options.join(", "))))
            }
            (_, ItemKind::Check) => Err(wrong("checked")),
            (_, ItemKind::YesNo) => Err(wrong("yes or no")),
            (_, ItemKind::Number { .. }) => Err(wrong("a number")),
            (_, ItemKind::Text) => Err(wrong("text")),
            (_, ItemKind::Choice { .. }) => Err(wrong("a choice")),
        }
    }
}

/// One recorded answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub item: String,
    pub answer: Answer,
    pub by: Author,
    pub at: DateTime<Utc>,
}

/// A run's current state, derived from its answers (a later answer replaces an earlier one).
#[derive(Debug, Clone, PartialEq)]
pub struct RunState {
    pub answers: HashMap<String, Recorded>,
    pub answered: usize,
    pub total: usize,
    /// Mandatory items still without an answer, in template order.
    pub missing_mandatory: Vec<String>,
}

impl RunState {
    pub fn derive(template: &Template, recorded: &[Recorded]) -> Self {
        let mut answers: HashMap<String, Recorded> = HashMap::new();
        for r in recorded {
            answers.insert(r.item.clone(), r.clone());
        }
        let missing_mandatory = template
            .items()
            .filter(|i| i.mandatory && !answers.contains_key(&i.id))
            .map(|i| i.id.clone())
            .collect();
        Self {
            answered: template
                .items()
                .filter(|i| answers.contains_key(&i.id))
                .count(),
            total: template.items().count(),
            answers,
            missing_mandatory,
        }
    }

    pub fn complete(&self) -> bool {
        self.missing_mandatory.is_empty()
    }

    /// The next unanswered mandatory item, for "jump to next".
    pub fn next_mandatory(&self) -> Option<&str> {
        self.missing_mandatory.first().map(String::as_str)
    }

    /// Signing needs every mandatory item answered; the error names what is missing.
    pub fn check_can_sign(&self, template: &Template) -> Result<(), ValidationError> {
        if self.complete() {
            return Ok(());
        }
        Err(ValidationError::Invalid {
            field: format!("checklist.{}", template.id),
            value: format!("{} of {} answered", self.answered, self.total),
            allowed: format!(
                "every mandatory item answered before signing; missing: {}",
                self.missing_mandatory.join(", ")
            ),
        })
    }
}

/// A checklist run as recorded on a case.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: super::EntryId,
    pub template_id: String,
    pub version: String,
    pub digest: String,
    pub purpose: Purpose,
    pub started: DateTime<Utc>,
    pub recorded: Vec<Recorded>,
    /// Who signed and when.
    pub signed: Option<(Author, DateTime<Utc>)>,
}

/// Checklist runs of a case from its entries (recording order).
pub fn runs(entries: &[super::Entry]) -> Vec<Run> {
    use super::EntryPayload as P;
    let mut out: Vec<Run> = Vec::new();
    let mut by_seq: Vec<&super::Entry> = entries.iter().collect();
    by_seq.sort_by_key(|e| e.seq);
    for e in by_seq {
        match &e.payload {
            P::ChecklistStarted {
                template,
                version,
                digest,
                purpose,
            } => out.push(Run {
                id: e.id,
                template_id: template.clone(),
                version: version.clone(),
                digest: digest.clone(),
                purpose: *purpose,
                started: e.occurred_at,
                recorded: Vec::new(),
                signed: None,
            }),
            P::ChecklistAnswer { run, item, answer } => {
                if let Some(r) = out.iter_mut().find(|r| r.id == *run) {
                    r.recorded.push(Recorded {
                        item: item.clone(),
                        answer: answer.clone(),
                        by: e.author.clone(),
                        at: e.occurred_at,
                    });
                }
            }
            P::ChecklistSigned { run } => {
                if let Some(r) = out.iter_mut().find(|r| r.id == *run) {
                    r.signed = Some((e.author.clone(), e.occurred_at));
                }
            }
            _ => {}
        }
    }
    out
}

/// May bypass start? Yes when a pre-bypass run has been signed or an override with a reason is
/// on the record; otherwise a sentence saying what is needed.
pub fn bypass_gate(entries: &[super::Entry]) -> Result<(), ValidationError> {
    let overridden = entries.iter().any(|e| {
        matches!(
            e.payload,
            super::EntryPayload::ChecklistOverride {
                purpose: Purpose::PreBypass,
                ..
            }
        )
    });
    let signed = runs(entries)
        .iter()
        .any(|r| r.purpose == Purpose::PreBypass && r.signed.is_some());
    if overridden || signed {
        Ok(())
    } else {
        Err(ValidationError::ChecklistRequired {
            what: "a signed pre-bypass checklist".into(),
        })
    }
}

/// When a recurring check is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueStatus {
    pub due_at: DateTime<Utc>,
    pub overdue: bool,
    /// How long past due (zero when not overdue).
    pub overdue_by: Duration,
}

/// Due time of a recurring check: `every_hours` after the last signed run, or after `since`
/// (run start or admission) when none has been signed yet.
pub fn due_status(
    every_hours: f64,
    last_signed: Option<DateTime<Utc>>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> DueStatus {
    let base = last_signed.unwrap_or(since);
    let due_at = base + Duration::milliseconds((every_hours * 3_600_000.0) as i64);
    let overdue_by = (now - due_at).max(Duration::zero());
    DueStatus {
        due_at,
        overdue: now > due_at,
        overdue_by,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn pre_bypass() -> Template {
        let files = shipped();
        Template::parse(&files[0].0, &files[0].1).unwrap()
    }

    const SMALL: &str = r#"
id = "small"
version = "1"
title = "Small"
purpose = "other"

[[sections]]
title = "All kinds"
items = [
  { id = "c", text = "Checked?", kind = "check" },
  { id = "yn", text = "Yes or no?", kind = "yes_no", help = "Say yes" },
  { id = "n", text = "ACT", kind = "number", unit = "s", min = 400, max = 999 },
  { id = "t", text = "Notes", kind = "text", mandatory = false },
  { id = "ch", text = "Route", kind = "choice", options = ["antegrade", "retrograde"] },
]
"#;

    fn rec(item: &str, answer: Answer) -> Recorded {
        Recorded {
            item: item.into(),
            answer,
            by: Author::new("P", "tablet"),
            at: Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn every_shipped_template_parses() {
        let (ok, errors) = load_all(&shipped());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(ok.len(), 5);
        // The pre-bypass ACT is judged against the protocol's target, not only 30–1500 s.
        let act = pre_bypass()
            .item("anticoagulation.act")
            .cloned()
            .expect("the ACT item");
        assert_eq!(
            act.at_least.as_deref(),
            Some("anticoagulation.act_target_s")
        );
        let pb = pre_bypass();
        assert_eq!(pb.purpose, Purpose::PreBypass);
        assert!(
            pb.items().count() >= 40,
            "the AmSECT list has {} items",
            pb.items().count()
        );
        assert!(ok.iter().any(|t| t.every_hours.is_some()));
    }

    #[test]
    fn every_item_kind_accepts_its_answers_and_refuses_others() {
        let t = Template::parse("small.toml", SMALL).unwrap();
        let item = |id| t.item(id).unwrap();
        assert!(Answer::Checked.validate(item("c")).is_ok());
        assert!(Answer::Yes.validate(item("yn")).is_ok());
        assert!(Answer::No.validate(item("yn")).is_ok());
        assert!(Answer::Number("480".parse().unwrap())
            .validate(item("n"))
            .is_ok());
        let e = Answer::Number("48".parse().unwrap())
            .validate(item("n"))
            .unwrap_err();
        assert!(
            e.to_string().contains("48 s") && e.to_string().contains("400 to 999 s"),
            "{e}"
        );
        assert!(Answer::Text("ok".into()).validate(item("t")).is_ok());
        assert!(Answer::Text(" ".into()).validate(item("t")).is_err());
        assert!(Answer::Choice("retrograde".into())
            .validate(item("ch"))
            .is_ok());
        assert!(Answer::Choice("ostial".into())
            .validate(item("ch"))
            .is_err());
        assert!(Answer::Yes.validate(item("c")).is_err());
        assert!(Answer::Checked.validate(item("n")).is_err());
        assert!(Answer::NotApplicable {
            reason: "no cardioplegia in this case".into()
        }
        .validate(item("ch"))
        .is_ok());
        let e = Answer::NotApplicable { reason: "".into() }
            .validate(item("ch"))
            .unwrap_err();
        assert_eq!(e.field(), Some("checklist.ch.na_reason"));
    }

    #[test]
    fn progress_mandatory_and_signing() {
        let t = Template::parse("small.toml", SMALL).unwrap();
        let mut answers = vec![rec("c", Answer::Checked), rec("yn", Answer::No)];
        let s = RunState::derive(&t, &answers);
        assert_eq!((s.answered, s.total), (2, 5));
        assert_eq!(s.next_mandatory(), Some("n"));
        let e = s.check_can_sign(&t).unwrap_err();
        assert!(e.to_string().contains("missing: n, ch"), "{e}");
        answers.push(rec("n", Answer::Number("512".parse().unwrap())));
        answers.push(rec(
            "ch",
            Answer::NotApplicable {
                reason: "no cardioplegia".into(),
            },
        ));
        answers.push(rec("yn", Answer::Yes)); // changed answer: the later one counts
        let s = RunState::derive(&t, &answers);
        assert!(s.complete(), "the optional text item is not needed");
        assert_eq!(s.answers["yn"].answer, Answer::Yes);
        s.check_can_sign(&t).unwrap();
    }

    #[test]
    fn bad_templates_name_file_line_and_problem() {
        let cases = [
            (
                SMALL.replace("id = \"yn\"", "id = \"c\""),
                "duplicate item id `c`",
            ),
            (
                SMALL.replace("kind = \"yes_no\"", "kind = \"maybe\""),
                "unknown kind `maybe`",
            ),
            (
                SMALL.replace("text = \"Route\", ", ""),
                "item `ch` has no text",
            ),
            (
                SMALL.replace("unit = \"s\", ", ""),
                "has a range but no unit",
            ),
            (
                SMALL.replace(
                    "options = [\"antegrade\", \"retrograde\"]",
                    "options = [\"only\"]",
                ),
                "at least two options",
            ),
            (
                SMALL.replace(
                    "purpose = \"other\"",
                    "purpose = \"other\"\ncolour = \"red\"",
                ),
                "unknown field `colour`",
            ),
            (
                SMALL.replace("min = 400, max = 999", "min = 999, max = 400"),
                "is not below max",
            ),
            (
                SMALL.replace("max = 999 }", "max = 999, at_least = \"map.low\" }"),
                "is not a protocol setting a checklist can use",
            ),
            (
                SMALL.replace(
                    "kind = \"check\" }",
                    "kind = \"check\", at_least = \"anticoagulation.act_target_s\" }",
                ),
                "at_least applies to number items only",
            ),
        ];
        for (text, problem) in cases {
            let e = Template::parse("site/bad.toml", &text).unwrap_err();
            assert_eq!(e.file, "site/bad.toml");
            assert!(e.problem.contains(problem), "{problem}: {e}");
            assert!(e.line > 1, "{problem}: line {}", e.line);
        }
        // The line is the offending item's.
        let dup = SMALL.replace("id = \"yn\"", "id = \"c\"");
        let e = Template::parse("x", &dup).unwrap_err();
        assert!(
            dup.lines().nth(e.line - 1).unwrap().contains("Yes or no?"),
            "{e}"
        );
    }

    #[test]
    fn valid_templates_load_beside_broken_ones_and_versions_must_change_with_content() {
        let broken = SMALL.replace("kind = \"check\"", "kind = \"tick\"");
        let changed = SMALL.replace("Checked?", "Checked twice?");
        let files = vec![
            ("a.toml".to_string(), SMALL.to_string()),
            ("b.toml".to_string(), broken),
            ("c.toml".to_string(), changed.clone()),
            (
                "d.toml".to_string(),
                changed.replace("version = \"1\"", "version = \"2\""),
            ),
        ];
        let (ok, errors) = load_all(&files);
        assert_eq!(
            ok.iter().map(|t| t.version.as_str()).collect::<Vec<_>>(),
            vec!["1", "2"]
        );
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].file, "b.toml");
        assert!(
            errors[1].problem.contains("change the version"),
            "{:?}",
            errors[1]
        );
        assert_ne!(ok[0].digest, ok[1].digest);
    }

    #[tokio::test(start_paused = true)]
    async fn recurring_checks_become_due_and_overdue_as_time_passes() {
        // Wall-clock time is taken from tokio's paused clock, advanced by hand.
        let start = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let t0 = tokio::time::Instant::now();
        let now = || start + Duration::from_std(tokio::time::Instant::now() - t0).unwrap();
        let every = 8.0; // ECMO shift check
        assert!(!due_status(every, None, start, now()).overdue);
        tokio::time::advance(std::time::Duration::from_secs(8 * 3600 - 1)).await;
        assert!(!due_status(every, None, start, now()).overdue);
        tokio::time::advance(std::time::Duration::from_secs(2)).await;
        let s = due_status(every, None, start, now());
        assert!(s.overdue && s.overdue_by == Duration::seconds(1));
        let signed = now();
        let s = due_status(every, Some(signed), start, now());
        assert_eq!((s.overdue, s.due_at), (false, signed + Duration::hours(8)));
        tokio::time::advance(std::time::Duration::from_secs(9 * 3600)).await;
        assert_eq!(
            due_status(every, Some(signed), start, now()).overdue_by,
            Duration::hours(1)
        );
        assert!(
            due_status(1.0, Some(signed), start, now()).overdue,
            "IABP hourly"
        );
    }
}
