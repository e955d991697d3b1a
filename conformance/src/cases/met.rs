//! MET-1: what `/metrics` shows an operator. A target without `/metrics`
//! (a real CUCM has RTMT instead) skips these cases.

use crate::case::{Stop, expect, expect_eq};
use crate::probe::Probe;
use crate::roles::*;
use emlab_protocol::ServerProfile;
use std::sync::Arc;

/// The value of the sample `name` (with its labels), if `/metrics` has it.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

pub async fn metrics_count_phones_and_time_operations(p: Arc<Probe>) -> Result<(), Stop> {
    let (phone, user) = (p.role(PHONE)?, p.role(USER)?);
    let logins = r#"em_operation_seconds_count{operation="login"}"#;
    p.clear(&[&phone]).await;
    let before = p.metrics().await?;
    expect_eq("login", p.login(&phone, &user).await.as_str(), "success")?;
    p.clear(&[&phone]).await;
    let after = p.metrics().await?;
    let (b, a) = (sample(&before, logins), sample(&after, logins));
    expect(
        matches!((b, a), (Some(b), Some(a)) if a >= b + 1.0),
        format!("{logins} to grow by the login"),
        format!("{b:?} then {a:?}"),
    )?;
    for protocol in ["sccp", "sip"] {
        let name = format!("em_phones_registered{{protocol=\"{protocol}\"}}");
        expect(
            sample(&after, &name).is_some(),
            format!("a `{name}` sample"),
            "none".to_string(),
        )?;
    }
    if p.target.profile == ServerProfile::Cme {
        for name in ["ccme_em_phones_total", "ccme_em_phones_registered"] {
            expect(
                sample(&after, name).is_some(),
                format!("a `{name}` sample (CISCO-CCME-MIB)"),
                "none".to_string(),
            )?;
        }
    }
    Ok(())
}
