//! Actions that write fields: `load`, `set_field`, `move` and the `mod_*` shorthands, with
//! the checks they share (the field is writable here, its prerequisites hold).

use super::actions::Act;
use super::items::err;
use super::subfield::parse_subfield;
use crate::field::{bit_ones, prereq_holds, prereq_text, Field, Prereq};
use crate::flow::VLAN_CFI;
use crate::ofctl::value::{parse_field_value, parse_uint};
use crate::ofctl::{Action, Match, ParseError, SetField, SetForm};

fn check_prereq(field: Field, m: &Match, off: usize, token: &str) -> Result<(), ParseError> {
    let p = field.desc().prereq;
    if p != Prereq::None && !prereq_holds(p, &m.value, &m.mask) {
        return Err(err(
            off,
            token,
            format!(
                "{} requires the flow to match {}",
                field.name(),
                prereq_text(p)
            ),
        ));
    }
    Ok(())
}

fn check_writable(field: Field, in_ct: bool, off: usize, token: &str) -> Result<(), ParseError> {
    let requires_ct = matches!(field, Field::CtMark | Field::CtLabel);
    if requires_ct && !in_ct {
        return Err(err(off, token, "cannot set CT fields outside of ct action"));
    }
    if in_ct && !requires_ct {
        return Err(err(
            off,
            token,
            format!(
                "ct action doesn't support nested modification of {}",
                field.name()
            ),
        ));
    }
    if !field.desc().writable {
        return Err(err(off, token, format!("{} is read-only", field.name())));
    }
    Ok(())
}

/// `load:VALUE->DST[a..b]`.
pub(super) fn load(a: Act) -> Result<Action, ParseError> {
    let (v, voff, token, bad) = (a.it.value, a.it.value_off, a.token, a.bad());
    a.need_value()?;
    let (val, dst) = v
        .split_once("->")
        .ok_or_else(|| bad("load syntax is load:VALUE->DST[a..b]".into()))?;
    let sf = parse_subfield(dst).map_err(&bad)?;
    let value = parse_uint(val, u32::from(sf.n_bits), "load").map_err(|_| {
        bad(format!(
            "{val} does not fit in {} bits of {}",
            sf.n_bits,
            sf.field.name()
        ))
    })?;
    check_writable(sf.field, a.in_ct, voff, token)?;
    check_prereq(sf.field, a.m, voff, token)?;
    Ok(Action::Set(SetField {
        field: sf.field,
        value: value << sf.ofs,
        mask: sf.mask(),
        form: SetForm::Load,
    }))
}

/// `set_field:VALUE[/MASK]->FIELD` (or a subfield, without a mask).
pub(super) fn set_field(a: Act) -> Result<Action, ParseError> {
    let (v, voff, token, m, bad) = (a.it.value, a.it.value_off, a.token, a.m, a.bad());
    a.need_value()?;
    let (val, dst) = v
        .rsplit_once("->")
        .ok_or_else(|| bad("set_field syntax is set_field:VALUE[/MASK]->FIELD".into()))?;
    let sf = parse_subfield(dst).map_err(&bad)?;
    let (mut value, mut mask) = if matches!(sf.field, Field::CtState) {
        return Err(bad("ct_state is read-only".into()));
    } else {
        parse_field_value(sf.field, dst, val, a.ports).map_err(&bad)?
    };
    if !sf.is_whole() {
        if mask != sf.field.full_mask() {
            return Err(bad("set_field to a subfield cannot have a mask".into()));
        }
        if value > bit_ones(u32::from(sf.n_bits)) {
            return Err(bad(format!("{val} does not fit in {} bits", sf.n_bits)));
        }
        value <<= sf.ofs;
        mask = sf.mask();
    }
    check_writable(sf.field, a.in_ct, voff, token)?;
    check_prereq(sf.field, m, voff, token)?;
    if sf.field == Field::DlVlan && Field::VlanTci.get(&m.mask) & u128::from(VLAN_CFI) == 0 {
        return Err(bad(
            "set_field to vlan_vid requires a match on a VLAN tag".into()
        ));
    }
    Ok(Action::Set(SetField {
        field: sf.field,
        value,
        mask,
        form: SetForm::SetField,
    }))
}

/// `move:SRC[a..b]->DST[c..d]`.
pub(super) fn move_bits(a: Act) -> Result<Action, ParseError> {
    let (v, voff, token, bad) = (a.it.value, a.it.value_off, a.token, a.bad());
    a.need_value()?;
    let (src, dst) = v
        .split_once("->")
        .ok_or_else(|| bad("move syntax is move:SRC[a..b]->DST[c..d]".into()))?;
    let src = parse_subfield(src).map_err(&bad)?;
    let dst = parse_subfield(dst).map_err(&bad)?;
    if src.n_bits != dst.n_bits {
        return Err(bad(format!(
            "source is {} bits but destination is {} bits",
            src.n_bits, dst.n_bits
        )));
    }
    check_writable(dst.field, a.in_ct, voff, token)?;
    check_prereq(src.field, a.m, voff, token)?;
    check_prereq(dst.field, a.m, voff, token)?;
    Ok(Action::Move { src, dst })
}

/// The OpenFlow 1.0 `mod_*` actions: a whole field, no mask.
pub(super) fn modify(a: Act) -> Result<Action, ParseError> {
    let (key, v, bad) = (a.it.key, a.it.value, a.bad());
    a.need_value()?;
    let field = match key {
        "mod_dl_src" => Field::EthSrc,
        "mod_dl_dst" => Field::EthDst,
        "mod_nw_src" => Field::NwSrc,
        "mod_nw_dst" => Field::NwDst,
        "mod_tp_src" => Field::TpSrc,
        "mod_tp_dst" => Field::TpDst,
        "mod_nw_tos" => Field::NwTos,
        "mod_nw_ecn" => Field::NwEcn,
        "mod_nw_ttl" => Field::NwTtl,
        "mod_vlan_vid" => Field::DlVlan,
        _ => Field::DlVlanPcp,
    };
    let (value, mask) = parse_field_value(field, key, v, a.ports).map_err(&bad)?;
    if mask != field.full_mask() {
        return Err(bad(format!("{key} takes no mask")));
    }
    if field == Field::NwTos && value & 3 != 0 {
        return Err(bad("mod_nw_tos: value must be a multiple of 4".into()));
    }
    check_prereq(field, a.m, a.it.value_off, a.token)?;
    Ok(Action::Set(SetField {
        field,
        value,
        mask,
        form: SetForm::Mod,
    }))
}
