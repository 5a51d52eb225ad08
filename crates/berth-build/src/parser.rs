//! The Dockerfile parser: text → [`Dockerfile`] (directives, raw
//! instructions, here-documents, warnings).
//!
//! It follows BuildKit's `frontend/dockerfile/parser` (which dockerd's
//! legacy builder shares), quirks included:
//!
//! * parser directives (`# syntax=`, `# escape=`, `# check=`) are only read
//!   from the file's first lines, and stop at the first line that is not one;
//! * comment lines (first non-blank character `#`) are dropped, also in the
//!   middle of a continued instruction;
//! * a line whose last non-blank character is the escape character (not
//!   itself escaped) continues on the next line; blank lines inside a
//!   continuation are dropped with a warning;
//! * `--flag` words right after the keyword are split off;
//! * the per-instruction checks of BuildKit's parser are made (`ENV`/`LABEL`
//!   need `name=value` pairs or a name and a value, a JSON array must hold
//!   strings only), and `rest` is parsed as JSON for the instructions that
//!   take an exec form;
//! * here-documents (`<<EOF`) are read for `RUN`, `COPY`, `ADD` (and those
//!   behind `ONBUILD`) in shell form.
//!
//! Unlike BuildKit's parser, an unknown instruction is an error here
//! (BuildKit reports it one layer up, with the same text); it is reported
//! only when the rest of the file parses, as BuildKit would.

use std::sync::OnceLock;

use regex::Regex;

use crate::ast::{Directives, Dockerfile, Heredoc, KEYWORDS, Node};

/// A Dockerfile that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error on line {line}: {message}")]
pub struct ParseError {
    /// 1-based line the error is about (an instruction's first line).
    pub line: usize,
    /// What is wrong, in BuildKit's words.
    pub message: String,
}

impl ParseError {
    fn new(line: usize, message: impl Into<String>) -> Self {
        ParseError {
            line,
            message: message.into(),
        }
    }
}

/// BuildKit's message for a JSON array holding something else than strings.
const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// Instructions whose shell form may carry here-documents.
const HEREDOC_KEYWORDS: &[&str] = &["add", "copy", "run"];

/// Parses a Dockerfile's text.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();

    let mut directives = Directives::default();
    let mut directive_parser = DirectiveParser::default();
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut unknown: Option<ParseError> = None;
    let mut instructions = 0usize;
    // Index of the next line to read; also the number of lines read so far,
    // i.e. the 1-based number of the last line read.
    let mut next = 0usize;

    while next < lines.len() {
        let line_no = next + 1;
        let first = trim_newline(lines[next]).trim_start();
        next += 1;

        directive_parser
            .line(first, &mut directives)
            .map_err(|message| ParseError::new(line_no, message))?;
        if is_comment(first) {
            continue;
        }
        let escape = directives.escape;
        let (head, mut ended) = trim_continuation(first, escape);
        if ended && head.is_empty() {
            continue;
        }

        let start_line = line_no;
        let mut logical = head.to_string();
        let mut empty_continuation = false;
        while !ended && next < lines.len() {
            let line = trim_newline(lines[next]);
            next += 1;
            if is_comment(line) {
                continue;
            }
            if line.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (part, line_ended) = trim_continuation(line, escape);
            logical.push_str(part);
            ended = line_ended;
        }
        if empty_continuation {
            warnings.push(format!(
                "[WARNING]: Empty continuation line found in: {logical}"
            ));
        }

        let parts =
            parse_line(&logical, escape).map_err(|message| ParseError::new(start_line, message))?;
        instructions += 1;

        let mut heredocs = Vec::new();
        if parts.can_contain_heredoc() && logical.contains("<<") {
            let markers = heredocs_from_line(&logical)
                .map_err(|message| ParseError::new(start_line, message))?;
            for marker in markers {
                let mut content = String::new();
                let mut terminated = false;
                while next < lines.len() {
                    let raw = lines[next];
                    next += 1;
                    let mut candidate = trim_newline(raw);
                    if marker.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == marker.name {
                        terminated = true;
                        break;
                    }
                    let mut body = raw.strip_suffix('\n').unwrap_or(raw);
                    body = body.strip_suffix('\r').unwrap_or(body);
                    if marker.chomp {
                        body = body.trim_start_matches('\t');
                    }
                    content.push_str(body);
                    content.push('\n');
                }
                if !terminated {
                    return Err(ParseError::new(start_line, "unterminated heredoc"));
                }
                heredocs.push(Heredoc {
                    name: marker.name,
                    content,
                    expand: marker.expand,
                    chomp: marker.chomp,
                });
            }
        }

        let keyword = parts.keyword.to_lowercase();
        if !KEYWORDS.contains(&keyword.as_str()) {
            if unknown.is_none() {
                unknown = Some(unknown_instruction(&parts.keyword, start_line));
            }
            continue;
        }
        nodes.push(Node {
            start_line,
            end_line: next,
            keyword,
            flags: parts.flags,
            rest: parts.rest,
            json: parts.json,
            heredocs,
            original: logical,
        });
    }

    if instructions == 0 {
        return Err(ParseError::new(lines.len(), "file with no instructions"));
    }
    if let Some(error) = unknown {
        return Err(error);
    }
    Ok(Dockerfile {
        directives,
        nodes,
        warnings,
    })
}

/// Parses an `ONBUILD` node's trigger (its `rest`) as an instruction of its
/// own: keyword (lower case), flags, rest and JSON form as for a top-level
/// instruction; the here-documents (read with the `ONBUILD` line), lines and
/// `original` (the trigger's text) come from `onbuild`. `escape` is the
/// file's escape character. The keyword is not checked against
/// [`KEYWORDS`]: BuildKit only does that when the trigger runs.
pub fn parse_onbuild_trigger(onbuild: &Node, escape: char) -> Result<Node, ParseError> {
    let parts = parse_line(&onbuild.rest, escape)
        .map_err(|message| ParseError::new(onbuild.start_line, message))?;
    Ok(Node {
        start_line: onbuild.start_line,
        end_line: onbuild.end_line,
        keyword: parts.keyword.to_lowercase(),
        flags: parts.flags,
        rest: parts.rest,
        json: parts.json,
        heredocs: onbuild.heredocs.clone(),
        original: onbuild.rest.clone(),
    })
}

