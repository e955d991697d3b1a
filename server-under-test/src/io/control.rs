//! The control channel's server side: which phones are registered, and how
//! a restart or reset reaches each (an SCCP connection's task, or a SIP
//! NOTIFY). What to send is the core's restart plan
//! ([`crate::core::profile_view::restart_plan`], RST-1..3); commands for a
//! phone that is off-hook wait until it hangs up (LOG-6).

use crate::core::directory::DeviceIdx;
use emlab_protocol::sccp::ResetType;
use emlab_protocol::sip::{self, NotifyAddress, ServiceAction};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::UnboundedSender;

/// How to reach a registered phone.
pub enum Reach {
    /// The SCCP connection's task turns commands into Reset messages.
    Sccp(UnboundedSender<ResetType>),
    /// A SIP phone: commands leave as NOTIFYs from the SIP socket. Plain
    /// data, no task per phone, so 100,000 registrations stay small.
    Sip(SipBinding),
}

/// What a SIP phone's REGISTER told us.
pub struct SipBinding {
    pub peer: SocketAddr,
    pub contact_uri: Box<str>,
    pub register_call_id: Box<str>,
}

struct Registration {
    connection: u64,
    reach: Reach,
}

#[derive(Default)]
struct Hooks {
    off_hook: HashSet<DeviceIdx>,
    /// Commands held back while the phone is off-hook (LOG-6).
    deferred: HashMap<DeviceIdx, Vec<ResetType>>,
}

#[derive(Default)]
pub struct ControlChannel {
    phones: Mutex<HashMap<DeviceIdx, Registration>>,
    hooks: Mutex<Hooks>,
    next_connection: AtomicU64,
    /// The SIP listener's socket and address, once it runs.
    sip: OnceLock<(Arc<UdpSocket>, String)>,
    pub restarts_sent: AtomicU64,
    pub resets_sent: AtomicU64,
}

impl ControlChannel {
    fn phones(&self) -> std::sync::MutexGuard<'_, HashMap<DeviceIdx, Registration>> {
        self.phones.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A number that tells one connection from the next.
    pub fn connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    /// Records `device` as registered on `connection`; a newer registration
    /// of the same device replaces an older one.
    pub fn register(&self, device: DeviceIdx, connection: u64, reach: Reach) {
        self.phones()
            .insert(device, Registration { connection, reach });
    }

    /// Where NOTIFYs leave from (the SIP listener calls this once).
    pub fn set_sip_socket(&self, socket: Arc<UdpSocket>, local: String) {
        let _ = self.sip.set((socket, local));
    }

    /// Forgets `device` if it is still registered on `connection`.
    pub fn unregister(&self, device: DeviceIdx, connection: u64) {
        let mut phones = self.phones();
        if phones
            .get(&device)
            .is_some_and(|r| r.connection == connection)
        {
            phones.remove(&device);
        }
    }

    /// Forgets `device` whatever registered it (SIP `Expires: 0`).
    pub fn remove(&self, device: DeviceIdx) {
        self.phones().remove(&device);
    }

    pub fn is_registered(&self, device: DeviceIdx) -> bool {
        self.phones().contains_key(&device)
    }

    /// Registered phones: (SCCP, SIP).
    pub fn registered_by_protocol(&self) -> (u64, u64) {
        let phones = self.phones();
        let sccp = phones
            .values()
            .filter(|r| matches!(r.reach, Reach::Sccp(_)))
            .count() as u64;
        (sccp, phones.len() as u64 - sccp)
    }

    /// How many of `devices` are registered.
    pub fn registered_among(&self, devices: impl Iterator<Item = DeviceIdx>) -> u64 {
        let phones = self.phones();
        devices.filter(|d| phones.contains_key(d)).count() as u64
    }

    pub fn registered_count(&self) -> usize {
        self.phones().len()
    }

    /// Queues `commands` for a registered phone; an unregistered phone
    /// picks up its configuration when it next registers. A phone that is
    /// off-hook gets them when it goes on-hook (LOG-6), once, as the
    /// strongest plan held back (a reset stays a reset).
    pub fn send(&self, device: DeviceIdx, commands: &[ResetType]) {
        {
            let mut hooks = self.hooks.lock().unwrap_or_else(|p| p.into_inner());
            if hooks.off_hook.contains(&device) {
                let held = hooks.deferred.entry(device).or_default();
                if commands.len() > held.len() {
                    *held = commands.to_vec();
                }
                return;
            }
        }
        self.deliver(device, commands);
    }

    fn deliver(&self, device: DeviceIdx, commands: &[ResetType]) {
        let phones = self.phones();
        let Some(r) = phones.get(&device) else { return };
        for &c in commands {
            let sent = match &r.reach {
                Reach::Sccp(tx) => tx.send(c).is_ok(),
                Reach::Sip(binding) => self.notify(binding, c),
            };
            if sent {
                let counter = if c == ResetType::Reset {
                    &self.resets_sent
                } else {
                    &self.restarts_sent
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Sends one service-control NOTIFY (PROTOCOL.md §5). UDP on loopback:
    /// not retransmitted.
    fn notify(&self, binding: &SipBinding, command: ResetType) -> bool {
        let Some((socket, local)) = self.sip.get() else {
            return false;
        };
        let action = match command {
            ResetType::Restart => ServiceAction::Restart,
            ResetType::Reset => ServiceAction::Reset,
            ResetType::ApplyConfig => ServiceAction::ApplyConfig,
        };
        let id = format!("n{}", self.connection_id());
        let address = NotifyAddress {
            request_uri: &binding.contact_uri,
            server: local,
            call_id: &format!("emlab-{id}@{local}"),
            branch: &id,
            tag: &id,
        };
        let notify = sip::service_control_notify(&address, action, &binding.register_call_id);
        socket
            .try_send_to(notify.to_wire().as_bytes(), binding.peer)
            .is_ok()
    }

    /// The phones that are off-hook now (in a call, for TIME-4).
    pub fn off_hook_devices(&self) -> HashSet<DeviceIdx> {
        self.hooks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .off_hook
            .clone()
    }

    /// The phone reported OffHook (`true`) or OnHook (`false`); on-hook
    /// releases whatever was held back.
    pub fn set_off_hook(&self, device: DeviceIdx, off_hook: bool) {
        let held = {
            let mut hooks = self.hooks.lock().unwrap_or_else(|p| p.into_inner());
            if off_hook {
                hooks.off_hook.insert(device);
                None
            } else {
                hooks.off_hook.remove(&device);
                hooks.deferred.remove(&device)
            }
        };
        if let Some(commands) = held {
            self.deliver(device, &commands);
        }
    }
}
