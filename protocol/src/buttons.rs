//! Where a profile's entries land on a phone's buttons (BTN-1..5).
//!
//! A profile lists directory numbers, speed dials, feature buttons and
//! services; the phone has a fixed number of buttons (its own plus its
//! add-on modules'). The rule, from the CME and CallManager guides:
//! - `cme` orders lines by type: normal, silent-ring, beep-ring,
//!   feature-ring, monitor-ring, overlay, cw-overlay (BTN-1); other
//!   profiles keep the profile's order;
//! - `cme`: the first line appearance cannot be a monitored number; a
//!   profile that would put one first is a configuration error (BTN-3,
//!   [`monitored_first_line`]);
//! - `cme`: SIP phones take only normal lines and a short list of
//!   features, matched case-insensitively (BTN-4); other profiles do not
//!   filter;
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
    /// The device the buttons are on: an intercom line shows only on its
    /// default device (PROF-10). `None`: on every device.
    pub device: Option<&'a str>,
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

/// PROF-10: an intercom line is presented only on its default device; one
/// without a default device takes the current device as its default.
pub fn presented_on(line: &Line, device: Option<&str>) -> bool {
    match (line.intercom, &line.default_device, device) {
        (true, Some(default), Some(device)) => default == device,
        _ => true,
    }
}

/// BTN-3 (`cme`): the monitored number a profile's lines would put on the
/// first line appearance, once ordered by type; `None` when the first is a
/// real line (or there are no lines).
pub fn monitored_first_line(lines: &[Line]) -> Option<&str> {
    lines
        .iter()
        .min_by_key(|l| l.line_type)
        .filter(|l| l.line_type == LineType::MonitorRing)
        .map(|l| l.number.as_str())
}

/// The buttons of `model` with `modules` add-on modules, in phone order.
pub fn layout(
    model: &PhoneModel,
    modules: usize,
    profile: ServerProfile,
    entries: &ButtonEntries<'_>,
) -> Vec<Button> {
    let cme = profile == ServerProfile::Cme;
    // BTN-4 is a CME rule: under CallManager a SIP phone shows the profile as is.
    let sip_filter = cme && model.protocol == ControlProtocol::Sip;
    let mut lines: Vec<&Line> = entries
        .lines
        .iter()
        .filter(|l| !sip_filter || l.line_type == LineType::Normal)
        .filter(|l| presented_on(l, entries.device))
        .collect();
    if cme {
        // Stable: same-type lines keep their order. A monitored number
        // cannot come first: the lab is refused at load (BTN-3).
        lines.sort_by_key(|l| l.line_type);
    }
    let mut speed_dials: Vec<&SpeedDial> = entries.speed_dials.iter().collect();
    speed_dials.sort_by_key(|s| s.tag);
    let features = entries
        .features
        .iter()
        .filter(|f| !sip_filter || SIP_FEATURES.iter().any(|k| k.eq_ignore_ascii_case(f)));

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

    /// PROF-10: the intercom line shows on its default device only.
    #[test]
    fn prof_10_an_intercom_line_shows_only_on_its_default_device() {
        let mut intercom = line("7001", LineType::Normal);
        intercom.intercom = true;
        intercom.default_device = Some("SEP000000000002".into());
        let mut roaming = line("7002", LineType::Normal);
        roaming.intercom = true;
        let lines = [line("7000", LineType::Normal), intercom, roaming];
        let on = |device: &str| -> Vec<String> {
            let e = ButtonEntries {
                device: Some(device),
                lines: &lines,
                speed_dials: &[],
                features: &[],
                services: &[],
            };
            layout(find("7960").unwrap(), 0, ServerProfile::Ucm, &e)
                .into_iter()
                .map(|b| b.number)
                .collect()
        };
        assert_eq!(on("SEP000000000002"), ["7000", "7001", "7002"]);
        assert_eq!(on("SEP000000000001"), ["7000", "7002"]);
    }

    fn line(n: &str, t: LineType) -> Line {
        Line::new(n, t)
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
            device: None,
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

    /// BTN-1/BTN-3: cme orders by type, so a monitored number listed first
    /// moves behind the real lines; ucm keeps the profile's order and its
    /// monitored first line (the rule is CME's).
    #[test]
    fn btn_3_cme_orders_by_type_and_ucm_keeps_a_monitored_first_line() {
        let lines = [
            line("1", LineType::MonitorRing),
            line("2", LineType::Overlay),
            line("3", LineType::SilentRing),
            line("4", LineType::Normal),
        ];
        let e = ButtonEntries {
            device: None,
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
        assert_eq!(nums, ["1", "2", "3", "4"], "ucm keeps the profile's order");
        assert_eq!(monitored_first_line(&lines), None);
    }

    /// BTN-3: only monitored and overlay lines put a monitored number first.
    #[test]
    fn btn_3_a_profile_of_monitored_and_overlay_lines_starts_monitored() {
        let lines = [
            line("2", LineType::Overlay),
            line("1", LineType::MonitorRing),
        ];
        assert_eq!(monitored_first_line(&lines), Some("1"));
        assert_eq!(monitored_first_line(&[]), None);
    }

    /// BTN-4: under cme a SIP phone keeps normal lines and the listed
    /// features, names matched case-insensitively; ucm shows the profile.
    #[test]
    fn btn_4_sip_phones_keep_normal_lines_and_listed_features() {
        let lines = [line("1", LineType::Normal), line("2", LineType::Overlay)];
        let features = ["hold".to_string(), "Intercom".to_string()];
        let e = ButtonEntries {
            device: None,
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
        assert_eq!(labels, [("line", "1"), ("feature", "hold")]);
        assert_eq!(
            layout(find("8851").unwrap(), 0, ServerProfile::Ucm, &e).len(),
            4,
            "ucm shows the profile as it is"
        );
    }
}
