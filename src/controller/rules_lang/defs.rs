//! Tag and capability definitions, and the actions of a rule set (with `include` of macros).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::matches::render_matches;
use super::{CompileError, Compiled, Macro, Node, TagDef, Word, check_name, err, num, split_call};

/// The word after position `k` of a definition, or an error naming `what` is missing.
fn next_word<'a>(body: &'a [Node], k: usize, what: &str) -> Result<&'a Word, CompileError> {
    match body.get(k + 1) {
        Some(Node::Word(w)) => Ok(w),
        _ => Err(err(body[k].at(), what.to_owned())),
    }
}

fn at(w: &Word) -> (u32, u32) {
    (w.line, w.column)
}

/// `tag NAME id N [default V] [enum V NAME]... [flag BITS NAME]... ;`
pub(super) fn define_tag(
    name: &Word,
    body: &[Node],
    out: &Compiled,
) -> Result<(String, TagDef), CompileError> {
    let tag_name = name.text.to_lowercase();
    check_name(name, &tag_name, "tag")?;
    if out.tag(&tag_name).is_some() {
        return Err(err(at(name), "Multiple definition of tag name."));
    }
    let mut t = TagDef::default();
    let (mut id, mut dfl): (Option<u32>, Option<&str>) = (None, None);
    let mut k = 0;
    while k < body.len() {
        let Some(kw) = body[k].word() else {
            return Err(err(body[k].at(), "Unrecognized keyword in tag definition."));
        };
        match kw.text.to_lowercase().as_str() {
            "id" => {
                if id.is_some() {
                    return Err(err(at(kw), "Duplicate tag id definition."));
                }
                let v = next_word(body, k, "Missing numeric value for ID.")?;
                k += 1;
                id = Some(u32_of(v, "Invalid or out of range tag ID.")?);
            }
            "default" => {
                if dfl.is_some() {
                    return Err(err(at(kw), "Duplicate tag default directive."));
                }
                dfl = Some(&next_word(body, k, "Missing value for default.")?.text);
                k += 1;
            }
            "flag" => {
                let bits = next_word(body, k, "Missing tag flag name or bit index.")?;
                let fname = next_word(body, k + 1, "Missing tag flag name or bit index.")?;
                k += 2;
                define_flag(&mut t, bits, fname)?;
            }
            "enum" => {
                let value = next_word(body, k, "Missing tag enum name or value.")?;
                let ename = next_word(body, k + 1, "Missing tag enum name or value.")?;
                k += 2;
                define_enum(&mut t, value, ename)?;
            }
            _ => return Err(err(at(kw), "Unrecognized keyword in tag definition.")),
        }
        k += 1;
    }
    t.id = id.ok_or_else(|| err(at(name), "Tag definition is missing a numeric ID."))?;
    // A default is looked up as written among the (lower-cased) names, else read as a
    // number (0 when it is none).
    t.default = dfl.map(|d| {
        t.enums
            .get(d)
            .or_else(|| t.flags.get(d))
            .copied()
            .unwrap_or_else(|| (num(d).max(0).unsigned_abs() & 0xffff_ffff) as u32)
    });
    Ok((tag_name, t))
}

/// `flag BITS NAME` of a tag: names the mask of `bits` (bit indexes 0-31 and flag names
/// already defined, separated by commas).
fn define_flag(t: &mut TagDef, bits: &Word, fname: &Word) -> Result<(), CompileError> {
    let mut mask = 0u32;
    for b in bits.text.split(',').filter(|b| !b.is_empty()) {
        let b = b.to_lowercase();
        match t.flags.get(&b) {
            Some(m) => mask |= m,
            None => match num(&b) {
                n @ 0..=31 => mask |= 1 << n,
                _ => {
                    return Err(err(
                        at(bits),
                        "Bit index invalid, out of range, or references an undefined flag name.",
                    ));
                }
            },
        }
    }
    let f = fname.text.to_lowercase();
    if !super::valid_name(&f) {
        return Err(err(at(fname), "Invalid or reserved flag name."));
    }
    if t.flags.insert(f, mask).is_some() {
        return Err(err(at(fname), "Duplicate flag name in tag definition."));
    }
    Ok(())
}

