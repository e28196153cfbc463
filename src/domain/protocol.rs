//! Protocol settings: the thresholds and constants a hospital chooses, as a versioned TOML file
//! (default: `assets/protocols/default.toml`, compiled in). A broken file gets an error naming
//! the file, the line and the key; the app keeps the defaults.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::bloodgas::{Analyte, SampleSite};
use super::calc::body::EbvModel;
use super::calc::OxygenConstants;
use super::quality::{Indicator, ScoreDefinition};
use super::Parameter;

pub const DEFAULT_NAME: &str = "assets/protocols/default.toml";
pub const DEFAULT_TOML: &str = include_str!("../../assets/protocols/default.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    pub name: String,
    pub version: String,
    pub gdp: Gdp,
    pub map: Band,
    pub temperature: Temperature,
    pub anticoagulation: Anticoagulation,
    pub oxygen: OxygenConstants,
    pub blood: Blood,
    pub cardioplegia: Vec<CardioplegiaProtocol>,
    #[serde(default)]
    pub scores: Vec<ScoreDefinition>,
    #[serde(default)]
    pub indicators: Vec<Indicator>,
    /// How advisories wait and clear (older files without the section: the defaults).
    #[serde(default)]
    pub advisories: AdvisorySettings,
    /// The range of each blood-gas analyte in its canonical unit, flagged on entry, on the
    /// timeline, in the review and on the tiles (older files without the section: none).
    #[serde(default)]
    pub analytes: BTreeMap<Analyte, AnalyteRange>,
    /// Sign-in on this device (older files without the section: the defaults).
    #[serde(default)]
    pub security: SecuritySettings,
    /// ECMO advisories and the on-call board's order (older files without it: the defaults).
    #[serde(default)]
    pub ecmo: super::ecmo::EcmoRules,
}

/// The hospital's sign-in settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySettings {
    /// Minutes without a touch before the screen locks (recording goes on), 1 to 60.
    pub idle_lock_min: f64,
    /// Take values only from Bluetooth devices the platform reports as bonded.
    pub require_bonding: bool,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            idle_lock_min: 5.0,
            require_bonding: false,
        }
    }
}

/// Protocol settings a checklist item may name in `at_least`.
pub const CHECKLIST_SETTINGS: [&str; 1] = ["anticoagulation.act_target_s"];

/// Where an analyte should be, in its canonical unit (`Analyte::canonical_unit`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyteRange {
    pub low: Option<f64>,
    pub high: Option<f64>,
    /// Judged on arterial-side samples only (patient artery, post-oxygenator): gas tensions
    /// and saturation (a venous pO₂ of 40 is not low).
    #[serde(default)]
    pub arterial_only: bool,
}

/// Where a measured analyte stands against the protocol's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    Low,
    High,
}

impl Flag {
    pub fn code(self) -> &'static str {
        match self {
            Flag::Low => "low",
            Flag::High => "high",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Flag::Low => "LOW",
            Flag::High => "HIGH",
        }
    }
}

/// Delay before an out-of-band value raises an advisory and the margin back inside the band
/// before it clears, per watched band; and how long a snooze lasts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdvisorySettings {
    pub map_delay_s: f64,
    /// mmHg.
    pub map_hysteresis: f64,
    pub arterial_outlet_delay_s: f64,
    /// °C.
    pub arterial_outlet_hysteresis: f64,
    pub do2i_delay_s: f64,
    /// mL/min/m².
    pub do2i_hysteresis: f64,
    pub snooze_min: f64,
}

