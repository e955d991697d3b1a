//! The phones as the dashboard draws them: per phone, what its screen
//! last showed, the line keys of the configuration it loaded, its user,
//! locale and state, its last restart or reset, and its recent steps.
//!
//! Phones write their own tile (one lock each, never shared), and only
//! when something changes; the dashboard reads a sample of tiles twice a
//! second. With 10,000 phones the board costs a few hundred bytes a phone.

use crate::phone::PhoneState;
use crate::recorder::Step;
use emlab_protocol::config_file::DeviceConfig;
use emlab_protocol::phone_model::PhoneModel;
use emlab_protocol::phone_xml::PhoneObject;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Steps kept per phone for its history panel.
const HISTORY: usize = 12;

/// A Cisco IP Phone screen, as the phone displayed it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Screen {
    pub title: String,
    pub prompt: String,
    pub text: String,
    pub keys: Vec<String>,
}

impl Screen {
    pub fn of(object: &PhoneObject) -> Screen {
        match object {
            PhoneObject::Text(t) => Screen {
                title: t.title.clone().unwrap_or_default(),
                prompt: t.prompt.clone().unwrap_or_default(),
                text: t.text.clone(),
                keys: t.soft_keys.iter().map(|k| k.name.clone()).collect(),
            },
            PhoneObject::Input(i) => Screen {
                title: i.title.clone().unwrap_or_default(),
                prompt: i.prompt.clone().unwrap_or_default(),
                text: i
                    .items
                    .iter()
                    .map(|item| item.display_name.clone())
                    .collect::<Vec<_>>()
                    .join(" / "),
                keys: vec!["Submit".into()],
            },
            PhoneObject::Menu(m) => Screen {
                title: m.title.clone().unwrap_or_default(),
                prompt: m.prompt.clone().unwrap_or_default(),
                text: m
                    .items
                    .iter()
                    .map(|item| item.name.clone())
                    .collect::<Vec<_>>()
                    .join(" / "),
                keys: vec!["Select".into()],
            },
        }
    }
}

/// One step of a phone's recent history.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryEntry {
    /// Seconds since the board started.
    pub at_s: f64,
    pub step: &'static str,
    pub outcome: String,
    pub latency_us: u64,
}

/// One phone's tile.
#[derive(Clone, Debug, Serialize)]
pub struct Tile {
    pub device: String,
    pub model: &'static str,
    /// Keys on the phone itself, and on each add-on module.
    pub line_keys: u8,
    pub module_keys: u8,
    pub state: &'static str,
    /// Empty when nobody is logged in.
    pub user: String,
    pub locale: String,
    pub screen: Option<Screen>,
    /// Line-key labels, from the configuration's buttons in phone order.
    pub keys: Vec<String>,
    /// Add-on modules attached, from the configuration.
    pub modules: usize,
    /// The last `restart` or `reset`, and a number that grows with each,
    /// so the page flashes each one once.
    pub event: Option<&'static str>,
    pub event_seq: u64,
    #[serde(skip)]
    pub history: VecDeque<HistoryEntry>,
}

pub struct PhoneBoard {
    tiles: Vec<Mutex<Tile>>,
    events: AtomicU64,
    origin: std::time::Instant,
}

impl PhoneBoard {
    /// One tile per `(device, model)`, in fleet order.
    pub fn new(phones: impl IntoIterator<Item = (String, &'static PhoneModel)>) -> PhoneBoard {
        PhoneBoard {
            tiles: phones
                .into_iter()
                .map(|(device, model)| {
                    Mutex::new(Tile {
                        device,
                        model: model.name,
                        line_keys: model.line_buttons,
                        module_keys: model.add_on.map_or(0, |m| m.buttons),
                        state: PhoneState::Off.name(),
                        user: String::new(),
                        locale: String::new(),
                        screen: None,
                        keys: Vec::new(),
                        modules: 0,
                        event: None,
                        event_seq: 0,
                        history: VecDeque::new(),
                    })
                })
                .collect(),
            events: AtomicU64::new(0),
            origin: std::time::Instant::now(),
        }
    }

    pub fn len(&self) -> usize {
        self.tiles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tiles.is_empty()
    }

    fn with(&self, index: u32, f: impl FnOnce(&mut Tile)) {
        if let Some(t) = self.tiles.get(index as usize) {
            f(&mut t.lock().unwrap_or_else(|p| p.into_inner()));
        }
    }

    pub fn state(&self, index: u32, state: PhoneState) {
        self.with(index, |t| t.state = state.name());
    }

    /// A reset reboots the phone: it shows `resetting` until it is back.
    pub fn resetting(&self, index: u32) {
        self.with(index, |t| t.state = "resetting");
    }

    pub fn screen(&self, index: u32, object: &PhoneObject) {
        self.with(index, |t| t.screen = Some(Screen::of(object)));
    }

    /// What the phone runs after loading `config`.
    pub fn config(&self, index: u32, config: &DeviceConfig) {
        self.with(index, |t| {
            t.user = config.login_user_id.clone();
            t.locale = config.user_locale.name.clone();
            t.modules = config.add_on_modules.modules.len();
            t.keys = config
                .buttons
                .buttons
                .iter()
                .map(|b| match b.kind.as_str() {
                    "line" => b.number.clone(),
                    _ if !b.label.is_empty() => b.label.clone(),
                    _ => b.number.clone(),
                })
                .collect();
        });
    }

    /// A restart or a reset the server sent.
    pub fn event(&self, index: u32, what: &'static str) {
        let seq = self.events.fetch_add(1, Ordering::Relaxed) + 1;
        self.with(index, |t| {
            t.event = Some(what);
            t.event_seq = seq;
        });
    }

    pub fn step(&self, index: u32, step: Step, outcome: &str, latency_us: u64) {
        let at_s = self.origin.elapsed().as_secs_f64();
        self.with(index, |t| {
            if t.history.len() == HISTORY {
                t.history.pop_front();
            }
            t.history.push_back(HistoryEntry {
                at_s,
                step: step.name(),
                outcome: outcome.to_string(),
                latency_us,
            });
        });
    }

    /// Up to `max` tiles spread over the fleet (every phone when it fits),
    /// the first ones first so a small fleet shows whole.
    pub fn sample(&self, max: usize) -> Vec<Tile> {
        let n = self.tiles.len();
        let step = n.div_ceil(max.max(1)).max(1);
        (0..n)
            .step_by(step)
            .take(max)
            .map(|i| {
                self.tiles[i]
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone()
            })
            .collect()
    }

    /// The tile and history of `device`.
    pub fn find(&self, device: &str) -> Option<(Tile, Vec<HistoryEntry>)> {
        self.tiles.iter().find_map(|t| {
            let t = t.lock().unwrap_or_else(|p| p.into_inner());
            (t.device == device).then(|| (t.clone(), t.history.iter().cloned().collect()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_spreads_and_history_is_bounded() {
        let model = emlab_protocol::phone_model::find("7960").unwrap();
        let board = PhoneBoard::new((0..1000).map(|i| (format!("SEP{i:012}"), model)));
        let s = board.sample(50);
        assert_eq!(s.len(), 50);
        assert_eq!(s[1].device, format!("SEP{:012}", 20));
        for k in 0..30 {
            board.step(3, Step::Login, "success", k);
        }
        let (_, history) = board.find(&format!("SEP{:012}", 3)).unwrap();
        assert_eq!(history.len(), HISTORY);
        board.event(3, "reset");
        board.event(3, "restart");
        let (tile, _) = board.find(&format!("SEP{:012}", 3)).unwrap();
        assert_eq!((tile.event, tile.event_seq), (Some("restart"), 2));
    }
}
