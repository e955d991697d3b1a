//! Scenario files: what a run does, as plain TOML.
//!
//! ```toml
//! [scenario]
//! name = "quickstart"
//! lab = "lab.toml"            # the lab file, relative to this file
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

use crate::thresholds::Threshold;
use crate::units::{parse_duration, parse_rate};
use emlab_protocol::ConfigError;
use emlab_protocol::config_error::read_toml;
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadFile {
    phones: u32,
    rate: RateValue,
    duration: Option<String>,
    cycles: Option<u64>,
    #[serde(default)]
    hold: Option<String>,
    #[serde(default = "yes")]
    query: bool,
    #[serde(default)]
    request_timeout: Option<String>,
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
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ThresholdsFile {
    #[serde(default)]
    rules: Vec<String>,
}

/// What a step is expected to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    Success,
    Code(u16),
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expected::Success => write!(f, "success"),
            Expected::Code(c) => write!(f, "{c}"),
        }
    }
}

/// How long a run lasts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Length {
    Duration(Duration),
    Cycles(u64),
}

#[derive(Clone, Debug)]
pub struct Load {
    pub phones: u32,
    /// Cycles started per second.
    pub rate_per_s: f64,
    pub length: Length,
    pub hold: Duration,
    pub query: bool,
    pub request_timeout: Duration,
}

impl Load {
    /// The number of cycles the run starts.
    pub fn cycles(&self) -> u64 {
        match self.length {
            Length::Cycles(n) => n,
            Length::Duration(d) => (d.as_secs_f64() * self.rate_per_s).floor().max(1.0) as u64,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// The lab file, resolved against the scenario's folder.
    pub lab: Option<PathBuf>,
    pub app_id: Option<String>,
    pub app_certificate: Option<String>,
    pub load: Load,
    pub expect_login: Expected,
    pub expect_logout: Expected,
    pub thresholds: Vec<Threshold>,
}

impl Scenario {
    pub fn load(path: &Path) -> Result<Scenario, ConfigError> {
        let (file, source): (ScenarioFile, String) = read_toml(path)?;
        let err = |key: &str, value: &str, msg: String| {
            ConfigError::at_key(path, &source, key, value, msg)
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
        let l = file.load;
        if l.phones == 0 {
            return Err(err("phones", "0", "must be at least 1".into()));
        }
        let rate_per_s = match &l.rate {
            RateValue::Number(n) => parse_rate(&n.to_string()),
            RateValue::Text(t) => parse_rate(t),
        }
        .map_err(|e| err("rate", "", e))?;
        let length = match (&l.duration, l.cycles) {
            (Some(d), None) => {
                Length::Duration(parse_duration(d).map_err(|e| err("duration", d, e))?)
            }
            (None, Some(0)) => return Err(err("cycles", "0", "must be at least 1".into())),
            (None, Some(n)) => Length::Cycles(n),
            _ => {
                return Err(ConfigError::new(
                    path,
                    "[load] needs exactly one of `duration` and `cycles`",
                ));
            }
        };
        let hold = match &l.hold {
            Some(h) => parse_duration(h).map_err(|e| err("hold", h, e))?,
            None => Duration::ZERO,
        };
        let request_timeout = match &l.request_timeout {
            Some(t) => parse_duration(t).map_err(|e| err("request_timeout", t, e))?,
            None => Duration::from_secs(10),
        };
        let expect = |key: &str, v: &Option<ExpectValue>| -> Result<Expected, ConfigError> {
            match v {
                None => Ok(Expected::Success),
                Some(ExpectValue::Code(c)) => Ok(Expected::Code(*c)),
                Some(ExpectValue::Text(t)) if t == "success" => Ok(Expected::Success),
                Some(ExpectValue::Text(t)) => Err(err(
                    key,
                    t,
                    format!("`{t}`: use \"success\" or an error code number"),
                )),
            }
        };
        let thresholds = file
            .thresholds
            .rules
            .iter()
            .map(|r| r.parse::<Threshold>().map_err(|e| err("rules", r, e)))
            .collect::<Result<Vec<_>, _>>()?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Ok(Scenario {
            name: h.name,
            description: h.description,
            lab: h.lab.map(|l| dir.join(l)),
            app_id: h.app_id,
            app_certificate: h.app_certificate,
            load: Load {
                phones: l.phones,
                rate_per_s,
                length,
                hold,
                query: l.query,
                request_timeout,
            },
            expect_login: expect("login", &file.expect.login)?,
            expect_logout: expect("logout", &file.expect.logout)?,
            thresholds,
        })
    }
}
