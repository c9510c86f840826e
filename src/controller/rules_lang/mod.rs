//! ZeroTier's rules language (the "rules source" UIs edit) compiled to the JSON rule objects
//! the API stores: actions (`drop`, `accept`, `break`, `tee`, `watch`, `redirect`) each with
//! the match conditions before it, `tag` and `cap` definitions, `macro`/`include`, `not`,
//! `or`, `#` comments. The language is defined by ZeroTier's own compiler (rule-compiler.js,
//! read for its behaviour only); for the same source this one produces the same objects, and
//! the fixtures in `tests/vectors/rules/` hold that compiler's output to prove it.
//!
//! Source is split into whitespace-separated words; a word ending in `;` closes the innermost
//! open block, and the words `macro tag cap drop accept tee watch redirect break priority`
//! open one. Errors name the line and column (both from 1) of the word at fault.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// Most bytes of rules source compiled.
pub const MAX_SOURCE_LEN: usize = 256 * 1024;

/// A compile error at a place in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {} column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// A word of source and where it starts.
#[derive(Debug, Clone)]
struct Word {
    text: String,
    line: u32,
    column: u32,
}

/// A word or a block of them.
#[derive(Debug, Clone)]
enum Node {
    Word(Word),
    Block(Vec<Self>),
}

impl Node {
    fn word(&self) -> Option<&Word> {
        match self {
            Self::Word(w) => Some(w),
            Self::Block(_) => None,
        }
    }
    /// The place to report for this node (a block: its first word).
    fn at(&self) -> (u32, u32) {
        match self {
            Self::Word(w) => (w.line, w.column),
            Self::Block(b) => b.first().map_or((0, 0), Self::at),
        }
    }
}

fn err(at: (u32, u32), message: impl Into<String>) -> CompileError {
    CompileError {
        line: at.0,
        column: at.1,
        message: message.into(),
    }
}

const OPEN_BLOCK: [&str; 10] = [
    "macro", "tag", "cap", "drop", "accept", "tee", "watch", "redirect", "break", "priority",
];

const RESERVED: [&str; 50] = [
    "macro",
    "tag",
    "cap",
    "default",
    "drop",
    "accept",
    "tee",
    "watch",
    "redirect",
    "break",
    "priority",
    "ztsrc",
    "ztdest",
    "vlan",
    "vlanpcp",
    "vlandei",
    "ethertype",
    "macsrc",
    "macdest",
    "ipsrc",
    "ipdest",
    "iptos",
    "ipprotocol",
    "icmp",
    "sport",
    "dport",
    "chr",
    "framesize",
    "random",
    "tand",
    "tor",
    "txor",
    "tdiff",
    "teq",
    "tseq",
    "treq",
    "type",
    "enum",
    "class",
    "define",
    "import",
    "include",
    "log",
    "not",
    "xor",
    "or",
    "and",
    "set",
    "var",
    "let",
];

fn reserved(w: &str) -> bool {
    RESERVED.contains(&w)
}

/// Deepest nesting of blocks a source may have.
const MAX_NESTING: usize = 32;

