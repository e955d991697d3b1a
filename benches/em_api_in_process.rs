//! EM API logins + logouts per second through the real router, in process:
//! the same axum routes, extractors, XML and session work as on the wire,
//! without sockets. Compare with `bench/em-api-throughput.sh` (over TCP,
//! with wrk) to see what the network path costs.
//!
//!     cargo bench --bench em_api_in_process
//!
//! Two tasks on the two-worker runtime, each alternating login and logout of
//! its own 500 fleet phones; every answer must be `<success/>`.

use axum::body::Body;
use axum::extract::ConnectInfo;
use emlab_protocol::em_api::{self, AppInfo, Login, Logout, Message, Operation, Request};
use emlab_protocol::lab::Lab;
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tower::ServiceExt;

const OPS_PER_TASK: u64 = 100_000;

fn body(op: Operation) -> String {
    em_api::form_body(&Message::Request(Request::new(AppInfo::new("emlab", "emlab"), op)).to_xml())
}

async fn run_task(router: axum::Router, first: u64) {
    let peer = SocketAddr::from(([127, 0, 0, 1], 40000));
    for step in 0..OPS_PER_TASK {
        let i = first + (step / 2) % 500;
        let device = format!("SEP{:012X}", 0x0E00_0000_0000u64 + i);
        let op = if step % 2 == 0 {
            Operation::Login(Login {
                device_name: device,
                user_id: format!("user{i:05}"),
                ..Login::default()
            })
        } else {
            Operation::Logout(Logout {
                device_name: device,
                ..Logout::default()
            })
        };
        let mut request = axum::http::Request::post(em_api::EM_API_PATH)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body(op)))
            .expect("a valid request");
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = router
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a body")
            .to_bytes();
        assert_eq!(
            &bytes[..],
            b"<response><success/></response>",
            "step {step}"
        );
    }
}

fn main() {
    let lab_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/storm-lab.toml");
    let lab = Lab::load(&lab_path).expect("the storm lab loads");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let state = Arc::new(emlab_server::io::server::Server::new(
            &lab,
            Default::default(),
        ));
        let router = emlab_server::io::http::router(state, false);
        // Warm up, then measure.
        run_task(router.clone(), 5000).await;
        let start = Instant::now();
        let tasks: Vec<_> = (0..2)
            .map(|k| tokio::spawn(run_task(router.clone(), k * 500)))
            .collect();
        for t in tasks {
            t.await.expect("a task finishes");
        }
        let secs = start.elapsed().as_secs_f64();
        let ops = 2 * OPS_PER_TASK;
        println!(
            "EM API in process: {ops} logins+logouts in {secs:.2} s = {:.0} ops/s",
            ops as f64 / secs
        );
    });
}
