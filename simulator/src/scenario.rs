//! Scenario files: what a run does, as plain TOML.
//!
//! ```toml
//! [scenario]
//! name = "quickstart"
//! lab = "lab.toml"            # the lab file, relative to this file
//!
//! path = "em-api"             # or "phone": the full phone flow
//!
//! [load]                      # an open model: cycles arrive at `rate`
//! phones = 200                # the first N members of the lab's [fleet]
//! rate = "100/s"              # login→hold→logout cycles started per second
//! duration = "10s"            # or: cycles = 1000
//! hold = "500ms"              # logged-in time between login and logout
//! query = true                # deviceUserQuery after each login
//!
//! [expect]                    # the outcome every step must have
//! login = "success"           # or an error code, e.g. 25
//!
//! [thresholds]
//! rules = ["login.p99 < 200ms", "mismatches == 0"]
//! ```
//!
//! The whole format, with phases (ramps, steps, spikes), the closed model,
//! users files and compressed time, is in `scenarios/README.md`.

use crate::thresholds::Threshold;
use crate::units::{parse_duration, parse_rate};
use emlab_protocol::ConfigError;
use emlab_protocol::config_error::parse_toml;
use emlab_protocol::troubleshooting::Cause;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    scenario: Header,
    load: LoadFile,
    #[serde(default)]
    expect: ExpectFile,
    #[serde(default)]
    thresholds: ThresholdsFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: String,
    #[serde(default)]
    description: String,
    lab: Option<String>,
    app_id: Option<String>,
    app_certificate: Option<String>,
    path: Option<String>,
    users: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadFile {
    model: Option<String>,
    phones: u32,
    rate: Option<RateValue>,
    duration: Option<String>,
    cycles: Option<u64>,
    hold: Option<String>,
    think: Option<String>,
    #[serde(default = "yes")]
    query: bool,
    request_timeout: Option<String>,
    control_timeout: Option<String>,
    time_scale: Option<f64>,
    logout_at: Option<String>,
    #[serde(default)]
    pipeline: bool,
    #[serde(default)]
    phase: Vec<PhaseFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhaseFile {
    name: String,
    duration: String,
    rate: Option<RateValue>,
    to: Option<RateValue>,
    phones: Option<u32>,
    /// A cause the server plays for the length of the phase (TRBL-1..4).
    troubleshooting: Option<String>,
}

fn yes() -> bool {
    true
}

/// `rate = 200` or `rate = "200/s"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RateValue {
    Number(f64),
    Text(String),
}

impl RateValue {
    fn per_s(&self) -> Result<f64, String> {
        match self {
            RateValue::Number(n) => parse_rate(&n.to_string()),
            RateValue::Text(t) => parse_rate(t),
        }
    }
    fn text(&self) -> String {
        match self {
            RateValue::Number(n) => n.to_string(),
            RateValue::Text(t) => t.clone(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExpectFile {
    login: Option<ExpectValue>,
    logout: Option<ExpectValue>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ExpectValue {
    Code(u16),
    Text(String),
    /// Any of several outcomes: `["success", 26]`.
    AnyOf(Vec<ExpectValue>),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ThresholdsFile {
    #[serde(default)]
    rules: Vec<String>,
}

/// What a step is expected to answer: `success`, an error code, or any
/// of several (shown as `success|26`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expected {
    Success,
    Code(u16),
    AnyOf(Vec<Expected>),
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expected::Success => write!(f, "success"),
            Expected::Code(c) => write!(f, "{c}"),
            Expected::AnyOf(all) => {
                let parts: Vec<String> = all.iter().map(|e| e.to_string()).collect();
                write!(f, "{}", parts.join("|"))
            }
        }
    }
}

/// Arrival-rate (open) or fixed-population (closed) load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// Cycles arrive on a schedule whatever the server does.
    Open,
    /// N phones each run cycle after cycle, with `think` in between.
    Closed,
}

/// Which way in a phone's cycle goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathKind {
    /// Login, query and logout through the EM API only.
    EmApi,
    /// The whole phone: register, services, prompt, restart, config.
    Phone,
}

impl PathKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PathKind::EmApi => "em-api",
            PathKind::Phone => "phone",
        }
    }
}

