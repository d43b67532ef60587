#!/usr/bin/env python3
"""perf/rig.sh --storm: NetworkPolicy churn as Antrea's agent makes it, through a controller
nobody here wrote (os-ken, PyPI) on one OpenFlow 1.5 connection to the switch's `ptcp:`
listener. At RATE changes per second it adds, then deletes, rules of worker1's ingress
policy table 90: an address joining and leaving conjunction 3's first clause (the peers of
a policy rule, `ip,nw_src=X actions=conjunction(3,1/3)`), X cycling over 10.10.0.0/16.
Every 100 changes it sends a barrier and times the round trip. After SECONDS it prints one
JSON line (changes sent, errors, barrier round trips) and exits 0; 1 on an OpenFlow error.

usage: storm.py PORT RATE SECONDS
"""
import json
import os
import sys
import time

from os_ken import cfg
from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import MAIN_DISPATCHER, set_ev_cls
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_5

PORT, RATE, SECONDS = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
RESULT = {"changes": 0, "errors": 0, "barrier_ms": []}


def finish(code):
    b = sorted(RESULT["barrier_ms"])
    RESULT["barrier_ms_p50"] = b[len(b) // 2] if b else None
    RESULT["barrier_ms_max"] = b[-1] if b else None
    del RESULT["barrier_ms"]
    print(json.dumps(RESULT), flush=True)
    os._exit(code)


class Storm(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_5.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        hub.spawn_after(SECONDS + 30, lambda: finish(1))
        self.barrier_at = None

    @set_ev_cls(ofp_event.EventOFPStateChange, MAIN_DISPATCHER)
    def ready(self, ev):
        hub.spawn(self.churn, ev.datapath)

    def churn(self, dp):
        p = dp.ofproto_parser
        ofp = dp.ofproto
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < SECONDS:
            n = i // 2
            addr = "10.10.%d.%d" % ((n >> 8) & 255, n & 255)
            match = p.OFPMatch(eth_type=0x0800, ipv4_src=addr)
            if i % 2 == 0:
                m = p.OFPFlowMod(dp, cookie=0x1050000000000, table_id=90, command=ofp.OFPFC_ADD,
                                 priority=200, buffer_id=ofp.OFP_NO_BUFFER, out_port=ofp.OFPP_ANY,
                                 out_group=ofp.OFPG_ANY, match=match,
                                 instructions=[p.OFPInstructionActions(
                                     ofp.OFPIT_APPLY_ACTIONS,
                                     [p.NXActionConjunction(clause=0, n_clauses=3, id_=3)])])
            else:
                m = p.OFPFlowMod(dp, table_id=90, command=ofp.OFPFC_DELETE_STRICT, priority=200,
                                 buffer_id=ofp.OFP_NO_BUFFER, out_port=ofp.OFPP_ANY,
                                 out_group=ofp.OFPG_ANY, match=match)
            dp.send_msg(m)
            i += 1
            RESULT["changes"] = i
            if i % 100 == 0 and self.barrier_at is None:
                self.barrier_at = time.monotonic()
                dp.send_msg(p.OFPBarrierRequest(dp))
            # Paced against the start, so a slow send does not lower the rate.
            delay = start + i / RATE - time.monotonic()
            if delay > 0:
                hub.sleep(delay)
        hub.sleep(0.5)
        finish(0)

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def barrier(self, ev):
        if self.barrier_at is not None:
            RESULT["barrier_ms"].append(round((time.monotonic() - self.barrier_at) * 1000, 2))
            self.barrier_at = None

    @set_ev_cls(ofp_event.EventOFPErrorMsg, MAIN_DISPATCHER)
    def error(self, ev):
        RESULT["errors"] += 1
        RESULT["error"] = "OFPT_ERROR type=%d code=%d" % (ev.msg.type, ev.msg.code)
        finish(1)


def main():
    args = ["--ofp-switch-address-list", "127.0.0.1:%d" % PORT, "--ofp-tcp-listen-port", "0"]
    cfg.CONF(args=args, project="os_ken")
    app_manager.AppManager.run_apps(["os_ken.controller.ofp_handler", __name__])


if __name__ == "__main__":
    main()
