//! What OVS checks of a flow's actions against its match before accepting a flow-mod
//! (`ofpacts_check`): a field written or read needs its prerequisites in the match, `ct`
//! needs IP, `ct_mark`/`ct_label` are written only inside `ct(commit, exec(...))`, and
//! conjunctions are not mixed with other actions. The text parser makes the same checks on
//! `ovs-ofctl` syntax; these make them on the wire.

use crate::{errors as e, OfError};
use pipeline::field::{prereq_holds, prereq_text, Field, Prereq};
use pipeline::ofctl::{port, Action, FlowEntry, Match};

fn inconsistent(msg: String) -> OfError {
    // OFPBAC_MATCH_INCONSISTENT.
    OfError::new((e::BAD_ACTION, 10), msg)
}

fn need(field: Field, m: &Match) -> Result<(), OfError> {
    let p = field.desc().prereq;
    if p != Prereq::None && !prereq_holds(p, &m.value, &m.mask) {
        return Err(inconsistent(format!(
            "{} requires the flow to match {}",
            field.name(),
            prereq_text(p)
        )));
    }
    Ok(())
}

/// Checks a flow's actions against its match.
pub fn check_actions(f: &FlowEntry) -> Result<(), OfError> {
    check_action_list(&f.matches, &f.actions, f.table_id(), false)
}

/// Refuses what the codec carries but brisk's datapath does not run yet: `learn`'s
/// `limit` and `result_dst`. (A meter that does not exist is the tables'
/// refusal: `OFPMMFC_INVALID_METER`.)
pub fn refuse_unsupported(actions: &[Action]) -> Result<(), OfError> {
    for a in actions {
        let unsupported = |l: &pipeline::ofctl::Learn| l.limit != 0 || l.result_dst.is_some();
        if matches!(a, Action::Learn(l) if unsupported(l)) {
            return Err(OfError::new(
                (e::BAD_ACTION, e::BAD_ACTION_EXP_TYPE),
                format!(
                    "{}: decoded, but brisk's datapath does not run it yet (refused, not ignored)",
                    pipeline::ofctl::format_actions(std::slice::from_ref(a), &Default::default())
                ),
            ));
        }
    }
    Ok(())
}

/// Checks actions against what the packets they apply to are known to match: a flow's
/// match, or a packet-out's packet (which alone may output to `TABLE`).
pub fn check_action_list(
    matches: &Match,
    actions: &[Action],
    table_id: u8,
    packet_out: bool,
) -> Result<(), OfError> {
    refuse_unsupported(actions)?;
    let mut m = *matches;
    let conj = actions
        .iter()
        .filter(|a| matches!(a, Action::Conjunction { .. }))
        .count();
    if conj > 0 && conj != actions.len() {
        return Err(OfError::new(
            (e::BAD_ACTION, e::BAD_ACTION_ARGUMENT),
            "conjunction actions may not be mixed with other actions",
        ));
    }
    for (i, a) in actions.iter().enumerate() {
        match a {
            Action::Set(sf) => {
                if matches!(sf.field, Field::CtMark | Field::CtLabel) {
                    return Err(OfError::new(
                        (e::BAD_ACTION, e::BAD_ACTION_SET_ARGUMENT),
                        format!(
                            "{} is written only inside ct(commit,exec(...))",
                            sf.field.name()
                        ),
                    ));
                }
                need(sf.field, &m)?;
            }
            Action::Move { src, dst } => {
                need(src.field, &m)?;
                need(dst.field, &m)?;
                if matches!(dst.field, Field::CtMark | Field::CtLabel) {
                    return Err(OfError::new(
                        (e::BAD_ACTION, e::BAD_ACTION_SET_ARGUMENT),
                        format!(
                            "{} is written only inside ct(commit,exec(...))",
                            dst.field.name()
                        ),
                    ));
                }
            }
            Action::OutputReg(sf) => need(sf.field, &m)?,
            Action::Learn(l) => l
                .check(&m)
                .map_err(|why| inconsistent(format!("learn: {why}")))?,
            Action::Ct(ct) => {
                if !prereq_holds(Prereq::IpAny, &m.value, &m.mask) {
                    return Err(inconsistent(
                        "ct requires the flow to match ip or ipv6".into(),
                    ));
                }
                if let pipeline::ofctl::CtZone::Field(sf) = ct.zone {
                    need(sf.field, &m)?;
                }
            }
            Action::Output(p) if *p == port::TABLE && !packet_out => {
                return Err(OfError::new(
                    (e::BAD_ACTION, e::BAD_ACTION_OUT_PORT),
                    "output:TABLE is for packet-outs only",
                ));
            }
            Action::GotoTable(t) if i + 1 != actions.len() || *t <= table_id || packet_out => {
                return Err(OfError::new(
                    (e::BAD_INSTRUCTION, e::BAD_INSTRUCTION_TABLE_ID),
                    format!("goto_table:{t} from table {table_id}"),
                ));
            }
            Action::PushVlan(_) => {
                // Afterwards the flow has a tag: vlan fields become writable.
                m.set(
                    Field::VlanTci,
                    u128::from(pipeline::flow::VLAN_CFI),
                    u128::from(pipeline::flow::VLAN_CFI),
                );
            }
            Action::PopVlan { .. } => {
                m.set(Field::VlanTci, 0, 0xffff);
            }
            _ => {}
        }
    }
    Ok(())
}