/// One stretch of the load shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Phase {
    pub name: String,
    pub duration: Duration,
    /// Open: cycles per second at the start of the phase.
    pub rate_per_s: f64,
    /// Open: the rate at the end, for a ramp.
    pub to_per_s: Option<f64>,
    /// Closed: phones cycling in this phase.
    pub phones: u32,
    /// The troubleshooting cause the server plays during this phase,
    /// through lab control: its symptom is expected here (TRBL-1..4).
    pub troubleshooting: Option<Cause>,
}

impl Phase {
    /// The expected number of arrivals in this phase (open model).
    pub fn arrivals(&self) -> f64 {
        let end = self.to_per_s.unwrap_or(self.rate_per_s);
        (self.rate_per_s + end) / 2.0 * self.duration.as_secs_f64()
    }

    /// Offset of arrival `k` from the start of the phase, if inside it.
    /// A ramp's rate grows linearly, so arrivals solve
    /// `r0·t + (r1 − r0)·t² / 2T = k`.
    pub fn arrival(&self, k: u64) -> Option<Duration> {
        let (r0, t_len) = (self.rate_per_s, self.duration.as_secs_f64());
        let r1 = self.to_per_s.unwrap_or(r0);
        let k = k as f64;
        if r0 <= 0.0 && r1 <= 0.0 {
            return None;
        }
        let t = if (r1 - r0).abs() < 1e-12 {
            k / r0
        } else {
            let a = (r1 - r0) / (2.0 * t_len);
            let disc = r0 * r0 + 4.0 * a * k;
            if disc < 0.0 {
                return None;
            }
            (-r0 + disc.sqrt()) / (2.0 * a)
        };
        // Half-open [0, T): k = rate × T exactly is the next phase's first
        // arrival, whatever the rounding of k / rate.
        (t.is_finite() && t >= 0.0 && t + 1e-9 * t_len.max(1.0) < t_len)
            .then(|| Duration::from_secs_f64(t))
    }
}

#[derive(Clone, Debug)]
pub struct Load {
    pub model: Model,
    /// Phones taking part (the most any phase uses).
    pub phones: u32,
    pub phases: Vec<Phase>,
    /// At most this many cycles, when set.
    pub max_cycles: Option<u64>,
    pub hold: Duration,
    /// Closed model: a phone's pause between cycles.
    pub think: Duration,
    pub query: bool,
    pub request_timeout: Duration,
    /// How long a phone waits for a restart or reset.
    pub control_timeout: Duration,
    /// Logged-in phones wait for the start of this phase (an index into
    /// `phases`) to log out: every logout due at once, a logout storm.
    pub logout_at: Option<usize>,
    /// Schedule compression: 60 plays an hour in a minute (rates ×60,
    /// durations, hold and think ÷60). Already applied to the fields above.
    pub time_scale: f64,
    /// Closed model, EM API path, no hold: a phone writes its login,
    /// query and logout back to back on its connection (HTTP/1.1
    /// pipelining, as wrk's pipeline script does) and then checks each
    /// answer in order. Measures a server's throughput with half its reads;
    /// no real phone does this.
    pub pipeline: bool,
}

impl Load {
    /// A one-phase open load (tests and `--rate`).
    pub fn open(phones: u32, rate_per_s: f64, duration: Duration) -> Load {
        Load {
            model: Model::Open,
            phones,
            phases: vec![Phase {
                name: "steady".into(),
                duration,
                rate_per_s,
                to_per_s: None,
                phones,
                troubleshooting: None,
            }],
            max_cycles: None,
            hold: Duration::ZERO,
            think: Duration::ZERO,
            query: true,
            request_timeout: Duration::from_secs(10),
            control_timeout: Duration::from_secs(5),
            logout_at: None,
            time_scale: 1.0,
            pipeline: false,
        }
    }

