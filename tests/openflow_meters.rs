//! Meters driven by Debian's `ovs-ofctl`, against brisk and Open vSwitch's userspace switch
//! loaded the same way: `add-meter`, `mod-meter`, `del-meter`, `dump-meters`,
//! `meter-features` and the refusals print the same from both; flows that use a meter dump
//! the same and go with it when it is deleted. Then brisk-gen measures what a meter lets
//! through brisk: a pktps and a kbps band, each within 5 % of its rate.

mod common;

use common::ofctl::*;
use std::time::Duration;

/// One at a time: the traffic tests take both cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

const METERS: [&str; 4] = [
    "meter=1,pktps,burst,stats,bands=type=drop,rate=10,burst_size=20",
    "meter=2,kbps,bands=type=drop,rate=1000",
    "meter=3,kbps,stats,bands=type=drop,rate=1000,type=drop,rate=2000",
    "meter=4,pktps,burst,stats,bands=type=drop,rate=1,burst_size=10",
];

/// `ovs-ofctl` output without what differs by nature (xids, durations, idle ages).
fn clean(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            l.split(' ')
                .filter(|w| {
                    !w.starts_with("(xid=")
                        && !w.starts_with("duration")
                        && !w.starts_with("idle_age=")
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// [`clean`] lines, each meter (its line and its bands' lines) and each flow as one
/// entry, sorted: OVS lists meters in hash order.
fn blocks(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in clean(text) {
        let starts = l.starts_with("meter") || l.starts_with(" cookie") || l.starts_with("OFP");
        match out.last_mut() {
            Some(last) if !starts => {
                last.push_str(" / ");
                last.push_str(&l);
            }
            _ => out.push(l),
        }
    }
    out.sort();
    out
}

/// What the first band of the meter `ovs-ofctl meter-stats` (or `brisk ctl`) printed
/// dropped: `0: packet_count:N`.
fn band0_drops(stats: &str) -> u64 {
    stats
        .lines()
        .find_map(|l| {
            l.strip_prefix("0: packet_count:")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no band 0 in {stats}"))
}

/// The OFPT_ERROR name `ovs-ofctl` prints for a refused command.
fn refusal(args: &[&str]) -> String {
    let (ok, text) = ofctl(args);
    assert!(!ok, "{args:?} was accepted: {text}");
    text.split_whitespace()
        .find(|w| w.starts_with("OFPMMFC_"))
        .unwrap_or_else(|| panic!("{args:?}: no meter error in {text}"))
        .to_string()
}

#[test]
fn meters_as_ovs() {
    if !have_ovs() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let sw = brisk("worker1", "meters", &[]);
    let ovs = Ovs::start("worker1", "meters");
    let (b, o) = (mgmt(&sw), ovs.mgmt());
    for t in [&b, &o] {
        for m in METERS {
            ofctl_ok(&["-O", "OpenFlow13", "add-meter", t, m]);
        }
        ofctl_ok(&[
            "-O",
            "OpenFlow15",
            "add-flow",
            t,
            "in_port=49 actions=meter:1,output:4",
        ]);
        ofctl_ok(&[
            "-O",
            "OpenFlow13",
            "add-flow",
            t,
            "in_port=3 actions=meter:4,output:4",
        ]);
        ofctl_ok(&[
            "-O",
            "OpenFlow13",
            "add-flow",
            t,
            "in_port=4 actions=meter:2,output:3",
        ]);
        ofctl_ok(&[
            "-O",
            "OpenFlow15",
            "add-flow",
            t,
            "in_port=48 actions=controller(meter_id=3)",
        ]);
    }
    let same = |args: &[&str], what: &str| {
        let mut bb = args.to_vec();
        let mut oo = args.to_vec();
        let at = args.iter().position(|a| *a == "T").unwrap();
        bb[at] = &b;
        oo[at] = &o;
        let (x, y) = (blocks(&ofctl_ok(&bb)), blocks(&ofctl_ok(&oo)));
        assert_eq!(x, y, "{what}: brisk and OVS differ");
        x
    };
    for v in ["OpenFlow13", "OpenFlow15"] {
        let d = same(&["-O", v, "dump-meters", "T"], "dump-meters");
        assert_eq!(d.iter().filter(|l| l.starts_with("meter=")).count(), 4);
        same(&["-O", v, "meter-features", "T"], "meter-features");
        same(
            &["-O", v, "dump-meters", "T", "meter=3"],
            "dump-meters meter=3",
        );
        same(&["-O", v, "dump-flows", "T"], "dump-flows");
    }
    // Meter statistics: flow counts, and the counters of meters no packet met.
    let st = same(&["-O", "OpenFlow13", "meter-stats", "T"], "meter-stats");
    assert!(
        st.iter().any(|l| l.contains("meter:1 flow_count:1")),
        "{st:?}"
    );
    // Packets through meter 4 (1 pktps, burst 10): of 40 packet-outs (two seconds of
    // ovs-ofctl runs), about 12 pass.
    let pkt = pipeline::build::udp_frame(
        0x0200_0000_0003,
        0x0200_0000_0004,
        pipeline::build::ip("10.10.0.3"),
        pipeline::build::ip("10.10.0.4"),
        4000,
        53,
        b"metered",
    );
    let hex: String = pkt.iter().map(|b| format!("{b:02x}")).collect();
    let spec = format!("in_port=3 packet={hex} actions=resubmit(,0)");
    let mut band_drops = Vec::new();
    for t in [&b, &o] {
        for _ in 0..40 {
            ofctl_ok(&["-O", "OpenFlow15", "packet-out", t, &spec]);
        }
        let s = ofctl_ok(&["-O", "OpenFlow13", "meter-stats", t, "meter=4"]);
        assert!(s.contains("packet_in_count:40"), "{s}");
        let dropped = band0_drops(&s);
        band_drops.push(dropped);
    }
    // The packet-outs take about as long on both: a few tokens more than the burst pass.
    for d in &band_drops {
        assert!(
            (20..=30).contains(d),
            "meter 4 dropped {band_drops:?} of 40"
        );
    }
    // Refusals, with OVS's codes.
    for (args, _what) in [
        (vec!["add-meter", "T", "meter=1,pktps,bands=type=drop,rate=5"], "exists"),
        (vec!["mod-meter", "T", "meter=9,pktps,bands=type=drop,rate=5"], "unknown"),
        (vec!["add-meter", "T", "meter=5,kbps,pktps,bands=type=drop,rate=5"], "flags"),
        (vec!["add-meter", "T", "meter=8,pktps,bands=type=dscp_remark,rate=10,prec_level=1"], "band"),
        (vec!["add-meter", "T", "meter=7,pktps,bands=type=drop,rate=5,type=drop,rate=9,type=drop,rate=1,type=drop,rate=2,type=drop,rate=3,type=drop,rate=4,type=drop,rate=6,type=drop,rate=7,type=drop,rate=8"], "bands"),
        (vec!["add-flow", "T", "in_port=1,udp actions=meter:7,output:2"], "invalid"),
    ] {
        let run = |t: &str| {
            let mut a = vec!["-O", "OpenFlow13"];
            a.extend(args.iter().map(|x| if *x == "T" { t } else { x }));
            refusal(&a)
        };
        assert_eq!(run(&b), run(&o), "{args:?}");
    }
    // mod-meter replaces; deleting a meter deletes its flows; del-meters deletes all.
    for t in [&b, &o] {
        ofctl_ok(&[
            "-O",
            "OpenFlow13",
            "mod-meter",
            t,
            "meter=2,pktps,stats,bands=type=drop,rate=7",
        ]);
        ofctl_ok(&["-O", "OpenFlow13", "del-meter", t, "meter=1"]);
    }
    same(
        &["-O", "OpenFlow13", "dump-meters", "T"],
        "after mod and del",
    );
    let flows = same(
        &["-O", "OpenFlow13", "dump-flows", "T"],
        "flows after del-meter",
    );
    assert!(!flows.iter().any(|l| l.contains("meter:1")), "{flows:?}");
    for t in [&b, &o] {
        ofctl_ok(&["-O", "OpenFlow13", "del-meters", t]);
    }
    // Left: the header and the controller(meter_id=3) flow (no meter action: it stays).
    let flows = same(
        &["-O", "OpenFlow13", "dump-flows", "T"],
        "flows after del-meters",
    );
    assert_eq!(flows.len(), 2, "{flows:?}");
    // brisk ctl sees the same meters, in ovs-ofctl's words.
    sw.ok(&[
        "add-meter",
        "meter=5,pktps,burst,bands=type=drop,rate=100,burst_size=10",
    ]);
    let d = sw.ok(&["dump-meters"]);
    assert_eq!(
        d,
        "meter=5 pktps burst bands=\ntype=drop rate=100 burst_size=10\n"
    );
    assert!(sw
        .ok(&["meter-stats", "meter=5"])
        .starts_with("meter:5 flow_count:0 packet_in_count:0"));
    let (ok, err) = sw.ctl(&["add-meter", "meter=5,pktps,bands=type=drop,rate=100"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let d = clean(&ofctl_ok(&["-O", "OpenFlow13", "dump-meters", &b]));
    assert!(
        d.contains(&"meter=5 pktps burst bands=".to_string()),
        "{d:?}"
    );
}

/// What a meter lets through, measured: brisk-gen offers 20,000 frames/s of 128 bytes
/// (20.48 Mbit/s) through `meter:1`; a 5,000 pktps band and then an 8,000 kbit/s band
/// (7,812 frames/s) each pass their rate (plus the first burst) within 5 %, and the meter's
/// counters account for every frame.
#[test]
fn a_meter_passes_its_rate() {
    if !have_ovs() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // (tag, meter, rate in packets/s (pktps) or bits/s (kbps), burst in the same unit).
    for (tag, meter, rate, burst, kbps) in [
        (
            "mp",
            "meter=1,pktps,burst,stats,bands=type=drop,rate=5000,burst_size=500",
            5000.0,
            500.0,
            false,
        ),
        (
            "mk",
            "meter=1,kbps,stats,bands=type=drop,rate=8000",
            8_000_000.0,
            8_000_000.0,
            true,
        ),
    ] {
        // The meter must exist before the flow that uses it: both go in once brisk runs,
        // while brisk-gen may already be sending (frames before the flow miss the table).
        let mut run = common::gen::GenRun::start(tag, "", "0.02", 5, 128, false);
        run.sw.ok(&["add-meter", meter]);
        run.sw
            .ok(&["add-flow", "in_port=1 actions=meter:1,output:2"]);
        let report = run.finish();
        std::thread::sleep(Duration::from_millis(200));
        let n = |k: &str| {
            report[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k}: {report}"))
        };
        let (tx, rx) = (n("tx_packets"), n("rx_packets"));
        let secs = report["seconds"].as_f64().unwrap();
        let stats = run.sw.ok(&["meter-stats"]);
        let field = |k: &str| -> u64 {
            stats
                .split_whitespace()
                .find_map(|w| w.strip_prefix(k)?.parse().ok())
                .unwrap_or_else(|| panic!("{k} in {stats}"))
        };
        let (met, met_bytes) = (field("packet_in_count:"), field("byte_in_count:"));
        let dropped = band0_drops(&stats);
        // Frames go out at a steady rate: the meter saw them for met/tx of the run.
        let metered_secs = secs * met as f64 / tx as f64;
        let unit = if kbps {
            8.0 * met_bytes as f64 / met as f64
        } else {
            1.0
        };
        let want = (rate * metered_secs + burst) / unit;
        let err = (rx as f64 - want).abs() / want;
        eprintln!(
            "{tag}: brisk-gen sent {tx} in {secs:.2} s ({met} met the meter over {metered_secs:.2} s),              {rx} came through, {want:.0} expected ({:.2} % off)\n{stats}",
            err * 100.0
        );
        assert!(err < 0.05, "{tag}: {rx} passed, {want:.0} expected");
        // What the meter did not pass, its band dropped; every frame that met it is counted.
        assert_eq!(met - dropped, rx, "{stats}");
        assert!(met <= tx && met * 2 >= tx, "{tx} sent, {met} met the meter");
    }
}