/// BuildKit's `parseJSON`: `Ok(Some(..))` when `text` (leading blanks
/// ignored) is a JSON array of strings, `Ok(None)` when it does not start
/// with `[` or is not valid JSON (shell form), and an error when it is a
/// JSON array holding something else than strings.
pub fn parse_json_array(text: &str) -> Result<Option<Vec<String>>, String> {
    let text = text.trim_start();
    if !text.starts_with('[') {
        return Ok(None);
    }
    let Ok(values) = serde_json::from_str::<Vec<serde_json::Value>>(text) else {
        return Ok(None);
    };
    values
        .into_iter()
        .map(|value| match value {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(NOT_STRING_ARRAY.to_string()),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// BuildKit's `parseWords`: splits `rest` on blanks outside quotes, keeping
/// quotes and escape characters in the words (`a 'b c'` → `a`, `'b c'`).
/// This is how `ENV`, `LABEL` and `ARG` arguments are cut into words before
/// expansion.
pub fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let n = chars.len();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut i = 0;
    loop {
        let at_end = i >= n;
        let mut ch = if at_end { '\0' } else { chars[i] };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                i += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if i + 1 == n {
                    // An escape character at the very end is dropped.
                    i += 1;
                    continue;
                }
                // Outside quotes the escape stays, with the character it
                // escapes (even a quote).
                word.push(ch);
                i += 1;
                ch = chars[i];
            }
            word.push(ch);
            i += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
        }
        if ch == escape && quote != '\'' {
            if i + 1 == n {
                phase = Phase::Word;
                i += 1;
                continue;
            }
            word.push(ch);
            i += 1;
            ch = chars[i];
        }
        word.push(ch);
        i += 1;
    }
    words
}

// ---------------------------------------------------------------------------
// Lines

/// Removes every trailing `\r` and `\n` (BuildKit's `trimNewline`).
fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// BuildKit's line-continuation rule: the line's last character, blanks
/// (spaces and tabs) aside, is the escape character, and the one before it
/// (if any) is not. Returns the line without the escape character and the
/// blanks after it, and whether the instruction ends on this line.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    if let Some(before) = trimmed.strip_suffix(escape)
        && !before.ends_with(escape)
    {
        return (before, false);
    }
    (line, true)
}

// ---------------------------------------------------------------------------
// Directives

#[derive(Default)]
struct DirectiveParser {
    done: bool,
    seen: Vec<String>,
}

fn directive_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // Go's `\s` is ASCII `[\t\n\f\r ]`.
    RE.get_or_init(|| {
        Regex::new(r"^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$")
            .expect("directive regex")
    })
}

impl DirectiveParser {
    /// Looks at one leading line (already left-trimmed); the first line that
    /// is not a known directive ends the directives for good.
    fn line(&mut self, line: &str, directives: &mut Directives) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some(body) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(());
        };
        let Some(captures) = directive_regex().captures(body.trim_start()) else {
            self.done = true;
            return Ok(());
        };
        let key = captures[1].to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        let value = captures[2].to_string();
        match key.as_str() {
            "escape" => {
                directives.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(format!(
                            "invalid escape token '{value}' does not match ` or \\"
                        ));
                    }
                }
            }
            "syntax" => directives.syntax = Some(value),
            _ => directives.check = Some(value),
        }
        self.seen.push(key);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Instructions

/// One logical line cut into its pieces.
struct LineParts {
    /// As written.
    keyword: String,
    flags: Vec<String>,
    rest: String,
    json: Option<Vec<String>>,
    /// `ONBUILD`'s trigger instruction.
    trigger: Option<Box<LineParts>>,
}

impl LineParts {
    /// BuildKit's `canContainHeredoc`: `RUN`/`COPY`/`ADD` in shell form,
    /// directly or as an `ONBUILD` trigger.
    fn can_contain_heredoc(&self) -> bool {
        let mut node = self;
        if self.keyword.eq_ignore_ascii_case("onbuild")
            && let Some(trigger) = &self.trigger
        {
            node = trigger;
        }
        let keyword = node.keyword.to_lowercase();
        HEREDOC_KEYWORDS.contains(&keyword.as_str()) && node.json.is_none()
    }
}

/// The separator between the keyword and its arguments (Go's
/// `[\t\v\f\r ]+`).
fn is_separator(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// BuildKit's `splitCommand` + the dispatch table's checks.
fn parse_line(line: &str, escape: char) -> Result<LineParts, String> {
    let trimmed = line.trim();
    let (keyword, after) = match trimmed.find(is_separator) {
        Some(at) => (
            &trimmed[..at],
            Some(trimmed[at..].trim_start_matches(is_separator)),
        ),
        None => (trimmed, None),
    };
    let (rest, flags) = match after {
        Some(after) => extract_flags(after, escape),
        None => ("", Vec::new()),
    };
    let rest = rest.trim().to_string();

    let mut json = None;
    let mut trigger = None;
    match keyword.to_lowercase().as_str() {
        "add" | "copy" | "volume" | "cmd" | "entrypoint" | "run" | "shell" => {
            json = parse_json_array(&rest)?;
        }
        "healthcheck" => {
            parse_json_array(healthcheck_command(&rest))?;
        }
        "env" => check_name_value(&rest, "ENV", escape)?,
        "label" => check_name_value(&rest, "LABEL", escape)?,
        "onbuild" if !rest.is_empty() => {
            trigger = Some(Box::new(parse_line(&rest, escape)?));
        }
        _ => {}
    }
    Ok(LineParts {
        keyword: keyword.to_string(),
        flags,
        rest,
        json,
        trigger,
    })
}

/// `HEALTHCHECK CMD ["a"]` → `["a"]`: what follows the first word.
fn healthcheck_command(rest: &str) -> &str {
    match rest.find(char::is_whitespace) {
        Some(at) => rest[at..].trim_start(),
        None => "",
    }
}

/// BuildKit's `parseNameVal` checks: `KEY name value` (old form) needs a
/// value; in the `name=value …` form every word needs a `=`.
fn check_name_value(rest: &str, key: &str, escape: char) -> Result<(), String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(());
    };
    if !first.contains('=') {
        if !rest.contains(is_separator) {
            return Err(format!("{key} must have two arguments"));
        }
        return Ok(());
    }
    match words.iter().find(|word| !word.contains('=')) {
        Some(word) => Err(format!(
            "Syntax error - can't find = in {}. Must be of the form: name=value",
            go_quote(word)
        )),
        None => Ok(()),
    }
}

