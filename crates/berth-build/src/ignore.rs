//! The `.dockerignore` matcher, with the semantics of moby/patternmatcher
//! (`MatchesOrParentMatches`) and its `ignorefile.ReadAll`.
//!
//! A pattern is a slash-separated glob matched against the whole
//! context-relative path: `*` is any run of characters other than `/`, `?`
//! one such character, `[…]` a class (ranges, `^` negation), `\` quotes the
//! next character, and `**` matches any number of directories (`**/x`,
//! `x/**`, `a/**/b`). A pattern that matches a directory also matches
//! everything below it. Patterns apply in order and the last one that
//! matches decides; a leading `!` makes a pattern an exception that
//! re-includes what it matches.

use regex::Regex;

/// Reads a .dockerignore file's text: one pattern per line, `#` comment
/// lines skipped, whitespace trimmed, empty skipped, leading `!` =
/// exclusion (trimmed again after the `!`), each pattern `filepath.Clean`ed
/// (Go semantics: collapse `//`, `.`, `..`), a leading `/` removed. As in
/// `ignorefile.ReadAll`, a UTF-8 byte-order mark is dropped, a line is a
/// comment only when `#` is its very first character, and a pattern that
/// cleans to `/` or `.` is kept as such (neither matches any context path).
pub fn read_patterns(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut patterns = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        if invert {
            cleaned.insert(0, '!');
        }
        patterns.push(cleaned);
    }
    patterns
}

/// A pattern list that cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatternError(pub String);

/// Go's `filepath.ErrBadPattern`.
const BAD_PATTERN: &str = "syntax error in pattern";

fn bad_pattern() -> PatternError {
    PatternError(BAD_PATTERN.to_string())
}

/// Compiled `.dockerignore` patterns.
#[derive(Debug, Clone)]
pub struct Matcher {
    patterns: Vec<Pattern>,
    exclusions: bool,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern without its `!`.
    text: String,
    /// A `!` pattern: matching re-includes.
    exclusion: bool,
    kind: Kind,
}

/// How a pattern matches, as patternmatcher classifies it.
#[derive(Debug, Clone)]
enum Kind {
    /// No wildcard: the path must equal the pattern.
    Exact,
    /// Literal text then a final `**`: the path must start with the text.
    Prefix(String),
    /// A leading `**` then literal text: the path must end with the text
    /// (or, for `**/x`, be `x`).
    Suffix(String),
    Regex(Regex),
}

impl Matcher {
    /// Compiles patterns (errors for bad patterns as patternmatcher: e.g.
    /// "illegal exclusion pattern: \"!\"", bad `[` classes → "syntax error
    /// in pattern"). Each pattern is trimmed and cleaned; empty ones are
    /// skipped. A class with a reversed range (`[z-a]`), which Docker only
    /// reports when it first matches a path, is rejected here.
    pub fn new(patterns: &[String]) -> Result<Matcher, PatternError> {
        let mut compiled = Vec::with_capacity(patterns.len());
        let mut exclusions = false;
        for pattern in patterns {
            let pattern = pattern.trim();
            if pattern.is_empty() {
                continue;
            }
            let mut text = clean(pattern);
            let exclusion = text.starts_with('!');
            if exclusion {
                if text.len() == 1 {
                    return Err(PatternError("illegal exclusion pattern: \"!\"".to_string()));
                }
                text.remove(0);
                exclusions = true;
            }
            validate(&text)?;
            let kind = compile(&text)?;
            compiled.push(Pattern {
                text,
                exclusion,
                kind,
            });
        }
        Ok(Matcher {
            patterns: compiled,
            exclusions,
        })
    }

    /// Whether a context-relative path (slash-separated, no leading "./")
    /// is excluded. Implements patternmatcher's MatchesOrParentMatches: a
    /// path is excluded if it or any parent directory matches the last
    /// matching pattern being non-exclusion, evaluating patterns in order
    /// (later ones override earlier). The path is cleaned first (so `./a/`
    /// is `a`); the context root itself is never excluded.
    pub fn excluded(&self, path: &str) -> bool {
        let path = clean(path);
        let path = path.trim_start_matches('/');
        if path.is_empty() || path == "." {
            return false;
        }
        let mut matched = false;
        for pattern in &self.patterns {
            // An inclusion cannot change an excluded path, nor an exception
            // a path not excluded.
            if pattern.exclusion != matched {
                continue;
            }
            if pattern.matches_or_parent(path) {
                matched = !pattern.exclusion;
            }
        }
        matched
    }

