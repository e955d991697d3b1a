//! `LoginStorm`: the load engine, open or closed model, over either path.
//!
//! **Open model.** Cycles *arrive* on a schedule, whatever the server
//! does: each phase of the load shape has a rate (constant, or a linear
//! ramp from `rate` to `to`), and arrival k of a phase is due at the time
//! the rate's integral reaches k. Each arrival takes the next phone
//! (round-robin) and runs login → (query) → hold → logout. Every step's
//! latency is measured from the moment it was due, not from when it was
//! finally sent, so a server that falls behind shows its whole queueing
//! delay (no coordinated omission). A phone still busy with its previous
//! cycle makes the new one wait, and that wait counts too.
//!
//! **Closed model.** A fixed population: in each phase the first `phones`
//! phones each run cycle after cycle, pausing `think` between them, so at
//! most that many requests are ever in flight (how `max-concurrent`
//! stands exactly at, then above, the server's limit).
//!
//! **Paths.** `em-api`: the cycle is EM API requests only. `phone`: the
//! phones boot first (register, config), then each cycle is the phone's own
//! flow (see [`crate::phone`]).
//!
//! A stop request (Ctrl-C) ends the arrivals; cycles under way finish, so
//! every logged-in phone logs out and the reports are whole.

use crate::em_client::{EmClient, EmConnection, Reply};
use crate::live::control::LiveControl;
use crate::phone::{PhoneContext, VirtualPhone};
use crate::recorder::{Recorder, Step};
use crate::rehearsal::{LabControl, Rehearsal};
use crate::scenario::{Expected, Load, Model};
use crate::shard::Shard;
use crate::timer::PreciseTimer;
use emlab_protocol::em_api::{
    AppInfo, DeviceUser, DeviceUserQuery, Login, Logout, Message, Operation, Query, QueryKind,
    Request, ResponseBody,
};
use emlab_protocol::lab::FleetMember;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// A phone that only uses the EM API: a device and the user who logs in on it.
pub struct ApiPhone {
    pub device_name: String,
    pub user_id: String,
    /// Held for the length of a cycle; the next cycle waits for it. In the
    /// closed model it holds the phone's own connection (`ApiCycle::own_connections`).
    busy: tokio::sync::Mutex<Option<EmConnection>>,
    /// What the phone sends to log in, query and log out, built at its
    /// first cycle: the same every cycle, so the fleet, like wrk, does not
    /// build it again per request (the answers are still parsed). Whole
    /// HTTP requests on its own connection, else form bodies for the pool.
    wire: std::sync::OnceLock<Wire>,
}

impl ApiPhone {
    pub fn new(device_name: impl Into<String>, user_id: impl Into<String>) -> Self {
        ApiPhone {
            device_name: device_name.into(),
            user_id: user_id.into(),
            busy: tokio::sync::Mutex::new(None),
            wire: std::sync::OnceLock::new(),
        }
    }

    pub fn from_member(m: &FleetMember) -> Self {
        Self::new(m.device_name.clone(), m.user_id.clone())
    }
}

/// The phones of a run, by path. One per run, so the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Fleet {
    Api {
        phones: Vec<Arc<ApiPhone>>,
        client: EmClient,
    },
    Phones {
        phones: Vec<Arc<VirtualPhone>>,
        ctx: Arc<PhoneContext>,
    },
}

pub struct LoginStorm {
    pub fleet: Fleet,
    /// Where every step is recorded, shared with whoever watches the run
    /// live (the progress line); on the phone path, the phones' context's.
    pub recorder: Arc<Mutex<Recorder>>,
    /// The server's Prometheus page, read at every phase edge for its
    /// Requests Throttled counter; `None` or unreadable: not known.
    pub metrics_url: Option<String>,
    /// What an `https://` metrics page is trusted with.
    pub tls: crate::phone::http::ClientTls,
    /// Pause, resume and rate changes made while the run goes (open model).
    pub control: Option<Arc<LiveControl>>,
    pub load: Load,
    pub expect_login: Expected,
    pub expect_logout: Expected,
    /// The target's lab control, for phases that rehearse a
    /// troubleshooting cause ([`crate::rehearsal`]).
    pub lab_control: Option<LabControl>,
    /// The part of the fleet this process runs: `fleet` holds only its
    /// phones, and the schedule skips the other shards' arrivals.
    pub shard: Shard,
    /// When the schedule starts (after boot), so that shards start together.
    pub start_at: Option<SystemTime>,
}

