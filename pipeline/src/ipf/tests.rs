use super::*;

#[test]
fn status_prints_ovs_lines_first_and_limits_hold_their_bounds() {
    let s = IpfShared::default();
    s.count(false, IpfEvent::Accepted, 3);
    s.count(true, IpfEvent::Overlap, 2);
    let text = s.status().ovs_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "        Fragmentation Module Status");
    assert_eq!(lines[2], "        v4 enabled: 1");
    assert_eq!(lines[4], "        max num frags (v4/v6): 1000");
    assert_eq!(lines[6], "        min v4 frag size: 1200");
    assert_eq!(lines[7], "        v4 frags accepted: 3");
    assert_eq!(lines[13], "        min v6 frag size: 1280");
    assert_eq!(lines[18], "        v6 frags overlapped: 2");
    assert_eq!(
        s.set_min_frag(true, 399),
        Err(IpfError::MinFragTooSmall(399))
    );
    assert_eq!(s.set_max_nfrags(0), Err(IpfError::MaxFrags(0)));
    assert!(s.set_max_nfrags(5000).is_ok() && s.set_min_frag(false, 400).is_ok());
    s.set_enabled(true, false);
    assert_eq!(s.status().enabled, [true, false]);
}

#[test]
fn room_is_reserved_and_given_back_under_both_caps() {
    let s = IpfShared::default();
    s.set_max_nfrags(2).unwrap();
    assert!(s.reserve(100) && s.reserve(100) && !s.reserve(100));
    s.release(2, 200);
    s.set_max_bytes(150).unwrap();
    assert!(s.reserve(100) && !s.reserve(100));
    let st = s.status();
    assert_eq!(
        (st.nfrag, st.bytes),
        (1, 100),
        "a refused reservation leaves nothing behind"
    );
}
