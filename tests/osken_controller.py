#!/usr/bin/env python3
"""An OpenFlow controller nobody here wrote (os-ken, from PyPI) programs brisk.

os-ken connects to the switch (`connect PORT`: `--ofp-switch-address-list`, brisk's `ptcp:`
listener) or listens for it (`listen PORT`: brisk's `--controller tcp:127.0.0.1:PORT`),
negotiates OpenFlow 1.5, names two tables through a table-features request, installs
Antrea-shaped flows (set_field with masks, resubmit, ct with zone and recirculation,
conjunction, dec_ttl, output) and a select group in one atomic bundle, then reads back
flow stats and table features. It prints one JSON line with what it saw and exits 0, or
exits 1 with the reason.

usage: osken_controller.py connect|listen PORT
"""
import json
import os
import sys
import time

from os_ken import cfg
from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_5

MODE, PORT = sys.argv[1], int(sys.argv[2])
RESULT = {}


def finish(code, **what):
    RESULT.update(what)
    print(json.dumps(RESULT), flush=True)
    # OSKEN_HOLD=SECONDS: keep the connection that long before exiting (the switch's view
    # of a connected controller can be checked meanwhile).
    time.sleep(float(os.environ.get("OSKEN_HOLD", "0")))
    os._exit(code)


class SeedController(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_5.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        hub.spawn_after(30, lambda: finish(1, error="timed out"))
        self.flow_entries = []
        self.tables = {}

    def flows(self, dp):
        p = dp.ofproto_parser
        ofp = dp.ofproto

        def fm(table, prio, match, actions, goto=None):
            inst = [p.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)] if actions else []
            if goto is not None:
                inst.append(p.OFPInstructionGotoTable(goto))
            return p.OFPFlowMod(dp, cookie=0x1000000000000, table_id=table, command=ofp.OFPFC_ADD,
                                priority=prio, buffer_id=ofp.OFP_NO_BUFFER, out_port=ofp.OFPP_ANY,
                                out_group=ofp.OFPG_ANY, match=match, instructions=inst)

        return [
            fm(0, 200, p.OFPMatch(in_port=2),
               [p.OFPActionSetField(reg0=(0x1, 0xffff)), p.NXActionResubmitTable(table_id=10)]),
            fm(10, 200, p.OFPMatch(in_port=3, eth_type=0x0800, eth_src="f2:82:cc:96:da:bd",
                                   ipv4_src="10.222.1.2"),
               [p.NXActionResubmitTable(table_id=30)]),
            fm(30, 200, p.OFPMatch(eth_type=0x0800),
               [p.NXActionCT(flags=0, zone_src="", zone_ofs_nbits=65520, recirc_table=31,
                             alg=0, actions=[])]),
            fm(31, 190, p.OFPMatch(eth_type=0x0800, ct_state=(0x30, 0x30)), []),
            fm(50, 200, p.OFPMatch(eth_type=0x0800, ipv4_src="10.222.1.48"),
               [p.NXActionConjunction(clause=0, n_clauses=2, id_=7)]),
            fm(50, 200, p.OFPMatch(eth_type=0x0800, ip_proto=6, tcp_dst=80),
               [p.NXActionConjunction(clause=1, n_clauses=2, id_=7)]),
            fm(50, 190, p.OFPMatch(eth_type=0x0800, conj_id=7),
               [p.OFPActionSetField(reg5=7)], goto=70),
            fm(70, 200, p.OFPMatch(eth_type=0x0800, ipv4_dst=("10.222.2.0", "255.255.255.0")),
               [p.OFPActionDecNwTtl(), p.OFPActionSetField(eth_src="4e:99:08:c1:53:be"),
                p.OFPActionSetField(tun_ipv4_dst="10.79.1.202"), p.OFPActionOutput(1)]),
            fm(70, 100, p.OFPMatch(eth_type=0x0800, ipv4_dst="10.96.0.10"),
               [p.OFPActionGroup(5)]),
        ]

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def features(self, ev):
        dp = ev.msg.datapath
        RESULT["version"] = dp.ofproto.OFP_VERSION
        RESULT["datapath_id"] = "%016x" % ev.msg.datapath_id

    @set_ev_cls(ofp_event.EventOFPStateChange, MAIN_DISPATCHER)
    def ready(self, ev):
        try:
            self.program(ev.datapath)
        except Exception as e:  # os-ken's hub would swallow it
            import traceback
            finish(1, error="%s: %s" % (e, traceback.format_exc()))

    def program(self, dp):
        p = dp.ofproto_parser
        ofp = dp.ofproto
        # Name two tables (Antrea rewrites table features with its names).
        named = [p.OFPTableFeaturesStats(table_id=t, command=ofp.OFPTFC_REPLACE, features=0,
                                         name=n.encode(), metadata_match=0, metadata_write=0,
                                         capabilities=0, max_entries=1000000, properties=[])
                 for t, n in ((0, "Classification"), (70, "L3Forwarding"))]
        dp.send_msg(p.OFPTableFeaturesStatsRequest(dp, 0, named))
        flags = ofp.ONF_BF_ATOMIC | ofp.ONF_BF_ORDERED if hasattr(ofp, "ONF_BF_ATOMIC") else 3
        dp.send_msg(p.OFPBundleCtrlMsg(dp, 1, ofp.OFPBCT_OPEN_REQUEST, flags, []))
        group = p.OFPGroupMod(dp, command=ofp.OFPGC_ADD, type_=ofp.OFPGT_SELECT, group_id=5,
                              buckets=[p.OFPBucket(bucket_id=i, actions=[p.OFPActionOutput(3 + i)],
                                                   properties=[p.OFPGroupBucketPropWeight(type_=ofp.OFPGBPT_WEIGHT, weight=100)])
                                       for i in range(2)])
        for m in [group] + self.flows(dp):
            dp.send_msg(p.OFPBundleAddMsg(dp, 1, flags, m, []))
        dp.send_msg(p.OFPBundleCtrlMsg(dp, 1, ofp.OFPBCT_COMMIT_REQUEST, flags, []))
        self.flags = flags

    @set_ev_cls(ofp_event.EventOFPBundleCtrlMsg, MAIN_DISPATCHER)
    def bundle_reply(self, ev):
        dp = ev.msg.datapath
        p = dp.ofproto_parser
        ofp = dp.ofproto
        RESULT.setdefault("bundle", []).append(ev.msg.type)
        if ev.msg.type == ofp.OFPBCT_COMMIT_REPLY:
            dp.send_msg(p.OFPFlowDescStatsRequest(dp, table_id=ofp.OFPTT_ALL))

    @set_ev_cls(ofp_event.EventOFPFlowDescStatsReply, MAIN_DISPATCHER)
    def flow_stats(self, ev):
        self.flow_entries.extend(ev.msg.body)
        if ev.msg.flags & 1:
            return
        dp = ev.msg.datapath
        RESULT["flows"] = len(self.flow_entries)
        RESULT["tables"] = sorted({s.table_id for s in self.flow_entries})
        dp.send_msg(dp.ofproto_parser.OFPTableFeaturesStatsRequest(dp, 0, []))

    @set_ev_cls(ofp_event.EventOFPTableFeaturesStatsReply, MAIN_DISPATCHER)
    def table_features(self, ev):
        for t in ev.msg.body:
            if t.name:
                self.tables[t.table_id] = t.name.decode() if isinstance(t.name, bytes) else t.name
        if ev.msg.flags & 1:
            return
        if "flows" in RESULT:
            finish(0, names={str(k): v for k, v in sorted(self.tables.items())})

    @set_ev_cls(ofp_event.EventOFPErrorMsg, MAIN_DISPATCHER)
    def error(self, ev):
        finish(1, error="OFPT_ERROR type=%d code=%d" % (ev.msg.type, ev.msg.code))


def main():
    if os.environ.get("OSKEN_DEBUG"):
        import logging
        logging.basicConfig(level=logging.DEBUG)
    if MODE == "connect":
        args = ["--ofp-switch-address-list", "127.0.0.1:%d" % PORT, "--ofp-tcp-listen-port", "0"]
    else:
        args = ["--ofp-listen-host", "127.0.0.1", "--ofp-tcp-listen-port", str(PORT)]
    cfg.CONF(args=args, project="os_ken")
    app_manager.AppManager.run_apps(["os_ken.controller.ofp_handler", __name__])


if __name__ == "__main__":
    main()