/// Live figures for the progress line.
#[derive(Default)]
pub struct Progress {
    pub started: AtomicU64,
    pub finished: AtomicU64,
}

/// What a storm produced.
pub struct StormResult {
    pub recorder: Recorder,
    pub started_at: SystemTime,
    /// From the first arrival to the end of the last step.
    pub elapsed: Duration,
    pub cycles: u64,
    /// Phones that came into service at boot (phone path).
    pub booted: u64,
    /// How long the phones took to boot (phone path).
    pub boot_time: Duration,
    /// The run was stopped before its schedule ended.
    pub interrupted: bool,
    /// Per recorder phase: growth of `em_requests_throttled_total`.
    pub throttled: Vec<Option<f64>>,
    /// What lab control refused while rehearsing troubleshooting causes.
    pub rehearsal_problems: Vec<String>,
}

/// A recorder with the load's phases after the boot phase.
pub fn recorder_for(load: &Load) -> Recorder {
    let mut names = vec!["boot"];
    names.extend(load.phases.iter().map(|p| p.name.as_str()));
    let mut recorder = Recorder::new(&names, std::time::Instant::now());
    for (i, p) in load.phases.iter().enumerate() {
        recorder.phases[i + 1].rehearsing = p.troubleshooting;
    }
    recorder
}

/// How long after a phase's edge the phones it adds (closed model) start.
const PHASE_JOIN_DELAY: Duration = Duration::from_millis(100);

/// Phase 0 of the recorder is the phones' boot; the load's phases follow.
pub const BOOT_PHASE: usize = 0;

/// How many phones boot at once: enough to be quick, few enough not to
/// look like a storm of its own.
const BOOT_CONCURRENCY: usize = 256;

struct ApiCycle {
    client: EmClient,
    timer: PreciseTimer,
    recorder: Arc<Mutex<Recorder>>,
    hold: Duration,
    query: bool,
    expect_login: String,
    expect_logout: String,
    /// Closed model over http://: each phone keeps a connection of its own
    /// ([`EmConnection`]), as each of wrk's connections does. The open
    /// model shares hyper's pool, since thousands of phones may arrive.
    own_connections: bool,
    /// [`Load::pipeline`](crate::scenario::Load::pipeline), on an own connection.
    pipeline: bool,
}

enum CycleKind {
    Api(Arc<ApiCycle>, Vec<Arc<ApiPhone>>),
    Phone(
        Arc<PhoneContext>,
        Vec<Arc<VirtualPhone>>,
        Duration,
        PreciseTimer,
    ),
}

impl CycleKind {
    /// Runs phone `k`'s cycle due at `due`, logging out no earlier than
    /// `logout_floor`; true when it started late.
    async fn run(
        &self,
        k: usize,
        phase: usize,
        due: Instant,
        logout_floor: Option<Instant>,
    ) -> bool {
        match self {
            CycleKind::Api(ctx, phones) => {
                api_cycle(ctx.clone(), phones[k].clone(), phase, due, logout_floor).await
            }
            CycleKind::Phone(ctx, phones, hold, timer) => {
                phones[k]
                    .cycle(ctx, phase, due, *hold, logout_floor, timer)
                    .await
            }
        }
    }
}

impl LoginStorm {
    fn recorder(&self) -> Arc<Mutex<Recorder>> {
        self.recorder.clone()
    }

