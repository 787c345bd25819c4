//! A real TURN server for the tests: Debian's coturn (`turnserver`, from `.ci/install-deps
//! --test`), started on loopback (or another address of this namespace) with long-term
//! credentials (`u`/`p`, realm `offhook`), on ports of its own, relaying to loopback peers (the
//! lab), with a TLS listener whose certificate the test makes. Killed, reaped and its files
//! removed when dropped. Shared by the test binaries that need one.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use twilio_voice::options::IceServer;

/// A loopback port free for both TCP and UDP (coturn listens on both).
pub fn free_port() -> u16 {
    free_port_on(Ipv4Addr::LOCALHOST)
}

pub fn free_port_on(ip: Ipv4Addr) -> u16 {
    loop {
        let tcp = TcpListener::bind((ip, 0)).expect("a TCP port");
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind((ip, port)).is_ok() {
            return port;
        }
    }
}

/// A CA and a certificate it signs for `127.0.0.1`, `localhost` and `ip`: (CA PEM, leaf
/// chain PEM, key PEM).
fn certificate(ip: Ipv4Addr) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "offhook TURN test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    if !ip.is_loopback() {
        names.push(ip.to_string());
    }
    let params = CertificateParams::new(names).unwrap();
    let leaf = params.signed_by(&key, &issuer).unwrap();
    (
        ca.pem(),
        format!("{}{}", leaf.pem(), ca.pem()),
        key.serialize_pem(),
    )
}

/// A coturn on loopback (or another address of this namespace); killed and reaped on drop.
pub struct Coturn {
    child: Child,
    dir: PathBuf,
    pub ip: Ipv4Addr,
    pub port: u16,
    pub tls_port: u16,
    /// The ports its relayed addresses take.
    pub relay_ports: RangeInclusive<u16>,
    /// What to trust for its TLS listener.
    pub ca_pem: String,
    log: PathBuf,
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Coturn {
    pub fn start() -> Coturn {
        Coturn::start_on(Ipv4Addr::LOCALHOST, None)
    }

    /// On `ip`, with its TLS listener on `tls_port` (else a free port).
    pub fn start_on(ip: Ipv4Addr, tls_port: Option<u16>) -> Coturn {
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("offhook-coturn-{pid}-{n}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (ca_pem, chain_pem, key_pem) = certificate(ip);
        std::fs::write(dir.join("cert.pem"), chain_pem).unwrap();
        std::fs::write(dir.join("key.pem"), key_pem).unwrap();
        let port = free_port_on(ip);
        let tls_port = tls_port.unwrap_or_else(|| free_port_on(ip));
        // Relay ports above Linux's ephemeral range, twenty per coturn.
        let first = 61_000 + ((pid as u16).wrapping_mul(7).wrapping_add(n * 20) % 4400);
        let relay_ports = first..=first + 19;
        let log = dir.join("turnserver.log");
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut command = Command::new("turnserver");
        command
            .args(["-n", "--no-cli", "--lt-cred-mech", "--user", "u:p"])
            .args(["--realm", "offhook"])
            .args([
                "--listening-ip",
                &ip.to_string(),
                "--relay-ip",
                &ip.to_string(),
            ])
            .args(["--listening-port", &port.to_string()])
            .args(["--tls-listening-port", &tls_port.to_string()])
            .args(["--min-port", &relay_ports.start().to_string()])
            .args(["--max-port", &relay_ports.end().to_string()])
            .arg("--cert")
            .arg(dir.join("cert.pem"))
            .arg("--pkey")
            .arg(dir.join("key.pem"))
            .args([
                "--no-dtls",
                "--allow-loopback-peers",
                "--no-multicast-peers",
            ])
            .arg("--userdb")
            .arg(dir.join("turndb"))
            .arg("--pidfile")
            .arg(dir.join("turnserver.pid"))
            .args(["--log-file", "stdout", "--simple-log", "--verbose"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = match command.spawn() {
            Ok(c) => c,
            Err(e) => panic!(
                "cannot start turnserver ({e}): install coturn (`.ci/install-deps --test` does)"
            ),
        };
        let mut coturn = Coturn {
            child,
            dir,
            ip,
            port,
            tls_port,
            relay_ports,
            ca_pem,
            log,
        };
        coturn.wait_ready();
        coturn
    }

    /// Until both TCP listeners take connections (the UDP one opens with them).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let ip = self.ip;
        let ready = |port: u16| {
            TcpStream::connect_timeout(&SocketAddr::from((ip, port)), Duration::from_millis(200))
                .is_ok()
        };
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("turnserver exited ({status}):\n{}", self.log_text());
            }
            if ready(self.port)
                && ready(self.tls_port)
                && self.log_text().contains("UDP listener opened")
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "turnserver is not listening after 10 s:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, transport: &str) -> String {
        let ip = self.ip;
        match transport {
            "udp" => format!("turn:{ip}:{}?transport=udp", self.port),
            "tcp" => format!("turn:{ip}:{}?transport=tcp", self.port),
            _ => format!("turns:{ip}:{}?transport=tcp", self.tls_port),
        }
    }

    /// An entry of the Device's `ice_servers` with the user `u` and `credential`.
    pub fn ice_server(&self, urls: Vec<String>, credential: &str) -> IceServer {
        IceServer {
            urls,
            username: Some("u".into()),
            credential: Some(credential.into()),
        }
    }
}

/// Packets coturn relayed from and to peers in a session it closed (`peer usage: … rp=N, …
/// sp=N`), for the user `u`.
pub fn peer_usage(log: &str) -> Option<(u64, u64)> {
    let line = log
        .lines()
        .find(|l| l.contains("peer usage:") && l.contains("username=<u>"))?;
    let field = |name: &str| -> Option<u64> {
        let at = line.find(&format!(" {name}="))? + name.len() + 2;
        line[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    Some((field("rp")?, field("sp")?))
}
