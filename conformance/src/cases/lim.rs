//! LIM: limits and the service's availability.

use super::phone_ip;
use crate::case::{Stop, expect, expect_eq};
use crate::probe::Probe;
use crate::roles::*;
use emlab_simulator::phone::http::Fetched;
use std::sync::Arc;

pub async fn over_the_limit_gets_26_and_counts_throttled(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    let devices: Vec<(String, String)> = p
        .target
        .lab
        .fleet_members()
        .skip(100)
        .take(60)
        .map(|m| (m.device_name, m.user_id))
        .collect();
    if devices.len() < 20 {
        return Err(crate::case::skip(
            "needs a [fleet] of at least 120 phones (60 beyond the first 100 log in at once)",
        ));
    }
    let refs: Vec<&str> = devices.iter().map(|(d, _)| d.as_str()).collect();
    p.clear(&refs).await;
    p.set_params(r#"{"max_concurrent_requests": 1}"#).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for (d, u) in &devices {
        let (p, d, u) = (p.clone(), d.clone(), u.clone());
        tasks.spawn(async move { p.login(&d, &u).await });
    }
    let mut busy = 0;
    while let Some(r) = tasks.join_next().await {
        if r.map(|l| l == "26").unwrap_or(false) {
            busy += 1;
        }
    }
    p.set_params(r#"{"max_concurrent_requests": 1000}"#).await?;
    p.clear(&refs).await;
    // A reference server started with `operation_time_ms = 0` may finish
    // each login before the next arrives, so nothing ever overlaps; that
    // says nothing about the limit. (Real servers always take time.)
    if busy == 0 && p.target.lab.file.server.operation_time_ms == 0 {
        return Err(crate::case::skip(
            "no two logins overlapped: the lab's [server] operation_time_ms = 0 lets each finish first (set it to 5)",
        ));
    }
    expect(
        busy > 0,
        "error 26 for logins beyond Maximum Concurrent Requests = 1",
        format!("no 26 among {} simultaneous logins", devices.len()),
    )?;
    let m = p.metrics().await?;
    let throttled = emlab_simulator::phone::http::throttled_total(&m).unwrap_or(0.0);
    expect(
        throttled >= busy as f64,
        format!("em_requests_throttled_total >= {busy}"),
        format!("{throttled}"),
    )
}

pub async fn a_stopped_service_answers_503(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    let d1 = p.role(PHONE)?;
    p.lab_post("em-service", r#"{"running": false}"#).await?;
    let f = p.phone_get(phone_ip(30), &format!("device={d1}")).await;
    p.lab_post("em-service", r#"{"running": true}"#).await?;
    let status = match f {
        Fetched::Ok { status, .. } => status.to_string(),
        other => other.failure_label(),
    };
    expect_eq(
        "HTTP status with the EM service stopped",
        status.as_str(),
        "503",
    )
}

pub async fn cache_size_stays_in_range(p: Arc<Probe>) -> Result<(), Stop> {
    let status = p
        .lab_post("service-parameters", r#"{"cache_size": 500}"#)
        .await?;
    expect(
        status != 200,
        "Extension Mobility Cache Size 500 refused (1000..20000)",
        format!("HTTP {status}"),
    )
}
