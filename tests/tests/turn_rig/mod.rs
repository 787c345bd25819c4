//! What the TURN and network-change tests share: coturn started on the addresses a test
//! names (killed and reaped on drop), Device options that trust it, the Device's log, and a
//! network namespace for the handset joined to this one by a veth pair (IPv4, or IPv6 only;
//! removed on drop).

#![allow(dead_code)] // each test binary uses its own part of the rig
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use offhook_e2e::lab_options;
use offhook_lab::LabHandle;
use offhook_lab::control::types::LegInfo;
use twilio_voice::DeviceOptions;
use twilio_voice::options::{IceServer, IceTransportPolicy};

/// What the Device logged (`twilio_voice` at info and above), for the tests that check a
/// failure was reported with its reason. One subscriber for the test binary.
pub fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("twilio_voice=info")
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .try_init();
        buf
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(data);
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn logged() -> String {
    String::from_utf8_lossy(&logs().lock().map(|b| b.clone()).unwrap_or_default()).into_owned()
}

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
        coturn.wait_ready(listen);
        coturn
    }

    /// Until both TCP listeners take connections on every address (the UDP ones open with
    /// them).
    fn wait_ready(&mut self, listen: &[IpAddr]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let ready = |ip: IpAddr, port: u16| {
            TcpStream::connect_timeout(&SocketAddr::new(ip, port), Duration::from_millis(200))
                .is_ok()
        };
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("turnserver exited ({status}):\n{}", self.log_text());
            }
            if listen
                .iter()
                .all(|ip| ready(*ip, self.port) && ready(*ip, self.tls_port))
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

/// Device options for `lab`, trusting coturn's CA too.
pub fn options(
    lab: &LabHandle,
    coturn: Option<&Coturn>,
    servers: Vec<IceServer>,
    policy: IceTransportPolicy,
) -> DeviceOptions {
    let mut options = lab_options(lab);
    if let Some(c) = coturn {
        let mut ca = lab.ca_cert_pem.clone();
        ca.push_str(&c.ca_pem);
        options.extra_ca_pem = Some(ca.into_bytes());
    }
    options.ice_servers = servers;
    options.ice_transport_policy = policy;
    options
}

pub async fn lab_leg(lab: &LabHandle, identity: &str) -> LegInfo {
    let calls = lab.control().calls().await.unwrap();
    calls
        .iter()
        .rev()
        .find_map(|c| {
            c.legs
                .iter()
                .find(|l| l.identity.as_deref() == Some(identity))
                .cloned()
        })
        .unwrap_or_else(|| panic!("no leg for {identity} in {calls:#?}"))
}

// ---- The handset in a network namespace (root only) ----

pub fn ip_cmd(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Why the namespace tests cannot run here, if they cannot.
pub fn netns_unsupported() -> Option<String> {
    // SAFETY: no arguments, no side effects.
    if unsafe { libc::geteuid() } != 0 {
        return Some("network namespaces need root".into());
    }
    for (cmd, package) in [("ip", "iproute2"), ("nft", "nftables")] {
        if Command::new(cmd).arg("-V").output().is_err() {
            return Some(format!("`{cmd}` is missing (apt-get install {package})"));
        }
    }
    None
}

/// How a handset namespace is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `10.x.y.1` here, `10.x.y.2` there (a /24).
    V4,
    /// `fd00:…::1` here, `fd00:…::2` there (a /64), and no IPv4 there at all (but
    /// loopback's).
    V6Only,
}

/// A network namespace for the handset, joined to this one by a veth pair (`host_ip` here,
/// `ns_ip` there); removed on drop.
pub struct HandsetNs {
    pub name: String,
    pub host_if: String,
    pub ns_if: String,
    pub host_ip: IpAddr,
    pub ns_ip: IpAddr,
}

impl HandsetNs {
    /// The TURN tests' namespace (IPv4).
    pub fn create() -> HandsetNs {
        HandsetNs::create_as('t', Family::V4)
    }

