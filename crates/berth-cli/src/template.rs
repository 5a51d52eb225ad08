//! A subset of Go's text/template, as used by docker's `--format`:
//! fields, variables, pipelines, if/else/range/with/end, `-` trim markers and
//! docker's functions (json, join, upper, lower, title, split, truncate, pad)
//! plus Go's builtins (index, len, printf, print, println, eq, ne, lt, le, gt,
//! ge, and, or, not, slice).

use std::fmt::Write as _;

use anyhow::{Result, anyhow, bail};
use berth_api::cli::GO_POINTER_FIELDS;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// JSON-like value keeping object keys in their original order.
#[derive(Debug, Clone, PartialEq)]
pub enum TVal {
    Null,
    /// A missing map key (prints `<no value>`).
    Missing,
    /// A JSON null read from a field that Go would hold as a slice or map
    /// (prints `[]`, marshals as `null`).
    NilSlice,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Arr(Vec<TVal>),
    Obj(Vec<(String, TVal)>),
}

impl TVal {
    pub fn s(v: impl Into<String>) -> TVal {
        TVal::Str(v.into())
    }
    pub fn get(&self, key: &str) -> TVal {
        match self {
            TVal::Obj(m) => {
                let find = |key: &str| m.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
                find(key)
                    .or_else(|| find(&format!("{GO_NAME}{key}")))
                    .unwrap_or(TVal::Missing)
            }
            _ => TVal::Missing,
        }
    }

    /// Adds `go_name` as another name of the field `key` (Go's field name
    /// where it differs from the JSON key: `.APIVersion` for `ApiVersion`);
    /// templates find it, JSON and printing do not show it.
    pub fn alias(&mut self, key: &str, go_name: &str) {
        if let TVal::Obj(m) = self
            && let Some(v) = m.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        {
            m.push((format!("{GO_NAME}{go_name}"), v));
        }
    }
    fn truthy(&self) -> bool {
        match self {
            TVal::Null | TVal::Missing | TVal::NilSlice => false,
            TVal::Bool(b) => *b,
            TVal::Int(i) => *i != 0,
            TVal::Float(f) => *f != 0.0,
            TVal::Str(s) => !s.is_empty(),
            TVal::Arr(a) => !a.is_empty(),
            TVal::Obj(o) => o.iter().any(|(k, _)| !is_marker(k)),
        }
    }

    /// Go's `fmt.Print` rendering.
    pub fn display(&self) -> String {
        match self {
            TVal::Null => "<nil>".into(),
            TVal::Missing => "<no value>".into(),
            TVal::NilSlice => "[]".into(),
            TVal::Bool(b) => b.to_string(),
            TVal::Int(i) => i.to_string(),
            TVal::Float(f) => go_float(*f),
            TVal::Str(s) => s.clone(),
            TVal::Arr(a) => {
                let parts: Vec<String> = a.iter().map(TVal::display).collect();
                format!("[{}]", parts.join(" "))
            }
            TVal::Obj(o)
                if o.iter().any(|(k, _)| k == GO_TYPE)
                    || !o.is_empty()
                        && !o.iter().any(|(k, _)| k == GO_MAP)
                        && o.iter()
                            .all(|(k, _)| k.starts_with(|c: char| c.is_ascii_uppercase())) =>
            {
                // a Go struct: {v1 v2 ...}
                let parts: Vec<String> = o
                    .iter()
                    .filter(|(k, _)| !k.starts_with("__"))
                    .map(|(_, v)| match v {
                        TVal::Null => "<nil>".to_string(),
                        v => v.display(),
                    })
                    .collect();
                format!("{{{}}}", parts.join(" "))
            }
            TVal::Obj(o) => {
                let mut o = o.clone();
                o.sort_by(|a, b| a.0.cmp(&b.0));
                let parts: Vec<String> = o
                    .iter()
                    .filter(|(k, _)| !k.starts_with("__"))
                    .map(|(k, v)| format!("{k}:{}", v.display()))
                    .collect();
                format!("map[{}]", parts.join(" "))
            }
        }
    }

    /// Go's `json.Marshal` (no HTML escaping).
    pub fn to_json(&self) -> String {
        match self {
            TVal::Null | TVal::Missing | TVal::NilSlice => "null".into(),
            TVal::Bool(b) => b.to_string(),
            TVal::Int(i) => i.to_string(),
            TVal::Float(f) => serde_json::to_string(f).unwrap_or_else(|_| "null".into()),
            TVal::Str(s) => serde_json::to_string(s).unwrap_or_default(),
            TVal::Arr(a) => {
                let parts: Vec<String> = a.iter().map(TVal::to_json).collect();
                format!("[{}]", parts.join(","))
            }
            TVal::Obj(o) if o.iter().any(|(k, _)| k == JSON_FORM) => o
                .iter()
                .find(|(k, _)| k == JSON_FORM)
                .map(|(_, v)| v.to_json())
                .unwrap_or_default(),
            TVal::Obj(o) => {
                let parts: Vec<String> = o
                    .iter()
                    .filter(|(k, _)| !k.starts_with("__"))
                    .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v.to_json()))
                    .collect();
                let json = format!("{{{}}}", parts.join(","));
                if o.iter().any(|(k, _)| k == MARSHALS_JSON) {
                    escape_html(&json)
                } else {
                    json
                }
            }
        }
    }

    /// Marks a docker CLI format context: those marshal themselves with
    /// Go's json.Marshal, which escapes `<`, `>` and `&` (`\u003cnone\u003e`).
    pub fn marshals_json(mut self) -> TVal {
        if let TVal::Obj(o) = &mut self {
            o.push((MARSHALS_JSON.into(), TVal::Missing));
        }
        self
    }
}

