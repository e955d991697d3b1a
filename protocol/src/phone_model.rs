//! The phone models emlab simulates, with what EM needs to know of each:
//! how many line buttons the phone has, which add-on modules it takes, and
//! which control protocol it speaks (PROTOCOL.md §5).
//!
//! Sources: Wireshark's skinny dissector and chan-sccp for the skinny
//! device types; Cisco data sheets for button counts (the 88xx figures are the
//! default line mode: five line keys, session keys not used as lines).

/// The control channel a phone registers on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControlProtocol {
    /// Skinny over TCP 2000: 7960, 7940, 7905, 7970, 7911.
    Sccp,
    /// SIP over UDP 5060: the 8800 series.
    Sip,
}

/// A kind of add-on (key expansion) module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddOnModule {
    /// The name used in lab files: `modules = ["7914"]`.
    pub name: &'static str,
    /// Buttons it adds.
    pub buttons: u8,
    /// Skinny device type, for SCCP modules.
    pub skinny_device_type: Option<u32>,
}

/// The Cisco 7914 14-button expansion module (7960 and 7970; BTN-5).
pub const MODULE_7914: AddOnModule = AddOnModule {
    name: "7914",
    buttons: 14,
    skinny_device_type: Some(124),
};

/// The 8800 key expansion module: 18 keys on each of two pages.
pub const MODULE_8800_KEM: AddOnModule = AddOnModule {
    name: "KEM",
    buttons: 36,
    skinny_device_type: None,
};

/// One phone model of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PhoneModel {
    /// The name used in lab and scenario files (`"7960"`).
    pub name: &'static str,
    /// What the phone sends in `x-CiscoIPPhoneModelName`.
    pub product_name: &'static str,
    /// Line/feature buttons on the phone itself.
    pub line_buttons: u8,
    pub protocol: ControlProtocol,
    /// Skinny `deviceType` in RegisterMessage (SCCP models only).
    pub skinny_device_type: Option<u32>,
    /// The module kind this model takes, if any.
    pub add_on: Option<AddOnModule>,
    /// How many of those modules it takes at most.
    pub max_add_ons: u8,
}

impl PhoneModel {
    /// Buttons with `modules` add-on modules attached.
    pub fn total_buttons(&self, modules: usize) -> usize {
        let per_module = self.add_on.map_or(0, |m| m.buttons as usize);
        self.line_buttons as usize + per_module * modules.min(self.max_add_ons as usize)
    }

    /// Whether `module` (a lab-file module name) fits this model.
    pub fn accepts_module(&self, module: &str) -> bool {
        self.add_on.is_some_and(|m| m.name == module)
    }
}

const fn sccp(name: &'static str, product: &'static str, lines: u8, ty: u32) -> PhoneModel {
    PhoneModel {
        name,
        product_name: product,
        line_buttons: lines,
        protocol: ControlProtocol::Sccp,
        skinny_device_type: Some(ty),
        add_on: None,
        max_add_ons: 0,
    }
}

const fn sip(name: &'static str, product: &'static str, kems: u8) -> PhoneModel {
    PhoneModel {
        name,
        product_name: product,
        line_buttons: 5,
        protocol: ControlProtocol::Sip,
        skinny_device_type: None,
        add_on: if kems > 0 {
            Some(MODULE_8800_KEM)
        } else {
            None
        },
        max_add_ons: kems,
    }
}

/// Every model emlab knows.
pub const CATALOGUE: &[PhoneModel] = &[
    PhoneModel {
        add_on: Some(MODULE_7914),
        max_add_ons: 2,
        ..sccp("7960", "CP-7960G", 6, 7)
    },
    sccp("7940", "CP-7940G", 2, 8),
    sccp("7905", "CP-7905G", 1, 20000),
    // The models of seed E's ephone examples: a 7970 takes a whole
    // 8-button profile, a 7911 one line.
    PhoneModel {
        add_on: Some(MODULE_7914),
        max_add_ons: 2,
        ..sccp("7970", "CP-7970G", 8, 30006)
    },
    sccp("7911", "CP-7911G", 1, 307),
    sip("8811", "CP-8811", 0),
    sip("8841", "CP-8841", 0),
    sip("8845", "CP-8845", 0),
    sip("8851", "CP-8851", 2),
    sip("8861", "CP-8861", 3),
    sip("8865", "CP-8865", 3),
];

/// Looks a model up by its lab-file name.
pub fn find(name: &str) -> Option<&'static PhoneModel> {
    CATALOGUE.iter().find(|m| m.name == name)
}

/// Names of all models, for error messages.
pub fn names() -> Vec<&'static str> {
    CATALOGUE.iter().map(|m| m.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_7960_with_two_7914s_has_34_buttons() {
        let m = find("7960").unwrap();
        assert_eq!(m.total_buttons(2), 6 + 28);
        assert!(m.accepts_module("7914"));
        assert!(!find("7905").unwrap().accepts_module("7914"));
        assert_eq!(find("7905").unwrap().skinny_device_type, Some(20000));
        assert_eq!(find("8851").unwrap().protocol, ControlProtocol::Sip);
    }

    #[test]
    fn seed_e_models_have_their_buttons() {
        assert_eq!(find("7970").unwrap().total_buttons(0), 8);
        assert_eq!(find("7911").unwrap().total_buttons(0), 1);
        assert_eq!(find("7911").unwrap().protocol, ControlProtocol::Sccp);
    }
}