impl Default for AdvisorySettings {
    fn default() -> Self {
        Self {
            map_delay_s: 30.0,
            map_hysteresis: 3.0,
            arterial_outlet_delay_s: 10.0,
            arterial_outlet_hysteresis: 0.2,
            do2i_delay_s: 60.0,
            do2i_hysteresis: 10.0,
            snooze_min: 5.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gdp {
    pub do2i_threshold: f64,
    pub max_gap_s: f64,
    #[serde(default)]
    pub alternatives: Vec<Alternative>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alternative {
    pub value: f64,
    pub source: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub low: f64,
    pub high: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Temperature {
    pub arterial_outlet_max_c: f64,
    pub gradient_max_c: f64,
    pub gradient_max_rewarming_c: f64,
    pub rewarming_rate_max_c_per_min: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anticoagulation {
    pub act_target_s: f64,
    pub heparin_units_per_kg: f64,
    pub protamine_mg_per_100u: f64,
    /// Minutes between ACT checks on bypass (older protocol files without it: 30).
    #[serde(default = "default_act_recheck_min")]
    pub act_recheck_min: f64,
}

fn default_act_recheck_min() -> f64 {
    30.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blood {
    pub ebv: EbvModel,
    pub red_cell_unit_hct: f64,
    pub target_cardiac_index: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardioplegiaProtocol {
    pub name: String,
    pub redose_interval_min: f64,
    pub dose_ml_per_kg: Option<f64>,
    pub cap_ml: Option<f64>,
}

/// What is wrong with a protocol file, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}, line {line}, key `{key}`: {problem}")]
pub struct ProtocolError {
    pub file: String,
    pub line: usize,
    pub key: String,
    pub problem: String,
}

/// The dotted key at `line`: the nearest table header above plus the key on the line.
fn key_at(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let here = lines.get(line.saturating_sub(1)).copied().unwrap_or("");
    let key = here.split('=').next().unwrap_or("").trim().to_string();
    let table = lines[..line.saturating_sub(1).min(lines.len())]
        .iter()
        .rev()
        .find(|l| l.trim_start().starts_with('['))
        .map(|l| l.trim().trim_matches(|c| c == '[' || c == ']').to_string());
    match (table, key.is_empty() || key.starts_with('[')) {
        (Some(t), false) => format!("{t}.{key}"),
        (Some(t), true) => t,
        (None, _) => key,
    }
}

/// The line where `table.key` is set (1 when it cannot be found).
fn line_of_key(text: &str, table: &str, key: &str) -> usize {
    let mut in_table = table.is_empty();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            in_table = t.trim_matches(|c| c == '[' || c == ']') == table;
            continue;
        }
        if in_table && t.split('=').next().map(str::trim) == Some(key) {
            return i + 1;
        }
    }
    1
}

/// Refuse any number in the file that is not finite (`inf`, `-inf`, `nan`, or a literal too large
/// for a float), wherever it is (a score's cutoff, an indicator's minutes), by file, line and
/// key: a non-finite setting would otherwise reach the clinical arithmetic.
fn non_finite(file: &str, text: &str) -> Result<(), ProtocolError> {
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return Ok(()); // a syntax error is reported by the typed parse, with its line
    };
    fn walk(path: &str, v: &toml::Value, found: &mut Option<(String, f64)>) {
        if found.is_some() {
            return;
        }
        match v {
            toml::Value::Float(f) if !f.is_finite() => *found = Some((path.to_string(), *f)),
            toml::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(&format!("{path}[{i}]"), x, found);
                }
            }
            toml::Value::Table(t) => {
                for (k, x) in t {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(&p, x, found);
                }
            }
            _ => {}
        }
    }
    let mut found = None;
    walk("", &toml::Value::Table(table), &mut found);
    let Some((key, value)) = found else {
        return Ok(());
    };
    // The line: the first whose key is the path's last key and whose value is not finite.
    let last = key
        .rsplit('.')
        .next()
        .unwrap_or(&key)
        .split('[')
        .next()
        .unwrap_or("");
    let line = text
        .lines()
        .position(|l| {
            let code = l.split('#').next().unwrap_or("");
            code.contains(last) && ["inf", "nan"].iter().any(|w| code.contains(w))
        })
        .or_else(|| text.lines().position(|l| l.contains(last)))
        .map_or(1, |i| i + 1);
    Err(ProtocolError {
        file: file.to_string(),
        line,
        key,
        problem: format!("{value} is not a finite number"),
    })
}

impl Protocol {
    /// Parse and check a protocol file. `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, ProtocolError> {
        non_finite(file, text)?;
        let p: Protocol = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| super::validation::line_at(text, s.start))
                .unwrap_or(1);
            ProtocolError {
                file: file.to_string(),
                line,
                key: key_at(text, line),
                problem: e.message().trim().to_string(),
            }
        })?;
        p.check(file, text)?;
        Ok(p)
    }

    /// The compiled-in defaults.
    pub fn defaults() -> Result<Self, ProtocolError> {
        Self::parse(DEFAULT_NAME, DEFAULT_TOML)
    }

    fn check(&self, file: &str, text: &str) -> Result<(), ProtocolError> {
        let err = |table: &str, key: &str, problem: String| ProtocolError {
            file: file.to_string(),
            line: line_of_key(text, table, key),
            key: if table.is_empty() {
                key.to_string()
            } else {
                format!("{table}.{key}")
            },
            problem,
        };
        let range = |table: &str, key: &str, v: f64, lo: f64, hi: f64| {
            if v.is_finite() && v >= lo && v <= hi {
                Ok(())
            } else {
                Err(err(table, key, format!("{v} is outside {lo} to {hi}")))
            }
        };
        if self.version.trim().is_empty() {
            return Err(err("", "version", "must not be empty".into()));
        }
        range(
            "gdp",
            "do2i_threshold",
            self.gdp.do2i_threshold,
            150.0,
            500.0,
        )?;
        range("gdp", "max_gap_s", self.gdp.max_gap_s, 1.0, 3600.0)?;
        range("map", "low", self.map.low, 20.0, 120.0)?;
        range("map", "high", self.map.high, 20.0, 150.0)?;
        if self.map.low >= self.map.high {
            return Err(err(
                "map",
                "high",
                format!("{} must be above low ({})", self.map.high, self.map.low),
            ));
        }
        let t = &self.temperature;
        range(
            "temperature",
            "arterial_outlet_max_c",
            t.arterial_outlet_max_c,
            30.0,
            40.0,
        )?;
        range("temperature", "gradient_max_c", t.gradient_max_c, 1.0, 20.0)?;
        range(
            "temperature",
            "gradient_max_rewarming_c",
            t.gradient_max_rewarming_c,
            1.0,
            20.0,
        )?;
        range(
            "temperature",
            "rewarming_rate_max_c_per_min",
            t.rewarming_rate_max_c_per_min,
            0.1,
            2.0,
        )?;
        let v = &self.advisories;
        for (key, value, max) in [
            ("map_delay_s", v.map_delay_s, 600.0),
            ("map_hysteresis", v.map_hysteresis, 20.0),
            ("arterial_outlet_delay_s", v.arterial_outlet_delay_s, 600.0),
            (
                "arterial_outlet_hysteresis",
                v.arterial_outlet_hysteresis,
                2.0,
            ),
            ("do2i_delay_s", v.do2i_delay_s, 600.0),
            ("do2i_hysteresis", v.do2i_hysteresis, 100.0),
            ("snooze_min", v.snooze_min, 60.0),
        ] {
            range("advisories", key, value, 0.0, max)?;
        }
        range(
            "security",
            "idle_lock_min",
            self.security.idle_lock_min,
            1.0,
            60.0,
        )?;
        for (key, value, lo, hi) in self.ecmo.ranges() {
            range("ecmo", key, value, lo, hi)?;
        }
        if let Some((key, problem)) = self.ecmo.inconsistency() {
            return Err(err("ecmo", key, problem));
        }
        let a = &self.anticoagulation;
        range(
            "anticoagulation",
            "act_recheck_min",
            a.act_recheck_min,
            5.0,
            120.0,
        )?;
        range(
            "anticoagulation",
            "act_target_s",
            a.act_target_s,
            200.0,
            1000.0,
        )?;
        range(
            "anticoagulation",
            "heparin_units_per_kg",
            a.heparin_units_per_kg,
            100.0,
            600.0,
        )?;
        range(
            "anticoagulation",
            "protamine_mg_per_100u",
            a.protamine_mg_per_100u,
            0.1,
            5.0,
        )?;
        range("oxygen", "hb_capacity", self.oxygen.hb_capacity, 1.3, 1.4)?;
        range("oxygen", "dissolved", self.oxygen.dissolved, 0.0028, 0.0032)?;
        range(
            "blood",
            "red_cell_unit_hct",
            self.blood.red_cell_unit_hct,
            0.45,
            0.85,
        )?;
        range(
            "blood",
            "target_cardiac_index",
            self.blood.target_cardiac_index,
            1.0,
            4.0,
        )?;
        for sc in &self.scores {
            for r in &sc.rules {
                if let super::quality::Scoring::ZScore { sd, .. } = r.scoring {
                    if sd <= 0.0 {
                        return Err(err(
                            "scores",
                            "sd",
                            format!("{} / {}: {sd} must be above 0", sc.name, r.name),
                        ));
                    }
                }
            }
        }
        for i in &self.indicators {
            if let super::quality::IndicatorCheck::NotBelowFor { minutes, .. } = i.check {
                if minutes < 0.0 {
                    return Err(err(
                        "indicators",
                        "minutes",
                        format!("{}: {minutes} must not be negative", i.name),
                    ));
                }
            }
        }
        for (a, r) in &self.analytes {
            let bad = |v: Option<f64>| v.is_some_and(|v| !v.is_finite());
            if bad(r.low) || bad(r.high) {
                return Err(err("analytes", a.code(), "must be finite numbers".into()));
            }
            if let (Some(l), Some(h)) = (r.low, r.high) {
                if l >= h {
                    return Err(err(
                        "analytes",
                        a.code(),
                        format!("low ({l}) must be below high ({h})"),
                    ));
                }
            }
            if r.low.is_none() && r.high.is_none() {
                return Err(err("analytes", a.code(), "needs low, high or both".into()));
            }
        }
        for c in &self.cardioplegia {
            if !(c.redose_interval_min.is_finite()
                && (5.0..=240.0).contains(&c.redose_interval_min))
            {
                return Err(err(
                    "cardioplegia",
                    "redose_interval_min",
                    format!("{}: {} is outside 5 to 240", c.name, c.redose_interval_min),
                ));
            }
        }
        Ok(())
    }

    /// The cardioplegia protocol called `name`, if the file has one.
    /// The on-bypass band this protocol sets for `p` as (low, high) in internal units: the MAP
    /// band, the DO2i threshold, the arterial outlet maximum. `None`: no band for `p`.
    pub fn band(&self, p: Parameter) -> Option<(Option<f64>, Option<f64>)> {
        match p {
            Parameter::MeanArterialPressure => Some((Some(self.map.low), Some(self.map.high))),
            Parameter::Do2i => Some((Some(self.gdp.do2i_threshold), None)),
            Parameter::ArterialOutletTemp => {
                Some((None, Some(self.temperature.arterial_outlet_max_c)))
            }
            _ => None,
        }
    }

    /// The value of a setting a checklist item names (see [`CHECKLIST_SETTINGS`]).
    pub fn checklist_setting(&self, key: &str) -> Option<f64> {
        match key {
            "anticoagulation.act_target_s" => Some(self.anticoagulation.act_target_s),
            _ => None,
        }
    }

    /// Where `value` (canonical unit) of `a` from a sample at `site` stands against the
    /// protocol's range: `None` inside it, or when no range applies to that site.
    pub fn analyte_flag(&self, a: Analyte, site: SampleSite, value: f64) -> Option<Flag> {
        let r = self.analytes.get(&a)?;
        if r.arterial_only && !site.is_arterial() {
            return None;
        }
        if r.low.is_some_and(|l| value < l) {
            Some(Flag::Low)
        } else if r.high.is_some_and(|h| value > h) {
            Some(Flag::High)
        } else {
            None
        }
    }

    /// The range of `a` in words ("3.5–5.5 mmol/L"), if the protocol has one.
    pub fn analyte_range_text(&self, a: Analyte) -> Option<String> {
        let r = self.analytes.get(&a)?;
        let unit = a.canonical_unit();
        let sep = if unit.is_empty() { "" } else { " " };
        let text = match (r.low, r.high) {
            (Some(l), Some(h)) => format!("{l}–{h}"),
            (Some(l), None) => format!("≥ {l}"),
            (None, Some(h)) => format!("≤ {h}"),
            (None, None) => return None,
        };
        Some(format!("{text}{sep}{unit}"))
    }

    pub fn cardioplegia(&self, name: &str) -> Option<&CardioplegiaProtocol> {
        self.cardioplegia.iter().find(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_finite_number_anywhere_is_refused_by_file_line_and_key() {
        let defaults = DEFAULT_TOML;
        let broken = defaults.replacen("minutes = 5", "minutes = -inf", 1);
        assert_ne!(
            broken, defaults,
            "the default file has an indicator with minutes = 5"
        );
        let e = Protocol::parse("hospital.toml", &broken).unwrap_err();
        assert_eq!(e.file, "hospital.toml");
        assert!(e.key.ends_with("minutes"), "{e}");
        assert!(e.problem.contains("not a finite number"), "{e}");
        assert_eq!(
            broken.lines().nth(e.line - 1).map(str::trim),
            Some("minutes = -inf"),
            "{e}"
        );
        let nan = defaults.replacen("sd = 0.05", "sd = nan", 1);
        let e = Protocol::parse("hospital.toml", &nan).unwrap_err();
        assert!(e.key.contains("scores"), "{e}");
        let zero = defaults.replacen("sd = 0.05", "sd = 0", 1);
        assert!(Protocol::parse("hospital.toml", &zero).is_err());
    }

    #[test]
    fn the_shipped_defaults_parse_and_carry_the_published_alternatives() {
        let p = Protocol::defaults().unwrap();
        assert_eq!(p.gdp.do2i_threshold, 280.0);
        assert_eq!(p.gdp.alternatives.len(), 5);
        assert_eq!(p.oxygen, OxygenConstants::default());
        assert_eq!(
            p.cardioplegia("del Nido").unwrap().redose_interval_min,
            90.0
        );
        assert_eq!(p.scores[0].rules.len(), 6);
        assert!(!p.indicators.is_empty());
    }

    #[test]
    fn broken_files_name_file_line_and_key() {
        let typo = DEFAULT_TOML.replace("do2i_threshold = 280", "do2i_treshold = 280");
        let e = Protocol::parse("site.toml", &typo).unwrap_err();
        assert_eq!(e.file, "site.toml");
        assert_eq!(e.line, line_of_key(&typo, "gdp", "do2i_treshold"), "{e}");
        assert!(e.problem.contains("do2i_treshold"), "{e}");

        let bad_value = DEFAULT_TOML.replace("act_target_s = 480", "act_target_s = \"480 s\"");
        let e = Protocol::parse("site.toml", &bad_value).unwrap_err();
        assert_eq!(e.key, "anticoagulation.act_target_s", "{e}");

        let out_of_range = DEFAULT_TOML.replace("do2i_threshold = 280", "do2i_threshold = 2800");
        let e = Protocol::parse("site.toml", &out_of_range).unwrap_err();
        assert_eq!(e.key, "gdp.do2i_threshold");
        assert_eq!(e.line, line_of_key(DEFAULT_TOML, "gdp", "do2i_threshold"));
        assert!(e.to_string().starts_with("site.toml, line "), "{e}");

        let inverted = DEFAULT_TOML.replace("low = 50", "low = 90");
        assert_eq!(Protocol::parse("x", &inverted).unwrap_err().key, "map.high");

        let k = DEFAULT_TOML.replace("hb_capacity = 1.34", "hb_capacity = 134");
        assert_eq!(
            Protocol::parse("x", &k).unwrap_err().key,
            "oxygen.hb_capacity"
        );

        assert!(Protocol::parse("x", "not toml [").is_err());

        let idle = DEFAULT_TOML.replace("idle_lock_min = 5", "idle_lock_min = 0.25");
        let e = Protocol::parse("site.toml", &idle).unwrap_err();
        assert_eq!(e.key, "security.idle_lock_min", "{e}");
        assert_eq!(
            e.line,
            line_of_key(DEFAULT_TOML, "security", "idle_lock_min")
        );
        let flow = DEFAULT_TOML.replace("flow_min = 1.5", "flow_min = 15");
        let e = Protocol::parse("site.toml", &flow).unwrap_err();
        assert_eq!(e.key, "ecmo.flow_min", "{e}");
        assert_eq!(e.line, line_of_key(DEFAULT_TOML, "ecmo", "flow_min"));
        let xa = DEFAULT_TOML.replace("anti_xa_low = 0.3", "anti_xa_low = 0.6");
        assert_eq!(
            Protocol::parse("x", &xa).unwrap_err().key,
            "ecmo.anti_xa_high"
        );
        let weight = DEFAULT_TOML.replace("no_data = 95\n", "");
        let e = Protocol::parse("x", &weight).unwrap_err();
        assert!(
            e.key == "ecmo.urgency" && e.problem.contains("no_data"),
            "{e}"
        );
        let unknown = DEFAULT_TOML.replace("no_data = 95", "no_dta = 95");
        assert!(Protocol::parse("x", &unknown).is_err());

        let ten = DEFAULT_TOML.replace("idle_lock_min = 5", "idle_lock_min = 10");
        assert_eq!(
            Protocol::parse("x", &ten).unwrap().security.idle_lock_min,
            10.0
        );
    }
}
