//! Round trips of the whole seed pipeline through the codec, at every version, and the
//! refusals of malformed input.

use crate::flow_mod::{Command, FlowModMsg};
use crate::{decode, encode, errors as e, Message, OFP13, OFP14, OFP15};
use pipeline::ofctl::{parse_flow_file, Action, FlowEntry, Mode, PortMap, SetForm};

fn seed(name: &str) -> Vec<FlowEntry> {
    let text = std::fs::read_to_string(format!(
        "{}/../testdata/antrea-seed/{name}.flows",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("seed flows");
    let mut ports = PortMap::new();
    for (i, l) in text.lines().enumerate() {
        for cap in l.split("in_port=\"").skip(1) {
            let name = cap.split('"').next().unwrap();
            if ports.number(name).is_none() {
                ports.insert(name, 10 + i as u32);
            }
        }
        for cap in l.split("output:\"").skip(1) {
            let name = cap.split('"').next().unwrap();
            if ports.number(name).is_none() {
                ports.insert(name, 1000 + i as u32);
            }
        }
    }
    let (flows, errs) = parse_flow_file(&text, Mode::Add, &ports);
    assert!(errs.is_empty(), "{errs:?}");
    flows.into_iter().map(|(_, f)| f).collect()
}

/// What the wire keeps of an entry: how a write was spelled is the encoder's choice.
fn normal(mut f: FlowEntry) -> FlowEntry {
    for a in f.actions.iter_mut() {
        match a {
            Action::Set(sf) => sf.form = SetForm::SetField,
            Action::Ct(ct) => ct.exec.iter_mut().for_each(|s| s.form = SetForm::SetField),
            Action::PopVlan { strip } => *strip = false,
            _ => {}
        }
    }
    f.table = Some(f.table_id());
    f
}

#[test]
fn seed_flows_round_trip_at_every_version() {
    for node in ["worker1", "worker2"] {
        let flows = seed(node);
        assert!(flows.len() > 50);
        for v in [crate::OFP10, OFP13, OFP14, OFP15] {
            for f in &flows {
                let msg = Message::FlowMod(FlowModMsg {
                    new_cookie: None,
                    command: Command::Add,
                    entry: f.clone(),
                    out_group: None,
                });
                let bytes = encode(v, 7, &msg);
                let (h, back) = decode(&bytes).unwrap_or_else(|err| {
                    panic!(
                        "{node} v{v}: {err}\n{}",
                        pipeline::ofctl::format_flow(f, &PortMap::new(), None)
                    )
                });
                assert_eq!(h.xid, 7);
                let Message::FlowMod(back) = back else {
                    panic!("not a flow mod")
                };
                let mut want = normal(f.clone());
                // An OpenFlow 1.0 add resets counters (as OVS marks it).
                want.flags.reset_counts |= v == crate::OFP10;
                assert_eq!(normal(back.entry.clone()), want, "{node} v{v}");
                // And the encoding is a fixed point.
                assert_eq!(encode(v, 7, &Message::FlowMod(back.clone())), bytes);
            }
        }
    }
}

#[test]
fn malformed_messages_get_ovs_errors() {
    let f = &seed("worker1")[1];
    let msg = Message::FlowMod(FlowModMsg {
        new_cookie: None,
        command: Command::Add,
        entry: f.clone(),
        out_group: None,
    });
    let good = encode(OFP15, 1, &msg);
    // Truncated match.
    let mut b = good[..60].to_vec();
    b[2..4].copy_from_slice(&60u16.to_be_bytes());
    let err = decode(&b).unwrap_err();
    assert_eq!(err.ty, e::BAD_MATCH, "{err}");
    // Unknown command.
    let mut b = good.clone();
    b[8 + 17] = 9;
    assert_eq!(decode(&b).unwrap_err().code, e::FLOW_MOD_BAD_COMMAND);
    // Unknown message type.
    let mut b = good.clone();
    b[1] = 99;
    assert_eq!(decode(&b).unwrap_err().code, e::BAD_REQUEST_TYPE);
    // Unsupported version.
    let mut b = good.clone();
    b[0] = 2;
    assert_eq!(decode(&b).unwrap_err().code, e::BAD_REQUEST_VERSION);
    // A port match without its prerequisite: tcp_dst without ip_proto.
    let mut m = pipeline::ofctl::Match::default();
    m.set(pipeline::field::Field::TcpDst, 80, 0xffff);
    let mut fields = Vec::new();
    crate::oxm::encode_fields(&m, crate::OFP13, &mut fields);
    // encode_fields omits L4 fields without their protocol; write one by hand.
    assert!(fields.is_empty());
    let raw = [0x80, 0x00, 0x1c, 0x02, 0x00, 0x50];
    let err = crate::oxm::decode_fields(&raw).unwrap_err();
    assert_eq!(
        (err.ty, err.code),
        (e::BAD_MATCH, e::BAD_MATCH_PREREQ),
        "{err}"
    );
    // The same field twice.
    let raw = [
        0x80, 0x00, 0x0a, 0x02, 0x08, 0x00, 0x80, 0x00, 0x0a, 0x02, 0x08, 0x00,
    ];
    assert_eq!(
        crate::oxm::decode_fields(&raw).unwrap_err().code,
        e::BAD_MATCH_DUP_FIELD
    );
}

#[test]
fn hello_negotiates_the_highest_common_version() {
    let h = crate::message::hello(1);
    let (_, m) = decode(&h).unwrap();
    let Message::Hello { versions } = m else {
        panic!()
    };
    assert_eq!(crate::message::negotiate(versions), Some(OFP15));
    // A 1.3-only peer without a bitmap.
    assert_eq!(
        crate::message::negotiate(crate::message::hello_versions(OFP13, &[])),
        Some(OFP13)
    );
    // A 1.0-only peer (`ovs-ofctl` without `-O`) gets 1.0; a 1.1-only one nothing.
    assert_eq!(crate::message::negotiate(1 << 1), Some(crate::OFP10));
    assert_eq!(crate::message::negotiate(1 << 2), None);
}

/// Writes the seed flow-mods, a bundle and requests as fuzz seeds when
/// `BRISK_WRITE_FUZZ_SEEDS` names a directory.
#[test]
fn write_fuzz_seeds() {
    let Ok(dir) = std::env::var("BRISK_WRITE_FUZZ_SEEDS") else {
        return;
    };
    std::fs::create_dir_all(&dir).unwrap();
    let flows = seed("worker1");
    for (i, f) in flows.iter().enumerate().step_by(7) {
        let v = [OFP13, OFP15, crate::OFP10][i % 3];
        let fm = Message::FlowMod(FlowModMsg {
            new_cookie: None,
            command: Command::Add,
            entry: f.clone(),
            out_group: None,
        });
        std::fs::write(format!("{dir}/flow_mod_{i}"), encode(v, i as u32, &fm)).unwrap();
    }
    let add = Message::BundleAdd {
        id: 1,
        flags: 1,
        xid: 9,
        inner: Box::new(Message::FlowMod(FlowModMsg {
            new_cookie: None,
            command: Command::DeleteStrict,
            entry: flows[3].clone(),
            out_group: None,
        })),
    };
    std::fs::write(format!("{dir}/bundle_add"), encode(OFP15, 9, &add)).unwrap();
    std::fs::write(format!("{dir}/hello"), crate::message::hello(1)).unwrap();
    let req = Message::Multipart(crate::multipart::MpRequest::Flow(
        crate::flow_mod::FlowStatsRequest {
            table: Some(31),
            out_port: None,
            out_group: None,
            cookie: 0x1000000000000,
            cookie_mask: u64::MAX,
            matches: flows[20].matches,
        },
    ));
    std::fs::write(format!("{dir}/flow_stats"), encode(OFP15, 3, &req)).unwrap();
    let Message::Multipart(crate::multipart::MpRequest::Flow(q)) = req else {
        unreachable!()
    };
    let nx = Message::Multipart(crate::multipart::MpRequest::NxFlow(q.clone()));
    std::fs::write(format!("{dir}/nx_flow_stats"), encode(crate::OFP10, 4, &nx)).unwrap();
    let std10 = Message::Multipart(crate::multipart::MpRequest::Aggregate(q));
    std::fs::write(
        format!("{dir}/of10_aggregate"),
        encode(crate::OFP10, 5, &std10),
    )
    .unwrap();
    let fm10 = Message::SetFlowFormat(crate::of10::NXFF_NXM);
    std::fs::write(
        format!("{dir}/of10_flow_format"),
        encode(crate::OFP10, 6, &fm10),
    )
    .unwrap();
}

/// Packet-out and port-mod round-trip at every version; what OVS refuses is refused.
#[test]
fn packet_out_and_port_mod_round_trip() {
    use crate::port::{PacketOut, PortMod, NO_BUFFER};
    use pipeline::ofctl::port;
    for v in [crate::OFP10, OFP13, OFP14, OFP15] {
        for in_port in [3, port::CONTROLLER, port::LOCAL] {
            let po = PacketOut {
                buffer_id: NO_BUFFER,
                in_port,
                actions: if v == crate::OFP10 {
                    vec![]
                } else {
                    vec![Action::Output(4), Action::Output(port::TABLE)]
                },
                data: vec![0xab; 60],
            };
            let bytes = encode(v, 9, &Message::PacketOut(po.clone()));
            if v == crate::OFP10 {
                // OpenFlow 1.0 packet-outs are decoded, with 1.0 actions, by the 1.0 codec.
                continue;
            }
            let (_, m) = decode(&bytes).unwrap();
            assert_eq!(m, Message::PacketOut(po), "version {v}");
        }
        if v == crate::OFP10 {
            continue;
        }
        let pm = PortMod {
            port_no: 7,
            hw_addr: [2, 0, 0, 0, 0, 7],
            config: 0x21,
            mask: 0x21,
            advertise: 0,
        };
        let bytes = encode(v, 3, &Message::PortMod(pm.clone()));
        assert_eq!(decode(&bytes).unwrap().1, Message::PortMod(pm));
    }
    // OpenFlow 1.3 in_port 0xff10 is neither a port nor a reserved one.
    let mut bad = encode(
        OFP13,
        1,
        &Message::PacketOut(PacketOut {
            buffer_id: NO_BUFFER,
            in_port: 3,
            actions: vec![],
            data: vec![0; 20],
        }),
    );
    bad[12..16].copy_from_slice(&0xff10u32.to_be_bytes());
    let err = decode(&bad).unwrap_err();
    assert_eq!((err.ty, err.code), (e::BAD_REQUEST, e::BAD_REQUEST_PORT));
    // A 1.5 packet-out may name only in_port in its match.
    let mut m = pipeline::ofctl::Match::default();
    m.set(pipeline::field::Field::TunId, 5, u128::MAX);
    let mut out = Vec::new();
    let at = crate::start(&mut out, OFP15, crate::port::T_PACKET_OUT, 1);
    out.extend_from_slice(&NO_BUFFER.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    crate::oxm::encode_ofp_match(&m, crate::OFP13, &mut out);
    out.extend_from_slice(&[0; 20]);
    crate::finish(&mut out, at);
    let err = decode(&out).unwrap_err();
    assert_eq!((err.ty, err.code), (e::BAD_MATCH, e::BAD_MATCH_FIELD));
}
