#!/usr/bin/env python3
"""os-ken (PyPI) as the controller of `controller(...)` actions: packet-ins and resumes.

os-ken connects to the switch's `ptcp:` listener (`connect PORT`), negotiates OpenFlow 1.5,
asks for packet-ins (OFPT_SET_CONFIG with miss_send_len 65535) in the NXT_PACKET_IN2
format (NXT_SET_PACKET_IN_FORMAT 2), and installs:

  table 0   in_port=49,udp,tp_dst=53   actions=load:0x5->reg1,controller(userdata=01.02.03)
  table 0   in_port=49,udp,tp_dst=5353 actions=load:0x7->reg2,resubmit(,10)
  table 10  udp,tp_dst=5353  actions=controller(pause,userdata=ca.fe),resubmit(,20)
  table 20  reg2=7 actions=output:3  (priority 100)
  table 20  actions=output:4         (priority 50: the metadata did not survive the pause)

Then, with packet-outs from port 49 through the tables (output:TABLE):
  1. a UDP frame to port 53: the NXT_PACKET_IN2 with its userdata, table, reason, cookie,
     metadata (in_port, reg1) and packet is recorded, and answered with a packet-out of
     the same bytes to port 2 (in_port CONTROLLER);
  2. a UDP frame to port 5353: the NXT_PACKET_IN2 carries a continuation; it goes back
     unchanged (with the packet and the metadata) in NXT_RESUME, and the switch finishes
     the actions: resubmit(,20), where reg2 sends it out of port 3.
Port statistics are read until port 2 and port 3 or 4 have sent something (or 5 s
pass). It prints one JSON line with what it saw and exits 0, or exits 1 with the reason.

usage: osken_packet_in.py connect PORT
"""
import json
import os
import struct
import sys
import time

from os_ken import cfg
from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib import hub
from os_ken.ofproto import nicira_ext, ofproto_v1_5

MODE, PORT = sys.argv[1], int(sys.argv[2])
RESULT = {}

FRONTEND, GW, COREDNS, LOST = 49, 2, 3, 4
NX_VENDOR_ID = 0x2320
NXT_RESUME = 28  # os-ken has no NXTResume: sent as a raw Nicira experimenter message
NXPIF_NXT_PACKET_IN2 = 2  # os-ken names formats 0 and 1 only
# The ports whose counters are reported (worker1's).
PORTS = (1, 2, 3, 4, 7, 48, 49)


def finish(code, **what):
    RESULT.update(what)
    print(json.dumps(RESULT, sort_keys=True), flush=True)
    os._exit(code)


def checksum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_frame(dport, payload):
    """frontend (10.222.1.49) to coredns (10.222.1.3), UDP from 40000 to DPORT."""
    eth = bytes.fromhex("f282cc96dabd" "ae1b42ae6fc1") + struct.pack("!H", 0x0800)
    udp = struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0x1234, 0x4000, 64, 17, 0,
                     bytes([10, 222, 1, 49]), bytes([10, 222, 1, 3]))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return eth + ip + udp


# A DNS query for "antrea.io" (A), and the same name sent to mDNS's port.
DNS = bytes.fromhex("abcd01000001000000000000") + b"\x06antrea\x02io\x00" + b"\x00\x01\x00\x01"
FRAME_53 = udp_frame(53, DNS)
FRAME_5353 = udp_frame(5353, DNS)

# NXPINT_METADATA is a list of OXM/NXM entries without an ofp_match header, which os-ken's
# NXTPacketIn2 keeps as raw bytes: they are decoded here. Known fields by (class, field).
OXM_NAMES = {(0x8000, 0): "in_port", (0x0000, 0): "nxm_in_port"}
OXM_NAMES.update({(0x0001, n): "reg%d" % n for n in range(16)})
OXM_NAMES.update({(0x8001, n): "xreg%d" % n for n in range(8)})


