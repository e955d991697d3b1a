//! TIME: automatic logouts, on the lab clock.

use super::lab::*;
use crate::case::{Stop, expect_eq};
use crate::probe::Probe;
use std::sync::Arc;

pub async fn enforced_max_login_time_logs_out(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    p.clear(&[D1]).await;
    p.set_params(r#"{"enforce_max_login_time": true, "max_login_time": "0:10"}"#)
        .await?;
    // bob's profile has no idle timer, so only the login time can end it.
    let login = p.login(D1, "bob").await;
    p.advance_clock(11 * 60).await?;
    let after = p.user_on(D1).await;
    p.set_params(r#"{"enforce_max_login_time": false, "max_login_time": "8:00"}"#)
        .await?;
    p.clear(&[D1]).await;
    expect_eq("login", login.as_str(), "success")?;
    expect_eq(
        "user on the device after 11 minutes of a 10-minute limit",
        after?.as_str(),
        "none",
    )
}

pub async fn the_users_own_limit_wins(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    p.need_user("dave")?;
    p.clear(&[D2]).await;
    // dave may stay 0:10 whatever the service parameter (8:00, not enforced).
    let login = p.login(D2, "dave").await;
    p.advance_clock(11 * 60).await?;
    let after = p.user_on(D2).await;
    p.clear(&[D2]).await;
    expect_eq("login", login.as_str(), "success")?;
    expect_eq(
        "dave on the device after 11 minutes",
        after?.as_str(),
        "none",
    )
}
