//! The emlab reference Extension Mobility server.
//!
//! It serves the EM API of `PROTOCOL.md` §1 from a lab directory file (§6):
//! logins and logouts with Cisco's error codes, the multiple-login rules,
//! Maximum Concurrent Requests, exclusive-duration auto-logout, and the
//! `/metrics` counters. Start it with [`start`]; `emlab serve` and the
//! embedded default of `emlab run` both do.
//!
//! Layout: [`core`] holds the EM rules with no sockets and no HTTP; its
//! operations return effects. [`io`] holds the adapters (HTTP, SCCP, SIP,
//! TFTP, the call-log push, the durable store) that decode requests, ask
//! the core, and deliver its effects. This file starts them.

pub mod core;
pub mod io;

#[cfg(test)]
mod architecture;

pub use crate::core::faults;
pub use crate::io::{listener, sccp_server};

use emlab_protocol::lab::Lab;
use io::server::Server;
use io::{config_files, http, sip_server, store, tftp_server};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub struct ServerOptions {
    /// The EM API, the phone-facing service, `/metrics` and lab control.
    pub listen: SocketAddr,
    /// Configuration files (CUCM's TFTP service; 6970 by default on the CLI).
    pub config_listen: SocketAddr,
    /// The SCCP control channel (2000 by default on the CLI).
    pub sccp_listen: SocketAddr,
    /// The SIP control channel, UDP (5060 by default on the CLI).
    pub sip_listen: SocketAddr,
    /// The configuration files over TFTP, UDP (69 by default on the CLI);
    /// `None`: no TFTP.
    pub tftp_listen: Option<SocketAddr>,
    /// Serve `/lab/` (PROTOCOL.md §6).
    pub lab_control: bool,
    /// Test-only fault switches ([`faults`]); empty in normal use.
    pub faults: faults::Faults,
    /// HTTPS beside HTTP, when the server has a certificate.
    pub tls: Option<TlsOptions>,
    /// Timeouts and the connection cap of every HTTP listener.
    pub http_limits: listener::HttpLimits,
    /// Register timeout and KeepAlive interval of the SCCP listener.
    pub sccp_limits: sccp_server::SccpLimits,
    /// The durable store (`--state FILE`); `None`: everything in memory.
    pub state_file: Option<std::path::PathBuf>,
}

/// HTTPS listeners (PROTOCOL.md §8): the EM API and phone service
/// (Cisco: 8443) and the configuration files (Cisco: 6971).
#[derive(Clone)]
pub struct TlsOptions {
    pub config: Arc<emlab_tls::ServerConfig>,
    pub listen: SocketAddr,
    pub config_listen: SocketAddr,
}

impl Default for ServerOptions {
    fn default() -> Self {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        ServerOptions {
            listen: loopback,
            config_listen: loopback,
            sccp_listen: loopback,
            sip_listen: loopback,
            tftp_listen: Some(loopback),
            lab_control: false,
            faults: faults::Faults::default(),
            tls: None,
            http_limits: listener::HttpLimits::default(),
            sccp_limits: sccp_server::SccpLimits::default(),
            state_file: None,
        }
    }
}

/// A started server; dropping it does not stop it, [`RunningServer::shutdown`] does.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub config_addr: SocketAddr,
    pub sccp_addr: SocketAddr,
    pub sip_addr: SocketAddr,
    /// The TFTP address of the configuration files, when TFTP is on.
    pub tftp_addr: Option<SocketAddr>,
    /// The HTTPS addresses of the EM API and of the configuration files.
    pub tls_addrs: Option<(SocketAddr, SocketAddr)>,
    pub state: Arc<Server>,
    /// What `--state` brought back, when there is a state file.
    pub restored: Option<core::saved::Restored>,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
    config_task: JoinHandle<()>,
    sccp_task: JoinHandle<()>,
    sip_task: JoinHandle<()>,
    sweeper: JoinHandle<()>,
    side_tasks: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// `http://ADDR`, the `--target` form.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://ADDR` of the configuration files, the `--config` form.
    pub fn config_url(&self) -> String {
        format!("http://{}", self.config_addr)
    }

    /// `https://ADDR` of the EM API and phone service, when TLS is on.
    pub fn https_base_url(&self) -> Option<String> {
        self.tls_addrs.map(|(em, _)| format!("https://{em}"))
    }

    /// `https://ADDR` of the configuration files, when TLS is on.
    pub fn https_config_url(&self) -> Option<String> {
        self.tls_addrs
            .map(|(_, config)| format!("https://{config}"))
    }

    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(());
        // What timers did since the last request is saved too.
        let _ = self.state.persist().await;
        for task in &self.side_tasks {
            task.abort();
        }
        self.sweeper.abort();
        // Configuration downloads are short; no need to drain them.
        self.config_task.abort();
        self.sccp_task.abort();
        self.sip_task.abort();
        let _ = self.task.await;
        Ok(())
    }
}

