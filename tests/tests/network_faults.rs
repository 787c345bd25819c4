//! Network faults against the real handset: `offhook run` (the simulated board, audio on
//! PulseAudio null sinks) in its own network namespace, joined by a veth pair to the root
//! namespace, where this test runs the offhook-server and offhook-lab on the veth's address.
//! The link is cut with `ip link set … down` on the root side.
//!
//! - a 10 s cut mid-call: `reconnecting` on screen, then not, and the echo is heard again;
//! - a 90 s cut: the call ends with the reason on screen, and once the link is back the same
//!   process registers again by itself (and calls work);
//! - DNS failing at boot: the namespace's resolver (`/etc/netns/NAME/resolv.conf`, which
//!   `ip netns exec` mounts over `/etc/resolv.conf`) is a tiny DNS server of this test that
//!   answers SERVFAIL at first: "No network" on screen, repeated lookups, then the idle screen once
//!   it answers.
//!
//! They need root and `ip` (iproute2); without them they say why and return. Namespaces,
//! links, files and processes are removed by Drop guards, pass or fail. They need
//! `target/<profile>/offhook` (`cargo build -p offhook`; `cargo test --workspace` builds it).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use offhook::demo::{DemoEnv, DemoOptions};
use offhook_e2e::init_logs;
use offhook_e2e::real_handset::{HandsetProcess, Mouth, RATE, VirtualAudioRig, write_profile};

const MOUTH_HZ: f64 = 700.0;
const T: Duration = Duration::from_secs(15);
/// The idle screen, shown only while registered ("Ready" is also in other screens' status
/// bar).
const IDLE: &str = "Idle desk";

/// Why these tests cannot run here, if they cannot.
fn unsupported() -> Option<String> {
    // SAFETY: no arguments, no side effects.
    if unsafe { libc::geteuid() } != 0 {
        return Some("network namespaces need root".into());
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some("`ip` is missing (apt-get install iproute2)".into());
    }
    None
}

macro_rules! require_netns {
    () => {
        if let Some(why) = unsupported() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// One PulseAudio for the test binary, and a lock so the tests take turns (they also cut
/// links with deliberate outages; running them side by side would only muddle the timing).
struct Shared {
    turn: tokio::sync::Mutex<()>,
    dir: PathBuf,
    rig: VirtualAudioRig,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("offhook-netfaults-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test dir");
        let rig = VirtualAudioRig::start(&dir).unwrap_or_else(|e| panic!("{e}"));
        // Kept in a static, never dropped: ended when the test binary exits.
        rig.end_at_exit();
        // SAFETY: set before any audio thread of this process reads ALSA's configuration.
        unsafe { std::env::set_var("ALSA_CONFIG_PATH", &rig.alsa_config) };
        Shared {
            turn: tokio::sync::Mutex::new(()),
            dir,
            rig,
        }
    })
}

