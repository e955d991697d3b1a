//! Virtual phones: each one a state machine that does what a Cisco phone
//! does around Extension Mobility, and checks every answer it gets.
//!
//! ```text
//!  Off ─register─▶ Registering ─config─▶ Idle (logout profile)
//!   Idle ─services─▶ prompt (CiscoIPPhoneInput) ─userid+seq─▶ [menu] ─▶ Login Successful
//!        ─▶ Restarting: restart (and, when the locale or add-on modules change,
//!           reset: re-register) ─▶ re-fetch config ─▶ verify ─▶ LoggedIn
//!   LoggedIn ─services─▶ "Logged in as U" ─Yes─▶ Logout Successful ─▶ Restarting ─▶ Idle
//! ```
//!
//! After each step the phone checks what it got and records an outcome
//! beside the latency: the code on the screen (`[25]-...` → `25`); the
//! restart sequence it saw against the one the rule (RST-1..3) asks for,
//! derived from the locale and modules it runs versus the profile's; the
//! re-fetched configuration (profile, user, locale, modules, buttons after
//! truncation); whether its call logs were cleared (LOGS-1/2).
//!
//! - [`http`]: requests from the phone's own 127/8 address;
//! - [`sccp_link`]: the 7900 series' control channel;
//! - [`sip_transport`]: the 8800 series', one socket for the whole fleet;
//! - [`web_server`]: the phones' `/CGI/Execute`.

pub mod http;
pub mod sccp_link;
pub mod sip_transport;
pub mod tftp;
pub mod web_server;

use crate::diagnosis;
use crate::recorder::{Recorder, Step};
use emlab_protocol::config_file::DeviceConfig;
use emlab_protocol::phone_model::{ControlProtocol, PhoneModel};
use emlab_protocol::phone_xml::{self, EM_SERVICE_PATH, PhoneObject};
use emlab_protocol::sccp::{Register, ResetType};
use http::Fetched;
use hyper::header::{ACCEPT, ACCEPT_CHARSET, ACCEPT_LANGUAGE, HeaderName, HeaderValue};
use sccp_link::SccpLink;
use sip_transport::SipTransport;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use web_server::PhoneWebServer;

/// How long a SIP phone asks its registration to last.
const SIP_EXPIRES: Duration = Duration::from_secs(3600);

/// What reaches a phone from outside, in arrival order.
#[derive(Debug)]
pub enum PhoneEvent {
    /// Reset (SCCP) or service-control NOTIFY (SIP).
    Control(ResetType),
    /// The SCCP connection closed.
    Lost,
    /// A NOTIFY the phone refused with 400 (wrong RegisterCallId, ...).
    BadNotify(String),
    /// `Init:CallHistory` pushed and authorized.
    CallLogsCleared,
}

/// What the phone should run in one state, from the lab file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedView {
    /// `emProfile`: the user's profile, or the logout profile (`ADP<MAC>`).
    pub profile: String,
    /// `loginUserId`: empty when nobody is logged in.
    pub user_id: String,
    pub locale: String,
    pub modules: usize,
    /// The number on the first line button, when the profile has lines.
    pub first_line: Option<String>,
    /// (line buttons, speed-dial buttons) after the button rules, when the
    /// profile is known (BTN-1..5).
    pub buttons: Option<(usize, usize)>,
}

/// Who a phone is and what it should see.
#[derive(Clone, Debug)]
pub struct PhoneSpec {
    pub index: u32,
    pub device_name: String,
    pub model: &'static PhoneModel,
    pub ip: Ipv4Addr,
    pub user_id: String,
    pub pin: String,
    pub logged_out: ExpectedView,
    pub logged_in: ExpectedView,
}

/// Where a phone is in its life; the fleet counts phones per state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PhoneState {
    Off,
    Registering,
    Idle,
    LoggingIn,
    Restarting,
    LoggedIn,
    LoggingOut,
    Failed,
}

impl PhoneState {
    pub const ALL: [PhoneState; 8] = [
        PhoneState::Off,
        PhoneState::Registering,
        PhoneState::Idle,
        PhoneState::LoggingIn,
        PhoneState::Restarting,
        PhoneState::LoggedIn,
        PhoneState::LoggingOut,
        PhoneState::Failed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PhoneState::Off => "off",
            PhoneState::Registering => "registering",
            PhoneState::Idle => "idle",
            PhoneState::LoggingIn => "logging-in",
            PhoneState::Restarting => "restarting",
            PhoneState::LoggedIn => "logged-in",
            PhoneState::LoggingOut => "logging-out",
            PhoneState::Failed => "failed",
        }
    }
}

/// Phones per state, for the progress line and the report.
#[derive(Default)]
pub struct StateCounts([AtomicU64; 8]);

impl StateCounts {
    pub fn get(&self, s: PhoneState) -> u64 {
        self.0[s as usize].load(Ordering::Relaxed)
    }
    fn enter(&self, from: PhoneState, to: PhoneState) {
        if from != to {
            self.0[from as usize].fetch_sub(1, Ordering::Relaxed);
            self.0[to as usize].fetch_add(1, Ordering::Relaxed);
        }
    }
    pub fn add_off(&self, n: u64) {
        self.0[PhoneState::Off as usize].fetch_add(n, Ordering::Relaxed);
    }
}

