//! What the TURN and network-change tests share: coturn (`offhook_e2e::coturn`), Device
//! options that trust it, the Device's log, and a network namespace for the handset joined
//! to this one by a veth pair (IPv4, or IPv6 only; removed on drop).

#![allow(dead_code)] // each test binary uses its own part of the rig
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

pub use offhook_e2e::coturn::*;
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