    pub async fn run(self, progress: Arc<Progress>, stop: watch::Receiver<bool>) -> StormResult {
        let timer = PreciseTimer::start();
        let recorder = self.recorder();
        let mut started_at = SystemTime::now();
        let mut start = Instant::now();
        let mut booted = 0;
        let mut boot_time = Duration::ZERO;
        let kind = match self.fleet {
            Fleet::Api { phones, client } => CycleKind::Api(
                Arc::new(ApiCycle {
                    own_connections: self.load.model == Model::Closed
                        && client.request_bytes(&[]).is_some(),
                    pipeline: self.load.pipeline && client.request_bytes(&[]).is_some(),
                    client,
                    timer: timer.clone(),
                    recorder: recorder.clone(),
                    hold: self.load.hold,
                    query: self.load.query,
                    expect_login: self.expect_login.to_string(),
                    expect_logout: self.expect_logout.to_string(),
                }),
                phones,
            ),
            Fleet::Phones { phones, ctx } => {
                let booting = Instant::now();
                booted = boot(&phones, &ctx, &stop).await;
                boot_time = booting.elapsed();
                CycleKind::Phone(ctx, phones, self.load.hold, timer.clone())
            }
        };
        let kind = Arc::new(kind);
        let phone_count = match &*kind {
            CycleKind::Api(_, p) => p.len(),
            CycleKind::Phone(_, p, ..) => p.len(),
        };
        let late = Arc::new(AtomicU64::new(0));
        if let Some(at) = self.start_at {
            // Every shard waits for the same wall-clock instant; the wait is
            // not part of the run's time.
            if let Ok(wait) = at.duration_since(SystemTime::now()) {
                let waited = Instant::now();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = wait_for_stop(stop.clone()) => {}
                }
                let waited = waited.elapsed();
                start += waited;
                started_at += waited;
            }
        }
        let schedule_start = Instant::now();
        {
            let mut starts = Vec::new();
            let mut t = schedule_start;
            for p in &self.load.phases {
                starts.push(t.into_std());
                t += p.duration;
            }
            recorder
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .set_phase_starts(starts);
        }
        let logout_floor = self
            .load
            .logout_at
            .map(|i| schedule_start + self.load.phase_start(i));
        let rehearsal = match (&self.lab_control, self.load.rehearses()) {
            (Some(lab), true) => Some(Rehearsal::start(lab.clone(), &self.load, schedule_start)),
            _ => None,
        };
        let readings = Arc::new(Mutex::new(Vec::new()));
        let reader = self.metrics_url.clone().map(|url| {
            let readings = readings.clone();
            let tls = self.tls.clone();
            let mut edges = vec![schedule_start];
            let mut t = schedule_start;
            for p in &self.load.phases[..self.load.phases.len().saturating_sub(1)] {
                t += p.duration;
                edges.push(t);
            }
            tokio::spawn(async move {
                for edge in edges {
                    tokio::time::sleep_until(edge).await;
                    let v = read_throttled(&url, &tls).await;
                    readings.lock().unwrap_or_else(|p| p.into_inner()).push(v);
                }
            })
        });
        let mut tasks = JoinSet::new();
        let mut interrupted = false;
        if phone_count > 0 {
            match self.load.model {
                Model::Open => {
                    let mut arrivals = Arrivals {
                        load: &self.load,
                        logout_floor,
                        kind: &kind,
                        phone_count: if self.shard.is_whole() {
                            phone_count as u64
                        } else {
                            self.load.phones as u64
                        },
                        shard: self.shard,
                        timer: &timer,
                        progress: &progress,
                        late: &late,
                        recorder: &recorder,
                        control: self.control.clone(),
                        n: 0,
                    };
                    interrupted = arrivals.open(stop.clone(), &mut tasks).await;
                }
                Model::Closed => {
                    let end = schedule_start + self.load.duration();
                    for k in 0..phone_count {
                        tasks.spawn(closed_phone(
                            k,
                            self.shard.global(k),
                            logout_floor,
                            kind.clone(),
                            self.load.clone(),
                            schedule_start,
                            end,
                            progress.clone(),
                            late.clone(),
                            stop.clone(),
                            recorder.clone(),
                        ));
                    }
                }
            }
        }
        // Cycles under way finish; one more stop request abandons them.
        let mut stop2 = stop.clone();
        stop2.mark_unchanged();
        let mut requests_left = if interrupted { 1 } else { 2 };
        let mut listening = true;
        loop {
            tokio::select! {
                next = tasks.join_next() => if next.is_none() { break },
                changed = stop2.changed(), if listening => {
                    if changed.is_err() {
                        listening = false;
                        continue;
                    }
                    interrupted = true;
                    requests_left -= 1;
                    if requests_left == 0 {
                        tasks.abort_all();
                    }
                }
            }
        }
        if *stop.borrow() {
            interrupted = true;
        }
        let mut throttled = vec![None];
        if let (Some(task), Some(url)) = (reader, &self.metrics_url) {
            task.abort();
            let last = read_throttled(url, &self.tls).await;
            let mut r = std::mem::take(&mut *readings.lock().unwrap_or_else(|p| p.into_inner()));
            r.resize(self.load.phases.len(), None);
            r.push(last);
            throttled.extend(r.windows(2).map(|w| match (w[0], w[1]) {
                (Some(a), Some(b)) => Some(b - a),
                _ => None,
            }));
        }
        let rehearsal_problems = match rehearsal {
            Some(r) => r.finish().await,
            None => Vec::new(),
        };
        if let CycleKind::Phone(ctx, phones, ..) = &*kind {
            for p in phones {
                p.shut_down(ctx).await;
            }
        }
        let elapsed = start.elapsed();
        drop(kind);
        let mut recorder = match Arc::try_unwrap(recorder) {
            Ok(m) => m.into_inner().unwrap_or_else(|p| p.into_inner()),
            Err(shared) => std::mem::take(&mut *shared.lock().unwrap_or_else(|p| p.into_inner())),
        };
        recorder.late_starts += late.load(Ordering::Relaxed);
        recorder.finish();
        StormResult {
            recorder,
            started_at,
            elapsed,
            cycles: progress.started.load(Ordering::Relaxed),
            booted,
            boot_time,
            interrupted,
            throttled,
            rehearsal_problems,
        }
    }
}