/// Splits `src` into words and nests them in blocks (at most [`MAX_NESTING`] deep).
fn parse_blocks(src: &str) -> Result<Vec<Node>, CompileError> {
    let mut stack: Vec<Vec<Node>> = vec![Vec::new()];
    let mut cur: Option<Word> = None;
    let (mut line, mut column, mut comment) = (1u32, 0u32, false);
    let finish = |cur: &mut Option<Word>, stack: &mut Vec<Vec<Node>>| -> Result<(), CompileError> {
        let Some(mut w) = cur.take() else {
            return Ok(());
        };
        let at = (w.line, w.column);
        let end = w.text.ends_with(';');
        if end {
            w.text.pop();
        }
        let opens = OPEN_BLOCK.contains(&w.text.as_str());
        if !w.text.is_empty()
            && let Some(top) = stack.last_mut()
        {
            top.push(Node::Word(w));
        }
        if end && stack.len() > 1 && stack.last().is_some_and(|b| !b.is_empty()) {
            let done = stack.pop().unwrap_or_default();
            if let Some(parent) = stack.last_mut() {
                parent.push(Node::Block(done));
            }
        } else if opens {
            if stack.len() > MAX_NESTING {
                return Err(err(
                    at,
                    format!("blocks nested more than {MAX_NESTING} deep"),
                ));
            }
            stack.push(Vec::new());
        }
        Ok(())
    };
    for ch in src.chars() {
        column += 1;
        if ch == '\n' {
            finish(&mut cur, &mut stack)?;
            line += 1;
            column = 0;
            comment = false;
            continue;
        }
        if comment {
            continue;
        }
        if matches!(ch, ' ' | '\t' | '\r') {
            finish(&mut cur, &mut stack)?;
            continue;
        }
        match &mut cur {
            None if ch == '#' => comment = true,
            None => {
                cur = Some(Word {
                    text: ch.to_string(),
                    line,
                    column,
                })
            }
            Some(w) => w.text.push(ch),
        }
    }
    finish(&mut cur, &mut stack)?;
    while stack.len() > 1 && stack.last().is_some_and(|b| !b.is_empty()) {
        let done = stack.pop().unwrap_or_default();
        if let Some(parent) = stack.last_mut() {
            parent.push(Node::Block(done));
        }
    }
    Ok(stack.swap_remove(0))
}

/// A number as ZeroTier's compiler reads one: decimal, or hex after `0x`; the digits at the
/// start count (`12ab` is 12); -1 when there are none.
fn num(text: &str) -> i128 {
    let t = text.to_ascii_lowercase();
    let (digits, radix) = match t.strip_prefix("0x").filter(|_| t.len() > 2) {
        Some(hex) => (hex.to_owned(), 16),
        None => (t, 10),
    };
    let (sign, body) = match digits.strip_prefix('-') {
        Some(b) if radix == 10 => (-1, b.to_owned()),
        _ => (1, digits.strip_prefix('+').unwrap_or(&digits).to_owned()),
    };
    let end = body
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(body.len());
    if end == 0 {
        return -1;
    }
    let mut v: i128 = 0;
    for c in body[..end].chars() {
        v = (v * i128::from(radix)).saturating_add(i128::from(c.to_digit(radix).unwrap_or(0)));
        v = v.min(1 << 80);
    }
    sign * v
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && !n.starts_with(|c: char| c.is_ascii_digit())
        && n.chars().all(|c| c == '_' || c.is_alphanumeric())
}

/// A tag definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagDef {
    /// Tag ID.
    pub id: u32,
    /// Default value, if any.
    pub default: Option<u32>,
    /// Named values.
    pub enums: BTreeMap<String, u32>,
    /// Named bit masks.
    pub flags: BTreeMap<String, u32>,
}

/// A compiled rules source.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Compiled {
    /// The network's rules (API JSON objects).
    pub rules: Vec<Value>,
    /// Capabilities by name, in the order defined: (name, id, default, rules).
    pub capabilities: Vec<(String, u32, bool, Vec<Value>)>,
    /// Tags by name, in the order defined.
    pub tags: Vec<(String, TagDef)>,
}

impl Compiled {
    /// The network fields the API takes: `rules`, `capabilities`, `tags`.
    pub fn config(&self) -> Value {
        let caps: Vec<Value> = self
            .capabilities
            .iter()
            .map(|(_, id, dfl, rules)| json!({"id": id, "default": dfl, "rules": rules}))
            .collect();
        let tags: Vec<Value> = self
            .tags
            .iter()
            .map(|(_, t)| json!({"id": t.id, "default": t.default}))
            .collect();
        json!({"rules": self.rules, "capabilities": caps, "tags": tags})
    }

    /// The config plus the name tables (`capabilitiesByName`, `tagsByName`), as ZeroTier's
    /// compiler's command line prints them.
    pub fn to_json(&self) -> Value {
        let by_name: Map<String, Value> = self
            .capabilities
            .iter()
            .map(|(n, id, _, _)| (n.clone(), json!(id)))
            .collect();
        let tags: Map<String, Value> = self
            .tags
            .iter()
            .map(|(n, t)| {
                let v =
                    json!({"id": t.id, "default": t.default, "enums": t.enums, "flags": t.flags});
                (n.clone(), v)
            })
            .collect();
        json!({"config": self.config(), "capabilitiesByName": by_name, "tagsByName": tags})
    }