    /// Whether any exclusion (`!`) pattern exists (then a walker must not
    /// skip an excluded directory wholesale unless no exclusion pattern
    /// could match below it).
    pub fn has_exclusions(&self) -> bool {
        self.exclusions
    }

    /// Whether a walker may skip descending into excluded directory `dir`
    /// entirely: true when no `!` pattern could match a path under it
    /// (patternmatcher/docker CLI's logic: compare the exclusion pattern's
    /// leading directory components with dir; a pattern starting with `**`
    /// or containing wildcards in early components can match). False when
    /// `dir` is not excluded at all. The answer errs towards false: a `!`
    /// pattern with a `**` or a `[…]` class among the components compared
    /// is assumed to match.
    pub fn can_skip_dir(&self, dir: &str) -> bool {
        if !self.excluded(dir) {
            return false;
        }
        let dir = clean(dir);
        let dir = dir.trim_start_matches('/');
        !self
            .patterns
            .iter()
            .any(|p| p.exclusion && p.may_match_below(dir))
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Kind::Regex(re) => re.is_match(path),
        }
    }

    /// The path or one of its parent directories matches.
    fn matches_or_parent(&self, path: &str) -> bool {
        self.matches(path)
            || path
                .match_indices('/')
                .any(|(i, _)| self.matches(&path[..i]))
    }

    /// Whether this pattern could match some path strictly below `dir`
    /// (a path matching `dir` or its parents is no news for what is below).
    fn may_match_below(&self, dir: &str) -> bool {
        let dir_slash = format!("{dir}/");
        match &self.kind {
            Kind::Exact => self.text.starts_with(&dir_slash),
            Kind::Prefix(prefix) => {
                prefix.starts_with(&dir_slash) || dir_slash.starts_with(prefix.as_str())
            }
            Kind::Suffix(_) => true,
            Kind::Regex(_) => {
                let components: Vec<&str> = self.text.split('/').collect();
                for (i, name) in dir.split('/').enumerate() {
                    let Some(component) = components.get(i) else {
                        // Fewer components than a path below dir has.
                        return false;
                    };
                    match component_matches(component, name) {
                        Some(true) => {}
                        Some(false) => return false,
                        None => return true,
                    }
                }
                components.len() > dir.split('/').count()
            }
        }
    }
}

/// Whether one `/`-free pattern component matches one path component, or
/// `None` when that is not decided this simply (`**`, classes, a dangling
/// `\`).
fn component_matches(component: &str, name: &str) -> Option<bool> {
    if component.contains("**") || component.contains('[') || component.contains(']') {
        return None;
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Star,
        Any,
        Lit(char),
    }
    let mut toks = Vec::new();
    let mut chars = component.chars();
    while let Some(ch) = chars.next() {
        toks.push(match ch {
            '*' => Tok::Star,
            '?' => Tok::Any,
            '\\' => Tok::Lit(chars.next()?),
            c => Tok::Lit(c),
        });
    }
    let name: Vec<char> = name.chars().collect();
    // Classic glob matching with one backtrack point per star.
    let (mut t, mut n) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while n < name.len() {
        match toks.get(t) {
            Some(Tok::Star) => {
                backtrack = Some((t, n));
                t += 1;
                continue;
            }
            Some(Tok::Any) => {
                t += 1;
                n += 1;
                continue;
            }
            Some(Tok::Lit(c)) if *c == name[n] => {
                t += 1;
                n += 1;
                continue;
            }
            _ => {}
        }
        match backtrack {
            Some((bt, bn)) => {
                t = bt + 1;
                n = bn + 1;
                backtrack = Some((bt, bn + 1));
            }
            None => return Some(false),
        }
    }
    Some(toks[t..].iter().all(|tok| *tok == Tok::Star))
}