    /// When phase `i` starts, from the start of the schedule.
    pub fn phase_start(&self, i: usize) -> Duration {
        self.phases[..i.min(self.phases.len())]
            .iter()
            .map(|p| p.duration)
            .sum()
    }

    /// A one-phase open load of exactly `cycles` cycles.
    pub fn open_cycles(phones: u32, rate_per_s: f64, cycles: u64) -> Load {
        let mut l = Load::open(
            phones,
            rate_per_s,
            Duration::from_secs_f64(cycles as f64 / rate_per_s + 1.0),
        );
        l.max_cycles = Some(cycles);
        l
    }

    pub fn duration(&self) -> Duration {
        self.phases.iter().map(|p| p.duration).sum()
    }

    /// Sets one constant rate over the whole run (`--rate`).
    pub fn set_rate(&mut self, rate_per_s: f64) {
        for p in &mut self.phases {
            p.rate_per_s = rate_per_s;
            p.to_per_s = None;
        }
    }

    /// Whether any phase has the server play a troubleshooting cause (it
    /// then needs lab control).
    pub fn rehearses(&self) -> bool {
        self.phases.iter().any(|p| p.troubleshooting.is_some())
    }

    /// The first phase's rate, for summaries.
    pub fn rate_per_s(&self) -> f64 {
        self.phases.first().map_or(0.0, |p| p.rate_per_s)
    }
}