def oxm_fields(raw):
    """[(name, value_hex)] of raw OXM/NXM entries (masked ones as value/mask)."""
    out = []
    off = 0
    while off + 4 <= len(raw):
        (header,) = struct.unpack_from("!I", raw, off)
        cls, field = header >> 16, (header >> 9) & 0x7F
        hasmask, length = (header >> 8) & 1, header & 0xFF
        body = raw[off + 4: off + 4 + length]
        if cls == 0xFFFF:  # experimenter OXM: the experimenter id is part of the length
            name = "exp%08x:%d" % (struct.unpack_from("!I", body)[0], field)
            body = body[4:]
        else:
            name = OXM_NAMES.get((cls, field), "%04x:%d" % (cls, field))
        if hasmask:
            half = len(body) // 2
            value = body[:half].hex() + "/" + body[half:].hex()
        else:
            value = body.hex()
        out.append((name, value))
        off += 4 + length
    if off != len(raw):
        raise ValueError("metadata: %d trailing bytes" % (len(raw) - off))
    return out


def registers(meta):
    """{n: value} of the 32-bit registers in decoded metadata, whether written as NXM_NX_REGn
    or, as OVS does from OpenFlow 1.5 on, as masked 64-bit OXM_OF_PKT_REGn (xreg n holds
    reg 2n in its high half, reg 2n+1 in its low half)."""
    regs = {}
    for name, value in meta:
        if name.startswith("xreg"):
            n = int(name[4:])
            v, _, m = value.partition("/")
            v, m = int(v, 16), int(m or "f" * 16, 16)
            for half, shift in ((2 * n, 32), (2 * n + 1, 0)):
                if (m >> shift) & 0xFFFFFFFF:
                    regs[half] = (v >> shift) & 0xFFFFFFFF
        elif name.startswith("reg"):
            regs[int(name[3:])] = int(value.partition("/")[0], 16)
    return regs


def cookie(props):
    """NXPINT_COOKIE's value, or None without one. os-ken's NXTPacketIn2 reads it wrong: the
    property is 4 bytes of header, 4 of padding, then the 8-byte cookie (OVS's
    ofpprop_put_be64), and os-ken takes the padding as the cookie's high half."""
    raw = props.get(nicira_ext.NXPINT_COOKIE)
    if raw is None:
        return None
    length = struct.unpack_from("!H", raw, 2)[0]
    return struct.unpack_from("!Q", raw, 8 if length == 16 else 4)[0]


def raw_props(buf):
    """{type: raw bytes (header, body, padding)} of an NXT_PACKET_IN2's properties (the
    message's bytes after its 16-byte Nicira header), and their types in order."""
    props, order = {}, []
    off = 16
    while off < len(buf):
        ty, length = struct.unpack_from("!HH", buf, off)
        if length < 4:
            raise ValueError("property %d of length %d" % (ty, length))
        end = off + (length + 7) // 8 * 8
        props[ty] = bytes(buf[off:end])
        order.append(ty)
        off = end
    return props, order


# NXCPT_BRIDGE (the bridge's UUID) and NXCPT_ODP_PORT (a datapath port number) are the
# switch's own: they differ between switches.
NXCPT_BRIDGE, NXCPT_ODP_PORT = 0x8000, 0x8008


def nested(cont):
    """[(type, body)] of the NXCPT_* properties inside a continuation (os-ken's
    NXPINT_CONTINUATION data: 4 bytes of padding, then 8-aligned properties)."""
    out = []
    off = 4
    while off + 4 <= len(cont):
        ty, length = struct.unpack_from("!HH", cont, off)
        if length < 4:
            raise ValueError("continuation property %#x of length %d" % (ty, length))
        out.append((ty, cont[off + 4: off + length]))
        off += (length + 7) // 8 * 8
    return out


