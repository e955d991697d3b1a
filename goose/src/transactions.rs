//! The three EM transactions and the session each goose user keeps.

use bytes::Bytes;
use emlab_protocol::em_api::{AppInfo, EM_API_PATH, ResponseBody};
use emlab_simulator::em_client::{Reply, answer};
use emlab_simulator::recorder::{Recorder, Step, matches_expected};
use emlab_simulator::storm::{form_bodies, query_outcome};
use goose::goose::GooseResponse;
use goose::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One goose user's phone: a device and the user who logs in on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmUser {
    pub device_name: String,
    pub user_id: String,
}

/// What the EM transactions send and expect.
pub struct EmTransactions {
    pub app: AppInfo,
    /// Goose user k takes `users[k % len]`.
    pub users: Vec<EmUser>,
    /// Run the deviceUserQuery transaction after each login.
    pub query: bool,
    /// What login and logout must answer: `success`, a code (`25`), or
    /// several separated by `|` (`success|26`), as emlab's `[expect]`.
    pub expect_login: String,
    pub expect_logout: String,
    /// Logged in this long before the logout (a scenario's `hold`); goose's
    /// logout transaction time includes it, its request time does not.
    pub hold: Duration,
    /// Where every request is also recorded, for emlab's reports
    /// (recorder phase 1, the load's first).
    pub recorder: Option<Arc<Mutex<Recorder>>>,
}

/// What a goose user keeps between transactions.
#[derive(Clone)]
struct EmSession {
    user: EmUser,
    /// Login, query and logout form bodies, built once.
    bodies: Arc<[Bytes; 3]>,
    logged_in: bool,
}

impl EmTransactions {
    /// Login, query and logout that must all succeed, not recorded.
    pub fn new(app: AppInfo, users: Vec<EmUser>) -> Self {
        EmTransactions {
            app,
            users,
            query: true,
            expect_login: "success".into(),
            expect_logout: "success".into(),
            hold: Duration::ZERO,
            recorder: None,
        }
    }

    /// The goose scenario `ExtensionMobility`: an on-start transaction that
    /// picks the user's row, then login, (query,) logout in that order.
    pub fn scenario(self) -> Scenario {
        let em = Arc::new(self);
        let mut steps = vec![Step::Login];
        if em.query {
            steps.push(Step::Query);
        }
        steps.push(Step::Logout);
        let mut scenario = scenario!("ExtensionMobility")
            .register_transaction(transaction(&em, None).set_name("em-user").set_on_start());
        for (n, step) in steps.into_iter().enumerate() {
            scenario = scenario.register_transaction(
                transaction(&em, Some(step))
                    .set_name(step_name(step))
                    .set_sequence(n + 1),
            );
        }
        scenario
    }

    /// The on-start transaction (`step` None) or one EM step.
    async fn run(&self, user: &mut GooseUser, step: Option<Step>) -> TransactionResult {
        let Some(step) = step else {
            let em_user = self.users[user.weighted_users_index % self.users.len()].clone();
            let bodies = form_bodies(&self.app, &em_user.device_name, &em_user.user_id);
            user.set_session_data(EmSession {
                user: em_user,
                bodies: Arc::new(bodies),
                logged_in: false,
            });
            return Ok(());
        };
        let Some(session) = user.get_session_data::<EmSession>().cloned() else {
            return Err(Box::new(TransactionError::Custom(
                "no EM session: the on-start transaction did not run".into(),
            )));
        };
        // A phone whose login failed neither queries nor logs out.
        if step != Step::Login && !session.logged_in {
            return Ok(());
        }
        if step == Step::Logout && !self.hold.is_zero() {
            tokio::time::sleep(self.hold).await;
        }
        let body = session.bodies[match step {
            Step::Login => 0,
            Step::Query => 1,
            _ => 2,
        }]
        .clone();
        let builder = user
            .get_request_builder(&GooseMethod::Post, EM_API_PATH)?
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        let request = GooseRequest::builder()
            .method(GooseMethod::Post)
            .path(EM_API_PATH)
            .name(step_name(step))
            .set_request_builder(builder)
            .build();
        let sent = Instant::now();
        let GooseResponse {
            mut request,
            response,
        } = user.request(request).await?;
        let reply = match response {
            Ok(r) => {
                let status = r.status().as_u16();
                match r.bytes().await {
                    Ok(body) => answer(status, &body),
                    Err(e) if e.is_timeout() => Reply::Timeout,
                    Err(_) => Reply::Transport,
                }
            }
            Err(e) if e.is_timeout() => Reply::Timeout,
            Err(_) => Reply::Transport,
        };
        let end = Instant::now();
        let (outcome, expected) = match step {
            Step::Login => (reply.label(), self.expect_login.as_str()),
            Step::Query => (
                query_outcome(&reply, &session.user.device_name, &session.user.user_id),
                "success",
            ),
            _ => (reply.label(), self.expect_logout.as_str()),
        };
        if let Some(recorder) = &self.recorder {
            recorder.lock().unwrap_or_else(|p| p.into_inner()).record(
                step,
                1,
                end - sent,
                end - sent,
                &outcome,
                expected,
                end,
            );
        }
        match step {
            Step::Login => {
                let success = matches!(&reply, Reply::Answer(r) if r.body == ResponseBody::Success);
                if let Some(s) = user.get_session_data_mut::<EmSession>() {
                    s.logged_in = success;
                }
            }
            Step::Logout => {
                if let Some(s) = user.get_session_data_mut::<EmSession>() {
                    s.logged_in = false;
                }
            }
            _ => {}
        }
        if matches_expected(&outcome, expected) {
            Ok(())
        } else {
            let why = format!("{}: expected {expected}, got {outcome}", step_name(step));
            user.set_failure(&why, &mut request, None, None)
        }
    }
}

fn step_name(step: Step) -> &'static str {
    match step {
        Step::Login => "login",
        Step::Query => "query",
        _ => "logout",
    }
}

/// A goose transaction running `step` of `em`.
fn transaction(em: &Arc<EmTransactions>, step: Option<Step>) -> Transaction {
    let em = em.clone();
    let run: TransactionFunction = Arc::new(move |user| {
        let em = em.clone();
        Box::pin(async move { em.run(user, step).await })
    });
    Transaction::new(run)
}
