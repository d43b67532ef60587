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
    let mut m = f.matches;
    let conj = f
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Conjunction { .. }))
        .count();
    if conj > 0 && conj != f.actions.len() {
        return Err(OfError::new(
            (e::BAD_ACTION, e::BAD_ACTION_ARGUMENT),
            "conjunction actions may not be mixed with other actions",
        ));
    }
    for (i, a) in f.actions.iter().enumerate() {
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
            Action::Output(p) if *p == port::TABLE => {
                return Err(OfError::new(
                    (e::BAD_ACTION, e::BAD_ACTION_OUT_PORT),
                    "output:TABLE is for packet-outs only",
                ));
            }
            Action::GotoTable(t) if i + 1 != f.actions.len() || *t <= f.table_id() => {
                return Err(OfError::new(
                    (e::BAD_INSTRUCTION, e::BAD_INSTRUCTION_TABLE_ID),
                    format!("goto_table:{t} from table {}", f.table_id()),
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
