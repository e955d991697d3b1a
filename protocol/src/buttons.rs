//! Where a profile's entries land on a phone's buttons (BTN-1..5).
//!
//! A profile lists directory numbers, speed dials, feature buttons and
//! services; the phone has a fixed number of buttons (its own plus its
//! add-on modules'). The rule, from the CME and CallManager guides:
//! - `cme` orders lines by type: normal, silent-ring, beep-ring,
//!   feature-ring, monitor-ring, overlay, cw-overlay (BTN-1); other
//!   profiles keep the profile's order;
//! - the first line appearance cannot be a monitored number (BTN-3);
//! - SIP phones take only normal lines and a short list of features (BTN-4);
//! - lines, then speed dials by tag, then features, then services; whatever
//!   does not fit the buttons is dropped (BTN-2, BTN-5).
//!
//! It lives here because both sides need it: the server to write the
//! configuration file, a virtual phone to check it.

use crate::error_code::ServerProfile;
use crate::lab::{Line, LineType, SpeedDial};
use crate::phone_model::{ControlProtocol, PhoneModel};

/// The features a SIP phone keeps from a profile (BTN-4).
pub const SIP_FEATURES: &[&str] = &[
    "Cfdall",
    "Confrm",
    "DnD",
    "Endcall",
    "Hold",
    "NewCall",
    "Group Pickup",
    "Park",
    "Privacy",
    "Redial",
    "Trnsfer",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ButtonKind {
    Line,
    SpeedDial,
    Feature,
    Service,
}

impl ButtonKind {
    /// The `kind` attribute in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            ButtonKind::Line => "line",
            ButtonKind::SpeedDial => "speedDial",
            ButtonKind::Feature => "feature",
            ButtonKind::Service => "service",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Button {
    pub kind: ButtonKind,
    /// Line type (lines only), e.g. `normal`, `monitor-ring`.
    pub line_type: Option<LineType>,
    pub number: String,
    pub label: String,
}

/// What a profile puts on buttons.
pub struct ButtonEntries<'a> {
    pub lines: &'a [Line],
    pub speed_dials: &'a [SpeedDial],
    pub features: &'a [String],
    pub services: &'a [String],
}

impl LineType {
    /// The name used in lab files and configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            LineType::Normal => "normal",
            LineType::SilentRing => "silent-ring",
            LineType::BeepRing => "beep-ring",
            LineType::FeatureRing => "feature-ring",
            LineType::MonitorRing => "monitor-ring",
            LineType::Overlay => "overlay",
            LineType::CwOverlay => "cw-overlay",
        }
    }
}

/// The buttons of `model` with `modules` add-on modules, in phone order.
pub fn layout(
    model: &PhoneModel,
    modules: usize,
    profile: ServerProfile,
    entries: &ButtonEntries<'_>,
) -> Vec<Button> {
    let sip = model.protocol == ControlProtocol::Sip;
    let mut lines: Vec<&Line> = entries
        .lines
        .iter()
        .filter(|l| !sip || l.line_type == LineType::Normal)
        .collect();
    if profile == ServerProfile::Cme {
        lines.sort_by_key(|l| l.line_type); // stable: same-type lines keep their order
    }
    if let Some(pos) = lines
        .iter()
        .position(|l| l.line_type != LineType::MonitorRing)
    {
        // BTN-3: monitored numbers ahead of the first real line cannot take button 1.
        lines.drain(..pos);
    } else {
        lines.clear();
    }
    let mut speed_dials: Vec<&SpeedDial> = entries.speed_dials.iter().collect();
    speed_dials.sort_by_key(|s| s.tag);
    let features = entries
        .features
        .iter()
        .filter(|f| !sip || SIP_FEATURES.contains(&f.as_str()));

    let buttons = lines
        .into_iter()
        .map(|l| Button {
            kind: ButtonKind::Line,
            line_type: Some(l.line_type),
            number: l.number.clone(),
            label: String::new(),
        })
        .chain(speed_dials.into_iter().map(|s| Button {
            kind: ButtonKind::SpeedDial,
            line_type: None,
            number: s.number.clone(),
            label: s.label.clone(),
        }))
        .chain(features.map(|f| Button {
            kind: ButtonKind::Feature,
            line_type: None,
            number: String::new(),
            label: f.clone(),
        }))
        .chain(entries.services.iter().map(|s| Button {
            kind: ButtonKind::Service,
            line_type: None,
            number: String::new(),
            label: s.clone(),
        }));
    buttons.take(model.total_buttons(modules)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone_model::find;

    fn line(n: &str, t: LineType) -> Line {
        Line {
            number: n.into(),
            line_type: t,
        }
    }

    #[test]
    fn btn_2_eight_lines_on_a_7960_give_six_lines_and_no_speed_dial() {
        let lines: Vec<Line> = (1..=8)
            .map(|i| line(&format!("300{i}"), LineType::Normal))
            .collect();
        let sd = [SpeedDial {
            tag: 1,
            number: "9".into(),
            label: "x".into(),
        }];
        let e = ButtonEntries {
            lines: &lines,
            speed_dials: &sd,
            features: &[],
            services: &[],
        };
        let b = layout(find("7960").unwrap(), 0, ServerProfile::Cme, &e);
        assert_eq!(b.len(), 6);
        assert!(b.iter().all(|b| b.kind == ButtonKind::Line));
        // With a 7914 everything fits.
        assert_eq!(
            layout(find("7960").unwrap(), 1, ServerProfile::Cme, &e).len(),
            9
        );
    }

    #[test]
    fn btn_3_no_monitored_first_line_under_any_order() {
        let lines = [
            line("1", LineType::MonitorRing),
            line("2", LineType::Overlay),
            line("3", LineType::SilentRing),
            line("4", LineType::Normal),
        ];
        let e = ButtonEntries {
            lines: &lines,
            speed_dials: &[],
            features: &[],
            services: &[],
        };
        let nums: Vec<String> = layout(find("7960").unwrap(), 0, ServerProfile::Cme, &e)
            .into_iter()
            .map(|b| b.number)
            .collect();
        assert_eq!(nums, ["4", "3", "1", "2"]);
        let nums: Vec<String> = layout(find("7960").unwrap(), 0, ServerProfile::Ucm, &e)
            .into_iter()
            .map(|b| b.number)
            .collect();
        assert_eq!(
            nums,
            ["2", "3", "4"],
            "ucm keeps profile order but drops the leading monitored line"
        );
    }

    #[test]
    fn btn_4_sip_phones_keep_normal_lines_and_listed_features() {
        let lines = [line("1", LineType::Normal), line("2", LineType::Overlay)];
        let features = ["Hold".to_string(), "Intercom".to_string()];
        let e = ButtonEntries {
            lines: &lines,
            speed_dials: &[],
            features: &features,
            services: &[],
        };
        let b = layout(find("8851").unwrap(), 0, ServerProfile::Cme, &e);
        let labels: Vec<(&str, &str)> = b
            .iter()
            .map(|b| {
                (
                    b.kind.as_str(),
                    if b.number.is_empty() {
                        b.label.as_str()
                    } else {
                        b.number.as_str()
                    },
                )
            })
            .collect();
        assert_eq!(labels, [("line", "1"), ("feature", "Hold")]);
    }
}
