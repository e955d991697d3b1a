//! The state every io adapter shares: the core's rules ([`Em`]) and what
//! delivers their effects: the control channel (restarts and resets), the
//! call-log push, the counters, and the durable store.

use crate::core::addresses::Source;
use crate::core::directory::DeviceIdx;
use crate::core::effects::{Counter, Effect, Effects};
use crate::core::em::Em;
use crate::core::faults::Fault;
use crate::core::faults::Faults;
use crate::core::operations::{self, LoginOrder};
use crate::core::saved::{Restored, Rows};
use crate::core::sessions::Sessions;
use crate::io::call_log_push::CallLogPush;
use crate::io::control::ControlChannel;
use crate::io::metrics::{Metrics, Operation, PhoneCounts};
use crate::io::store::Store;
use emlab_protocol::ErrorCode;
use emlab_protocol::lab::{Lab, ServiceParameters};
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};
use std::time::Instant;

pub struct Server {
    pub em: Em,
    pub control: ControlChannel,
    pub call_logs: Arc<CallLogPush>,
    pub metrics: Metrics,
    /// The durable store (`--state`); `None`: everything lives in memory.
    store: Option<Store>,
}

impl Server {
    pub fn new(lab: &Lab, faults: Faults) -> Server {
        Server {
            em: Em::new(lab, faults),
            control: ControlChannel::default(),
            call_logs: CallLogPush::new(lab),
            metrics: Metrics::default(),
            store: None,
        }
    }

    /// Does what the core asked, in order.
    pub fn deliver(&self, effects: Effects) {
        for effect in effects {
            match effect {
                Effect::ProfileChanged {
                    device,
                    before,
                    after,
                } => {
                    // A plan is only worth computing for a phone that listens;
                    // one that is not registered reads its file when it is.
                    if self.control.is_registered(device) {
                        self.control
                            .send(device, self.em.restart_plan(device, before, after));
                    }
                }
                Effect::ClearCallLogs { ip, .. } => self.call_logs.push(ip),
                Effect::Count(counter) => {
                    let c = match counter {
                        Counter::Login => &self.metrics.logins,
                        Counter::Logout => &self.metrics.logouts,
                        Counter::AutomaticLogout => &self.metrics.automatic_logouts,
                    };
                    c.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Applies the timers that are due and delivers what they did, for
    /// callers that do not look at the sessions (the sweeper, lab control's
    /// clock).
    pub fn run_due_timers(&self) {
        drop(self.apply_due_timers());
    }

    /// Applies the timers that are due and delivers what they did, then
    /// hands over the session table, locked: no caller sees a login that
    /// should already have ended. Delivering takes no session lock.
    pub fn apply_due_timers(&self) -> MutexGuard<'_, Sessions> {
        let (sessions, effects) = self.em.apply_due_timers();
        self.deliver(effects);
        sessions
    }

    /// A login (EM API or phone service), its effects delivered, timed.
    pub async fn login(&self, order: LoginOrder<'_>) -> Result<(), ErrorCode> {
        let started = Instant::now();
        let mut effects = Effects::default();
        let result = operations::login(&self.em, order, &mut effects).await;
        self.deliver(effects);
        self.metrics.observe(Operation::Login, started.elapsed());
        result
    }

    /// A logout, if `may_act_for` the user logged in there (error 10
    /// otherwise); its effects delivered.
    pub async fn logout(
        &self,
        device_name: &str,
        source: Option<Source>,
        may_act_for: impl FnOnce(&str) -> bool,
    ) -> Result<(), ErrorCode> {
        let started = Instant::now();
        let mut effects = Effects::default();
        let result =
            operations::logout(&self.em, device_name, source, may_act_for, &mut effects).await;
        self.deliver(effects);
        self.metrics.observe(Operation::Logout, started.elapsed());
        result
    }

    /// Logs every device out; returns how many were logged in.
    pub async fn logout_all(&self, source: Option<Source>) -> Result<usize, ErrorCode> {
        let started = Instant::now();
        let mut effects = Effects::default();
        let result = operations::logout_all(&self.em, source, &mut effects).await;
        self.deliver(effects);
        self.metrics
            .observe(Operation::LogoutAll, started.elapsed());
        result
    }

    /// `GET /metrics`: the counters, the phones the control channel holds
    /// and, under `cme`, the CCME MIB's EM phone counts (MET-1).
    pub fn render_metrics(&self) -> String {
        let dir = &self.em.directory;
        let (sccp_registered, sip_registered) = self.control.registered_by_protocol();
        let ccme = (dir.profile == emlab_protocol::ServerProfile::Cme).then(|| {
            let em_phones =
                || (0..dir.device_count() as DeviceIdx).filter(|&d| dir.device(d).em_enabled);
            (
                em_phones().count() as u64,
                self.control.registered_among(em_phones()),
            )
        });
        let phones = PhoneCounts {
            sccp_registered,
            sip_registered,
            ccme,
        };
        let histogram = !self.em.faults.has(Fault::NoOperationHistogram);
        self.metrics
            .render(&self.em.admission, &self.call_logs, &phones, histogram)
    }

    /// The phone went off-hook or on-hook: the control channel holds or
    /// releases its commands (LOG-6), the core its timers (TIME-4/5).
    pub fn hook_changed(&self, device: DeviceIdx, off_hook: bool) {
        self.control.set_off_hook(device, off_hook);
        let effects = self.em.hook_changed(device, off_hook);
        self.deliver(effects);
    }

    /// Resolves the Trusted List of the parameters in force (IP-2); done
    /// once at start.
    pub async fn resolve_trusted_list(&self) {
        let list = self.em.parameters().trusted_ips.clone();
        self.em
            .set_trusted(crate::io::dns::resolve_trusted(&list).await);
    }

    /// Replaces the service parameters (already checked); the Trusted List
    /// resolves before anything changes.
    pub async fn set_parameters(&self, parameters: ServiceParameters) {
        let trusted = crate::io::dns::resolve_trusted(&parameters.trusted_ips).await;
        self.em.set_parameters(parameters, trusted);
    }

    /// Puts back what a state file saved, then records every change in it.
    pub fn attach_store(&mut self, store: Store, saved: Rows) -> Result<Restored, String> {
        let file = store.path().display().to_string();
        let restored = self.em.restore(saved, &file)?;
        self.store = Some(store);
        Ok(restored)
    }

    /// The state file, when there is one.
    pub fn state_file(&self) -> Option<&std::path::Path> {
        self.store.as_ref().map(Store::path)
    }

    /// Makes every change so far durable before the caller answers: the
    /// changes are taken (one consistent cut of the session table) and
    /// committed; a caller whose changes a commit in progress already took
    /// waits for that commit. Many callers share one commit (see
    /// [`crate::io::store`]). Without a store it returns at once. A failed
    /// commit is error 6: what the request did is in memory, and saved
    /// with the next commit that succeeds.
    pub async fn persist(&self) -> Result<(), ErrorCode> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        store
            .commit(|| self.em.take_changes())
            .await
            .map_err(|_| ErrorCode::DatabaseError)
    }

    /// Folds the state file's write-ahead log into it (see `Store::checkpoint`).
    pub async fn checkpoint(&self) {
        if let Some(store) = &self.store {
            store.checkpoint().await;
        }
    }
}
