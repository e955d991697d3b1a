//! `emlab demo`'s director: while the fleet logs in and out, it plays the
//! cases an audience wants to see, one every few seconds, on three
//! front-desk phones of the demo lab. Each phone's tile shows the screen
//! the server really sent, and each case leaves a line in the page's
//! event list:
//!
//! 1. a wrong PIN: `[201]-Authentication Error`;
//! 2. a user who is on one phone logs in on another: `[25]-...`;
//! 3. a burst of logins over Maximum Concurrent Requests: some get 26, and
//!    the server's Requests Throttled chart jumps;
//! 4. an automatic logout: a user with a 10-minute maximum login time logs
//!    in, the lab clock moves 11 minutes, and the phone is back at the
//!    login prompt.
//!
//! (Locale and module changes, a restart then a reset, happen all the time
//! in the fleet itself: its users' profiles differ from their phones.)

use super::board::PhoneBoard;
use super::feed::LiveRun;
use crate::em_client::EmClient;
use crate::phone::http::{self, Fetched};
use crate::phone::{Endpoints, PhoneState};
use crate::rehearsal::LabControl;
use emlab_protocol::config_file::DeviceConfig;
use emlab_protocol::em_api::{AppInfo, Login, Logout, Message, Operation, Request};
use emlab_protocol::phone_xml::{EM_SERVICE_PATH, PhoneObject};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

/// The front desk: three phones of the demo lab and their tiles.
pub struct Desk {
    /// `(device, tile index)`.
    pub phones: [(String, u32); 3],
    /// Users on the front desk: one with a locale of her own, one with a
    /// 10-minute maximum login time.
    pub ana: (String, String),
    pub ben: (String, String),
    /// Devices and users the burst logs in all at once.
    pub burst: Vec<(String, String)>,
}

const PAUSE: Duration = Duration::from_secs(3);

struct Director {
    endpoints: Endpoints,
    board: Arc<PhoneBoard>,
    run: Arc<LiveRun>,
    client: EmClient,
    lab_control: LabControl,
}

/// Plays the cases in turn until the task is aborted.
pub async fn direct(endpoints: Endpoints, app: AppInfo, run: Arc<LiveRun>, desk: Desk) {
    let Some(board) = run.board.clone() else {
        return;
    };
    let Ok(client) = EmClient::with_tls(
        &endpoints.em_base,
        app,
        Duration::from_secs(5),
        &endpoints.tls,
    ) else {
        return;
    };
    let d = Director {
        lab_control: LabControl {
            base: endpoints.em_base.clone(),
            tls: endpoints.tls.clone(),
        },
        endpoints,
        board,
        run,
        client,
    };
    for (i, (_, tile)) in desk.phones.iter().enumerate() {
        let device = &desk.phones[i].0;
        d.board.state(*tile, PhoneState::Idle);
        d.phone_screen(*tile, device, "").await;
    }
    loop {
        d.wrong_pin(&desk).await;
        tokio::time::sleep(PAUSE).await;
        d.second_device(&desk).await;
        tokio::time::sleep(PAUSE).await;
        d.burst(&desk).await;
        tokio::time::sleep(PAUSE).await;
        d.automatic_logout(&desk).await;
        tokio::time::sleep(PAUSE).await;
    }
}

/// Each front-desk phone asks from its own address, 127.13.0.N.
fn desk_ip(tile: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 13, 0, (tile % 250) as u8 + 1))
}

impl Director {
    /// The phone service's answer to `query` on `device`, put on its tile.
    async fn phone_screen(&self, tile: u32, device: &str, query: &str) -> Option<PhoneObject> {
        let url = format!(
            "{}{EM_SERVICE_PATH}?device={device}{query}",
            self.endpoints.em_base.trim_end_matches('/')
        );
        let fetched = http::get(
            desk_ip(tile),
            &url,
            &[],
            Duration::from_secs(5),
            &self.endpoints.tls,
        )
        .await;
        let object = match fetched {
            Fetched::Ok { status: 200, body } => {
                PhoneObject::from_xml(&String::from_utf8_lossy(&body)).ok()
            }
            _ => None,
        };
        if let Some(o) = &object {
            self.board.screen(tile, o);
        }
        object
    }