/// Go's `%q` for the strings that show up in messages.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// BuildKit's `extractBuilderFlags`: the leading `--…` words of `line`
/// (quotes removed, the escape character escaping the next character), and
/// what follows them. A lone `--` ends the flags and is dropped.
fn extract_flags(line: &str, escape: char) -> (&str, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let n = chars.len();
    let mut flags = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut i = 0;
    loop {
        let at_end = i >= n;
        let ch = if at_end { '\0' } else { chars[i].1 };
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            if ch != '-' || i + 1 == n || chars[i + 1].1 != '-' {
                return (&line[chars[i].0..], flags);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                flags.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (&line[chars[i].0..], flags);
                }
                if blank_ok || !word.is_empty() {
                    flags.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                i += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                i += 1;
                continue;
            }
            let mut c = ch;
            if ch == escape {
                if i + 1 == n {
                    i += 1;
                    continue;
                }
                i += 1;
                c = chars[i].1;
            }
            word.push(c);
            i += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
            i += 1;
            continue;
        }
        let mut c = ch;
        if ch == escape {
            if i + 1 == n {
                phase = Phase::Word;
                i += 1;
                continue;
            }
            i += 1;
            c = chars[i].1;
        }
        word.push(c);
        i += 1;
    }
    ("", flags)
}

/// `unknown instruction: FOO`, the keyword upper-cased, as dockerd
/// 20.10's builder words it (no suggestion).
fn unknown_instruction(keyword: &str, line: usize) -> ParseError {
    ParseError::new(
        line,
        format!("unknown instruction: {}", keyword.to_uppercase()),
    )
}

// ---------------------------------------------------------------------------
// Here-documents

/// A `<<` marker found on an instruction's line.
struct Marker {
    name: String,
    expand: bool,
    chomp: bool,
}

fn heredoc_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)$").expect("heredoc regex"))
}

/// BuildKit's `heredocsFromLine`: the line is cut into shell words (quotes
/// and escapes kept, so a quoted `"<<EOF"` is one word that is no marker);
/// every word of the form `[n]<<[-]WORD` is a marker. A line the shell
/// lexer rejects (an unclosed quote) has no markers.
fn heredocs_from_line(line: &str) -> Result<Vec<Marker>, String> {
    let words = ShellLexer::words(line, true, true).unwrap_or_default();
    let mut markers = Vec::new();
    for word in words {
        if let Some(marker) = heredoc_from_word(&word)? {
            markers.push(marker);
        }
    }
    Ok(markers)
}