/// A listening socket with a deep accept queue. `TcpListener::bind` asks
/// for 128, and a fleet booting a few hundred phones at once overflows
/// that: the kernel drops their SYNs and each retries a second later.
/// The error names the address, so an operator knows which port is taken.
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let bind = || {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(4096)
    };
    bind().map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// How often the state file's write-ahead log is folded into it (and
/// fsynced): the most a power loss can take, never a kill -9.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Binds and starts serving; returns once the socket is listening.
pub async fn start(lab: &Lab, options: ServerOptions) -> std::io::Result<RunningServer> {
    let listener = listen(options.listen)?;
    let addr = listener.local_addr()?;
    // Listeners beside the main ones (HTTPS, TFTP), aborted at shutdown.
    let mut side_tasks = Vec::new();
    let config_listener = listen(options.config_listen)?;
    let config_addr = config_listener.local_addr()?;
    let mut state = Server::new(lab, options.faults.clone());
    let mut restored = None;
    if let Some(path) = &options.state_file {
        let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        let (store, saved) = store::Store::open(path).map_err(|e| invalid(e.0))?;
        let found = state.attach_store(store, saved).map_err(invalid)?;
        for row in &found.unknown {
            tracing::warn!(state = %path.display(), row = %row, "saved row names nothing in the lab; kept in the file, not restored");
        }
        restored = Some(found);
    }
    for fault in state.em.faults.on() {
        tracing::info!(
            fault = fault.name(),
            breaks = fault.breaks(),
            "fault switched on"
        );
    }
    let state = Arc::new(state);
    state.resolve_trusted_list().await;
    let config_ctx = Arc::new(config_files::ConfigContext {
        state: state.clone(),
        em_base: format!("http://{addr}"),
    });
    let config_app = config_files::router(config_ctx.clone());
    let mut tftp_addr = None;
    if let Some(tftp_listen) = options.tftp_listen {
        let socket = tokio::net::UdpSocket::bind(tftp_listen)
            .await
            .map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on udp/{tftp_listen}: {e}"))
            })?;
        tftp_addr = Some(socket.local_addr()?);
        side_tasks.push(tokio::spawn(tftp_server::serve(socket, config_ctx)));
    }
    let mut tls_addrs = None;
    let app = http::router(state.clone(), options.lab_control);
    if let Some(tls) = &options.tls {
        let em_listener = listen(tls.listen)?;
        let config_tls_listener = listen(tls.config_listen)?;
        tls_addrs = Some((em_listener.local_addr()?, config_tls_listener.local_addr()?));
        let acceptor = emlab_tls::TlsAcceptor::from(tls.config.clone());
        side_tasks.push(tokio::spawn(listener::serve(
            em_listener,
            app.clone(),
            options.http_limits,
            Some(acceptor.clone()),
            std::future::pending(),
        )));
        side_tasks.push(tokio::spawn(listener::serve(
            config_tls_listener,
            config_app.clone(),
            options.http_limits,
            Some(acceptor),
            std::future::pending(),
        )));
    }
    let config_task = tokio::spawn(listener::serve(
        config_listener,
        config_app,
        options.http_limits,
        None,
        std::future::pending(),
    ));
    let sccp_listener = listen(options.sccp_listen)?;
    let sccp_addr = sccp_listener.local_addr()?;
    let sccp_task = tokio::spawn(sccp_server::serve(
        sccp_listener,
        state.clone(),
        options.sccp_limits,
    ));
    let sip_socket = tokio::net::UdpSocket::bind(options.sip_listen)
        .await
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot listen on udp/{}: {e}", options.sip_listen),
            )
        })?;
    // Phones booting together send REGISTERs in bursts (100,000 in a
    // minute in bench/million-phones.sh): the default buffer drops them.
    let _ = socket2::SockRef::from(&sip_socket).set_recv_buffer_size(8 << 20);
    let sip_addr = sip_socket.local_addr()?;
    let sip_task = tokio::spawn(sip_server::serve(sip_socket, state.clone()));
    let (tx, rx) = oneshot::channel::<()>();
    // Peer addresses reach the handlers: Validate IP Address needs them (IP-1).
    let task = tokio::spawn(listener::serve(
        listener,
        app,
        options.http_limits,
        None,
        async {
            let _ = rx.await;
        },
    ));
    // Timers are also applied lazily on every access; the sweeper makes an
    // automatic logout happen on time even when no request arrives.
    let sweep_state = state.clone();
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            tick.tick().await;
            sweep_state.run_due_timers();
            // A failed commit is logged by the store and retried.
            let _ = sweep_state.persist().await;
        }
    });
    // The write-ahead log folds into the file often: a short log keeps
    // SQLite's index of it cheap to append to.
    let checkpoint_state = state.clone();
    side_tasks.push(tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        loop {
            tick.tick().await;
            checkpoint_state.checkpoint().await;
        }
    }));
    Ok(RunningServer {
        addr,
        config_addr,
        sccp_addr,
        sip_addr,
        tftp_addr,
        tls_addrs,
        state,
        restored,
        shutdown: tx,
        task,
        config_task,
        sccp_task,
        sip_task,
        sweeper,
        side_tasks,
    })
}