fn ip(args: &[&str]) -> Result<(), String> {
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

/// A network namespace joined to this one by a veth pair (`host_ip` here, `ns_ip` there, a
/// /24 of their own), with an `/etc/netns/NAME/` directory; all removed on drop.
struct NetNs {
    name: String,
    host_if: String,
    host_ip: Ipv4Addr,
    etc: PathBuf,
}

impl NetNs {
    /// `tag` (one letter) tells this test's names and subnet from the others'.
    fn create(tag: char) -> NetNs {
        let pid = std::process::id();
        let name = format!("offhook-{pid}-{tag}");
        let host_if = format!("o{pid}{tag}h");
        let ns_if = format!("o{pid}{tag}n");
        let (a, b) = (150 + (tag as u8 % 50), (pid % 250) as u8);
        let host_ip = Ipv4Addr::new(10, a, b, 1);
        let ns_ip = Ipv4Addr::new(10, a, b, 2);
        let etc = PathBuf::from("/etc/netns").join(&name);
        // The guard exists before anything is made, so a failure half-way cleans up too.
        let ns = NetNs {
            name,
            host_if,
            host_ip,
            etc,
        };
        let n = ns.name.as_str();
        let steps: Vec<Vec<String>> = vec![
            vec!["netns".into(), "add".into(), n.into()],
            vec![
                "link".into(),
                "add".into(),
                ns.host_if.clone(),
                "type".into(),
                "veth".into(),
                "peer".into(),
                "name".into(),
                ns_if.clone(),
            ],
            vec![
                "link".into(),
                "set".into(),
                ns_if.clone(),
                "netns".into(),
                n.into(),
            ],
            vec![
                "addr".into(),
                "add".into(),
                format!("{host_ip}/24"),
                "dev".into(),
                ns.host_if.clone(),
            ],
            vec!["link".into(), "set".into(), ns.host_if.clone(), "up".into()],
            vec![
                "-n".into(),
                n.into(),
                "addr".into(),
                "add".into(),
                format!("{ns_ip}/24"),
                "dev".into(),
                ns_if.clone(),
            ],
            vec![
                "-n".into(),
                n.into(),
                "link".into(),
                "set".into(),
                ns_if,
                "up".into(),
            ],
            vec![
                "-n".into(),
                n.into(),
                "link".into(),
                "set".into(),
                "lo".into(),
                "up".into(),
            ],
        ];
        for step in steps {
            let args: Vec<&str> = step.iter().map(String::as_str).collect();
            ip(&args).unwrap_or_else(|e| panic!("setting up the namespace: {e}"));
        }
        std::fs::create_dir_all(&ns.etc).expect("/etc/netns/NAME");
        ns
    }

    /// The prefix that runs a program inside the namespace.
    fn exec_prefix(&self) -> [&str; 3] {
        ["netns", "exec", self.name.as_str()]
    }

    fn set_link(&self, up: bool) {
        ip(&["link", "set", &self.host_if, if up { "up" } else { "down" }])
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting one end of a veth deletes both.
        let _ = ip(&["link", "del", &self.host_if]);
        let _ = ip(&["netns", "del", &self.name]);
        let _ = std::fs::remove_dir_all(&self.etc);
    }
}

/// The lab and server on the namespace link's root side, and the phone inside it.
struct Setup {
    handset: HandsetProcess,
    env: Option<DemoEnv>,
    ns: NetNs,
}

impl Setup {
    async fn start(tag: char, server_host: Option<String>, prepare: impl FnOnce(&NetNs)) -> Setup {
        let shared = shared();
        let ns = NetNs::create(tag);
        prepare(&ns);
        let dir = shared.dir.join(tag.to_string());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        let options = DemoOptions {
            capture: "mic_monitor".into(),
            playback: "ear".into(),
            sample_rate: RATE,
            board_profile: write_profile(&dir).display().to_string(),
            listen_ip: IpAddr::V4(ns.host_ip),
            server_host,
            ..Default::default()
        };
        let env = offhook::demo::start(&dir.join("env"), &options)
            .await
            .expect("server and lab start");
        let mut prefix = vec!["ip"];
        prefix.extend(ns.exec_prefix());
        let handset =
            HandsetProcess::spawn(&prefix, &env.config_path, &dir, &shared.rig.alsa_config)
                .unwrap_or_else(|e| panic!("{e}"));
        Setup {
            handset,
            env: Some(env),
            ns,
        }
    }

    fn env(&self) -> &DemoEnv {
        self.env.as_ref().expect("env")
    }

    /// Blocking phone waits off the runtime's threads.
    async fn phone<R>(&self, f: impl FnOnce(&HandsetProcess) -> Result<R, String>) -> R {
        tokio::task::block_in_place(|| f(&self.handset)).unwrap_or_else(|e| panic!("{e}"))
    }

    async fn echo_call(&self, mouth: &Mouth) {
        self.phone(|h| {
            h.wait_screen(IDLE, Duration::from_secs(30))?;
            h.cmd("hook up")?;
            h.wait_screen("Dial ", T)?;
            h.cmd("hold 2 900ms")?;
            h.wait_screen("In call with Echo test", T)?;
            mouth.wait_to_hear(MOUTH_HZ, T)
        })
        .await;
    }

    async fn finish(mut self) {
        let status = self.handset.stop(Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| s.success()),
            "the phone stops cleanly: {status:?}\n{}",
            self.handset.log_tail()
        );
        if let Some(env) = self.env.take() {
            env.shutdown().await;
        }
        drop(self.ns);
    }
}

