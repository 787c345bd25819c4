//! Calls through a real TURN server: Debian's coturn (`turnserver`, from `.ci/install-deps
//! --test`), started by each test on loopback with long-term credentials (`u`/`p`, realm
//! `offhook`), on ports of its own, relaying to loopback peers (the lab), with a TLS
//! listener whose certificate the test makes.
//!
//! - relay-only calls (`IceTransportPolicy::Relay`: the Device offers no host candidate) over
//!   UDP, TCP and TLS to the echo number: our tone comes back, and the lab saw our media come
//!   from coturn's relay ports; coturn's log shows the allocation and its release;
//! - refused credentials: with every candidate the call still goes over host candidates, and
//!   the refusal is logged with coturn's code; relay-only, the call reports the SDK's ICE
//!   failure (53405) at once instead of waiting for the ICE timeout;
//! - a TURN server that is closed, or that never answers: the call goes ahead on host
//!   candidates, held up no longer than gathering's limit.
//!
//! Every coturn is killed and reaped by a Drop guard, pass or fail.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use offhook_e2e::*;
use offhook_lab::LabHandle;
use offhook_lab::control::types::LegInfo;
use twilio_voice::options::{IceServer, IceTransportPolicy};
use twilio_voice::{CallEvent, DeviceOptions};

const T: Duration = Duration::from_secs(15);
const ECHO: &str = "+12025550100";
const TONE_HZ: f64 = 700.0;

/// What the Device logged (`twilio_voice` at info and above), for the tests that check a
/// failure was reported with its reason. One subscriber for the test binary.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
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

fn logged() -> String {
    String::from_utf8_lossy(&logs().lock().map(|b| b.clone()).unwrap_or_default()).into_owned()
}