/// Returns once a stop is requested (never, if nobody can ask).
async fn wait_for_stop(mut stop: watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

fn lock(recorder: &Mutex<Recorder>) -> std::sync::MutexGuard<'_, Recorder> {
    recorder.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the arrival loops share: where cycles go and how they are counted.
struct Arrivals<'a> {
    load: &'a Load,
    logout_floor: Option<Instant>,
    kind: &'a Arc<CycleKind>,
    /// Phones of the whole fleet, over every shard.
    phone_count: u64,
    shard: Shard,
    timer: &'a PreciseTimer,
    progress: &'a Arc<Progress>,
    late: &'a Arc<AtomicU64>,
    recorder: &'a Arc<Mutex<Recorder>>,
    control: Option<Arc<LiveControl>>,
    /// Cycles started so far.
    n: u64,
}

impl Arrivals<'_> {
    /// Starts cycle `n` (on phone `n mod phones`), due at `due`, in `phase`.
    /// `false` once the scenario's cycle count is reached.
    fn start(&mut self, phase: usize, due: Instant, tasks: &mut JoinSet<()>) -> bool {
        if self.load.max_cycles.is_some_and(|max| self.n >= max) {
            return false;
        }
        let global = self.n % self.phone_count;
        self.n += 1;
        if !self.shard.owns(global) {
            // Another shard's arrival: it runs it at this same due time.
            return true;
        }
        let phone = self.shard.local(global);
        self.progress.started.fetch_add(1, Ordering::Relaxed);
        lock(self.recorder).arrival(due.into_std());
        let (kind, progress, late) = (self.kind.clone(), self.progress.clone(), self.late.clone());
        let recorder = self.recorder.clone();
        let logout_floor = self.logout_floor;
        tasks.spawn(async move {
            if kind.run(phone, phase, due, logout_floor).await {
                late.fetch_add(1, Ordering::Relaxed);
            }
            progress.finished.fetch_add(1, Ordering::Relaxed);
            lock(&recorder).completion(std::time::Instant::now());
        });
        // Reap finished cycles as we go so the set stays small.
        while tasks.try_join_next().is_some() {}
        true
    }

    /// Waits for the operator's next change; never, without live control.
    async fn next_change(&self) {
        match &self.control {
            Some(c) => c.changed().await,
            None => std::future::pending().await,
        }
    }

    /// The open model: the scenario's schedule until it ends, or until an
    /// operator changes something; then [`Arrivals::live`]. `true` when
    /// stopped (Ctrl-C).
    async fn open(&mut self, mut stop: watch::Receiver<bool>, tasks: &mut JoinSet<()>) -> bool {
        let schedule_start = Instant::now();
        let end = schedule_start + self.load.duration();
        let mut phase_start = schedule_start;
        for (p, phase) in self.load.phases.iter().enumerate() {
            for k in 0.. {
                let Some(offset) = phase.arrival(k) else {
                    break;
                };
                let due = phase_start + offset;
                tokio::select! {
                    _ = self.timer.sleep_until(due) => {}
                    _ = stop.changed() => return true,
                    _ = self.next_change() => {
                        // The rate the schedule had reached, for a resume
                        // that sets none of its own.
                        let into = (Instant::now() - phase_start).as_secs_f64();
                        let share = into / phase.duration.as_secs_f64().max(1e-9);
                        let r1 = phase.to_per_s.unwrap_or(phase.rate_per_s);
                        let rate = phase.rate_per_s + (r1 - phase.rate_per_s) * share.min(1.0);
                        return self.live(rate, end, stop, tasks).await;
                    }
                }
                if !self.start(p + 1, due, tasks) {
                    return false;
                }
            }
            phase_start += phase.duration;
        }
        // The schedule lasts as long as its phases: a trailing pause (a phase
        // with no arrivals) holds the run, and the registered phones, until its end.
        tokio::select! {
            _ = self.timer.sleep_until(phase_start) => false,
            _ = stop.changed() => true,
            _ = self.next_change() => {
                let rate = self.load.phases.last().map_or(0.0, |p| p.to_per_s.unwrap_or(p.rate_per_s));
                self.live(rate, end, stop, tasks).await
            }
        }
    }

    /// Arrivals as the operator wants them, from now until `end` (a pause
    /// moves the end out by its length). Each change starts a phase.
    async fn live(
        &mut self,
        mut rate: f64,
        mut end: Instant,
        mut stop: watch::Receiver<bool>,
        tasks: &mut JoinSet<()>,
    ) -> bool {
        let Some(control) = self.control.clone() else {
            return false;
        };
        // The wishes in force and their phase: a wake-up that changed
        // nothing (two changes, one notification) starts no new phase.
        let mut in_force: Option<(crate::live::control::Wishes, usize)> = None;
        let mut changes = 0;
        let mut due = Instant::now();
        loop {
            let wishes = control.wishes();
            let now = Instant::now();
            let phase = match in_force {
                Some((w, phase)) if w == wishes => phase,
                _ => {
                    rate = wishes.rate_per_s.unwrap_or(rate);
                    // Numbered, so that a rate used twice stays two phases.
                    changes += 1;
                    let name = if wishes.paused {
                        format!("live {changes}: paused")
                    } else {
                        format!("live {changes}: {rate}/s")
                    };
                    due = now;
                    self.recorder
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .add_phase(&name, now.into_std())
                }
            };
            in_force = Some((wishes, phase));
            if wishes.paused || rate <= 0.0 {
                tokio::select! {
                    _ = stop.changed() => return true,
                    _ = control.changed() => {}
                }
                // A pause holds the run: its length moves the end out.
                if wishes.paused {
                    end += Instant::now() - now;
                }
                continue;
            }
            let interval = Duration::from_secs_f64(1.0 / rate);
            loop {
                if due >= end {
                    return false;
                }
                tokio::select! {
                    _ = self.timer.sleep_until(due) => {}
                    _ = stop.changed() => return true,
                    _ = control.changed() => break,
                }
                if !self.start(phase, due, tasks) {
                    return false;
                }
                due += interval;
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn closed_phone(
    k: usize,
    global: u64,
    logout_floor: Option<Instant>,
    kind: Arc<CycleKind>,
    load: Load,
    start: Instant,
    end: Instant,
    progress: Arc<Progress>,
    late: Arc<AtomicU64>,
    stop: watch::Receiver<bool>,
    recorder: Arc<Mutex<Recorder>>,
) {
    loop {
        let now = Instant::now();
        if now >= end || *stop.borrow() {
            return;
        }
        // Which phase is this, and does it use phone k?
        let mut phase_start = start;
        let mut current = None;
        for (p, phase) in load.phases.iter().enumerate() {
            if now < phase_start + phase.duration {
                current = Some((p, phase, phase_start + phase.duration));
                break;
            }
            phase_start += phase.duration;
        }
        let Some((p, phase, phase_end)) = current else {
            return;
        };
        if global >= phase.phones as u64 {
            // Phones a later phase adds start a moment after its edge, once
            // the server's counters have been read for the phase before.
            tokio::time::sleep_until(phase_end + PHASE_JOIN_DELAY).await;
            continue;
        }
        let n = progress.started.fetch_add(1, Ordering::Relaxed);
        if load.max_cycles.is_some_and(|max| n >= max) {
            progress.started.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        lock(&recorder).arrival(now.into_std());
        if kind.run(k, p + 1, now, logout_floor).await {
            late.fetch_add(1, Ordering::Relaxed);
        }
        progress.finished.fetch_add(1, Ordering::Relaxed);
        lock(&recorder).completion(std::time::Instant::now());
        if !load.think.is_zero() {
            tokio::time::sleep(load.think).await;
        }
    }
}

/// Boots every phone, a bounded number at a time; returns how many came up.
async fn boot(
    phones: &[Arc<VirtualPhone>],
    ctx: &Arc<PhoneContext>,
    stop: &watch::Receiver<bool>,
) -> u64 {
    let mut tasks = JoinSet::new();
    let mut up = 0;
    for phone in phones {
        if *stop.borrow() {
            break;
        }
        while tasks.len() >= BOOT_CONCURRENCY {
            if let Some(Ok(true)) = tasks.join_next().await {
                up += 1;
            }
        }
        let (phone, ctx) = (phone.clone(), ctx.clone());
        tasks.spawn(async move { phone.boot(&ctx, BOOT_PHASE).await });
    }
    while let Some(r) = tasks.join_next().await {
        if let Ok(true) = r {
            up += 1;
        }
    }
    up
}

/// One EM API cycle; true when the phone was still busy at `due`.
async fn api_cycle(
    ctx: Arc<ApiCycle>,
    phone: Arc<ApiPhone>,
    phase: usize,
    due: Instant,
    logout_floor: Option<Instant>,
) -> bool {
    let (mut connection, late) = match phone.busy.try_lock() {
        Ok(guard) => (guard, false),
        Err(_) => (phone.busy.lock().await, true),
    };
    let Wire {
        login,
        query,
        logout,
        pipelined,
    } = phone.wire.get_or_init(|| wire(&ctx, &phone)).clone();
    if ctx.pipeline {
        pipelined_cycle(&ctx, &phone, &mut connection, phase, due, &pipelined).await;
        return late;
    }
    let (reply, end) = step(
        &ctx,
        &mut connection,
        Step::Login,
        phase,
        login,
        due,
        |r| r.label(),
        &ctx.expect_login,
    )
    .await;
    let logged_in = matches!(&reply, Reply::Answer(r) if r.body == ResponseBody::Success);
    if !logged_in {
        return late;
    }
    let mut last_end = end;
    if ctx.query {
        let check = |r: &Reply| query_outcome(r, &phone.device_name, &phone.user_id);
        (_, last_end) = step(
            &ctx,
            &mut connection,
            Step::Query,
            phase,
            query,
            end,
            check,
            "success",
        )
        .await;
    }
    let logout_due = (last_end + ctx.hold).max(logout_floor.unwrap_or(last_end));
    ctx.timer.sleep_until(logout_due).await;
    step(
        &ctx,
        &mut connection,
        Step::Logout,
        phase,
        logout,
        logout_due,
        |r| r.label(),
        &ctx.expect_logout,
    )
    .await;
    late
}

/// One cycle with its requests pipelined: login, (query,) logout written
/// at once, each answer checked in order and timed from that one write,
/// as wrk times a pipeline. After a failed login the rest are not
/// recorded, as an unpipelined phone would not have sent them.
async fn pipelined_cycle(
    ctx: &ApiCycle,
    phone: &ApiPhone,
    connection: &mut Option<EmConnection>,
    phase: usize,
    due: Instant,
    requests: &[u8],
) {
    let steps: &[Step] = if ctx.query {
        &[Step::Login, Step::Query, Step::Logout]
    } else {
        &[Step::Login, Step::Logout]
    };
    let sent = Instant::now();
    let mut next = steps.iter();
    let mut logged_in = true;
    let each = |reply: Reply, end: std::time::Instant| {
        let Some(&step) = next.next() else { return };
        if !logged_in {
            return;
        }
        let (label, expected) = match step {
            Step::Login => (reply.label(), ctx.expect_login.as_str()),
            Step::Query => (
                query_outcome(&reply, &phone.device_name, &phone.user_id),
                "success",
            ),
            _ => (reply.label(), ctx.expect_logout.as_str()),
        };
        record(
            ctx,
            step,
            phase,
            due,
            sent,
            Instant::from_std(end),
            &label,
            expected,
        );
        if step == Step::Login {
            logged_in = matches!(&reply, Reply::Answer(r) if r.body == ResponseBody::Success);
        }
    };
    ctx.client
        .send_pipelined(connection, requests, steps.len(), each)
        .await;
}

/// A phone's login, deviceUserQuery and logout as they go on the wire.
#[derive(Clone)]
struct Wire {
    login: bytes::Bytes,
    query: bytes::Bytes,
    logout: bytes::Bytes,
    /// With [`ApiCycle::pipeline`], the whole cycle's requests back to back
    /// (the query only when the load asks for it); else empty.
    pipelined: bytes::Bytes,
}

fn wire(ctx: &ApiCycle, phone: &ApiPhone) -> Wire {
    let mut bodies = form_bodies(&ctx.client.app, &phone.device_name, &phone.user_id);
    if ctx.own_connections {
        // `own_connections` is only set where the client builds whole requests.
        bodies = bodies.map(|b| ctx.client.request_bytes(&b).unwrap_or(b));
    }
    let [login, query, logout] = bodies;
    let pipelined = if ctx.pipeline {
        let sent: &[&bytes::Bytes] = if ctx.query {
            &[&login, &query, &logout]
        } else {
            &[&login, &logout]
        };
        bytes::Bytes::from(
            sent.iter()
                .flat_map(|b| b.iter().copied())
                .collect::<Vec<u8>>(),
        )
    } else {
        bytes::Bytes::new()
    };
    Wire {
        login,
        query,
        logout,
        pipelined,
    }
}

/// A phone's login, deviceUserQuery and logout, as EM API form bodies
/// (also what `emlab-goose` posts).
pub fn form_bodies(app: &AppInfo, device_name: &str, user_id: &str) -> [bytes::Bytes; 3] {
    let login = Message::Request(Request::new(
        app.clone(),
        Operation::Login(Login {
            device_name: device_name.to_string(),
            user_id: user_id.to_string(),
            ..Login::default()
        }),
    ));
    let query = Message::Query(Query::new(
        app.clone(),
        QueryKind::DeviceUser(DeviceUserQuery {
            device_names: vec![device_name.to_string()],
            ..Default::default()
        }),
    ));
    let logout = Message::Request(Request::new(
        app.clone(),
        Operation::Logout(Logout {
            device_name: device_name.to_string(),
            ..Logout::default()
        }),
    ));
    [&login, &query, &logout].map(EmClient::body_of)
}

/// Sends one step due at `due`, records it, and returns the reply and when it ended.
#[allow(clippy::too_many_arguments)]
async fn step(
    ctx: &ApiCycle,
    connection: &mut Option<EmConnection>,
    step: Step,
    phase: usize,
    message: bytes::Bytes,
    due: Instant,
    outcome: impl Fn(&Reply) -> String,
    expected: &str,
) -> (Reply, Instant) {
    let sent = Instant::now();
    let reply = if ctx.own_connections {
        ctx.client.send_raw(connection, &message).await
    } else {
        ctx.client.send_body(message).await
    };
    let end = Instant::now();
    record(ctx, step, phase, due, sent, end, &outcome(&reply), expected);
    (reply, end)
}

/// Records one answered step: its latency from `due` and from `sent`.
#[allow(clippy::too_many_arguments)]
fn record(
    ctx: &ApiCycle,
    step: Step,
    phase: usize,
    due: Instant,
    sent: Instant,
    end: Instant,
    label: &str,
    expected: &str,
) {
    ctx.recorder
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .record(
            step,
            phase,
            end.saturating_duration_since(due),
            end - sent,
            label,
            expected,
            end.into_std(),
        );
}

/// A deviceUserQuery's outcome: `success` when the server reports `user_id`
/// on `device_name`; otherwise what it reported (`user:bob`, `none`, ...).
pub fn query_outcome(reply: &Reply, device_name: &str, user_id: &str) -> String {
    let Reply::Answer(response) = reply else {
        return reply.label();
    };
    match &response.body {
        ResponseBody::DeviceUserResults(r) => {
            match r.devices.iter().find(|d| d.name == device_name) {
                Some(d) => match &d.user {
                    DeviceUser::User(u) if *u == user_id => "success".into(),
                    DeviceUser::User(u) => format!("user:{u}"),
                    DeviceUser::Nobody => "none".into(),
                    DeviceUser::DoesNotExist => "doesNotExist".into(),
                },
                None => "device-missing".into(),
            }
        }
        ResponseBody::Failure(f) => f.error.code.to_string(),
        _ => "wrong-result-type".into(),
    }
}

/// `em_requests_throttled_total` from a Prometheus text page.
async fn read_throttled(url: &str, tls: &crate::phone::http::ClientTls) -> Option<f64> {
    let local = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    let crate::phone::http::Fetched::Ok { status: 200, body } =
        crate::phone::http::get(local, url, &[], Duration::from_secs(2), tls).await
    else {
        return None;
    };
    crate::phone::http::throttled_total(std::str::from_utf8(&body).ok()?)
}