/// Sleeps until `at`: the deliberate outage under test, measured from when it began.
async fn until(at: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_s_cut_mid_call_reconnects_and_the_audio_resumes() {
    require_netns!();
    init_logs();
    let shared = shared();
    let _turn = shared.turn.lock().await;
    let setup = Setup::start('c', None, |_| {}).await;
    let mouth = Mouth::start(MOUTH_HZ);
    setup.echo_call(&mouth).await;

    setup.ns.set_link(false);
    let cut = Instant::now();
    let back_at = cut + Duration::from_secs(10);
    setup
        .phone(|h| {
            h.wait_screen_where("reconnecting", Duration::from_secs(10), |s| {
                s.contains("In call with Echo test") && s.contains("reconnecting")
            })
        })
        .await;
    let noticed = cut.elapsed();
    until(back_at).await;
    setup.ns.set_link(true);
    let restored = Instant::now();
    setup
        .phone(|h| {
            h.wait_screen_where("reconnected", Duration::from_secs(30), |s| {
                s.contains("In call with Echo test") && !s.contains("reconnecting")
            })
        })
        .await;
    let reconnected = restored.elapsed();
    // Heard after the link came back, not before the cut.
    setup
        .phone(|_| mouth.wait_to_hear_after(restored, MOUTH_HZ, T))
        .await;
    eprintln!(
        "cut {:?}: reconnecting after {noticed:?}, reconnected {reconnected:?} after the link came back",
        back_at - cut
    );
    let calls = setup.env().lab.control().calls().await.expect("calls");
    let leg = calls
        .iter()
        .flat_map(|c| c.legs.iter())
        .find(|l| l.identity.as_deref() == Some("desk"))
        .expect("our leg")
        .clone();
    assert_eq!(leg.state, "in-progress", "the call survived: {leg:?}");
    setup
        .phone(|h| {
            h.cmd("hook down")?;
            h.wait_screen(IDLE, T)
        })
        .await;
    drop(mouth);
    setup.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_90_s_cut_ends_the_call_saying_why_and_the_phone_registers_again_by_itself() {
    require_netns!();
    init_logs();
    let shared = shared();
    let _turn = shared.turn.lock().await;
    let setup = Setup::start('l', None, |_| {}).await;
    let mouth = Mouth::start(MOUTH_HZ);
    setup.echo_call(&mouth).await;
    let pid = setup.handset.pid();

    setup.ns.set_link(false);
    let cut = Instant::now();
    let back_at = cut + Duration::from_secs(90);
    // The call ends (during the outage, or when the phone's reconnect is refused once the
    // link is back), and the screen says why.
    let ended_during = tokio::task::block_in_place(|| {
        setup
            .handset
            .wait_screen_where("the call ended", back_at - Instant::now(), |s| {
                s.contains("Call ended")
            })
            .ok()
    });
    until(back_at).await;
    setup.ns.set_link(true);
    let restored = Instant::now();
    let ended = match ended_during {
        Some(screen) => screen,
        None => {
            setup
                .phone(|h| {
                    h.wait_screen_where("the call ended", Duration::from_secs(60), |s| {
                        s.contains("Call ended")
                    })
                })
                .await
        }
    };
    let ended_after = cut.elapsed();
    // "Call ended: Echo test 1:29 <cause> | <status bar>"; a plain hang-up's cause is
    // "Call ended", this one must say what went wrong.
    let cause = ended
        .split(" | ")
        .next()
        .and_then(|s| s.split_once("Echo test "))
        .map(|(_, rest)| {
            rest.split_once(' ')
                .map_or("", |(_, c)| c)
                .trim()
                .to_string()
        })
        .unwrap_or_default();
    assert!(
        !cause.is_empty() && cause != "Call ended" && cause != "They hung up",
        "the screen says why the call ended: {ended:?}"
    );
    // Hang up; the same process registers again by itself.
    setup
        .phone(|h| {
            h.cmd("hook down")?;
            h.wait_screen(IDLE, Duration::from_secs(90))
        })
        .await;
    let registered = restored.elapsed();
    assert!(setup.handset.alive(), "the phone was not restarted");
    assert_eq!(setup.handset.pid(), pid);
    eprintln!(
        "cut 90 s: the call ended after {ended_after:?} ({ended:?}); registered {registered:?} after the link came back"
    );
    // And calls work again.
    setup.echo_call(&mouth).await;
    setup
        .phone(|h| {
            h.cmd("hook down")?;
            h.wait_screen(IDLE, T)
        })
        .await;
    drop(mouth);
    setup.finish().await;
}

/// A DNS server for one name: SERVFAIL until `answering`, then an A record (and an empty
/// answer for other types). Counts the A queries for the name. Stopped on drop.
struct DnsResponder {
    answering: Arc<AtomicBool>,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsResponder {
    fn start(listen: SocketAddr, name: &str, answer: Ipv4Addr) -> DnsResponder {
        let socket = UdpSocket::bind(listen).unwrap_or_else(|e| panic!("DNS on {listen}: {e}"));
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let answering = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, q, s) = (answering.clone(), queries.clone(), stop.clone());
        let name = name.to_ascii_lowercase();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(reply) =
                    dns_reply(&buf[..n], &name, answer, a.load(Ordering::SeqCst), &q)
                {
                    let _ = socket.send_to(&reply, from);
                }
            }
        });
        DnsResponder {
            answering,
            queries,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for DnsResponder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The reply to one query (RFC 1035 §4): `None` for what is not a query.
fn dns_reply(
    query: &[u8],
    name: &str,
    answer: Ipv4Addr,
    answering: bool,
    a_queries: &AtomicUsize,
) -> Option<Vec<u8>> {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return None;
    }
    // The question's name, as labels.
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question_end = at + 4;
    let question = query.get(12..question_end)?;
    let ours = labels.join(".") == name;
    if ours && qtype == 1 {
        a_queries.fetch_add(1, Ordering::SeqCst);
    }
    let rcode = if !answering {
        2 // SERVFAIL: the resolver is not working yet
    } else if ours {
        0
    } else {
        3 // NXDOMAIN
    };
    let answers = u16::from(answering && ours && qtype == 1);
    let mut reply = Vec::with_capacity(question_end + 16);
    reply.extend_from_slice(&query[0..2]);
    reply.push(0x80 | (query[2] & 0x01)); // a response, RD copied
    reply.push(0x80 | rcode); // RA
    reply.extend_from_slice(&[0, 1]);
    reply.extend_from_slice(&answers.to_be_bytes());
    reply.extend_from_slice(&[0, 0, 0, 0]);
    reply.extend_from_slice(question);
    if answers == 1 {
        reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4]);
        reply.extend_from_slice(&answer.octets());
    }
    Some(reply)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_failing_at_boot_says_no_network_retries_and_registers_once_it_answers() {
    require_netns!();
    init_logs();
    let shared = shared();
    let _turn = shared.turn.lock().await;
    const NAME: &str = "offhook-server.test";
    let dns: Arc<Mutex<Option<DnsResponder>>> = Arc::new(Mutex::new(None));
    let slot = dns.clone();
    let setup = Setup::start('d', Some(NAME.into()), move |ns| {
        // Before the phone starts: its resolver is our responder on the link's root side.
        std::fs::write(
            ns.etc.join("resolv.conf"),
            format!("nameserver {}\noptions timeout:1 attempts:1\n", ns.host_ip),
        )
        .expect("resolv.conf");
        *slot.lock().unwrap() = Some(DnsResponder::start(
            SocketAddr::new(IpAddr::V4(ns.host_ip), 53),
            NAME,
            ns.host_ip,
        ));
    })
    .await;
    let guard = dns.lock().unwrap().take().expect("DNS responder");
    let screen = setup
        .phone(|h| h.wait_screen_where("No network", T, |s| s.contains("No network")))
        .await;
    // It keeps trying while DNS fails.
    let deadline = Instant::now() + Duration::from_secs(30);
    while guard.queries.load(Ordering::SeqCst) < 3 {
        assert!(
            Instant::now() < deadline,
            "the phone stopped asking for {NAME}: {} lookups",
            guard.queries.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed_lookups = guard.queries.load(Ordering::SeqCst);
    assert!(
        setup.handset.screen().contains("No network"),
        "still no network while DNS fails: {}",
        setup.handset.screen()
    );
    guard.answering.store(true, Ordering::SeqCst);
    let answering = Instant::now();
    setup
        .phone(|h| h.wait_screen(IDLE, Duration::from_secs(90)))
        .await;
    eprintln!(
        "DNS: {screen:?} after boot, {failed_lookups} failed lookups, Ready {:?} after DNS answered",
        answering.elapsed()
    );
    setup.finish().await;
    drop(guard);
}

#[test]
fn the_dns_responder_answers_a_queries_and_fails_before_it_should() {
    // A query for offhook-server.test, type A, class IN, id 0x1234, RD.
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["offhook-server", "test"] {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let count = AtomicUsize::new(0);
    let ip = Ipv4Addr::new(10, 1, 2, 3);
    let fail = dns_reply(&q, "offhook-server.test", ip, false, &count).unwrap();
    assert_eq!(&fail[..4], &[0x12, 0x34, 0x81, 0x82]);
    assert_eq!(&fail[6..8], &[0, 0]);
    let ok = dns_reply(&q, "offhook-server.test", ip, true, &count).unwrap();
    assert_eq!(&ok[..4], &[0x12, 0x34, 0x81, 0x80]);
    assert_eq!(&ok[6..8], &[0, 1]);
    assert_eq!(&ok[ok.len() - 4..], &[10, 1, 2, 3]);
    assert_eq!(count.load(Ordering::SeqCst), 2);
}
