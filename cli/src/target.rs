//! Where the server under test is: URLs and addresses from the command
//! line, resolved without blocking.

use crate::UsageError;
use emlab_simulator::phone::Endpoints;
use std::net::SocketAddr;

/// `--target` and the addresses that go with it (PROTOCOL.md §7).
pub struct TargetFlags {
    pub url: String,
    pub config: Option<String>,
    pub sccp: Option<String>,
    pub sip: Option<String>,
    pub tftp: Option<String>,
    pub tls: emlab_tls::ClientTls,
}

impl TargetFlags {
    /// Each interface's address: given, else the target's host with the default port.
    pub async fn endpoints(&self) -> Result<Endpoints, UsageError> {
        let authority = self
            .url
            .strip_prefix("http://")
            .or_else(|| self.url.strip_prefix("https://"))
            .and_then(|rest| rest.split('/').next())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                UsageError(format!(
                    "--target `{}`: expected http://HOST:PORT or https://HOST:PORT",
                    self.url
                ))
            })?;
        let host = match authority.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => authority,
        }
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
        let text = |given: &Option<String>, port: u16| -> String {
            given.clone().unwrap_or_else(|| {
                if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                }
            })
        };
        Ok(Endpoints {
            em_base: self.url.trim_end_matches('/').to_string(),
            config_base: match &self.config {
                Some(config) => config.clone(),
                None => format!(
                    "http://{}",
                    resolve(text(&None, 6970), "--config", 6970)
                        .await
                        .map(|a| a.to_string())
                        .unwrap_or_default()
                ),
            },
            sccp: resolve(text(&self.sccp, 2000), "--sccp", 2000).await?,
            sip: resolve(text(&self.sip, 5060), "--sip", 5060).await?,
            tftp: match self.tftp.as_deref() {
                Some("off") => None,
                _ => Some(resolve(text(&self.tftp, 69), "--tftp", 69).await?),
            },
            tls: self.tls.clone(),
        })
    }
}

/// `HOST:PORT` to an address; a host name resolves on tokio's blocking
/// pool (`lookup_host`), not on the runtime's threads.
pub async fn resolve(text: String, flag: &str, port: u16) -> Result<SocketAddr, UsageError> {
    tokio::net::lookup_host(text.as_str())
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            UsageError(format!(
                "{flag} `{text}`: not an address like 127.0.0.1:{port}"
            ))
        })
}