/// `enum VALUE NAME` of a tag: names a value.
fn define_enum(t: &mut TagDef, value: &Word, ename: &Word) -> Result<(), CompileError> {
    let v = u32_of(value, "Tag enum value invalid or out of range.")?;
    let e = ename.text.to_lowercase();
    if !super::valid_name(&e) {
        return Err(err(at(ename), "Invalid or reserved tag enum name."));
    }
    if t.enums.insert(e, v).is_some() {
        return Err(err(at(ename), "Duplicate enum name in tag definition."));
    }
    Ok(())
}

fn u32_of(w: &Word, message: &str) -> Result<u32, CompileError> {
    u32::try_from(num(&w.text)).map_err(|_| err(at(w), message.to_owned()))
}

/// `cap NAME id N [default] RULES... ;`: (name, id, default, its rule set, unrendered).
pub(super) fn define_cap(
    name: &Word,
    body: &[Node],
    defined: &[(String, u32, bool, Vec<Node>)],
) -> Result<(String, u32, bool, Vec<Node>), CompileError> {
    let cap_name = name.text.to_lowercase();
    check_name(name, &cap_name, "capability")?;
    if defined.iter().any(|c| c.0 == cap_name) {
        return Err(err(at(name), "Multiple definition of capability name."));
    }
    let (mut id, mut dfl, mut rules) = (None, false, Vec::new());
    let mut k = 0;
    while k < body.len() {
        match body[k].word().map(|w| w.text.to_lowercase()).as_deref() {
            Some("id") => {
                let kw = body[k].at();
                if id.is_some() {
                    return Err(err(kw, "Duplicate id directive in capability definition."));
                }
                let v = next_word(body, k, "Missing value for ID.")?;
                k += 1;
                let n = u32::try_from(num(&v.text))
                    .map_err(|_| err(kw, "Invalid or out of range capability ID."))?;
                if defined.iter().any(|c| c.1 == n) {
                    return Err(err(kw, "Duplicate capability ID."));
                }
                id = Some(n);
            }
            Some("default") => dfl = true,
            _ => rules.push(body[k].clone()),
        }
        k += 1;
    }
    let id = id.ok_or_else(|| err(at(name), "Capability definition is missing a numeric ID."))?;
    Ok((cap_name, id, dfl, rules))
}

/// What rendering draws on: the macros, the definitions, and how many more macro expansions
/// a source may make (a macro that includes itself, or includes doubling at every level,
/// must end in an error, not in an endless or exponential expansion).
pub(super) struct Ctx<'a> {
    pub(super) macros: &'a BTreeMap<String, Macro>,
    pub(super) out: &'a Compiled,
    pub(super) expansions_left: std::cell::Cell<u32>,
    /// Macros being expanded now, one inside the other.
    pub(super) depth: std::cell::Cell<u32>,
}

/// Deepest macro inclusion (each level takes stack).
const MAX_INCLUDE_DEPTH: u32 = 16;

/// Most macro expansions one source may make.
pub(super) const MAX_EXPANSIONS: u32 = 4_096;
/// Most rules one rule set may compile to (a configuration carries at most this many).
const MAX_COMPILED_RULES: usize = crate::limits::MAX_RULES;