/// A loopback port free for both TCP and UDP (coturn listens on both).
fn free_port() -> u16 {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("a TCP port");
        let port = tcp.local_addr().unwrap().port();
        if UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A CA and a certificate it signs for `127.0.0.1` and `localhost`: (CA PEM, leaf chain PEM,
/// key PEM).
fn certificate() -> (String, String, String) {
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
    let params = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let leaf = params.signed_by(&key, &issuer).unwrap();
    (
        ca.pem(),
        format!("{}{}", leaf.pem(), ca.pem()),
        key.serialize_pem(),
    )
}

/// A coturn on loopback; killed and reaped on drop.
struct Coturn {
    child: Child,
    dir: PathBuf,
    port: u16,
    tls_port: u16,
    /// The ports its relayed addresses take.
    relay_ports: RangeInclusive<u16>,
    /// What to trust for its TLS listener.
    ca_pem: String,
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
    fn start() -> Coturn {
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("offhook-coturn-{pid}-{n}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (ca_pem, chain_pem, key_pem) = certificate();
        std::fs::write(dir.join("cert.pem"), chain_pem).unwrap();
        std::fs::write(dir.join("key.pem"), key_pem).unwrap();
        let (port, tls_port) = (free_port(), free_port());
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
            .args(["--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1"])
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
        let ready = |port: u16| {
            TcpStream::connect_timeout(
                &SocketAddr::from(([127, 0, 0, 1], port)),
                Duration::from_millis(200),
            )
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

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, transport: &str) -> String {
        match transport {
            "udp" => format!("turn:127.0.0.1:{}?transport=udp", self.port),
            "tcp" => format!("turn:127.0.0.1:{}?transport=tcp", self.port),
            _ => format!("turns:127.0.0.1:{}?transport=tcp", self.tls_port),
        }
    }

    fn ice_server(&self, urls: Vec<String>, credential: &str) -> IceServer {
        IceServer {
            urls,
            username: Some("u".into()),
            credential: Some(credential.into()),
        }
    }
}

/// Device options for `lab`, trusting coturn's CA too.
fn options(
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

async fn lab_leg(lab: &LabHandle, identity: &str) -> LegInfo {
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

/// Packets coturn relayed from and to peers in a session it closed (`peer usage: … rp=N, …
/// sp=N`), for the user `u`.
fn peer_usage(log: &str) -> Option<(u64, u64)> {
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

/// A relay-only call to the echo number over `transport`: our tone comes back, the lab got
/// our media from coturn's relay ports, and hanging up releases the allocation.
async fn relay_only_call(transport: &str) {
    logs();
    let coturn = Coturn::start();
    let lab = start_lab().await;
    let identity = format!("relay-{transport}");
    let servers = vec![coturn.ice_server(vec![coturn.url(transport)], "p")];
    let (device, _events, audio) = device_with_audio(
        &lab,
        &identity,
        options(&lab, Some(&coturn), servers, IceTransportPolicy::Relay),
        Some(TONE_HZ),
    );
    let call = device.connect(to(ECHO)).await.unwrap();
    let mut events = call.events();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    let (f, level) = wait_to_hear(&audio.sink(call.id()).unwrap(), TONE_HZ, T).await;
    assert!(
        (f - TONE_HZ).abs() < 15.0 && level > 1000.0,
        "{transport}: our tone comes back through the relay: {f} Hz, rms {level}\n{}",
        coturn.log_text()
    );
    // The lab (Twilio's side) saw our media come from coturn's relayed address, and heard
    // our tone in it.
    let media = wait_until(T, "the lab gets our media", || async {
        let media = lab_leg(&lab, &identity).await.media;
        match media {
            Some(m) if m.packets_in > 50 && m.packets_out > 50 => Ok(m),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let remote: SocketAddr = media
        .remote_addr
        .as_deref()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("{transport}: no remote address in {media:?}"));
    assert!(
        remote.ip().is_loopback() && coturn.relay_ports.contains(&remote.port()),
        "{transport}: the lab's peer {remote} is not a relayed address of coturn ({:?})",
        coturn.relay_ports
    );
    assert!(
        media
            .loudest_dominant_hz
            .is_some_and(|hz| (hz as f64 - TONE_HZ).abs() < 20.0),
        "{transport}: the lab heard our tone: {media:?}"
    );
    let log = coturn.log_text();
    assert!(
        log.contains("ALLOCATE processed, success")
            && log.contains("CHANNEL_BIND processed, success"),
        "{transport}: coturn's log has no allocation or channel:\n{log}"
    );
    // The end of the call releases the allocation (a Refresh with a lifetime of 0).
    call.disconnect();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    let usage = wait_until(T, "coturn releases the allocation", || async {
        let log = coturn.log_text();
        let released =
            log.contains("username=<u>, lifetime=0") && log.contains("REFRESH processed, success");
        match peer_usage(&log) {
            Some(usage) if released => Ok(usage),
            _ => Err(log.lines().rev().take(5).collect::<Vec<_>>().join("\n")),
        }
    })
    .await;
    // What coturn relayed between its relayed address and the lab, both ways.
    assert!(
        usage.0 > 20 && usage.1 > 20,
        "{transport}: coturn relayed {usage:?} packets (from, to the peer)"
    );
    device.force_destroy();
    lab.shutdown().await;
}

#[tokio::test]
async fn relay_only_call_over_udp() {
    relay_only_call("udp").await;
}

#[tokio::test]
async fn relay_only_call_over_tcp() {
    relay_only_call("tcp").await;
}

#[tokio::test]
async fn relay_only_call_over_tls() {
    relay_only_call("tls").await;
}

/// coturn refuses the credentials: with every candidate, the call goes over host candidates
/// and the refusal is logged with its code; relay-only, there is no candidate at all and the
/// call reports the SDK's media connection failure (53405) at once.
#[tokio::test]
async fn refused_credentials() {
    logs();
    let coturn = Coturn::start();
    let lab = start_lab().await;
    let bad = vec![coturn.ice_server(
        vec![coturn.url("udp"), coturn.url("tcp"), coturn.url("tls")],
        "wrong",
    )];

    let (device, _events, audio) = device_with_audio(
        &lab,
        "bad-creds-all",
        options(&lab, Some(&coturn), bad.clone(), IceTransportPolicy::All),
        Some(TONE_HZ),
    );
    let call = device.connect(to(ECHO)).await.unwrap();
    let mut events = call.events();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    let (f, _) = wait_to_hear(&audio.sink(call.id()).unwrap(), TONE_HZ, T).await;
    assert!(
        (f - TONE_HZ).abs() < 15.0,
        "host candidates carry the call: {f} Hz"
    );
    let media = lab_leg(&lab, "bad-creds-all").await.media.unwrap();
    let remote: SocketAddr = media.remote_addr.as_deref().unwrap().parse().unwrap();
    assert!(
        !coturn.relay_ports.contains(&remote.port()),
        "no relay: {remote}"
    );
    let log = logged();
    for url in [coturn.url("udp"), coturn.url("tcp"), coturn.url("tls")] {
        assert!(
            log.lines()
                .any(|l| l.contains(&url)
                    && l.contains("the TURN server refused the credentials (401")),
            "{url}: no refusal logged:\n{log}"
        );
    }
    call.disconnect();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    device.force_destroy();

    let (device, _events, _audio) = device_with_audio(
        &lab,
        "bad-creds-relay",
        options(&lab, Some(&coturn), bad, IceTransportPolicy::Relay),
        Some(TONE_HZ),
    );
    let started = Instant::now();
    let call = device.connect(to(ECHO)).await.unwrap();
    let mut events = call.events();
    let failed = wait_call(&mut events, T, |e| {
        matches!(e, CallEvent::Reconnecting(_) | CallEvent::Error(_))
    })
    .await;
    let (CallEvent::Reconnecting(e) | CallEvent::Error(e)) = &failed else {
        unreachable!()
    };
    assert_eq!(e.code, 53405, "{failed:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the failure comes at once, not at the ICE timeout: {:?}",
        started.elapsed()
    );
    call.disconnect();
    device.force_destroy();
    lab.shutdown().await;
}

/// A TURN server that is closed (UDP and TCP) or never answers: the call goes ahead on host
/// candidates, held up by gathering no longer than its limit.
#[tokio::test]
async fn unreachable_and_silent_turn_servers() {
    logs();
    let lab = start_lab().await;
    let closed = free_port();
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let urls = vec![
        format!("turn:127.0.0.1:{closed}?transport=udp"),
        format!("turn:127.0.0.1:{closed}?transport=tcp"),
        format!("turn:127.0.0.1:{silent_port}?transport=udp"),
    ];
    let servers = vec![IceServer {
        urls: urls.clone(),
        username: Some("u".into()),
        credential: Some("p".into()),
    }];
    let (device, _events, audio) = device_with_audio(
        &lab,
        "bad-turn",
        options(&lab, None, servers, IceTransportPolicy::All),
        Some(TONE_HZ),
    );
    let started = Instant::now();
    let call = device.connect(to(ECHO)).await.unwrap();
    let mut events = call.events();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Accept)).await;
    let setup = started.elapsed();
    assert!(
        setup < twilio_voice::media::task::GATHER_TIMEOUT + Duration::from_secs(3),
        "gathering held the call up for {setup:?}"
    );
    let (f, _) = wait_to_hear(&audio.sink(call.id()).unwrap(), TONE_HZ, T).await;
    assert!(
        (f - TONE_HZ).abs() < 15.0,
        "host candidates carry the call: {f} Hz"
    );
    let log = logged();
    let reason = |url: &str, why: &str| {
        assert!(
            log.lines().any(|l| l.contains(url) && l.contains(why)),
            "{url}: no `{why}` logged:\n{log}"
        );
    };
    reason(&urls[0], "unreachable");
    reason(&urls[1], "refused");
    reason(&urls[2], "no answer from the TURN server");
    call.disconnect();
    wait_call(&mut events, T, |e| matches!(e, CallEvent::Disconnect)).await;
    device.force_destroy();
    lab.shutdown().await;
    drop(silent);
}