    fn tag(&self, name: &str) -> Option<&TagDef> {
        self.tags.iter().find(|(n, _)| n == name).map(|(_, t)| t)
    }
}

/// A macro: its parameter names (with their `$`) and body.
struct Macro {
    params: Vec<String>,
    body: Vec<Node>,
}

/// Compiles a rules source.
pub fn compile(src: &str) -> Result<Compiled, CompileError> {
    if src.len() > MAX_SOURCE_LEN {
        return Err(err(
            (1, 1),
            format!("the source is over {MAX_SOURCE_LEN} bytes"),
        ));
    }
    let tree = parse_blocks(src)?;
    let mut out = Compiled::default();
    let mut macros: BTreeMap<String, Macro> = BTreeMap::new();
    let mut base = Vec::new();
    let mut pending_caps: Vec<(String, u32, bool, Vec<Node>)> = Vec::new();
    let mut i = 0;
    while i < tree.len() {
        let keyword = tree[i].word().map(|w| w.text.to_lowercase());
        match keyword.as_deref() {
            Some(k @ ("macro" | "tag" | "cap")) => {
                let what = match k {
                    "macro" => "Macro",
                    "tag" => "Tag",
                    _ => "Capability",
                };
                let Some(Node::Block(def)) = tree.get(i + 1) else {
                    return Err(err(
                        tree[i].at(),
                        format!("{what} definition is missing name."),
                    ));
                };
                let Some(name) = def.first().and_then(Node::word) else {
                    return Err(err(
                        tree[i].at(),
                        format!("{what} definition is missing name."),
                    ));
                };
                match k {
                    "macro" => define_macro(name, &def[1..], &mut macros)?,
                    "tag" => {
                        let t = define_tag(name, &def[1..], &out)?;
                        out.tags.push(t);
                    }
                    _ => pending_caps.push(define_cap(name, &def[1..], &pending_caps)?),
                }
                i += 2;
            }
            _ => {
                base.push(tree[i].clone());
                i += 1;
            }
        }
    }
    let none = BTreeMap::new();
    let mut caps = Vec::new();
    let mut rules = Vec::new();
    {
        let ctx = Ctx {
            macros: &macros,
            out: &out,
            expansions_left: std::cell::Cell::new(defs::MAX_EXPANSIONS),
            depth: std::cell::Cell::new(0),
        };
        for (name, id, dfl, body) in pending_caps {
            let mut cap_rules = Vec::new();
            render_actions(&body, &mut cap_rules, &ctx, &none)?;
            caps.push((name, id, dfl, cap_rules));
        }
        render_actions(&base, &mut rules, &ctx, &none)?;
    }
    out.capabilities = caps;
    out.rules = rules;
    Ok(out)
}

/// `name(param, ...)` → (name, params).
fn split_call(text: &str) -> (String, Vec<String>) {
    match text.find('(') {
        Some(p) if p > 0 => {
            let params = text[p + 1..]
                .split([',', ')'])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            (text[..p].to_owned(), params)
        }
        _ => (text.to_owned(), Vec::new()),
    }
}

fn check_name(name: &Word, text: &str, what: &str) -> Result<(), CompileError> {
    let at = (name.line, name.column);
    if !valid_name(text) {
        return Err(err(at, format!("Invalid {what} name.")));
    }
    if reserved(text) {
        return Err(err(
            at,
            format!("{} name is a reserved word.", capitalized(what)),
        ));
    }
    Ok(())
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn define_macro(
    name: &Word,
    body: &[Node],
    macros: &mut BTreeMap<String, Macro>,
) -> Result<(), CompileError> {
    let (n, params) = split_call(&name.text.to_lowercase());
    check_name(name, &n, "macro")?;
    if macros.contains_key(&n) {
        return Err(err(
            (name.line, name.column),
            "Multiple definition of macro name.",
        ));
    }
    macros.insert(
        n,
        Macro {
            params,
            body: body.to_vec(),
        },
    );
    Ok(())
}

mod defs;
mod matches;

use defs::{Ctx, define_cap, define_tag, render_actions};

#[cfg(test)]
mod tests;