/// Where the server's interfaces are.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// `http://host:port` of the EM service (and EM API).
    pub em_base: String,
    /// `http://host:port` of the configuration files.
    pub config_base: String,
    pub sccp: SocketAddr,
    pub sip: SocketAddr,
    /// The TFTP server: 7900-series (SCCP) phones fetch their
    /// configuration there, as real ones do; `None`: over HTTP like the rest.
    pub tftp: Option<SocketAddr>,
    /// What `https://` bases are trusted with.
    pub tls: http::ClientTls,
}

/// When the server clears call logs (LOGS-1/2), from the lab file.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallLogRule {
    /// Whether call logs are checked at all (the phones' web server runs).
    pub checked: bool,
    pub at_login: bool,
    pub at_logout: bool,
}

/// What every phone of a run shares.
pub struct PhoneContext {
    pub endpoints: Endpoints,
    pub sip: Option<Arc<SipTransport>>,
    pub web: Option<Arc<PhoneWebServer>>,
    pub recorder: Arc<Mutex<Recorder>>,
    pub counts: Arc<StateCounts>,
    pub request_timeout: Duration,
    /// How long a phone waits for the server's restart or reset.
    pub control_timeout: Duration,
    pub call_logs: CallLogRule,
    /// The dashboard's tiles, when a dashboard is watching.
    pub board: Option<Arc<crate::live::board::PhoneBoard>>,
    /// The scenario's time compression: a second here is this many
    /// seconds of server time (the lab clock keeps pace in a rehearsal).
    pub time_scale: f64,
}

impl PhoneContext {
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        step: Step,
        phase: usize,
        due: Instant,
        sent: Instant,
        end: Instant,
        outcome: &str,
        expected: &str,
    ) {
        self.recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(
                step,
                phase,
                end.saturating_duration_since(due),
                end.saturating_duration_since(sent),
                outcome,
                expected,
                end.into_std(),
            );
    }

    fn note(&self, step: Step, phase: usize, outcome: &str, expected: &str) {
        self.recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .note(step, phase, outcome, expected);
    }
}

enum Link {
    None,
    /// Held, not read: dropping it closes the SCCP connection.
    Sccp(#[allow(dead_code)] SccpLink),
    Sip,
}

/// A login or logout the service answered, and what follows from it.
struct Change<'a> {
    step: Step,
    /// What the phone should run afterwards.
    target: &'a ExpectedView,
    clears_call_logs: bool,
    /// The state after success, and after a refusal.
    done: PhoneState,
    refused: PhoneState,
}

/// What the phone runs now, from its last verified configuration.
struct Running {
    locale: String,
    modules: usize,
    services_url: String,
    /// It has an authentication URL, so it can authorize a push that
    /// clears its call logs (LOGS-2).
    authenticates: bool,
}

struct Inner {
    events_tx: mpsc::UnboundedSender<PhoneEvent>,
    events: mpsc::UnboundedReceiver<PhoneEvent>,
    link: Link,
    running: Option<Running>,
    /// Registrations so far: a SIP phone takes a new Call-ID at each boot.
    boots: u32,
    /// Call-log pushes seen while waiting for something else.
    pushes: u32,
    /// When the current registration was made (SIP registrations expire).
    registered_at: Option<Instant>,
}

pub struct VirtualPhone {
    pub spec: PhoneSpec,
    state: AtomicU8,
    /// Held for a whole cycle: one thing at a time, as on a real phone.
    inner: tokio::sync::Mutex<Inner>,
}

/// The headers a 7900 or 8800 sends to phone services (PROTOCOL.md §3).
fn phone_headers(spec: &PhoneSpec) -> Vec<(HeaderName, HeaderValue)> {
    let mut h = vec![
        (ACCEPT, HeaderValue::from_static("x-CiscoIPPhone/*, text/*")),
        (
            HeaderName::from_static("x-ciscoipphonedisplay"),
            HeaderValue::from_static("133,65,2,G"),
        ),
    ];
    if let Ok(v) = HeaderValue::from_str(spec.model.product_name) {
        h.push((HeaderName::from_static("x-ciscoipphonemodelname"), v));
    }
    if spec.model.protocol == ControlProtocol::Sccp {
        h.push((
            ACCEPT_CHARSET,
            HeaderValue::from_static("iso-8859-1, utf-8;q=0.8"),
        ));
    }
    let lang = emlab_protocol::config_file::lang_code(&spec.logged_out.locale);
    if let Ok(v) = HeaderValue::from_str(lang) {
        h.push((ACCEPT_LANGUAGE, v));
    }
    h
}

/// The restart sequence the rule asks for when going from `running` to `target`.
fn expected_sequence(running: Option<&Running>, target: &ExpectedView) -> &'static str {
    match running {
        Some(r) if r.locale != target.locale || r.modules != target.modules => "restart+reset",
        _ => "restart",
    }
}

