//! coturn (Debian's `turnserver`), started on the addresses a test or benchmark names, with
//! long-term credentials (`u`/`p`, realm `offhook`), relay ports of its own and a TLS
//! listener whose certificate it makes; killed and reaped on drop.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use twilio_voice::options::IceServer;

/// A loopback port free for both TCP and UDP (coturn listens on both).
pub fn free_port() -> u16 {
    free_port_on(&[IpAddr::V4(Ipv4Addr::LOCALHOST)])
}

/// A port free for both TCP and UDP on every one of `ips`.
pub fn free_port_on(ips: &[IpAddr]) -> u16 {
    loop {
        let Some(first) = ips.first() else {
            panic!("no address to find a port on");
        };
        let tcp = TcpListener::bind((*first, 0)).expect("a TCP port");
        let port = tcp.local_addr().unwrap().port();
        let free = ips.iter().all(|ip| {
            UdpSocket::bind((*ip, port)).is_ok()
                && (ip == first || TcpListener::bind((*ip, port)).is_ok())
        });
        if free {
            return port;
        }
    }
}

/// A CA and a certificate it signs for `127.0.0.1`, `localhost` and `ips`: (CA PEM, leaf
/// chain PEM, key PEM).
pub fn certificate(ips: &[IpAddr]) -> (String, String, String) {
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
    for ip in ips {
        if !ip.is_loopback() {
            names.push(ip.to_string());
        }
    }
    let params = CertificateParams::new(names).unwrap();
    let leaf = params.signed_by(&key, &issuer).unwrap();
    (
        ca.pem(),
        format!("{}{}", leaf.pem(), ca.pem()),
        key.serialize_pem(),
    )
}

/// A coturn on loopback (or other addresses of this namespace); killed and reaped on drop.
pub struct Coturn {
    child: Child,
    dir: PathBuf,
    /// The first address it listens on (its URLs name it).
    pub ip: IpAddr,
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
        Coturn::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), None)
    }

    /// On `ip` (relaying from it too), with its TLS listener on `tls_port` (else a free port).
    pub fn start_on(ip: IpAddr, tls_port: Option<u16>) -> Coturn {
        Coturn::start_with(&[ip], ip, tls_port)
    }

    /// Listening on each of `listen` (the first names it in URLs), relaying from `relay`: an
    /// IPv4 `relay` gives IPv4 relayed addresses to clients that come over IPv6 too.
    pub fn start_with(listen: &[IpAddr], relay: IpAddr, tls_port: Option<u16>) -> Coturn {
        // A port found free can be taken by another process before coturn binds it; coturn
        // then retries the bind for ever. Such a start is ended and made again on new ports.
        const ATTEMPTS: usize = 3;
        let mut last_log = String::new();
        for _ in 0..ATTEMPTS {
            match Coturn::try_start(listen, relay, tls_port) {
                Ok(coturn) => return coturn,
                Err(log) => last_log = log,
            }
        }
        panic!("turnserver did not start in {ATTEMPTS} attempts; the last one printed:\n{last_log}")
    }

    /// One start: `Err` with its log when a port it was given turned out to be taken.
    fn try_start(
        listen: &[IpAddr],
        relay: IpAddr,
        tls_port: Option<u16>,
    ) -> Result<Coturn, String> {
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("offhook-coturn-{pid}-{n}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (ca_pem, chain_pem, key_pem) = certificate(listen);
        std::fs::write(dir.join("cert.pem"), chain_pem).unwrap();
        std::fs::write(dir.join("key.pem"), key_pem).unwrap();
        let port = free_port_on(listen);
        let tls_port = tls_port.unwrap_or_else(|| free_port_on(listen));
        // Relay ports above Linux's ephemeral range, twenty per coturn.
        let first = 61_000 + ((pid as u16).wrapping_mul(7).wrapping_add(n * 20) % 4400);
        let relay_ports = first..=first + 19;
        let log = dir.join("turnserver.log");
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut command = Command::new("turnserver");
        command
            .args(["-n", "--no-cli", "--lt-cred-mech", "--user", "u:p"])
            .args(["--realm", "offhook"]);
        for ip in listen {
            command.args(["--listening-ip", &ip.to_string()]);
        }
        command
            .args(["--relay-ip", &relay.to_string()])
            .args(["--listening-port", &port.to_string()])
            .args(["--tls-listening-port", &tls_port.to_string()])
            .args(["--min-port", &relay_ports.start().to_string()])
            .args(["--max-port", &relay_ports.end().to_string()])
            .arg("--cert")
            .arg(dir.join("cert.pem"))
            .arg("--pkey")
            .arg(dir.join("key.pem"))
            // Without it coturn also listens on each port plus one (RFC 5780's alternate
            // ports), which nobody checked were free.
            .arg("--no-rfc5780")
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
            ip: listen[0],
            port,
            tls_port,
            relay_ports,
            ca_pem,
            log,
        };
        match coturn.wait_ready(listen) {
            Ok(()) => Ok(coturn),
            // Dropping it kills and reaps it.
            Err(()) => Err(coturn.log_text()),
        }
    }

    /// Until both TCP listeners take connections on every address (the UDP ones open with
    /// them); `Err` as soon as coturn says a port it was given is taken.
    fn wait_ready(&mut self, listen: &[IpAddr]) -> Result<(), ()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let ready = |ip: IpAddr, port: u16| {
            TcpStream::connect_timeout(&SocketAddr::new(ip, port), Duration::from_millis(200))
                .is_ok()
        };
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("turnserver exited ({status}):\n{}", self.log_text());
            }
            let log = self.log_text();
            if log.contains("Cannot bind") {
                return Err(());
            }
            if listen
                .iter()
                .all(|ip| ready(*ip, self.port) && ready(*ip, self.tls_port))
                && log.contains("UDP listener opened")
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                panic!("turnserver is not listening after 10 s:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its URL for `transport` (`udp`, `tcp`, else TLS).
    pub fn url(&self, transport: &str) -> String {
        let host = match self.ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        match transport {
            "udp" => format!("turn:{host}:{}?transport=udp", self.port),
            "tcp" => format!("turn:{host}:{}?transport=tcp", self.port),
            _ => format!("turns:{host}:{}?transport=tcp", self.tls_port),
        }
    }

    pub fn ice_server(&self, urls: Vec<String>, credential: &str) -> IceServer {
        IceServer {
            urls,
            username: Some("u".into()),
            credential: Some(credential.into()),
        }
    }

    /// Allocations coturn made so far.
    pub fn allocations(&self) -> usize {
        self.log_text()
            .matches("ALLOCATE processed, success")
            .count()
    }
}