/// Go's `filepath.Match` syntax check: classes must be well formed
/// (`[`, optional `^`, at least one `c` or `c-c` with `\` escapes, `]`) and
/// a pattern may not end in a lone `\`.
fn validate(pattern: &str) -> Result<(), PatternError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return Err(bad_pattern());
                }
                i += 2;
            }
            '[' => {
                i = parse_class(&chars, i + 1)?.end;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// A parsed `[…]` class.
struct Class {
    negated: bool,
    ranges: Vec<(char, char)>,
    /// Index just past the closing `]`.
    end: usize,
}

/// Parses a class whose `[` is just before `start`, with Go's rules.
fn parse_class(chars: &[char], start: usize) -> Result<Class, PatternError> {
    let mut i = start;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Ok(Class {
                negated,
                ranges,
                end: i + 1,
            });
        }
        let lo = class_char(chars, &mut i)?;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            i += 1;
            hi = class_char(chars, &mut i)?;
        }
        ranges.push((lo, hi));
    }
}

/// One (possibly `\`-escaped) character of a class; like Go's `getEsc`, it
/// may not be `-` or `]`, and the class must go on after it.
fn class_char(chars: &[char], i: &mut usize) -> Result<char, PatternError> {
    let mut ch = *chars.get(*i).ok_or_else(bad_pattern)?;
    if ch == '-' || ch == ']' {
        return Err(bad_pattern());
    }
    if ch == '\\' {
        *i += 1;
        ch = *chars.get(*i).ok_or_else(bad_pattern)?;
    }
    *i += 1;
    if *i >= chars.len() {
        return Err(bad_pattern());
    }
    Ok(ch)
}

/// patternmatcher's `compile`: classifies the (validated) pattern and, when
/// it needs one, builds its regular expression.
fn compile(pattern: &str) -> Result<Kind, PatternError> {
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut re = String::from("^");
    let mut detected = Detected::Exact;
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                // `**/` is `**`.
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    // A final `**` accepts everything, as in .gitignore.
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        re.push_str(".*");
                        detected = Detected::Regex;
                    }
                } else {
                    // Any number of directories, including none.
                    re.push_str("(.*/)?");
                    detected = Detected::Regex;
                }
                if first {
                    detected = Detected::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                detected = Detected::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                detected = Detected::Regex;
            }
            '\\' => {
                // Validation saw to it that something follows.
                let quoted = chars.get(i).copied().ok_or_else(bad_pattern)?;
                i += 1;
                push_literal(&mut re, quoted);
                detected = Detected::Regex;
            }
            '[' => {
                let class = parse_class(&chars, i)?;
                i = class.end;
                re.push('[');
                if class.negated {
                    re.push('^');
                }
                for (lo, hi) in class.ranges {
                    if lo > hi {
                        return Err(bad_pattern());
                    }
                    re.push_str(&format!("\\x{{{:x}}}", lo as u32));
                    if hi != lo {
                        re.push_str(&format!("-\\x{{{:x}}}", hi as u32));
                    }
                }
                re.push(']');
                detected = Detected::Regex;
            }
            ']' => {
                push_literal(&mut re, ']');
                detected = Detected::Regex;
            }
            c => push_literal(&mut re, c),
        }
        first = false;
    }
    Ok(match detected {
        Detected::Exact => Kind::Exact,
        Detected::Prefix => Kind::Prefix(pattern[..pattern.len() - 2].to_string()),
        Detected::Suffix => Kind::Suffix(pattern[2..].to_string()),
        Detected::Regex => {
            re.push('$');
            Kind::Regex(Regex::new(&re).map_err(|_| bad_pattern())?)
        }
    })
}

fn push_literal(re: &mut String, ch: char) {
    re.push_str(&regex::escape(ch.encode_utf8(&mut [0; 4])));
}