    /// The configuration the phone now runs, for its line keys and user.
    async fn refresh(&self, tile: u32, device: &str) {
        let url = format!(
            "{}/{device}.cnf.xml",
            self.endpoints.config_base.trim_end_matches('/')
        );
        if let Fetched::Ok { status: 200, body } = http::get(
            desk_ip(tile),
            &url,
            &[],
            Duration::from_secs(5),
            &self.endpoints.tls,
        )
        .await
            && let Ok(config) = DeviceConfig::from_xml(&String::from_utf8_lossy(&body))
        {
            let logged_in = !config.login_user_id.is_empty();
            self.board.config(tile, &config);
            self.board.state(
                tile,
                if logged_in {
                    PhoneState::LoggedIn
                } else {
                    PhoneState::Idle
                },
            );
        }
    }

    fn say(&self, line: String) {
        self.run.note(line);
    }

    async fn login(&self, tile: u32, device: &str, user: &(String, String)) -> String {
        let shown = self
            .phone_screen(tile, device, &format!("&userid={}&seq={}", user.0, user.1))
            .await;
        self.refresh(tile, device).await;
        shown.map_or("no answer".into(), |o| o.to_string())
    }

    async fn logout(&self, tile: u32, device: &str) {
        self.phone_screen(tile, device, "&doLogout=true").await;
        self.refresh(tile, device).await;
    }

    async fn wrong_pin(&self, desk: &Desk) {
        let (device, tile) = &desk.phones[0];
        let shown = self
            .phone_screen(*tile, device, &format!("&userid={}&seq=00000", desk.ana.0))
            .await;
        self.say(format!(
            "wrong PIN for {} on {device}: {}",
            desk.ana.0,
            shown.map_or("no answer".into(), |o| o.to_string())
        ));
    }

    async fn second_device(&self, desk: &Desk) {
        let ((first, t1), (second, t2)) = (&desk.phones[0], &desk.phones[1]);
        let one = self.login(*t1, first, &desk.ana).await;
        self.say(format!("{} logs in on {first}: {one}", desk.ana.0));
        tokio::time::sleep(PAUSE).await;
        let two = self.login(*t2, second, &desk.ana).await;
        self.say(format!("{} tries {second} too: {two}", desk.ana.0));
        tokio::time::sleep(PAUSE).await;
        self.logout(*t1, first).await;
        self.say(format!("{} logs out of {first}", desk.ana.0));
    }

    async fn burst(&self, desk: &Desk) {
        let mut tasks = tokio::task::JoinSet::new();
        for (device, user) in &desk.burst {
            let message = Message::Request(Request::new(
                self.client.app.clone(),
                Operation::Login(Login {
                    device_name: device.clone(),
                    user_id: user.clone(),
                    ..Login::default()
                }),
            ));
            let client = self.client.clone();
            let device = device.clone();
            tasks.spawn(async move { (device, client.send(&message).await.label()) });
        }
        let mut busy = 0;
        let mut in_ = Vec::new();
        while let Some(Ok((device, label))) = tasks.join_next().await {
            match label.as_str() {
                "26" => busy += 1,
                "success" => in_.push(device),
                _ => {}
            }
        }
        self.say(format!(
            "a burst of {} logins at once (Maximum Concurrent Requests 4): {busy} × [26]-Busy Please Try Again",
            desk.burst.len()
        ));
        for device in in_ {
            let logout = Message::Request(Request::new(
                self.client.app.clone(),
                Operation::Logout(Logout {
                    device_name: device,
                    ..Logout::default()
                }),
            ));
            let _ = self.client.send(&logout).await;
        }
    }

    async fn automatic_logout(&self, desk: &Desk) {
        let (device, tile) = &desk.phones[2];
        let shown = self.login(*tile, device, &desk.ben).await;
        self.say(format!(
            "{} logs in on {device} for 10 minutes at most: {shown}",
            desk.ben.0
        ));
        tokio::time::sleep(PAUSE).await;
        let moved = self.lab_control.advance_clock(660).await;
        let back = self.phone_screen(*tile, device, "").await;
        self.refresh(*tile, device).await;
        self.say(format!(
            "the lab clock moves 11 minutes ({}): {device} shows {}",
            match moved {
                Ok(()) => "ok".to_string(),
                Err(e) => e,
            },
            back.map_or("nothing".into(), |o| o.to_string())
        ));
    }
}