class PacketInController(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_5.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        hub.spawn_after(30, lambda: finish(1, error="timed out"))
        self.step = "setup"
        self.stats = {}
        self.deadline = None

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def features(self, ev):
        RESULT["version"] = ev.msg.datapath.ofproto.OFP_VERSION

    @set_ev_cls(ofp_event.EventOFPStateChange, MAIN_DISPATCHER)
    def ready(self, ev):
        self.guard(self.program, ev.datapath)

    def guard(self, f, *args):
        try:
            f(*args)
        except Exception as e:  # os-ken's hub would swallow it
            import traceback
            finish(1, error="%s: %s" % (e, traceback.format_exc()))

    def program(self, dp):
        p = dp.ofproto_parser
        ofp = dp.ofproto
        dp.send_msg(p.OFPSetConfig(dp, ofp.OFPC_FRAG_NORMAL, 0xFFFF))
        dp.send_msg(p.NXTSetPacketInFormatMsg(dp, NXPIF_NXT_PACKET_IN2))

        def fm(cookie, table, prio, match, actions):
            inst = [p.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)]
            return p.OFPFlowMod(dp, cookie=cookie, table_id=table, command=ofp.OFPFC_ADD,
                                priority=prio, buffer_id=ofp.OFP_NO_BUFFER, out_port=ofp.OFPP_ANY,
                                out_group=ofp.OFPG_ANY, match=match, instructions=inst)

        udp = dict(in_port=FRONTEND, eth_type=0x0800, ip_proto=17)
        # load:0x5->reg1 is written as set_field, as OVS encodes it in OpenFlow 1.5 (OVS
        # refuses NXAST_REG_LOAD there: OFPBAC_BAD_EXP_TYPE).
        for m in [
            fm(0xA1, 0, 100, p.OFPMatch(udp_dst=53, **udp),
               [p.OFPActionSetField(reg1=5), p.NXActionController2(userdata=[1, 2, 3])]),
            fm(0xB1, 0, 100, p.OFPMatch(udp_dst=5353, **udp),
               [p.OFPActionSetField(reg2=7), p.NXActionResubmitTable(table_id=10)]),
            fm(0xB2, 10, 100, p.OFPMatch(eth_type=0x0800, ip_proto=17, udp_dst=5353),
               [p.NXActionController2(pause=True, userdata=[0xCA, 0xFE]),
                p.NXActionResubmitTable(table_id=20)]),
            # After the resume: reg2 (set before the pause) still 7 -> coredns, else port 4.
            fm(0xB3, 20, 100, p.OFPMatch(reg2=7), [p.OFPActionOutput(COREDNS)]),
            fm(0xB4, 20, 50, p.OFPMatch(), [p.OFPActionOutput(LOST)]),
        ]:
            dp.send_msg(m)
        dp.send_msg(p.OFPBarrierRequest(dp))

    def packet_out(self, dp, in_port, port, data):
        p = dp.ofproto_parser
        dp.send_msg(p.OFPPacketOut(dp, buffer_id=dp.ofproto.OFP_NO_BUFFER,
                                   match=p.OFPMatch(in_port=in_port),
                                   actions=[p.OFPActionOutput(port)], data=data))

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def barrier(self, ev):
        self.guard(self.on_barrier, ev.msg.datapath)

    def on_barrier(self, dp):
        if self.step == "setup":
            # The flows are in: the DNS query goes through the tables from the frontend.
            self.step = "userdata"
            self.packet_out(dp, FRONTEND, dp.ofproto.OFPP_TABLE, FRAME_53)
        elif self.step == "resumed":
            self.step = "stats"
            self.deadline = time.time() + 5
            self.port_stats(dp)

    def port_stats(self, dp):
        self.stats = {}
        dp.send_msg(dp.ofproto_parser.OFPPortStatsRequest(dp, 0, dp.ofproto.OFPP_ANY))

    @set_ev_cls(ofp_event.EventNXTPacketIn2, MAIN_DISPATCHER)
    def packet_in2(self, ev):
        self.guard(self.on_packet_in2, ev.msg)

    def on_packet_in2(self, msg):
        dp = msg.datapath
        ofp = dp.ofproto
        props, order = raw_props(msg.buf)
        meta = oxm_fields(bytes(msg.metadata or b""))
        regs = registers(meta)
        seen = {
            "props": order,
            "userdata": bytes(msg.userdata).hex() if msg.userdata is not None else None,
            "table_id": msg.table_id,
            "reason": msg.reason,
            "cookie": cookie(props),
            "metadata": ["%s=%s" % f for f in meta],
            "in_port": next((int(v, 16) for n, v in meta if n == "in_port"), None),
            "regs": {str(k): v for k, v in sorted(regs.items())},
            "reg1": regs.get(1, 0),
            "continuation": msg.continuation is not None,
        }
        if self.step == "userdata":
            seen["packet_equal"] = bytes(msg.data) == FRAME_53
            RESULT["userdata_pin"] = seen
            # The answer: the same bytes out of antrea-gw0, from the controller.
            self.packet_out(dp, ofp.OFPP_CONTROLLER, GW, bytes(msg.data))
            self.step = "pause"
            self.packet_out(dp, FRONTEND, ofp.OFPP_TABLE, FRAME_5353)
        elif self.step == "pause":
            seen["packet_equal"] = bytes(msg.data) == FRAME_5353
            if msg.continuation is not None:
                parts = nested(bytes(msg.continuation))
                seen["continuation_props"] = [ty for ty, _ in parts]
                seen["continuation_parts"] = {"%#x" % ty: body.hex() for ty, body in parts
                                              if ty not in (NXCPT_BRIDGE, NXCPT_ODP_PORT)}
            RESULT["pause_pin"] = seen
            if msg.continuation is None:
                finish(1, error="the paused packet-in has no continuation")
            # NXT_RESUME: the packet, its metadata and the continuation, as received.
            body = b"".join(props[t] for t in (nicira_ext.NXPINT_PACKET,
                                                nicira_ext.NXPINT_METADATA,
                                                nicira_ext.NXPINT_CONTINUATION) if t in props)
            dp.send_msg(dp.ofproto_parser.OFPExperimenter(dp, NX_VENDOR_ID, NXT_RESUME, body))
            self.step = "resumed"
            dp.send_msg(dp.ofproto_parser.OFPBarrierRequest(dp))
        else:
            finish(1, error="an unexpected NXT_PACKET_IN2 at step %s: %s" % (self.step, seen))

    @set_ev_cls(ofp_event.EventOFPPortStatsReply, MAIN_DISPATCHER)
    def port_stats_reply(self, ev):
        self.guard(self.on_port_stats, ev.msg)

    def on_port_stats(self, msg):
        for s in msg.body:
            if s.port_no in PORTS:
                self.stats[s.port_no] = s.tx_packets
        if msg.flags & 1:
            return
        dp = msg.datapath
        resumed = self.stats.get(COREDNS, 0) + self.stats.get(LOST, 0)
        if (self.stats.get(GW, 0) >= 1 and resumed >= 1) or time.time() > self.deadline:
            finish(0, tx_packets={str(k): v for k, v in sorted(self.stats.items())})
            return
        hub.spawn_after(0.1, lambda: self.guard(self.port_stats, dp))

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def packet_in(self, ev):
        finish(1, error="OFPT_PACKET_IN (not NXT_PACKET_IN2) at step %s" % self.step)

    @set_ev_cls(ofp_event.EventOFPErrorMsg, MAIN_DISPATCHER)
    def error(self, ev):
        finish(1, error="OFPT_ERROR type=%d code=%d at step %s: %s"
               % (ev.msg.type, ev.msg.code, self.step, bytes(ev.msg.data).hex()))


def main():
    if os.environ.get("OSKEN_DEBUG"):
        import logging
        logging.basicConfig(level=logging.DEBUG)
    if MODE != "connect":
        sys.exit("usage: osken_packet_in.py connect PORT")
    args = ["--ofp-switch-address-list", "127.0.0.1:%d" % PORT, "--ofp-tcp-listen-port", "0"]
    cfg.CONF(args=args, project="os_ken")
    app_manager.AppManager.run_apps(["os_ken.controller.ofp_handler", __name__])


if __name__ == "__main__":
    main()