/// Go's `path.Clean`: the shortest equivalent slash-separated path (`//`,
/// `.` and `..` resolved lexically, no trailing `/`, "." when empty).
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(patterns: &[&str]) -> Matcher {
        let patterns: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
        Matcher::new(&patterns).unwrap_or_else(|e| panic!("{patterns:?}: {e}"))
    }

    fn error(patterns: &[&str]) -> String {
        let patterns: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
        Matcher::new(&patterns).unwrap_err().0
    }

    /// Asserts which of `paths` the patterns exclude.
    #[track_caller]
    fn check(patterns: &[&str], excluded: &[&str], kept: &[&str]) {
        let m = matcher(patterns);
        for path in excluded {
            assert!(m.excluded(path), "{patterns:?} should exclude {path:?}");
        }
        for path in kept {
            assert!(!m.excluded(path), "{patterns:?} should keep {path:?}");
        }
    }

    #[test]
    fn clean_is_go_path_clean() {
        for (input, want) in [
            ("", "."),
            (".", "."),
            ("./x", "x"),
            ("a//b", "a/b"),
            ("a/./b/", "a/b"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("/../a", "/a"),
            ("/", "/"),
            ("//a", "/a"),
            ("!./x", "!./x"),
        ] {
            assert_eq!(clean(input), want, "{input:?}");
        }
    }

    #[test]
    fn read_patterns_rules() {
        let text = "\u{feff}# comment\n\n  *.go  \n!  ./keep/../keep.md \n/leading\n./x//y/\r\n # not a comment\n/\n.\n!\n!/abs\ntrail  \t";
        assert_eq!(
            read_patterns(text),
            [
                "*.go",
                "!keep.md",
                "leading",
                "x/y",
                "# not a comment",
                "/",
                ".",
                "!",
                "!abs",
                "trail"
            ]
        );
        assert!(read_patterns("").is_empty());
        assert!(read_patterns("#only\n   \n").is_empty());
    }

    #[test]
    fn star_within_a_component() {
        check(
            &["*.go"],
            &["main.go", ".go"],
            &["src/main.go", "main.gox", "go"],
        );
    }

    #[test]
    fn double_star_prefix() {
        check(
            &["**/*.go"],
            &["main.go", "src/main.go", "a/b/c/x.go"],
            &["main.rs", "src/go"],
        );
    }

    #[test]
    fn directory_excludes_contents() {
        check(
            &["docs"],
            &["docs", "docs/a.md", "docs/x/y"],
            &["docsx", "a/docs", "doc"],
        );
    }

    #[test]
    fn trailing_double_star() {
        // `docs/**` is everything below docs, not docs itself.
        check(&["docs/**"], &["docs/a", "docs/a/b"], &["docs", "docsx/a"]);
        check(&["docs**"], &["docs", "docsx", "docs/a"], &["doc"]);
    }

    #[test]
    fn exception_after_directory() {
        check(
            &["docs", "!docs/keep.md"],
            &["docs", "docs/other.md", "docs/sub/keep.md"],
            &["docs/keep.md", "README.md"],
        );
    }

    #[test]
    fn exception_then_reexclusion() {
        check(
            &["*.md", "!README*.md", "README-secret.md"],
            &["a.md", "README-secret.md"],
            &["README.md", "README-public.md", "x.txt"],
        );
        // Order matters: a later inclusion wins over an earlier exception.
        check(&["!a.md", "*.md"], &["a.md"], &[]);
        check(&["*.md", "!a.md"], &["b.md"], &["a.md"]);
    }

    #[test]
    fn exception_re_including_a_directory() {
        check(
            &["*", "!src", "src/*.tmp"],
            &["Dockerfile", "target/x", "src/a.tmp"],
            &["src", "src/main.rs", "src/x/a.tmp"],
        );
    }

    #[test]
    fn single_star_component() {
        check(
            &["a/*/c"],
            &["a/b/c", "a/b/c/d", "a/x/c"],
            &["a/c", "a/b/x/c", "a/b/cd"],
        );
    }

    #[test]
    fn question_mark() {
        check(
            &["?.txt"],
            &["a.txt", "é.txt"],
            &["ab.txt", ".txt", "d/a.txt"],
        );
        check(&["a?b"], &["axb"], &["a/b", "ab"]);
    }

    #[test]
    fn character_classes() {
        check(&["[a-c].txt"], &["a.txt", "c.txt"], &["d.txt", "ab.txt"]);
        check(&["[^a-c].txt"], &["d.txt"], &["a.txt"]);
        check(&["x[\\]]y"], &["x]y"], &["xy"]);
        check(&["[*?]"], &["*", "?"], &["a"]);
        check(&["f[o-o]"], &["fo"], &["fp"]);
    }

    #[test]
    fn escapes() {
        check(&["\\*.go"], &["*.go"], &["main.go"]);
        check(&["a\\?"], &["a?"], &["ab"]);
        check(&["\\[x\\]"], &["[x]"], &["x"]);
    }

    #[test]
    fn regex_characters_are_literal() {
        check(&["a.b"], &["a.b"], &["axb"]);
        check(&["*.+(x)|{y}$^"], &["z.+(x)|{y}$^"], &["z.x"]);
        check(&["(a)*"], &["(a)b"], &["ab"]);
    }

    #[test]
    fn leading_slash_and_dot_slash() {
        let patterns = read_patterns("/leading\n./x\n");
        let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
        check(
            &patterns,
            &["leading", "leading/a", "x", "x/y"],
            &["a/leading"],
        );
    }

    #[test]
    fn double_star_alone_matches_everything() {
        check(&["**"], &["a", "a/b/c", ".hidden"], &[]);
        check(&["**/**"], &["a", "a/b"], &[]);
        check(&["**", "!keep"], &["a"], &["keep", "keep/x"]);
    }

    #[test]
    fn double_star_suffix() {
        check(
            &["**/foo"],
            &["foo", "a/foo", "a/b/foo", "a/foo/bar"],
            &["xfoo", "foox"],
        );
        // Without a slash it is a plain suffix match.
        check(&["**foo"], &["foo", "xfoo", "a/bfoo"], &["foox"]);
    }

    #[test]
    fn double_star_middle() {
        check(
            &["a/**/b"],
            &["a/b", "a/x/b", "a/x/y/b", "a/x/b/c"],
            &["b", "x/a/b", "a/xb"],
        );
        check(&["a**b"], &["ab", "ax/b"], &["axb"]);
        check(&["*/**"], &["a/b", "a/b/c"], &["a"]);
    }

    #[test]
    fn parent_prefixes_match() {
        check(
            &["*/build"],
            &["x/build/out.o", "x/build"],
            &["build", "x/y/build"],
        );
        check(&["a/b"], &["a/b/c/d"], &["a", "b"]);
    }

    #[test]
    fn paths_are_cleaned() {
        check(
            &["a/b"],
            &["./a/b", "a//b", "a/b/", "a/./b", "/a/b"],
            &["."],
        );
        let m = matcher(&["**"]);
        assert!(!m.excluded("."));
        assert!(!m.excluded(""));
    }

    #[test]
    fn patterns_are_cleaned_by_new() {
        check(&["  a/./b/  "], &["a/b"], &[]);
        check(&["./x"], &["x"], &[]);
        check(&["a/../c"], &["c"], &["a"]);
        check(&["", "   "], &[], &["a"]);
    }

    #[test]
    fn slash_and_dot_patterns_match_nothing() {
        check(&["/", "."], &[], &["a", "a/b"]);
    }

    #[test]
    fn hidden_and_unicode_names() {
        check(&[".*"], &[".git", ".git/config", ".env"], &["a.env"]);
        check(&["안녕*"], &["안녕하세요"], &["하세요"]);
    }

    #[test]
    fn bad_patterns() {
        assert_eq!(error(&["!"]), "illegal exclusion pattern: \"!\"");
        assert_eq!(error(&["  !  "]), "illegal exclusion pattern: \"!\"");
        for bad in [
            "[", "[]", "[a", "a[", "[^]", "[a-]", "[-a]", "[a-", "x\\", "[]a]", "[z-a]",
        ] {
            assert_eq!(error(&[bad]), "syntax error in pattern", "{bad:?}");
        }
        // `]` alone is a literal.
        check(&["a]"], &["a]"], &["a"]);
    }

    #[test]
    fn has_exclusions() {
        assert!(!matcher(&["a", "b"]).has_exclusions());
        assert!(matcher(&["a", "!a/b"]).has_exclusions());
        assert!(!matcher(&[]).has_exclusions());
    }

    #[test]
    fn can_skip_without_exclusions() {
        let m = matcher(&["node_modules", "target"]);
        assert!(m.can_skip_dir("node_modules"));
        assert!(m.can_skip_dir("target"));
        assert!(m.can_skip_dir("node_modules/x"));
        // Not excluded: must be walked.
        assert!(!m.can_skip_dir("src"));
        assert!(!m.can_skip_dir("."));
    }

    #[test]
    fn cannot_skip_with_exception_below() {
        let m = matcher(&["docs", "!docs/keep.md"]);
        assert!(!m.can_skip_dir("docs"));
        let m = matcher(&["a", "!a/b/c/keep"]);
        assert!(!m.can_skip_dir("a"));
        assert!(!m.can_skip_dir("a/b"));
        assert!(m.can_skip_dir("a/x"));
        // Re-included, so not excluded, so not skippable.
        assert!(!m.can_skip_dir("a/b/c/keep"));
    }

    #[test]
    fn can_skip_when_exception_is_elsewhere() {
        let m = matcher(&["docs", "vendor", "!docs/keep.md"]);
        assert!(m.can_skip_dir("vendor"));
        assert!(!m.can_skip_dir("docs"));
        let m = matcher(&["*", "!src"]);
        assert!(m.can_skip_dir("target"));
        assert!(!m.can_skip_dir("src"));
        // An exception equal to an ancestor is already in the dir's answer.
        let m = matcher(&["!a", "a/b"]);
        assert!(m.can_skip_dir("a/b"));
    }

    #[test]
    fn can_skip_with_wildcard_exceptions() {
        let m = matcher(&["vendor", "build", "!**/keep"]);
        assert!(!m.can_skip_dir("vendor"));
        let m = matcher(&["vendor", "build", "!*/keep"]);
        assert!(!m.can_skip_dir("vendor"));
        let m = matcher(&["vendor", "build", "!v*/x/*.go"]);
        assert!(!m.can_skip_dir("vendor"));
        assert!(m.can_skip_dir("build"));
        // The exception has too few components to reach below the dir.
        let m = matcher(&["a", "!a/*"]);
        assert!(!m.can_skip_dir("a"));
        let m = matcher(&["!a/*", "a/b"]);
        assert!(m.can_skip_dir("a/b"));
        // Here the exception re-includes a/b itself.
        let m = matcher(&["a/b", "!a/*"]);
        assert!(!m.can_skip_dir("a/b"));
        let m = matcher(&["a", "![ab]/x"]);
        assert!(!m.can_skip_dir("a"));
        let m = matcher(&["vendor", "!vendor/**"]);
        assert!(!m.can_skip_dir("vendor"));
        let m = matcher(&["vendor", "!ven**"]);
        assert!(!m.can_skip_dir("vendor"));
        let m = matcher(&["vendor", "!src/**"]);
        assert!(m.can_skip_dir("vendor"));
    }

    #[test]
    fn skipping_agrees_with_excluded() {
        // Wherever can_skip_dir says yes, everything below is excluded.
        let sets: &[&[&str]] = &[
            &["a", "!a/b/keep"],
            &["*", "!*/keep", "x/keep"],
            &["a/**", "!a/b", "a/b/c"],
            &["**/tmp", "!src/tmp/keep"],
            &["!a", "a/b"],
        ];
        let paths = [
            "a",
            "a/b",
            "a/b/keep",
            "a/b/c",
            "a/b/c/d",
            "a/x",
            "x",
            "x/keep",
            "y/keep",
            "src/tmp",
            "src/tmp/keep",
            "b/tmp",
            "b/tmp/z",
        ];
        for patterns in sets {
            let m = matcher(patterns);
            for dir in paths {
                if m.can_skip_dir(dir) {
                    for path in paths.iter().filter(|p| p.starts_with(&format!("{dir}/"))) {
                        assert!(
                            m.excluded(path),
                            "{patterns:?}: {dir} skipped but {path} kept"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn component_glob() {
        assert_eq!(component_matches("a*c", "abbc"), Some(true));
        assert_eq!(component_matches("a*c", "abbd"), Some(false));
        assert_eq!(component_matches("*", ""), Some(true));
        assert_eq!(component_matches("a?", "ab"), Some(true));
        assert_eq!(component_matches("a\\*", "a*"), Some(true));
        assert_eq!(component_matches("a\\*", "ab"), Some(false));
        assert_eq!(component_matches("*a*b", "xaab"), Some(true));
        assert_eq!(component_matches("a\\", "a"), None);
        assert_eq!(component_matches("**", "a"), None);
    }
}

/// Go's `filepath.Match` of one pattern against one path component (no
/// `/`), as COPY's source wildcards are matched.
pub fn go_match(pattern: &str, name: &str) -> Result<bool, PatternError> {
    if name.is_empty() || name.contains('/') {
        return Ok(false);
    }
    Ok(Matcher::new(&[pattern.to_string()])?.excluded(name))
}

#[cfg(test)]
mod go_match_tests {
    #[test]
    fn single_components() {
        assert!(super::go_match("*.txt", "a.txt").unwrap());
        assert!(!super::go_match("*.txt", "a.md").unwrap());
        assert!(super::go_match("f?le[0-9]", "file7").unwrap());
        assert!(!super::go_match("*", "a/b").unwrap());
    }
}