/// BuildKit's `ParseHeredoc`: the delimiter is the marker word with shell
/// quoting removed; when removing it took quotes away the body is not
/// expanded.
fn heredoc_from_word(word: &str) -> Result<Option<Marker>, String> {
    let Some(captures) = heredoc_regex().captures(word) else {
        return Ok(None);
    };
    let chomp = &captures[2] == "-";
    let rest = &captures[3];
    if rest.is_empty() {
        return Ok(None);
    }
    let failed = |e: String| format!("failed to process {}: {e}", go_quote(rest));
    let words = ShellLexer::words(rest, false, false).map_err(failed)?;
    if words.len() != 1 {
        return Ok(None);
    }
    let raw = ShellLexer::words(rest, true, false).map_err(failed)?;
    if raw.len() != words.len() {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    let expand = quotes(&words[0]) == quotes(&raw[0]);
    Ok(Some(Marker {
        name: words.into_iter().next().unwrap_or_default(),
        expand,
        chomp,
    }))
}

/// The word-splitting part of BuildKit's shell lexer, as the heredoc code
/// uses it: no variables are set and unset ones are left as written, the
/// escape character is always `\`.
struct ShellLexer {
    chars: Vec<char>,
    pos: usize,
    raw_quotes: bool,
    raw_escapes: bool,
}

/// Words being accumulated (BuildKit's `wordsStruct`).
#[derive(Default)]
struct Words {
    buf: String,
    in_word: bool,
    words: Vec<String>,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.buf.push(c);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        for c in s.chars() {
            self.add_char(c);
        }
    }

    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

impl ShellLexer {
    fn words(source: &str, raw_quotes: bool, raw_escapes: bool) -> Result<Vec<String>, String> {
        let mut lexer = ShellLexer {
            chars: source.chars().collect(),
            pos: 0,
            raw_quotes,
            raw_escapes,
        };
        lexer.process()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process(&mut self) -> Result<Vec<String>, String> {
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            match c {
                '$' => {
                    let s = self.dollar()?;
                    words.add_string(&s);
                }
                '<' => {
                    let s = self.possible_heredoc();
                    words.add_raw_string(&s);
                }
                '\'' => {
                    let s = self.single_quote()?;
                    words.add_raw_string(&s);
                }
                '"' => {
                    let s = self.double_quote()?;
                    words.add_raw_string(&s);
                }
                _ => {
                    self.pos += 1;
                    if c == '\\' {
                        if self.raw_escapes {
                            words.add_raw_char(c);
                        }
                        match self.next() {
                            Some(escaped) => words.add_raw_char(escaped),
                            None => break,
                        }
                    } else {
                        words.add_char(c);
                    }
                }
            }
        }
        Ok(words.finish())
    }

    fn single_quote(&mut self) -> Result<String, String> {
        let mut out = String::new();
        self.pos += 1;
        if self.raw_quotes {
            out.push('\'');
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    );
                }
                Some('\'') => {
                    if self.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, String> {
        let mut out = String::new();
        self.pos += 1;
        if self.raw_quotes {
            out.push('"');
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    );
                }
                Some('"') => {
                    self.pos += 1;
                    if self.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let s = self.dollar()?;
                    out.push_str(&s);
                }
                Some(mut c) => {
                    self.pos += 1;
                    if c == '\\' {
                        if self.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(next @ ('"' | '$' | '\\')) => {
                                self.pos += 1;
                                c = next;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// `$name`, `${name}`, `${name…}`: with no variables set, these stay as
    /// written (the text of a `${…}` modifier is kept raw).
    fn dollar(&mut self) -> Result<String, String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            return Ok(format!("${name}"));
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        match self.next() {
            Some('}') => Ok(format!("${{{name}}}")),
            Some(':') => {
                let modifier = self.next();
                match modifier {
                    Some(m @ ('+' | '-' | '?')) => {
                        let word = self.until_brace()?;
                        Ok(format!("${{{name}:{m}{word}}}"))
                    }
                    Some(m) => Err(format!("unsupported modifier (:{m}) in substitution")),
                    None => Err("unsupported modifier (:) in substitution".into()),
                }
            }
            Some(m @ ('+' | '-' | '?' | '#' | '%' | '/')) => {
                let word = self.until_brace()?;
                Ok(format!("${{{name}{m}{word}}}"))
            }
            Some(m) => Err(format!("unsupported modifier ({m}) in substitution")),
            None => Err("syntax error: missing '}'".into()),
        }
    }

    /// The raw text up to the `}` closing a `${…}` (nested `${…}`, quotes
    /// and escapes respected), consuming the brace.
    fn until_brace(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = self.next() {
            match quote {
                Some(q) => {
                    out.push(c);
                    if c == q {
                        quote = None;
                    } else if c == '\\'
                        && q == '"'
                        && let Some(escaped) = self.next()
                    {
                        out.push(escaped);
                    }
                }
                None => match c {
                    '}' if depth == 0 => return Ok(out),
                    '}' => {
                        depth -= 1;
                        out.push(c);
                    }
                    '$' if self.peek() == Some('{') => {
                        depth += 1;
                        out.push(c);
                    }
                    '\'' | '"' => {
                        quote = Some(c);
                        out.push(c);
                    }
                    '\\' => {
                        out.push(c);
                        if let Some(escaped) = self.next() {
                            out.push(escaped);
                        }
                    }
                    _ => out.push(c),
                },
            }
        }
        Err("syntax error: missing '}'".into())
    }

    /// A variable name: digits, one special parameter, or letters, digits
    /// and `_`.
    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_numeric() => {
                while let Some(c) = self.peek().filter(|c| c.is_numeric()) {
                    name.push(c);
                    self.pos += 1;
                }
                return name;
            }
            Some(c @ ('@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')) => {
                self.pos += 1;
                name.push(c);
                return name;
            }
            _ => {}
        }
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_alphabetic() || c.is_numeric() || *c == '_')
        {
            name.push(c);
            self.pos += 1;
        }
        name
    }

    /// `<` is kept; `<<` takes the blanks after it into the same word
    /// (`<< EOF` is one word).
    fn possible_heredoc(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.pos += 1;
        let mut out = String::from("<<");
        while let Some(c) = self.peek().filter(|c| matches!(c, '\t' | '\r' | ' ')) {
            out.push(c);
            self.pos += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Dockerfile {
        match parse(text) {
            Ok(file) => file,
            Err(e) => panic!("{text:?}: {e}"),
        }
    }

    fn err(text: &str) -> ParseError {
        match parse(text) {
            Ok(file) => panic!("{text:?} parsed: {file:?}"),
            Err(e) => e,
        }
    }

    fn only(text: &str) -> Node {
        let mut file = ok(text);
        assert_eq!(file.nodes.len(), 1, "{:?}", file.nodes);
        file.nodes.remove(0)
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn simple_file() {
        let file = ok("FROM alpine:3.20\nRUN echo hi\nCMD [\"sh\"]\n");
        assert_eq!(file.directives, Directives::default());
        assert!(file.warnings.is_empty());
        let keywords: Vec<_> = file.nodes.iter().map(|n| n.keyword.as_str()).collect();
        assert_eq!(keywords, ["from", "run", "cmd"]);
        let run = &file.nodes[1];
        assert_eq!(run.start_line, 2);
        assert_eq!(run.end_line, 2);
        assert_eq!(run.rest, "echo hi");
        assert_eq!(run.original, "RUN echo hi");
        assert_eq!(run.json, None);
        assert!(run.flags.is_empty());
        assert!(run.heredocs.is_empty());
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let file = ok("from a\nRuN b\nWorkDir /x\n");
        let keywords: Vec<_> = file.nodes.iter().map(|n| n.keyword.as_str()).collect();
        assert_eq!(keywords, ["from", "run", "workdir"]);
        assert_eq!(file.nodes[1].original, "RuN b");
    }

    #[test]
    fn every_keyword_is_known() {
        for keyword in KEYWORDS {
            let node = only(&format!("{} x y", keyword.to_uppercase()));
            assert_eq!(node.keyword, *keyword);
        }
    }

    #[test]
    fn whitespace_around_keyword_and_tabs() {
        let node = only("   RUN\t\techo  a  \n");
        assert_eq!(node.keyword, "run");
        assert_eq!(node.rest, "echo  a");
        assert_eq!(node.original, "RUN\t\techo  a  ");
    }

    #[test]
    fn comments_and_blank_lines_skipped() {
        let file = ok("# a comment\n\n  # indented comment\nFROM a\n\n# x\nRUN b\n");
        assert_eq!(file.nodes.len(), 2);
        assert_eq!(file.nodes[0].start_line, 4);
        assert_eq!(file.nodes[1].start_line, 7);
        assert_eq!(file.directives, Directives::default());
    }

    #[test]
    fn continuation_joins_lines() {
        let node = only("RUN echo hello \\\n  world\\\n  !\n");
        assert_eq!(node.rest, "echo hello   world  !");
        assert_eq!(node.original, "RUN echo hello   world  !");
        assert_eq!((node.start_line, node.end_line), (1, 3));
    }

    #[test]
    fn continuation_with_trailing_blanks_after_escape() {
        let node = only("RUN echo hello  \\  \nworld\n");
        assert_eq!(node.rest, "echo hello  world");
    }

    #[test]
    fn escaped_escape_is_not_a_continuation() {
        let file = ok("FROM a\nENV C trailing\\\\\nENV D next\n");
        assert_eq!(file.nodes.len(), 3);
        assert_eq!(file.nodes[1].rest, "C trailing\\\\");
        assert_eq!(file.nodes[2].rest, "D next");
    }

    #[test]
    fn buildkit_continue_indent_cases() {
        let file = ok(concat!(
            "FROM ubuntu\n",
            "RUN echo hi \\\n \\\n world \\\n\\\n good\\\n\\\nnight\n",
            "RUN echo good\\\nbye\\\nfrog\n",
        ));
        assert_eq!(file.nodes[1].rest, "echo hi   world  goodnight");
        assert_eq!(file.nodes[2].rest, "echo goodbyefrog");
        assert_eq!((file.nodes[1].start_line, file.nodes[1].end_line), (2, 8));
    }

    #[test]
    fn comments_inside_continuation() {
        let file = ok(concat!(
            "FROM a\n",
            "RUN echo hello \\\n",
            "# this is a comment\n",
            "    # indented comment\n",
            "  world\n",
        ));
        assert!(file.warnings.is_empty());
        let run = &file.nodes[1];
        assert_eq!(run.rest, "echo hello   world");
        assert_eq!((run.start_line, run.end_line), (2, 5));
    }

    #[test]
    fn empty_continuation_line_warns() {
        let file = ok(concat!(
            "FROM a\n",
            "RUN something \\\n",
            "\n",
            "    following \\\n",
            "   \n",
            "    more\n",
            "RUN valid \\\n",
            "    continuation\n",
        ));
        assert_eq!(file.nodes.len(), 3);
        assert_eq!(file.nodes[1].rest, "something     following     more");
        assert_eq!((file.nodes[1].start_line, file.nodes[1].end_line), (2, 6));
        assert_eq!(
            file.warnings,
            ["[WARNING]: Empty continuation line found in: RUN something     following     more"]
        );
    }

    #[test]
    fn continuation_at_eof_ends_instruction() {
        let file = ok("FROM alpine\n\nRUN something \\");
        assert_eq!(file.nodes[1].rest, "something");
        assert_eq!((file.nodes[1].start_line, file.nodes[1].end_line), (3, 3));
        // Blank lines after a trailing continuation are eaten by it.
        let file = ok("FROM alpine\nRUN something \\\n\n\n");
        assert_eq!(file.nodes[1].end_line, 4);
        assert_eq!(file.warnings.len(), 1);
    }

    #[test]
    fn line_numbers_like_buildkit_testfile_line() {
        let text = concat!(
            "# ESCAPE=\\\n",
            "\n\n\n",
            "FROM brimstone/ubuntu:14.04\n",
            "\n\n",
            "# TORUN -v /var/run/docker.sock:/var/run/docker.sock\n",
            "\n\n",
            "ENV GOPATH \\\n",
            "/go\n",
            "\n\n\n",
            "# Install the packages we need, clean up after them and us\n",
            "RUN apt-get update \\\n",
            "\t&& dpkg -l > /tmp/dpkg.clean \\\n",
            "\n\n",
            "    && apt-get clean \\\n",
            "\t&& rm -rf $GOPATH\n",
            "\n\n",
        );
        let file = ok(text);
        let lines: Vec<_> = file
            .nodes
            .iter()
            .map(|n| (n.start_line, n.end_line))
            .collect();
        assert_eq!(lines, [(5, 5), (11, 12), (17, 22)]);
        assert_eq!(file.nodes[1].rest, "GOPATH /go");
        assert_eq!(file.directives.escape, '\\');
    }

    #[test]
    fn escape_directive_backtick_windows_style() {
        let file = ok(concat!(
            "# escape=`\n",
            "\n",
            "FROM mcr.microsoft.com/windows/servercore\n",
            "COPY testfile.txt c:\\\n",
            "RUN dir c:\\ `\n",
            "    && echo done\n",
        ));
        assert_eq!(file.directives.escape, '`');
        assert_eq!(file.nodes.len(), 3);
        // A trailing backslash no longer continues the line.
        assert_eq!(file.nodes[1].rest, "testfile.txt c:\\");
        assert_eq!(file.nodes[2].rest, "dir c:\\     && echo done");
        assert_eq!((file.nodes[2].start_line, file.nodes[2].end_line), (5, 6));
    }

    #[test]
    fn escape_directive_forms() {
        assert_eq!(ok("#escape = `\nFROM a").directives.escape, '`');
        assert_eq!(ok("  #  ESCAPE=`  \nFROM a").directives.escape, '`');
        assert_eq!(ok("# escape=\\\nFROM a").directives.escape, '\\');
        // Directly followed by instructions (no blank line) still works.
        let file = ok("# escape = `\n# a comment\nFROM image\nENV GOPATH `\n\\go\n");
        assert_eq!(file.nodes[1].rest, "GOPATH \\go");
    }

    #[test]
    fn syntax_and_check_directives() {
        let file = ok(concat!(
            "# syntax = docker/dockerfile:1.7\n",
            "# check=skip=JSONArgsRecommended;error=true\n",
            "# escape = `\n",
            "\n",
            "FROM `\n",
            "    image\n",
        ));
        assert_eq!(
            file.directives.syntax.as_deref(),
            Some("docker/dockerfile:1.7")
        );
        assert_eq!(
            file.directives.check.as_deref(),
            Some("skip=JSONArgsRecommended;error=true")
        );
        assert_eq!(file.directives.escape, '`');
        assert_eq!(file.nodes[0].rest, "image");
    }

    #[test]
    fn directive_after_comment_is_ignored() {
        let file = ok(concat!(
            "# Comment here. Should not be looking for the following parser directive.\n",
            "# escape = `\n",
            "\n",
            "FROM image\n",
            "ENV GOPATH \\\n",
            "\\go",
        ));
        assert_eq!(file.directives.escape, '\\');
        assert_eq!(file.nodes[1].rest, "GOPATH \\go");
    }

    #[test]
    fn directive_after_blank_line_or_instruction_is_ignored() {
        let file = ok("\n# syntax=foo\nFROM a\n");
        assert_eq!(file.directives.syntax, None);
        let file = ok("FROM a\n# escape=`\nRUN a \\\n b\n");
        assert_eq!(file.directives.escape, '\\');
        assert_eq!(file.nodes[1].rest, "a  b");
        // An unknown directive ends the directives too.
        let file = ok("# foo=bar\n# syntax=x\nFROM a\n");
        assert_eq!(file.directives.syntax, None);
    }

    #[test]
    fn duplicate_directive_errors() {
        let e = err("# escape=`\n# escape=\\\nFROM a\n");
        assert_eq!(e.message, "only one escape parser directive can be used");
        assert_eq!(e.line, 2);
        let e = err("# syntax=a\n# SYNTAX=b\nFROM a\n");
        assert_eq!(e.message, "only one syntax parser directive can be used");
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 2: only one syntax parser directive can be used"
        );
    }

    #[test]
    fn invalid_escape_errors() {
        let e = err("# escape=x\nFROM a\n");
        assert_eq!(e.message, "invalid escape token 'x' does not match ` or \\");
        assert_eq!(e.line, 1);
        let e = err("# escape=\\\\\nFROM a\n");
        assert_eq!(
            e.message,
            "invalid escape token '\\\\' does not match ` or \\"
        );
    }

    #[test]
    fn bom_is_skipped() {
        let file = ok("\u{feff}# syntax=docker/dockerfile:1\nFROM a\n");
        assert_eq!(
            file.directives.syntax.as_deref(),
            Some("docker/dockerfile:1")
        );
        assert_eq!(file.nodes[0].keyword, "from");
        let node = only("\u{feff}FROM a");
        assert_eq!(node.original, "FROM a");
    }

    #[test]
    fn crlf_line_endings() {
        let file = ok("# escape=`\r\nFROM a\r\nRUN echo a `\r\n  b\r\nCMD [\"x\"]\r\n");
        assert_eq!(file.directives.escape, '`');
        assert_eq!(file.nodes[1].rest, "echo a   b");
        assert_eq!(file.nodes[1].original, "RUN echo a   b");
        assert_eq!((file.nodes[1].start_line, file.nodes[1].end_line), (3, 4));
        assert_eq!(file.nodes[2].json, Some(strings(&["x"])));
    }

    #[test]
    fn json_forms() {
        let cases: &[(&str, Option<&[&str]>)] = &[
            ("CMD []", Some(&[])),
            ("CMD [\"\"]", Some(&[""])),
            ("CMD [\"a\",\"b\"]", Some(&["a", "b"])),
            ("CMD [ \"a\" ]", Some(&["a"])),
            ("CMD\t[\t\"a\",\t\"b\"\t]\t", Some(&["a", "b"])),
            ("ENTRYPOINT [\"/bin/sh\", \"-c\"]", Some(&["/bin/sh", "-c"])),
            ("RUN [\"ls\", \"-la\"]", Some(&["ls", "-la"])),
            (
                "SHELL [\"powershell\", \"-command\"]",
                Some(&["powershell", "-command"]),
            ),
            (
                "COPY [\"test file\", \"/tmp\"]",
                Some(&["test file", "/tmp"]),
            ),
            ("ADD [ \"a\", \"/b\" ]", Some(&["a", "/b"])),
            ("VOLUME [\"/data\"]", Some(&["/data"])),
            (
                "CMD [\"\\u2665 \\\" \\\\ \\/ \\n\"]",
                Some(&["♥ \" \\ / \n"]),
            ),
            ("CMD [a]", None),
            ("CMD ['echo','single quotes']", None),
            ("CMD [\"echo\", \"unterminated\"", None),
            ("CMD [\"a\"] extra", None),
            ("CMD echo [\"a\"]", None),
            ("CMD echo hi", None),
        ];
        for (text, expected) in cases {
            let node = only(text);
            assert_eq!(node.json, expected.map(strings), "{text}");
        }
        // Instructions without an exec form never get one.
        assert_eq!(only("LABEL [\"a\"] b").json, None);
        assert_eq!(only("EXPOSE [\"80\"]").json, None);
        assert_eq!(only("HEALTHCHECK CMD [\"a\"]").json, None);
        // The shell form keeps the text.
        assert_eq!(only("CMD [a]").rest, "[a]");
    }

    #[test]
    fn json_with_non_strings_errors() {
        for text in [
            "CMD [ \"echo\", [ \"nested json\" ] ]",
            "RUN [1, 2]",
            "COPY [null]",
            "HEALTHCHECK --interval=5s CMD [\"a\", 1]",
            "ONBUILD RUN [true]",
        ] {
            let e = err(&format!("FROM a\n{text}\n"));
            assert_eq!(e.message, NOT_STRING_ARRAY, "{text}");
            assert_eq!(e.line, 2);
        }
    }

    #[test]
    fn flags_copy() {
        let node = only("COPY --from=build --chown=1:1 a b");
        assert_eq!(node.flags, strings(&["--from=build", "--chown=1:1"]));
        assert_eq!(node.rest, "a b");
        assert_eq!(node.original, "COPY --from=build --chown=1:1 a b");
    }

    #[test]
    fn flags_run_mount() {
        let node = only("RUN --mount=type=cache,target=/x echo");
        assert_eq!(node.flags, strings(&["--mount=type=cache,target=/x"]));
        assert_eq!(node.rest, "echo");
        let node =
            only("RUN --network=none --mount=type=secret,id=a [\"cat\", \"/run/secrets/a\"]");
        assert_eq!(node.flags.len(), 2);
        assert_eq!(node.json, Some(strings(&["cat", "/run/secrets/a"])));
    }

    #[test]
    fn flags_buildkit_cases() {
        let cases: &[(&str, &[&str], &str)] = &[
            ("COPY foo /tmp/", &[], "foo /tmp/"),
            (
                "COPY --user=me --doit=true foo /tmp/",
                &["--user=me", "--doit=true"],
                "foo /tmp/",
            ),
            (
                "COPY --doit=true -- foo /tmp/",
                &["--doit=true"],
                "foo /tmp/",
            ),
            ("COPY -- foo /tmp/", &[], "foo /tmp/"),
            (
                "CMD --doit [ \"a\", \"b\" ]",
                &["--doit"],
                "[ \"a\", \"b\" ]",
            ),
            ("CMD --doit -- [ ]", &["--doit"], "[ ]"),
            ("COPY --chown=\"a b\" x y", &["--chown=a b"], "x y"),
            ("COPY --chown='1:1' x y", &["--chown=1:1"], "x y"),
            ("COPY --a=x\\ y z", &["--a=x y"], "z"),
            ("COPY -x y", &[], "-x y"),
            ("RUN --help", &["--help"], ""),
            ("COPY --link", &["--link"], ""),
        ];
        for (text, flags, rest) in cases {
            let node = only(text);
            assert_eq!(node.flags, strings(flags), "{text}");
            assert_eq!(node.rest, *rest, "{text}");
        }
        assert_eq!(only("CMD --doit -- [ ]").json, Some(vec![]));
    }

    #[test]
    fn healthcheck_and_onbuild_flags() {
        let node = only("HEALTHCHECK --interval=5s --timeout=3s \\\n  CMD /app/check.sh --quiet");
        assert_eq!(node.flags, strings(&["--interval=5s", "--timeout=3s"]));
        assert_eq!(node.rest, "CMD /app/check.sh --quiet");
        assert_eq!(node.json, None);
        assert_eq!(only("HEALTHCHECK NONE").rest, "NONE");
        assert_eq!(only("HEALTHCHECK").rest, "");

        let node = only("ONBUILD COPY --from=x a b");
        assert!(node.flags.is_empty());
        assert_eq!(node.rest, "COPY --from=x a b");
        let trigger = parse_onbuild_trigger(&node, '\\').unwrap();
        assert_eq!(trigger.keyword, "copy");
        assert_eq!(trigger.flags, strings(&["--from=x"]));
        assert_eq!(trigger.rest, "a b");
        assert_eq!(trigger.original, "COPY --from=x a b");
        let trigger = parse_onbuild_trigger(&only("ONBUILD RUN [\"a\"]"), '\\').unwrap();
        assert_eq!(trigger.json, Some(strings(&["a"])));
    }

    #[test]
    fn no_arguments_is_not_a_parse_error() {
        let file = ok("FROM\nRUN\nCMD\nENV\nLABEL\nARG\nCOPY\nONBUILD\nEXPOSE\n");
        assert_eq!(file.nodes.len(), 9);
        assert!(
            file.nodes
                .iter()
                .all(|n| n.rest.is_empty() && n.json.is_none())
        );
    }

    #[test]
    fn env_and_label_checks() {
        let e = err("FROM busybox\n\nENV PATH\n");
        assert_eq!(e.message, "ENV must have two arguments");
        assert_eq!(e.line, 3);
        let e = err("FROM a\nlabel x\n");
        assert_eq!(e.message, "LABEL must have two arguments");
        let e = err("FROM a\nENV a=b c\n");
        assert_eq!(
            e.message,
            "Syntax error - can't find = in \"c\". Must be of the form: name=value"
        );
        let e = err("FROM a\nONBUILD ENV x\n");
        assert_eq!(e.message, "ENV must have two arguments");
        // Good forms.
        ok("FROM a\nENV name value with spaces\nENV a=b c=\"d e\" f=g\\ h\nLABEL a=b\n");
        ok(
            "FROM a\nENV name=value \\\n    name1=value1 \\\n    name2=\"value2a \\\n    value2b\" \\\n",
        );
    }

    #[test]
    fn parse_words_buildkit_cases() {
        let cases: &[(&str, &[&str])] = &[
            ("foo", &["foo"]),
            ("foo bar", &["foo", "bar"]),
            ("foo\\ bar", &["foo\\ bar"]),
            ("foo=bar", &["foo=bar"]),
            ("foo bar 'abc xyz'", &["foo", "bar", "'abc xyz'"]),
            ("foo bar \"abc xyz\"", &["foo", "bar", "\"abc xyz\""]),
            ("àöû", &["àöû"]),
            ("föo bàr \"âbc xÿz\"", &["föo", "bàr", "\"âbc xÿz\""]),
            ("name=\"a\\\"b\"", &["name=\"a\\\"b\""]),
            ("name='a\\'b'", &["name='a\\'b'"]),
            ("a ''", &["a", "''"]),
            ("trailing\\", &["trailing"]),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_words(input, '\\'), strings(expected), "{input}");
        }
        assert_eq!(parse_words("a` b", '`'), strings(&["a` b"]));
    }

    #[test]
    fn unknown_instruction_error() {
        let e = err("FROM a\n\nBOGUS bar\n");
        assert_eq!(e.message, "unknown instruction: BOGUS");
        assert_eq!(e.line, 3);
        assert_eq!(
            e.to_string(),
            "dockerfile parse error on line 3: unknown instruction: BOGUS"
        );
        // Upper-cased, as dockerd 20.10 says it.
        assert_eq!(err("bogus").message, "unknown instruction: BOGUS");
        // The line is the instruction's first line.
        assert_eq!(err("FROM a\nBAD a \\\n b\n").line, 2);
    }

    #[test]
    fn other_parse_errors_come_before_unknown_instruction() {
        let e = err("FROM a\nFOO x\nENV a=b c\n");
        assert_eq!(e.line, 3);
        // The first unknown instruction is reported.
        let e = err("FROM a\nBOGUS x\nBAR y\n");
        assert_eq!(e.message, "unknown instruction: BOGUS");
        // ONBUILD triggers are not checked by the parser.
        ok("FROM a\nONBUILD FOO bar\n");
    }

    #[test]
    fn empty_file_errors() {
        assert_eq!(err("").message, "file with no instructions");
        let e = err("# Hello\n# These are just comments\n\n");
        assert_eq!(e.message, "file with no instructions");
        assert_eq!(e.line, 3);
    }

    #[test]
    fn heredoc_single() {
        let file = ok("FROM a\nRUN <<EOF\necho hello\necho world\nEOF\nCMD x\n");
        let run = &file.nodes[1];
        assert_eq!(run.rest, "<<EOF");
        assert_eq!(run.original, "RUN <<EOF");
        assert_eq!((run.start_line, run.end_line), (2, 5));
        assert_eq!(
            run.heredocs,
            [Heredoc {
                name: "EOF".into(),
                content: "echo hello\necho world\n".into(),
                expand: true,
                chomp: false,
            }]
        );
        assert_eq!(file.nodes[2].start_line, 6);
    }

    #[test]
    fn heredoc_body_is_not_parsed() {
        let node = only("RUN <<COMMENT\n# internal comment\n\necho foo \\\nFROM x\nCOMMENT\n");
        assert_eq!(
            node.heredocs[0].content,
            "# internal comment\n\necho foo \\\nFROM x\n"
        );
        assert_eq!(node.end_line, 6);
        let node = only("RUN <<EMPTY\nEMPTY");
        assert_eq!(node.heredocs[0].content, "");
    }

    #[test]
    fn heredoc_several() {
        let node = only("COPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\n");
        assert_eq!(node.rest, "<<FILE1 <<FILE2 /dest");
        let names: Vec<_> = node.heredocs.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["FILE1", "FILE2"]);
        assert_eq!(node.heredocs[0].content, "content 1\n");
        assert_eq!(node.heredocs[1].content, "content 2\n");
        assert_eq!(node.end_line, 5);
        // Bodies are read in order: each delimiter only ends its own body.
        let node = only("COPY <<X <<Y /dest\nY\nX\nX\nY\n");
        assert_eq!(node.heredocs[0].content, "Y\n");
        assert_eq!(node.heredocs[1].content, "X\n");
    }

    #[test]
    fn heredoc_chomp() {
        let node = only("RUN <<-EOT\n\tbaz\n\t\tquux\n  sp\n\tEOT\n");
        let doc = &node.heredocs[0];
        assert!(doc.chomp);
        assert!(doc.expand);
        assert_eq!(doc.name, "EOT");
        assert_eq!(doc.content, "baz\nquux\n  sp\n");
        // Without `-`, tabs stay and an indented delimiter is content.
        let node = only("RUN <<EOT\n\tbaz\n\tEOT\nEOT\n");
        assert_eq!(node.heredocs[0].content, "\tbaz\n\tEOT\n");
        assert!(!node.heredocs[0].chomp);
    }

    #[test]
    fn heredoc_quoted_delimiters() {
        let cases: &[(&str, &str, bool)] = &[
            ("RUN <<'EOF'", "EOF", false),
            ("RUN <<\"EOF\"", "EOF", false),
            ("RUN <<-'EOF'", "EOF", false),
            ("RUN <<eo'f'", "eof", false),
            ("RUN <<eo\\'f", "eo'f", true),
            ("RUN <<'e'o\\'f", "eo'f", false),
            ("RUN <<'one two'", "one two", false),
            ("RUN <<$EOF", "$EOF", true),
            ("RUN <<  EOF", "EOF", true),
            ("RUN << -EOF", "-EOF", true),
            ("RUN 3<<EOF", "EOF", true),
            ("COPY <<file.txt /dest", "file.txt", true),
        ];
        for (line, name, expand) in cases {
            let node = only(&format!("{line}\nbody $X\n{name}\n"));
            assert_eq!(node.heredocs.len(), 1, "{line}");
            assert_eq!(node.heredocs[0].name, *name, "{line}");
            assert_eq!(node.heredocs[0].expand, *expand, "{line}");
            assert_eq!(node.heredocs[0].content, "body $X\n", "{line}");
        }
    }

    #[test]
    fn heredoc_with_commands_after_marker() {
        let node = only("RUN <<COMPLEX python3\nprint('hello world')\nCOMPLEX\n");
        assert_eq!(node.rest, "<<COMPLEX python3");
        assert_eq!(node.heredocs[0].content, "print('hello world')\n");
        let node = only("RUN cat <<EOF > /x && echo done\nhi\nEOF\n");
        assert_eq!(node.rest, "cat <<EOF > /x && echo done");
        assert_eq!(node.heredocs[0].name, "EOF");
        let node = only("RUN python3 <<EOF\nprint(1)\nEOF");
        assert_eq!(node.heredocs[0].content, "print(1)\n");
        let node = only("RUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n");
        assert_eq!(node.flags, strings(&["--mount=type=cache,target=/foo"]));
        assert_eq!(node.heredocs[0].content, "echo hello\n");
    }

    #[test]
    fn heredoc_after_continuation() {
        let node = only("RUN --network=none \\\n  <<EOF\nls\nEOF\n");
        assert_eq!(node.rest, "<<EOF");
        assert_eq!((node.start_line, node.end_line), (1, 4));
        assert_eq!(node.heredocs[0].content, "ls\n");
    }

    #[test]
    fn not_heredocs() {
        for text in [
            "RUN \"<<NOHEREDOC\"",
            "RUN '<<EOF'",
            "RUN echo \"a <<EOF\"",
            "RUN [\"<<EOF\"]",
            "RUN <<",
            "RUN cat <<<EOF",
            "RUN cat<<EOF",
            "RUN <<- EOF",
            "CMD <<EOF",
            "USER <<INVALID",
            "RUN echo \"unclosed <<EOF",
        ] {
            let node = only(text);
            assert!(node.heredocs.is_empty(), "{text}");
            assert_eq!(node.end_line, 1, "{text}");
        }
    }

    #[test]
    fn heredoc_onbuild() {
        let file = ok("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n");
        let onbuild = &file.nodes[1];
        assert_eq!(onbuild.keyword, "onbuild");
        assert_eq!(onbuild.heredocs[0].content, "echo hi\n");
        assert_eq!(onbuild.end_line, 4);
        let trigger = parse_onbuild_trigger(onbuild, '\\').unwrap();
        assert_eq!(trigger.keyword, "run");
        assert_eq!(trigger.heredocs, onbuild.heredocs);
    }

    #[test]
    fn heredoc_crlf() {
        let node = only("RUN <<EOF\r\nline one\r\nEOF\r\n");
        assert_eq!(node.heredocs[0].content, "line one\n");
        assert_eq!(node.end_line, 3);
    }

    #[test]
    fn unterminated_heredoc() {
        let e = err("FROM a\nRUN <<EOF\necho hi\n");
        assert_eq!(e.message, "unterminated heredoc");
        assert_eq!(e.line, 2);
        let e = err("FROM a\nCOPY <<A <<B /x\na\nA\nb\n");
        assert_eq!(e.message, "unterminated heredoc");
    }

    #[test]
    fn heredoc_marker_parsing() {
        let name = |word: &str| heredoc_from_word(word).unwrap().map(|m| m.name);
        for word in [
            "<<EOF",
            "<<'EOF'",
            "<<\"EOF\"",
            "<<-EOF",
            "<<-'EOF'",
            "<<-\"EOF\"",
            "<<EO\"F\"",
            "<< EOF",
            "<<- EOF",
        ] {
            assert_eq!(name(word).as_deref(), Some("EOF"), "{word}");
        }
        for word in ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"] {
            assert_eq!(name(word), None, "{word}");
        }
        for word in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
            assert!(heredoc_from_word(word).is_err(), "{word}");
        }
    }

    #[test]
    fn original_and_rest_of_multiline_instruction() {
        let node = only("  Run  --mount=type=bind,target=/x \\\n    make \\\n    all  \n");
        assert_eq!(
            node.original,
            "Run  --mount=type=bind,target=/x     make     all  "
        );
        assert_eq!(node.rest, "make     all");
        assert_eq!(node.flags, strings(&["--mount=type=bind,target=/x"]));
    }

    #[test]
    fn lone_escape_line_starts_instruction() {
        let node = only("\\\nFROM a\n");
        assert_eq!(node.keyword, "from");
        assert_eq!((node.start_line, node.end_line), (1, 2));
    }

    #[test]
    fn display_of_parse_error() {
        let e = ParseError::new(7, "boom");
        assert_eq!(e.to_string(), "dockerfile parse error on line 7: boom");
    }
}