#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file's text, kept in shard reports so `emlab merge` reads the
    /// same scenario every shard ran.
    pub source: String,
    pub name: String,
    pub description: String,
    /// The lab file, resolved against the scenario's folder.
    pub lab: Option<PathBuf>,
    pub app_id: Option<String>,
    pub app_certificate: Option<String>,
    pub path: PathKind,
    /// A SIPp-style users file, resolved against the scenario's folder.
    pub users: Option<PathBuf>,
    pub load: Load,
    pub expect_login: Expected,
    pub expect_logout: Expected,
    pub thresholds: Vec<Threshold>,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ConfigError> {
        let source = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path, format!("cannot read file: {e}")))?;
        Scenario::parse(path, &source)
    }

    /// A scenario from its TOML text; `path` names it in errors and
    /// anchors the relative paths it holds.
    pub fn parse(path: &Path, source: &str) -> Result<Scenario, ConfigError> {
        let file: ScenarioFile = parse_toml(path, source)?;
        let err = |key: &str, value: &str, msg: String| {
            ConfigError::at_key(path, source, key, value, msg)
        };
        let h = file.scenario;
        if h.name.is_empty()
            || !h
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(err(
                "name",
                &h.name,
                "use letters, digits, `-` and `_` (it names the report folder)".into(),
            ));
        }
        let path_kind = match h.path.as_deref() {
            None | Some("em-api") => PathKind::EmApi,
            Some("phone") => PathKind::Phone,
            Some(other) => {
                return Err(err(
                    "path",
                    other,
                    format!("`{other}`: use \"em-api\" or \"phone\""),
                ));
            }
        };
        let l = file.load;
        if l.phones == 0 {
            return Err(err("phones", "0", "must be at least 1".into()));
        }
        let model = match l.model.as_deref() {
            None | Some("open") => Model::Open,
            Some("closed") => Model::Closed,
            Some(other) => {
                return Err(err(
                    "model",
                    other,
                    format!("`{other}`: use \"open\" or \"closed\""),
                ));
            }
        };
        let time_scale = l.time_scale.unwrap_or(1.0);
        if !(time_scale.is_finite() && (0.001..=1_000_000.0).contains(&time_scale)) {
            return Err(err(
                "time_scale",
                "",
                "must be a number from 0.001 to 1000000".into(),
            ));
        }
        let dur =
            |key: &str, v: &Option<String>, default: Duration| -> Result<Duration, ConfigError> {
                match v {
                    Some(d) => parse_duration(d).map_err(|e| err(key, d, e)),
                    None => Ok(default),
                }
            };
        let rate = |key: &str, v: &RateValue| v.per_s().map_err(|e| err(key, &v.text(), e));
        let mut phases = Vec::new();
        if l.phase.is_empty() {
            let rate_per_s = match (&l.rate, model) {
                (Some(r), _) => rate("rate", r)?,
                (None, Model::Closed) => 0.0,
                (None, Model::Open) => {
                    return Err(ConfigError::new(
                        path,
                        "[load] needs `rate` (or [[load.phase]] entries)",
                    ));
                }
            };
            let duration = match (&l.duration, l.cycles) {
                (Some(d), None) => parse_duration(d).map_err(|e| err("duration", d, e))?,
                (None, Some(0)) => return Err(err("cycles", "0", "must be at least 1".into())),
                // Room for every cycle: the cap ends the run.
                (None, Some(n)) if model == Model::Open => {
                    Duration::from_secs_f64(n as f64 / rate_per_s + 1.0)
                }
                (None, Some(_)) => Duration::from_secs(86_400),
                _ => {
                    return Err(ConfigError::new(
                        path,
                        "[load] needs exactly one of `duration` and `cycles`",
                    ));
                }
            };
            phases.push(Phase {
                name: "steady".into(),
                duration,
                rate_per_s,
                to_per_s: None,
                phones: l.phones,
                troubleshooting: None,
            });
        } else {
            if l.rate.is_some() || l.duration.is_some() {
                return Err(ConfigError::new(
                    path,
                    "[load]: give `rate`/`duration` or [[load.phase]] entries, not both",
                ));
            }
            for p in &l.phase {
                let duration =
                    parse_duration(&p.duration).map_err(|e| err("duration", &p.duration, e))?;
                if p.name.is_empty()
                    || p.name.contains(':')
                    || phases.iter().any(|q: &Phase| q.name == p.name)
                {
                    return Err(err(
                        "name",
                        &p.name,
                        "phase names must be unique, non-empty and without `:`".into(),
                    ));
                }
                let (rate_per_s, to_per_s, phones) = match model {
                    Model::Open => {
                        // No rate: a pause (no arrivals), e.g. before a logout storm.
                        let r = p.rate.as_ref().map(|r| rate("rate", r)).transpose()?;
                        let to = p.to.as_ref().map(|t| rate("to", t)).transpose()?;
                        if r.is_none() && to.is_some() {
                            return Err(err(
                                "to",
                                "",
                                format!("phase `{}`: `to` needs `rate`", p.name),
                            ));
                        }
                        (r.unwrap_or(0.0), to, l.phones)
                    }
                    Model::Closed => {
                        let n = p.phones.unwrap_or(l.phones);
                        if n > l.phones {
                            return Err(err(
                                "phones",
                                &n.to_string(),
                                format!(
                                    "phase `{}` uses {n} phones but [load] has {}",
                                    p.name, l.phones
                                ),
                            ));
                        }
                        (0.0, None, n)
                    }
                };
                let troubleshooting = match &p.troubleshooting {
                    None => None,
                    Some(name) => Some(Cause::from_name(name).ok_or_else(|| {
                        let known: Vec<&str> = Cause::ALL.into_iter().map(Cause::name).collect();
                        err(
                            "troubleshooting",
                            name,
                            format!("`{name}` is no cause; known: {}", known.join(", ")),
                        )
                    })?),
                };
                phases.push(Phase {
                    name: p.name.clone(),
                    duration,
                    rate_per_s,
                    to_per_s,
                    phones,
                    troubleshooting,
                });
            }
        }
        for p in &mut phases {
            p.duration = p.duration.div_f64(time_scale);
            p.rate_per_s *= time_scale;
            p.to_per_s = p.to_per_s.map(|r| r * time_scale);
        }
        let logout_at = match &l.logout_at {
            None => None,
            Some(name) => Some(
                phases
                    .iter()
                    .position(|p| &p.name == name)
                    .ok_or_else(|| err("logout_at", name, format!("no phase named `{name}`")))?,
            ),
        };
        if l.cycles == Some(0) {
            return Err(err("cycles", "0", "must be at least 1".into()));
        }
        let hold = dur("hold", &l.hold, Duration::ZERO)?.div_f64(time_scale);
        if l.pipeline {
            let why = if model != Model::Closed {
                Some("needs `model = \"closed\"`: an open model's arrivals do not wait for answers")
            } else if path_kind != PathKind::EmApi {
                Some("needs the EM API path: a phone cannot pipeline its restart")
            } else if !hold.is_zero() || logout_at.is_some() {
                Some("sends the logout with the login, so it cannot hold (`hold`, `logout_at`)")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(err("pipeline", "true", format!("`pipeline = true` {why}")));
            }
        }
        fn one(v: &ExpectValue) -> Result<Expected, String> {
            match v {
                ExpectValue::Code(c) => Ok(Expected::Code(*c)),
                ExpectValue::Text(t) if t == "success" => Ok(Expected::Success),
                ExpectValue::Text(t) => Err(format!(
                    "`{t}`: use \"success\", an error code number, or a list of them"
                )),
                ExpectValue::AnyOf(all) if !all.is_empty() => all
                    .iter()
                    .map(one)
                    .collect::<Result<_, _>>()
                    .map(Expected::AnyOf),
                ExpectValue::AnyOf(_) => Err("an empty list expects nothing".into()),
            }
        }
        let expect = |key: &str, v: &Option<ExpectValue>| -> Result<Expected, ConfigError> {
            match v {
                None => Ok(Expected::Success),
                Some(v) => one(v).map_err(|e| err(key, "", e)),
            }
        };
        let thresholds = file
            .thresholds
            .rules
            .iter()
            .map(|r| {
                let t = r.parse::<Threshold>().map_err(|e| err("rules", r, e))?;
                match &t.phase {
                    Some(name) if !phases.iter().any(|p| &p.name == name) => Err(err(
                        "rules",
                        r,
                        format!("threshold `{r}`: no phase named `{name}`"),
                    )),
                    _ => Ok(t),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Ok(Scenario {
            source: source.to_string(),
            name: h.name,
            description: h.description,
            lab: h.lab.map(|l| dir.join(l)),
            app_id: h.app_id,
            app_certificate: h.app_certificate,
            path: path_kind,
            users: h.users.map(|u| dir.join(u)),
            load: Load {
                model,
                phones: l.phones,
                phases,
                max_cycles: l.cycles,
                hold,
                think: dur("think", &l.think, Duration::ZERO)?.div_f64(time_scale),
                query: l.query,
                request_timeout: dur(
                    "request_timeout",
                    &l.request_timeout,
                    Duration::from_secs(10),
                )?,
                control_timeout: dur(
                    "control_timeout",
                    &l.control_timeout,
                    Duration::from_secs(5),
                )?,
                logout_at,
                time_scale,
                pipeline: l.pipeline,
            },
            expect_login: expect("login", &file.expect.login)?,
            expect_logout: expect("logout", &file.expect.logout)?,
            thresholds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ramp_spreads_its_arrivals_as_its_rate_grows() {
        let ramp = Phase {
            name: "ramp".into(),
            duration: Duration::from_secs(10),
            rate_per_s: 10.0,
            to_per_s: Some(30.0),
            phones: 1,
            troubleshooting: None,
        };
        // (10 + 30) / 2 × 10 s = 200 arrivals.
        let n = (0..).take_while(|&k| ramp.arrival(k).is_some()).count();
        assert_eq!(n, 200);
        assert_eq!(ramp.arrivals(), 200.0);
        // Early gaps are about 1/10 s, late ones about 1/30 s.
        let gap = |k| (ramp.arrival(k + 1).unwrap() - ramp.arrival(k).unwrap()).as_secs_f64();
        assert!((gap(0) - 0.1).abs() < 0.01, "{}", gap(0));
        assert!((gap(198) - 1.0 / 30.0).abs() < 0.005, "{}", gap(198));
    }
}
