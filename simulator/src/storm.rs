//! `LoginStorm`: the open-model load engine.
//!
//! Cycles *arrive* on a fixed schedule, `rate` per second, whatever the
//! server does: cycle k is due at `start + k / rate`. Each cycle takes the
//! next virtual phone (round-robin) and runs login → (query) → hold →
//! logout. Every step's latency is measured from the moment it was due,
//! not from when it was finally sent, so a server that falls behind shows
//! its whole queueing delay (no coordinated omission). A phone still busy
//! with its previous cycle makes the new one wait, and that wait counts too.

use crate::em_client::{EmClient, Reply};
use crate::recorder::{Recorder, Step};
use crate::scenario::{Expected, Load};
use crate::timer::PreciseTimer;
use emlab_protocol::em_api::{
    DeviceUser, DeviceUserQuery, Login, Logout, Message, Operation, Query, QueryKind, Request,
    ResponseBody,
};
use emlab_protocol::lab::FleetMember;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// One virtual phone with the user who logs in on it.
pub struct VirtualPhone {
    pub device_name: String,
    pub user_id: String,
    /// Held for the length of a cycle; the next cycle waits for it.
    busy: tokio::sync::Mutex<()>,
}

impl VirtualPhone {
    pub fn new(device_name: impl Into<String>, user_id: impl Into<String>) -> Self {
        VirtualPhone {
            device_name: device_name.into(),
            user_id: user_id.into(),
            busy: tokio::sync::Mutex::new(()),
        }
    }

    pub fn from_member(m: &FleetMember) -> Self {
        Self::new(m.device_name.clone(), m.user_id.clone())
    }
}

pub struct LoginStorm {
    pub phones: Vec<Arc<VirtualPhone>>,
    pub load: Load,
    pub expect_login: Expected,
    pub expect_logout: Expected,
}

/// What a storm produced.
pub struct StormResult {
    pub recorder: Recorder,
    pub started_at: SystemTime,
    /// From the first arrival to the end of the last step.
    pub elapsed: Duration,
    pub cycles: u64,
}

struct Cycle {
    client: EmClient,
    timer: PreciseTimer,
    recorder: Mutex<Recorder>,
    hold: Duration,
    query: bool,
    expect_login: String,
    expect_logout: String,
}

impl LoginStorm {
    pub async fn run(&self, client: EmClient) -> StormResult {
        let timer = PreciseTimer::start();
        let ctx = Arc::new(Cycle {
            client,
            timer: timer.clone(),
            recorder: Mutex::new(Recorder::default()),
            hold: self.load.hold,
            query: self.load.query,
            expect_login: self.expect_login.to_string(),
            expect_logout: self.expect_logout.to_string(),
        });
        // No phone, nothing to schedule (the CLI refuses `phones = 0` earlier).
        let cycles = if self.phones.is_empty() {
            0
        } else {
            self.load.cycles()
        };
        let interval = 1.0 / self.load.rate_per_s;
        let started_at = SystemTime::now();
        let start = Instant::now();
        let mut tasks = JoinSet::new();
        for k in 0..cycles {
            let due = start + Duration::from_secs_f64(k as f64 * interval);
            timer.sleep_until(due).await;
            let phone = self.phones[(k % self.phones.len() as u64) as usize].clone();
            tasks.spawn(run_cycle(ctx.clone(), phone, due));
            // Reap finished cycles as we go so the set stays small.
            while tasks.try_join_next().is_some() {}
        }
        while tasks.join_next().await.is_some() {}
        let elapsed = start.elapsed();
        let recorder = match Arc::try_unwrap(ctx) {
            Ok(c) => c.recorder.into_inner().unwrap_or_else(|p| p.into_inner()),
            // Every task has finished, so this is the only reference left.
            Err(c) => std::mem::take(&mut *c.recorder.lock().unwrap_or_else(|p| p.into_inner())),
        };
        StormResult {
            recorder,
            started_at,
            elapsed,
            cycles,
        }
    }
}

async fn run_cycle(ctx: Arc<Cycle>, phone: Arc<VirtualPhone>, due: Instant) {
    let _busy = match phone.busy.try_lock() {
        Ok(guard) => guard,
        Err(_) => {
            ctx.recorder
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .late_starts += 1;
            phone.busy.lock().await
        }
    };
    let app = ctx.client.app.clone();
    let login = Message::Request(Request::new(
        app.clone(),
        Operation::Login(Login {
            device_name: phone.device_name.clone(),
            user_id: phone.user_id.clone(),
            ..Login::default()
        }),
    ));
    let (reply, end) = step(
        &ctx,
        Step::Login,
        &login,
        due,
        |r| r.label(),
        &ctx.expect_login,
    )
    .await;
    let logged_in = matches!(&reply, Reply::Answer(r) if r.body == ResponseBody::Success);
    if !logged_in {
        return;
    }
    let mut last_end = end;
    if ctx.query {
        let query = Message::Query(Query::new(
            app.clone(),
            QueryKind::DeviceUser(DeviceUserQuery {
                device_names: vec![phone.device_name.clone()],
                ..Default::default()
            }),
        ));
        let check = |r: &Reply| query_outcome(r, &phone);
        (_, last_end) = step(&ctx, Step::Query, &query, end, check, "success").await;
    }
    let logout_due = last_end + ctx.hold;
    ctx.timer.sleep_until(logout_due).await;
    let logout = Message::Request(Request::new(
        app,
        Operation::Logout(Logout {
            device_name: phone.device_name.clone(),
            ..Logout::default()
        }),
    ));
    step(
        &ctx,
        Step::Logout,
        &logout,
        logout_due,
        |r| r.label(),
        &ctx.expect_logout,
    )
    .await;
}

/// Sends one step due at `due`, records it, and returns the reply and when it ended.
async fn step(
    ctx: &Cycle,
    step: Step,
    message: &Message,
    due: Instant,
    outcome: impl Fn(&Reply) -> String,
    expected: &str,
) -> (Reply, Instant) {
    let sent = Instant::now();
    let reply = ctx.client.send(message).await;
    let end = Instant::now();
    let label = outcome(&reply);
    ctx.recorder
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .record(
            step,
            end.saturating_duration_since(due),
            end - sent,
            &label,
            expected,
        );
    (reply, end)
}

/// `success` when the server reports our user on our device; otherwise what it reported.
fn query_outcome(reply: &Reply, phone: &VirtualPhone) -> String {
    let Reply::Answer(response) = reply else {
        return reply.label();
    };
    match &response.body {
        ResponseBody::DeviceUserResults(r) => {
            match r.devices.iter().find(|d| d.name == phone.device_name) {
                Some(d) => match &d.user {
                    DeviceUser::User(u) if *u == phone.user_id => "success".into(),
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
