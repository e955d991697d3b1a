//! The dashboard's HTTP side, on loopback by default:
//!
//! | request | answer |
//! |---|---|
//! | `GET /` | the page: one self-contained HTML file, no CDN, no fonts |
//! | `GET /events` | Server-Sent Events: one JSON update a second (the same for every viewer) |
//! | `GET /api/state` | the latest update |
//! | `GET /api/phones/{device}` | that phone's tile and its recent steps |
//! | `POST /api/control` | `{"action": "pause"}`, `{"action": "resume"}` or `{"rate": "300/s"}` |
//! | `GET /report.html` | the run's report as it stands, self-contained |
//!
//! A bad control request is 400 with the reason; a control the run cannot
//! take (a rate for the closed model) is 409.

use super::feed::LiveRun;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The page: markup, style and script in one file.
const PAGE: &str = include_str!("page.html");

struct Shared {
    run: Arc<LiveRun>,
    /// The latest update as JSON, made once a second for every viewer.
    latest: watch::Receiver<Arc<String>>,
}

/// A started dashboard; dropping it stops nothing, [`Dashboard::stop`] does.
pub struct Dashboard {
    pub addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Dashboard {
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Listens on `addr` and refreshes the update once a second.
pub async fn start(addr: SocketAddr, run: Arc<LiveRun>) -> std::io::Result<Dashboard> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr} for the dashboard: {e}"),
        )
    })?;
    let addr = listener.local_addr()?;
    let first = Arc::new(serde_json::to_string(&run.update()).unwrap_or_default());
    let (tx, latest) = watch::channel(first);
    let sampler_run = run.clone();
    let sampler = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            sampler_run.sample().await;
            let json = serde_json::to_string(&sampler_run.update()).unwrap_or_default();
            if tx.send(Arc::new(json)).is_err() {
                return;
            }
        }
    });
    let shared = Arc::new(Shared { run, latest });
    let app = Router::new()
        .route("/", get(page))
        .route("/events", get(events))
        .route("/api/state", get(state))
        .route("/api/phones/{device}", get(phone))
        .route("/api/control", post(control))
        .route("/report.html", get(report))
        .with_state(shared);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Dashboard {
        addr,
        tasks: vec![sampler, server],
    })
}

async fn page() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response()
}

async fn events(State(s): State<Arc<Shared>>) -> Response {
    let rx = s.latest.clone();
    let stream = futures_util::stream::unfold((rx, true), |(mut rx, first)| async move {
        // The current update at once, then each new one.
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let json = rx.borrow_and_update().clone();
        Some((
            Ok::<_, std::convert::Infallible>(Event::default().data(json.as_str())),
            (rx, false),
        ))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

async fn state(State(s): State<Arc<Shared>>) -> Response {
    let json = s.latest.borrow().clone();
    (
        [(header::CONTENT_TYPE, "application/json")],
        json.as_str().to_owned(),
    )
        .into_response()
}

async fn phone(State(s): State<Arc<Shared>>, Path(device): Path<String>) -> Response {
    match s.run.board.as_ref().and_then(|b| b.find(&device)) {
        Some((tile, history)) => Json(json!({ "tile": tile, "history": history })).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no phone `{device}` on this run's board") })),
        )
            .into_response(),
    }
}

fn refused(status: StatusCode, why: impl Into<String>) -> Response {
    (status, Json(json!({ "error": why.into() }))).into_response()
}

async fn control(State(s): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return refused(
            StatusCode::BAD_REQUEST,
            r#"expected JSON: {"action": "pause"}, {"action": "resume"} or {"rate": "300/s"}"#,
        );
    };
    if s.run.scenario.load.model != crate::scenario::Model::Open {
        return refused(
            StatusCode::CONFLICT,
            "the closed model has no arrival schedule to pause or re-rate",
        );
    }
    let control = &s.run.control;
    match (
        request.get("action").and_then(|a| a.as_str()),
        request.get("rate"),
    ) {
        (Some("pause"), None) => control.pause(),
        (Some("resume"), None) => control.resume(),
        (None, Some(rate)) => {
            let per_s = match rate {
                serde_json::Value::Number(n) => n.as_f64().ok_or("not a number".to_string()),
                serde_json::Value::String(text) => crate::units::parse_rate(text),
                _ => Err("a rate is a number or a text like \"300/s\"".to_string()),
            };
            match per_s.and_then(|r| control.set_rate(r)) {
                Ok(()) => {}
                Err(why) => return refused(StatusCode::BAD_REQUEST, format!("rate: {why}")),
            }
        }
        (Some(other), None) => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!("unknown action `{other}`: pause or resume"),
            );
        }
        _ => {
            return refused(
                StatusCode::BAD_REQUEST,
                r#"expected one of {"action": "pause"}, {"action": "resume"}, {"rate": "300/s"}"#,
            );
        }
    }
    Json(json!({ "control": control.wishes() })).into_response()
}

async fn report(State(s): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        s.run.report_html(),
    )
        .into_response()
}
