//! The C API, called as C calls it: the demo traffic gets the demo's verdicts packet by
//! packet and in bursts, failures are codes with messages and leave out-parameters
//! alone, a failed reload keeps the old policy, and (feature `doca-emu`, as root) the
//! hardware backend on the DOCA Flow contract emulator gives the same verdicts without
//! breaking a DOCA rule.

use std::ffi::{CStr, CString};
use std::ptr;

use dpu_fw::conntrack::CtState;
use dpufw::*;

fn last_error() -> String {
    // SAFETY: dpufw_last_error never returns NULL and its string is NUL-terminated.
    unsafe { CStr::from_ptr(dpufw_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn parse(text: &str, name: &str) -> Result<*mut dpufw_policy, (dpufw_status, String)> {
    let name = CString::new(name).unwrap();
    let mut p = ptr::null_mut();
    // SAFETY: `text` is readable for its length, `name` NUL-terminated, `p` writable.
    let s = unsafe { dpufw_policy_parse(text.as_ptr(), text.len(), name.as_ptr(), &mut p) };
    if s == dpufw_status::DPUFW_OK {
        Ok(p)
    } else {
        assert!(p.is_null(), "out is untouched on failure");
        Err((s, last_error()))
    }
}

fn demo_policy() -> *mut dpufw_policy {
    parse(dpu_fw::demo::POLICY_TOML, dpu_fw::demo::POLICY_FILE).unwrap()
}

/// A firewall on `backend`; the policy is freed at once (the firewall keeps a copy).
fn firewall(
    policy: *mut dpufw_policy,
    backend: dpufw_backend,
    eal: *const dpufw_eal,
) -> *mut dpufw_firewall {
    let mut fw = ptr::null_mut();
    // SAFETY: live handles (or NULL eal), writable out.
    let s = unsafe { dpufw_firewall_new(policy, backend, eal, &mut fw) };
    assert_eq!(s, dpufw_status::DPUFW_OK, "{}", last_error());
    // SAFETY: live, freed once.
    unsafe { dpufw_policy_free(policy) };
    fw
}

fn port(fw: *mut dpufw_firewall, name: &str) -> u16 {
    let name = CString::new(name).unwrap();
    let mut id = u16::MAX;
    // SAFETY: live firewall, NUL-terminated name, writable out.
    let s = unsafe { dpufw_firewall_port_id(fw, name.as_ptr(), &mut id) };
    assert_eq!(s, dpufw_status::DPUFW_OK, "{}", last_error());
    id
}

fn rule_name(fw: *mut dpufw_firewall, rule: i32) -> Option<String> {
    let i = usize::try_from(rule).ok()?;
    // SAFETY: live firewall.
    let p = unsafe { dpufw_firewall_rule_name(fw, i) };
    assert!(!p.is_null(), "rule {rule} has a name");
    // SAFETY: non-NULL, NUL-terminated, alive until the next reload.
    Some(unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string())
}

fn state(s: Option<CtState>) -> dpufw_ct_state {
    match s {
        None => dpufw_ct_state::DPUFW_CT_NONE,
        Some(CtState::New) => dpufw_ct_state::DPUFW_CT_NEW,
        Some(CtState::Established) => dpufw_ct_state::DPUFW_CT_ESTABLISHED,
        Some(CtState::Related) => dpufw_ct_state::DPUFW_CT_RELATED,
        Some(CtState::Invalid) => dpufw_ct_state::DPUFW_CT_INVALID,
    }
}

/// The demo traffic packet by packet: every verdict's rule and state are the demo's,
/// and pass/drop is the oracle's. Returns the verdicts.
fn run_demo(fw: *mut dpufw_firewall) -> Vec<dpufw_verdict> {
    let rules = dpu_fw::demo::policy();
    let mut out = Vec::new();
    for (i, p) in dpu_fw::demo::traffic_described().into_iter().enumerate() {
        let mut frame = p.frame.clone();
        let mut v = std::mem::MaybeUninit::<dpufw_verdict>::uninit();
        // SAFETY: live firewall; the frame is readable and writable for its length.
        let s = unsafe {
            dpufw_firewall_process(
                fw,
                port(fw, p.in_port),
                frame.as_mut_ptr(),
                frame.len(),
                i as u64 * 1_000_000,
                v.as_mut_ptr(),
            )
        };
        assert_eq!(s, dpufw_status::DPUFW_OK, "{}: {}", p.note, last_error());
        // SAFETY: written on DPUFW_OK.
        let v = unsafe { v.assume_init() };
        // On the hardware backend an offloaded connection's packets are decided in the
        // CT pipe, which checks no TCP window (as on a BlueField, and as Linux's flow
        // offload): they are `established` whatever the software path would say.
        let offloaded = v.in_hardware && v.ct_state == dpufw_ct_state::DPUFW_CT_ESTABLISHED;
        let want_state = if offloaded {
            Some(CtState::Established)
        } else {
            p.expect_state
        };
        let want = dpu_fw::oracle::evaluate_tracked(
            &rules,
            p.in_port,
            &doca_flow::packet::Headers::parse(&p.frame),
            want_state,
        );
        let want_rule = want.rule.map(|r| rules.rules[r].name.as_str());
        if !offloaded {
            assert_eq!(want_rule, p.expect_rule, "{}", p.note);
        }
        assert_eq!(rule_name(fw, v.rule).as_deref(), want_rule, "{}", p.note);
        assert_eq!(v.ct_state, state(want_state), "{}", p.note);
        assert_eq!(
            v.pass,
            want.action != dpu_fw::model::Action::Drop,
            "{}",
            p.note
        );
        assert_eq!(v.pass, v.action != dpufw_action::DPUFW_ACTION_DROP);
        out.push(v);
    }
    out
}

/// The demo traffic in bursts (each run of packets from one port), as `run_demo`.
fn run_demo_bursts(fw: *mut dpufw_firewall) -> Vec<dpufw_verdict> {
    let traffic = dpu_fw::demo::traffic_described();
    let mut out = Vec::new();
    let mut start = 0;
    while start < traffic.len() {
        let end = (start..traffic.len())
            .find(|&i| traffic[i].in_port != traffic[start].in_port)
            .unwrap_or(traffic.len());
        let mut frames: Vec<Vec<u8>> = traffic[start..end]
            .iter()
            .map(|p| p.frame.clone())
            .collect();
        let ptrs: Vec<*mut u8> = frames.iter_mut().map(|f| f.as_mut_ptr()).collect();
        let lens: Vec<usize> = frames.iter().map(Vec::len).collect();
        let mut v = vec![
            dpufw_verdict {
                pass: false,
                action: dpufw_action::DPUFW_ACTION_DROP,
                out_port: -7,
                rule: -7,
                ct_state: dpufw_ct_state::DPUFW_CT_NONE,
                table_full: false,
                in_hardware: false,
            };
            end - start
        ];
        // SAFETY: `count` frames, lengths and verdicts; the frames do not overlap.
        let s = unsafe {
            dpufw_firewall_process_burst(
                fw,
                port(fw, traffic[start].in_port),
                ptrs.as_ptr(),
                lens.as_ptr(),
                end - start,
                start as u64 * 1_000_000,
                v.as_mut_ptr(),
            )
        };
        assert_eq!(s, dpufw_status::DPUFW_OK, "{}", last_error());
        out.extend(v);
        start = end;
    }
    out
}

#[test]
fn demo_traffic_gets_the_demo_verdicts_packet_by_packet_and_in_bursts() {
    let single = firewall(demo_policy(), DPUFW_BACKEND_SOFTWARE, ptr::null());
    let one = run_demo(single);
    let bursts = firewall(demo_policy(), DPUFW_BACKEND_SOFTWARE, ptr::null());
    let many = run_demo_bursts(bursts);
    assert_eq!(one, many);
    // Forwarded packets name their port; the demo sends the web chain to `hbn`.
    let hbn = port(single, "hbn");
    assert!(one.iter().any(|v| v.out_port == i32::from(hbn)));
    assert!(
        one.iter()
            .all(|v| (v.action == dpufw_action::DPUFW_ACTION_FORWARD) == (v.out_port >= 0))
    );
    // SAFETY: live firewalls.
    let conns = unsafe {
        (
            dpufw_firewall_connections(single),
            dpufw_firewall_connections(bursts),
        )
    };
    assert!(conns.0 > 0);
    assert_eq!(conns.0, conns.1);
    // SAFETY: live, freed once.
    unsafe {
        dpufw_firewall_free(single);
        dpufw_firewall_free(bursts);
    }
}

/// One verdict per frame of `frames` from port `port`, in one burst.
fn burst(fw: *mut dpufw_firewall, port: u16, frames: &[Vec<u8>], now: u64) -> Vec<dpufw_verdict> {
    let mut frames = frames.to_vec();
    let ptrs: Vec<*mut u8> = frames.iter_mut().map(|f| f.as_mut_ptr()).collect();
    let lens: Vec<usize> = frames.iter().map(Vec::len).collect();
    let blank = dpufw_verdict {
        pass: false,
        action: dpufw_action::DPUFW_ACTION_DROP,
        out_port: -7,
        rule: -7,
        ct_state: dpufw_ct_state::DPUFW_CT_INVALID,
        table_full: true,
        in_hardware: true,
    };
    let mut v = vec![blank; frames.len()];
    // SAFETY: `count` frames, lengths and verdicts; the frames do not overlap.
    let s = unsafe {
        dpufw_firewall_process_burst(
            fw,
            port,
            ptrs.as_ptr(),
            lens.as_ptr(),
            frames.len(),
            now,
            v.as_mut_ptr(),
        )
    };
    assert_eq!(s, dpufw_status::DPUFW_OK, "{}", last_error());
    v
}

/// A stateless policy's bursts (no outcome per frame on the direct path) give every
/// field of the verdicts its packets get one by one, burst after burst (the later ones
/// on the direct path of the firewall's shape).
#[test]
fn a_stateless_policys_bursts_equal_its_packets_one_by_one() {
    const POLICY: &str = r#"
        [ports.p0]
        role = "uplink"
        id = 0
        [ports.p1]
        role = "host"
        id = 1
        [[rules]]
        name = "web"
        in_port = "p0"
        protocol = "tcp"
        dst_port = 80
        action = "accept"
        [[rules]]
        name = "dns"
        in_port = "p0"
        protocol = "udp"
        dst_port = 53
        action = "drop"
        [defaults]
        inbound = "drop"
        outbound = "accept"
    "#;
    use doca_flow::packet::PacketBuilder;
    let new = || {
        let p = parse(POLICY, "stateless.toml").unwrap();
        firewall(p, DPUFW_BACKEND_SOFTWARE, ptr::null())
    };
    let (single, bursts) = (new(), new());
    let p0 = port(single, "p0");
    let (a, b) = ([198, 51, 100, 7].into(), [10, 0, 0, 9].into());
    let frames: Vec<Vec<u8>> = (0..48u16)
        .map(|i| match i % 4 {
            0 => PacketBuilder::tcp4(a, b, 40000 + i, 80).build(),
            1 => PacketBuilder::udp4(a, b, 5000, 53).build(),
            2 => PacketBuilder::tcp4(a, b, 40000, 22).build(),
            _ => PacketBuilder::icmp4(a, b, 8, 0).build(),
        })
        .collect();
    for round in 0..3u64 {
        let one: Vec<dpufw_verdict> = frames
            .iter()
            .map(|f| {
                let mut f = f.clone();
                let mut v = std::mem::MaybeUninit::<dpufw_verdict>::uninit();
                // SAFETY: live firewall; the frame is readable and writable for its
                // length; `v` is writable.
                let s = unsafe {
                    dpufw_firewall_process(
                        single,
                        p0,
                        f.as_mut_ptr(),
                        f.len(),
                        round,
                        v.as_mut_ptr(),
                    )
                };
                assert_eq!(s, dpufw_status::DPUFW_OK, "{}", last_error());
                // SAFETY: written on DPUFW_OK.
                unsafe { v.assume_init() }
            })
            .collect();
        assert_eq!(burst(bursts, p0, &frames, round), one, "round {round}");
        // What the policy says: web passes, dns is dropped, the rest is the inbound
        // default's (dropped, no rule); no state, no full table, no hardware.
        let names: Vec<Option<String>> = one
            .iter()
            .take(4)
            .map(|v| rule_name(single, v.rule))
            .collect();
        assert_eq!(names, [Some("web".into()), Some("dns".into()), None, None]);
        let passes: Vec<bool> = one.iter().take(4).map(|v| v.pass).collect();
        assert_eq!(passes, [true, false, false, false]);
        assert!(
            one.iter()
                .all(|v| v.ct_state == dpufw_ct_state::DPUFW_CT_NONE
                    && !v.table_full
                    && !v.in_hardware)
        );
    }
    // SAFETY: live, freed once.
    unsafe {
        dpufw_firewall_free(single);
        dpufw_firewall_free(bursts);
    }
}

#[test]
fn counters_count_the_packets_of_counted_rules() {
    let fw = firewall(demo_policy(), DPUFW_BACKEND_SOFTWARE, ptr::null());
    let verdicts = run_demo(fw);
    let rules = dpu_fw::demo::policy();
    // SAFETY: live firewall.
    assert_eq!(unsafe { dpufw_firewall_rule_count(fw) }, rules.rules.len());
    for (i, r) in rules.rules.iter().enumerate() {
        let mut c = dpufw_counters::default();
        // SAFETY: live firewall, writable out.
        let s = unsafe { dpufw_firewall_rule_counters(fw, i, &mut c) };
        assert_eq!(s, dpufw_status::DPUFW_OK);
        let decided = verdicts.iter().filter(|v| v.rule == i as i32).count() as u64;
        assert_eq!(c.counted, r.count, "{}", r.name);
        assert_eq!(c.packets, if r.count { decided } else { 0 }, "{}", r.name);
        assert_eq!(c.bytes > 0, c.packets > 0, "{}", r.name);
    }
    let mut c = dpufw_counters::default();
    // SAFETY: live firewall, writable out.
    let s = unsafe { dpufw_firewall_rule_counters(fw, rules.rules.len(), &mut c) };
    assert_eq!(s, dpufw_status::DPUFW_ERR_INVALID_ARGUMENT);
    assert!(last_error().contains("past the end"), "{}", last_error());
    // SAFETY: live, freed once.
    unsafe { dpufw_firewall_free(fw) };
}

#[test]
fn failures_are_codes_with_messages() {
    use dpufw_status::*;
    let (s, msg) = parse("[[rules]]\naction = \"allow\"\n", "bad.toml").unwrap_err();
    assert_eq!(s, DPUFW_ERR_POLICY);
    assert!(
        msg.starts_with("bad.toml:2:10: error: unknown action `allow`"),
        "{msg}"
    );

    let mut p = ptr::null_mut();
    let bytes = [0xffu8, 0xfe];
    // SAFETY: two readable bytes, NULL name allowed, writable out.
    let s = unsafe { dpufw_policy_parse(bytes.as_ptr(), 2, ptr::null(), &mut p) };
    assert_eq!((s, p.is_null()), (DPUFW_ERR_INVALID_ARGUMENT, true));
    assert!(last_error().contains("not UTF-8"));

    let missing = CString::new("/nonexistent/fw.toml").unwrap();
    // SAFETY: NUL-terminated path, writable out.
    let s = unsafe { dpufw_policy_load(missing.as_ptr(), &mut p) };
    assert_eq!((s, p.is_null()), (DPUFW_ERR_IO, true));
    assert!(
        last_error().contains("/nonexistent/fw.toml"),
        "{}",
        last_error()
    );

    // SAFETY: NULL pointers are what is tested; nothing is dereferenced.
    unsafe {
        assert_eq!(dpufw_policy_load(ptr::null(), &mut p), DPUFW_ERR_NULL);
        assert_eq!(
            dpufw_policy_parse(ptr::null(), 3, ptr::null(), &mut p),
            DPUFW_ERR_NULL
        );
        assert_eq!(
            dpufw_policy_parse(b"x".as_ptr(), 1, ptr::null(), ptr::null_mut()),
            DPUFW_ERR_NULL
        );
        assert_eq!(last_error(), "out is NULL");
        let mut fw = ptr::null_mut();
        assert_eq!(
            dpufw_firewall_new(ptr::null(), 0, ptr::null(), &mut fw),
            DPUFW_ERR_NULL
        );
        let policy = demo_policy();
        assert_eq!(
            dpufw_firewall_new(policy, 9, ptr::null(), &mut fw),
            DPUFW_ERR_INVALID_ARGUMENT
        );
        assert!(
            last_error().contains("unknown backend 9"),
            "{}",
            last_error()
        );
        assert_eq!(
            dpufw_firewall_new(policy, DPUFW_BACKEND_HARDWARE, ptr::null(), &mut fw),
            DPUFW_ERR_NULL
        );
        assert!(last_error().contains("dpufw_eal_init"), "{}", last_error());
        assert!(fw.is_null());
        let mut v = std::mem::MaybeUninit::uninit();
        assert_eq!(
            dpufw_firewall_process(ptr::null_mut(), 0, ptr::null_mut(), 0, 0, v.as_mut_ptr()),
            DPUFW_ERR_NULL
        );
        dpufw_policy_free(ptr::null_mut());
        dpufw_firewall_free(ptr::null_mut());
        dpufw_eal_free(ptr::null_mut());

        let fw = firewall(policy, DPUFW_BACKEND_SOFTWARE, ptr::null());
        let mut frame = [0u8; 60];
        assert_eq!(
            dpufw_firewall_process(fw, 77, frame.as_mut_ptr(), frame.len(), 0, v.as_mut_ptr()),
            DPUFW_ERR_INVALID_ARGUMENT
        );
        assert!(
            last_error().contains("no port with id 77"),
            "{}",
            last_error()
        );
        let nope = CString::new("eth9").unwrap();
        let mut id = 0;
        assert_eq!(
            dpufw_firewall_port_id(fw, nope.as_ptr(), &mut id),
            DPUFW_ERR_INVALID_ARGUMENT
        );
        assert!(dpufw_firewall_port_name(fw, 77).is_null());
        assert!(dpufw_firewall_rule_name(fw, 1000).is_null());
        // A runt frame is a packet like any other: no panic, a verdict.
        assert_eq!(
            dpufw_firewall_process(fw, port(fw, "p0"), frame.as_mut_ptr(), 3, 0, v.as_mut_ptr()),
            DPUFW_OK
        );
        dpufw_firewall_free(fw);
    }
}

#[test]
fn a_failed_reload_keeps_the_old_policy_and_a_good_one_keeps_the_connections() {
    let fw = firewall(demo_policy(), DPUFW_BACKEND_SOFTWARE, ptr::null());
    run_demo(fw);
    // SAFETY: live firewall.
    let conns = unsafe { dpufw_firewall_connections(fw) };
    assert!(conns > 0);
    // Parses, but compiles to nothing: no ports.
    let portless = parse(
        "[[rules]]\nname = \"x\"\naction = \"accept\"\n",
        "portless.toml",
    )
    .unwrap();
    // SAFETY: live handles.
    let s = unsafe { dpufw_firewall_reload(fw, portless) };
    assert_eq!(s, dpufw_status::DPUFW_ERR_COMPILE, "{}", last_error());
    assert!(last_error().contains("no ports"), "{}", last_error());
    // The demo policy is still in force, counters and all.
    assert_eq!(rule_name(fw, 0).as_deref(), Some("drop-bogons"));
    let mut c = dpufw_counters::default();
    // SAFETY: live firewall, writable out.
    unsafe { dpufw_firewall_rule_counters(fw, 0, &mut c) };
    assert_eq!(c.packets, 1);

    let mut ssh_only = dpu_fw::demo::POLICY_TOML.to_string();
    let rules_at = ssh_only.find("[[rules]]").unwrap();
    ssh_only.truncate(rules_at);
    ssh_only.push_str(
        "[[rules]]\nname = \"ssh-only\"\nprotocol = \"tcp\"\ndst_port = 22\naction = \"accept\"\ncount = true\n",
    );
    let ssh_only = parse(&ssh_only, "ssh-only.toml").unwrap();
    // SAFETY: live handles; the policy is freed once, after the reload.
    unsafe {
        assert_eq!(
            dpufw_firewall_reload(fw, ssh_only),
            dpufw_status::DPUFW_OK,
            "{}",
            last_error()
        );
        dpufw_policy_free(ssh_only);
        assert_eq!(dpufw_firewall_rule_count(fw), 1);
        assert_eq!(dpufw_firewall_connections(fw), conns);
    }
    assert_eq!(rule_name(fw, 0).as_deref(), Some("ssh-only"));
    // The connection the demo opened to the web server is still established.
    let answer = &dpu_fw::demo::traffic_described()[9];
    assert_eq!(answer.note, "the answer");
    let mut frame = answer.frame.clone();
    let mut v = std::mem::MaybeUninit::uninit();
    // SAFETY: live firewall, frame readable and writable, writable out.
    let v = unsafe {
        let s = dpufw_firewall_process(
            fw,
            port(fw, "p0"),
            frame.as_mut_ptr(),
            frame.len(),
            30_000_000,
            v.as_mut_ptr(),
        );
        assert_eq!(s, dpufw_status::DPUFW_OK, "{}", last_error());
        v.assume_init()
    };
    assert_eq!(v.ct_state, dpufw_ct_state::DPUFW_CT_ESTABLISHED);
    assert_eq!(
        v.rule, -1,
        "no `established` rule any more: the inbound default"
    );
    // SAFETY: live, freed once.
    unsafe { dpufw_firewall_free(fw) };
}

#[test]
fn version_is_the_crates() {
    // SAFETY: a static NUL-terminated string.
    let v = unsafe { CStr::from_ptr(dpufw_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

/// Without the hardware backend, asking for it says how to build a library that has it.
#[cfg(not(any(feature = "doca", feature = "doca-emu")))]
#[test]
fn hardware_without_the_feature_is_unsupported() {
    let mut eal = ptr::null_mut();
    // SAFETY: argc 0 with NULL argv, writable out.
    let s = unsafe { dpufw_eal_init(0, ptr::null(), &mut eal) };
    let s = if s == dpufw_status::DPUFW_OK {
        // Built with DPDK only (and run as root): the EAL starts, the backend is refused.
        let mut fw = ptr::null_mut();
        // SAFETY: live handles, writable out; freed once.
        unsafe {
            let s = dpufw_firewall_new(demo_policy(), DPUFW_BACKEND_HARDWARE, eal, &mut fw);
            dpufw_eal_free(eal);
            s
        }
    } else {
        s
    };
    if cfg!(feature = "dpdk") && s == dpufw_status::DPUFW_ERR_EAL {
        // Not root: the EAL could not start, which is its own clear error.
        assert!(last_error().contains("rte_eal_init"), "{}", last_error());
        return;
    }
    assert_eq!(s, dpufw_status::DPUFW_ERR_UNSUPPORTED);
    assert!(last_error().contains("--features doca"), "{}", last_error());
}

/// The hardware backend on the DOCA Flow contract emulator: the demo's verdicts, packet
/// by packet and in bursts, a reload that updates the pipes, and no DOCA rule broken.
/// The EAL starts once per process, so this is one test.
#[cfg(feature = "doca-emu")]
#[test]
fn hardware_backend_on_the_emulator() {
    doca_flow::backend::emu::reset();
    let mut eal = ptr::null_mut();
    // SAFETY: argc 0 with NULL argv, writable out.
    let s = unsafe { dpufw_eal_init(0, ptr::null(), &mut eal) };
    assert_eq!(s, dpufw_status::DPUFW_OK, "needs root: {}", last_error());
    let fw = firewall(demo_policy(), DPUFW_BACKEND_HARDWARE, eal);
    let one = run_demo(fw);
    assert!(
        one.iter().any(|v| v.in_hardware),
        "offloaded connections are decided in the hardware pipes"
    );
    // A reload: the hardware pipes are updated, the connections stay.
    let again = demo_policy();
    // SAFETY: live handles, each freed once.
    unsafe {
        let conns = dpufw_firewall_connections(fw);
        let s = dpufw_firewall_reload(fw, again);
        assert_eq!(s, dpufw_status::DPUFW_OK, "{}", last_error());
        dpufw_policy_free(again);
        assert_eq!(dpufw_firewall_connections(fw), conns);
        dpufw_firewall_free(fw);
    }
    let fw = firewall(demo_policy(), DPUFW_BACKEND_HARDWARE, eal);
    let many = run_demo_bursts(fw);
    let key = |v: &[dpufw_verdict]| {
        v.iter()
            .map(|v| (v.pass, v.rule, v.ct_state))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&one), key(&many));
    // SAFETY: live, freed once.
    unsafe {
        dpufw_firewall_free(fw);
        dpufw_eal_free(eal);
    }
    let broken = doca_flow::backend::emu::violations();
    assert!(
        broken.is_empty(),
        "DOCA rules broken:\n{}",
        broken.join("\n")
    );
}
