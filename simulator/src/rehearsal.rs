//! Rehearsals: a scenario phase with `troubleshooting = "clock-skew"` has
//! the server play that cause for the length of the phase, through lab
//! control (`POST /lab/troubleshooting`, PROTOCOL.md §8), so the fleet
//! meets its symptom and its report names the cause (TRBL-1..4).
//!
//! The server's timers run on its lab clock. A compressed scenario
//! (`time_scale = 60`) would meet a 5-minute timer after 5 real minutes,
//! so while a rehearsal runs the lab clock is kept at the scenario's pace:
//! every [`PACE`] it moves forward by the time the compression skipped.

use crate::phone::http::{self, ClientTls, Fetched, HeaderName, HeaderValue, Method};
use crate::scenario::Load;
use emlab_protocol::troubleshooting::Cause;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How often the lab clock is moved on.
const PACE: Duration = Duration::from_millis(250);

/// How long before its phase ends a cause stops playing.
const GUARD: Duration = Duration::from_millis(200);

/// How long one lab-control request may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Where the target's lab control is, and what its TLS is trusted with.
#[derive(Clone)]
pub struct LabControl {
    /// Base URL, e.g. `http://127.0.0.1:8080`; requests go to `/lab/...`.
    pub base: String,
    pub tls: ClientTls,
}

impl LabControl {
    /// `POST /lab/<path>` with a JSON body; an error names what failed.
    async fn post(&self, path: &str, json: String) -> Result<(), String> {
        let url = format!("{}/lab/{path}", self.base.trim_end_matches('/'));
        let json_type = [(
            HeaderName::from_static("content-type"),
            HeaderValue::from_static("application/json"),
        )];
        match http::request(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            Method::POST,
            &url,
            &json_type,
            json.clone().into(),
            TIMEOUT,
            &self.tls,
        )
        .await
        {
            Fetched::Ok { status: 200, .. } => Ok(()),
            Fetched::Ok { status, body } => Err(format!(
                "POST {url} {json}: HTTP {status} {}",
                String::from_utf8_lossy(&body).trim()
            )),
            other => Err(format!("POST {url} {json}: {}", other.failure_label())),
        }
    }

    /// Has the server play `cause`, or stop playing it.
    pub async fn play(&self, cause: Cause, on: bool) -> Result<(), String> {
        let body = format!(r#"{{"cause": "{}", "on": {on}}}"#, cause.name());
        self.post("troubleshooting", body).await
    }

    /// Moves the server's lab clock forward.
    pub async fn advance_clock(&self, seconds: u64) -> Result<(), String> {
        self.post("clock/advance", format!(r#"{{"seconds": {seconds}}}"#))
            .await
    }
}

/// The rehearsal of one run: started with the schedule, stopped after it.
pub struct Rehearsal {
    task: JoinHandle<()>,
    lab: LabControl,
    causes: Vec<Cause>,
    problems: Arc<Mutex<Vec<String>>>,
}

impl Rehearsal {
    /// Plays each phase's cause from its start to its end, and keeps the
    /// lab clock at the load's time scale, from `schedule_start` on.
    pub fn start(lab: LabControl, load: &Load, schedule_start: Instant) -> Rehearsal {
        let problems = Arc::new(Mutex::new(Vec::new()));
        // Each cause plays from its phase's start until just before its
        // end, so a request sent in the next phase never meets it.
        let mut edges = Vec::new();
        let mut t = schedule_start;
        for p in &load.phases {
            if let Some(cause) = p.troubleshooting {
                edges.push((t, Some(cause)));
                edges.push((t + p.duration - GUARD.min(p.duration / 10), None));
            }
            t += p.duration;
        }
        let causes: Vec<Cause> = load
            .phases
            .iter()
            .filter_map(|p| p.troubleshooting)
            .collect();
        let task = tokio::spawn(rehearse(
            lab.clone(),
            edges,
            load.time_scale,
            problems.clone(),
        ));
        Rehearsal {
            task,
            lab,
            causes,
            problems,
        }
    }

    /// Stops the clock, switches every rehearsed cause off, and returns
    /// what lab control refused on the way (each one line).
    pub async fn finish(self) -> Vec<String> {
        self.task.abort();
        let _ = self.task.await;
        let mut problems =
            std::mem::take(&mut *self.problems.lock().unwrap_or_else(|p| p.into_inner()));
        for cause in self.causes {
            if let Err(e) = self.lab.play(cause, false).await {
                problems.push(e);
            }
        }
        problems.dedup();
        problems
    }
}

async fn rehearse(
    lab: LabControl,
    edges: Vec<(Instant, Option<Cause>)>,
    time_scale: f64,
    problems: Arc<Mutex<Vec<String>>>,
) {
    let report = |e: String| problems.lock().unwrap_or_else(|p| p.into_inner()).push(e);
    let mut playing: Option<Cause> = None;
    let mut edges = edges.into_iter().peekable();
    let mut ticks = tokio::time::interval(PACE);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Server seconds the compression skipped and the clock has not yet taken.
    let mut owed = 0.0;
    loop {
        let next_edge = edges.peek().map(|&(at, _)| at);
        tokio::select! {
            _ = ticks.tick(), if time_scale > 1.0 => {
                owed += PACE.as_secs_f64() * (time_scale - 1.0);
                let whole = owed.floor();
                if whole >= 1.0 {
                    owed -= whole;
                    if let Err(e) = lab.advance_clock(whole as u64).await {
                        report(e);
                    }
                }
            }
            _ = tokio::time::sleep_until(next_edge.unwrap_or_else(Instant::now)), if next_edge.is_some() => {
                let Some((_, cause)) = edges.next() else { continue };
                if playing != cause {
                    if let Some(old) = playing.take()
                        && let Err(e) = lab.play(old, false).await
                    {
                        report(e);
                    }
                    if let Some(new) = cause {
                        match lab.play(new, true).await {
                            Ok(()) => playing = Some(new),
                            Err(e) => report(e),
                        }
                    }
                }
            }
            else => return,
        }
    }
}