/// Checks a configuration file against the view the phone should run.
fn verify(model: &PhoneModel, config: &DeviceConfig, want: &ExpectedView) -> Result<(), String> {
    if config.em_profile != want.profile {
        return Err("wrong-profile".into());
    }
    if config.login_user_id != want.user_id {
        return Err("wrong-user".into());
    }
    if config.user_locale.name != want.locale {
        return Err("wrong-locale".into());
    }
    let modules = config.add_on_modules.modules.len();
    if modules != want.modules {
        return Err("wrong-modules".into());
    }
    let buttons = &config.buttons.buttons;
    if buttons.len() > model.total_buttons(modules) {
        return Err("too-many-buttons".into());
    }
    if let Some(number) = &want.first_line {
        match buttons.iter().find(|b| b.kind == "line") {
            Some(b) if &b.number == number => {}
            _ => return Err("wrong-line".into()),
        }
    }
    if let Some((lines, speed_dials)) = want.buttons {
        let count = |kind: &str| buttons.iter().filter(|b| b.kind == kind).count();
        if (count("line"), count("speedDial")) != (lines, speed_dials) {
            return Err("wrong-buttons".into());
        }
    }
    Ok(())
}

/// The label for a service screen: `success` when `ok` says so, else the
/// `[N]` code on it, else what kind of screen it was.
fn screen_label(
    fetched: &Fetched,
    ok: impl Fn(&PhoneObject) -> bool,
) -> (String, Option<PhoneObject>) {
    let Fetched::Ok { status: 200, body } = fetched else {
        return (fetched.failure_label(), None);
    };
    let text = String::from_utf8_lossy(body);
    let Ok(object) = PhoneObject::from_xml(&text) else {
        // What a phone shows for XML it cannot parse (seed 003).
        return ("4".into(), None);
    };
    if ok(&object) {
        return ("success".into(), Some(object));
    }
    let label = match &object {
        PhoneObject::Text(t) => phone_xml::error_number(&t.text)
            .map(|n| n.to_string())
            .unwrap_or_else(|| "unexpected-text".into()),
        PhoneObject::Input(_) => "unexpected-input".into(),
        PhoneObject::Menu(_) => "unexpected-menu".into(),
    };
    (label, Some(object))
}

/// `url` with `params` appended as a query.
fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        q.append_pair(k, v);
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{}", q.finish())
}

/// `http://host:port/path` for a relative or absolute URL from the server.
fn absolute(base: &str, url: &str) -> String {
    if url.starts_with("http://") || url.starts_with("https://") {
        url.to_string()
    } else {
        format!(
            "{}/{}",
            base.trim_end_matches('/'),
            url.trim_start_matches('/')
        )
    }
}

impl VirtualPhone {
    pub fn new(spec: PhoneSpec) -> VirtualPhone {
        let (events_tx, events) = mpsc::unbounded_channel();
        VirtualPhone {
            spec,
            state: AtomicU8::new(PhoneState::Off as u8),
            inner: tokio::sync::Mutex::new(Inner {
                events_tx,
                events,
                link: Link::None,
                running: None,
                boots: 0,
                pushes: 0,
                registered_at: None,
            }),
        }
    }

    pub fn state(&self) -> PhoneState {
        PhoneState::ALL[self.state.load(Ordering::Relaxed) as usize]
    }

    fn set_state(&self, ctx: &PhoneContext, to: PhoneState) {
        let from = PhoneState::ALL[self.state.swap(to as u8, Ordering::Relaxed) as usize];
        ctx.counts.enter(from, to);
        if let Some(b) = &ctx.board {
            b.state(self.spec.index, to);
        }
    }