/// Renders a rule set: each action after the matches in the block that follows it.
pub(super) fn render_actions(
    tree: &[Node],
    rules: &mut Vec<Value>,
    ctx: &Ctx<'_>,
    params: &BTreeMap<String, String>,
) -> Result<(), CompileError> {
    let out = ctx.out;
    let mut k = 0;
    while k < tree.len() {
        if rules.len() > MAX_COMPILED_RULES {
            let message = format!("more than {MAX_COMPILED_RULES} rules");
            return Err(err(tree[k].at(), message));
        }
        let Some(word) = tree[k].word() else {
            k += 1;
            continue;
        };
        let action = word.text.to_lowercase();
        let block = match tree.get(k + 1) {
            Some(Node::Block(b)) => Some(b.as_slice()),
            _ => None,
        };
        // Words taken: the action and the block (or macro name) after it.
        let mut step = 2;
        match action.as_str() {
            "include" => {
                let Some(name) = tree.get(k + 1).and_then(Node::word) else {
                    return Err(err(at(word), "Include directive is missing a macro name."));
                };
                include(name, rules, ctx)?;
            }
            "drop" | "accept" | "break" => {
                if let Some(m) = block {
                    render_matches(m, rules, out, params)?;
                }
                rules.push(json!({"type": api_action(&action)}));
                if block.is_none() {
                    step = 1;
                }
            }
            "tee" | "watch" => {
                let usage = "The tee and watch actions require two parameters (max length or 0 for all, target).";
                let m = block.ok_or_else(|| err(at(word), usage))?;
                let (Some(len), Some(target)) = (m[0].word(), m.get(1).and_then(Node::word)) else {
                    return Err(err(at(word), usage));
                };
                let length = num(&len.text);
                if !(-1..=0xffff).contains(&length) {
                    return Err(err(
                        at(len),
                        "Tee/watch max packet length to forward invalid or out of range.",
                    ));
                }
                let address = target_address(target, "tee/watch")?;
                render_matches(&m[2..], rules, out, params)?;
                rules.push(
                    json!({"type": api_action(&action), "address": address, "length": length}),
                );
            }
            "redirect" => {
                let usage = "The redirect action requires a target parameter.";
                let m = block.ok_or_else(|| err(at(word), usage))?;
                let target = m[0].word().ok_or_else(|| err(at(word), usage))?;
                let address = target_address(target, "redirect")?;
                render_matches(&m[1..], rules, out, params)?;
                rules.push(json!({"type": "ACTION_REDIRECT", "address": address}));
            }
            _ => {
                return Err(err(
                    at(word),
                    "Unrecognized action or directive in rule set.",
                ));
            }
        }
        k += step;
    }
    Ok(())
}

fn api_action(keyword: &str) -> &'static str {
    match keyword {
        "drop" => "ACTION_DROP",
        "accept" => "ACTION_ACCEPT",
        "break" => "ACTION_BREAK",
        "tee" => "ACTION_TEE",
        _ => "ACTION_WATCH",
    }
}

fn target_address(target: &Word, what: &str) -> Result<String, CompileError> {
    if target.text.chars().count() != 10 {
        return Err(err(
            at(target),
            format!("Missing or invalid ZeroTier address target for {what}."),
        ));
    }
    Ok(target.text.clone())
}

/// `include NAME(ARG, ...)`: the macro's rule set with its parameters bound.
fn include(name: &Word, rules: &mut Vec<Value>, ctx: &Ctx<'_>) -> Result<(), CompileError> {
    let (left, depth) = (ctx.expansions_left.get(), ctx.depth.get());
    if left == 0 || depth >= MAX_INCLUDE_DEPTH {
        let message = "Too many macro expansions (does a macro include itself?).";
        return Err(err(at(name), message));
    }
    ctx.expansions_left.set(left - 1);
    let (macro_name, args) = split_call(&name.text);
    let m = ctx
        .macros
        .get(&macro_name)
        .ok_or_else(|| err(at(name), "Macro name not found."))?;
    let mut bound = BTreeMap::new();
    for (i, p) in m.params.iter().enumerate() {
        let v = args
            .get(i)
            .ok_or_else(|| err(at(name), "Missing one or more required macro parameter."))?;
        bound.insert(p.clone(), v.clone());
    }
    ctx.depth.set(depth + 1);
    let done = render_actions(&m.body, rules, ctx, &bound);
    ctx.depth.set(depth);
    done
}