const MARSHALS_JSON: &str = "__MarshalJSON";
/// What `{{json .}}` shows of a context whose MarshalJSON differs from its
/// fields (docker's search context: `"true"` where `.IsOfficial` is `[OK]`).
pub const JSON_FORM: &str = "__JSONForm";
/// The prefix of [`TVal::alias`] names.
const GO_NAME: &str = "__go:";
/// Marks an object as a typed Go struct (the value: its Go type, e.g.
/// `volume.Volume`): an unknown field is `can't evaluate field X in type
/// volume.Volume`, and it prints as `{v1 v2 …}`.
pub const GO_TYPE: &str = "__GoType";
/// Marks an object as a typed Go map (`map[string]string`): a missing key is
/// `<no value>` rather than an error, and it prints as `map[k:v …]`.
pub const GO_MAP: &str = "__GoMap";

/// Keys that are not data: markers and methods (`__Label`).
fn is_marker(k: &str) -> bool {
    k.starts_with("__")
}

/// A typed Go map (`map[string]string`) as template data; `None` is a nil
/// map: `map[]` when printed, `null` in JSON.
pub fn go_map(m: Option<&berth_api::StringMap>) -> TVal {
    let mut o: Vec<(String, TVal)> = m
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), TVal::s(v.as_str())))
        .collect();
    o.push((GO_MAP.into(), TVal::Bool(true)));
    if m.is_none() {
        o.push((JSON_FORM.into(), TVal::Null));
    }
    TVal::Obj(o)
}