    /// Records a step, and puts it in the phone's history on the dashboard.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        ctx: &PhoneContext,
        step: Step,
        phase: usize,
        due: Instant,
        sent: Instant,
        end: Instant,
        outcome: &str,
        expected: &str,
    ) {
        ctx.record(step, phase, due, sent, end, outcome, expected);
        if let Some(b) = &ctx.board {
            let us = end.saturating_duration_since(due).as_micros() as u64;
            b.step(self.spec.index, step, outcome, us);
        }
    }

    /// What the phone's screen shows now, for the dashboard.
    fn show(&self, ctx: &PhoneContext, object: Option<&PhoneObject>) {
        if let (Some(b), Some(o)) = (&ctx.board, object) {
            b.screen(self.spec.index, o);
        }
    }

    /// Boots: registers, fetches the configuration and checks it shows the
    /// logout profile. False when the phone could not come into service.
    pub async fn boot(&self, ctx: &PhoneContext, phase: usize) -> bool {
        let mut inner = self.inner.lock().await;
        let due = Instant::now();
        self.set_state(ctx, PhoneState::Registering);
        if !self.register(&mut inner, ctx, phase, due).await {
            self.set_state(ctx, PhoneState::Failed);
            return false;
        }
        let ok = self
            .refresh(&mut inner, ctx, phase, due, &self.spec.logged_out)
            .await
            .is_ok();
        self.set_state(
            ctx,
            if ok {
                PhoneState::Idle
            } else {
                PhoneState::Failed
            },
        );
        ok
    }

    /// One login → hold → logout cycle through the phone-facing service,
    /// due at `due`. `late` is set when the phone was still busy.
    pub async fn cycle(
        &self,
        ctx: &PhoneContext,
        phase: usize,
        due: Instant,
        hold: Duration,
        logout_floor: Option<Instant>,
        timer: &crate::timer::PreciseTimer,
    ) -> bool {
        let late;
        let mut inner = match self.inner.try_lock() {
            Ok(g) => {
                late = false;
                g
            }
            Err(_) => {
                late = true;
                self.inner.lock().await
            }
        };
        // A SIP registration lasts SIP_EXPIRES; refresh it at half-time, as phones do.
        let stale = matches!(inner.link, Link::Sip)
            && inner
                .registered_at
                .is_some_and(|t| t.elapsed() > SIP_EXPIRES / 2);
        if stale && !self.register(&mut inner, ctx, phase, due).await {
            self.set_state(ctx, PhoneState::Failed);
            return late;
        }
        if matches!(inner.link, Link::None) {
            // Lost earlier (or never up): a phone re-registers before anything else.
            if !self.register(&mut inner, ctx, phase, due).await {
                self.set_state(ctx, PhoneState::Failed);
                return late;
            }
            if let Err(why) = self
                .refresh(&mut inner, ctx, phase, due, &self.spec.logged_out)
                .await
            {
                self.not_in_service(&mut inner, ctx, &why);
                return late;
            }
        }
        let Some(end) = self.login(&mut inner, ctx, phase, due).await else {
            return late;
        };
        let logout_due = (end + hold).max(logout_floor.unwrap_or(end));
        if self
            .hold(&mut inner, ctx, phase, end, logout_due, timer)
            .await
        {
            self.logout(&mut inner, ctx, phase, end, logout_due).await;
        }
        late
    }

    /// The phone found no configuration it could run. Without a file at all
    /// (no logout profile, TRBL-4) it stays in Registering and tries again
    /// at its next cycle, as a real phone keeps trying; otherwise it failed.
    fn not_in_service(&self, inner: &mut Inner, ctx: &PhoneContext, why: &str) {
        self.drop_link(inner, ctx);
        let state = if why == diagnosis::NO_CONFIG {
            PhoneState::Registering
        } else {
            PhoneState::Failed
        };
        self.set_state(ctx, state);
    }

    /// Drops the registration: the SCCP connection closes, the SIP
    /// transport forgets the phone.
    fn drop_link(&self, inner: &mut Inner, ctx: &PhoneContext) {
        if let (Link::Sip, Some(sip)) = (&inner.link, &ctx.sip) {
            sip.forget(&format!("p{}", self.spec.index));
        }
        inner.link = Link::None;
    }

    /// Holds the login until `until`, as a phone does: listening. A restart
    /// that comes meanwhile is followed; when the configuration it then
    /// loads shows the logout profile, the server logged the phone out
    /// (TIME-1, TRBL-1/2): recorded as `server_logout` with how long the
    /// phone had been logged in, and the cycle ends there. True when the
    /// phone is still logged in at `until`.
    async fn hold(
        &self,
        inner: &mut Inner,
        ctx: &PhoneContext,
        phase: usize,
        logged_in_at: Instant,
        until: Instant,
        timer: &crate::timer::PreciseTimer,
    ) -> bool {
        let sleep = timer.sleep_until(until);
        tokio::pin!(sleep);
        loop {
            let event = tokio::select! {
                _ = &mut sleep => return true,
                event = inner.events.recv() => event,
            };
            let kind = match event {
                Some(PhoneEvent::Control(kind)) => kind,
                Some(PhoneEvent::CallLogsCleared) => {
                    inner.pushes += 1;
                    continue;
                }
                Some(PhoneEvent::BadNotify(why)) => {
                    ctx.note(Step::Restart, phase, &why, "none");
                    continue;
                }
                Some(PhoneEvent::Lost) => {
                    ctx.note(Step::Register, phase, "connection-lost", "success");
                    self.reconnect(inner, ctx, phase, Instant::now()).await;
                    continue;
                }
                None => return true,
            };
            let seen_at = Instant::now();
            if let Some(b) = &ctx.board {
                b.event(self.spec.index, action_name(kind));
            }
            if kind == ResetType::Reset {
                // A reset reboots: register again before reading the config.
                self.drop_link(inner, ctx);
                if !self.register(inner, ctx, phase, seen_at).await {
                    self.set_state(ctx, PhoneState::Failed);
                    return false;
                }
            }
            let sent = Instant::now();
            let config = self.fetch_config(ctx).await;
            let logged_out =
                matches!(&config, Ok(c) if c.em_profile == self.spec.logged_out.profile);
            let want = if logged_out {
                &self.spec.logged_out
            } else {
                // A restart nobody asked for: the phone stays logged in.
                ctx.note(
                    Step::Restart,
                    phase,
                    &format!("unexpected-{}", action_name(kind)),
                    "none",
                );
                &self.spec.logged_in
            };
            let checked = config.and_then(|c| verify(self.spec.model, &c, want).map(|_| c));
            let in_service = self.record_in_service(inner, ctx, phase, seen_at, sent, checked);
            if logged_out {
                self.logged_out_by_server(inner, ctx, phase, logged_in_at, seen_at, in_service);
                return false;
            }
        }
    }

    /// The server logged the phone out while it held its login, noticed at
    /// `seen_at`: recorded as `server_logout`, under the phase it happened
    /// in, with the time logged in as its latency.
    fn logged_out_by_server(
        &self,
        inner: &mut Inner,
        ctx: &PhoneContext,
        phase: usize,
        logged_in_at: Instant,
        seen_at: Instant,
        in_service: Result<(), String>,
    ) {
        // Minutes of server time: the lab clock keeps the scenario's pace.
        let held = seen_at.saturating_duration_since(logged_in_at);
        let label = diagnosis::server_logout_label(held.as_secs_f64() * ctx.time_scale);
        self.record(
            ctx,
            Step::ServerLogout,
            phase,
            logged_in_at,
            seen_at,
            seen_at,
            label,
            "none",
        );
        // Call logs at a logout the phone did not make are not checked.
        inner.pushes = 0;
        match in_service {
            Ok(()) => self.set_state(ctx, PhoneState::Idle),
            Err(why) => self.not_in_service(inner, ctx, &why),
        }
    }

    async fn register(
        &self,
        inner: &mut Inner,
        ctx: &PhoneContext,
        phase: usize,
        due: Instant,
    ) -> bool {
        let spec = &self.spec;
        inner.boots += 1;
        inner.link = Link::None;
        let sent = Instant::now();
        let result = match spec.model.protocol {
            ControlProtocol::Sccp => {
                let register = Register {
                    device_name: spec.device_name.clone(),
                    user_id: 0,
                    instance: 1,
                    ip: spec.ip,
                    device_type: spec.model.skinny_device_type.unwrap_or(0),
                    max_streams: 0,
                };
                sccp_link::register(
                    spec.ip,
                    ctx.endpoints.sccp,
                    register,
                    inner.events_tx.clone(),
                    ctx.request_timeout,
                )
                .await
                .map(Link::Sccp)
            }
            ControlProtocol::Sip => match &ctx.sip {
                None => Err("no-sip-transport".to_string()),
                Some(sip) => {
                    let name = format!("p{}", spec.index);
                    let call_id = format!("{:08x}-{}@{}", spec.index, inner.boots, spec.ip);
                    let extension = spec.logged_in.first_line.as_deref().unwrap_or("0");
                    match sip
                        .register(
                            &name,
                            spec.ip,
                            &spec.device_name,
                            spec.model.name,
                            extension,
                            &call_id,
                            SIP_EXPIRES.as_secs() as u32,
                            inner.events_tx.clone(),
                            ctx.request_timeout,
                        )
                        .await
                    {
                        Ok(200) => Ok(Link::Sip),
                        Ok(status) => Err(format!("sip-{status}")),
                        Err(label) => Err(label),
                    }
                }
            },
        };
        let end = Instant::now();
        let outcome = match &result {
            Ok(_) => "success".to_string(),
            Err(label) => label.clone(),
        };
        self.record(
            ctx,
            Step::Register,
            phase,
            due,
            sent,
            end,
            &outcome,
            "success",
        );
        match result {
            Ok(link) => {
                inner.link = link;
                inner.registered_at = Some(end);
                true
            }
            Err(_) => false,
        }
    }

    /// The configuration file as the server serves it now: over TFTP for
    /// a 7900-series phone when the server has TFTP, else over HTTP.
    async fn fetch_config(&self, ctx: &PhoneContext) -> Result<DeviceConfig, String> {
        let spec = &self.spec;
        let file = format!("{}.cnf.xml", spec.device_name);
        let tftp = ctx
            .endpoints
            .tftp
            .filter(|_| spec.model.protocol == ControlProtocol::Sccp);
        let fetched: Result<bytes::Bytes, String> = match tftp {
            Some(server) => tftp::fetch(IpAddr::V4(spec.ip), server, &file, ctx.request_timeout)
                .await
                .map(bytes::Bytes::from)
                .map_err(|e| e.label()),
            None => {
                let url = format!("{}/{file}", ctx.endpoints.config_base.trim_end_matches('/'));
                match http::get(
                    IpAddr::V4(spec.ip),
                    &url,
                    &[],
                    ctx.request_timeout,
                    &ctx.endpoints.tls,
                )
                .await
                {
                    Fetched::Ok { status: 200, body } => Ok(body),
                    Fetched::Ok { status: 404, .. } => Err(diagnosis::NO_CONFIG.into()),
                    other => Err(other.failure_label()),
                }
            }
        };
        fetched.and_then(|body| {
            std::str::from_utf8(&body)
                .ok()
                .and_then(|x| DeviceConfig::from_xml(x).ok())
                .ok_or_else(|| "malformed-config".to_string())
        })
    }

    /// Fetches the configuration file and checks it against `want`; on
    /// success the phone runs it. Records `in_service` from `due`; the
    /// error is the outcome recorded.
    async fn refresh(
        &self,
        inner: &mut Inner,
        ctx: &PhoneContext,
        phase: usize,
        due: Instant,
        want: &ExpectedView,
    ) -> Result<(), String> {
        let sent = Instant::now();
        let checked = self
            .fetch_config(ctx)
            .await
            .and_then(|c| verify(self.spec.model, &c, want).map(|_| c));
        self.record_in_service(inner, ctx, phase, due, sent, checked)
    }

    /// Records a checked configuration as `in_service`; on success the
    /// phone runs it: its dashboard tile, its web server, its locale,
    /// modules and services URL.
    fn record_in_service(
        &self,
        inner: &mut Inner,
        ctx: &PhoneContext,
        phase: usize,
        due: Instant,
        sent: Instant,
        checked: Result<DeviceConfig, String>,
    ) -> Result<(), String> {
        let spec = &self.spec;
        let end = Instant::now();
        let outcome = match &checked {
            Ok(_) => "success".to_string(),
            Err(l) => l.clone(),
        };
        self.record(
            ctx,
            Step::InService,
            phase,
            due,
            sent,
            end,
            &outcome,
            "success",
        );
        let config = checked?;
        if let Some(b) = &ctx.board {
            b.config(spec.index, &config);
        }
        if let Some(web) = &ctx.web {
            let bound = web.bind(
                spec.ip,
                &spec.device_name,
                &config.authentication_url,
                inner.events_tx.clone(),
            );
            if bound.is_err() {
                // The phone's web server could not listen: pushes
                // to it cannot arrive, and the report says why.
                ctx.note(
                    Step::InService,
                    phase,
                    "web-server-not-listening",
                    "success",
                );
            }
        }
        inner.running = Some(Running {
            locale: config.user_locale.name,
            modules: config.add_on_modules.modules.len(),
            services_url: config.services_url,
            authenticates: !config.authentication_url.is_empty(),
        });
        Ok(())
    }

    fn services_url(&self, inner: &Inner, ctx: &PhoneContext) -> String {
        match &inner.running {
            Some(r) if !r.services_url.is_empty() => absolute(
                &ctx.endpoints.em_base,
                &r.services_url
                    .replace("#DEVICENAME#", &self.spec.device_name),
            ),
            _ => format!(
                "{}{EM_SERVICE_PATH}?device={}",
                ctx.endpoints.em_base.trim_end_matches('/'),
                self.spec.device_name
            ),
        }
    }

    async fn get(&self, ctx: &PhoneContext, url: &str) -> Fetched {
        http::get(
            IpAddr::V4(self.spec.ip),
            url,
            &phone_headers(&self.spec),
            ctx.request_timeout,
            &ctx.endpoints.tls,
        )
        .await
    }

    /// Anything that arrived between cycles is a fault of the server: a
    /// restart nobody asked for, or a connection it dropped.
    async fn drain_stray(&self, inner: &mut Inner, ctx: &PhoneContext, phase: usize, due: Instant) {
        let mut lost = false;
        while let Ok(event) = inner.events.try_recv() {
            match event {
                PhoneEvent::Control(kind) => ctx.note(
                    Step::Restart,
                    phase,
                    &format!("unexpected-{}", action_name(kind)),
                    "none",
                ),
                PhoneEvent::BadNotify(why) => ctx.note(Step::Restart, phase, &why, "none"),
                PhoneEvent::CallLogsCleared => inner.pushes += 1,
                PhoneEvent::Lost => lost = true,
            }
        }
        if lost {
            ctx.note(Step::Register, phase, "connection-lost", "success");
            self.reconnect(inner, ctx, phase, due).await;
        }
    }

    /// After a lost connection: registers again and reloads the configuration.
    async fn reconnect(&self, inner: &mut Inner, ctx: &PhoneContext, phase: usize, due: Instant) {
        if self.register(inner, ctx, phase, due).await {
            let _ = self
                .refresh(inner, ctx, phase, due, &self.current_view())
                .await;
        }
    }

    fn current_view(&self) -> ExpectedView {
        match self.state() {
            PhoneState::LoggedIn | PhoneState::LoggingOut => self.spec.logged_in.clone(),
            _ => self.spec.logged_out.clone(),
        }
    }

    /// The login through the phone service; the time it ended when it succeeded.
    async fn login(
        &self,
        inner: &mut Inner,
        ctx: &PhoneContext,
        phase: usize,
        due: Instant,
    ) -> Option<Instant> {
        self.drain_stray(inner, ctx, phase, due).await;
        self.set_state(ctx, PhoneState::LoggingIn);
        let spec = &self.spec;
        let sent = Instant::now();
        let prompt = self.get(ctx, &self.services_url(inner, ctx)).await;
        let (label, object) = screen_label(&prompt, |o| matches!(o, PhoneObject::Input(_)));
        self.show(ctx, object.as_ref());
        self.record(
            ctx,
            Step::Prompt,
            phase,
            due,
            sent,
            Instant::now(),
            &label,
            "success",
        );
        let Some(PhoneObject::Input(input)) = object.filter(|_| label == "success") else {
            self.set_state(ctx, PhoneState::Idle);
            return None;
        };
        let sent = Instant::now();
        let params: Vec<(&str, &str)> = input
            .items
            .iter()
            .map(|item| {
                let value = match item.query_string_param.as_str() {
                    "userid" => spec.user_id.as_str(),
                    "seq" => spec.pin.as_str(),
                    _ => item.default_value.as_str(),
                };
                (item.query_string_param.as_str(), value)
            })
            .collect();
        let mut answer = self
            .get(
                ctx,
                &with_query(&absolute(&ctx.endpoints.em_base, &input.url), &params),
            )
            .await;
        // Several profiles: the phone shows a menu and the user picks theirs.
        if let (_, Some(PhoneObject::Menu(menu))) = screen_label(&answer, |_| false) {
            self.show(ctx, Some(&PhoneObject::Menu(menu.clone())));
            let item = menu
                .items
                .iter()
                .find(|i| i.name == spec.logged_in.profile)
                .or(menu.items.first());
            if let Some(item) = item {
                answer = self
                    .get(ctx, &absolute(&ctx.endpoints.em_base, &item.url))
                    .await;
            }
        }
        let (label, shown) = screen_label(
            &answer,
            |o| matches!(o, PhoneObject::Text(t) if t.text == "Login Successful"),
        );
        self.show(ctx, shown.as_ref());
        let change = Change {
            step: Step::Login,
            target: &self.spec.logged_in,
            clears_call_logs: ctx.call_logs.at_login,
            done: PhoneState::LoggedIn,
            refused: PhoneState::Idle,
        };
        self.complete(inner, ctx, phase, due, sent, &label, change)
            .await
            .then(Instant::now)
    }

    /// The logout through the phone service: the confirmation, then `Yes`.
    async fn logout(
        &self,
        inner: &mut Inner,
        ctx: &PhoneContext,
        phase: usize,
        logged_in_at: Instant,
        due: Instant,
    ) -> bool {
        self.drain_stray(inner, ctx, phase, due).await;
        self.set_state(ctx, PhoneState::LoggingOut);
        let sent = Instant::now();
        let confirm = self.get(ctx, &self.services_url(inner, ctx)).await;
        let (mut label, object) = screen_label(
            &confirm,
            |o| matches!(o, PhoneObject::Text(t) if t.soft_keys.iter().any(|k| k.name == "Yes")),
        );
        self.show(ctx, object.as_ref());
        if matches!(object, Some(PhoneObject::Input(_))) {
            // The login prompt: the server logged the phone out behind its
            // back a moment ago, and its restart is still on the way.
            let seen_at = Instant::now();
            let until = seen_at + ctx.control_timeout;
            let loaded = match self.next_control(inner, until).await {
                Some(PhoneEvent::Control(_)) => {
                    self.refresh(inner, ctx, phase, seen_at, &self.spec.logged_out)
                        .await
                }
                _ => Err("not-restarted".to_string()),
            };
            self.logged_out_by_server(inner, ctx, phase, logged_in_at, seen_at, loaded);
            return false;
        }
        if let Some(PhoneObject::Text(t)) = object.filter(|_| label == "success") {
            let yes = t
                .soft_keys
                .iter()
                .find(|k| k.name == "Yes")
                .map(|k| k.url.clone());
            let answer = self
                .get(
                    ctx,
                    &absolute(&ctx.endpoints.em_base, &yes.unwrap_or_default()),
                )
                .await;
            let shown;
            (label, shown) = screen_label(
                &answer,
                |o| matches!(o, PhoneObject::Text(t) if t.text == "Logout Successful"),
            );
            self.show(ctx, shown.as_ref());
        }
        let change = Change {
            step: Step::Logout,
            target: &self.spec.logged_out,
            clears_call_logs: ctx.call_logs.at_logout,
            done: PhoneState::Idle,
            refused: PhoneState::LoggedIn,
        };
        self.complete(inner, ctx, phase, due, sent, &label, change)
            .await
    }

    /// After the service answered a login or logout: records the answer and,
    /// when it succeeded, follows the restart into the new profile and
    /// checks the call logs. True when it succeeded.
    #[allow(clippy::too_many_arguments)]
    async fn complete(
        &self,
        inner: &mut Inner,
        ctx: &PhoneContext,
        phase: usize,
        due: Instant,
        sent: Instant,
        label: &str,
        change: Change<'_>,
    ) -> bool {
        let end = Instant::now();
        self.record(ctx, change.step, phase, due, sent, end, label, "success");
        if label != "success" {
            self.set_state(ctx, change.refused);
            return false;
        }
        let loaded = self
            .follow_restart(inner, ctx, phase, due, end, change.target)
            .await;
        if change.step == Step::Login && matches!(&loaded, Err(why) if why == "wrong-profile") {
            // Restarted once more, into the logout profile: the login was
            // lost at once (a switch version, TRBL-2).
            if let Ok(c) = self.fetch_config(ctx).await
                && c.em_profile == self.spec.logged_out.profile
            {
                inner.pushes = 0;
                self.logged_out_by_server(inner, ctx, phase, end, Instant::now(), Ok(()));
                return false;
            }
        }
        self.check_call_logs(inner, ctx, phase, end, change.clears_call_logs)
            .await;
        match loaded {
            Err(why) if why == diagnosis::NO_CONFIG => self.not_in_service(inner, ctx, &why),
            _ => self.set_state(ctx, change.done),
        }
        true
    }

    /// The next control event before `until`; call-log pushes on the way are counted.
    async fn next_control(&self, inner: &mut Inner, until: Instant) -> Option<PhoneEvent> {
        loop {
            match tokio::time::timeout_at(until, inner.events.recv()).await {
                Ok(Some(PhoneEvent::CallLogsCleared)) => inner.pushes += 1,
                Ok(Some(event)) => return Some(event),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// After a login or logout was answered at `answered`: waits for the
    /// server's restart (and reset), follows each as a phone does, records
    /// the sequence against the rule and the time back in service.
    async fn follow_restart(
        &self,
        inner: &mut Inner,
        ctx: &PhoneContext,
        phase: usize,
        due: Instant,
        answered: Instant,
        target: &ExpectedView,
    ) -> Result<(), String> {
        self.set_state(ctx, PhoneState::Restarting);
        let expected = expected_sequence(inner.running.as_ref(), target);
        let mut seen: Vec<&'static str> = Vec::new();
        let mut first_at = None;
        let mut fault: Option<String> = None;
        let mut refreshed = None;
        let deadline = Instant::now() + ctx.control_timeout;
        loop {
            // A reset may follow the restart at once; wait for it only when due.
            let until =
                if seen.is_empty() || (expected == "restart+reset" && !seen.contains(&"reset")) {
                    deadline
                } else {
                    Instant::now()
                };
            let Some(event) = self.next_control(inner, until).await else {
                break;
            };
            first_at.get_or_insert_with(Instant::now);
            match event {
                PhoneEvent::Control(ResetType::Restart) => {
                    seen.push("restart");
                    if let Some(b) = &ctx.board {
                        b.event(self.spec.index, "restart");
                    }
                }
                PhoneEvent::Control(ResetType::Reset) => {
                    seen.push("reset");
                    if let Some(b) = &ctx.board {
                        b.event(self.spec.index, "reset");
                        b.resetting(self.spec.index);
                    }
                    // A reset reboots: register again before reading the config.
                    self.drop_link(inner, ctx);
                    if !self.register(inner, ctx, phase, due).await {
                        fault = Some("register-failed".into());
                        break;
                    }
                }
                PhoneEvent::Control(ResetType::ApplyConfig) => seen.push("apply-config"),
                PhoneEvent::Lost => {
                    fault = Some("connection-lost".into());
                    inner.link = Link::None;
                    break;
                }
                PhoneEvent::BadNotify(why) => {
                    fault = Some(why);
                    break;
                }
                PhoneEvent::CallLogsCleared => {}
            }
            refreshed = Some(self.refresh(inner, ctx, phase, due, target).await);
        }
        let sequence = match (&fault, seen.is_empty()) {
            (Some(f), _) => f.clone(),
            (None, true) => "none".to_string(),
            (None, false) => seen.join("+"),
        };
        let end = first_at.unwrap_or_else(Instant::now);
        self.record(
            ctx,
            Step::Restart,
            phase,
            answered,
            answered,
            end,
            &sequence,
            expected,
        );
        if refreshed.is_none() && seen.is_empty() {
            // Never told to restart: the phone still runs the old profile.
            ctx.note(Step::InService, phase, "not-restarted", "success");
        }
        refreshed.unwrap_or(Ok(()))
    }

    /// Whether the server cleared the call logs after a manual login or
    /// logout, against `expected`.
    async fn check_call_logs(
        &self,
        inner: &mut Inner,
        ctx: &PhoneContext,
        phase: usize,
        answered: Instant,
        expected: bool,
    ) {
        if !ctx.call_logs.checked {
            return;
        }
        // Without an authentication URL the phone refuses the push.
        let expected = expected && inner.running.as_ref().is_none_or(|r| r.authenticates);
        if expected && inner.pushes == 0 {
            let until = Instant::now() + ctx.control_timeout;
            while inner.pushes == 0 {
                match tokio::time::timeout_at(until, inner.events.recv()).await {
                    Ok(Some(PhoneEvent::CallLogsCleared)) => inner.pushes += 1,
                    Ok(Some(PhoneEvent::Control(kind))) => ctx.note(
                        Step::Restart,
                        phase,
                        &format!("unexpected-{}", action_name(kind)),
                        "none",
                    ),
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
        }
        let outcome = if inner.pushes > 0 { "cleared" } else { "kept" };
        inner.pushes = 0;
        let want = if expected { "cleared" } else { "kept" };
        let now = Instant::now();
        self.record(
            ctx,
            Step::CallLogs,
            phase,
            answered,
            answered,
            now,
            outcome,
            want,
        );
    }

    /// Unregisters (SIP `Expires: 0`) or closes the SCCP connection.
    pub async fn shut_down(&self, ctx: &PhoneContext) {
        let mut inner = self.inner.lock().await;
        self.drop_link(&mut inner, ctx);
        self.set_state(ctx, PhoneState::Off);
    }
}

fn action_name(kind: ResetType) -> &'static str {
    match kind {
        ResetType::Restart => "restart",
        ResetType::Reset => "reset",
        ResetType::ApplyConfig => "apply-config",
    }
}

/// Phone `i`'s address: 127.16.0.0 plus `i + 1`, clear of 127.0.0.1 where
/// servers listen; room for 15 million phones.
pub fn phone_ip(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 16, 0, 0)) + i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use emlab_protocol::config_file::{ButtonEntry, Buttons, UserLocale};

    fn config(kinds: &[&str]) -> DeviceConfig {
        DeviceConfig {
            user_locale: UserLocale {
                name: "English_United_States".into(),
                lang_code: "en_US".into(),
            },
            em_profile: "user-profile-1".into(),
            login_user_id: "me".into(),
            buttons: Buttons {
                buttons: kinds
                    .iter()
                    .enumerate()
                    .map(|(i, k)| ButtonEntry {
                        index: i as u16 + 1,
                        kind: k.to_string(),
                        number: format!("{}", 2001 + i),
                        ..ButtonEntry::default()
                    })
                    .collect(),
            },
            ..DeviceConfig::default()
        }
    }

    /// A 7970 must show the whole profile: six lines and both speed dials.
    #[test]
    fn a_layout_short_of_its_speed_dials_is_a_mismatch() {
        let model = emlab_protocol::phone_model::find("7970").unwrap();
        let want = ExpectedView {
            profile: "user-profile-1".into(),
            user_id: "me".into(),
            locale: "English_United_States".into(),
            modules: 0,
            first_line: Some("2001".into()),
            buttons: Some((6, 2)),
        };
        let whole = [
            "line",
            "line",
            "line",
            "line",
            "line",
            "line",
            "speedDial",
            "speedDial",
        ];
        assert_eq!(verify(model, &config(&whole), &want), Ok(()));
        let short = &whole[..7];
        assert_eq!(
            verify(model, &config(short), &want),
            Err("wrong-buttons".to_string())
        );
    }
}