    /// `tag` (a letter) keeps this namespace's names and subnet apart from the others a test
    /// binary makes at the same time.
    pub fn create_as(tag: char, family: Family) -> HandsetNs {
        let pid = std::process::id();
        let name = format!("offhook-{tag}-{pid}");
        let host_if = format!("o{tag}{}h", pid % 100_000);
        let ns_if = format!("o{tag}{}n", pid % 100_000);
        let (host_ip, ns_ip, prefix) = match family {
            Family::V4 => {
                let (a, b) = HandsetNs::v4_net(tag, 0);
                (
                    IpAddr::V4(Ipv4Addr::new(10, a, b, 1)),
                    IpAddr::V4(Ipv4Addr::new(10, a, b, 2)),
                    24,
                )
            }
            Family::V6Only => {
                let (x, y) = (tag as u16, (pid % 65_536) as u16);
                (
                    IpAddr::V6(Ipv6Addr::new(0xfd00, x, y, 0, 0, 0, 0, 1)),
                    IpAddr::V6(Ipv6Addr::new(0xfd00, x, y, 0, 0, 0, 0, 2)),
                    64,
                )
            }
        };
        // The guard exists before anything is made, so a failure half-way cleans up too.
        let ns = HandsetNs {
            name,
            host_if,
            ns_if,
            host_ip,
            ns_ip,
        };
        let (n, h, i) = (ns.name.as_str(), ns.host_if.as_str(), ns.ns_if.as_str());
        let host_addr = format!("{host_ip}/{prefix}");
        let ns_addr = format!("{ns_ip}/{prefix}");
        // IPv6 addresses usable at once (no duplicate address detection on a fresh veth).
        let nodad: &[&str] = if family == Family::V6Only {
            &["nodad"]
        } else {
            &[]
        };
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", n],
            vec!["link", "add", h, "type", "veth", "peer", "name", i],
            vec!["link", "set", i, "netns", n],
            [&["addr", "add", host_addr.as_str(), "dev", h], nodad].concat(),
            vec!["link", "set", h, "up"],
            [&["-n", n, "addr", "add", ns_addr.as_str(), "dev", i], nodad].concat(),
            vec!["-n", n, "link", "set", i, "up"],
            vec!["-n", n, "link", "set", "lo", "up"],
        ];
        for step in steps {
            ip_cmd(&step).unwrap_or_else(|e| panic!("setting up the namespace: {e}"));
        }
        ns
    }

    /// The second and third octets of the `k`th IPv4 /24 for namespaces tagged `tag`.
    pub fn v4_net(tag: char, k: u8) -> (u8, u8) {
        (
            100 + (tag as u8 % 50) + k.wrapping_mul(50),
            (std::process::id() % 250) as u8,
        )
    }

    /// `ip` inside the namespace.
    pub fn ip(&self, args: &[&str]) -> Result<(), String> {
        ip_cmd(&[&["-n", self.name.as_str()], args].concat())
    }

    /// Replaces the namespace's nftables rules.
    pub fn firewall(&self, rules: &str) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nft runs");
        let ruleset = format!("flush ruleset\n{rules}\n");
        child
            .stdin
            .take()
            .expect("nft's stdin")
            .write_all(ruleset.as_bytes())
            .expect("rules written");
        let out = child.wait_with_output().expect("nft ends");
        assert!(
            out.status.success(),
            "nft: {}\n{ruleset}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `f` on a thread of its own inside the namespace, on a runtime of its own: every
    /// socket the Device opens is the namespace's.
    pub fn run<T, F, Fut>(&self, f: F) -> std::thread::JoinHandle<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = T>,
    {
        use std::os::fd::AsRawFd;
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let netns = std::fs::File::open(&path).expect("the namespace's file");
            // SAFETY: moves this thread (only) into the namespace whose file descriptor is
            // open for the duration of the call.
            let rc = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(f())
        })
    }
}

impl Drop for HandsetNs {
    fn drop(&mut self) {
        // Deleting one end of a veth deletes both.
        let _ = ip_cmd(&["link", "del", &self.host_if]);
        let _ = ip_cmd(&["netns", "del", &self.name]);
    }
}