/// Go's HTML-safe JSON: `<`, `>`, `&`, U+2028 and U+2029 as `\uXXXX`
/// (inside strings, the only place they can be in JSON).
fn escape_html(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn go_float(f: f64) -> String {
    // Go's %v for float64 is %g with the shortest representation.
    if f == f.trunc() && f.abs() < 1e21 {
        let s = format!("{f}");
        if f.abs() >= 1e21 {
            return s;
        }
        return s;
    }
    format!("{f}")
}

impl<'de> Deserialize<'de> for TVal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TVal;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<TVal, E> {
                Ok(TVal::Null)
            }
            fn visit_none<E>(self) -> Result<TVal, E> {
                Ok(TVal::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<TVal, E> {
                Ok(TVal::Bool(b))
            }
            fn visit_i64<E>(self, i: i64) -> Result<TVal, E> {
                Ok(TVal::Int(i))
            }
            fn visit_u64<E>(self, i: u64) -> Result<TVal, E> {
                Ok(i64::try_from(i)
                    .map(TVal::Int)
                    .unwrap_or(TVal::Float(i as f64)))
            }
            fn visit_f64<E>(self, f: f64) -> Result<TVal, E> {
                Ok(TVal::Float(f))
            }
            fn visit_str<E>(self, s: &str) -> Result<TVal, E> {
                Ok(TVal::Str(s.to_string()))
            }
            fn visit_string<E>(self, s: String) -> Result<TVal, E> {
                Ok(TVal::Str(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<TVal, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(TVal::Arr(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<TVal, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = a.next_entry::<String, TVal>()? {
                    v.push((k, x));
                }
                Ok(TVal::Obj(v))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------- parsing

#[derive(Debug, Clone)]
enum Arg {
    Dot,
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    Ident(String),
    Pipe(Box<Pipeline>, Vec<String>),
}

#[derive(Debug, Clone)]
struct Pipeline {
    decl: Vec<String>,
    assign: bool,
    cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
}

#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

enum Piece {
    Text(String),
    Action(String),
}

fn split_actions(src: &str) -> Result<Vec<Piece>> {
    let mut out = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(i) = rest.find("{{") {
        let mut text = rest[..i].to_string();
        if trim_next {
            text = text.trim_start().to_string();
        }
        let after = &rest[i + 2..];
        let (after, trim_prev) = match after.strip_prefix("- ") {
            Some(a) => (a, true),
            None => (after, false),
        };
        if trim_prev {
            text = text.trim_end().to_string();
        }
        out.push(Piece::Text(text));
        // find the closing braces outside string literals
        let bytes = after.as_bytes();
        let mut j = 0;
        let mut quote: Option<u8> = None;
        let end = loop {
            if j >= bytes.len() {
                bail!("template: unclosed action");
            }
            let c = bytes[j];
            if let Some(q) = quote {
                if c == b'\\' && q == b'"' {
                    j += 2;
                    continue;
                }
                if c == q {
                    quote = None;
                }
            } else if c == b'"' || c == b'`' || c == b'\'' {
                quote = Some(c);
            } else if c == b'}' && bytes.get(j + 1) == Some(&b'}') {
                break j;
            }
            j += 1;
        };
        let mut inner = &after[..end];
        trim_next = false;
        if let Some(s) = inner.strip_suffix(" -") {
            inner = s;
            trim_next = true;
        }
        out.push(Piece::Action(inner.trim().to_string()));
        rest = &after[end + 2..];
    }
    let mut text = rest.to_string();
    if trim_next {
        text = text.trim_start().to_string();
    }
    out.push(Piece::Text(text));
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Dot,
    Field(String),
    Var(String),
    Str(String),
    Num(String),
    Ident(String),
    /// `.Field` written right after a value (`$x.A`, `(pipe).A`, `.A.B`).
    Chain(String),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

fn lex(s: &str) -> Result<Vec<Tok>> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '|' {
            out.push(Tok::Pipe);
            i += 1;
        } else if ch == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if ch == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if ch == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else if ch == ':' && c.get(i + 1) == Some(&'=') {
            out.push(Tok::Declare);
            i += 2;
        } else if ch == '=' {
            out.push(Tok::Assign);
            i += 1;
        } else if ch == '"' {
            let mut j = i + 1;
            let mut lit = String::from("\"");
            while j < c.len() && c[j] != '"' {
                if c[j] == '\\' && j + 1 < c.len() {
                    lit.push(c[j]);
                    j += 1;
                }
                lit.push(c[j]);
                j += 1;
            }
            lit.push('"');
            let v: String = serde_json::from_str(&lit)
                .map_err(|_| anyhow!("template: bad string literal {lit}"))?;
            out.push(Tok::Str(v));
            i = j + 1;
        } else if ch == '`' {
            let mut j = i + 1;
            let mut lit = String::new();
            while j < c.len() && c[j] != '`' {
                lit.push(c[j]);
                j += 1;
            }
            out.push(Tok::Str(lit));
            i = j + 1;
        } else if ch == '.' {
            let mut j = i + 1;
            while j < c.len() && ident(c[j]) {
                j += 1;
            }
            let adjacent = i > 0
                && !c[i - 1].is_whitespace()
                && matches!(
                    out.last(),
                    Some(Tok::Field(_) | Tok::Var(_) | Tok::RParen | Tok::Chain(_))
                );
            if j > i + 1 && adjacent {
                out.push(Tok::Chain(c[i + 1..j].iter().collect()));
                i = j;
                continue;
            }
            if j == i + 1 {
                if c.get(j).is_some_and(|d| d.is_ascii_digit()) {
                    // .5 number
                    let mut k = j;
                    while k < c.len() && c[k].is_ascii_digit() {
                        k += 1;
                    }
                    out.push(Tok::Num(c[i..k].iter().collect()));
                    i = k;
                    continue;
                }
                out.push(Tok::Dot);
            } else {
                out.push(Tok::Field(c[i + 1..j].iter().collect()));
            }
            i = j;
        } else if ch == '$' {
            let mut j = i + 1;
            while j < c.len() && ident(c[j]) {
                j += 1;
            }
            out.push(Tok::Var(c[i..j].iter().collect()));
            i = j;
        } else if ch.is_ascii_digit() || ch == '-' || ch == '+' {
            let mut j = i + 1;
            while j < c.len() && (c[j].is_ascii_alphanumeric() || c[j] == '.') {
                j += 1;
            }
            out.push(Tok::Num(c[i..j].iter().collect()));
            i = j;
        } else if ident(ch) {
            let mut j = i;
            while j < c.len() && ident(c[j]) {
                j += 1;
            }
            out.push(Tok::Ident(c[i..j].iter().collect()));
            i = j;
        } else {
            bail!("template: unexpected {ch:?} in command");
        }
    }
    Ok(out)
}

struct PParser {
    toks: Vec<Tok>,
    pos: usize,
}

impl PParser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn pipeline(&mut self, allow_decl: bool) -> Result<Pipeline> {
        let mut decl = Vec::new();
        let mut assign = false;
        if allow_decl {
            // $x := / $k, $v :=
            let save = self.pos;
            let mut vars = Vec::new();
            while let Some(Tok::Var(v)) = self.peek().cloned() {
                vars.push(v);
                self.pos += 1;
                if self.peek() == Some(&Tok::Comma) {
                    self.pos += 1;
                } else {
                    break;
                }
            }
            match self.peek() {
                Some(Tok::Declare) if !vars.is_empty() => {
                    self.pos += 1;
                    decl = vars;
                }
                Some(Tok::Assign) if !vars.is_empty() => {
                    self.pos += 1;
                    decl = vars;
                    assign = true;
                }
                _ => self.pos = save,
            }
        }
        let mut cmds = Vec::new();
        loop {
            let mut cmd = Vec::new();
            while let Some(t) = self.peek().cloned() {
                if t == Tok::Pipe || t == Tok::RParen {
                    break;
                }
                self.pos += 1;
                let mut arg = match t {
                    Tok::Dot => Arg::Dot,
                    Tok::Field(f) => Arg::Field(vec![f]),
                    Tok::Var(v) => Arg::Var(v, vec![]),
                    Tok::Str(s) => Arg::Str(s),
                    Tok::Num(n) => {
                        if let Ok(i) = n.parse::<i64>() {
                            Arg::Int(i)
                        } else if let Ok(f) = n.parse::<f64>() {
                            Arg::Float(f)
                        } else {
                            bail!("template: bad number syntax: {n:?}");
                        }
                    }
                    Tok::Ident(id) => match id.as_str() {
                        "true" => Arg::Bool(true),
                        "false" => Arg::Bool(false),
                        "nil" => Arg::Nil,
                        _ => Arg::Ident(id),
                    },
                    Tok::LParen => {
                        let p = self.pipeline(false)?;
                        if self.peek() != Some(&Tok::RParen) {
                            bail!("template: unclosed left paren");
                        }
                        self.pos += 1;
                        Arg::Pipe(Box::new(p), vec![])
                    }
                    other => bail!("template: unexpected {other:?}"),
                };
                // chained fields: .A.B, $x.A, (pipe).A
                while let Some(Tok::Chain(f)) = self.peek().cloned() {
                    self.pos += 1;
                    match &mut arg {
                        Arg::Field(p) | Arg::Var(_, p) | Arg::Pipe(_, p) => p.push(f),
                        Arg::Dot => arg = Arg::Field(vec![f]),
                        _ => bail!("template: unexpected field .{f}"),
                    }
                }
                cmd.push(arg);
            }
            if cmd.is_empty() {
                bail!("template: missing value for command");
            }
            cmds.push(cmd);
            if self.peek() == Some(&Tok::Pipe) {
                self.pos += 1;
            } else {
                break;
            }
        }
        Ok(Pipeline { decl, assign, cmds })
    }
}

fn parse_pipeline(src: &str, allow_decl: bool) -> Result<Pipeline> {
    let mut p = PParser {
        toks: lex(src)?,
        pos: 0,
    };
    let pl = p.pipeline(allow_decl)?;
    if p.pos != p.toks.len() {
        bail!("template: unexpected token in {src:?}");
    }
    Ok(pl)
}

impl Template {
    pub fn parse(src: &str) -> Result<Template> {
        let pieces = split_actions(src)?;
        let mut it = pieces.into_iter().peekable();
        let (nodes, end) = parse_list(&mut it)?;
        if let Some(e) = end {
            bail!("template: unexpected {{{{{e}}}}}");
        }
        Ok(Template { nodes })
    }

    pub fn render(&self, data: &TVal) -> Result<String> {
        let mut out = String::new();
        let mut vars = vec![("$".to_string(), data.clone())];
        exec_list(&self.nodes, data, &mut vars, &mut out)?;
        Ok(out)
    }
}

type Pieces = std::iter::Peekable<std::vec::IntoIter<Piece>>;

/// Parses nodes until `end` / `else`; returns the terminating keyword.
fn parse_list(it: &mut Pieces) -> Result<(Vec<Node>, Option<String>)> {
    let mut nodes = Vec::new();
    while let Some(p) = it.next() {
        match p {
            Piece::Text(t) => {
                if !t.is_empty() {
                    nodes.push(Node::Text(t))
                }
            }
            Piece::Action(a) => {
                if a.starts_with("/*") {
                    continue;
                }
                let (kw, rest) = match a.split_once(char::is_whitespace) {
                    Some((k, r)) => (k, r.trim()),
                    None => (a.as_str(), ""),
                };
                match kw {
                    "end" => return Ok((nodes, Some("end".into()))),
                    "else" => return Ok((nodes, Some(format!("else {rest}").trim().to_string()))),
                    "if" | "range" | "with" => {
                        let pl = parse_pipeline(rest, kw != "if")?;
                        let (body, end) = parse_list(it)?;
                        let mut els = Vec::new();
                        match end.as_deref() {
                            Some("end") => {}
                            Some("else") => {
                                let (e, end2) = parse_list(it)?;
                                if end2.as_deref() != Some("end") {
                                    bail!("template: expected end");
                                }
                                els = e;
                            }
                            Some(e) if e.starts_with("else if ") => {
                                // else if chain: nested if consuming the shared end
                                let cond = parse_pipeline(&e[8..], false)?;
                                let (b2, end2) = parse_list(it)?;
                                let inner = finish_else(it, cond, b2, end2)?;
                                els = vec![inner];
                            }
                            _ => bail!("template: unexpected EOF"),
                        }
                        nodes.push(match kw {
                            "if" => Node::If(pl, body, els),
                            "range" => Node::Range(pl, body, els),
                            _ => Node::With(pl, body, els),
                        });
                    }
                    _ => nodes.push(Node::Action(parse_pipeline(&a, true)?)),
                }
            }
        }
    }
    Ok((nodes, None))
}

fn finish_else(
    it: &mut Pieces,
    cond: Pipeline,
    body: Vec<Node>,
    end: Option<String>,
) -> Result<Node> {
    match end.as_deref() {
        Some("end") => Ok(Node::If(cond, body, vec![])),
        Some("else") => {
            let (e, end2) = parse_list(it)?;
            if end2.as_deref() != Some("end") {
                bail!("template: expected end");
            }
            Ok(Node::If(cond, body, e))
        }
        Some(e) if e.starts_with("else if ") => {
            let c2 = parse_pipeline(&e[8..], false)?;
            let (b2, end2) = parse_list(it)?;
            let inner = finish_else(it, c2, b2, end2)?;
            Ok(Node::If(cond, body, vec![inner]))
        }
        _ => bail!("template: unexpected EOF"),
    }
}

type Vars = Vec<(String, TVal)>;

/// The most a template may write: a `range` over a huge number (or list)
/// from untrusted JSON must not take the client's memory.
const OUTPUT_LIMIT: usize = 64 << 20;

fn emit(out: &mut String, s: &str) -> Result<()> {
    if out.len() + s.len() > OUTPUT_LIMIT {
        bail!("template: output exceeds {} MiB", OUTPUT_LIMIT >> 20);
    }
    out.push_str(s);
    Ok(())
}

fn exec_list(nodes: &[Node], dot: &TVal, vars: &mut Vars, out: &mut String) -> Result<()> {
    for n in nodes {
        match n {
            Node::Text(t) => emit(out, t)?,
            Node::Action(p) => {
                let v = eval_pipeline(p, dot, vars)?;
                if p.decl.is_empty() {
                    emit(out, &v.display())?;
                }
            }
            Node::If(p, body, els) => {
                let depth = vars.len();
                let v = eval_pipeline(p, dot, vars)?;
                if v.truthy() {
                    exec_list(body, dot, vars, out)?;
                } else {
                    exec_list(els, dot, vars, out)?;
                }
                vars.truncate(depth);
            }
            Node::With(p, body, els) => {
                let depth = vars.len();
                let v = eval_pipeline(p, dot, vars)?;
                if v.truthy() {
                    exec_list(body, &v, vars, out)?;
                } else {
                    exec_list(els, dot, vars, out)?;
                }
                vars.truncate(depth);
            }
            Node::Range(p, body, els) => {
                let depth = vars.len();
                let mut p2 = p.clone();
                let decl = std::mem::take(&mut p2.decl);
                let v = eval_pipeline(&p2, dot, vars)?;
                // Lazily: `range 100000000` makes no list of its numbers.
                let mut items: std::iter::Peekable<Box<dyn Iterator<Item = (TVal, TVal)>>> = match v
                {
                    TVal::Arr(a) => (Box::new(
                        a.into_iter()
                            .enumerate()
                            .map(|(i, x)| (TVal::Int(i as i64), x)),
                    ) as Box<dyn Iterator<Item = _>>)
                        .peekable(),
                    TVal::Obj(mut o) => {
                        o.retain(|(k, _)| !is_marker(k));
                        o.sort_by(|a, b| a.0.cmp(&b.0));
                        (Box::new(o.into_iter().map(|(k, x)| (TVal::Str(k), x)))
                            as Box<dyn Iterator<Item = _>>)
                            .peekable()
                    }
                    TVal::Int(n) => (Box::new((0..n).map(|i| (TVal::Int(i), TVal::Int(i))))
                        as Box<dyn Iterator<Item = _>>)
                        .peekable(),
                    TVal::Null | TVal::Missing | TVal::NilSlice => {
                        (Box::new(std::iter::empty()) as Box<dyn Iterator<Item = _>>).peekable()
                    }
                    other => bail!("template: range can't iterate over {}", other.display()),
                };
                if items.peek().is_none() {
                    exec_list(els, dot, vars, out)?;
                }
                for (k, x) in items {
                    let d2 = vars.len();
                    match decl.len() {
                        1 => vars.push((decl[0].clone(), x.clone())),
                        2 => {
                            vars.push((decl[0].clone(), k));
                            vars.push((decl[1].clone(), x.clone()));
                        }
                        _ => {}
                    }
                    exec_list(body, &x, vars, out)?;
                    vars.truncate(d2);
                }
                vars.truncate(depth);
            }
        }
    }
    Ok(())
}

fn eval_pipeline(p: &Pipeline, dot: &TVal, vars: &mut Vars) -> Result<TVal> {
    let mut val: Option<TVal> = None;
    for cmd in &p.cmds {
        val = Some(eval_cmd(cmd, dot, vars, val)?);
    }
    let v = val.unwrap_or(TVal::Missing);
    if !p.decl.is_empty() {
        if p.assign {
            if let Some(slot) = vars.iter_mut().rev().find(|(n, _)| *n == p.decl[0]) {
                slot.1 = v.clone();
            }
        } else {
            vars.push((p.decl[0].clone(), v.clone()));
        }
    }
    Ok(v)
}

fn walk(mut v: TVal, path: &[String]) -> Result<TVal> {
    for f in path {
        v = match &v {
            TVal::Obj(_) => match v.get(f) {
                TVal::Missing if v.get(GO_MAP) != TVal::Missing => TVal::Missing,
                TVal::Missing => match v.get(GO_TYPE) {
                    TVal::Str(t) => bail!("can't evaluate field {f} in type {t}"),
                    _ => bail!("map has no entry for key \"{f}\""),
                },
                // a typed struct holds its nil maps as such: a null is a pointer
                TVal::Null
                    if v.get(GO_TYPE) == TVal::Missing
                        && !GO_POINTER_FIELDS.contains(&f.as_str()) =>
                {
                    TVal::NilSlice
                }
                x => x,
            },
            TVal::Null | TVal::Missing | TVal::NilSlice => {
                bail!("template: nil pointer evaluating interface {{}}.{f}")
            }
            other => bail!(
                "template: can't evaluate field {f} in type {}",
                type_name(other)
            ),
        };
    }
    Ok(v)
}

fn type_name(v: &TVal) -> &'static str {
    match v {
        TVal::Str(_) => "string",
        TVal::Int(_) => "int",
        TVal::Float(_) => "float64",
        TVal::Bool(_) => "bool",
        TVal::Arr(_) => "[]interface {}",
        _ => "interface {}",
    }
}

fn eval_arg(a: &Arg, dot: &TVal, vars: &mut Vars) -> Result<TVal> {
    Ok(match a {
        Arg::Dot => dot.clone(),
        Arg::Field(p) => walk(dot.clone(), p)
            .map_err(|e| anyhow!("executing \"\" at <.{}>: {e}", p.join(".")))?,
        Arg::Var(n, p) => {
            let v = vars
                .iter()
                .rev()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| anyhow!("template: undefined variable: {n}"))?;
            walk(v, p)?
        }
        Arg::Str(s) => TVal::Str(s.clone()),
        Arg::Int(i) => TVal::Int(*i),
        Arg::Float(f) => TVal::Float(*f),
        Arg::Bool(b) => TVal::Bool(*b),
        Arg::Nil => TVal::Null,
        Arg::Ident(f) => call(f, vec![])?,
        Arg::Pipe(p, path) => {
            let v = eval_pipeline(p, dot, vars)?;
            walk(v, path)?
        }
    })
}

fn eval_cmd(cmd: &[Arg], dot: &TVal, vars: &mut Vars, piped: Option<TVal>) -> Result<TVal> {
    let mut args = Vec::new();
    for a in &cmd[1..] {
        args.push(eval_arg(a, dot, vars)?);
    }
    if let Some(p) = piped {
        args.push(p);
    }
    match &cmd[0] {
        Arg::Ident(f) => call(f, args),
        // docker context methods taking arguments, e.g. {{.Label "x"}}
        Arg::Field(p) if !args.is_empty() => {
            let last = p.last().cloned().unwrap_or_default();
            let base = walk(dot.clone(), &p[..p.len() - 1])?;
            let method = base.get(&format!("__{last}"));
            match (method, args.first()) {
                (TVal::Obj(_), Some(TVal::Str(k))) => {
                    let m = base.get(&format!("__{last}"));
                    let v = m.get(k);
                    Ok(if v == TVal::Missing { TVal::s("") } else { v })
                }
                _ => match base.get(&last) {
                    // header rows: {{.Label "x"}} prints the column title,
                    // docker's SubHeaderContext.Label: the last dotted part,
                    // `-` and `_` as spaces
                    TVal::Str(_) if base.get(&format!("__{last}")) == TVal::Missing => {
                        Ok(match &args[0] {
                            TVal::Str(s) => {
                                TVal::s(s.rsplit('.').next().unwrap_or("").replace(['-', '_'], " "))
                            }
                            other => other.clone(),
                        })
                    }
                    _ => bail!("template: can't give argument to non-function .{last}"),
                },
            }
        }
        first => {
            if !args.is_empty() {
                bail!("template: can't give argument to non-function");
            }
            eval_arg(first, dot, vars)
        }
    }
}

fn as_str(v: &TVal) -> String {
    v.display()
}

fn as_int(v: &TVal) -> Result<i64> {
    match v {
        TVal::Int(i) => Ok(*i),
        TVal::Float(f) => Ok(*f as i64),
        TVal::Str(s) => s.parse().map_err(|_| anyhow!("template: expected integer")),
        _ => bail!("template: expected integer; found {}", v.display()),
    }
}

fn compare(a: &TVal, b: &TVal) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (TVal::Int(x), TVal::Int(y)) => x.partial_cmp(y),
        (TVal::Int(x), TVal::Float(y)) => (*x as f64).partial_cmp(y),
        (TVal::Float(x), TVal::Int(y)) => x.partial_cmp(&(*y as f64)),
        (TVal::Float(x), TVal::Float(y)) => x.partial_cmp(y),
        (TVal::Str(x), TVal::Str(y)) => x.partial_cmp(y),
        (TVal::Bool(x), TVal::Bool(y)) => x.partial_cmp(y),
        _ => None,
    }
}

fn call(name: &str, args: Vec<TVal>) -> Result<TVal> {
    let need = |n: usize| -> Result<()> {
        if args.len() != n {
            bail!(
                "template: wrong number of args for {name}: want {n} got {}",
                args.len()
            );
        }
        Ok(())
    };
    Ok(match name {
        "json" => {
            need(1)?;
            TVal::Str(args[0].to_json())
        }
        "upper" => {
            need(1)?;
            TVal::Str(as_str(&args[0]).to_uppercase())
        }
        "lower" => {
            need(1)?;
            TVal::Str(as_str(&args[0]).to_lowercase())
        }
        "title" => {
            need(1)?;
            let s = as_str(&args[0]);
            let mut out = String::new();
            let mut prev_letter = false;
            for c in s.chars() {
                if !prev_letter {
                    out.extend(c.to_uppercase())
                } else {
                    out.push(c)
                }
                prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
            }
            TVal::Str(out)
        }
        "split" => {
            need(2)?;
            let s = as_str(&args[0]);
            let sep = as_str(&args[1]);
            TVal::Arr(s.split(sep.as_str()).map(TVal::s).collect())
        }
        "join" => {
            need(2)?;
            let sep = as_str(&args[1]);
            match &args[0] {
                TVal::Arr(a) => TVal::Str(a.iter().map(as_str).collect::<Vec<_>>().join(&sep)),
                TVal::Null | TVal::Missing | TVal::NilSlice => TVal::s(""),
                other => bail!("template: join: expected []string, got {}", other.display()),
            }
        }
        "truncate" => {
            need(2)?;
            let s = as_str(&args[0]);
            let n = as_int(&args[1])? as usize;
            TVal::Str(s.chars().take(n).collect())
        }
        "pad" => {
            need(3)?;
            let s = as_str(&args[0]);
            let l = as_int(&args[1])? as usize;
            let r = as_int(&args[2])? as usize;
            TVal::Str(format!("{}{s}{}", " ".repeat(l), " ".repeat(r)))
        }
        "len" => {
            need(1)?;
            TVal::Int(match &args[0] {
                TVal::Str(s) => s.len(),
                TVal::Arr(a) => a.len(),
                TVal::Obj(o) => o.iter().filter(|(k, _)| !is_marker(k)).count(),
                TVal::Null | TVal::Missing | TVal::NilSlice => 0,
                v => bail!("template: len of type {}", type_name(v)),
            } as i64)
        }
        "index" => {
            if args.is_empty() {
                bail!("template: index of untyped nil");
            }
            let mut v = args[0].clone();
            for k in &args[1..] {
                v = match (&v, k) {
                    (TVal::Arr(a), _) => {
                        let i = as_int(k)?;
                        a.get(i as usize)
                            .cloned()
                            .ok_or_else(|| anyhow!("template: index out of range: {i}"))?
                    }
                    (TVal::Obj(_), _) => match v.get(&as_str(k)) {
                        TVal::Missing => TVal::s(""),
                        x => x,
                    },
                    (TVal::Null | TVal::Missing | TVal::NilSlice, _) => TVal::s(""),
                    _ => bail!("template: can't index item of type {}", type_name(&v)),
                };
            }
            v
        }
        "slice" => {
            let s = args.first().cloned().unwrap_or(TVal::Null);
            let from = args.get(1).map(as_int).transpose()?.unwrap_or(0) as usize;
            match s {
                TVal::Str(st) => {
                    let to = args.get(2).map(as_int).transpose()?.map(|x| x as usize);
                    let to = to.unwrap_or(st.len()).min(st.len());
                    TVal::Str(st.get(from..to).unwrap_or("").to_string())
                }
                TVal::Arr(a) => {
                    let to = args.get(2).map(as_int).transpose()?.map(|x| x as usize);
                    let to = to.unwrap_or(a.len()).min(a.len());
                    TVal::Arr(a.get(from..to).unwrap_or(&[]).to_vec())
                }
                _ => bail!("template: can't slice"),
            }
        }
        "print" => TVal::Str(go_sprint(&args)),
        "println" => {
            let parts: Vec<String> = args.iter().map(as_str).collect();
            TVal::Str(format!("{}\n", parts.join(" ")))
        }
        "printf" => {
            if args.is_empty() {
                bail!("template: wrong number of args for printf");
            }
            TVal::Str(sprintf(&as_str(&args[0]), &args[1..]))
        }
        "eq" => {
            if args.len() < 2 {
                bail!("template: missing argument for comparison");
            }
            TVal::Bool(
                args[1..].iter().any(|b| {
                    compare(&args[0], b) == Some(std::cmp::Ordering::Equal) || *b == args[0]
                }),
            )
        }
        "ne" => {
            need(2)?;
            TVal::Bool(
                compare(&args[0], &args[1]) != Some(std::cmp::Ordering::Equal)
                    && args[0] != args[1],
            )
        }
        "lt" | "le" | "gt" | "ge" => {
            need(2)?;
            let o = compare(&args[0], &args[1])
                .ok_or_else(|| anyhow!("template: incompatible types for comparison"))?;
            use std::cmp::Ordering::*;
            TVal::Bool(match name {
                "lt" => o == Less,
                "le" => o != Greater,
                "gt" => o == Greater,
                _ => o != Less,
            })
        }
        "not" => {
            need(1)?;
            TVal::Bool(!args[0].truthy())
        }
        "and" => {
            let mut last = TVal::Bool(true);
            for a in args {
                if !a.truthy() {
                    return Ok(a);
                }
                last = a;
            }
            last
        }
        "or" => {
            let mut last = TVal::Bool(false);
            for a in args {
                if a.truthy() {
                    return Ok(a);
                }
                last = a;
            }
            last
        }
        "urlquery" => TVal::Str(berth_api::query::escape(&go_sprint(&args))),
        _ => bail!("template: function {name:?} not defined"),
    })
}

fn go_sprint(args: &[TVal]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = matches!(a, TVal::Str(_));
        let prev_str = i > 0 && matches!(args[i - 1], TVal::Str(_));
        if i > 0 && !is_str && !prev_str {
            out.push(' ');
        }
        out.push_str(&a.display());
    }
    out
}

/// Go's fmt.Sprintf for the common verbs (%s %d %v %q %f %x %%, width/flags).
pub fn sprintf(fmtstr: &str, args: &[TVal]) -> String {
    let mut out = String::new();
    let chars: Vec<char> = fmtstr.chars().collect();
    let mut i = 0;
    let mut ai = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let mut flags = String::new();
        while i < chars.len() && "-+# 0".contains(chars[i]) {
            flags.push(chars[i]);
            i += 1;
        }
        let mut width = String::new();
        while i < chars.len() && chars[i].is_ascii_digit() {
            width.push(chars[i]);
            i += 1;
        }
        let mut prec: Option<usize> = None;
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            let mut p = String::new();
            while i < chars.len() && chars[i].is_ascii_digit() {
                p.push(chars[i]);
                i += 1;
            }
            prec = Some(p.parse().unwrap_or(usize::MAX));
        }
        // Go's fmt: a width or precision past 1e6 is refused, not padded to.
        let mut w: usize = if width.is_empty() {
            0
        } else {
            width.parse().unwrap_or(usize::MAX)
        };
        if w > 1_000_000 {
            out.push_str("%!(BADWIDTH)");
            w = 0;
        }
        if prec.is_some_and(|p| p > 1_000_000) {
            out.push_str("%!(BADPREC)");
            prec = None;
        }
        let Some(&verb) = chars.get(i) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(ai) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        ai += 1;
        let s = match verb {
            'd' => as_int(arg)
                .map(|n| n.to_string())
                .unwrap_or_else(|_| arg.display()),
            'f' | 'F' => {
                let f = match arg {
                    TVal::Int(n) => *n as f64,
                    TVal::Float(f) => *f,
                    _ => 0.0,
                };
                format!("{:.*}", prec.unwrap_or(6), f)
            }
            'q' => serde_json::to_string(&arg.display()).unwrap_or_default(),
            'x' => match arg {
                TVal::Int(n) => format!("{n:x}"),
                _ => arg.display().bytes().map(|b| format!("{b:02x}")).collect(),
            },
            't' | 'v' | 's' => {
                let s = arg.display();
                match prec {
                    Some(p) if verb == 's' => s.chars().take(p).collect(),
                    _ => s,
                }
            }
            _ => format!("%!{verb}({})", arg.display()),
        };
        let len = s.chars().count();
        if len < w {
            let pad = w - len;
            if flags.contains('-') {
                out.push_str(&s);
                out.push_str(&" ".repeat(pad));
            } else if flags.contains('0') && verb != 's' {
                out.push_str(&"0".repeat(pad));
                out.push_str(&s);
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(&s);
            }
        } else {
            out.push_str(&s);
        }
    }
    if ai < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[ai..]
            .iter()
            .map(|a| format!("{}={}", type_name(a), a.display()))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(t: &str, data: &str) -> String {
        let d: TVal = serde_json::from_str(data).unwrap();
        Template::parse(t).unwrap().render(&d).unwrap()
    }

    #[test]
    fn huge_outputs_are_refused_not_built() {
        // Found by the go_template fuzz target: a range over a number from
        // untrusted JSON took gigabytes.
        let d: TVal = serde_json::from_str(r#"{"List":88888888}"#).unwrap();
        let e = Template::parse("{{range .List}}{{.}} {{end}}")
            .unwrap()
            .render(&d)
            .unwrap_err();
        assert_eq!(e.to_string(), "template: output exceeds 64 MiB");
        assert_eq!(r("{{range 3}}{{.}}{{end}}", "{}"), "012");
        assert_eq!(r("{{range 0}}x{{else}}none{{end}}", "{}"), "none");
        assert_eq!(r(r#"{{printf "%5d|" 7}}"#, "{}"), "    7|");
        assert_eq!(r(r#"{{printf "%99999999d|" 7}}"#, "{}"), "%!(BADWIDTH)7|");
        assert_eq!(
            r(r#"{{printf "%.99999999f|" 1.5}}"#, "{}"),
            "%!(BADPREC)1.500000|"
        );
    }

    #[test]
    fn basics() {
        let d = r#"{"State":{"Status":"running","Pid":42},"Names":["a","b"],"L":{"z":"1","a":"2"},"N":null}"#;
        assert_eq!(r("{{.State.Status}}", d), "running");
        assert_eq!(r("{{.State.Pid}}", d), "42");
        assert_eq!(r("{{.State.Status}} {{json .State.Pid}}", d), "running 42");
        assert_eq!(r("{{json .State}}", d), r#"{"Status":"running","Pid":42}"#);
        assert_eq!(r("{{join .Names \",\"}}", d), "a,b");
        assert_eq!(r("{{.Names}}", d), "[a b]");
        assert_eq!(r("{{.L}}", d), "map[a:2 z:1]");
        assert_eq!(r("{{.State}}", d), "{running 42}");
        assert_eq!(r("{{.N}}", d), "[]");
        assert_eq!(r("{{json .N}}", d), "null");
        assert!(
            Template::parse("{{.Nope}}")
                .unwrap()
                .render(&serde_json::from_str(d).unwrap())
                .is_err()
        );
        assert_eq!(r("{{range .Names}}<{{.}}>{{end}}", d), "<a><b>");
        assert_eq!(
            r("{{range $k, $v := .L}}{{$k}}={{$v}};{{end}}", d),
            "a=2;z=1;"
        );
        assert_eq!(
            r("{{if eq .State.Status \"running\"}}y{{else}}n{{end}}", d),
            "y"
        );
        assert_eq!(r("{{index .L \"z\"}}", d), "1");
        assert_eq!(r("{{.State.Status | upper}}", d), "RUNNING");
        assert_eq!(
            r("{{printf \"%-5s|%d\" .State.Status .State.Pid}}", d),
            "running|42"
        );
        assert_eq!(r("{{- \" x \" -}}  {{.State.Pid}}", d), " x 42");
        assert_eq!(r("{{with .State}}{{.Pid}}{{end}}", d), "42");
        assert_eq!(r("{{if .N}}a{{else if .State}}b{{else}}c{{end}}", d), "b");
        let ctx: TVal = serde_json::from_str(r#"{"Digest":"<none>","A":"x&y"}"#).unwrap();
        let t = Template::parse("{{json .}}").unwrap();
        assert_eq!(t.render(&ctx).unwrap(), r#"{"Digest":"<none>","A":"x&y"}"#);
        assert_eq!(
            t.render(&ctx.marshals_json()).unwrap(),
            r#"{"Digest":"\u003cnone\u003e","A":"x\u0026y"}"#
        );
    }
}
